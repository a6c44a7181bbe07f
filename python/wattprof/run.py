"""run.py - runs: a stretch of a Python program measured and stored in the
run database, as `wattprof monitor` stores a command (docs/STORAGE.md), and
the stored runs read back.

    with wattprof.Run(name="mnist", algorithm="MLP") as run:
        train()
    run.id, run.report["total_energy_j"], run.report["carbon"]["co2e_g"]

    for r in wattprof.Store().runs():      # the CLI's database, as configured
        print(r.id, r.name, r.report["total_energy_j"])

A report is libwattprof's own (struct wp_report, held through
wp_report_new): the binding never repeats its layout, and reads it as the
JSON report (docs/REPORT.md).
"""
import ctypes
import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from . import _lib, config
from ._lib import WattprofError, c_str, check, lib, libc
from .meter import Closing, Meter, _pool, series_rows

__all__ = ["Report", "Store", "StoredRun", "Run", "carbon_options"]


class Report(Closing):
    """A libwattprof report (struct wp_report) owned by Python."""

    def __init__(self):
        self._p = lib.wp_report_new()
        if not self._p:
            raise MemoryError("wp_report_new")

    @property
    def ptr(self):
        if not self._p:
            raise ValueError("this Report is closed")
        return self._p

    def _head(self):
        return _lib.ReportHead.from_address(self.ptr)

    @property
    def start_unix_ns(self) -> int:
        return self._head().start_unix_ns

    @start_unix_ns.setter
    def start_unix_ns(self, ns: int) -> None:
        self._head().start_unix_ns = int(ns)

    def set_host(self, name: str) -> None:
        """The machine's name in the report (the library's copy: it frees it)."""
        head = self._head()
        if head.host:
            libc.free(head.host)
        head.host = libc.strdup(name.encode())

    def measure(self, meter: Meter, start, end) -> None:
        """Domains, total, duration and the meter's regions between two of
        its snapshots."""
        check(lib.wp_report_measure(self.ptr, meter._live(), start, end), "cannot build the report")

    def set_command(self, argv: Sequence[str]) -> None:
        arr = (ctypes.c_char_p * (len(argv) + 1))(*[str(a).encode() for a in argv], None)
        check(lib.wp_report_set_command(self.ptr, arr), "cannot set the command")

    def warn(self, text: str) -> None:
        check(lib.wp_report_warn(self.ptr, b"%s", text.encode()), "cannot add a warning")

    def set_carbon(self, settings: Dict[str, config.Setting]) -> None:
        carbon_options(settings, self)

    def to_dict(self) -> dict:
        """The JSON report (docs/REPORT.md) as Python objects."""
        return json.loads(self.render("json"))

    def render(self, fmt: str = "text") -> str:
        """The report in a format: text, json, yaml, csv or html."""
        buf, size = ctypes.c_void_p(), ctypes.c_size_t()
        f = libc.open_memstream(ctypes.byref(buf), ctypes.byref(size))
        if not f:
            raise MemoryError("open_memstream")
        try:
            rc = lib.wp_report_write(self.ptr, _format(fmt), f)
        finally:
            libc.fclose(f)
            data = ctypes.string_at(buf, size.value) if buf.value else b""
            libc.free(buf)
        check(rc, "cannot write the report")
        return data.decode("utf-8", "replace")

    def close(self) -> None:
        if self._p:
            lib.wp_report_delete(self._p)
            self._p = None


def _format(fmt: str) -> int:
    try:
        return _lib.FORMATS[fmt.lower()]
    except KeyError:
        raise ValueError(f"no report format '{fmt}': text, json, yaml, csv or html") from None


