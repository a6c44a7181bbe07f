"""pyJoules's energy_handler: what happens to a measurement's trace.
PrintHandler prints it, CsvHandler writes it (the columns and ';' separator
of pyJoules: timestamp;tag;duration;<domain>...), PandasHandler gathers it
into a DataFrame, DatabaseHandler stores it in wattprof's run database
(where pyJoules's MongoHandler stored it in MongoDB).  EnergyHandler is the
base class to write one's own."""
import os
from typing import List, Optional


class EnergyHandler:
    """Gathers the traces it is handed; subclasses decide what to do.
    A handler whose needs_report is true gets traces that carry the
    measurement as a wattprof report (trace.report)."""

    needs_report = False

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


class DatabaseHandler(EnergyHandler):
    """Stores each trace handed to it as one run of wattprof's run database
    at save_data(): its samples are the run's regions (tag, duration,
    energy per domain), so `wattprof runs` lists it and `wattprof report`
    shows it, with the carbon factors configured.  database: a file or a
    postgresql:// URL (default: the configured one, as the CLI finds it);
    name: the runs' name (default: the first sample's tag)."""

    needs_report = True

    def __init__(self, database: Optional[str] = None, name: Optional[str] = None):
        super().__init__()
        self.database = database
        self.name = name
        self.run_ids: List[int] = []

    def process(self, trace) -> None:
        if trace.report is None:
            raise ValueError("this trace carries no report: measure it with "
                             "EnergyMeter(keep_report=True), or through measureit or "
                             "EnergyContext, which ask for one for this handler")
        super().process(trace)

    def save_data(self) -> List[int]:
        """Stores the traces handed to it since the last save; returns the
        new runs' ids.  A trace that cannot be stored stays for the next
        save (the error says why)."""
        from ..run import Store, carbon_options
        from .. import config
        settings = config.load(database=self.database)
        done = []
        with Store(settings["database"].value) as store:
            try:
                for trace in self.traces:
                    carbon_options(settings, trace.report)
                    tag = next(iter(trace), None)
                    info = {"name": self.name or (tag.tag if tag else None)}
                    rid = store.begin(info, trace.report, trace.meter, tags={"tool": "pyjoules"})
                    store.finish(trace.report)
                    self.run_ids.append(rid)
                    done.append(rid)
            finally:
                self.traces = self.traces[len(done):]
        return done

    save = save_data
