"""_lib.py - libwattprof through ctypes: finding the library, and the C
declarations the binding calls (include/wattprof/wattprof.h is the contract;
every structure here repeats its layout, field for field, and says which
version of it).

The library is looked for, in order: the file named by WATTPROF_LIB; a
libwattprof.so.0 next to this package (an installed wheel can carry one);
the system's library path (ldconfig, LD_LIBRARY_PATH).
"""
import ctypes
import ctypes.util
import os

__all__ = ["lib", "WattprofError", "LibraryNotFound", "check", "c_str"]


class WattprofError(OSError):
    """A libwattprof call failed: `code` is its negative error code."""

    def __init__(self, code, what):
        self.code = code
        super().__init__(-code if code > -9000 else code, f"{what}: {_strerror(code)}")


class LibraryNotFound(ImportError):
    """libwattprof.so.0 could not be loaded from any place looked in."""


def _candidates():
    env = os.environ.get("WATTPROF_LIB")
    if env:
        yield env, "WATTPROF_LIB"
        return
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "libwattprof.so.0"), "next to the package"
    found = ctypes.util.find_library("wattprof")
    yield found or "libwattprof.so.0", "the system's library path"


def _load():
    tried = []
    for path, where in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{where} ({path}): {e}")
    raise LibraryNotFound(
        "cannot load libwattprof: tried " + "; ".join(tried) +
        ". Build it with 'make' in the wattprof repository and set "
        "WATTPROF_LIB=/path/to/build/libwattprof.so.0, or install it "
        "('make install') so that the system's loader finds it")


lib = _load()


def c_str(s):
    return None if s is None else s.encode()


# ------------------------------------------------------------ structures

class Options(ctypes.Structure):
    """struct wp_options, version 2."""
    _fields_ = [("version", ctypes.c_uint), ("sysfs_root", ctypes.c_char_p),
                ("proc_root", ctypes.c_char_p), ("dev_root", ctypes.c_char_p),
                ("sources", ctypes.c_char_p), ("tdp_w", ctypes.c_double),
                ("flags", ctypes.c_uint)]


class DomainInfo(ctypes.Structure):
    """struct wp_domain_info."""
    _fields_ = [("name", ctypes.c_char_p), ("source", ctypes.c_char_p),
                ("path", ctypes.c_char_p), ("unit", ctypes.c_char_p),
                ("kind", ctypes.c_int), ("socket", ctypes.c_int),
                ("estimated", ctypes.c_int), ("counter_max", ctypes.c_uint64),
                ("joules_per_count", ctypes.c_double), ("peak_power_w", ctypes.c_double),
                ("min_wrap_ns", ctypes.c_uint64), ("die", ctypes.c_int),
                ("integrated", ctypes.c_int), ("method", ctypes.c_char_p),
                ("update_ns", ctypes.c_uint64), ("device_name", ctypes.c_char_p),
                ("device_id", ctypes.c_char_p), ("opt_in", ctypes.c_int)]


class Region(ctypes.Structure):
    """struct wp_region."""
    _fields_ = [("tag", ctypes.c_char_p), ("start_ns", ctypes.c_uint64),
                ("duration_ns", ctypes.c_uint64),
                ("energy_j", ctypes.POINTER(ctypes.c_double))]


ON_SAMPLE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


class SamplerOptions(ctypes.Structure):
    """struct wp_sampler_options, version 3."""
    _fields_ = [("version", ctypes.c_uint), ("freq_hz", ctypes.c_double),
                ("on_sample", ON_SAMPLE), ("user", ctypes.c_void_p),
                ("flags", ctypes.c_uint), ("series", ctypes.c_void_p)]


class SamplerStats(ctypes.Structure):
    """struct wp_sampler_stats."""
    _fields_ = [("freq_hz", ctypes.c_double), ("samples", ctypes.c_uint64),
                ("missed", ctypes.c_uint64), ("max_late_ns", ctypes.c_uint64)]


class SeriesOptions(ctypes.Structure):
    """struct wp_series_options, version 3."""
    _fields_ = [("version", ctypes.c_uint), ("flags", ctypes.c_uint),
                ("readings_hz", ctypes.c_double), ("window_s", ctypes.c_double),
                ("dir", ctypes.c_char_p), ("flush_s", ctypes.c_double),
                ("attrib", ctypes.c_void_p)]


