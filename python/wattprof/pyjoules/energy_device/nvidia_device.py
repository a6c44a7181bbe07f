"""pyJoules's NVIDIA domain: GPU `index` (nvidia_gpu_N in wattprof, read
through NVML)."""
from . import Domain


class NvidiaGPUDomain(Domain):
    DEVICE = "nvidia"

    def wattprof_name(self):
        return f"nvidia_gpu_{self.device_id}"


class NvidiaGPUDevice:
    @staticmethod
    def available_domains():
        from ...meter import Meter
        with Meter() as m:
            return [NvidiaGPUDomain(int(d.name.rsplit("_", 1)[1])) for d in m.domains
                    if d.name.startswith("nvidia_gpu_")]