def carbon_options(settings: Dict[str, config.Setting], report: Report) -> None:
    """Sets a report's carbon and cost factors from the settings (pue,
    country, emissions_factor, price_factor, price_unit): ValueError naming
    where a value the library refuses came from."""
    def num(key):
        s = settings[key]
        try:
            return float(s.value)
        except (TypeError, ValueError):
            raise ValueError(f"'{key}' ({s.origin}) is '{s.value}', not a number") from None

    o = _lib.CarbonOptions(version=_lib.CARBON_OPTIONS_VERSION, pue=num("pue"))
    country = settings["country"].value
    if country and country.upper() != "WORLD":
        o.country = country.encode()
    if settings["emissions_factor"].value is not None:
        o.flags |= _lib.CARBON_EMISSIONS_FACTOR
        o.emissions_factor = num("emissions_factor")
        o.emissions_factor_source = f"given ({settings['emissions_factor'].origin})".encode()
    if settings["price_factor"].value is not None:
        if not settings["price_unit"].value:
            raise ValueError(f"a price factor is set ({settings['price_factor'].origin}) but "
                             "no price unit: set price_unit (EUR, USD ...)")
        o.flags |= _lib.CARBON_PRICE
        o.price_factor = num("price_factor")
        o.price_unit = settings["price_unit"].value.encode()
    rc = lib.wp_report_set_carbon(report.ptr, ctypes.byref(o))
    if rc == -2:  # -ENOENT
        raise ValueError(f"'country' ({settings['country'].origin}) is '{country}', which the "
                         "carbon-intensity table does not hold: 'wattprof showconf --countries' "
                         "lists the codes")
    if rc < 0:
        given = ", ".join(f"{k} = {settings[k].value} ({settings[k].origin})"
                          for k in ("pue", "emissions_factor", "price_factor", "price_unit")
                          if settings[k].value is not None)
        raise ValueError(f"the carbon and cost factors are refused ({given}): a PUE is 1 to 10, "
                         "factors are numbers of at least 0 (docs/CONFIG.md)")


@dataclass
class StoredRun:
    """A run of the run database, as `wattprof report` shows it: its
    description, energy by kind (J; NaN where none) and the JSON report."""
    id: int
    uuid: str
    status: str           # finished, running, unfinished
    name: str
    package: str
    algorithm: str
    algorithm_params: str
    data_type: str
    data_shape: str
    comment: str
    user: str
    platform: str
    wattprof_version: str
    tags: Dict[str, str]
    cpu_j: float
    dram_j: float
    gpu_j: float
    other_j: float
    report: dict = field(repr=False)
    rendered: Dict[str, str] = field(default_factory=dict, repr=False)  # load(render=...)

    @property
    def start_time(self) -> str:
        return self.report.get("start_time")

    @property
    def total_energy_j(self) -> Optional[float]:
        return self.report.get("total_energy_j")


