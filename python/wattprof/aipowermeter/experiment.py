"""AIPowerMeter's experiment module over wattprof
(deep_learning_power_measure.power_measure.experiment):

    from wattprof.aipowermeter import experiment, parsers
    driver = parsers.JsonParser("my_experiment")
    exp = experiment.Experiment(driver)
    p, q = exp.measure_yourself(period=2)
    train()
    q.put(experiment.STOP_MESSAGE)
    p.join()
    res = experiment.ExpResults(driver)
    res.print(); res.total_("rel_intel_power"); res.processes

The recording is libwattprof's: its sampler thread reads the energy
counters and attributes them to this process and its children
(docs/ATTRIBUTION.md: CPU time, PSS/USS/RSS, the GPU's per-process SM
samples); a Python thread only waits for the stop message and writes the
results.  Metrics (W unless named otherwise), one value per recording:

  intel_power                RAPL domains in the total (packages, DRAM)
  rel_intel_power            their part attributed to the process tree
  psys_power                 the platform domain, where the machine has one
  nvidia_draw_absolute       every NVIDIA GPU
  nvidia_attributable_power  their part attributed to the process tree
  cpu_uses                   the tree's CPU time, % of the machine's
  mem_use_abs, mem_use_pss, mem_use_uss   the tree's RSS, PSS, USS (B)
  per_gpu_power_draw         {gpu: W}; per_gpu_attributable_power {gpu: W}
  per_gpu_absolute_percent_usage          {gpu: device SM utilisation %}
"""
import datetime
import json
import math
import os
import queue
import threading
from typing import Dict, List, Optional

from ..run import Run
from .parsers import JsonParser

__all__ = ["Experiment", "ExpResults", "STOP_MESSAGE"]

STOP_MESSAGE = "Stop"


def _model_info(model, input_size) -> dict:
    info = {}
    if input_size is not None:
        info["input_size"] = list(input_size) if not isinstance(input_size, str) else input_size
    if model is not None and hasattr(model, "parameters"):
        try:
            info["nb_parameters"] = int(sum(p.numel() for p in model.parameters()))
        except Exception:  # not a PyTorch model after all: name it only
            pass
        info["model"] = type(model).__name__
    return info


class Experiment:
    """driver: where the recordings go (parsers.JsonParser(folder)).
    model, input_size: described in the results (a PyTorch model's
    parameter count).  cont: add to the recordings already in the folder
    (False: start it afresh)."""

    def __init__(self, driver: JsonParser, model=None, input_size=None, cont: bool = False):
        self.driver = driver
        self.model_info = _model_info(model, input_size)
        self.cont = cont

    def measure_yourself(self, period: float = 2, measurement_period: Optional[float] = None,
                         **run_options):
        """Starts recording this process and its children every `period`
        seconds; returns (thread, queue): put STOP_MESSAGE in the queue to
        stop, join the thread to wait for the results to be written."""
        if not period or period <= 0:
            raise ValueError(f"period {period!r}: give seconds above 0")
        if not self.cont:
            self.driver.erase()
        run = Run(name=run_options.pop("name", "aipowermeter"), attribute=True,
                  freq_hz=1.0 / period, formats=(), keep_samples=True,
                  store=run_options.pop("store", False), **run_options)
        run.start()
        start = datetime.datetime.now(datetime.timezone.utc)
        q: "queue.Queue" = queue.Queue()
        thread = threading.Thread(target=self._wait, args=(run, q, start),
                                  name="wattprof-aipowermeter")
        thread.start()
        return thread, q

    def _wait(self, run: Run, q: "queue.Queue", start):
        while q.get() != STOP_MESSAGE:
            pass
        run.stop()
        self.driver.save(run.report, run.samples, start, self.model_info)


