"""The measurement tool of the GPU power-capping document
(../shared/seeds/003_*.txt): each example run with its import changed
(from measurement import ... -> from wattprof.gpucap.measurement import ...)
on a simulated powercap tree, a coretemp chip and the fake NVML (one GPU at
a constant 100 W, 50 % busy, 45 C).  The first two examples run in a child
Python, as a program would: the tool writes its CSV when the program exits.

The layerwise tool runs on real PyTorch where it is installed (the GPU
machine; Debian's python3-torch elsewhere), and its apportioning is tested
directly everywhere."""
import csv
import math
import os
import subprocess
import sys
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from fake_sysfs import SimTest  # noqa: E402

from wattprof.gpucap.measurement import apportion  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

GPU_W = 100.0
J_PER_KWH = 3.6e6

# The child's prologue: the functions the examples call.  train() burns
# 36 J in package 0 and 18 J in package 1, test() 3.6 J in package 0.
PROLOGUE = textwrap.dedent("""
    import os, sys, time
    sys.path[:0] = [{pkg!r}, {here!r}]
    from fake_sysfs import FakeRapl
    rapl = FakeRapl.attach({root!r})
    num_epochs = 3
    def train():
        rapl.add("intel-rapl:0", 36.0)
        rapl.add("intel-rapl:1", 18.0)
        time.sleep({train_s})
    def test():
        rapl.add("intel-rapl:0", 3.6)
""")


class GpuCapExamples(SimTest, unittest.TestCase):
    def setUp(self):
        super().setUp()
        self.need_gpu()
        os.environ["FAKE_NVML"] += ";util.0=50;temp.0=45"
        self.rapl.cpu_temp(61)

    def run_child(self, example, train_s=0.05):
        code = PROLOGUE.format(pkg=os.path.dirname(HERE), here=HERE, root=self.rapl.root,
                               train_s=train_s) + textwrap.dedent(example)
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    @staticmethod
    def read(path):
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        return rows[0], [[float(v) if v else math.nan for v in r] for r in rows[1:]]

    def test_energy_measurement_tool(self):
        self.run_child("""
            from wattprof.gpucap.measurement import EnergyMeasurementTool
            tracker = EnergyMeasurementTool(out_file='test_energy_measurement_tool.csv',gpu_num=0)
            for epoch in range(num_epochs):
                tracker.start()
                train()
                test()
                tracker.stop()
        """)
        header, rows = self.read("test_energy_measurement_tool.csv")
        self.assertEqual(header, ["elapsed time (s)", "CPU energy (kWh)", "GPU energy (kWh)"])
        self.assertEqual(len(rows), 3)
        for t, cpu, gpu in rows:
            self.assertGreaterEqual(t, 0.05)
            self.assertAlmostEqual(cpu * J_PER_KWH, 36.0 + 18.0 + 3.6, places=9)
            want = GPU_W * t
            self.assertAlmostEqual(gpu * J_PER_KWH, want, delta=0.002 + 0.01 * want)

    def test_asynchronous_measurement_tool(self):
        # interval 1 s, as the document; train() lasts 0.8 s: 2.4 s in all.
        self.run_child("""
            from wattprof.gpucap.measurement import AsynchronousMeasurementTool
            tracker = AsynchronousMeasurementTool(out_file='test_asynchronous_measurement_tool.csv',gpu_num=0)
            tracker.start(1)
            for epoch in range(num_epochs):
                train()
                test()
            tracker.stop()
        """, train_s=0.8)
        header, rows = self.read("test_asynchronous_measurement_tool.csv")
        self.assertEqual(header, ["elapsed time (s)", "CPU energy (kWh)", "CPU utilisation (%)",
                                  "CPU temp (C)", "GPU energy (kWh)", "GPU utilisation (%)",
                                  "GPU temp (C)", "GPU power (W)"])
        self.assertGreaterEqual(len(rows), 3)  # at 1, 2 s and the stop
        times = [r[0] for r in rows]
        self.assertEqual(times, sorted(times))
        self.assertAlmostEqual(times[0], 1.0, delta=0.25)  # the first reading, 1 s in
        # The intervals' energies add up to what was burnt, exactly.
        self.assertAlmostEqual(sum(r[1] for r in rows) * J_PER_KWH, 3 * (36 + 18 + 3.6), places=6)
        gpu_j = sum(r[4] for r in rows) * J_PER_KWH
        self.assertAlmostEqual(gpu_j, GPU_W * times[-1], delta=0.01 * GPU_W * times[-1] + 0.01)
        for r in rows:
            self.assertAlmostEqual(r[7], GPU_W, delta=1.0)  # GPU power
            if not math.isnan(r[5]):  # a reading on this row
                self.assertEqual((r[3], r[5], r[6]), (61.0, 50.0, 45.0))
            self.assertTrue(math.isnan(r[2]) or 0 <= r[2] <= 100)
        self.assertFalse(math.isnan(rows[0][5]))

    def test_unknown_gpu_named(self):
        from wattprof.gpucap.measurement import EnergyMeasurementTool
        with self.assertRaises(ValueError) as e:
            EnergyMeasurementTool(out_file="x.csv", gpu_num=3)
        self.assertIn("nvidia_gpu_3", str(e.exception))
        self.assertIn("nvidia_gpu_0", str(e.exception))  # what there is