class Store(Closing):
    """The run database: a file (SQLite) or a postgresql:// URL; by default
    the one configured (WATTPROF_DATABASE, [storage] database, else
    wattprof_results/wattprof.db), as the CLI finds it."""

    def __init__(self, where: Optional[str] = None, create: bool = True,
                 readonly: bool = False, config_file: Optional[str] = None):
        self.where = where or config.load(config_file)["database"].value
        self._s = ctypes.c_void_p()
        flags = (_lib.STORE_CREATE if create and not readonly else 0) | \
                (_lib.STORE_READONLY if readonly else 0)
        rc = lib.wp_store_open(ctypes.byref(self._s), self.where.encode(), flags)
        if rc < 0:
            msg = self.errmsg() if self._s else ""
            lib.wp_store_close(self._s)
            self._s = ctypes.c_void_p()
            if rc == -2 and not create:
                raise FileNotFoundError(f"no run database at '{self.where}'")
            raise WattprofError(rc, msg or f"cannot open the run database '{self.where}'")

    def errmsg(self) -> str:
        m = lib.wp_store_errmsg(self._s)
        return m.decode() if m else ""

    def _live(self):
        if not self._s:
            raise ValueError("this Store is closed")
        return self._s

    def _check(self, rc, what):
        if rc < 0:
            raise WattprofError(rc, f"{what}: {self.errmsg()}" if self.errmsg() else what)
        return rc

    def ids(self) -> List[int]:
        """The stored runs' ids, oldest first."""
        ids = ctypes.POINTER(ctypes.c_int64)()
        n = ctypes.c_size_t()
        self._check(lib.wp_store_list(self._live(), ctypes.byref(ids), ctypes.byref(n)),
                    "cannot list the runs")
        try:
            return [ids[i] for i in range(n.value)]
        finally:
            libc.free(ctypes.cast(ids, ctypes.c_void_p))

    def load(self, run_id: int, render: Sequence[str] = ()) -> StoredRun:
        """One run; render: report formats wanted too (text, yaml ...), in
        .rendered."""
        for f in render:
            _format(f)
        p = ctypes.c_void_p()
        rc = lib.wp_store_load(self._live(), run_id, 0, ctypes.byref(p))
        if rc == -2:
            raise KeyError(f"no run {run_id} in '{self.where}'")
        self._check(rc, f"cannot load run {run_id}")
        try:
            h = _lib.RunHead.from_address(p.value)

            def s(b):
                return b.decode("utf-8", "replace") if b else ""
            tags = {}
            for i in range(h.tag_count):
                k, _, v = s(h.tags[i]).partition("=")
                tags[k] = v
            rep = Report.__new__(Report)
            rep._p = p.value + ctypes.sizeof(_lib.RunHead)
            try:
                doc = rep.to_dict()
                rendered = {f: rep.render(f) for f in render}
            finally:
                rep._p = None  # the run's, freed with it
            return StoredRun(
                id=h.id, uuid=s(h.uuid), status=s(h.status), name=s(h.name), package=s(h.package),
                algorithm=s(h.algorithm), algorithm_params=s(h.algorithm_params),
                data_type=s(h.data_type), data_shape=s(h.data_shape), comment=s(h.comment),
                user=s(h.user), platform=s(h.platform), wattprof_version=s(h.wattprof_version),
                tags=tags, cpu_j=h.cpu_j, dram_j=h.dram_j, gpu_j=h.gpu_j, other_j=h.other_j,
                report=doc, rendered=rendered)
        finally:
            lib.wp_run_free(p)

    def runs(self) -> List[StoredRun]:
        """Every stored run, oldest first."""
        return [self.load(i) for i in self.ids()]

    def remove(self, run_id: int) -> None:
        rc = lib.wp_store_remove(self._live(), run_id)
        if rc == -2:
            raise KeyError(f"no run {run_id} in '{self.where}'")
        self._check(rc, f"cannot remove run {run_id}")

    # ----------------------------------------------------- storing a run

    def begin(self, info: Dict[str, Optional[str]], report: Report, meter: Meter,
              series=None, tags: Optional[Dict[str, str]] = None) -> int:
        """Starts storing a run (wp_store_begin): its description (name,
        package, algorithm, algorithm_params, data_type, data_shape,
        comment, user), the report's start and carbon factors, the meter's
        domains.  Returns its id."""
        known = {"name", "package", "algorithm", "algorithm_params", "data_type", "data_shape",
                 "comment", "user"}
        bad = set(info) - known
        if bad:
            raise TypeError(f"no run field {sorted(bad)[0]!r}: {', '.join(sorted(known))}")
        _check_data_type(config.Setting(info.get("data_type"), "data_type="))
        ri = _lib.RunInfo(version=_lib.RUN_INFO_VERSION,
                          **{k: c_str(v) for k, v in info.items() if v is not None})
        tag_list = [f"{k}={v}".encode() for k, v in (tags or {}).items()]
        if tag_list:
            ri.tags = (ctypes.c_char_p * len(tag_list))(*tag_list)
            ri.tag_count = len(tag_list)
        rid = ctypes.c_int64()
        self._check(lib.wp_store_begin(self._live(), ctypes.byref(ri), report.ptr, meter._live(),
                                       series, ctypes.byref(rid)),
                    f"cannot store a run in '{self.where}'")
        return rid.value

    def sync(self) -> None:
        self._check(lib.wp_store_sync(self._live()), "cannot store the run's samples")

    def finish(self, report: Report) -> None:
        self._check(lib.wp_store_finish(self._live(), report.ptr),
                    f"cannot store the end of the run in '{self.where}'")

    def close(self) -> None:
        if self._s:
            lib.wp_store_close(self._s)
            self._s = ctypes.c_void_p()


def _check_data_type(s: config.Setting) -> None:
    if s.value is not None and lib.wp_data_type_check(s.value.encode()) < 0:
        raise ValueError(f"data_type '{s.value}' ({s.origin}) is none of: tabular, image, "
                         "text, time series, other")


_RUN_FIELDS = ("name", "package", "algorithm", "algorithm_params", "data_type", "data_shape",
               "comment")


