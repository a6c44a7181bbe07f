"""wattprof.Run, Store and the configuration, on a simulated powercap tree
and a real SQLite file: what a run stores is what was put into the
counters, its carbon figures follow the configured factors, the settings
come from the CLI's places in the CLI's order, and bad settings are refused
by name before anything is measured."""
import math
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from fake_sysfs import SimTest  # noqa: E402

import wattprof  # noqa: E402
from wattprof import config  # noqa: E402

DB = "wattprof_results/wattprof.db"


def factor(code):
    """The shipped table's gCO2e/kWh for a country (the library's)."""
    import ctypes
    from wattprof import _lib
    row = ctypes.POINTER(_lib.CarbonIntensity)()
    assert _lib.lib.wp_carbon_intensity_find(code.encode(), ctypes.byref(row)) == 0
    return row.contents.g_per_kwh


class RunTests(SimTest, unittest.TestCase):
    def test_run_stored_and_read_back(self):
        with wattprof.Run(name="mnist", algorithm="MLP", data_type="tabular",
                          data_shape="(7000, 64)", comment="3rd test", tags={"lr": "0.1"},
                          country="FR", pue=1.5) as run:
            self.rapl.add("intel-rapl:0", 3600.0)   # 1 Wh
            run.begin("epoch-1")
            self.rapl.add("intel-rapl:1", 1.5)
            run.record("epoch-2")
            self.rapl.add("intel-rapl:1:0", 0.25)
            run.end()
        self.assertIsNone(run.error)
        self.assertEqual(run.id, 1)
        self.assertIn("package_0", run.text)
        (r,) = wattprof.Store(DB).runs()
        self.assertEqual((r.id, r.status, r.name, r.algorithm, r.data_type, r.data_shape,
                          r.comment), (1, "finished", "mnist", "MLP", "tabular", "(7000, 64)",
                                       "3rd test"))
        self.assertEqual(r.tags, {"lr": "0.1"})
        self.assertEqual(r.cpu_j, 3601.5)
        self.assertEqual(r.dram_j, 0.25)
        self.assertEqual([(g["tag"], g["energy_j"]["package_1"], g["energy_j"]["dram_1"])
                          for g in r.report["regions"]],
                         [("epoch-1", 1.5, 0), ("epoch-2", 0, 0.25)])
        c = r.report["carbon"]
        self.assertEqual((c["country"], c["pue"]), ("FR", 1.5))
        self.assertEqual(c["emissions_factor_g_per_kwh"], factor("FR"))
        total_kwh = r.total_energy_j / 3.6e6
        self.assertAlmostEqual(c["co2e_g"], total_kwh * 1.5 * factor("FR"), delta=1e-9)
        self.assertEqual(r.report["command"][0], sys.argv[0])

    def test_settings_in_the_clis_order(self):
        os.makedirs(".config/wattprof")
        with open(".config/wattprof/config.ini", "w") as f:
            f.write("[report]\npue = 1.2\ncountry = DE\n[storage]\ndatabase = user.db\n"
                    "[monitor]\nfrequency = 7 ; an inline comment\n")
        s = config.load()
        self.assertEqual((s["pue"].value, s["database"].value, s["frequency"].value),
                         ("1.2", "user.db", "7"))
        self.assertTrue(s["pue"].origin.endswith(".config/wattprof/config.ini:2"))
        with open(".wattprof.ini", "w") as f:
            f.write("# the project's\n[report]\npue = 1.3\n")
        self.assertEqual(config.load()["pue"], config.Setting("1.3", ".wattprof.ini:3"))
        os.environ["WATTPROF_PUE"] = "1.4"
        self.assertEqual(config.load()["pue"], config.Setting("1.4", "WATTPROF_PUE"))
        self.assertEqual(config.load(pue=1.5)["pue"], config.Setting("1.5", "argument"))
        self.assertEqual(config.load()["country"].value, "DE")  # the user's file still
        # A Run stores where the settings say, with their factors.
        with wattprof.Run(name="x"):
            self.rapl.add("intel-rapl:0", 1.0)
        (r,) = wattprof.Store("user.db", create=False).runs()
        self.assertEqual((r.report["carbon"]["pue"], r.report["carbon"]["country"]),
                         (1.4, "DE"))
        self.assertFalse(os.path.exists(DB))
        # -c FILE's counterpart replaces the local file.
        with open("other.ini", "w") as f:
            f.write("[report]\nprice_factor = 0.3\nprice_unit = EUR\n")
        del os.environ["WATTPROF_PUE"]
        s = config.load("other.ini")
        self.assertEqual((s["pue"].value, s["price_factor"].value), ("1.2", "0.3"))

    def test_bad_settings_refused_by_name_before_measuring(self):
        cases = [
            (dict(pue=0.5), ValueError, "argument"),
            (dict(country="XX"), ValueError, "'country' (argument) is 'XX'"),
            (dict(data_type="images"), ValueError, "data_type 'images'"),
            (dict(price_factor=0.3), ValueError, "no price unit"),
        ]
        for kwargs, exc, words in cases:
            with self.subTest(kwargs=kwargs):
                with self.assertRaises(exc) as e:
                    wattprof.Run(name="bad", **kwargs).start()
                self.assertIn(words, str(e.exception))
        os.environ["WATTPROF_PUE"] = "abc"
        with self.assertRaises(ValueError) as e:
            wattprof.Run().start()
        self.assertIn("'pue' (WATTPROF_PUE) is 'abc'", str(e.exception))
        del os.environ["WATTPROF_PUE"]
        with open(".wattprof.ini", "w") as f:
            f.write("pue = 1.2\n")  # no section
        with self.assertRaises(ValueError) as e:
            wattprof.Run()
        self.assertIn("'.wattprof.ini'", str(e.exception))
        with self.assertRaises(FileNotFoundError):
            config.load("missing.ini")
        with self.assertRaises(TypeError):
            wattprof.Run(algoritm="typo")
        os.remove(".wattprof.ini")
        # Nothing refused was stored; the data_type refusal came after the
        # database was opened, and left no run in it.
        self.assertEqual(wattprof.Store(DB).ids() if os.path.exists(DB) else [], [])

    def test_block_that_raises_is_stored(self):
        with self.assertRaises(ZeroDivisionError):
            with wattprof.Run(name="crash") as run:
                self.rapl.add("intel-rapl:0", 2.0)
                1 / 0
        r = wattprof.Store(DB).load(run.id)
        self.assertEqual((r.status, r.cpu_j), ("finished", 2.0))

    def test_not_stored(self):
        with wattprof.Run(store=False) as run:
            self.rapl.add("intel-rapl:0", 2.0)
        self.assertIsNone(run.id)
        self.assertFalse(os.path.exists(DB))
        self.assertEqual(run.report["domains"][0]["energy_j"], 2.0)
        self.assertEqual(run.report["domains"][0]["kind"], "package")

    def test_store_errors_named(self):
        with self.assertRaises(FileNotFoundError) as e:
            wattprof.Store("nothing.db", create=False)
        self.assertIn("nothing.db", str(e.exception))
        with open("junk.db", "w") as f:
            f.write("not a database\n" * 100)
        with self.assertRaises(OSError) as e:
            wattprof.Store("junk.db")
        self.assertIn("junk.db", str(e.exception))
        s = wattprof.Store("empty.db")
        with self.assertRaises(KeyError):
            s.load(99)
        self.assertEqual(s.runs(), [])

    def test_series_stored_as_it_goes(self):
        with wattprof.Run(name="sampled", series=True, freq_hz=50) as run:
            for _ in range(10):
                self.rapl.add("intel-rapl:0", 0.5)
                time.sleep(0.01)
        r = wattprof.Store(DB).load(run.id)
        self.assertEqual(r.report["sampling"]["freq_hz"], 50)
        self.assertGreater(r.report["sampling"]["samples"], 3)
        self.assertEqual(r.cpu_j, 5.0)
        # Its samples read back: the last one's energy is the total.
        last = run.report["domains"][0]
        self.assertEqual(last["energy_j"], 5.0)
        self.assertGreater(last["peak_power_w"], 0)

    def test_attribution_to_this_process_and_its_children(self):
        child = subprocess.Popen([sys.executable, "-c",
                                  "import time\nt = time.time()\n"
                                  "while time.time() - t < 0.4: pass\n"])
        try:
            with wattprof.Run(name="attributed", attribute=True, freq_hz=20) as run:
                self.rapl.add("intel-rapl:0", 4.0)
                child.wait()
        finally:
            child.kill()
            child.wait()
        rep = run.report
        self.assertEqual(rep["attribution"]["root_pid"], os.getpid())
        pids = {p["pid"]: p for p in rep["processes"]}
        self.assertIn(os.getpid(), pids)
        self.assertIn(child.pid, pids)
        self.assertGreater(pids[child.pid]["cpu_time_s"], 0.1)
        self.assertTrue(pids[child.pid]["exited"])
        attributed = rep["attribution"]["total_energy_j"]
        self.assertGreater(attributed, 0)
        self.assertLessEqual(attributed, rep["total_energy_j"] + 1e-9)
        self.assertTrue(any("idle baseline" in w for w in rep["warnings"]))
        self.assertFalse(math.isnan(rep["domains"][0]["attributed_energy_j"]))


if __name__ == "__main__":
    unittest.main()
