"""pyJoules's RAPL domains, named as wattprof names them (package_N,
dram_N, core_N, uncore_N): whichever source reads RAPL (powercap, perf,
msr) answers."""
from . import Domain


class RaplDomain(Domain):
    DEVICE = "rapl"
    PREFIX = ""

    def wattprof_name(self):
        return f"{self.PREFIX}_{self.device_id}"

    @property
    def socket(self):
        return self.device_id


class RaplPackageDomain(RaplDomain):
    """CPU socket `socket`'s package."""
    PREFIX = "package"


class RaplDramDomain(RaplDomain):
    """The memory attached to socket `socket`."""
    PREFIX = "dram"


class RaplCoreDomain(RaplDomain):
    """The cores of socket `socket`."""
    PREFIX = "core"


class RaplUncoreDomain(RaplDomain):
    """The integrated GPU of socket `socket`."""
    PREFIX = "uncore"


class RaplDevice:
    """pyJoules's device object: the RAPL domains this machine measures."""

    @staticmethod
    def available_domains():
        from ...meter import Meter
        with Meter() as m:
            kinds = {"package": RaplPackageDomain, "dram": RaplDramDomain,
                     "core": RaplCoreDomain, "uncore": RaplUncoreDomain}
            return [kinds[d.kind](d.socket) for d in m.domains
                    if d.kind in kinds and d.name == f"{d.kind}_{d.socket}"]