class Run:
    """Measures a stretch of the program (the whole process's machine, as
    `wattprof monitor` does for a command) and stores it as one run.

    name, package, algorithm, algorithm_params, data_type, data_shape,
    comment, user: the run's description (by default from [run] in the
    configuration); tags: {"KEY": "VALUE"}.
    domains: the domains measured (default: all).
    database: where to store it (default: configured); store=False keeps
    it in memory only.  pue, country, emissions_factor, price_factor,
    price_unit: the carbon and cost factors (default: configured).
    series: a background sampler at freq_hz (default: [monitor]
    frequency) whose samples are stored as they come.
    attribute: the energy this process and its children are responsible
    for (docs/ATTRIBUTION.md); implies series.

    formats: the report renderings wanted after the run (text, json,
    yaml, csv, html), in .rendered.

    keep_samples: the series' rows in .samples after the run.

    After the block: .id (None when not stored), .report (the JSON
    report as a dict), .rendered[fmt], .error (why it was not stored,
    else None).  The run
    is stored as it starts, its samples every second, and its end even
    when the block raises (the exception goes on).
    """

    def __init__(self, name: Optional[str] = None, *, domains: Optional[Sequence[str]] = None,
                 database: Optional[str] = None, store: Optional[bool] = None,
                 series: bool = False, attribute: bool = False, freq_hz: Optional[float] = None,
                 tags: Optional[Dict[str, str]] = None, user: Optional[str] = None,
                 config_file: Optional[str] = None, meter_args: Optional[dict] = None,
                 formats: Sequence[str] = ("text",), keep_samples: bool = False,
                 **fields):
        carbon_keys = ("pue", "country", "emissions_factor", "price_factor", "price_unit")
        bad = set(fields) - set(_RUN_FIELDS) - set(carbon_keys)
        if bad:
            raise TypeError(f"Run() got an unexpected argument {sorted(bad)[0]!r}")
        self.settings = config.load(config_file, name=name, database=database,
                                    store=None if store is None else ("yes" if store else "no"),
                                    frequency=freq_hz, **fields)
        self.info = {k: self.settings[k].value for k in _RUN_FIELDS}
        _check_data_type(self.settings["data_type"])
        self.info["user"] = user
        self.tags = tags
        self.domains = domains
        self.series_on = series or attribute
        self.attribute = attribute
        self.meter_args = meter_args or {}
        self.store_on = config.truth(self.settings["store"], "store")
        for f in formats:
            _format(f)
        self.formats = tuple(formats)
        self.keep_samples = keep_samples
        self.samples: List[dict] = []
        self.rendered: Dict[str, str] = {}
        self.id: Optional[int] = None
        self.report: Optional[dict] = None
        self.error: Optional[str] = None
        self._reset()

    def _reset(self):
        self.meter = None
        self._a = self._b = None
        self._series = ctypes.c_void_p()
        self._attrib = ctypes.c_void_p()
        self._store: Optional[Store] = None
        self._report: Optional[Report] = None
        self._sync_stop = None
        self._sync_thread = None

    def start(self) -> "Run":
        if self.meter is not None:
            raise ValueError("this Run is running already")
        try:
            self._start()
        except BaseException:
            self._cleanup()
            raise
        return self

    def _start(self):
        self._report = Report()
        self._report.set_carbon(self.settings)  # refused factors fail before anything runs
        self.meter = _pool.acquire(self.domains, self.meter_args)
        m = self.meter._live()
        self._a = lib.wp_snapshot_new(m)
        self._b = lib.wp_snapshot_new(m)
        if not self._a or not self._b:
            raise MemoryError("wp_snapshot_new")
        check(lib.wp_meter_snapshot(m, self._a), "cannot read the domains")
        if self.attribute:
            ao = _lib.AttribOptions(version=_lib.ATTRIB_OPTIONS_VERSION, root_pid=os.getpid())
            check(lib.wp_attrib_open(ctypes.byref(self._attrib), m, self._a, ctypes.byref(ao)),
                  "cannot attribute energy to this process (attribution reads /proc)")
        if self.series_on:
            so = _lib.SeriesOptions(
                version=_lib.SERIES_OPTIONS_VERSION,
                flags=_lib.SERIES_STORE | _lib.SERIES_NODE | _lib.SERIES_DEVICES,
                flush_s=0.5 if self.store_on else 0, attrib=self._attrib or None)
            check(lib.wp_series_open(ctypes.byref(self._series), m, self._a, ctypes.byref(so)),
                  "cannot open the time series (set TMPDIR to a writable folder)")
        self._report.set_command(sys.argv if sys.argv and sys.argv[0] else ["python"])
        self._report.start_unix_ns = time.time_ns()
        self._report.set_host(socket.gethostname())
        if self.store_on:
            try:
                self._store = Store(self.settings["database"].value)
                self.id = self._store.begin(self.info, self._report, self.meter,
                                            self._series or None, self.tags)
            except (OSError, ValueError) as e:
                self.error = f"this run is not stored: {e}"
                if self._store:
                    self._store.close()
                self._store = None
                if isinstance(e, ValueError):
                    raise
        if self.series_on:
            freq = float(self.settings["frequency"].value)
            sa = _lib.SamplerOptions(version=_lib.SAMPLER_OPTIONS_VERSION, freq_hz=freq,
                                     flags=_lib.SAMPLE_METRICS, series=self._series)
            check(lib.wp_meter_start_sampler(m, ctypes.byref(sa)), "cannot start the sampler")
            if self._store:
                self._sync_stop = threading.Event()
                self._sync_thread = threading.Thread(target=self._syncer, daemon=True,
                                                     name="wattprof-run-sync")
                self._sync_thread.start()

    # Regions inside the run: in its report and stored with it.
    def begin(self, tag: str = "") -> None:
        """Starts a region of the run (one at a time)."""
        check(lib.wp_meter_begin(self._running(), c_str(tag)), "cannot begin a region")

    def record(self, tag: str = "") -> None:
        """Ends the open region and starts the next, tagged `tag`."""
        check(lib.wp_meter_record(self._running(), c_str(tag)), "cannot record a breakpoint")

    def end(self) -> None:
        check(lib.wp_meter_end(self._running()), "cannot end a region")

    def _running(self):
        if self.meter is None:
            raise ValueError("this Run is not running")
        return self.meter._live()

    @property
    def text(self) -> str:
        """The text report (rendered when "text" is in formats)."""
        return self.rendered.get("text", "")

    def _syncer(self):
        while not self._sync_stop.wait(1.0):
            try:
                self._store.sync()
            except OSError as e:
                self.error = f"the run's samples stopped being stored: {e}"
                return

    def stop(self) -> dict:
        """Ends the run: stores its end, and returns the JSON report."""
        if self.meter is None:
            raise ValueError("this Run is not running")
        try:
            m = self.meter._live()
            if self._sync_thread:
                self._sync_stop.set()
                self._sync_thread.join()
            if self.series_on:
                lib.wp_meter_stop_sampler(m)
            check(lib.wp_meter_snapshot(m, self._b), "cannot read the domains")
            if self._series:
                lib.wp_series_add(self._series, self._b)
            r = self._report
            r.measure(self.meter, self._a, self._b)
            if self._series:
                check(lib.wp_report_set_series(r.ptr, self._series), "cannot attach the series")
            if self._attrib:
                lib.wp_attrib_add(self._attrib, self._b)
                check(lib.wp_report_set_attribution(r.ptr, self._attrib),
                      "cannot attribute the energy")
                r.warn("attributed without an idle baseline: the process's share of busy CPU "
                       "time was applied to all the energy, idle power included "
                       "(docs/ATTRIBUTION.md)")
            if self._store:
                try:
                    self._store.finish(r)
                except OSError as e:
                    self.error = (f"the end of run {self.id} is not stored ({e}): it stays, "
                                  "unfinished, with the samples stored until then")
            self.report = r.to_dict()
            # Rendered while the series the report points to is open.
            self.rendered = {f: r.render(f) for f in self.formats}
            if self.keep_samples and self._series:
                self.samples = [{"t_s": t, **v} for t, v in series_rows(self._series)]
            return self.report
        finally:
            self._cleanup()

    def _cleanup(self):
        if self._sync_thread and self._sync_thread.is_alive():
            self._sync_stop.set()
            self._sync_thread.join()
        if self.meter is not None and self.series_on:
            lib.wp_meter_stop_sampler(self.meter._live())
        if self._store:
            self._store.close()
        if self._series:
            lib.wp_series_close(self._series)
        if self._attrib:
            lib.wp_attrib_close(self._attrib)
        for s in (self._a, self._b):
            if s:
                lib.wp_snapshot_free(s)
        if self._report:
            self._report.close()
        if self.meter is not None:
            lib.wp_meter_clear_regions(self.meter._live())
            _pool.release(self.meter, self.domains, self.meter_args)
        self._reset()

    def __enter__(self) -> "Run":
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
