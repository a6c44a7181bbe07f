"""AIPowerMeter's drivers: JsonParser(folder) keeps an experiment's
recordings in a folder, as files a person can read:

  power_metrics.json  one JSON object per line and recording:
                      {"date_time": ISO 8601, "interval_s": s, "metrics": {...}}
  reports.json        one JSON object per line and recording session: the
                      wattprof JSON report (docs/REPORT.md), with its
                      "processes", and the model's description
"""
import datetime
import json
import math
import os
from typing import List, Tuple

__all__ = ["JsonParser"]

METRICS = "power_metrics.json"
REPORTS = "reports.json"


def _clean(v):
    """NaN as null (JSON has no NaN)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    return v


class JsonParser:
    def __init__(self, folder: str):
        self.folder = folder

    def erase(self) -> None:
        """Starts the folder afresh (the recordings of a new experiment)."""
        for name in (METRICS, REPORTS):
            path = os.path.join(self.folder, name)
            if os.path.exists(path):
                os.remove(path)

    def save(self, report: dict, rows: List[dict], start: datetime.datetime,
             model_info: dict) -> None:
        from .experiment import metrics_of
        os.makedirs(self.folder, exist_ok=True)
        kinds = {d["name"]: d.get("kind") for d in report.get("domains", [])}
        prev_t = rows[0]["t_s"] if rows else 0.0
        with open(os.path.join(self.folder, METRICS), "a") as f:
            for m in metrics_of(rows, kinds):
                t = m.pop("t_s")
                when = start + datetime.timedelta(seconds=t)
                f.write(json.dumps({"date_time": when.isoformat(), "interval_s": t - prev_t,
                                    "metrics": _clean(m)}) + "\n")
                prev_t = t
        with open(os.path.join(self.folder, REPORTS), "a") as f:
            f.write(json.dumps(dict(report, model=model_info)) + "\n")

    def load(self) -> Tuple[List[dict], List[dict]]:
        """(recordings, reports), oldest first; empty when none."""
        def lines(name):
            path = os.path.join(self.folder, name)
            if not os.path.exists(path):
                return []
            out = []
            with open(path) as f:
                for k, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            out.append(json.loads(line))
                        except ValueError as e:
                            raise ValueError(f"'{path}' line {k} is not JSON ({e}): the "
                                             "recording was cut short or edited") from e
            return out
        return lines(METRICS), lines(REPORTS)
