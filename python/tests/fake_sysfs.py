"""fake_sysfs.py - a simulated powercap tree for the Python tests, laid out
as the kernel does (and as tests/sim.c does for the C tests): the zones in
devices/virtual/powercap/intel-rapl/..., class/powercap/<zone> links to
them.  Its counters are driven by hand: the energy written is the truth
the tests compare against, to the microjoule.
"""
import os
import shutil
import tempfile


class FakeRapl:
    """zones: [("intel-rapl:0", "package-0"), ("intel-rapl:0:0", "dram"), ...]"""

    RANGE_UJ = 1 << 50

    def __init__(self, zones=(("intel-rapl:0", "package-0"), ("intel-rapl:0:0", "dram"))):
        self.root = tempfile.mkdtemp(prefix="wattprof-py-")
        self.zones = [z for z, _ in zones]
        self.uj = {z: 0 for z in self.zones}
        os.makedirs(os.path.join(self.root, "class/powercap"))
        for zone, name in zones:
            ctype = zone.split(":")[0]
            base = os.path.join(self.root, "devices/virtual/powercap", ctype)
            os.makedirs(base, exist_ok=True)
            link = os.path.join(self.root, "class/powercap", ctype)
            if not os.path.islink(link):
                os.symlink(f"../../devices/virtual/powercap/{ctype}", link)
            parts = zone.split(":")
            rel = ctype + "".join("/" + ":".join(parts[:k]) for k in range(2, len(parts)))
            rel += "/" + zone
            os.makedirs(os.path.join(self.root, "devices/virtual/powercap", rel))
            os.symlink(f"../../devices/virtual/powercap/{rel}",
                       os.path.join(self.root, "class/powercap", zone))
            self._write(zone, "name", name)
            self._write(zone, "max_energy_range_uj", str(self.RANGE_UJ))
            self._write(zone, "enabled", "1")
            self._write(zone, "energy_uj", "0")

    def _write(self, zone, f, text):
        path = os.path.join(self.root, "class/powercap", zone, f)
        # Rewritten in place, as sysfs is: a reader holding it open sees it.
        with open(path, "r+" if os.path.exists(path) else "w") as fh:
            fh.write(text + "\n")
            fh.truncate()

    def add(self, zone, joules):
        """Adds energy to a zone's counter (exact in microjoules)."""
        self.uj[zone] += int(round(joules * 1e6))
        self._write(zone, "energy_uj", str(self.uj[zone] % (self.RANGE_UJ + 1)))

    def close(self):
        shutil.rmtree(self.root, ignore_errors=True)
