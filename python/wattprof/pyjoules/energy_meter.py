"""pyJoules's energy_meter: EnergyMeter, EnergyContext, measureit, and the
trace they hand to a handler.

As in pyJoules, a sample's `energy` maps each domain's name to its energy in
pyJoules's units: microjoules for RAPL domains, millijoules for NVIDIA
GPUs (energy_j gives joules for every domain); `timestamp` is the
wall-clock start (time.time()) and `duration` is in seconds.
"""
import functools
import time
from typing import Dict, Iterable, List, Optional

from ..meter import _pool
from .energy_handler import PrintHandler
from .energy_device import Domain, NoSuchDomainError
from .energy_device.nvidia_device import NvidiaGPUDomain
from .energy_device.rapl_device import (RaplCoreDomain, RaplDramDomain, RaplPackageDomain,
                                        RaplUncoreDomain)

_KINDS = {"package": RaplPackageDomain, "dram": RaplDramDomain, "core": RaplCoreDomain,
          "uncore": RaplUncoreDomain}


def _scale(name: str) -> float:
    """pyJoules's unit of a domain per joule: uJ for RAPL, mJ for NVIDIA."""
    return 1e3 if name.startswith("nvidia_gpu_") else 1e6


class EnergySample:
    def __init__(self, timestamp: float, tag: str, duration: float, energy_j: Dict[str, float]):
        self.timestamp = timestamp
        self.tag = tag
        self.duration = duration
        self.energy_j = dict(energy_j)
        self.energy = {d: e * _scale(d) for d, e in energy_j.items()}

    def __repr__(self):
        return (f"EnergySample(timestamp={self.timestamp!r}, tag={self.tag!r}, "
                f"duration={self.duration!r}, energy={self.energy!r})")


class EnergyTrace:
    """The samples of a measurement, in order; iterable, indexable by tag.
    `report`: the measurement as a wattprof report (wattprof.Report), when
    the meter was asked to keep one (a handler that stores runs)."""

    def __init__(self, samples: Iterable[EnergySample] = ()):
        self._samples: List[EnergySample] = list(samples)
        self.report = None
        self.meter = None

    def __iter__(self):
        return iter(self._samples)

    def __len__(self):
        return len(self._samples)

    def __getitem__(self, key):
        if isinstance(key, str):
            for s in self._samples:
                if s.tag == key:
                    return s
            raise KeyError(key)
        return self._samples[key]

    def append(self, sample: EnergySample) -> None:
        self._samples.append(sample)

    def __add__(self, other):
        return EnergyTrace(list(self) + list(other))

    def remove_idle(self, idle):
        """Subtracts, per sample, idle power (joules per second by domain,
        from an EnergySample of an idle period) x its duration."""
        out = []
        for s in self._samples:
            e = {d: s.energy_j[d] - idle.energy_j.get(d, 0) / idle.duration * s.duration
                 for d in s.energy_j}
            out.append(EnergySample(s.timestamp, s.tag, s.duration, e))
        return EnergyTrace(out)

    def clean_data(self, guard: bool = False):
        """Drops samples with a negative energy (pyJoules's name; wattprof's
        counters never go back across a wrap, so there are none to drop)."""
        return EnergyTrace(s for s in self._samples
                           if all(e >= 0 for e in s.energy_j.values()))


def _names(domains: Optional[List[Domain]]) -> Optional[List[str]]:
    return None if domains is None else [d.wattprof_name() for d in domains]


class EnergyMeter:
    """Measures the domains given (default: every RAPL and NVIDIA domain this
    machine measures) with tagged breakpoints: start(tag), record(tag), stop(),
    get_trace()."""

    def __init__(self, domains: Optional[List[Domain]] = None, keep_report: bool = False):
        self._names = _names(domains)
        self.keep_report = keep_report
        self._snap = None
        try:
            self._meter = _pool.acquire(self._names, {})
        except OSError as e:
            missing = [n for n in (_names(domains) or []) if n in str(e)]
            if missing:
                raise NoSuchDomainError(missing[0]) from e
            raise
        if domains is None:
            domains = [self._domain_of(d) for d in self._meter.domains]
            domains = [d for d in domains if d is not None] or None
        self.domains = domains
        self._trace = EnergyTrace()
        self._stamps: List[float] = []

    @staticmethod
    def _domain_of(d):
        if d.name.startswith("nvidia_gpu_"):
            return NvidiaGPUDomain(int(d.name.rsplit("_", 1)[1]))
        cls = _KINDS.get(d.kind)
        return cls(d.socket) if cls and d.name == f"{d.kind}_{d.socket}" else None

    def start(self, tag: str = "start") -> None:
        self._stamps = [time.time()]
        self._trace = EnergyTrace()
        if self.keep_report:
            self._snap = self._meter.snapshot()
        self._meter.begin(tag)

    def record(self, tag: str) -> None:
        self._stamps.append(time.time())
        self._meter.record(tag)

    def resume(self, tag: str = "resume") -> None:
        self._stamps.append(time.time())
        self._meter.begin(tag)

    def stop(self) -> None:
        if self.keep_report and self._snap is not None:
            # The whole measurement, regions included, as a wattprof report.
            from ..run import Report
            self._meter.end_open()
            end = self._meter.snapshot()
            rep = Report()
            rep.start_unix_ns = int(self._stamps[0] * 1e9)
            try:
                rep.measure(self._meter, self._snap.ptr, end.ptr)
            finally:
                self._snap = None
            self._trace.report, self._trace.meter = rep, self._meter
        regions = self._meter.end()
        keep = set(_names(self.domains)) if self.domains else None
        for k, r in enumerate(regions):
            stamp = self._stamps[k] if k < len(self._stamps) else time.time()
            e = {d: j for d, j in r.energy_j.items() if keep is None or d in keep}
            self._trace.append(EnergySample(stamp, r.tag, r.duration_s, e))
        self._stamps = []

    def get_trace(self) -> EnergyTrace:
        return self._trace

    def close(self) -> None:
        """Hands the meter back for the next measurement of these domains."""
        if self._meter is not None:
            _pool.release(self._meter, self._names, {})
            self._meter = None


class EnergyContext:
    """`with EnergyContext(handler=..., domains=[...], start_tag='foo') as ctx:`
    ... ctx.record(tag='bar') ...: each part goes to the handler when the
    block ends."""

    def __init__(self, handler=None, domains: Optional[List[Domain]] = None,
                 start_tag: str = "start"):
        self.handler = handler if handler is not None else PrintHandler()
        self.domains = domains
        self.start_tag = start_tag
        self.energy_meter: Optional[EnergyMeter] = None

    def __enter__(self) -> EnergyMeter:
        self.energy_meter = EnergyMeter(self.domains,
                                        keep_report=getattr(self.handler, "needs_report", False))
        self.energy_meter.start(self.start_tag)
        return self.energy_meter

    def __exit__(self, *exc):
        try:
            self.energy_meter.stop()
            self.handler.process(self.energy_meter.get_trace())
        finally:
            self.energy_meter.close()
        return False


def measureit(func=None, handler=None, domains: Optional[List[Domain]] = None):
    """Decorator: every call of the function is measured (tag: its name) and
    handed to the handler (default: printed).  With or without arguments."""
    def decorator(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            with EnergyContext(handler=handler, domains=domains, start_tag=f.__name__):
                return f(*args, **kwargs)
        return wrapper
    return decorator(func) if func is not None else decorator
