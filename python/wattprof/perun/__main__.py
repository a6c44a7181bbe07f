"""perun's command line over wattprof: `python -m wattprof.perun ...` for
`perun ...` / `python -m perun ...` (../shared/seeds/002):

  python -m wattprof.perun monitor [--format F] [-o DIR] SCRIPT [ARGS...]
  python -m wattprof.perun report [--format F] DATA_OUT_OR_DB [RUN_ID]
  python -m wattprof.perun showconf [--default]

Options, before or after the command, as perun takes them: -c/--configuration
FILE, --format txt|yaml|yml|json, -f/--frequency HZ, --data_out/-o DIR,
--pue, --emissions-factor (kgCO2e/kWh), --price-factor (cents/kWh),
-l/--log_lvl (accepted, unused), --version.

monitor runs SCRIPT in this Python, as its __main__, measured whole (as the
decorator measures a function: docs/python.md), prints the report and
writes it to DATA_OUT (perun's default: ./perun_results), where the run is
stored too.  report prints a stored run (the last one by default) from a
data_out folder or a database file.  `wattprof monitor -- python SCRIPT` is
the same measurement from outside the interpreter.
"""
import argparse
import os
import runpy
import sys

from . import _FORMATS, _INI, _options, monitor
from .. import __version__
from ..run import Store

DEFAULT_DATA_OUT = "perun_results"


def _parser():
    p = argparse.ArgumentParser(prog="python -m wattprof.perun",
                                description="perun's command line over wattprof")
    p.add_argument("--version", action="version", version=f"wattprof {__version__}")

    def common(q):
        q.add_argument("-c", "--configuration", default=argparse.SUPPRESS)
        q.add_argument("--format", choices=sorted(_FORMATS), default=argparse.SUPPRESS)
        q.add_argument("-f", "--frequency", type=float, default=argparse.SUPPRESS)
        q.add_argument("-o", "--data_out", "--data-out", default=argparse.SUPPRESS)
        q.add_argument("--pue", type=float, default=argparse.SUPPRESS)
        q.add_argument("--emissions-factor", "--emissions_factor", dest="emissions_factor",
                       type=float, default=argparse.SUPPRESS)
        q.add_argument("--price-factor", "--price_factor", dest="price_factor", type=float,
                       default=argparse.SUPPRESS)
        q.add_argument("-l", "--log_lvl", default=argparse.SUPPRESS)

    common(p)
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("monitor", help="measure a Python script")
    common(m)
    m.add_argument("script")
    m.add_argument("script_args", nargs=argparse.REMAINDER)
    r = sub.add_parser("report", help="print a stored run")
    common(r)
    r.add_argument("where", help="a data_out folder or a wattprof database file")
    r.add_argument("run_id", nargs="?", type=int)
    s = sub.add_parser("showconf", help="print perun's options as INI")
    common(s)
    s.add_argument("--default", action="store_true")
    return p


def _monitor(args, given):
    script = args.script
    if not os.path.isfile(script):
        print(f"error: no script '{script}'", file=sys.stderr)
        return 2
    given.setdefault("data_out", DEFAULT_DATA_OUT)
    given.setdefault("app_name", os.path.splitext(os.path.basename(script))[0])
    argv0 = sys.argv[:]

    def run_script():
        sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
        runpy.run_path(script, run_name="__main__")

    code = 0
    sys.argv = [script] + list(args.script_args)  # the script's, and the run's command
    try:
        monitor(**given)(run_script)()
    except SystemExit as e:  # the script's own sys.exit(): measured all the same
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = argv0
    from . import last_run
    run = last_run()
    if run is not None and run.rendered:
        sys.stdout.write(next(iter(run.rendered.values())))
        if getattr(run, "report_path", None):
            print(f"perun: report written to {run.report_path}", file=sys.stderr)
    return code


def _report(args, given):
    where = args.where
    db = os.path.join(where, "wattprof.db") if os.path.isdir(where) else where
    if not os.path.exists(db):
        print(f"error: no wattprof database at '{db}'", file=sys.stderr)
        return 1
    conf = given.pop("configuration", None)
    fmt = _FORMATS[str(_options(given, conf).get("format", ("txt", ""))[0]).lower()][0]
    with Store(db, create=False) as store:
        ids = store.ids()
        if not ids:
            print(f"error: no run stored in '{db}'", file=sys.stderr)
            return 1
        run_id = args.run_id if args.run_id is not None else ids[-1]
        try:
            run = store.load(run_id, render=(fmt,))
        except KeyError as e:
            print(f"error: {e.args[0]}", file=sys.stderr)
            return 1
    sys.stdout.write(run.rendered[fmt])
    return 0


def _showconf(args, given):
    conf = given.pop("configuration", None)
    opts = {} if args.default else _options(given, conf)
    defaults = {"format": "txt", "frequency": "10", "data_out": DEFAULT_DATA_OUT, "pue": "1.0"}
    sections = {}
    for opt, (sec, key) in _INI.items():
        v = opts.get(opt, (defaults.get(opt), "default"))[0]
        line = f"{key} = {v}" if v is not None else f";{key} ="
        sections.setdefault(sec, []).append(line)
    for sec, lines in sections.items():
        print(f"[{sec}]")
        for line in lines:
            print(line)
        print()
    return 0


def main(argv=None):
    args = _parser().parse_args(argv)
    given = {k: getattr(args, k) for k in ("format", "frequency", "data_out", "pue",
                                           "emissions_factor", "price_factor")
             if hasattr(args, k)}
    if hasattr(args, "configuration"):
        given["configuration"] = args.configuration
    try:
        return {"monitor": _monitor, "report": _report, "showconf": _showconf}[args.command](
            args, given)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
