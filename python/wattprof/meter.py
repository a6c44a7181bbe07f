"""meter.py - the native Python API: a Meter over libwattprof's domains, its
tagged regions (begin/record/end), a context manager, a decorator and a
background sampler whose samples become a pandas DataFrame when pandas is
installed.  Results are dataclasses; energies in joules, times in seconds.
"""
import atexit
import ctypes
import functools
import math
import os
import threading
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

from . import _lib
from ._lib import check, c_str, lib

__all__ = ["Domain", "Region", "Sample", "Meter", "Sampler", "measure", "measured"]


@dataclass(frozen=True)
class Domain:
    """One measured quantity: "package_0", "dram_0", "nvidia_gpu_0" ..."""
    name: str
    kind: str            # package, core, uncore, dram, psys, other, system, gpu
    source: str          # powercap, perf, msr, hwmon, nvml, amdgpu, estimate
    socket: int          # -1 where it has none
    method: str          # energy_counter, power_instant, power_average, estimate
    estimated: bool
    in_total: bool       # counted in totals: inside no other domain, not "other"
    device_name: Optional[str] = None


@dataclass
class Region:
    """A measured stretch of code: its tag, when it started (seconds on the
    monotonic clock), how long it lasted, and each domain's energy."""
    tag: str
    start_s: float
    duration_s: float
    energy_j: Dict[str, float]
    in_total: Dict[str, bool] = field(default_factory=dict, repr=False)

    @property
    def total_j(self) -> float:
        """Energy of the domains in the total (each joule counted once)."""
        return sum(e for d, e in self.energy_j.items() if self.in_total.get(d, True))

    @property
    def avg_power_w(self) -> float:
        return self.total_j / self.duration_s if self.duration_s > 0 else math.nan


@dataclass
class Sample:
    """One sample of a Sampler: seconds since its start, and each column's
    value ("package_0.power_w", "package_0.energy_j", "node.cpu_util_pct" ...;
    NaN where the sample has none)."""
    t_s: float
    values: Dict[str, float]


def _s(b):
    return b.decode() if b is not None else None


