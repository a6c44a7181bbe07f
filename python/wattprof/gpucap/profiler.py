"""The power-cap profiler of the GPU power-capping thesis tool
(../shared/seeds/003), over wattprof's C API:

    from wattprof.gpucap.profiler import power_cap_profiler, set_power_cap, reset_power_cap
    optimal_cap = power_cap_profiler(gpu_num=0, model=model, dataloader=trainloader,
                                     train=True, loss_fn=criterion, optimizer=optimizer,
                                     out_file='test_power_cap_profiler.csv')
    set_power_cap(gpu_num=0, cap=optimal_cap)
    train()
    reset_power_cap(gpu_num=0)

The profiler runs the training (or inference) loop for a short time at each
of `caps` caps from 100 % of the GPU's default limit down to 30 %, measures
the GPU's energy and time per batch, fits wattprof's model and returns the
cap (W) that minimises the objective (ED2P by default), which may lie
between the caps tried.  The limit in force before is back when it returns,
raises, or is interrupted (SIGINT, SIGTERM, SIGHUP); its original is in
wattprof's state file from before the first change, so that
`wattprof powercap reset` puts it back even after a SIGKILL.
"""
import csv
import math
import os
import signal
import threading
import time
import warnings
from typing import Optional

from .. import powercap
from ..meter import Meter

__all__ = ["power_cap_profiler", "set_power_cap", "reset_power_cap"]


def set_power_cap(gpu_num: int = 0, cap: float = None) -> None:
    """Caps GPU gpu_num at `cap` W (root needed; the original is recorded
    first, and reset_power_cap or `wattprof powercap reset` puts it back)."""
    if cap is None:
        raise TypeError("set_power_cap() needs cap, in watts")
    powercap.set_power_limit(f"nvidia_gpu_{int(gpu_num)}", float(cap))


def reset_power_cap(gpu_num: int = 0) -> None:
    """GPU gpu_num back to the limit recorded before wattprof changed it,
    else to its default."""
    powercap.reset_power_limit(f"nvidia_gpu_{int(gpu_num)}")


class _Stopped(BaseException):
    """A stop signal during the sweep (the limit is put back, then the
    signal ends the program as it would have)."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _sync():
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _batches(dataloader):
    """The dataloader's batches, again and again."""
    while True:
        empty = True
        for b in dataloader:
            empty = False
            yield b
        if empty:
            raise ValueError("the dataloader gave no batch")


def _step(model, batch, train, loss_fn, optimizer):
    x, y = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
    device = getattr(next(iter(model.parameters()), None), "device", None) \
        if hasattr(model, "parameters") else None
    if device is not None and hasattr(x, "to"):
        x = x.to(device)
        y = y.to(device) if hasattr(y, "to") else y
    if train:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
    else:
        try:
            import torch
            with torch.no_grad():
                model(x)
        except ImportError:
            model(x)


def power_cap_profiler(gpu_num: int = 0, model=None, dataloader=None, train: bool = True,
                       loss_fn=None, optimizer=None,
                       out_file: str = "power_cap_profiler.csv", caps: int = 8,
                       objective: str = "ed2p", eta: float = 0.5, duration_s: float = 5.0,
                       warmup_batches: int = 3) -> float:
    """Runs `model` on `dataloader` (training when train: loss_fn and
    optimizer needed) for duration_s seconds after warmup_batches at each
    cap, and returns the recommended cap in W.  out_file gets one row per
    cap (cap, batches, time and energy per batch, average power, the
    objective) and the recommendation."""
    if model is None or dataloader is None:
        raise TypeError("power_cap_profiler() needs model and dataloader")
    if train and (loss_fn is None or optimizer is None):
        raise TypeError("training (train=True) needs loss_fn and optimizer")
    if not duration_s or duration_s <= 0:
        raise ValueError(f"duration_s {duration_s!r}: give seconds above 0")
    device = f"nvidia_gpu_{int(gpu_num)}"
    lim = [l for l in powercap.power_limits() if l.device == device]
    if not lim:
        raise LookupError(f"no power limit of {device}: 'wattprof powercap show' lists the "
                          "devices")
    lim = lim[0]
    powercap.check_power_limit(device)  # PermissionError at once: nothing changes
    default = lim.default_w if not math.isnan(lim.default_w) else lim.power_w
    plan = powercap.cap_plan(default, lim.min_w, lim.max_w, caps)
    lock = powercap.DeviceLock(device)
    try:
        meter = Meter(domains=[device])
    except BaseException:
        lock.release()
        raise
    batches = _batches(dataloader)
    points = []
    old = {}
    stopping = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGTERM, signal.SIGHUP):
            old[s] = signal.signal(s, _stop)
    else:
        warnings.warn("power_cap_profiler runs outside the main thread: a SIGTERM or SIGHUP "
                      "will end the program without putting the limit back (wattprof "
                      "powercap reset then does)", RuntimeWarning, stacklevel=2)
    stopped = None
    try:
        for cap in plan:
            powercap.set_power_limit(device, cap)
            for _ in range(warmup_batches):
                _step(model, next(batches), train, loss_fn, optimizer)
            _sync()
            meter.begin(f"cap {cap:g} W")
            start, n = time.perf_counter(), 0
            while n == 0 or time.perf_counter() - start < duration_s:
                _step(model, next(batches), train, loss_fn, optimizer)
                n += 1
                if n % 8 == 0:
                    _sync()
            _sync()
            (r,) = meter.end()
            points.append((cap, n, r.duration_s / n, r.energy_j[device] / n,
                           r.energy_j[device] / r.duration_s))
    except _Stopped as e:
        stopped = e.signum
    finally:
        # The limit back with every stop signal held off, then the
        # handlers as they were: a second signal cannot cut it short.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, stopping) if old else None
        try:
            _put_back(device, lim)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            if held is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
            meter.close()
            lock.release()
    if stopped:
        # Ends as the signal would have ended it, the limit back.
        signal.signal(stopped, signal.SIG_DFL)
        os.kill(os.getpid(), stopped)
        raise SystemExit(128 + stopped)
    model_fit = powercap.cap_model([(c, t, e) for c, _, t, e, _ in points], objective, eta,
                                   lim.max_w if not math.isnan(lim.max_w) else default, default)
    with open(out_file, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["power cap (W)", "batches", "time per batch (s)", "energy per batch (J)",
                    "average power (W)", objective])
        for c, n, t, e, p in points:
            w.writerow([c, n, t, e, p, powercap.objective_value(
                objective, e, t, eta, lim.max_w if not math.isnan(lim.max_w) else default)])
        w.writerow([])
        w.writerow(["recommended cap (W)", model_fit.recommended_cap_w])
        w.writerow(["predicted energy saving", model_fit.predicted_energy_saving])
        w.writerow(["predicted slowdown", model_fit.predicted_slowdown])
    return model_fit.recommended_cap_w


def _stop(signum, frame):
    raise _Stopped(signum)


def _put_back(device, lim):
    """The limit found at the start in force again.  Its record is
    forgotten once it is, unless it was there before the sweep (an earlier
    change, for `reset`); when it cannot be put back, the record stays."""
    powercap.set_power_limit(device, lim.power_w)
    if lim.original_w is None:
        powercap._forget(lim)
