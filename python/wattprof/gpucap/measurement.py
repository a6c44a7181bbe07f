"""The measurement tool of the GPU power-capping thesis tool
(../shared/seeds/003), over wattprof:

  EnergyMeasurementTool(out_file, gpu_num): start()/stop() around snippets;
    one row per snippet: elapsed time (s), CPU energy (kWh), GPU energy (kWh).
  AsynchronousMeasurementTool(out_file, gpu_num): start(interval)/stop();
    one row per reading: elapsed time (s), CPU energy (kWh), CPU
    utilisation (%), CPU temp (C), GPU energy (kWh), GPU utilisation (%),
    GPU temp (C), GPU power (W).  The energies are those of the interval
    since the previous row (their sum is the whole run's).
  LayerwiseMeasurementTool(out_file, gpu_num): start(model) returns the
    model with timing hooks on its layers; stop() apportions the energy
    measured meanwhile to the layers by their execution time and writes
    each layer's average energy per call (J).

As in the tool, results are written to out_file when the program exits
(and at save(), or at stop() for the layerwise tool).  "CPU" is the
processor packages (RAPL package domains, summed over sockets); "GPU" is
nvidia_gpu_<gpu_num>.  The readings come from libwattprof's sampler
thread, not from a second Python process.
"""
import atexit
import csv
import math
import time
from typing import Dict, List, Optional, Sequence, Tuple

from ..meter import Meter, _pool

__all__ = ["EnergyMeasurementTool", "AsynchronousMeasurementTool", "LayerwiseMeasurementTool",
           "apportion"]

J_PER_KWH = 3.6e6


def _pick(meter: Meter, gpu_num: Optional[int]) -> Tuple[List[str], Optional[str]]:
    """The package domains and the GPU's domain of a meter; ValueError
    naming the GPU when the machine has no such GPU."""
    cpu = [d.name for d in meter.domains if d.kind == "package"]
    gpu = None
    if gpu_num is not None:
        gpu = f"nvidia_gpu_{int(gpu_num)}"
        if gpu not in [d.name for d in meter.domains]:
            have = [d.name for d in meter.domains if d.kind == "gpu"] or ["none"]
            raise ValueError(f"no GPU {gpu} on this machine (GPUs measured: {', '.join(have)}; "
                             "'wattprof list' shows the domains, CUDA_VISIBLE_DEVICES hides "
                             "some)")
    return cpu, gpu


