"""perun's decorators over wattprof.

    import wattprof.perun as perun

    @perun.monitor(data_out="results/", format="txt")
    def training_loop(...): ...        # each call: one run, and its report

    @perun.perun(data_out="results/")  # the same, perun 0.4's name
    def main(): ...

    @perun.monitor()                   # inside a measured call: a region
    def train_epoch(...): ...

A decorated function called while no perun measurement is running is
measured whole: one run of wattprof's run database (data_out/wattprof.db
when data_out is given, else the configured one), sampled at `frequency`
Hz, and its report written to data_out/<app_name>_<run id>.<ext> in
`format` (txt, yaml, json; wattprof adds csv and html).  Called while one
is running, it is a region of that run (monitor's region_name, else the
function's name), shown in the report with its energy.  A region called
inside another region is part of the outer one.

In a rank of an MPI job that libwattprof-mpi measures (`mpirun ...
wattprof exec python3 train.py`, or wattprof.mpi.attach()), the job is the
measurement, each node counted once as perun counts each host once: every
decorated call is a region across the ranks (docs/MPI.md), stored with the
job's run; no report file is written per rank.

perun's options are taken, first found wins, from the decorator's
arguments, PERUN_<OPTION> variables (PERUN_FORMAT=json), ./.perun.ini,
~/.config/perun.ini, then wattprof's own configuration.  Units are
perun's: emissions_factor in kgCO2e/kWh, price_factor in cents/kWh
(reported per kWh in price_unit, "EUR" unless given).
"""
import configparser
import functools
import os
import threading
from typing import Callable, Dict, Optional

from .. import mpi as _mpi
from .._lib import WattprofError
from ..run import Run

_ESTATE = -9004  # WP_ESTATE: a region of this rank is open already

__all__ = ["monitor", "perun", "last_run"]

_lock = threading.Lock()
_active: Optional["_Measured"] = None
_last: Optional[Run] = None

_FORMATS = {"txt": ("text", "txt"), "text": ("text", "txt"), "yaml": ("yaml", "yaml"),
            "yml": ("yaml", "yml"), "json": ("json", "json"), "csv": ("csv", "csv"),
            "html": ("html", "html")}
# perun option -> its .perun.ini section and key
_INI = {"format": ("report", "format"), "pue": ("report", "pue"),
        "emissions_factor": ("report", "emissions-factor"),
        "price_factor": ("report", "price-factor"), "price_unit": ("report", "price-unit"),
        "frequency": ("monitor", "frequency"), "data_out": ("monitor", "data_out"),
        "app_name": ("monitor", "app_name")}


def last_run() -> Optional[Run]:
    """The run of the last measured call (its .id, .report, .rendered)."""
    return _last


def _ini_values(path: str) -> Dict[str, tuple]:
    if not os.path.isfile(path):
        return {}
    p = configparser.ConfigParser(inline_comment_prefixes=("#", ";"), interpolation=None,
                                  strict=False)
    try:
        p.read(path)
    except configparser.Error as e:
        raise ValueError(f"cannot read perun's configuration '{path}': {e}") from e
    out = {}
    for opt, (sec, key) in _INI.items():
        for k in (key, key.replace("-", "_")):
            if p.has_option(sec, k):
                # "0.355, # kgCO2eq/kWh": perun's own example leaves a comma.
                out[opt] = (p.get(sec, k).strip().rstrip(",").strip(), f"{path} [{sec}] {k}")
    return out


def _options(given: dict, configuration: Optional[str] = None) -> Dict[str, tuple]:
    """option -> (value, where it came from), perun's order of priority."""
    out: Dict[str, tuple] = {}
    home = os.environ.get("HOME", "")
    local = configuration or os.environ.get("PERUN_CONFIGURATION") or ".perun.ini"
    if configuration and not os.path.isfile(configuration):
        raise FileNotFoundError(f"perun configuration '{configuration}' (configuration=) "
                                "is not a file")
    for path in (os.path.join(home, ".config", "perun.ini") if home else "", local):
        if path:
            out.update(_ini_values(path))
    for opt in _INI:
        env = "PERUN_" + opt.upper()
        if env in os.environ:
            out[opt] = (os.environ[env], env)
    for opt, v in given.items():
        if v is not None:
            out[opt] = (v, f"{opt}=")
    return out


def _number(opts, key) -> Optional[float]:
    if key not in opts:
        return None
    v, where = opts[key]
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"perun option {key} ({where}) is {v!r}, not a number") from None


class _Measured:
    def __init__(self, run: Run):
        self.run = run
        self.depth = 0
        self.owner = threading.get_ident()