def metrics_of(rows: List[dict], kinds: Dict[str, str]) -> List[dict]:
    """Per recording (each row after the first): the metrics above, from the
    series' cumulative energies (power = energy over the interval / its
    length, so that the curve integrates to the report's energy)."""
    rapl = [d for d, k in kinds.items() if k in ("package", "dram")]
    psys = [d for d, k in kinds.items() if k == "psys"]
    gpus = [d for d, k in kinds.items() if k == "gpu" and d.startswith("nvidia_gpu_")]
    out = []
    for prev, cur in zip(rows, rows[1:]):
        dt = cur["t_s"] - prev["t_s"]
        if dt <= 0:
            continue

        def power(d, col="energy_j"):
            a, b = prev.get(f"{d}.{col}"), cur.get(f"{d}.{col}")
            return (b - a) / dt if a is not None and b is not None else math.nan

        def total(ds, col="energy_j"):
            return sum(power(d, col) for d in ds) if ds else math.nan

        m = {"t_s": cur["t_s"],
             "intel_power": total(rapl), "rel_intel_power": total(rapl, "attributed_energy_j"),
             "psys_power": total(psys),
             "nvidia_draw_absolute": total(gpus),
             "nvidia_attributable_power": total(gpus, "attributed_energy_j"),
             "cpu_uses": cur.get("processes.cpu_util_pct", math.nan),
             "mem_use_abs": cur.get("processes.rss_b", math.nan),
             "mem_use_pss": cur.get("processes.pss_b", math.nan),
             "mem_use_uss": cur.get("processes.uss_b", math.nan),
             "per_gpu_power_draw": {d: power(d) for d in gpus},
             "per_gpu_attributable_power": {d: power(d, "attributed_energy_j") for d in gpus},
             "per_gpu_absolute_percent_usage": {d: cur.get(f"{d}.util_pct", math.nan)
                                                for d in gpus}}
        out.append(m)
    return out


class ExpResults:
    """The results of an experiment folder: the recorded metrics, their
    totals, and the per-process figures of the attribution."""

    def __init__(self, driver: JsonParser):
        self.driver = driver
        self.recordings, self.reports = driver.load()
        if not self.reports:
            raise FileNotFoundError(f"no recording in '{driver.folder}': run "
                                    "Experiment(driver).measure_yourself() first")

    def list_metrics(self) -> List[str]:
        keys = []
        for r in self.recordings:
            for k in r["metrics"]:
                if k not in keys:
                    keys.append(k)
        return keys

    def get_curve(self, name: str) -> List[dict]:
        """[{"date": datetime, "value": v}, ...] of one metric."""
        return [{"date": datetime.datetime.fromisoformat(r["date_time"]),
                 "value": r["metrics"].get(name)} for r in self.recordings
                if name in r["metrics"]]

    def get_exp_duration(self) -> float:
        """Seconds recorded, over every recording session of the folder."""
        return sum(r.get("duration_s") or 0 for r in self.reports)

    def total_(self, name: str) -> float:
        """A power metric integrated over the recordings (J); for the others
        (utilisation, memory), NaN: use average_."""
        if not name.endswith("power") and name not in ("nvidia_draw_absolute",):
            return math.nan
        total, found = 0.0, False
        for r in self.recordings:
            v = r["metrics"].get(name)
            if isinstance(v, (int, float)) and v is not None and math.isfinite(v):
                total += v * r["interval_s"]
                found = True
        return total if found else math.nan

    def average_(self, name: str) -> float:
        vals = [r["metrics"].get(name) for r in self.recordings]
        vals = [v for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
        return sum(vals) / len(vals) if vals else math.nan

    def max_(self, name: str) -> float:
        vals = [r["metrics"].get(name) for r in self.recordings]
        vals = [v for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
        return max(vals) if vals else math.nan

    @property
    def processes(self) -> List[dict]:
        """Every process recorded (pid, ppid, command, cpu_time_s,
        peak_rss_b/pss_b/uss_b, peak_gpu_mem_b, attributed_energy_j), from
        the attribution."""
        return [p for rep in self.reports for p in (rep.get("processes") or [])]

    def totals(self) -> Dict[str, float]:
        """Each metric's total: energy (J) for the power metrics, mean for
        the others, and the processes' attributed energy."""
        out = {}
        for name in self.list_metrics():
            if name.startswith("per_gpu"):
                continue
            t = self.total_(name)
            out[name] = t if not math.isnan(t) else self.average_(name)
        out["duration_s"] = self.get_exp_duration()
        return out

    def print(self) -> None:
        print(f"experiment '{self.driver.folder}': {self.get_exp_duration():.1f} s recorded")
        for name, v in self.totals().items():
            unit = "J" if name.endswith("power") or name == "nvidia_draw_absolute" else \
                ("B (mean)" if name.startswith("mem_use") else
                 ("% (mean)" if name == "cpu_uses" else "s"))
            print(f"  {name:28s} {v:.6g} {unit}")
        for p in self.processes:
            e = p.get("attributed_energy_j")
            print(f"  pid {p['pid']:>7}  {e if e is not None else math.nan:10.4g} J  "
                  f"{p['command']}")
