"""The package builds offline with its own PEP 517 backend (wp_build.py):
the wheel holds every module, its RECORD's hashes are right, and the
package imports from the unpacked wheel."""
import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import wp_build  # noqa: E402


class WheelTest(unittest.TestCase):
    def test_wheel_is_complete_and_imports(self):
        with tempfile.TemporaryDirectory() as d:
            name = wp_build.build_wheel(d)
            self.assertEqual(name, "wattprof-0.1.0-py3-none-any.whl")
            z = zipfile.ZipFile(os.path.join(d, name))
            names = set(z.namelist())
            pkg = os.path.join(os.path.dirname(HERE), "wattprof")
            for base, dirs, files in os.walk(pkg):
                dirs[:] = [x for x in dirs if x != "__pycache__"]
                for f in files:
                    if f.endswith(".py"):
                        rel = os.path.relpath(os.path.join(base, f), os.path.dirname(pkg))
                        self.assertIn(rel, names)
            record = z.read("wattprof-0.1.0.dist-info/RECORD").decode().splitlines()
            self.assertEqual(len(record), len(names))
            for line in record:
                arc, digest, size = line.rsplit(",", 2)
                if arc.endswith("RECORD"):
                    continue
                data = z.read(arc)
                want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                self.assertEqual(digest, "sha256=" + want.decode(), arc)
                self.assertEqual(int(size), len(data), arc)
            z.extractall(os.path.join(d, "site"))
            p = subprocess.run([sys.executable, "-c",
                                "import wattprof; print(wattprof.library_version())"],
                               cwd=d, env=dict(os.environ, PYTHONPATH=os.path.join(d, "site")),
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.strip(), "0.1.0")

    def test_sdist_and_requirements(self):
        self.assertEqual(wp_build.get_requires_for_build_wheel(), [])
        with tempfile.TemporaryDirectory() as d:
            import tarfile
            name = wp_build.build_sdist(d)
            members = tarfile.open(os.path.join(d, name)).getnames()
            self.assertIn("wattprof-0.1.0/pyproject.toml", members)
            self.assertIn("wattprof-0.1.0/wattprof/meter.py", members)
            self.assertIn("wattprof-0.1.0/PKG-INFO", members)


if __name__ == "__main__":
    unittest.main()
