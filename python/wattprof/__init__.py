"""wattprof: the energy of code, measured by libwattprof (C), from Python.

    import wattprof
    with wattprof.measure("train") as m:
        train()
        m.record("eval")
        evaluate()
    for r in m.regions:
        print(r.tag, r.duration_s, r.energy_j)

docs/python.md in the repository maps each API onto libwattprof's, and the
seed tools' APIs (pyJoules, perun, PyPowerGadget ...) onto this one.
"""
from ._lib import LibraryNotFound, WattprofError, lib as _clib
from .meter import Domain, Meter, Region, Sample, Sampler, measure, measured
from .run import Report, Run, Store, StoredRun

__all__ = ["Domain", "Meter", "Region", "Sample", "Sampler", "measure", "measured",
           "Report", "Run", "Store", "StoredRun",
           "WattprofError", "LibraryNotFound", "library_version", "__version__"]

__version__ = "0.1.0"


def library_version() -> str:
    """The version of the libwattprof the binding loaded."""
    return _clib.wp_version().decode()
