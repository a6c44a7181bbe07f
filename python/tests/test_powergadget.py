"""The PyPowerGadget document's examples (../shared/seeds/001_*.txt), with
their import lines changed (PyPowerGadget -> wattprof.powergadget), on a
simulated powercap tree with a core (IA) zone, and the fake NVML.  The
logged table's figures are checked against the energy put in: 36 J into
the package is 10 mWh.

Two fixes to the document's code, which does not run as written: its
placeholders (<your_function> ...) are given values, and the comma missing
after data_shape=<your_data>.shape is put back."""
import math
import os
import pwd
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from fake_sysfs import SimTest  # noqa: E402
from test_run import factor  # noqa: E402


class Data:
    shape = (7000, 64)


class PowerGadgetExamples(SimTest, unittest.TestCase):
    zones = (("intel-rapl:0", "package-0"), ("intel-rapl:0:0", "core"),
             ("intel-rapl:0:1", "dram"))

    def setUp(self):
        super().setUp()
        with open(".wattprof.ini", "w") as f:
            f.write("[report]\ncountry = FR\npue = 1.3\n")

    def train(self, x, y):
        self.rapl.add("intel-rapl:0", 36.0)     # 10 mWh
        self.rapl.add("intel-rapl:0:0", 7.2)    # 2 mWh of it in the cores
        self.rapl.add("intel-rapl:0:1", 3.6)    # 1 mWh
        return x + y

    def rows(self, logged):
        """The log as dicts, whether pandas made a DataFrame of it or not."""
        if isinstance(logged, list):
            return logged
        return logged.to_dict("records")

    def test_document_example(self):
        from wattprof.powergadget import PowerMeter
        _your_function, _your_data = self.train, Data()

        power_meter = PowerMeter(project_name="MNIST classifier")
        result_of_your_function = power_meter.mesure_power(
            _your_function,
            package="sklearn",
            algorithm="RandomForestClassifier",
            data_type="tabular",
            data_shape=_your_data.shape,
            algorithm_params="n_estimators=300, max_depth=15",
            comments="Classifier trained on the MNIST dataset, 3rd test"
        )(40, 2)
        self.assertEqual(result_of_your_function, 42)

        import wattprof.powergadget as PyPowerGadget
        logged_data = PyPowerGadget.get_logged_data()
        (row,) = self.rows(logged_data)
        if not isinstance(logged_data, list):
            self.assertEqual(list(logged_data.columns), PyPowerGadget.COLUMNS)
        self.assertEqual(list(row), PyPowerGadget.COLUMNS)
        self.assertEqual(row["Project name"], "MNIST classifier")
        self.assertEqual(row["User ID"], pwd.getpwuid(os.geteuid()).pw_name)  # the login name
        self.assertEqual((row["ISO"], row["Country"]), ("FR", "France"))
        self.assertTrue(row["Platform"].startswith("Linux"))
        self.assertAlmostEqual(row["Cumulative Package Energy (mWh)"], 10.0, places=9)
        self.assertAlmostEqual(row["Cumulative IA Energy (mWh)"], 2.0, places=9)
        self.assertAlmostEqual(row["Cumulative DRAM Energy (mWh)"], 1.0, places=9)
        self.assertEqual(row["PUE"], 1.3)
        duration = row["Total Elapsed CPU Time (sec)"]
        self.assertGreater(duration, 0)
        gpu_mwh = row["Cumulative GPU Energy (mWh)"]
        if os.environ.get("WATTPROF_FAKENVML"):
            self.assertEqual(row["Total Elapsed GPU Time (sec)"], duration)
            self.assertAlmostEqual(gpu_mwh, self.gpu_w * duration / 3.6,
                                   delta=0.002 + 0.01 * gpu_mwh)
        else:
            self.assertTrue(math.isnan(gpu_mwh))  # not measured is not 0
        # The core is inside the package: counted once.
        kwh = (10.0 + 1.0 + (0 if math.isnan(gpu_mwh) else gpu_mwh)) / 1e6
        self.assertAlmostEqual(row["CO2 emitted (gCO2e)"], kwh * 1.3 * factor("FR"),
                               delta=1e-6 * row["CO2 emitted (gCO2e)"])
        self.assertEqual((row["Package"], row["Algorithm"], row["Algorithm's parameters"],
                          row["Data type"], row["Data shape"], row["Comment"]),
                         ("sklearn", "RandomForestClassifier", "n_estimators=300, max_depth=15",
                          "tabular", "(7000, 64)",
                          "Classifier trained on the MNIST dataset, 3rd test"))

    def test_spelled_right_user_and_world_average(self):
        from wattprof.powergadget import PowerMeter, get_logged_data
        pm = PowerMeter(project_name="p2", user_name="martin", get_country=False)
        self.assertEqual(pm.measure_power(self.train, package="torch", algorithm="ResNet",
                                          data_type="image")(1, 1), 2)
        pm.measure_power(self.train, package="torch", algorithm="ResNet")(1, 1)
        other = PowerMeter(project_name="other")
        other.mesure_power(self.train, package="x", algorithm="y")(0, 0)
        rows = self.rows(get_logged_data(project_name="p2"))
        self.assertEqual(len(rows), 2)
        self.assertEqual([r["User ID"] for r in rows], ["martin", "martin"])
        self.assertEqual([r["ISO"] for r in rows], ["", ""])  # the world average
        self.assertEqual(rows[0]["Data type"], "image")
        self.assertEqual(len(self.rows(pm.get_logged_data())), 3)  # the whole log
        self.assertLess(rows[0]["Datetime"], rows[1]["Datetime"])

    def test_bad_description_refused_and_function_not_run(self):
        from wattprof.powergadget import PowerMeter, get_logged_data
        ran = []
        pm = PowerMeter(project_name="p")
        with self.assertRaises(ValueError) as e:
            pm.mesure_power(lambda: ran.append(1), package="p", algorithm="a",
                            data_type="images")()
        self.assertIn("data_type 'images'", str(e.exception))
        self.assertEqual(ran, [])
        self.assertEqual(self.rows(get_logged_data()), [])  # an empty log, not an error


if __name__ == "__main__":
    unittest.main()
