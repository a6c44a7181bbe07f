"""PyPowerGadget's API over wattprof: PowerMeter(project_name, user_name)
wraps a function; each call is measured and logged, with its description and
CO2 figures, as a run of wattprof's run database (the log), and
get_logged_data() reads the log back as PyPowerGadget's table.

    from wattprof.powergadget import PowerMeter
    power_meter = PowerMeter(project_name="MNIST classifier")
    result = power_meter.mesure_power(train, package="sklearn",
                                      algorithm="RandomForestClassifier",
                                      data_type="tabular", data_shape=X.shape)(X, y)
    logged = wattprof.powergadget.get_logged_data()

Differences from PyPowerGadget (docs/python.md): no Intel Power Gadget and
no root needed where the kernel lets users read RAPL; the country is the
configured one ([report] country, WATTPROF_COUNTRY), never looked up on the
network; energies not measured on this machine are NaN, not 0.
"""
import datetime
import functools
import math
from typing import Callable, List, Optional

from .. import _lib
from ..run import Run, Store

__all__ = ["PowerMeter", "get_logged_data", "COLUMNS"]

COLUMNS = ["Datetime", "User ID", "ISO", "Country", "Platform", "Project name",
           "Total Elapsed CPU Time (sec)", "Total Elapsed GPU Time (sec)",
           "Cumulative Package Energy (mWh)", "Cumulative IA Energy (mWh)",
           "Cumulative GPU Energy (mWh)", "Cumulative DRAM Energy (mWh)", "PUE",
           "CO2 emitted (gCO2e)", "Package", "Algorithm", "Algorithm's parameters", "Data type",
           "Data shape", "Comment"]

J_PER_MWH = 3.6  # 1 mWh = 3.6 J


class PowerMeter:
    """project_name, user_name: logged with every run (user_name: the login
    name when empty).  cpu_power_log_path: the path of Intel's PowerLog,
    accepted and unused (wattprof reads the counters itself).
    get_country: use the configured country's carbon intensity (True), or
    the world average (False).  database: the run database (default: the
    configured one, as `wattprof runs` reads it)."""

    def __init__(self, project_name: str = "", user_name: str = "", cpu_power_log_path: str = "",
                 get_country: bool = True, *, database: Optional[str] = None, **run_options):
        self.project_name = project_name
        self.user_name = user_name
        self.cpu_power_log_path = cpu_power_log_path
        self.get_country = get_country
        self.database = database
        self.run_options = run_options
        self.last_run: Optional[Run] = None

    def mesure_power(self, func: Callable, package: str, algorithm: str,
                     data_type: str = "tabular", data_shape="", algorithm_params: str = "",
                     comments: str = "") -> Callable:
        """Returns func wrapped: each call runs it, logs its energy and CO2
        with this description, and returns its result.  data_shape: a str or
        a tuple (logged as "(7000, 64)")."""
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            options = dict(self.run_options)
            if not self.get_country:
                options["country"] = "WORLD"
            run = Run(name=self.project_name or None, user=self.user_name or None,
                      database=self.database, package=package or None,
                      algorithm=algorithm or None, data_type=data_type or None,
                      data_shape=str(data_shape) if data_shape not in ("", None) else None,
                      algorithm_params=algorithm_params or None, comment=comments or None,
                      tags={"tool": "powergadget"}, **options)
            self.last_run = run
            with run:
                return func(*args, **kwargs)
        return wrapper

    measure_power = mesure_power  # spelled right

    def get_logged_data(self, project_name: Optional[str] = None):
        return get_logged_data(database=self.database, project_name=project_name)


def _mwh(report: dict, kinds) -> float:
    found = [d["energy_j"] for d in report.get("domains", [])
             if d.get("kind") in kinds and d.get("energy_j") is not None]
    return sum(found) / J_PER_MWH if found else math.nan


def _country(code: Optional[str]) -> str:
    if not code:
        return ""
    row = _lib.ctypes.POINTER(_lib.CarbonIntensity)()
    if _lib.lib.wp_carbon_intensity_find(code.encode(), _lib.ctypes.byref(row)) < 0:
        return ""
    return row.contents.name.decode()


def _row(r) -> dict:
    rep = r.report
    carbon = rep.get("carbon") or {}
    start = rep.get("start_time")
    when = (datetime.datetime.fromisoformat(start.replace("Z", "+00:00")).astimezone()
            .replace(tzinfo=None) if start else None)
    has_gpu = any(d.get("kind") == "gpu" for d in rep.get("domains", []))
    duration = rep.get("duration_s") or 0.0
    nan = math.nan
    return {
        "Datetime": when, "User ID": r.user, "ISO": carbon.get("country") or "",
        "Country": _country(carbon.get("country")), "Platform": r.platform,
        "Project name": r.name,
        "Total Elapsed CPU Time (sec)": duration,
        "Total Elapsed GPU Time (sec)": duration if has_gpu else 0.0,
        "Cumulative Package Energy (mWh)": _mwh(rep, ("package",)),
        "Cumulative IA Energy (mWh)": _mwh(rep, ("core",)),
        "Cumulative GPU Energy (mWh)": _mwh(rep, ("gpu",)),
        "Cumulative DRAM Energy (mWh)": _mwh(rep, ("dram",)),
        "PUE": carbon.get("pue", nan),
        "CO2 emitted (gCO2e)": carbon.get("co2e_g", nan) if carbon.get("co2e_g") is not None
        else nan,
        "Package": r.package, "Algorithm": r.algorithm,
        "Algorithm's parameters": r.algorithm_params, "Data type": r.data_type,
        "Data shape": r.data_shape, "Comment": r.comment,
    }


def get_logged_data(database: Optional[str] = None, project_name: Optional[str] = None):
    """The log: one row per stored run (of the project, when named), oldest
    first, with PyPowerGadget's columns; a pandas DataFrame when pandas is
    installed, else a list of dicts."""
    rows: List[dict] = []
    try:
        store = Store(database, create=False)
    except FileNotFoundError:
        store = None  # nothing logged yet: an empty log
    if store is not None:
        with store:
            rows = [_row(r) for r in store.runs()
                    if project_name is None or r.name == project_name]
    try:
        import pandas
    except ImportError:
        return rows
    return pandas.DataFrame(rows, columns=COLUMNS)
