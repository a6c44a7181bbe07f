"""wattprof.mpi - an MPI job measured once per node, from Python (mpi4py).

libwattprof-mpi (docs/MPI.md) measures each node once, by the lowest rank
on it, and stores one run for the whole job.  Under `mpirun -np 8 wattprof
exec python3 train.py` it is preloaded and attaches itself when mpi4py
initialises MPI; this module then only marks regions across the ranks:

    from mpi4py import MPI
    from wattprof import mpi as wpmpi

    for batch in data:
        with wpmpi.region("step"):      # or @wpmpi.region("step") on a function
            train(batch)

Under a plain `mpirun python3 train.py`, attach() starts it (collective,
after mpi4py's MPI_Init; the job is stored at exit, before mpi4py's
MPI_Finalize, or by finish()):

    wpmpi.attach()                      # MPI.COMM_WORLD, or attach(comm)

The library is the one already in the process (preloaded by `wattprof
exec`), else the file named by WATTPROF_MPI_LIB, else libwattprof-mpi.so
beside the libwattprof the binding loaded (WATTPROF_LIB) or this package,
else the system's library path.
"""
import atexit
import ctypes
import ctypes.util
import errno
import functools
import os
import threading

from ._lib import LibraryNotFound, WattprofError, c_str, check

__all__ = ["attach", "finish", "measuring", "begin", "record", "end", "region"]

_ALREADY = -errno.EALREADY
_lock = threading.Lock()
_mpi = None          # the library, once loaded
_ours = False        # attach() attached (and finish() is ours to call)
_process = None      # the process's own symbols (a preloaded library's among them)


def _candidates():
    env = os.environ.get("WATTPROF_MPI_LIB")
    if env:
        yield env, "WATTPROF_MPI_LIB"
        return
    lib = os.environ.get("WATTPROF_LIB")
    if lib:
        yield (os.path.join(os.path.dirname(os.path.abspath(lib)), "libwattprof-mpi.so"),
               "beside WATTPROF_LIB")
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "libwattprof-mpi.so"), "next to the package"
    found = ctypes.util.find_library("wattprof-mpi")
    yield found or "libwattprof-mpi.so", "the system's library path"


def _declare(m):
    for name, args in (("wp_mpi_attach_f", [ctypes.c_int]),
                       ("wp_mpi_finish", [ctypes.POINTER(ctypes.c_longlong)]),
                       ("wp_mpi_begin", [ctypes.c_char_p]),
                       ("wp_mpi_record", [ctypes.c_char_p]),
                       ("wp_mpi_end", []),
                       ("wp_mpi_attached", [])):
        f = getattr(m, name)
        f.restype, f.argtypes = ctypes.c_int, args
    return m


def _lib():
    """libwattprof-mpi: the preloaded one, else loaded (needs MPI's library)."""
    global _mpi
    with _lock:
        if _mpi is not None:
            return _mpi
        process = ctypes.CDLL(None)
        if hasattr(process, "wp_mpi_begin"):  # preloaded by `wattprof exec`
            _mpi = _declare(process)
            return _mpi
        tried = []
        for path, where in _candidates():
            try:
                _mpi = _declare(ctypes.CDLL(path))
                return _mpi
            except (OSError, AttributeError) as e:
                tried.append(f"{where} ({path}): {e}")
        raise LibraryNotFound(
            "cannot load libwattprof-mpi: tried " + "; ".join(tried) +
            ". It is built by 'make' where an MPI compiler (mpicc) is found; set "
            "WATTPROF_MPI_LIB=/path/to/build/libwattprof-mpi.so, or run the job "
            "under 'mpirun ... wattprof exec python3 ...'")


def attach(comm=None):
    """Starts measuring the job (collective on comm, an mpi4py communicator;
    MPI.COMM_WORLD when None).  Returns True when this call attached, False
    when the job was measured already (`wattprof exec` attaches at MPI_Init).
    The job's run is stored by finish(), or at exit."""
    global _ours
    if comm is None:
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
    rc = _lib().wp_mpi_attach_f(comm.py2f())
    if rc == _ALREADY:
        return False
    check(rc, "cannot measure the MPI job")
    if not _ours:
        # Python's atexit handlers run before mpi4py finalizes MPI (its
        # Py_AtExit hook runs after them all).
        atexit.register(_at_exit)
    _ours = True
    return True


def _at_exit():
    if not _ours:
        return
    from mpi4py import MPI
    if MPI.Is_finalized():  # MPI.Finalize() was called: too late for the job
        _ours_done()
        return
    try:
        finish()
    except WattprofError:
        pass  # written to <WATTPROF_MPI_DIR>/<job>.errors by the library


def _ours_done():
    global _ours
    _ours = False
    _lib().wp_mpi_finish(None)  # -ESHUTDOWN: ends each node's own run, calls no MPI


def finish():
    """Ends the measurement (collective, every rank, before MPI.Finalize())
    and stores the job's run.  Returns its id on rank 0, 0 on the others."""
    global _ours
    rid = ctypes.c_longlong(0)
    rc = _lib().wp_mpi_finish(ctypes.byref(rid))
    _ours = False
    check(rc, "cannot store the MPI job's run")
    return rid.value


def measuring():
    """Whether this process is a rank of an MPI job that libwattprof-mpi
    measures now (preloaded by `wattprof exec`, or attach()ed).  Loads
    nothing: False where the library is not in the process."""
    global _process
    m = _mpi
    if m is None:
        if _process is None:
            _process = ctypes.CDLL(None)
        if not hasattr(_process, "wp_mpi_attached"):
            return False
        m = _lib()
    return m.wp_mpi_attached() == 1


def begin(tag):
    """Starts a region on this rank (one at a time)."""
    check(_lib().wp_mpi_begin(c_str(tag)), f"cannot begin region {tag!r}")


def record(tag):
    """Ends this rank's open region and starts the next, tagged `tag`."""
    check(_lib().wp_mpi_record(c_str(tag)), f"cannot record region {tag!r}")


def end():
    """Ends this rank's open region."""
    check(_lib().wp_mpi_end(), "cannot end the region")


class region:
    """A region across ranks: `with region("step"):` or `@region("step")`.
    Its k-th run on every rank is one region of the job (docs/MPI.md)."""

    def __init__(self, tag):
        self.tag = tag

    def __enter__(self):
        begin(self.tag)
        return self

    def __exit__(self, *exc):
        end()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return wrapped
