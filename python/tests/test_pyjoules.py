"""Every example of the pyJoules document (../shared/seeds/000_*.txt), run
with only its import lines changed (pyJoules. -> wattprof.pyjoules.), on a
simulated two-socket powercap tree whose counters the examples' functions
drive, and the fake NVML (one GPU at a constant 100 W).  The numbers they
print or write are checked against what was put in: RAPL in microjoules,
the GPU in millijoules, as pyJoules reports them.

One fix to the document's code: its CSV example saves `csv_output`, a name it
never defines (pyJoules's own README has the slip); the test saves
`csv_handler`, the handler it made."""
import contextlib
import csv
import io
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from fake_sysfs import FakeRapl  # noqa: E402

FAKENVML = os.environ.get("WATTPROF_FAKENVML")  # build/fakenvml/libnvidia-ml.so.1
GPU_W = 100.0


class PyJoulesExamples(unittest.TestCase):
    def setUp(self):
        self.rapl = FakeRapl((("intel-rapl:0", "package-0"), ("intel-rapl:1", "package-1"),
                              ("intel-rapl:0:0", "dram"), ("intel-rapl:1:0", "dram")))
        self.dir = tempfile.mkdtemp(prefix="wattprof-pyj-")
        self.cwd = os.getcwd()
        os.chdir(self.dir)
        self.env = dict(os.environ)
        os.environ["WATTPROF_SYSFS_ROOT"] = self.rapl.root
        os.environ["WATTPROF_PROC_ROOT"] = self.rapl.root
        if FAKENVML:
            os.environ["WATTPROF_NVML_LIB"] = FAKENVML
            os.environ["FAKE_NVML"] = f"gpus=1;base_w.0={GPU_W};amp_w.0=0;update_ms.0=0"

    def tearDown(self):
        os.chdir(self.cwd)
        os.environ.clear()
        os.environ.update(self.env)
        self.rapl.close()

    def need_gpu(self):
        if not FAKENVML:
            self.skipTest("WATTPROF_FAKENVML is not set: the fake NVML (build/fakenvml) "
                          "is needed for NvidiaGPUDomain; make test-python sets it")

    @staticmethod
    def printed(fn):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            fn()
        lines = [l for l in out.getvalue().splitlines() if l.startswith("begin timestamp")]
        rows = []
        for l in lines:
            fields = dict(p.split(" : ", 1) for p in l.split("; "))
            rows.append(fields)
        return rows

    def test_decorate_a_function(self):
        from wattprof.pyjoules.energy_meter import measureit

        @measureit
        def foo():
            # Instructions to be evaluated.
            self.rapl.add("intel-rapl:0", 2.5)
            self.rapl.add("intel-rapl:1:0", 0.125)

        rows = self.printed(foo)
        self.assertEqual(len(rows), 1)
        r = rows[0]
        self.assertEqual(r["tag"], "foo")
        self.assertEqual(float(r["package_0"]), 2.5e6)  # microjoules, as pyJoules
        self.assertEqual(float(r["package_1"]), 0)
        self.assertEqual(float(r["dram_1"]), 0.125e6)
        self.assertGreater(float(r["duration"]), 0)

    def test_configure_the_domains(self):
        self.need_gpu()
        from wattprof.pyjoules.energy_meter import measureit
        from wattprof.pyjoules.energy_device.rapl_device import RaplPackageDomain
        from wattprof.pyjoules.energy_device.nvidia_device import NvidiaGPUDomain

        @measureit(domains=[RaplPackageDomain(1), NvidiaGPUDomain(0)])
        def foo():
            # Instructions to be evaluated.
            self.rapl.add("intel-rapl:1", 7)
            self.rapl.add("intel-rapl:0", 1)  # not asked for

        rows = self.printed(foo)
        r = rows[0]
        self.assertEqual(set(r) - {"begin timestamp", "tag", "duration"},
                         {"package_1", "nvidia_gpu_0"})
        self.assertEqual(float(r["package_1"]), 7e6)
        # 100 W over the region, in millijoules (the counter's mJ steps).
        self.assertAlmostEqual(float(r["nvidia_gpu_0"]), GPU_W * float(r["duration"]) * 1e3,
                               delta=2 + 0.01 * GPU_W * float(r["duration"]) * 1e3)

    def test_csv_handler(self):
        from wattprof.pyjoules.energy_meter import measureit
        from wattprof.pyjoules.energy_handler import CsvHandler

        csv_handler = CsvHandler('result.csv')

        @measureit(handler=csv_handler)
        def foo():
            # Instructions to be evaluated.
            self.rapl.add("intel-rapl:0", 0.001)

        for _ in range(100):
            foo()

        csv_handler.save()  # the document says csv_output.save(): see above

        with open("result.csv") as f:
            rows = list(csv.reader(f, delimiter=";"))
        self.assertEqual(rows[0][:3], ["timestamp", "tag", "duration"])
        self.assertEqual(len(rows), 101)  # "a csv file of 100 lines", and the header
        col = rows[0].index("package_0")
        for row in rows[1:]:
            self.assertEqual(row[1], "foo")
            self.assertEqual(float(row[col]), 1000.0)
        stamps = [float(r[0]) for r in rows[1:]]
        self.assertEqual(stamps, sorted(stamps))

    def test_context_manager_with_breakpoints(self):
        self.need_gpu()
        from wattprof.pyjoules.energy_meter import EnergyContext
        from wattprof.pyjoules.energy_device.rapl_device import RaplPackageDomain
        from wattprof.pyjoules.energy_device.nvidia_device import NvidiaGPUDomain
        from wattprof.pyjoules.energy_handler import CsvHandler

        def foo():
            self.rapl.add("intel-rapl:1", 3)

        def bar():
            self.rapl.add("intel-rapl:1", 4)

        csv_handler = CsvHandler('result.csv')

        with EnergyContext(handler=csv_handler, domains=[RaplPackageDomain(1), NvidiaGPUDomain(0)], start_tag='foo') as ctx:
            foo()
            ctx.record(tag='bar')
            bar()

        csv_handler.save()

        with open("result.csv") as f:
            rows = list(csv.DictReader(f, delimiter=";"))
        self.assertEqual([r["tag"] for r in rows], ["foo", "bar"])
        self.assertEqual([float(r["package_1"]) for r in rows], [3e6, 4e6])
        for r in rows:
            want = GPU_W * float(r["duration"]) * 1e3
            self.assertAlmostEqual(float(r["nvidia_gpu_0"]), want, delta=2 + 0.01 * want)

    def test_pandas_handler_and_missing_domain(self):
        from wattprof.pyjoules.energy_meter import measureit
        from wattprof.pyjoules.energy_device import NotAvailableDomain
        from wattprof.pyjoules.energy_device.rapl_device import RaplPackageDomain
        from wattprof.pyjoules.energy_handler import PandasHandler

        handler = PandasHandler()

        @measureit(handler=handler, domains=[RaplPackageDomain(0)])
        def foo():
            self.rapl.add("intel-rapl:0", 1)

        foo()
        foo()
        try:
            import pandas  # noqa: F401
        except ImportError:
            with self.assertRaises(ImportError):
                handler.get_dataframe()
        else:
            df = handler.get_dataframe()
            self.assertEqual(list(df["package_0"]), [1e6, 1e6])
            self.assertEqual(list(df["tag"]), ["foo", "foo"])

        @measureit(domains=[RaplPackageDomain(7)])
        def nowhere():
            pass

        with self.assertRaises(NotAvailableDomain) as e:
            nowhere()
        self.assertIn("package_7", str(e.exception))


if __name__ == "__main__":
    unittest.main()
