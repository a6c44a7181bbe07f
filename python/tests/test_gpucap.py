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
import signal
import subprocess
import sys
import textwrap
import time
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



# The profiler's workload: a model whose batch takes T0 / s(cap) at the cap in
# force (the fake NVML's state file says which), with s as in the C tests:
# ((cap - 180) / (700 - 180))^0.2; ED2P's optimum is 450 W, 70 W from the
# caps tried.
BATCH_T0 = 0.01


class CappedModel:
    """unset_w: the fake's configured limit, in force while its state file
    does not exist (nothing was set)."""

    def __init__(self, state_file, unset_w=650.0):
        self.state_file = state_file
        self.unset_w = unset_w
        self.calls = 0

    def cap(self):
        try:
            with open(self.state_file) as f:
                for line in f:
                    if line.startswith("limit_mw.0="):
                        return int(line.split("=")[1]) / 1000
        except FileNotFoundError:
            pass
        return self.unset_w

    def __call__(self, x):
        import time
        self.calls += 1
        time.sleep(BATCH_T0 / ((min(self.cap(), 700) - 180) / 520) ** 0.2)
        return x


class Loss:
    def backward(self):
        pass


class Optimizer:
    def zero_grad(self):
        pass

    def step(self):
        pass


class ProfilerExamples(SimTest, unittest.TestCase):
    def setUp(self):
        super().setUp()
        self.need_gpu()
        self.nvml_state = os.path.join(self.dir, "nvml.state")
        os.environ["FAKE_NVML"] = (f"gpus=1;state_file={self.nvml_state};capped.0=1;amp_w.0=0;"
                                   "base_w.0=700;update_ms.0=0;limit_w.0=650")
        os.environ["WATTPROF_POWERCAP_STATE"] = os.path.join(self.dir, "powercap.state")
        self.model = CappedModel(self.nvml_state)

    def test_document_example(self):
        from wattprof.gpucap.profiler import power_cap_profiler, set_power_cap, reset_power_cap
        model, trainloader = self.model, [(1, 0)] * 10
        criterion, optimizer = (lambda out, y: Loss()), Optimizer()

        # Profiling (the document's call; a short time per cap for the test)
        optimal_cap = power_cap_profiler(gpu_num=0, model=model, dataloader=trainloader,
                                         train=True, loss_fn=criterion, optimizer=optimizer,
                                         out_file='test_power_cap_profiler.csv',
                                         duration_s=0.25, warmup_batches=1)
        self.assertLessEqual(abs(optimal_cap - 450), 70, optimal_cap)
        self.assertEqual(model.cap(), 650)  # the limit found, back
        self.assertFalse(os.path.exists(os.environ["WATTPROF_POWERCAP_STATE"]))
        with open("test_power_cap_profiler.csv", newline="") as f:
            rows = list(csv.reader(f))
        self.assertEqual(rows[0][:4], ["power cap (W)", "batches", "time per batch (s)",
                                       "energy per batch (J)"])
        caps = [float(r[0]) for r in rows[1:9]]
        self.assertEqual(caps, [700 - 70 * k for k in range(8)])
        for r in rows[1:9]:
            cap, per_batch, energy = float(r[0]), float(r[2]), float(r[3])
            truth = BATCH_T0 / ((cap - 180) / 520) ** 0.2
            self.assertAlmostEqual(per_batch, truth, delta=0.3 * truth + 0.002)
            self.assertAlmostEqual(energy, cap * per_batch, delta=0.02 * cap * per_batch)
        self.assertEqual(float(rows[10][1]), optimal_cap)

        # Real training run
        set_power_cap(gpu_num=0, cap=optimal_cap)
        self.assertEqual(model.cap(), optimal_cap)
        with open(os.environ["WATTPROF_POWERCAP_STATE"]) as f:
            self.assertIn("nvidia_gpu_0 power 650000000 ", f.read())
        reset_power_cap(gpu_num=0)
        self.assertEqual(model.cap(), 650)
        self.assertFalse(os.path.exists(os.environ["WATTPROF_POWERCAP_STATE"]))

    def test_refused_without_permission(self):
        from wattprof.gpucap.profiler import power_cap_profiler, set_power_cap
        os.environ["FAKE_NVML"] += ";root=0"
        with self.assertRaises(PermissionError) as e:
            power_cap_profiler(gpu_num=0, model=self.model, dataloader=[(1, 0)], train=False,
                               duration_s=0.1)
        self.assertIn("root", str(e.exception))
        self.assertEqual(self.model.calls, 0)  # nothing ran
        with self.assertRaises(PermissionError):
            set_power_cap(gpu_num=0, cap=300)
        self.assertFalse(os.path.exists(self.nvml_state))  # no limit was ever set
        self.assertFalse(os.path.exists(os.environ["WATTPROF_POWERCAP_STATE"]))
        with self.assertRaises(LookupError):
            power_cap_profiler(gpu_num=5, model=self.model, dataloader=[(1, 0)], train=False)

    def test_limit_back_after_each_signal(self):
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            with self.subTest(signal=sig):
                self.limit_back_after(sig)

    def limit_back_after(self, sig):
        code = textwrap.dedent(f"""
            import sys
            sys.path[:0] = [{os.path.dirname(HERE)!r}, {HERE!r}]
            from test_gpucap import CappedModel
            from wattprof.gpucap.profiler import power_cap_profiler
            print("start", flush=True)
            power_cap_profiler(gpu_num=0, model=CappedModel({self.nvml_state!r}),
                               dataloader=[(1, 0)], train=False, duration_s=30)
        """)
        # (stderr kept: the SIGINT child prints its KeyboardInterrupt there)
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.assertEqual(p.stdout.readline().strip(), "start")
        for _ in range(500):  # until the first cap (700 W) is set
            if self.model.cap() == 700:
                break
            time.sleep(0.01)
        self.assertEqual(self.model.cap(), 700)
        p.send_signal(sig)
        # Ended by the signal (SIGINT too: Python ends an uncaught
        # KeyboardInterrupt by SIGINT).
        self.assertEqual(p.wait(timeout=30), -sig, p.stderr.read())
        p.stdout.close()
        p.stderr.close()
        self.assertEqual(self.model.cap(), 650)
        self.assertFalse(os.path.exists(os.environ["WATTPROF_POWERCAP_STATE"]))

    @unittest.skipIf(torch is None, "PyTorch is not installed (the GPU machine has it; "
                     "Debian: apt-get install python3-torch)")
    def test_profiler_with_torch_training(self):
        """The profiler driving a real PyTorch training loop (on the CPU; the
        energy is the fake GPU's, held to each cap)."""
        from wattprof.gpucap.profiler import power_cap_profiler
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(),
                                    torch.nn.Linear(64, 4))
        data = [(torch.randn(16, 32), torch.randint(0, 4, (16,))) for _ in range(4)]
        before = [p.detach().clone() for p in model.parameters()]
        cap = power_cap_profiler(gpu_num=0, model=model, dataloader=data, train=True,
                                 loss_fn=torch.nn.CrossEntropyLoss(),
                                 optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
                                 out_file="torch.csv", caps=3, duration_s=0.1,
                                 warmup_batches=1)
        self.assertIn(cap, range(210, 701))
        self.assertTrue(any((a != b).any() for a, b in zip(before, model.parameters())))
        self.assertEqual(self.model.cap(), 650)  # back

    def test_native_limits(self):
        import wattprof.powercap as pc
        (gpu,) = [l for l in pc.power_limits() if l.kind == "gpu"]
        self.assertEqual((gpu.device, gpu.constraint, gpu.power_w, gpu.default_w, gpu.min_w,
                          gpu.max_w, gpu.original_w), ("nvidia_gpu_0", "power", 650, 700, 200,
                                                       700, None))
        self.assertEqual(pc.set_power_limit("nvidia_gpu_0", 300), 650)
        (gpu,) = [l for l in pc.power_limits() if l.kind == "gpu"]
        self.assertEqual((gpu.power_w, gpu.original_w), (300, 650))
        with self.assertRaises(ValueError) as e:
            pc.set_power_limit("nvidia_gpu_0", 50)
        self.assertIn("200 to 700 W", str(e.exception))
        self.assertEqual(pc.reset_power_limit("nvidia_gpu_0"), 650)
        self.assertEqual(pc.reset_power_limit("nvidia_gpu_0"), 700)  # no record: the default
        m = pc.cap_model([(700, 1.0, 700), (400, 1.2, 480), (200, 2.0, 400)], "energy")
        self.assertGreaterEqual(m.recommended_cap_w, 200)
        self.assertEqual(pc.cap_plan(700, 200, 700, 3), [700, 455, 210])


if __name__ == "__main__":
    unittest.main()
