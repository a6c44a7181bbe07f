/*
 * fake_nvml.h - the ground truth of the fake NVML (fake_nvml.c), which the
 * test suite builds as libnvidia-ml.so.1 and puts first in LD_LIBRARY_PATH,
 * so that wattprof's NVML source (src/sensors/nvml.c) opens it as it would
 * open NVIDIA's library.  Tests include this header to know, in closed
 * form, what the fake reports; nothing here needs linking.
 *
 * A second build, fakenvml-old/libnvidia-ml.so.1 (WATTPROF_FAKENVML_OLD in
 * the tests, opened through WATTPROF_NVML_LIB), is a driver too old to have
 * anything but nvmlInit, nvmlShutdown, nvmlErrorString, nvmlDeviceGetCount,
 * nvmlDeviceGetHandleByIndex, nvmlDeviceGetName and nvmlDeviceGetPowerUsage
 * (and the fake_nvml_* helpers): the other symbols do not exist, which no=
 * cannot show.  Its configuration is the same.
 *
 * Configuration: the environment variable FAKE_NVML, read at every
 * nvmlInit_v2()/nvmlInit().  Unset or empty, init returns
 * NVML_ERROR_DRIVER_NOT_LOADED (a machine without NVIDIA's driver), which
 * keeps every other test hermetic.  Otherwise it is a list of key=value
 * items separated by ';'.  Per-GPU keys end in .N, the GPU's index.  A key
 * that is unknown, a value that does not parse or is out of range, or a .N
 * at or beyond gpus makes init return NVML_ERROR_INVALID_ARGUMENT and print
 * one line starting with "fake_nvml:" on stderr.
 *
 *   gpus=N            number of GPUs, 0..16 (1)
 *   init=RC           init returns this nvmlReturn_t, 0..999 (0)
 *   epoch_ns=T        CLOCK_MONOTONIC ns of the model's t = 0 (the first
 *                     successful init of the process)
 *   no=F1,F2          these functions return NVML_ERROR_FUNCTION_NOT_FOUND,
 *                     as if an old driver lacked them (any function of
 *                     WP_NVML_FUNCTIONS but nvmlInit*, nvmlShutdown and
 *                     nvmlErrorString)
 *   driver=S          nvmlSystemGetDriverVersion ("550.54.15")
 *   root=0|1          0: nvmlDeviceSetPowerManagementLimit returns
 *                     NVML_ERROR_NO_PERMISSION, as for a user who is not root (1)
 *   state_file=PATH   the power limits in force live in this file, shared by
 *                     every process of a test (as a driver's are by every
 *                     process of a machine): "limit_mw.N=MW" lines, read at
 *                     init and at every call on a GPU, written whole at every
 *                     nvmlDeviceSetPowerManagementLimit (none: each process
 *                     has its own)
 *   fail=F1:RC1,...   these functions return RC (1..999: NOT_SUPPORTED 3,
 *                     NO_PERMISSION 4, ...) instead of doing their work (the
 *                     same functions as no=)
 *
 *   name.N=S          ("NVIDIA H100 80GB HBM3")
 *   uuid.N=S          ("GPU-5a5a000N-0000-4000-8000-00000000000N", N in hex)
 *   arch.N=A          nvmlDeviceGetArchitecture (9, Hopper)
 *   energy.N=0|1      0: the energy counter is NVML_ERROR_NOT_SUPPORTED (1)
 *   instant.N=0|1     0: NVML_FI_DEV_POWER_INSTANT's per-field nvmlReturn is
 *                     NOT_SUPPORTED; the call itself succeeds (1)
 *   average.N=0|1     0: NVML_FI_DEV_POWER_AVERAGE likewise, and
 *                     nvmlDeviceGetPowerUsage returns NOT_SUPPORTED (1)
 *   base_w.N, amp_w.N, period_ms.N
 *                     the power model below (100 + 50 N, 40, 1000); period > 0
 *   update_ms.N       the power readings' refresh period (20); 0: continuous
 *   lose_ms.N         from t >= lose_ms / 1000 s on, every call on the GPU
 *                     returns NVML_ERROR_GPU_IS_LOST (never)
 *   limit_w.N, min_limit_w.N, max_limit_w.N, default_limit_w.N
 *                     power limits, W (700, 200, 700, 700); min <= max
 *   enforced_limit_w.N another limit on the board, W (none): the enforced
 *                     limit is the lowest of it and the limit set, which
 *                     nvmlDeviceGetPowerManagementLimit reports
 *   capped.N=0|1      1: the GPU draws min(base, the limit in force) (amp_w.N
 *                     must be 0): a workload that would draw base is held
 *                     to the cap.  The energy counter integrates it piecewise,
 *                     from each change of the limit this process sets or sees
 *                     in state_file (0)
 *   util.N, mem_util.N      % (50, 30)
 *   temp.N                  degrees C (45)
 *   mem_used.N, mem_total.N bytes (1 GiB, 80 GiB); used <= total
 *   sm_mhz.N                (1980)
 *   procs.N=PID:SM:BYTES[:KIND],...
 *                     processes on the GPU: SM utilisation %, device memory
 *                     held (bytes, or "na": NVML_VALUE_NOT_AVAILABLE) and
 *                     KIND, what it holds a context for: c compute (the
 *                     default), g graphics, cg both; at most
 *                     FAKE_NVML_MAX_PROCS (none)
 *   procs_file.N=PATH the same from a file, read again at every call of
 *                     nvmlDeviceGetProcessUtilization and
 *                     nvmlDeviceGet{Compute,Graphics}RunningProcesses_v3: one
 *                     line a process, "PID SM BYTES [KIND]" (blank lines
 *                     skipped); it replaces procs.N, and a file that does not
 *                     exist means no process.  For tests whose processes are
 *                     known only once they run; write it whole and rename()
 *                     it into place, as a reader may come at any time.  A bad
 *                     line makes those calls return NVML_ERROR_UNKNOWN and
 *                     say why on stderr
 *   sample_ms.N       the per-process utilisation sample period (1000/6)
 *   late.N=K          the last K processes start just after every sizing
 *                     call of those three functions (a NULL buffer, or a count
 *                     of 0), which therefore counts K fewer, as when processes
 *                     start between NVML's two calls (0)
 *   junk.N=0|1        1: nvmlDeviceGetProcessUtilization misbehaves as some
 *                     drivers do (nvtop issue #110, and its code's comment
 *                     on "timestamp results that are less recent than what
 *                     we were asking for"): it returns the last period's
 *                     samples whatever lastSeenTimeStamp, followed by pid
 *                     50554 with an SM figure of 37100 % stamped in the far
 *                     future and two zeroed entries (0)
 *
 * The power model, per GPU, t in seconds since epoch_ns (negative before):
 *
 *   P(t) = base + amp sin(2 pi t / period)                       W
 *
 * and what each reading reports at the time t of the call:
 *
 *   nvmlDeviceGetTotalEnergyConsumption   floor(1000 E(0, t)) mJ, exact at t
 *                                         (no sample and hold); 0 for t < 0
 *   NVML_FI_DEV_POWER_INSTANT             P(t_k), mW
 *   NVML_FI_DEV_POWER_AVERAGE and         A(t_k), the trailing 1 s average
 *   nvmlDeviceGetPowerUsage               over [t_k - 1, t_k], mW
 *
 * where t_k = floor(t / update) update is the last refresh (sample and
 * hold; fake_nvml_held_s()) and powers are rounded to the nearest mW, and
 * clamped at 0.  A field's timestamp is the CLOCK_REALTIME instant of t_k,
 * in us since 1970.  Keep amp <= base: a negative power would make the
 * energy counter run backwards.
 *
 * Processes.  nvmlDeviceGet{Compute,Graphics}RunningProcesses_v3 list the
 * processes of their kind as they are at the call, usedGpuMemory being
 * BYTES.  nvmlDeviceGetProcessUtilization behaves as drivers are seen to
 * (NVML reference, and the samples shown in go-nvml issue #51 and nvtop
 * issue #110): at the end of every sample period, t_s = floor(t / sample)
 * sample, the driver takes one sample per process whose SM figure is above
 * 0 (none for the others), smUtil = SM; each process is stamped at its own
 * time, here the j-th such process (in list order, from 0) at
 *
 *   timeStamp = CLOCK_REALTIME of t_s, in us, minus j
 *
 * (the conversion fixed when the configuration is installed, so a sample
 * keeps its time stamp from call to call).  A call returns the samples of
 * the last period whose timeStamp > lastSeenTimeStamp, and
 * NVML_ERROR_NOT_FOUND when there is none.
 *
 * A power limit set with nvmlDeviceSetPowerManagementLimit() outlives
 * nvmlShutdown(): like the driver's, it stays until the process ends or an
 * init finds FAKE_NVML changed, which installs the new configuration.
 */