class Apportion(unittest.TestCase):
    """The layerwise tool's arithmetic, without PyTorch."""

    def test_shares_by_time(self):
        got = apportion(100.0, {"conv": (3.0, 3), "fc": (1.0, 1), "unused": (0.0, 0)})
        self.assertEqual(got["conv"], 25.0)  # 75 J over 3 calls
        self.assertEqual(got["fc"], 25.0)
        self.assertTrue(math.isnan(got["unused"]))
        # Per call x calls adds up to the energy measured.
        self.assertAlmostEqual(got["conv"] * 3 + got["fc"] * 1, 100.0)

    def test_nothing_to_share(self):
        self.assertTrue(math.isnan(apportion(100.0, {"a": (0.0, 2)})["a"]))
        self.assertTrue(math.isnan(apportion(math.nan, {"a": (1.0, 1)})["a"]))
        self.assertEqual(apportion(0.0, {"a": (1.0, 4)})["a"], 0.0)


@unittest.skipIf(torch is None, "PyTorch is not installed (the GPU machine has it; Debian: "
                 "apt-get install python3-torch): the apportioning is tested above")
class LayerwiseWithTorch(SimTest, unittest.TestCase):
    def test_document_example(self):
        from wattprof.gpucap.measurement import LayerwiseMeasurementTool
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(),
                                    torch.nn.Linear(256, 10))
        data = torch.randn(32, 64)
        target = torch.randint(0, 10, (32,))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        num_epochs = 4

        def train():
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(data), target)
            loss.backward()
            optimizer.step()
            self.rapl.add("intel-rapl:0", 2.0)

        tracker = LayerwiseMeasurementTool('test_layerwise_measurement_tool.csv', 0)
        model = tracker.start(model)
        for epoch in range(num_epochs):
            train()
        tracker.stop()

        with open("test_layerwise_measurement_tool.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual([r["layer"] for r in rows], ["0", "1", "2"])
        for r in rows:
            self.assertEqual(int(r["calls"]), num_epochs)
            self.assertGreater(float(r["time (s)"]), 0)
        # The energy shared is the GPU's where one is measured, else the
        # packages' (8 J burnt); the shares add up to it.
        shared = sum(float(r["average energy (J)"]) * int(r["calls"]) for r in rows)
        self.assertAlmostEqual(shared, tracker.energy_j, places=9)
        if not os.environ.get("WATTPROF_FAKENVML"):
            self.assertEqual(tracker.energy_j, 8.0)
        # The hooks are gone: the model runs as before, untimed.
        model(data)
        self.assertEqual(tracker.times["0"][1], num_epochs)


if __name__ == "__main__":
    unittest.main()