class Closing:
    """close() when the `with` block ends, and when the object is collected."""

    def close(self) -> None:  # pragma: no cover - each class has its own
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Meter(Closing):
    """A meter on this machine's energy domains (all of them, or those
    named), read through libwattprof.

    sources: "powercap", "nvml,powercap" ... (default: every real one);
    sysfs_root, proc_root: stand-ins for /sys and /proc (tests)."""

    def __init__(self, domains: Optional[Sequence[str]] = None, sources: Optional[str] = None,
                 sysfs_root: Optional[str] = None, proc_root: Optional[str] = None):
        self._host = ctypes.c_void_p()
        self._meter = ctypes.c_void_p()
        opts = _lib.Options(version=_lib.OPTIONS_VERSION, sysfs_root=c_str(sysfs_root),
                            proc_root=c_str(proc_root), sources=c_str(sources))
        check(lib.wp_host_open(ctypes.byref(self._host), ctypes.byref(opts)),
              "cannot open this machine's energy sources")
        names = None
        if domains is not None:
            names = (ctypes.c_char_p * len(domains))(*[d.encode() for d in domains])
        bad = ctypes.c_char_p()
        rc = lib.wp_meter_open(ctypes.byref(self._meter), self._host, names,
                               len(domains) if domains is not None else 0, ctypes.byref(bad))
        if rc < 0:
            lib.wp_host_close(self._host)
            self._host = ctypes.c_void_p()
            what = f"cannot measure domain '{_s(bad.value)}'" if bad.value else "cannot open the meter"
            check(rc, what + " (wattprof list shows the domains)")
        n = lib.wp_meter_domain_count(self._meter)
        infos = [lib.wp_meter_domain(self._meter, i) for i in range(n)]
        self.domains: List[Domain] = []
        for i, info in enumerate(infos):
            d = info.contents
            inside = any(lib.wp_domain_contains(o, info) for o in infos)
            self.domains.append(Domain(
                name=_s(d.name), kind=_lib.KINDS.get(d.kind, "other"), source=_s(d.source),
                socket=d.socket, method=_s(d.method), estimated=bool(d.estimated),
                in_total=d.kind != 6 and not inside, device_name=_s(d.device_name)))
        self._in_total = {d.name: d.in_total for d in self.domains}
        self._open = self._ended = False

    # ------------------------------------------------------------ lifetime

    def close(self):
        if self._meter:
            lib.wp_meter_close(self._meter)
            self._meter = ctypes.c_void_p()
        if self._host:
            lib.wp_host_close(self._host)
            self._host = ctypes.c_void_p()

    def _live(self):
        if not self._meter:
            raise ValueError("this Meter is closed")
        return self._meter

    # ------------------------------------------------------------- regions

    def begin(self, tag: str = "") -> None:
        """Starts a region (pyJoules's start): WattprofError if one is open."""
        check(lib.wp_meter_begin(self._live(), c_str(tag)), "cannot begin a region")
        self._open, self._ended = True, False

    def record(self, tag: str = "") -> None:
        """Ends the open region and starts the next one, tagged `tag`."""
        check(lib.wp_meter_record(self._live(), c_str(tag)), "cannot record a breakpoint")

    def end(self) -> List[Region]:
        """Ends the open region; returns every region closed since the last
        end() (or clear), oldest first, and forgets them."""
        if not self._ended:  # else end_open() ended it
            check(lib.wp_meter_end(self._live()), "cannot end a region")
        self._open = self._ended = False
        out = self.regions()
        lib.wp_meter_clear_regions(self._meter)
        return out

    def end_open(self) -> None:
        """Ends the open region, if any, keeping the regions (end() returns
        them later)."""
        if self._open:
            check(lib.wp_meter_end(self._live()), "cannot end a region")
            self._open, self._ended = False, True

    def snapshot(self) -> "Snapshot":
        """Every domain's counters now (wp_meter_snapshot)."""
        return Snapshot(self)

    def regions(self) -> List[Region]:
        m = self._live()
        out = []
        r = _lib.Region()
        for i in range(lib.wp_meter_region_count(m)):
            check(lib.wp_meter_region(m, i, ctypes.byref(r)), "cannot read a region")
            out.append(Region(tag=_s(r.tag) or "", start_s=r.start_ns / 1e9,
                              duration_s=r.duration_ns / 1e9,
                              energy_j={d.name: r.energy_j[k] for k, d in enumerate(self.domains)},
                              in_total=dict(self._in_total)))
        return out

    def measure(self, tag: str = ""):
        """A context manager measuring its block: `with m.measure("x") as r:`
        then r.region (a Region) after the block."""
        return _Measurement(self, tag, own=False)

    # ------------------------------------------------------------- sampler

    def sampler(self, freq_hz: float = 10.0, readings: bool = True) -> "Sampler":
        """A background sampler at freq_hz (raised where a counter could
        wrap unseen); readings adds device and node readings (GPU
        utilisation, CPU utilisation, memory) at most 10 times a second."""
        return Sampler(self, freq_hz, readings)