#ifndef WATTPROF_FAKE_NVML_H
#define WATTPROF_FAKE_NVML_H

#include <math.h>

#define FAKE_NVML_MAX_GPUS 16
#define FAKE_NVML_MAX_PROCS 32
#define FAKE_NVML_PI 3.14159265358979323846

/* P(t), W. */
static inline double fake_nvml_power_w(double base_w, double amp_w, double period_s,
                                       double t_s)
{
	return base_w + amp_w * sin(2 * FAKE_NVML_PI * t_s / period_s);
}

/*
 * E(t0, t1), J: the integral of P over [t0, t1],
 * base (t1 - t0) + amp period / (2 pi) (cos(2 pi t0 / period) - cos(2 pi t1 / period)).
 */
static inline double fake_nvml_energy_j(double base_w, double amp_w, double period_s,
                                        double t0_s, double t1_s)
{
	double w = 2 * FAKE_NVML_PI / period_s;

	return base_w * (t1_s - t0_s) + amp_w / w * (cos(w * t0_s) - cos(w * t1_s));
}

/* A(t), W: the average of P over [t - 1, t], E(t - 1, t) / 1 s. */
static inline double fake_nvml_avg_power_w(double base_w, double amp_w, double period_s,
                                           double t_s)
{
	return fake_nvml_energy_j(base_w, amp_w, period_s, t_s - 1, t_s);
}

