"""pyJoules's energy_handler: what happens to a measurement's trace.
PrintHandler prints it, CsvHandler writes it (the columns and ';' separator
of pyJoules: timestamp;tag;duration;<domain>...), PandasHandler gathers it
into a DataFrame.  EnergyHandler is the base class to write one's own."""
import os
from typing import List


class EnergyHandler:
    """Gathers the traces it is handed; subclasses decide what to do."""

    def __init__(self):
        self.traces = []

    def process(self, trace) -> None:
        self.traces.append(trace)

    def _flatten(self):
        return [s for t in self.traces for s in t]


class PrintHandler(EnergyHandler):
    def process(self, trace) -> None:
        for s in trace:
            parts = [f"begin timestamp : {s.timestamp}", f"tag : {s.tag}",
                     f"duration : {s.duration}"]
            parts += [f"{d} : {e}" for d, e in s.energy.items()]
            print("; ".join(parts))


class CsvHandler(EnergyHandler):
    """Writes every sample handed to it to `filename` at save(): a header
    line when the file is new, then one line per sample (appended)."""

    def __init__(self, filename: str, separator: str = ";"):
        super().__init__()
        self.filename = filename
        self.separator = separator

    def _domains(self, samples) -> List[str]:
        names: List[str] = []
        for s in samples:
            for d in s.energy:
                if d not in names:
                    names.append(d)
        return names

    def save(self) -> None:
        samples = self._flatten()
        domains = self._domains(samples)
        new = not os.path.exists(self.filename)
        sep = self.separator
        with open(self.filename, "a") as f:
            if new:
                f.write(sep.join(["timestamp", "tag", "duration"] + domains) + "\n")
            for s in samples:
                row = [repr(s.timestamp), s.tag, repr(s.duration)]
                row += [repr(s.energy[d]) if d in s.energy else "" for d in domains]
                f.write(sep.join(row) + "\n")
        self.traces = []


class PandasHandler(EnergyHandler):
    """get_dataframe(): one row per sample, columns timestamp, tag, duration
    and each domain (pandas needed)."""

    def get_dataframe(self):
        try:
            import pandas
        except ImportError as e:
            raise ImportError("PandasHandler needs pandas: pip install pandas") from e
        rows = [dict(timestamp=s.timestamp, tag=s.tag, duration=s.duration, **s.energy)
                for s in self._flatten()]
        return pandas.DataFrame(rows)


DataFrameHandler = PandasHandler
