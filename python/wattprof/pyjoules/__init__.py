"""wattprof.pyjoules - pyJoules's API (energy_meter, energy_device,
energy_handler) over wattprof's Meter: a pyJoules script runs with only its
import lines changed ("from pyJoules.energy_meter import measureit" becomes
"from wattprof.pyjoules.energy_meter import measureit").  What is identical
and what differs: docs/python.md.
"""
