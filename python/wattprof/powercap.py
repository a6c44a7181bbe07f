"""powercap.py - power limits from Python (docs/POWERCAP.md): each NVIDIA
GPU's and RAPL package's limits, set and put back with the same safety as
`wattprof powercap` (the original recorded in the shared state file before
the first change, so that `wattprof powercap reset` can put it back even if
this program is killed), and the profiler's model.

    import wattprof.powercap as pc
    for l in pc.power_limits(): print(l.device, l.constraint, l.power_w)
    pc.set_power_limit("nvidia_gpu_0", 250)       # PermissionError without root
    pc.reset_power_limit("nvidia_gpu_0")          # the original, else the default
"""
import ctypes
import errno
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from . import _lib
from ._lib import WattprofError, lib

__all__ = ["PowerLimit", "CapModel", "power_limits", "set_power_limit", "reset_power_limit",
           "check_power_limit", "cap_model", "cap_plan", "objective_value", "state_path",
           "DeviceLock"]


class DeviceLock:
    """One change of a device's limit at a time (wp_powercap_lock): held for
    a whole sweep; RuntimeError when another process holds it."""

    def __init__(self, device: str):
        self.device = device
        self.fd = lib.wp_powercap_lock(device.encode())
        if self.fd == -errno.EAGAIN:
            raise RuntimeError(f"another process is changing the power limit of {device}")
        if self.fd < 0:
            raise WattprofError(self.fd, f"cannot lock {device} beside '{state_path()}'")

    def release(self):
        if self.fd >= 0:
            lib.wp_powercap_unlock(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


@dataclass(frozen=True)
class PowerLimit:
    device: str            # "nvidia_gpu_0", "package_0"
    constraint: str        # "power" for a GPU; "long_term", "short_term" ... for RAPL
    id: str                # the GPU's UUID, the RAPL zone's folder
    kind: str              # "gpu" or "package"
    index: int
    power_w: float         # the limit set (what set_power_limit changes)
    default_w: float       # NVML's default; NaN for RAPL
    min_w: float
    max_w: float
    time_window_s: float
    original_w: Optional[float]  # recorded before wattprof changed it, else None
    enforced_w: float = math.nan  # a GPU's limit in force (the lowest on the board)


class _Host:
    """A wp_host for the limit calls."""

    def __init__(self):
        self.p = ctypes.c_void_p()
        opts = _lib.Options(version=_lib.OPTIONS_VERSION, flags=_lib.OPEN_NO_CROSSCHECK)
        _lib.check(lib.wp_host_open(ctypes.byref(self.p), ctypes.byref(opts)),
                   "cannot look for this machine's devices")

    def __enter__(self):
        return self.p

    def __exit__(self, *exc):
        lib.wp_host_close(self.p)


def state_path() -> str:
    buf = ctypes.create_string_buffer(4096)
    return lib.wp_powercap_state_path(buf, len(buf)).decode()


def _records():
    arr = ctypes.POINTER(_lib.PowercapRecord)()
    n = ctypes.c_size_t()
    rc = lib.wp_powercap_records(ctypes.byref(arr), ctypes.byref(n))
    if rc < 0:
        raise WattprofError(rc, f"cannot read the power-cap state file '{state_path()}'")
    try:
        return {(arr[i].device.decode(), arr[i].constraint.decode(), arr[i].id.decode()):
                arr[i].original_w for i in range(n.value)}
    finally:
        _lib.libc.free(ctypes.cast(arr, ctypes.c_void_p))


def _raw_limits(host):
    arr = ctypes.POINTER(_lib.PowerLimit)()
    n = ctypes.c_size_t()
    _lib.check(lib.wp_power_limits(host, ctypes.byref(arr), ctypes.byref(n)),
               "cannot read the power limits")
    return arr, n.value


def _limits(host) -> List[PowerLimit]:
    recs = _records()
    arr, n = _raw_limits(host)
    try:
        out = []
        for i in range(n):
            x = arr[i]
            dev, con, lid = x.device.decode(), x.constraint.decode(), x.id.decode()
            orig = recs.get((dev, con, lid or "-"))
            out.append(PowerLimit(dev, con, lid, "gpu" if x.kind == 1 else "package", x.index,
                                  x.power_w, x.default_w, x.min_w, x.max_w, x.time_window_s,
                                  orig, x.enforced_w))
        return out
    finally:
        lib.wp_power_limits_free(arr, n)


def power_limits() -> List[PowerLimit]:
    """Every limit of this machine's GPUs and RAPL packages."""
    with _Host() as h:
        return _limits(h)


def _find(limits, device, constraint) -> PowerLimit:
    for l in limits:
        if l.device == device and (constraint is None or l.constraint == constraint):
            return l
    have = sorted({l.device for l in limits}) or ["none"]
    raise LookupError(f"no power limit of {device}{' ' + constraint if constraint else ''} "
                      f"(devices with limits: {', '.join(have)})")


def _constraint(device: str, constraint: Optional[str]) -> Optional[str]:
    """The constraint meant: a GPU has one limit; a package's is long_term
    unless named."""
    return constraint or (None if device.startswith("nvidia") else "long_term")


def _raise_for(rc, device, watts, lim: Optional[PowerLimit]):
    if rc in (-errno.EACCES, -errno.EPERM):
        raise PermissionError(rc and -rc, f"not allowed to change the power limit of {device}: "
                              "root is needed (nothing was changed)")
    if rc == -errno.ERANGE and lim is not None and not math.isnan(lim.min_w):
        raise ValueError(f"{device} takes a limit of {lim.min_w:g} to {lim.max_w:g} W, "
                         f"not {watts:g} W")
    raise WattprofError(rc, f"cannot change the power limit of {device}")


def check_power_limit(device: str, constraint: Optional[str] = None) -> None:
    """PermissionError when this process may not change that limit (found
    by writing the limit in force back: nothing changes)."""
    with _Host() as h:
        lim = _find(_limits(h), device, constraint)
        c = None if lim.kind == "gpu" else lim.constraint
        rc = lib.wp_power_limit_check(h, device.encode(), _lib.c_str(c))
        if rc < 0:
            _raise_for(rc, device, lim.power_w, lim)


def _record(host, device, constraint) -> bool:
    """Records the limit's original in the state file, in one step under its
    lock; True when one was recorded before (it stays the original)."""
    arr, n = _raw_limits(host)
    try:
        for i in range(n):
            if arr[i].device.decode() == device and arr[i].constraint.decode() == constraint:
                rc = lib.wp_powercap_record(ctypes.byref(arr[i]), None)
                if rc < 0:
                    raise WattprofError(rc, f"cannot write the power-cap state file "
                                        f"'{state_path()}' (nothing was changed)")
                return rc == 1
        raise LookupError(f"no power limit of {device} {constraint}")
    finally:
        lib.wp_power_limits_free(arr, n)


def _forget(lim: PowerLimit) -> None:
    rc = lib.wp_powercap_forget(lim.device.encode(), lim.constraint.encode(),
                                lim.id.encode() if lim.id else None)
    if rc < 0:
        raise WattprofError(rc, f"cannot update the power-cap state file '{state_path()}'")


def set_power_limit(device: str, watts: float, constraint: Optional[str] = None) -> float:
    """Sets a limit (a GPU's, or a package's constraint: long_term unless
    named), its original recorded first; returns the limit it replaced."""
    with _Host() as h:
        lim = _find(_limits(h), device, _constraint(device, constraint))
        c = None if lim.kind == "gpu" else lim.constraint
        rc = lib.wp_power_limit_check(h, device.encode(), _lib.c_str(c))
        if rc < 0:
            _raise_for(rc, device, watts, lim)
        had = _record(h, device, lim.constraint)
        rc = lib.wp_power_limit_set(h, device.encode(), _lib.c_str(c), float(watts))
        if rc < 0:
            if not had:  # nothing changed: nothing to put back
                _forget(lim)
            _raise_for(rc, device, watts, lim)
        return lim.power_w


def reset_power_limit(device: str, constraint: Optional[str] = None) -> float:
    """Puts a limit back: to the original recorded before wattprof changed
    it, else to its default (NVML's; a package's rated power for
    long_term).  Returns the limit now in force."""
    with _Host() as h:
        lim = _find(_limits(h), device, _constraint(device, constraint))
        target = lim.original_w
        if target is None:
            target = lim.default_w if lim.kind == "gpu" else (
                lim.max_w if lim.constraint == "long_term" else math.nan)
        if math.isnan(target):
            raise LookupError(f"{device} {lim.constraint}: no default is known and wattprof "
                              "recorded no original")
        c = None if lim.kind == "gpu" else lim.constraint
        if target != lim.power_w:
            rc = lib.wp_power_limit_set(h, device.encode(), _lib.c_str(c), target)
            if rc < 0:
                _raise_for(rc, device, target, lim)
        if lim.original_w is not None:
            _forget(lim)
        return target


# ----------------------------------------------------------------- model

OBJECTIVES = ("ed2p", "edp", "energy", "time", "cost")


def _objective(name: str) -> int:
    o = ctypes.c_int()
    if lib.wp_cap_objective_parse(name.encode(), ctypes.byref(o)) < 0:
        raise ValueError(f"objective '{name}': one of {', '.join(OBJECTIVES)}")
    return o.value


def objective_value(objective: str, energy_j: float, time_s: float, eta: float = 0.5,
                    max_power_w: float = math.nan) -> float:
    return lib.wp_cap_objective_value(_objective(objective), eta, max_power_w, energy_j, time_s)


@dataclass(frozen=True)
class CapModel:
    objective: str
    recommended_cap_w: float
    predicted_time_s: float
    predicted_energy_j: float
    predicted_energy_saving: float
    predicted_slowdown: float
    lo_w: float
    hi_w: float


def cap_model(points: Sequence[Tuple[float, float, float]], objective: str = "ed2p",
              eta: float = 0.5, max_power_w: float = math.nan,
              default_cap_w: float = 0) -> CapModel:
    """The profiler's model (wp_cap_model_fit) over (cap_w, time_s,
    energy_j) points, and its recommendation."""
    pts = (_lib.CapPoint * max(1, len(points)))(*[_lib.CapPoint(*p) for p in points])
    m = _lib.CapModel(objective=_objective(objective), eta=eta, max_power_w=max_power_w,
                      default_cap_w=default_cap_w)
    if lib.wp_cap_model_fit(pts, len(points), ctypes.byref(m)) < 0:
        raise ValueError("cannot fit the model: give at least one point, each with a cap, "
                         "time and energy above 0 (and for cost, eta in 0..1 and max_power_w)")
    return CapModel(objective, m.recommended_cap_w, m.predicted_time_s, m.predicted_energy_j,
                    m.predicted_energy_saving, m.predicted_slowdown, m.lo_w, m.hi_w)


def cap_plan(default_w: float, min_w: float = math.nan, max_w: float = math.nan,
             k: int = 8) -> List[float]:
    """The caps the profiler tries: k from 100 % of default_w down to 30 %."""
    caps = (ctypes.c_double * 64)()
    n = lib.wp_cap_plan(default_w, min_w, max_w, k, caps)
    if n == 0:
        raise ValueError(f"no caps from a default of {default_w!r} W and k={k!r} (1 to 64)")
    return list(caps[:n])