class Snapshot:
    """A wp_snapshot of a meter, freed with the object; `ptr` for the C
    calls that take one."""

    def __init__(self, meter: Meter):
        m = meter._live()
        self.ptr = lib.wp_snapshot_new(m)
        if not self.ptr:
            raise MemoryError("wp_snapshot_new")
        rc = lib.wp_meter_snapshot(m, self.ptr)
        if rc < 0:
            self.close()
            check(rc, "cannot read the domains")

    @property
    def time_s(self) -> float:
        return lib.wp_snapshot_time_ns(self.ptr) / 1e9

    def close(self):
        if self.ptr:
            lib.wp_snapshot_free(self.ptr)
            self.ptr = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class _Pool:
    """Meters kept open between measurements of the same domains: opening
    one probes every source (and cross-checks two sources of one domain
    over 20 ms), too slow for a decorated function called in a loop.  A
    meter in use (a measurement inside another) is never handed out twice."""

    def __init__(self):
        self._lock = threading.Lock()
        self._free: Dict[tuple, List[Meter]] = {}

    @staticmethod
    def _key(domains, meter_args):
        # What the host is opened from: the arguments, and the variables
        # libwattprof reads (roots, sources, the NVML library, the GPUs a
        # program may see): a change of them opens another meter.
        env = tuple(sorted((k, v) for k, v in os.environ.items()
                           if k.startswith(("WATTPROF_", "FAKE_NVML")) or
                           k.endswith("_VISIBLE_DEVICES")))
        return (tuple(domains) if domains is not None else None,
                tuple(sorted(meter_args.items())), env)

    def acquire(self, domains, meter_args) -> Meter:
        key = self._key(domains, meter_args)
        with self._lock:
            free = self._free.get(key)
            if free:
                return free.pop()
        return Meter(domains=domains, **meter_args)

    def release(self, meter: Meter, domains, meter_args) -> None:
        with self._lock:
            self._free.setdefault(self._key(domains, meter_args), []).append(meter)

    def close(self):
        with self._lock:
            for meters in self._free.values():
                for m in meters:
                    m.close()
            self._free.clear()


_pool = _Pool()
atexit.register(_pool.close)


class _Measurement:
    def __init__(self, meter, tag, own, release=None):
        self.meter, self.tag, self.own = meter, tag, own
        self.release = release
        self.region: Optional[Region] = None

    def __enter__(self):
        self.meter.begin(self.tag)
        return self

    def record(self, tag: str = "") -> None:
        self.meter.record(tag)

    def __exit__(self, *exc):
        try:
            regions = self.meter.end()
            self.regions = regions
            self.region = regions[-1] if regions else None
        finally:
            if self.release:
                self.release(self.meter)
            elif self.own:
                self.meter.close()
        return False


def measure(tag: str = "", domains: Optional[Sequence[str]] = None, **meter_args):
    """`with wattprof.measure("train") as m:` ... then m.region, m.regions
    (one per record() breakpoint).  Uses a Meter of those domains kept open
    between measurements (opening one probes every source)."""
    meter = _pool.acquire(domains, meter_args)
    return _Measurement(meter, tag, own=True,
                        release=lambda m: _pool.release(m, domains, meter_args))


def measured(func: Optional[Callable] = None, *, domains: Optional[Sequence[str]] = None,
             handler: Optional[Callable[[Region], None]] = None, **meter_args):
    """Decorator: each call of the function is a Region tagged with its
    name, handed to handler (default: printed)."""
    def wrap(f):
        @functools.wraps(f)
        def inner(*args, **kwargs):
            with measure(f.__name__, domains=domains, **meter_args) as m:
                result = f(*args, **kwargs)
            (handler or print)(m.region)
            return result
        return inner
    return wrap(func) if func is not None else wrap


def series_columns(series) -> List[tuple]:
    """(domain, metric, unit) of each column of a wp_series."""
    c = _lib.SeriesColumn()
    out = []
    for i in range(lib.wp_series_column_count(series)):
        check(lib.wp_series_column(series, i, ctypes.byref(c)), "no such column")
        out.append((_s(c.domain), _s(c.metric), _s(c.unit)))
    return out


def series_rows(series) -> List[tuple]:
    """Every row of a wp_series: (t_s, {"domain.metric": value})."""
    cols = [f"{d}.{m}" for d, m, _ in series_columns(series)]
    reader = ctypes.c_void_p()
    check(lib.wp_series_reader_open(ctypes.byref(reader), series), "cannot read the series back")
    vals = (ctypes.c_double * max(1, len(cols)))()
    t = ctypes.c_double()
    out = []
    try:
        while check(lib.wp_series_next(reader, ctypes.byref(t), vals),
                    "cannot read a sample") == 1:
            out.append((t.value, dict(zip(cols, vals[:len(cols)]))))
    finally:
        lib.wp_series_reader_close(reader)
    return out


