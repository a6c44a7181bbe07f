"""run.py - runs the Python binding's tests with the standard library's
unittest and prints the suite's summary line as the C runner does
("N passed, N failed, N skipped"), also into the file given as argv[1]
(make test adds the lines up).  Skipped tests say why (unittest prints the
reason with -v)."""
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(here))
suite = unittest.defaultTestLoader.discover(here, pattern="test_*.py")
result = unittest.TextTestRunner(verbosity=2).run(suite)
failed = len(result.failures) + len(result.errors)
skipped = len(result.skipped)
passed = result.testsRun - failed - skipped
line = f"{passed} passed, {failed} failed, {skipped} skipped"
print("python: " + line)
if len(sys.argv) > 1:
    with open(sys.argv[1], "w") as f:
        f.write(line + "\n")
sys.exit(1 if failed else 0)