class _Saved:
    """Rows written to out_file at exit (and at save())."""

    columns: Sequence[str] = ()

    def __init__(self, out_file: str):
        self.out_file = out_file
        self.rows: List[list] = []
        self._saved = 0
        atexit.register(self._at_exit)

    def save(self) -> None:
        """Writes the rows (header first) to out_file, replacing it."""
        with open(self.out_file, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(self.columns)
            for row in self.rows:
                w.writerow(["" if isinstance(v, float) and math.isnan(v) else v for v in row])
        self._saved = len(self.rows)

    def _at_exit(self):
        if self.rows and self._saved != len(self.rows):
            try:
                self.save()
            except OSError:
                pass  # nothing to tell at exit that the caller could act on


class EnergyMeasurementTool(_Saved):
    columns = ("elapsed time (s)", "CPU energy (kWh)", "GPU energy (kWh)")

    def __init__(self, out_file: str, gpu_num: int = 0):
        super().__init__(out_file)
        self.gpu_num = gpu_num
        self._meter = _pool.acquire(None, {})
        self.cpu, self.gpu = _pick(self._meter, gpu_num)
        self._open = False

    def start(self) -> None:
        self._meter.begin("snippet")
        self._open = True

    def stop(self) -> list:
        """Ends the snippet; returns its row [s, CPU kWh, GPU kWh]."""
        if not self._open:
            raise ValueError("stop() without start()")
        regions = self._meter.end()
        self._open = False
        r = regions[-1]
        cpu = sum(r.energy_j[d] for d in self.cpu) if self.cpu else math.nan
        row = [r.duration_s, cpu / J_PER_KWH, r.energy_j[self.gpu] / J_PER_KWH]
        self.rows.append(row)
        return row


class AsynchronousMeasurementTool(_Saved):
    columns = ("elapsed time (s)", "CPU energy (kWh)", "CPU utilisation (%)", "CPU temp (C)",
               "GPU energy (kWh)", "GPU utilisation (%)", "GPU temp (C)", "GPU power (W)")

    def __init__(self, out_file: str, gpu_num: int = 0):
        super().__init__(out_file)
        self.gpu_num = gpu_num
        self._meter = _pool.acquire(None, {})
        self.cpu, self.gpu = _pick(self._meter, gpu_num)
        self._sampler = None

    def start(self, interval: float = 1.0) -> None:
        """Takes a reading every `interval` seconds (at least 0.001)."""
        if not interval or interval < 0.001:
            raise ValueError(f"interval {interval!r} s: give at least 0.001 s")
        if self._sampler is not None and self._sampler.running:
            raise ValueError("this tool is measuring already: stop() first")
        self._sampler = self._meter.sampler(freq_hz=1.0 / interval, readings=True)
        self._sampler.start()

    def stop(self) -> List[list]:
        """Stops the readings; returns the rows they added."""
        s = self._sampler
        if s is None or not s.running:
            raise ValueError("stop() without start()")
        s.stop()
        samples = s.samples()
        s.close()
        added = []
        prev = samples[0] if samples else None
        for cur in samples[1:]:
            v, p = cur.values, prev.values
            cpu = sum(v[f"{d}.energy_j"] - p[f"{d}.energy_j"] for d in self.cpu) \
                if self.cpu else math.nan
            gpu = v[f"{self.gpu}.energy_j"] - p[f"{self.gpu}.energy_j"]
            dt = cur.t_s - prev.t_s
            added.append([cur.t_s, cpu / J_PER_KWH, v.get("node.cpu_util_pct", math.nan),
                          v.get("node.cpu_temp_c", math.nan), gpu / J_PER_KWH,
                          v.get(f"{self.gpu}.util_pct", math.nan),
                          v.get(f"{self.gpu}.temp_c", math.nan),
                          gpu / dt if dt > 0 else math.nan])
            prev = cur
        self.rows.extend(added)
        return added


def apportion(total_j: float, times: Dict[str, Tuple[float, int]]) -> Dict[str, float]:
    """Each layer's average energy per call (J): the energy measured over
    the run, shared by the layers in proportion to their execution time.
    times: layer -> (seconds over all calls, calls).  Layers that never ran
    get NaN; with no time measured at all, every layer gets NaN."""
    busy = sum(t for t, _ in times.values())
    out = {}
    for name, (t, calls) in times.items():
        if calls == 0 or busy <= 0 or not math.isfinite(total_j):
            out[name] = math.nan
        else:
            out[name] = total_j * (t / busy) / calls
    return out


class LayerwiseMeasurementTool:
    """start(model) hooks every leaf module of a PyTorch model (forward, and
    backward when training) and times it, synchronising CUDA before each
    clock read so that a layer's time is its kernels' and not the launch's;
    stop() shares the GPU's energy over the run (the packages' where no GPU
    is measured) among the layers by time and writes "layer,average energy
    (J)" rows to out_file."""

    columns = ("layer", "average energy (J)", "calls", "time (s)")

    def __init__(self, out_file: str, gpu_num: int = 0):
        self.out_file = out_file
        self.gpu_num = gpu_num
        self._meter = _pool.acquire(None, {})
        try:
            self.cpu, self.gpu = _pick(self._meter, gpu_num)
        except ValueError:
            self.cpu, self.gpu = _pick(self._meter, None)  # a CPU-only machine
        self._handles = []
        self.times: Dict[str, List[float]] = {}
        self.results: Dict[str, float] = {}

    def _sync(self):
        torch = self._torch
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def start(self, model):
        import torch
        self._torch = torch
        starts: Dict[Tuple[str, str], float] = {}
        self.times = {}

        def pre(name, phase):
            def hook(*_):
                self._sync()
                starts[(name, phase)] = time.perf_counter()
            return hook

        def post(name, phase):
            def hook(*_):
                self._sync()
                t0 = starts.pop((name, phase), None)
                if t0 is not None:
                    rec = self.times.setdefault(name, [0.0, 0])
                    rec[0] += time.perf_counter() - t0
                    if phase == "forward":
                        rec[1] += 1
            return hook

        for name, mod in model.named_modules():
            if any(True for _ in mod.children()):
                continue  # containers: their layers are timed
            name = name or type(mod).__name__
            self.times[name] = [0.0, 0]
            self._handles.append(mod.register_forward_pre_hook(pre(name, "forward")))
            self._handles.append(mod.register_forward_hook(post(name, "forward")))
            if hasattr(mod, "register_full_backward_pre_hook"):
                self._handles.append(mod.register_full_backward_pre_hook(pre(name, "backward")))
                self._handles.append(mod.register_full_backward_hook(post(name, "backward")))
        self._sync()
        self._meter.begin("layerwise")
        return model

    def stop(self) -> Dict[str, float]:
        self._sync()
        regions = self._meter.end()
        for h in self._handles:
            h.remove()
        self._handles = []
        r = regions[-1]
        if self.gpu:
            total = r.energy_j[self.gpu]
        else:
            total = sum(r.energy_j[d] for d in self.cpu) if self.cpu else math.nan
        self.energy_j = total
        self.results = apportion(total, {k: (v[0], v[1]) for k, v in self.times.items()})
        with open(self.out_file, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(self.columns)
            for name, e in self.results.items():
                t, calls = self.times[name]
                w.writerow([name, "" if math.isnan(e) else e, calls, t])
        return self.results