class Sampler:
    """A background sampler (libwattprof's thread: absolute schedule, no
    drift) feeding a time series kept in a temporary file; read it back with
    samples(), or as a DataFrame with to_dataframe()."""

    def __init__(self, meter: Meter, freq_hz: float, readings: bool):
        self.meter, self.freq_hz, self.readings = meter, freq_hz, readings
        self._series = ctypes.c_void_p()
        self._start = None
        self.running = False

    def start(self) -> "Sampler":
        m = self.meter._live()
        if self.running:
            raise ValueError("this Sampler runs already")
        self.close()
        self._start = lib.wp_snapshot_new(m)
        if not self._start:
            raise MemoryError("wp_snapshot_new")
        check(lib.wp_meter_snapshot(m, self._start), "cannot read the domains")
        flags = _lib.SERIES_STORE | (_lib.SERIES_NODE | _lib.SERIES_DEVICES if self.readings else 0)
        so = _lib.SeriesOptions(version=_lib.SERIES_OPTIONS_VERSION, flags=flags)
        check(lib.wp_series_open(ctypes.byref(self._series), m, self._start, ctypes.byref(so)),
              "cannot open the time series")
        sa = _lib.SamplerOptions(version=_lib.SAMPLER_OPTIONS_VERSION, freq_hz=self.freq_hz,
                                 flags=_lib.SAMPLE_METRICS if self.readings else 0,
                                 series=self._series)
        check(lib.wp_meter_start_sampler(m, ctypes.byref(sa)), "cannot start the sampler")
        self.running = True
        return self

    def stop(self) -> None:
        """Stops the thread and adds a last sample at this instant."""
        if not self.running:
            return
        m = self.meter._live()
        lib.wp_meter_stop_sampler(m)
        end = lib.wp_snapshot_new(m)
        try:
            if lib.wp_meter_snapshot(m, end) == 0:
                lib.wp_series_add(self._series, end)
        finally:
            lib.wp_snapshot_free(end)
        self.running = False

    @property
    def stats(self) -> Dict[str, float]:
        st = _lib.SamplerStats()
        check(lib.wp_meter_sampler_stats(self.meter._live(), ctypes.byref(st)), "no sampler")
        return {"freq_hz": st.freq_hz, "samples": st.samples, "missed": st.missed,
                "max_late_ns": st.max_late_ns}

    @property
    def columns(self) -> List[str]:
        """"domain.metric" of every column, with its unit in units()."""
        return [f"{d}.{m}" for d, m, _ in self._columns()]

    def units(self) -> Dict[str, str]:
        return {f"{d}.{m}": u for d, m, u in self._columns()}

    def _columns(self):
        return series_columns(self._series) if self._series else []

    def samples(self) -> List[Sample]:
        """Every sample so far, oldest first (stop() first for the last)."""
        if self.running:
            raise ValueError("stop the Sampler before reading it back")
        if not self._series:
            return []
        return [Sample(t_s=t, values=v) for t, v in series_rows(self._series)]

    def to_dataframe(self):
        """The samples as a pandas DataFrame indexed by t_s (ImportError
        when pandas is not installed)."""
        try:
            import pandas
        except ImportError as e:
            raise ImportError("Sampler.to_dataframe needs pandas: pip install pandas; "
                              "samples() gives the same as dataclasses") from e
        rows = self.samples()
        frame = pandas.DataFrame([s.values for s in rows], index=[s.t_s for s in rows],
                                 columns=self.columns)
        frame.index.name = "t_s"
        return frame

    def close(self) -> None:
        self.stop()
        if self._series:
            lib.wp_series_close(self._series)
            self._series = ctypes.c_void_p()
        if self._start:
            lib.wp_snapshot_free(self._start)
            self._start = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