/* t_k, s: the refresh that a power reading at t reports; update 0 holds nothing. */
static inline double fake_nvml_held_s(double t_s, double update_s)
{
	return update_s > 0 ? floor(t_s / update_s) * update_s : t_s;
}

/*
 * The integral over [t0_s, t1_s] of fake_nvml_avg_power_w (what
 * nvmlDeviceGetPowerUsage reports), J, by Simpson's rule on 2000 steps.
 */
static inline double fake_nvml_avg_energy_j(double base_w, double amp_w, double period_s,
                                            double t0_s, double t1_s)
{
	int n = 2000;
	double h = (t1_s - t0_s) / n, sum = 0;

	for (int i = 0; i <= n; i++) {
		double w = i == 0 || i == n ? 1 : i % 2 ? 4 : 2;
		sum += w * fake_nvml_avg_power_w(base_w, amp_w, period_s, t0_s + i * h);
	}
	return sum * h / 3;
}

/*
 * Not NVML: how many times the NVML function named `fn` has been called in
 * this process, whatever it returned; -1 for a name the fake does not
 * implement.  A test in the runner's process finds it with
 * dlsym(dlopen("libnvidia-ml.so.1", RTLD_NOW), "fake_nvml_calls").
 */
int fake_nvml_calls(const char *fn);
typedef int (*fake_nvml_calls_fn)(const char *fn);

/* Not NVML: GPU `gpu` is lost from now on (as lose_ms), found the same way. */
void fake_nvml_lose_now(unsigned int gpu);
typedef void (*fake_nvml_lose_now_fn)(unsigned int gpu);

#endif
