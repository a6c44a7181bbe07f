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

    @classmethod
    def attach(cls, root):
        """The tree at root, made by another process (a test's child drives
        the counters of its parent's tree)."""
        self = cls.__new__(cls)
        self.root = root
        base = os.path.join(root, "class/powercap")
        self.zones = sorted(z for z in os.listdir(base) if ":" in z)
        self.uj = {}
        for z in self.zones:
            with open(os.path.join(base, z, "energy_uj")) as f:
                self.uj[z] = int(f.read())
        return self

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

    def cpu_temp(self, celsius):
        """A coretemp chip whose "Package id 0" reads `celsius` (whole
        degrees: sysfs holds millidegrees)."""
        d = os.path.join(self.root, "class/hwmon/hwmon0")
        os.makedirs(d, exist_ok=True)
        for f, text in (("name", "coretemp"), ("temp1_label", "Package id 0"),
                        ("temp1_input", str(int(celsius * 1000)))):
            with open(os.path.join(d, f), "w") as fh:
                fh.write(text + "\n")

    def close(self):
        shutil.rmtree(self.root, ignore_errors=True)


FAKENVML = os.environ.get("WATTPROF_FAKENVML")  # build/fakenvml/libnvidia-ml.so.1


class SimTest:
    """A mixin for unittest.TestCase: each test in a folder of its own (the
    current one, and HOME, so that no user's configuration is read), on a
    simulated powercap tree (self.rapl, two sockets by default) and, when
    WATTPROF_FAKENVML names it, the fake NVML with one GPU at gpu_w watts
    (unless gpu is False);
    the environment is put back after."""

    zones = (("intel-rapl:0", "package-0"), ("intel-rapl:1", "package-1"),
             ("intel-rapl:0:0", "dram"), ("intel-rapl:1:0", "dram"))
    gpu_w = 100.0
    gpu = True  # False: no GPU measured (CUDA_VISIBLE_DEVICES="" hides them all)
    fake_proc = False  # True: /proc too from the tree (no node readings)

    def setUp(self):
        self.rapl = FakeRapl(self.zones)
        self.dir = tempfile.mkdtemp(prefix="wattprof-pytest-")
        self.cwd = os.getcwd()
        os.chdir(self.dir)
        self.env = dict(os.environ)
        for k in list(os.environ):
            if k.startswith(("WATTPROF_", "PERUN_")) and k not in ("WATTPROF_LIB",
                                                                   "WATTPROF_FAKENVML"):
                del os.environ[k]
        os.environ["HOME"] = self.dir
        os.environ.pop("XDG_CONFIG_HOME", None)
        os.environ["WATTPROF_SYSFS_ROOT"] = self.rapl.root
        if self.fake_proc:
            os.environ["WATTPROF_PROC_ROOT"] = self.rapl.root
        if not self.gpu:
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
        elif FAKENVML:
            os.environ["WATTPROF_NVML_LIB"] = FAKENVML
            os.environ["FAKE_NVML"] = f"gpus=1;base_w.0={self.gpu_w};amp_w.0=0;update_ms.0=0"

    def tearDown(self):
        os.chdir(self.cwd)
        os.environ.clear()
        os.environ.update(self.env)
        self.rapl.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def need_gpu(self):
        if not FAKENVML:
            self.skipTest("WATTPROF_FAKENVML is not set: the fake NVML (build/fakenvml) "
                          "is needed for a GPU; make test-python sets it")
