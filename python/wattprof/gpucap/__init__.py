"""The GPU power-capping thesis tool's API (../shared/seeds/003) over
wattprof: gpucap.measurement (EnergyMeasurementTool,
AsynchronousMeasurementTool, LayerwiseMeasurementTool).  docs/python.md
maps it."""
