"""The perun document's decorator example (../shared/seeds/002_*.txt), with
its import changed (import perun -> import wattprof.perun as perun), and
perun's options from the decorator, PERUN_* variables and .perun.ini (the
document's own example file), on a simulated powercap tree: the reports
written to data_out and the runs stored there hold the energy put in."""
import json
import os
import subprocess
import sys
import textwrap
import types
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from fake_sysfs import SimTest  # noqa: E402

import wattprof  # noqa: E402


class PerunExamples(SimTest, unittest.TestCase):
    zones = (("intel-rapl:0", "package-0"),)
    gpu = False  # the package alone: its energy is the whole run's

    def world(self):
        """What the document's training_loop is called with: 3 epochs of a
        train() burning 5 J and a test() burning 1 J."""
        calls = []

        def train(args, model, device, train_loader, optimizer, epoch):
            calls.append(("train", epoch))
            self.rapl.add("intel-rapl:0", 5.0)

        def test(model, device, test_loader):
            calls.append(("test",))
            self.rapl.add("intel-rapl:0", 1.0)

        scheduler = types.SimpleNamespace(steps=0)
        scheduler.step = lambda: setattr(scheduler, "steps", scheduler.steps + 1)
        args = types.SimpleNamespace(epochs=3)
        return train, test, scheduler, args, calls

    def test_document_decorator(self):
        import wattprof.perun as perun
        train, test, scheduler, args, calls = self.world()

        @perun.monitor(data_out="results/", format="txt")
        def training_loop(args, model, device, train_loader, test_loader, optimizer, scheduler):
            for epoch in range(1, args.epochs + 1):
                train(args, model, device, train_loader, optimizer, epoch)
                test(model, device, test_loader)
                scheduler.step()

        training_loop(args, None, "cpu", [], [], None, scheduler)
        self.assertEqual(scheduler.steps, 3)
        self.assertEqual(len(calls), 6)
        run = perun.last_run()
        self.assertEqual(run.report_path, os.path.join("results/", "training_loop_1.txt"))
        with open(run.report_path) as f:
            text = f.read()
        self.assertIn("package_0", text)
        self.assertIn("18 J", text)  # 3 x (5 + 1)
        (stored,) = wattprof.Store("results/wattprof.db", create=False).runs()
        self.assertEqual((stored.name, stored.cpu_j, stored.tags), ("training_loop", 18.0,
                                                                     {"tool": "perun"}))
        self.assertEqual(stored.report["sampling"]["freq_hz"], 10)  # wattprof's default

    def test_regions_and_json(self):
        import wattprof.perun as perun

        @perun.monitor()
        def train_epoch(j):
            self.rapl.add("intel-rapl:0", j)
            inner()  # a region inside a region is part of it

        @perun.monitor("evaluate")
        def inner():
            self.rapl.add("intel-rapl:0", 0.5)

        @perun.perun(data_out="out", format="json", app_name="exp")
        def main():
            train_epoch(2.0)
            train_epoch(3.0)
            self.rapl.add("intel-rapl:0", 0.25)  # outside any region
            return "done"

        self.assertEqual(main(), "done")
        inner()  # no measurement running: measured whole, on its own
        with open("out/exp_1.json") as f:
            rep = json.load(f)
        self.assertEqual([(g["tag"], g["energy_j"]["package_0"]) for g in rep["regions"]],
                         [("train_epoch", 2.5), ("train_epoch", 3.5)])
        self.assertEqual(rep["total_energy_j"], 6.25)
        ids = wattprof.Store("out/wattprof.db").ids()
        self.assertEqual(ids, [1])  # the lone inner() went to the configured database
        self.assertEqual(perun.last_run().report["total_energy_j"], 0.5)

    def test_options_from_environment_and_ini(self):
        import wattprof.perun as perun
        # The document's .perun.ini, as written (its commas and # comments).
        with open(".perun.ini", "w") as f:
            f.write("[report]\nformat = txt\npue = 1.58\n"
                    "emissions-factor = 0.355, # kgCO2eq/kWh - source https://www.nowtricity.com/"
                    "country/germany/\n"
                    "price-factor = 41.59, # cent/kWh - source: https://www.stromauskunft.de/\n"
                    "\n[monitor]\nfrequency = 1\ndata_out = ./results\n\n[perun]\nlog_lvl = WARN\n")
        os.environ["PERUN_FORMAT"] = "yaml"  # the environment over the file

        @perun.monitor()
        def work():
            self.rapl.add("intel-rapl:0", 3.6e6)  # 1 kWh

        work()
        run = perun.last_run()
        self.assertTrue(run.report_path.endswith(".yaml"))
        self.assertEqual(os.path.dirname(run.report_path), "./results")
        c = run.report["carbon"]
        self.assertEqual(c["pue"], 1.58)
        self.assertAlmostEqual(c["emissions_factor_g_per_kwh"], 355.0)
        self.assertAlmostEqual(c["price_factor"], 0.4159)
        self.assertEqual(c["price_unit"], "EUR")
        self.assertAlmostEqual(c["co2e_g"], 1.0 * 1.58 * 355.0, places=6)
        self.assertAlmostEqual(c["cost"], 1.0 * 1.58 * 0.4159, places=9)
        self.assertEqual(run.report["sampling"]["freq_hz"], 1)
        try:
            import yaml
        except ImportError:
            yaml = None
        if yaml is not None:
            with open(run.report_path) as f:
                self.assertEqual(yaml.safe_load(f)["total_energy_j"], 3.6e6)

    def cli(self, *args):
        env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE))
        return subprocess.run([sys.executable, "-m", "wattprof.perun", *args], env=env,
                              capture_output=True, text=True, timeout=60)

    def test_document_command_lines(self):
        """`perun monitor --format yaml path/to/your/script.py [args]` and
        `python -m perun monitor --format json -o results/ ...`, as
        `python -m wattprof.perun ...`: the script is run with its
        arguments, measured, and its report printed and written."""
        os.makedirs("path/to/your")
        with open("path/to/your/script.py", "w") as f:
            f.write(textwrap.dedent(f"""
                import sys
                sys.path.insert(0, {HERE!r})
                from fake_sysfs import FakeRapl
                rapl = FakeRapl.attach({self.rapl.root!r})
                rapl.add("intel-rapl:0", 4.5 * len(sys.argv[1:]))
                print("args:", sys.argv[1:])
            """))
        r = self.cli("monitor", "--format", "yaml", "path/to/your/script.py", "a", "b")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("args: ['a', 'b']", r.stdout)
        try:
            import yaml
        except ImportError:
            yaml = None
        report_text = r.stdout.split("args: ['a', 'b']\n", 1)[1]
        if yaml is not None:
            rep = yaml.safe_load(report_text)
            self.assertEqual(rep["total_energy_j"], 9.0)
            self.assertEqual(rep["command"], ["path/to/your/script.py", "a", "b"])
        self.assertTrue(os.path.exists("perun_results/script_1.yaml"))
        r = self.cli("monitor", "--format", "json", "-o", "results/", "path/to/your/script.py",
                     "x")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open("results/script_1.json") as f:
            self.assertEqual(json.load(f)["total_energy_j"], 4.5)
        # report: the last run of a data_out folder; showconf: the options.
        r = self.cli("report", "--format", "json", "results/")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["total_energy_j"], 4.5)
        r = self.cli("report", "results/", "7")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no run 7", r.stderr)
        r = self.cli("--format", "yaml", "showconf")
        self.assertIn("[report]\nformat = yaml", r.stdout)
        r = self.cli("showconf", "--default")
        self.assertIn("format = txt", r.stdout)
        r = self.cli("monitor", "missing.py")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no script 'missing.py'", r.stderr)

    def test_bad_options_named(self):
        import wattprof.perun as perun

        @perun.monitor(format="xml")
        def a():
            pass

        with self.assertRaises(ValueError) as e:
            a()
        self.assertIn("'xml'", str(e.exception))
        os.environ["PERUN_PUE"] = "high"

        @perun.monitor()
        def b():
            pass

        with self.assertRaises(ValueError) as e:
            b()
        self.assertIn("PERUN_PUE", str(e.exception))


if __name__ == "__main__":
    unittest.main()