class SeriesColumn(ctypes.Structure):
    """struct wp_series_column."""
    _fields_ = [("domain", ctypes.c_char_p), ("metric", ctypes.c_char_p),
                ("unit", ctypes.c_char_p)]


OPTIONS_VERSION = 2
SAMPLER_OPTIONS_VERSION = 3
SERIES_OPTIONS_VERSION = 3
OPEN_NO_CROSSCHECK = 0x1
SAMPLE_METRICS = 0x1
SERIES_STORE = 0x1
SERIES_NODE = 0x2
SERIES_DEVICES = 0x4
KINDS = {1: "package", 2: "core", 3: "uncore", 4: "dram", 5: "psys", 6: "other",
         7: "system", 8: "gpu"}

P = ctypes.c_void_p
PP = ctypes.POINTER(ctypes.c_void_p)
_protos = {
    "wp_version": (ctypes.c_char_p, []),
    "wp_strerror": (ctypes.c_char_p, [ctypes.c_int]),
    "wp_now_ns": (ctypes.c_uint64, []),
    "wp_host_open": (ctypes.c_int, [PP, ctypes.POINTER(Options)]),
    "wp_host_close": (None, [P]),
    "wp_meter_open": (ctypes.c_int, [PP, P, ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t,
                                     ctypes.POINTER(ctypes.c_char_p)]),
    "wp_meter_close": (None, [P]),
    "wp_meter_domain_count": (ctypes.c_size_t, [P]),
    "wp_meter_domain": (ctypes.POINTER(DomainInfo), [P, ctypes.c_size_t]),
    "wp_domain_contains": (ctypes.c_int, [ctypes.POINTER(DomainInfo),
                                          ctypes.POINTER(DomainInfo)]),
    "wp_snapshot_new": (P, [P]),
    "wp_snapshot_free": (None, [P]),
    "wp_meter_snapshot": (ctypes.c_int, [P, P]),
    "wp_snapshot_time_ns": (ctypes.c_uint64, [P]),
    "wp_energy_between": (ctypes.c_int, [P, P, P, ctypes.c_size_t,
                                         ctypes.POINTER(ctypes.c_double)]),
    "wp_meter_begin": (ctypes.c_int, [P, ctypes.c_char_p]),
    "wp_meter_record": (ctypes.c_int, [P, ctypes.c_char_p]),
    "wp_meter_end": (ctypes.c_int, [P]),
    "wp_meter_region_count": (ctypes.c_size_t, [P]),
    "wp_meter_region": (ctypes.c_int, [P, ctypes.c_size_t, ctypes.POINTER(Region)]),
    "wp_meter_clear_regions": (None, [P]),
    "wp_meter_start_sampler": (ctypes.c_int, [P, ctypes.POINTER(SamplerOptions)]),
    "wp_meter_stop_sampler": (ctypes.c_int, [P]),
    "wp_meter_sampler_stats": (ctypes.c_int, [P, ctypes.POINTER(SamplerStats)]),
    "wp_series_open": (ctypes.c_int, [PP, P, P, ctypes.POINTER(SeriesOptions)]),
    "wp_series_close": (None, [P]),
    "wp_series_add": (ctypes.c_int, [P, P]),
    "wp_series_column_count": (ctypes.c_size_t, [P]),
    "wp_series_column": (ctypes.c_int, [P, ctypes.c_size_t, ctypes.POINTER(SeriesColumn)]),
    "wp_series_reader_open": (ctypes.c_int, [PP, P]),
    "wp_series_next": (ctypes.c_int, [P, ctypes.POINTER(ctypes.c_double),
                                      ctypes.POINTER(ctypes.c_double)]),
    "wp_series_reader_close": (None, [P]),
}
for _name, (_res, _args) in _protos.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args


def _strerror(code):
    s = lib.wp_strerror(code)
    return s.decode() if s else f"error {code}"


def check(rc, what):
    """rc if it is not negative, else WattprofError(rc, what)."""
    if rc < 0:
        raise WattprofError(rc, what)
    return rc
