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

from fake_sysfs import SimTest  # noqa: E402

GPU_W = 100.0


class PyJoulesExamples(SimTest, unittest.TestCase):
    fake_proc = True

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

    def test_database_handler(self):
        """pyJoules's MongoHandler, as wattprof's run database: each trace a
        run, its samples the run's regions, read back by wattprof.Store."""
        from wattprof.pyjoules.energy_meter import measureit, EnergyContext
        from wattprof.pyjoules.energy_handler import DatabaseHandler
        import wattprof

        db_handler = DatabaseHandler(name="pyjoules-test")

        @measureit(handler=db_handler)
        def foo():
            self.rapl.add("intel-rapl:0", 2.5)

        foo()
        with EnergyContext(handler=db_handler, start_tag="load") as ctx:
            self.rapl.add("intel-rapl:1", 1.25)
            ctx.record(tag="train")
            self.rapl.add("intel-rapl:1:0", 0.5)
        self.assertEqual(db_handler.save_data(), [1, 2])
        self.assertEqual(db_handler.save_data(), [])  # nothing new

        runs = wattprof.Store("wattprof_results/wattprof.db").runs()
        self.assertEqual([r.name for r in runs], ["pyjoules-test"] * 2)
        self.assertEqual(runs[0].tags, {"tool": "pyjoules"})
        self.assertEqual(runs[0].status, "finished")
        self.assertEqual(runs[0].cpu_j, 2.5)
        self.assertEqual([g["tag"] for g in runs[1].report["regions"]], ["load", "train"])
        self.assertEqual(runs[1].report["regions"][0]["energy_j"]["package_1"], 1.25)
        self.assertEqual(runs[1].report["regions"][1]["energy_j"]["dram_1"], 0.5)
        self.assertEqual(runs[1].cpu_j + runs[1].dram_j, 1.75)  # (and the fake GPU's)
        # The configured carbon factors: the world average by default.
        carbon = runs[1].report["carbon"]
        self.assertEqual(carbon["country"], None)
        self.assertAlmostEqual(carbon["co2e_g"], runs[1].total_energy_j / 3.6e6 *
                               carbon["emissions_factor_g_per_kwh"], delta=1e-12)


if __name__ == "__main__":
    unittest.main()
