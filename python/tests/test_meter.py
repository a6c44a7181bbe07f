"""The native API against a simulated powercap tree whose counters the
tests drive: every energy is known to the microjoule."""
import math
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

import wattprof  # noqa: E402
from fake_sysfs import FakeRapl  # noqa: E402

PKG, DRAM = "intel-rapl:0", "intel-rapl:0:0"


class MeterTest(unittest.TestCase):
    def setUp(self):
        self.rapl = FakeRapl()
        self.meter = wattprof.Meter(sources="powercap", sysfs_root=self.rapl.root,
                                    proc_root=self.rapl.root)

    def tearDown(self):
        self.meter.close()
        self.rapl.close()

    def test_domains_described(self):
        names = [d.name for d in self.meter.domains]
        self.assertEqual(names, ["package_0", "dram_0"])
        pkg, dram = self.meter.domains
        self.assertEqual((pkg.kind, pkg.source, pkg.socket), ("package", "powercap", 0))
        self.assertEqual(dram.kind, "dram")
        self.assertTrue(pkg.in_total and dram.in_total)
        self.assertFalse(pkg.estimated)
        self.assertEqual(pkg.method, "energy_counter")

    def test_regions_exact(self):
        m = self.meter
        m.begin("load")
        self.rapl.add(PKG, 1.5)
        self.rapl.add(DRAM, 0.25)
        m.record("train")
        self.rapl.add(PKG, 10.000001)
        m.record("")
        self.rapl.add(DRAM, 3)
        regions = m.end()
        self.assertEqual([r.tag for r in regions], ["load", "train", ""])
        self.assertEqual(regions[0].energy_j, {"package_0": 1.5, "dram_0": 0.25})
        self.assertAlmostEqual(regions[1].energy_j["package_0"], 10.000001, places=9)
        self.assertEqual(regions[1].energy_j["dram_0"], 0)
        self.assertEqual(regions[2].energy_j, {"package_0": 0, "dram_0": 3})
        self.assertAlmostEqual(regions[0].total_j, 1.75, places=9)
        for a, b in zip(regions, regions[1:]):
            self.assertGreaterEqual(b.start_s, a.start_s + a.duration_s - 1e-9)
        self.assertEqual(m.regions(), [])  # end() hands them over once

    def test_order_errors(self):
        with self.assertRaises(wattprof.WattprofError) as e:
            self.meter.record("x")
        self.assertIn("call out of order", str(e.exception))
        self.meter.begin()
        with self.assertRaises(wattprof.WattprofError):
            self.meter.begin()
        self.meter.end()

    def test_context_manager_and_decorator(self):
        with self.meter.measure("block") as r:
            self.rapl.add(PKG, 2)
        self.assertEqual(r.region.tag, "block")
        self.assertEqual(r.region.energy_j["package_0"], 2)
        got = []

        @wattprof.measured(handler=got.append, sources="powercap",
                           sysfs_root=self.rapl.root, proc_root=self.rapl.root)
        def work(x):
            self.rapl.add(DRAM, x)
            return x * 2

        self.assertEqual(work(4), 8)
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0].tag, "work")
        self.assertEqual(got[0].energy_j, {"package_0": 0, "dram_0": 4})

    def test_meters_kept_between_measurements(self):
        args = dict(sources="powercap", sysfs_root=self.rapl.root, proc_root=self.rapl.root)
        opened = []
        real_init = wattprof.Meter.__init__

        def counting_init(meter, *a, **k):
            opened.append(meter)
            real_init(meter, *a, **k)

        wattprof.Meter.__init__ = counting_init
        try:
            for k in range(20):
                with wattprof.measure(f"step{k}", **args) as m:
                    self.rapl.add(PKG, 1)
                self.assertEqual(m.region.energy_j["package_0"], 1)
            self.assertEqual(len(opened), 1)  # opened once, kept
            # A measurement inside another gets a meter of its own.
            with wattprof.measure("outer", **args) as outer:
                self.rapl.add(PKG, 2)
                with wattprof.measure("inner", **args) as inner:
                    self.rapl.add(PKG, 3)
            self.assertEqual(len(opened), 2)
            self.assertEqual(inner.region.energy_j["package_0"], 3)
            self.assertEqual(outer.region.energy_j["package_0"], 5)
        finally:
            wattprof.Meter.__init__ = real_init

    def test_unknown_domain_named(self):
        with self.assertRaises(wattprof.WattprofError) as e:
            wattprof.Meter(domains=["package_0", "gpu_9"], sources="powercap",
                           sysfs_root=self.rapl.root)
        self.assertIn("gpu_9", str(e.exception))
        m = wattprof.Meter(domains=["dram_0"], sources="powercap", sysfs_root=self.rapl.root)
        self.assertEqual([d.name for d in m.domains], ["dram_0"])
        m.close()
        with self.assertRaises(ValueError):
            m.begin()

    def test_sampler_series(self):
        s = self.meter.sampler(freq_hz=50, readings=False)
        with s:
            for _ in range(5):
                time.sleep(0.05)
                self.rapl.add(PKG, 1)
        rows = s.samples()
        self.assertGreaterEqual(len(rows), 5)
        self.assertEqual(s.columns[:4], ["package_0.power_w", "package_0.energy_j",
                                         "dram_0.power_w", "dram_0.energy_j"])
        self.assertEqual(rows[0].t_s, 0)
        self.assertEqual(rows[0].values["package_0.energy_j"], 0)
        self.assertTrue(math.isnan(rows[0].values["package_0.power_w"]))
        # The last sample is the stop: all 5 J, exactly.
        self.assertEqual(rows[-1].values["package_0.energy_j"], 5)
        energies = [r.values["package_0.energy_j"] for r in rows]
        self.assertEqual(energies, sorted(energies))
        self.assertGreater(s.stats["samples"], 5)
        self.assertEqual(s.units()["package_0.power_w"], "W")
        try:
            import pandas  # noqa: F401
        except ImportError:
            with self.assertRaises(ImportError):
                s.to_dataframe()
        else:
            df = s.to_dataframe()
            self.assertEqual(len(df), len(rows))
            self.assertEqual(df["package_0.energy_j"].iloc[-1], 5)
        s.close()


class LibraryTest(unittest.TestCase):
    def test_version(self):
        self.assertEqual(wattprof.library_version(), "0.1.0")

    def test_missing_library_says_where_it_looked(self):
        import subprocess
        env = dict(os.environ, WATTPROF_LIB="/nonexistent/libwattprof.so.0")
        p = subprocess.run([sys.executable, "-c", "import wattprof"], env=env,
                           cwd=os.path.join(os.path.dirname(__file__), ".."),
                           capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("LibraryNotFound", p.stderr)
        self.assertIn("WATTPROF_LIB", p.stderr)
        self.assertIn("/nonexistent/libwattprof.so.0", p.stderr)


if __name__ == "__main__":
    unittest.main()
