"""AIPowerMeter's API (deep_learning_power_measure.power_measure) over
wattprof: experiment.Experiment records in the background until told to
stop, experiment.ExpResults reads the results, parsers.JsonParser keeps them
in a folder.  docs/python.md maps it."""