def _measure_whole(func, args, kwargs, given, configuration):
    global _active, _last
    opts = _options(given, configuration)
    fmt_name = str(opts.get("format", ("txt", ""))[0]).lower()
    if fmt_name not in _FORMATS:
        raise ValueError(f"perun format {fmt_name!r} ({opts['format'][1]}): txt, yaml, yml, json "
                         "(or wattprof's csv, html)")
    fmt, ext = _FORMATS[fmt_name]
    data_out = opts.get("data_out", (None, ""))[0]
    run_args = {}
    if data_out:
        run_args["database"] = os.path.join(str(data_out), "wattprof.db")
    if "pue" in opts:
        run_args["pue"] = _number(opts, "pue")
    ef = _number(opts, "emissions_factor")
    if ef is not None:
        run_args["emissions_factor"] = ef * 1000.0  # kgCO2e/kWh -> gCO2e/kWh
    price = _number(opts, "price_factor")
    if price is not None:
        run_args["price_factor"] = price / 100.0  # cents/kWh -> per kWh
        run_args["price_unit"] = str(opts.get("price_unit", ("EUR", ""))[0])
    freq = _number(opts, "frequency")
    app = str(opts.get("app_name", (func.__name__, ""))[0])
    run = Run(name=app, series=True, freq_hz=freq, formats=(fmt,),
              tags={"tool": "perun"}, **run_args)
    with _lock:
        _active = _Measured(run)
    try:
        with run:
            return func(*args, **kwargs)
    finally:
        with _lock:
            _active = None
        _last = run
        if run.rendered and data_out:
            os.makedirs(str(data_out), exist_ok=True)
            stamp = run.id if run.id is not None else run.report.get("start_time", "run")
            path = os.path.join(str(data_out), f"{app}_{stamp}.{ext}")
            with open(path, "w") as f:
                f.write(run.rendered[fmt])
            run.report_path = path


def _region(active: _Measured, name: str, func, args, kwargs):
    # The outermost region of the measuring thread only: one region at a
    # time (a region inside it, or in another thread, is part of it).
    mine = threading.get_ident() == active.owner
    with _lock:
        first = mine and active.depth == 0
        if mine:
            active.depth += 1
    if first:
        active.run.begin(name)
    try:
        return func(*args, **kwargs)
    finally:
        if first:
            active.run.end()
        if mine:
            with _lock:
                active.depth -= 1


_mpi_depth = threading.local()


def _mpi_region(name: str, func, args, kwargs):
    # A rank of an MPI job that libwattprof-mpi measures (perun measures MPI
    # jobs once per host too): the job is the measurement, each call a
    # region across ranks (docs/MPI.md); one at a time per rank, as above.
    depth = getattr(_mpi_depth, "n", 0)
    began = False
    if depth == 0:
        tag = name.encode()[:63].decode(errors="ignore")  # the library's tags: < 64 bytes
        try:
            _mpi.begin(tag)
            began = True
        except WattprofError as e:
            if e.code != _ESTATE:  # another thread's region is open: part of it
                raise
    _mpi_depth.n = depth + 1
    try:
        return func(*args, **kwargs)
    finally:
        _mpi_depth.n = depth
        if began:
            try:
                _mpi.end()
            except WattprofError as e:  # the job finished meanwhile (another thread)
                if e.code != _ESTATE:
                    raise


def monitor(region_name: Optional[str] = None, *, data_out=None, format=None, frequency=None,
            pue=None, emissions_factor=None, price_factor=None, price_unit=None,
            app_name=None, **ignored) -> Callable:
    """perun's monitor: a region of the measurement running, else the whole
    call measured with perun's options (data_out, format, frequency, pue,
    emissions_factor, price_factor, app_name).  log_lvl, configuration and
    perun's other options are accepted; `configuration` names the
    .perun.ini to read."""
    if callable(region_name):  # @monitor without parentheses
        return monitor()(region_name)
    configuration = ignored.get("configuration")
    given = dict(data_out=data_out, format=format, frequency=frequency, pue=pue,
                 emissions_factor=emissions_factor, price_factor=price_factor,
                 price_unit=price_unit, app_name=app_name)

    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            active = _active
            if active is not None:
                return _region(active, region_name or func.__name__, func, args, kwargs)
            if _mpi.measuring():
                return _mpi_region(region_name or func.__name__, func, args, kwargs)
            return _measure_whole(func, args, kwargs, given, configuration)
        return wrapper
    return decorator


def perun(data_out=None, format=None, frequency=None, pue=None, emissions_factor=None,
          price_factor=None, price_unit=None, app_name=None, **ignored) -> Callable:
    """perun 0.4's whole-program decorator: each call measured whole (a
    call inside a measured one is a region of it, as with monitor)."""
    if callable(data_out):  # @perun without parentheses
        return perun()(data_out)
    return monitor(None, data_out=data_out, format=format, frequency=frequency, pue=pue,
                   emissions_factor=emissions_factor, price_factor=price_factor,
                   price_unit=price_unit, app_name=app_name, **ignored)

