"""AIPowerMeter's experiment (../shared/seeds/004_*.txt): an Experiment that
records in the background until told to stop, and the results, with the
per-process figures of the attribution, on a simulated powercap tree with
real processes (this one and a child burning CPU).  The power curves
integrate to the energy put into the counters."""
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

BURN = "import time\nt = time.time()\nwhile time.time() - t < {s}: pass\n# aipm-child\n"


class AIPowerMeterExperiment(SimTest, unittest.TestCase):
    zones = (("intel-rapl:0", "package-0"), ("intel-rapl:0:0", "dram"))
    gpu = False

    def record(self, folder, joules, cont=False, period=0.1):
        from wattprof.aipowermeter import experiment, parsers
        driver = parsers.JsonParser(folder)
        exp = experiment.Experiment(driver, cont=cont)
        p, q = exp.measure_yourself(period=period)
        child = subprocess.Popen([sys.executable, "-c", BURN.format(s=0.5)])
        for _ in range(10):
            self.rapl.add("intel-rapl:0", joules / 10)
            self.rapl.add("intel-rapl:0:0", joules / 100)
            time.sleep(0.05)
        child.wait()
        q.put(experiment.STOP_MESSAGE)
        p.join()
        return driver, child.pid

    def test_experiment_and_results(self):
        from wattprof.aipowermeter import experiment
        driver, child_pid = self.record("exp", 20.0)
        res = experiment.ExpResults(driver)
        for name in ("intel_power", "rel_intel_power", "nvidia_draw_absolute", "cpu_uses",
                     "mem_use_abs", "mem_use_pss", "mem_use_uss", "per_gpu_power_draw"):
            self.assertIn(name, res.list_metrics())
        # The curve integrates to what was put in: 20 J + 2 J.
        self.assertAlmostEqual(res.total_("intel_power"), 22.0, places=6)
        rel = res.total_("rel_intel_power")
        self.assertGreater(rel, 0)
        self.assertLessEqual(rel, 22.0 + 1e-6)
        self.assertTrue(math.isnan(res.total_("nvidia_draw_absolute")))  # no GPU here
        self.assertGreater(res.average_("mem_use_pss"), 1e6)
        self.assertGreater(res.max_("cpu_uses"), 0)
        self.assertTrue(math.isnan(res.total_("cpu_uses")))  # not a power: use average_
        self.assertTrue(0.45 < res.get_exp_duration() < 10, res.get_exp_duration())
        curve = res.get_curve("intel_power")
        self.assertGreaterEqual(len(curve), 3)
        self.assertEqual([c["date"] for c in curve], sorted(c["date"] for c in curve))
        # Per process: this one and the child, with its CPU time.
        procs = {p["pid"]: p for p in res.processes}
        self.assertIn(os.getpid(), procs)
        self.assertIn(child_pid, procs)
        self.assertGreater(procs[child_pid]["cpu_time_s"], 0.2)
        self.assertIn("aipm-child", procs[child_pid]["command"])
        self.assertGreater(procs[child_pid]["peak_rss_b"], 0)
        self.assertAlmostEqual(sum(p["attributed_energy_j"] for p in res.processes),
                               res.reports[0]["attribution"]["total_energy_j"], places=6)
        totals = res.totals()
        self.assertAlmostEqual(totals["intel_power"], 22.0, places=6)

    def test_continue_or_start_afresh(self):
        from wattprof.aipowermeter import experiment
        self.record("exp", 10.0)
        driver, _ = self.record("exp", 30.0, cont=True)
        res = experiment.ExpResults(driver)
        self.assertEqual(len(res.reports), 2)
        self.assertAlmostEqual(res.total_("intel_power"), 11.0 + 33.0, places=6)
        driver, _ = self.record("exp", 5.0)  # cont=False: the folder afresh
        self.assertAlmostEqual(experiment.ExpResults(driver).total_("intel_power"), 5.5,
                               places=6)

    def test_empty_or_damaged_folder_named(self):
        from wattprof.aipowermeter import experiment, parsers
        with self.assertRaises(FileNotFoundError) as e:
            experiment.ExpResults(parsers.JsonParser("nothing"))
        self.assertIn("nothing", str(e.exception))
        os.makedirs("bad")
        with open("bad/power_metrics.json", "w") as f:
            f.write('{"date_time": "2026-01-01T00:00:00", "interval_s"\n')
        with self.assertRaises(ValueError) as e:
            experiment.ExpResults(parsers.JsonParser("bad"))
        self.assertIn("power_metrics.json' line 1", str(e.exception))
        with self.assertRaises(ValueError):
            experiment.Experiment(parsers.JsonParser("x")).measure_yourself(period=0)

    def test_model_described(self):
        from wattprof.aipowermeter import experiment, parsers

        class Param:
            def __init__(self, n):
                self.n = n

            def numel(self):
                return self.n

        class TinyModel:
            def parameters(self):
                return [Param(100), Param(20)]

        driver = parsers.JsonParser("m")
        exp = experiment.Experiment(driver, model=TinyModel(), input_size=(1, 3, 32, 32))
        p, q = exp.measure_yourself(period=0.1)
        time.sleep(0.15)
        q.put(experiment.STOP_MESSAGE)
        p.join()
        rep = experiment.ExpResults(driver).reports[0]
        self.assertEqual(rep["model"], {"input_size": [1, 3, 32, 32], "nb_parameters": 120,
                                        "model": "TinyModel"})


if __name__ == "__main__":
    unittest.main()
