/*
 * nvml.c - NVIDIA GPUs through NVML, the driver's management library.
 *
 * NVML is opened at run time with dlopen(): libnvidia-ml.so.1 (what the
 * driver installs), then libnvidia-ml.so, or the file named by
 * $WATTPROF_NVML_LIB.  Nothing of NVIDIA's is needed to build, and one
 * binary runs with and without the driver.  The functions used are declared
 * by hand in nvml_api.h; newer symbol versions are preferred (nvmlInit_v2,
 * nvmlDeviceGetCount_v2, nvmlDeviceGetHandleByIndex_v2) and every optional
 * one may be missing.
 *
 * Each GPU NVML sees becomes nvidia_gpu_N (N = NVML's index, as nvidia-smi
 * numbers them), of kind WP_KIND_GPU.  Its energy comes from, in order:
 *
 *   1. nvmlDeviceGetTotalEnergyConsumption: millijoules since the driver
 *      loaded, a 64-bit counter (Volta and newer).  Method "energy_counter".
 *   2. the NVML_FI_DEV_POWER_INSTANT field (nvmlDeviceGetFieldValues): the
 *      latest power sample, integrated by the trapezoid rule at every read.
 *      Method "power_instant".
 *   3. nvmlDeviceGetPowerUsage, integrated the same way.  On Ampere and
 *      newer it is the driver's one-second running average (NVML reference,
 *      nvmlDeviceGetPowerUsage), so the integral lags the load by about half
 *      a second and smooths what is shorter.  Method "power_average".
 *
 * For 2 and 3 the probe polls the power reading of every such GPU together
 * for at most 250 ms to learn how often it changes (update_ns); the
 * meter's sampler then reads it at least twice per change.  A power
 * integral on A100/H100-class boards carries a warning: their driver's power
 * figure is sampled during only part of each period (Yang, Adamek and
 * Armour, "Accurate and Convenient Energy Measurements for GPUs: A Detailed
 * Study of NVIDIA GPU's Built-In Power Sensor", SC 2024: about 25 ms of every
 * 100 ms on A100 and H100), so bursts between samples go unseen.
 *
 * Which GPUs are measured: all of them, unless CUDA_VISIBLE_DEVICES is set;
 * then only those it names (indices or UUIDs, as CUDA reads it: a comma
 * list, cut at the first entry that names no GPU) are measured by default.
 * The others are still listed, marked opt_in, and measured when named
 * (-d nvidia_gpu_3).  An index there is taken as NVML's index, which is
 * CUDA's when CUDA_DEVICE_ORDER=PCI_BUS_ID or all GPUs are of one model;
 * otherwise a warning says the two orders may differ.
 *
 * Use by processes (gpu_use, for attribution): the per-process SM samples
 * of nvmlDeviceGetProcessUtilization since a caller's cursor (the driver's
 * time stamp of the newest sample seen), and the device memory of every
 * process with a compute or graphics context.  See sm_samples() for what a
 * sample is and which are kept.
 *
 * The library stays loaded while any of its domains lives; the last
 * domain's release calls nvmlShutdown() and dlclose().  NVML's calls are
 * thread-safe (NVML reference, "Thread safety"), so the sampler thread and
 * the caller read without a lock of ours.
 */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "nvml_api.h"

#define SOURCE "nvml"

extern const struct wp_sensor_ops wp__sensor_nvml;

/* Above any board's limit today; bounds only the restart check. */
#define DEFAULT_PEAK_W 1500.0
/* Learning how often power changes: poll every 1 ms for at most 250 ms. */
#define DETECT_POLL_NS 1000000u
#define DETECT_MAX_NS 250000000u
/* When the reading did not change twice in that time (steady power). */
#define DEFAULT_UPDATE_NS 100000000u
#define MAX_GPUS WP__DETECT_MAX

struct lib {
	void *dl;
	char path[1024];
	pthread_mutex_t lock;
	int refs; /* domains alive */
#define X(ret, fn, args) ret(*fn) args;
	WP_NVML_FUNCTIONS(X)
#undef X
	/* The newest version present of the versioned entry points. */
	nvmlReturn_t (*init)(void);
	nvmlReturn_t (*count)(unsigned int *);
	nvmlReturn_t (*handle)(unsigned int, nvmlDevice_t *);
};

enum method { BY_COUNTER, BY_INSTANT, BY_USAGE };

struct gpu {
	struct lib *lib;
	nvmlDevice_t dev;
	unsigned index;
	enum method method;
	int usage_is_average; /* BY_USAGE: the driver's 1 s average, not a sample */
	uint64_t update_ns; /* how often the power read changes; 0 for a counter */
	struct wp__integrator ig;
};

static const char NO_LIB_FIX[] =
	"install the NVIDIA driver, which ships libnvidia-ml.so.1 (Debian: "
	"nvidia-driver); in a container, start it with the NVIDIA Container Toolkit "
	"('--gpus all'); or name the library with WATTPROF_NVML_LIB=/path/to/"
	"libnvidia-ml.so.1. Machines without an NVIDIA GPU need nothing";

static const char *err_str(const struct lib *l, nvmlReturn_t rc)
{
	const char *s = l->nvmlErrorString ? l->nvmlErrorString(rc) : NULL;
	return s ? s : "unknown NVML error";
}

/* A negative errno for an NVML failure: a lost GPU is a device gone. */
static int to_errno(nvmlReturn_t rc)
{
	switch (rc) {
	case NVML_ERROR_GPU_IS_LOST:
	case NVML_ERROR_NOT_FOUND:
		return -ENODEV;
	case NVML_ERROR_NO_PERMISSION:
		return -EACCES;
	case NVML_ERROR_NOT_SUPPORTED:
	case NVML_ERROR_FUNCTION_NOT_FOUND:
		return -EOPNOTSUPP;
	case NVML_ERROR_TIMEOUT:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

/*
 * The error of a read at run time: a GPU gone ends its domain; anything
 * else (a timeout, a driver hiccup) is taken as passing, and the meter
 * tries again at the next read.
 */
static int read_errno(nvmlReturn_t rc)
{
	switch (rc) {
	case NVML_ERROR_GPU_IS_LOST:
	case NVML_ERROR_NOT_FOUND:
		return -ENODEV;
	case NVML_ERROR_UNINITIALIZED:
		return -EIO;
	default:
		return -EAGAIN;
	}
}

static void lib_close(struct lib *l)
{
	if (l->nvmlShutdown)
		l->nvmlShutdown();
	dlclose(l->dl);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* Opens and binds the library; NULL (with a note) when it cannot. */
static struct lib *lib_open(struct wp_host *host, int *oom)
{
	const char *env = getenv("WATTPROF_NVML_LIB");
	const char *names[] = { "libnvidia-ml.so.1", "libnvidia-ml.so" };
	struct lib *l = calloc(1, sizeof *l);
	char why[512] = "";

	*oom = !l;
	if (!l)
		return NULL;
	for (size_t i = 0; i < 2 && !l->dl; i++) {
		const char *name = env && *env ? env : names[i];
		l->dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
		snprintf(l->path, sizeof l->path, "%s", name);
		if (!l->dl && !why[0])
			snprintf(why, sizeof why, "%s", dlerror());
		if (env && *env)
			break;
	}
	if (!l->dl) {
		*oom = wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, -ENOENT, l->path,
		                     NO_LIB_FIX, "NVIDIA's NVML library cannot be loaded: %s",
		                     why) < 0;
		free(l);
		return NULL;
	}
	pthread_mutex_init(&l->lock, NULL);
	/* POSIX: a function pointer may be read from dlsym's void *. */
#define X(ret, fn, args) *(void **)&l->fn = dlsym(l->dl, #fn);
	WP_NVML_FUNCTIONS(X)
#undef X
	l->init = l->nvmlInit_v2 ? l->nvmlInit_v2 : l->nvmlInit;
	/* The file the loader chose, for notes and as every domain's path. */
	Dl_info where;
	if (l->init && dladdr(*(void **)&l->init, &where) && where.dli_fname)
		snprintf(l->path, sizeof l->path, "%s", where.dli_fname);
	l->count = l->nvmlDeviceGetCount_v2 ? l->nvmlDeviceGetCount_v2 : l->nvmlDeviceGetCount;
	l->handle = l->nvmlDeviceGetHandleByIndex_v2 ? l->nvmlDeviceGetHandleByIndex_v2
	                                             : l->nvmlDeviceGetHandleByIndex;
	if (!l->init || !l->count || !l->handle || !l->nvmlShutdown) {
		*oom = wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, -ENOSYS, l->path,
		                     "update the NVIDIA driver",
		                     "'%s' lacks nvmlInit, nvmlDeviceGetCount or "
		                     "nvmlDeviceGetHandleByIndex: too old a driver, or not NVML",
		                     l->path) < 0;
		l->nvmlShutdown = NULL; /* nothing to shut down */
		lib_close(l);
		return NULL;
	}
	return l;
}

static const char *init_fix(nvmlReturn_t rc)
{
	switch (rc) {
	case NVML_ERROR_DRIVER_NOT_LOADED:
		return "the NVIDIA kernel driver is not loaded: 'nvidia-smi' must work first "
		       "('modprobe nvidia', or reinstall the driver). Machines without an "
		       "NVIDIA GPU need nothing";
	case NVML_ERROR_NO_PERMISSION:
		return "this user may not open /dev/nvidia*: add it to the group that owns "
		       "them (often 'video'), or run as root";
	case 18: /* NVML_ERROR_LIB_RM_VERSION_MISMATCH */
		return "the driver library and the kernel module differ in version, as after "
		       "a driver upgrade: reboot, or reload the nvidia modules";
	default:
		return "'nvidia-smi' shows whether the driver works; its error should say more";
	}
}

/* Releases a reference; the last one shuts NVML down. */
static void lib_unref(struct lib *l)
{
	pthread_mutex_lock(&l->lock);
	int last = --l->refs == 0;
	pthread_mutex_unlock(&l->lock);
	if (last)
		lib_close(l);
}

/* ------------------------------------------------------------ readings */

static int read_power_mw(const struct gpu *g, enum method m, double *mw)
{
	const struct lib *l = g->lib;
	nvmlReturn_t rc;

	if (m == BY_INSTANT) {
		nvmlFieldValue_t fv = { .fieldId = NVML_FI_DEV_POWER_INSTANT };
		if (!l->nvmlDeviceGetFieldValues)
			return -EOPNOTSUPP;
		rc = l->nvmlDeviceGetFieldValues(g->dev, 1, &fv);
		if (rc == NVML_SUCCESS)
			rc = fv.nvmlReturn;
		if (rc != NVML_SUCCESS)
			return read_errno(rc);
		switch (fv.valueType) {
		case NVML_VALUE_TYPE_DOUBLE:
			*mw = fv.value.dVal;
			break;
		case NVML_VALUE_TYPE_UNSIGNED_LONG:
			*mw = (double)fv.value.ulVal;
			break;
		case NVML_VALUE_TYPE_UNSIGNED_LONG_LONG:
			*mw = (double)fv.value.ullVal;
			break;
		case NVML_VALUE_TYPE_SIGNED_LONG_LONG:
			*mw = (double)fv.value.sllVal;
			break;
		case NVML_VALUE_TYPE_SIGNED_INT:
			*mw = fv.value.siVal;
			break;
		default:
			*mw = fv.value.uiVal;
			break;
		}
		return *mw >= 0 && isfinite(*mw) ? 0 : -EAGAIN;
	}
	if (!l->nvmlDeviceGetPowerUsage)
		return -EOPNOTSUPP;
	unsigned int v;
	rc = l->nvmlDeviceGetPowerUsage(g->dev, &v);
	if (rc != NVML_SUCCESS)
		return read_errno(rc);
	*mw = v;
	return 0;
}

static int read_counter(const struct wp__domain *d, uint64_t *raw)
{
	struct gpu *g = d->priv;
	nvmlReturn_t rc;

	if (g->method == BY_COUNTER) {
		unsigned long long mj;
		rc = g->lib->nvmlDeviceGetTotalEnergyConsumption(g->dev, &mj);
		if (rc != NVML_SUCCESS)
			return read_errno(rc);
		*raw = mj;
		return 0;
	}
	double mw;
	int err = read_power_mw(g, g->method, &mw);
	if (err < 0)
		return err;
	*raw = wp__integrator_add(&g->ig, wp_now_ns(), mw / 1e3);
	return 0;
}

static int read_metrics(const struct wp__domain *d, double *v)
{
	const struct gpu *g = d->priv;
	const struct lib *l = g->lib;
	double mw;
	unsigned int u;
	nvmlUtilization_t util;
	nvmlMemory_t mem;

	/* The freshest power figure this GPU offers. */
	if (read_power_mw(g, g->method == BY_USAGE ? BY_USAGE : BY_INSTANT, &mw) == 0 ||
	    read_power_mw(g, BY_USAGE, &mw) == 0)
		v[WP_METRIC_POWER_W] = mw / 1e3;
	if (l->nvmlDeviceGetUtilizationRates &&
	    l->nvmlDeviceGetUtilizationRates(g->dev, &util) == NVML_SUCCESS) {
		v[WP_METRIC_UTIL_PCT] = util.gpu;
		v[WP_METRIC_MEM_UTIL_PCT] = util.memory;
	}
	if (l->nvmlDeviceGetTemperature &&
	    l->nvmlDeviceGetTemperature(g->dev, NVML_TEMPERATURE_GPU, &u) == NVML_SUCCESS)
		v[WP_METRIC_TEMP_C] = u;
	if (l->nvmlDeviceGetMemoryInfo && l->nvmlDeviceGetMemoryInfo(g->dev, &mem) == NVML_SUCCESS)
		v[WP_METRIC_MEM_USED_B] = (double)mem.used;
	if (l->nvmlDeviceGetClockInfo &&
	    l->nvmlDeviceGetClockInfo(g->dev, NVML_CLOCK_SM, &u) == NVML_SUCCESS)
		v[WP_METRIC_SM_CLOCK_MHZ] = u;
	if (l->nvmlDeviceGetEnforcedPowerLimit &&
	    l->nvmlDeviceGetEnforcedPowerLimit(g->dev, &u) == NVML_SUCCESS)
		v[WP_METRIC_POWER_LIMIT_W] = u / 1e3;
	return 0;
}

/* ------------------------------------------------------ use by processes */

/* Calls at most to fit a list that keeps growing between NVML's calls. */
#define USE_TRIES 4

/*
 * Grows *buf of *cap elements for a list NVML says holds n: to n, the size
 * NVML's reference says to allocate, or twice the last size when the list
 * keeps growing.  0 or -ENOMEM (*buf is then freed).
 */
static int grow(void **buf, unsigned int *cap, unsigned int n, size_t size)
{
	unsigned int want = n > 2 * *cap ? n : 2 * *cap;
	void *p = realloc(*buf, (want ? want : 1) * size);

	if (!p) {
		free(*buf);
		*buf = NULL;
		return -ENOMEM;
	}
	*buf = p;
	*cap = want ? want : 1;
	return 0;
}

/*
 * The per-process SM samples newer than *cursor, into out->samples, and
 * *cursor moved to the newest.  nvmlDeviceGetProcessUtilization (NVML
 * reference, "Retrieves the current utilization and process ID"): called
 * first without a buffer for the count, then with one; a count that grew
 * in between (a process started) gives INSUFFICIENT_SIZE again, and a
 * bigger buffer is tried, USE_TRIES calls in all.  NOT_FOUND is "no sample
 * entries since lastSeenTimeStamp": no samples, not an error.
 *
 * Drivers have been seen to return more than they were asked for (nvtop
 * issue #110: zeroed entries, and garbage with SM figures in the tens of
 * thousands of % stamped in the far future), so only samples newer than the
 * cursor, of a process (pid > 0) and with an SM figure of at most 100 % are
 * kept, and only those move the cursor.  0 or a negative errno.
 */
static int sm_samples(const struct gpu *g, uint64_t *cursor, struct wp__gpu_use *out)
{
	const struct lib *l = g->lib;
	nvmlProcessUtilizationSample_t *buf = NULL;
	unsigned int n = 0, cap = 0;
	nvmlReturn_t rc;

	if (!l->nvmlDeviceGetProcessUtilization)
		return -EOPNOTSUPP;
	rc = l->nvmlDeviceGetProcessUtilization(g->dev, NULL, &n, *cursor);
	for (int tries = 1; rc == NVML_ERROR_INSUFFICIENT_SIZE && tries < USE_TRIES; tries++) {
		if (grow((void **)&buf, &cap, n, sizeof *buf) < 0)
			return -ENOMEM;
		n = cap;
		rc = l->nvmlDeviceGetProcessUtilization(g->dev, buf, &n, *cursor);
	}
	if (rc != NVML_SUCCESS || !buf) {
		free(buf);
		/* A sizing call that succeeds has nothing to size. */
		return rc == NVML_SUCCESS || rc == NVML_ERROR_NOT_FOUND ? 0
		       : rc == NVML_ERROR_INSUFFICIENT_SIZE         ? -EAGAIN
		                                                    : to_errno(rc);
	}
	if (n > cap)
		n = cap;
	out->samples = n ? malloc(n * sizeof *out->samples) : NULL;
	if (n && !out->samples) {
		free(buf);
		return -ENOMEM;
	}
	uint64_t newest = *cursor;
	for (unsigned int i = 0; i < n; i++) {
		const nvmlProcessUtilizationSample_t *s = &buf[i];
		if (s->timeStamp <= *cursor || s->pid == 0 || s->smUtil > 100)
			continue;
		out->samples[out->nsamples++] = (struct wp__gpu_sample){
			.pid = s->pid, .ts_us = s->timeStamp, .sm_pct = s->smUtil
		};
		if (s->timeStamp > newest)
			newest = s->timeStamp;
	}
	*cursor = newest;
	free(buf);
	return 0;
}

typedef nvmlReturn_t (*list_fn)(nvmlDevice_t, unsigned int *, nvmlProcessInfo_t *);

/*
 * One of NVML's lists of running processes into a malloc'ed *infos of *n:
 * first called with a count of 0 ("the return code will be
 * NVML_ERROR_INSUFFICIENT_SIZE, or NVML_SUCCESS if none are running"), then
 * with a buffer, grown as in sm_samples().  0 or a negative errno.
 */
static int list_procs(list_fn fn, nvmlDevice_t dev, nvmlProcessInfo_t **infos, unsigned int *n)
{
	nvmlProcessInfo_t *buf = NULL;
	unsigned int cap = 0;
	nvmlReturn_t rc;

	*n = 0;
	*infos = NULL;
	if (!fn)
		return -EOPNOTSUPP;
	rc = fn(dev, n, NULL);
	for (int tries = 1; rc == NVML_ERROR_INSUFFICIENT_SIZE && tries < USE_TRIES; tries++) {
		if (grow((void **)&buf, &cap, *n, sizeof *buf) < 0) {
			*n = 0;
			return -ENOMEM;
		}
		*n = cap;
		rc = fn(dev, n, buf);
	}
	if (rc != NVML_SUCCESS || !buf) {
		free(buf);
		*n = 0;
		return rc == NVML_SUCCESS                      ? 0
		       : rc == NVML_ERROR_INSUFFICIENT_SIZE ? -EAGAIN
		                                            : to_errno(rc);
	}
	if (*n > cap)
		*n = cap;
	*infos = buf;
	return 0;
}

/*
 * The device memory each process holds now, into out->mem: the processes
 * with a compute context (nvmlDeviceGetComputeRunningProcesses_v3), then
 * those with a graphics one (..._v3 of graphics) that were not listed yet:
 * a process with both is counted once (its usedGpuMemory is "all of the
 * memory used by the application" in either list).  The compute list must
 * answer; the graphics one is added when it does.  usedGpuMemory equal to
 * NVML_VALUE_NOT_AVAILABLE becomes NaN.  0 or a negative errno.
 */
static int held_memory(const struct gpu *g, struct wp__gpu_use *out)
{
	const struct lib *l = g->lib;
	nvmlProcessInfo_t *lists[2];
	unsigned int counts[2];
	int rc;

	rc = list_procs(l->nvmlDeviceGetComputeRunningProcesses_v3, g->dev, &lists[0], &counts[0]);
	if (rc < 0)
		return rc;
	if (list_procs(l->nvmlDeviceGetGraphicsRunningProcesses_v3, g->dev, &lists[1],
	               &counts[1]) < 0)
		counts[1] = 0;
	size_t total = (size_t)counts[0] + counts[1];
	out->mem = total ? malloc(total * sizeof *out->mem) : NULL;
	if (total && !out->mem)
		rc = -ENOMEM;
	for (int k = 0; k < 2 && rc == 0; k++) {
		for (unsigned int i = 0; i < counts[k]; i++) {
			const nvmlProcessInfo_t *p = &lists[k][i];
			double bytes = p->usedGpuMemory == (unsigned long long)NVML_VALUE_NOT_AVAILABLE
			                       ? NAN
			                       : (double)p->usedGpuMemory;
			size_t j = 0;
			while (j < out->nmem && out->mem[j].pid != (int64_t)p->pid)
				j++;
			if (j == out->nmem)
				out->mem[out->nmem++] = (struct wp__gpu_mem){ .pid = p->pid, .bytes = bytes };
			else if (isnan(out->mem[j].bytes) || bytes > out->mem[j].bytes)
				out->mem[j].bytes = bytes; /* the figure that is known */
		}
	}
	free(lists[0]);
	free(lists[1]);
	return rc;
}

/*
 * wp_sensor_ops.gpu_use.  Any thread, like read_metrics: NVML is
 * thread-safe, the gpu is only read, and the cursor is the caller's.  A
 * lost GPU answers GPU_IS_LOST to both queries: -ENODEV.
 */
static int gpu_use(const struct wp__domain *d, uint64_t *cursor, struct wp__gpu_use *out)
{
	const struct gpu *g = d->priv;

	memset(out, 0, sizeof *out);
	out->sm_status = sm_samples(g, cursor, out);
	out->mem_status = held_memory(g, out);
	if (out->sm_status == 0 || out->mem_status == 0)
		return 0;
	if (out->sm_status == -ENODEV || out->mem_status == -ENODEV)
		return -ENODEV;
	return out->sm_status;
}

static void release(struct wp__domain *d)
{
	struct gpu *g = d->priv;
	if (!g)
		return;
	wp__integrator_destroy(&g->ig);
	lib_unref(g->lib);
	free(g);
}

/* -------------------------------------------------------- visibility */

struct gpu_id {
	char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
	char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
};

/* The GPU whose UUID is `u` or starts with it ("GPU-" optional), or -1. */
static long match_uuid(const char *u, const struct gpu_id *ids, unsigned n)
{
	long found = -1;

	if (strncmp(u, "GPU-", 4) == 0)
		u += 4;
	for (unsigned i = 0; *u && i < n; i++) {
		const char *id = strncmp(ids[i].uuid, "GPU-", 4) == 0 ? ids[i].uuid + 4 : ids[i].uuid;
		if (strncmp(id, u, strlen(u)) == 0) {
			if (found >= 0)
				return -1; /* ambiguous: CUDA refuses it too */
			found = i;
		}
	}
	return found;
}

/* A MIG instance whose board cannot be told. */
#define MIG_UNMAPPED (-2)

/*
 * The GPU that one CUDA_VISIBLE_DEVICES entry names: an index, a UUID (or a
 * unique prefix), or a MIG instance, which stands for its board; -1 when it
 * names none.
 */
static long match_entry(const struct lib *l, struct gpu *const *gpus, const char *e,
                        size_t len, const struct gpu_id *ids, unsigned n)
{
	char buf[128];
	uint64_t idx;

	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, e, len);
	buf[len] = '\0';
	if (wp__parse_u64(buf, len, &idx) == 0)
		return idx < n ? (long)idx : -1;
	if (strncmp(buf, "MIG-", 4) != 0)
		return match_uuid(buf, ids, n);
	/* The older form, MIG-GPU-<board uuid>/<gi>/<ci>, names its board. */
	if (strncmp(buf + 4, "GPU-", 4) == 0) {
		buf[strcspn(buf, "/")] = '\0';
		return match_uuid(buf + 4, ids, n);
	}
	/* Now MIG-<uuid of the instance>: NVML knows its board. */
	nvmlDevice_t mig, board;
	if (l->nvmlDeviceGetHandleByUUID && l->nvmlDeviceGetDeviceHandleFromMigDeviceHandle &&
	    l->nvmlDeviceGetHandleByUUID(buf, &mig) == NVML_SUCCESS &&
	    l->nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig, &board) == NVML_SUCCESS)
		for (unsigned i = 0; i < n; i++)
			if (gpus[i] && gpus[i]->dev == board)
				return i;
	return MIG_UNMAPPED;
}

/*
 * Marks the GPUs CUDA_VISIBLE_DEVICES lists in visible[]; all when it is
 * unset.  Notes what it did.  Returns 0 or -ENOMEM.
 */
static int apply_cuda_visible(struct wp_host *host, const struct lib *l,
                              struct gpu *const *gpus, const struct gpu_id *ids, unsigned n,
                              int *visible)
{
	int mig = 0;
	const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
	const char *order = getenv("CUDA_DEVICE_ORDER");
	int rc = 0, by_index = 0;

	for (unsigned i = 0; i < n; i++)
		visible[i] = !cvd;
	if (!cvd)
		return 0;
	for (const char *p = cvd; *p;) {
		while (*p == ' ')
			p++;
		size_t len = strcspn(p, ",");
		size_t tl = len;
		while (tl > 0 && p[tl - 1] == ' ')
			tl--;
		long g = match_entry(l, gpus, p, tl, ids, n);
		mig |= strncmp(p, "MIG-", 4) == 0;
		if (g == MIG_UNMAPPED) {
			/* Better one board too many than the one in use missed. */
			for (unsigned i = 0; i < n; i++)
				visible[i] = 1;
			rc = wp__host_note(host, SOURCE, WP_NOTE_WARNING, 0, NULL,
			                   "name the board with --domains nvidia_gpu_N",
			                   "CUDA_VISIBLE_DEVICES entry '%.*s' is a MIG instance "
			                   "whose GPU this driver does not say: every GPU is "
			                   "measured",
			                   (int)tl, p);
			break;
		}
		if (g < 0) {
			/* CUDA stops at the first entry it cannot use. */
			rc = wp__host_note(host, SOURCE, WP_NOTE_WARNING, 0, NULL,
			                   "fix CUDA_VISIBLE_DEVICES, or name GPUs with --domains",
			                   "CUDA_VISIBLE_DEVICES entry '%.*s' names no GPU here: "
			                   "like CUDA, wattprof ignores it and every entry after it",
			                   (int)tl, p);
			break;
		}
		by_index |= p[0] >= '0' && p[0] <= '9' && strspn(p, "0123456789") >= tl;
		visible[g] = 1;
		p += len;
		if (*p == ',')
			p++;
	}
	if (rc == 0 && mig)
		rc = wp__host_note(host, SOURCE, WP_NOTE_FOUND, 0, NULL, NULL,
		                   "CUDA_VISIBLE_DEVICES names MIG instances: each one's whole "
		                   "GPU is measured, since NVML gives no energy per instance");
	if (rc < 0)
		return rc;
	int mixed = 0;
	for (unsigned i = 1; i < n; i++)
		mixed |= strcmp(ids[i].name, ids[0].name) != 0;
	if (by_index && mixed && !(order && strcmp(order, "PCI_BUS_ID") == 0))
		rc = wp__host_note(host, SOURCE, WP_NOTE_WARNING, 0, NULL,
		                   "export CUDA_DEVICE_ORDER=PCI_BUS_ID, or list UUIDs "
		                   "('nvidia-smi -L') in CUDA_VISIBLE_DEVICES",
		                   "CUDA_VISIBLE_DEVICES names GPUs by index on a machine with "
		                   "GPUs of different models: CUDA numbers them fastest first "
		                   "unless CUDA_DEVICE_ORDER=PCI_BUS_ID, NVML in PCI order, so "
		                   "the GPUs measured may not be those the program uses");
	return rc;
}

/* ------------------------------------------------------------- probe */

/* A100/H100-class boards, whose power figure covers part of the time. */
static int part_time_power(const char *name)
{
	static const char *const boards[] = { "A100", "A800", "A30", "H100", "H800",
		                              "H200", "H20", "GH200" };
	for (size_t i = 0; i < sizeof boards / sizeof *boards; i++) {
		const char *p = strstr(name, boards[i]);
		size_t n = strlen(boards[i]);
		/* A whole word: "A30" but not "A3000". */
		if (p && (p == name || p[-1] == ' ') && !(p[n] >= '0' && p[n] <= '9'))
			return 1;
	}
	return 0;
}

static int detect_read(void *ctx, double *w)
{
	const struct gpu *g = ctx;
	return read_power_mw(g, g->method, w);
}

static const char *method_name(const struct gpu *g)
{
	return g->method == BY_COUNTER                       ? WP_METHOD_COUNTER
	       : g->method == BY_INSTANT || !g->usage_is_average ? WP_METHOD_POWER_INSTANT
	                                                     : WP_METHOD_POWER_AVERAGE;
}

/*
 * Is nvmlDeviceGetPowerUsage a running average on this GPU?  The NVML
 * reference (nvmlDeviceGetPowerUsage): on Ampere (except GA100) and newer it
 * is the average over a second; on GA100 and older it is a spot reading.
 * Without nvmlDeviceGetArchitecture the driver is old and so, most likely,
 * is the GPU; the average is assumed all the same, the safer label.
 */
static int usage_is_average(const struct gpu *g, const char *name)
{
	unsigned int arch;
	static const char *const ga100[] = { "A100", "A800", "A30", "PG506" };

	if (!g->lib->nvmlDeviceGetArchitecture ||
	    g->lib->nvmlDeviceGetArchitecture(g->dev, &arch) != NVML_SUCCESS)
		return 1;
	if (arch < NVML_DEVICE_ARCH_AMPERE)
		return 0;
	for (size_t i = 0; arch == NVML_DEVICE_ARCH_AMPERE && i < 4; i++)
		if (strstr(name, ga100[i]))
			return 0;
	return 1;
}

/* How GPU g's energy can be read, or -1 when it gives neither energy nor power. */
static int pick_method(struct gpu *g, nvmlReturn_t *why)
{
	const struct lib *l = g->lib;
	unsigned long long mj;
	double mw;

	*why = NVML_ERROR_FUNCTION_NOT_FOUND;
	if (l->nvmlDeviceGetTotalEnergyConsumption) {
		*why = l->nvmlDeviceGetTotalEnergyConsumption(g->dev, &mj);
		if (*why == NVML_SUCCESS)
			return BY_COUNTER;
	}
	if (read_power_mw(g, BY_INSTANT, &mw) == 0)
		return BY_INSTANT;
	if (read_power_mw(g, BY_USAGE, &mw) == 0)
		return BY_USAGE;
	return -1;
}

static double peak_power_w(const struct gpu *g)
{
	const struct lib *l = g->lib;
	unsigned int lo, hi;

	if (l->nvmlDeviceGetPowerManagementLimitConstraints &&
	    l->nvmlDeviceGetPowerManagementLimitConstraints(g->dev, &lo, &hi) == NVML_SUCCESS &&
	    hi > 0)
		return hi / 1e3;
	if (l->nvmlDeviceGetEnforcedPowerLimit &&
	    l->nvmlDeviceGetEnforcedPowerLimit(g->dev, &hi) == NVML_SUCCESS && hi > 0)
		return hi / 1e3;
	return DEFAULT_PEAK_W;
}

/*
 * Adds the GPUs: gpus[i] is NULL for one that was skipped.  The domains own
 * their gpu (and a library reference) from here on.
 */
static int add_domains(struct wp_host *host, struct gpu **gpus, const struct gpu_id *ids,
                       const int *visible, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct gpu *g = gpus[i];
		char name[32];
		if (!g)
			continue;
		snprintf(name, sizeof name, "nvidia_gpu_%u", i);
		struct wp_domain_info info = {
			.name = name,
			.source = SOURCE,
			.path = g->lib->path,
			.unit = "J",
			.kind = WP_KIND_GPU,
			.socket = -1,
			.die = -1,
			.counter_max = UINT64_MAX,
			.joules_per_count = g->method == BY_COUNTER ? 1e-3 : 1e-6,
			.peak_power_w = peak_power_w(g),
			.integrated = g->method != BY_COUNTER,
			.method = method_name(g),
			.update_ns = g->update_ns,
			.device_name = ids[i].name,
			.device_id = ids[i].uuid[0] ? ids[i].uuid : NULL,
			.opt_in = !visible[i],
		};
		pthread_mutex_lock(&g->lib->lock);
		g->lib->refs++;
		pthread_mutex_unlock(&g->lib->lock);
		int rc = wp__host_add_domain_priv(host, &wp__sensor_nvml, &info, -1, g);
		gpus[i] = NULL; /* released with the domain, or just below */
		if (rc < 0) {
			release(&(struct wp__domain){ .priv = g });
			return rc;
		}
	}
	return 0;
}

static int probe(struct wp_host *host)
{
	struct gpu_id *ids = NULL;
	struct gpu **gpus = NULL;
	int *visible = NULL;
	unsigned n = 0;
	int oom = 0, rc = 0;

	struct lib *l = lib_open(host, &oom);
	if (!l)
		return oom ? -ENOMEM : 0;
	l->refs = 1; /* the probe's own, dropped at the end */
	nvmlReturn_t nrc = l->init();
	if (nrc != NVML_SUCCESS) {
		rc = wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, to_errno(nrc), l->path,
		                   init_fix(nrc), "NVML loaded from '%s' but cannot start: %s",
		                   l->path, err_str(l, nrc));
		l->nvmlShutdown = NULL; /* no successful init to undo */
		lib_unref(l);
		return rc;
	}
	nrc = l->count(&n);
	if (nrc != NVML_SUCCESS || n == 0) {
		rc = wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, WP_ENOSOURCE, l->path,
		                   nrc == NVML_SUCCESS ? "check 'nvidia-smi -L'"
		                                       : init_fix(nrc),
		                   "NVML works but sees no GPU%s%s",
		                   nrc == NVML_SUCCESS ? "" : ": ",
		                   nrc == NVML_SUCCESS ? "" : err_str(l, nrc));
		lib_unref(l);
		return rc;
	}
	if (n > MAX_GPUS)
		n = MAX_GPUS;
	ids = calloc(n, sizeof *ids);
	gpus = calloc(n, sizeof *gpus);
	visible = calloc(n, sizeof *visible);
	if (!ids || !gpus || !visible) {
		rc = -ENOMEM;
		goto out;
	}

	/* Identify and pick a method for every GPU. */
	void *detect_ctx[MAX_GPUS];
	struct gpu *detect_gpu[MAX_GPUS];
	uint64_t periods[MAX_GPUS];
	size_t ndetect = 0;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		struct gpu *g = calloc(1, sizeof *g);
		if (!g) {
			rc = -ENOMEM;
			break;
		}
		g->lib = l;
		g->index = i;
		wp__integrator_init(&g->ig);
		gpus[i] = g;
		nrc = l->handle(i, &g->dev);
		if (nrc != NVML_SUCCESS) {
			snprintf(ids[i].name, sizeof ids[i].name, "GPU %u", i);
			rc = wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, to_errno(nrc), NULL,
			                   "'nvidia-smi -q' shows the GPU's state",
			                   "GPU %u skipped: NVML gives no handle for it: %s", i,
			                   err_str(l, nrc));
			wp__integrator_destroy(&g->ig);
			free(g);
			gpus[i] = NULL;
			continue;
		}
		if (!l->nvmlDeviceGetName ||
		    l->nvmlDeviceGetName(g->dev, ids[i].name, sizeof ids[i].name) != NVML_SUCCESS)
			snprintf(ids[i].name, sizeof ids[i].name, "NVIDIA GPU %u", i);
		if (!l->nvmlDeviceGetUUID ||
		    l->nvmlDeviceGetUUID(g->dev, ids[i].uuid, sizeof ids[i].uuid) != NVML_SUCCESS)
			ids[i].uuid[0] = '\0';
		int m = pick_method(g, &nrc);
		if (m < 0) {
			rc = wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, to_errno(nrc), NULL, NULL,
			                   "GPU %u (%s) skipped: it reports neither energy nor "
			                   "power (%s)",
			                   i, ids[i].name, err_str(l, nrc));
			wp__integrator_destroy(&g->ig);
			free(g);
			gpus[i] = NULL;
			continue;
		}
		g->method = (enum method)m;
		g->usage_is_average = g->method == BY_USAGE && usage_is_average(g, ids[i].name);
		if (g->method != BY_COUNTER) {
			detect_ctx[ndetect] = g;
			detect_gpu[ndetect++] = g;
		}
	}
	if (rc < 0)
		goto out;
	if (ndetect > 0) {
		wp__detect_update_ns(ndetect, detect_read, detect_ctx, periods, DETECT_POLL_NS,
		                     DETECT_MAX_NS);
		for (size_t k = 0; k < ndetect; k++)
			detect_gpu[k]->update_ns = periods[k] ? periods[k] : DEFAULT_UPDATE_NS;
	}
	if ((rc = apply_cuda_visible(host, l, gpus, ids, n, visible)) < 0)
		goto out;

	/* Notes before the domains take the gpus. */
	size_t found = 0, hidden = 0;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		const struct gpu *g = gpus[i];
		if (!g)
			continue;
		found++;
		hidden += !visible[i];
		if (g->method == BY_COUNTER)
			continue;
		int measured = 0;
		for (size_t k = 0; k < ndetect; k++)
			measured |= detect_gpu[k] == g && periods[k] != 0;
		rc = wp__host_note(
			host, SOURCE, WP_NOTE_FOUND, 0, NULL, NULL,
			"nvidia_gpu_%u (%s) has no energy counter: its %s is integrated, read "
			"every %.3g ms or faster (the reading %s every %.3g ms)",
			i, ids[i].name,
			g->method == BY_INSTANT ? "instant power (NVML_FI_DEV_POWER_INSTANT)"
			: g->usage_is_average   ? "1 s average power (nvmlDeviceGetPowerUsage)"
			                        : "power (nvmlDeviceGetPowerUsage)",
			(double)g->update_ns / 2e6,
			measured ? "was seen to change" : "did not change while watched; assumed",
			(double)g->update_ns / 1e6);
		if (rc == 0 && part_time_power(ids[i].name))
			rc = wp__host_note(
				host, SOURCE, WP_NOTE_WARNING, 0, NULL,
				"use a driver that offers the energy counter (Volta and newer do, "
				"outside some virtual GPUs), or treat short phases with care",
				"nvidia_gpu_%u (%s): energy integrated from power readings, and on "
				"A100/H100-class GPUs the driver's power figure is sampled during only "
				"part of each period (about 25 ms in 100 ms, Yang et al., SC 2024), "
				"so short bursts of work can be missed or over-weighted",
				i, ids[i].name);
		if (rc == 0 && g->method == BY_USAGE && g->usage_is_average)
			rc = wp__host_note(
				host, SOURCE, WP_NOTE_WARNING, 0, NULL, NULL,
				"nvidia_gpu_%u (%s): energy integrated from nvmlDeviceGetPowerUsage, "
				"a running average over about 1 s on recent GPUs: the figure lags the "
				"load and runs shorter than a few seconds are misstated",
				i, ids[i].name);
	}
	for (unsigned i = 0; i < n && rc == 0; i++)
		if (gpus[i] && !visible[i])
			rc = wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, 0, NULL,
			                   "name it to measure it anyway: --domains nvidia_gpu_N",
			                   "nvidia_gpu_%u (%s) is not in CUDA_VISIBLE_DEVICES: "
			                   "listed, but measured only when named",
			                   i, ids[i].name);
	if (rc == 0) {
		char drv[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE] = "";
		if (l->nvmlSystemGetDriverVersion)
			l->nvmlSystemGetDriverVersion(drv, sizeof drv);
		rc = wp__host_note(host, SOURCE, WP_NOTE_FOUND, 0, l->path, NULL,
		                   "%zu NVIDIA GPU%s through '%s' (driver %s)%s", found,
		                   found == 1 ? "" : "s", l->path, drv[0] ? drv : "unknown",
		                   hidden ? "; some hidden by CUDA_VISIBLE_DEVICES" : "");
	}
	if (rc == 0)
		rc = add_domains(host, gpus, ids, visible, n);
out:
	for (unsigned i = 0; gpus && i < n; i++) {
		if (gpus[i]) {
			wp__integrator_destroy(&gpus[i]->ig);
			free(gpus[i]);
		}
	}
	free(ids);
	free(gpus);
	free(visible);
	lib_unref(l);
	return rc;
}

/*
 * The limit set with nvmlDeviceSetPowerManagementLimit
 * (nvmlDeviceGetPowerManagementLimit), the one the board obeys
 * (nvmlDeviceGetEnforcedPowerLimit: the lowest of every limit on it,
 * out-of-band and system ones included), NVML's default, and the range
 * the setter takes; mW in NVML (NVML API reference, "Device Queries" and
 * "Device Commands").  What is recorded and put back is the limit set: the
 * enforced one may be lower for reasons outside this machine's control,
 * and writing it would lower the setting.
 */
static int get_limit(const struct wp__domain *d, struct wp__limit *out)
{
	const struct gpu *g = d->priv;
	const struct lib *l = g->lib;
	unsigned int mw, lo, hi;
	nvmlReturn_t rc = NVML_ERROR_FUNCTION_NOT_FOUND;

	*out = (struct wp__limit){ NAN, NAN, NAN, NAN, NAN };
	if (l->nvmlDeviceGetEnforcedPowerLimit &&
	    l->nvmlDeviceGetEnforcedPowerLimit(g->dev, &mw) == NVML_SUCCESS)
		out->enforced_w = mw / 1000.0;
	if (l->nvmlDeviceGetPowerManagementLimit)
		rc = l->nvmlDeviceGetPowerManagementLimit(g->dev, &mw);
	if (rc == NVML_SUCCESS)
		out->now_w = mw / 1000.0;
	else if (rc == NVML_ERROR_FUNCTION_NOT_FOUND && !isnan(out->enforced_w))
		out->now_w = out->enforced_w; /* a driver without it: the best known */
	else
		return to_errno(rc);
	if (l->nvmlDeviceGetPowerManagementDefaultLimit &&
	    l->nvmlDeviceGetPowerManagementDefaultLimit(g->dev, &mw) == NVML_SUCCESS)
		out->default_w = mw / 1000.0;
	if (l->nvmlDeviceGetPowerManagementLimitConstraints &&
	    l->nvmlDeviceGetPowerManagementLimitConstraints(g->dev, &lo, &hi) == NVML_SUCCESS) {
		out->min_w = lo / 1000.0;
		out->max_w = hi / 1000.0;
	}
	return 0;
}

static int set_limit(const struct wp__domain *d, double w)
{
	const struct gpu *g = d->priv;
	const struct lib *l = g->lib;
	struct wp__limit lim;
	nvmlReturn_t rc;

	if (!l->nvmlDeviceSetPowerManagementLimit)
		return -EOPNOTSUPP;
	if (!(w > 0) || w * 1000 >= 4294967295.0)
		return -ERANGE;
	/* Checked first: NVML says only "Invalid Argument". */
	if (get_limit(d, &lim) == 0 && (w < lim.min_w - 5e-4 || w > lim.max_w + 5e-4))
		return -ERANGE;
	rc = l->nvmlDeviceSetPowerManagementLimit(g->dev, (unsigned int)llround(w * 1000));
	if (rc == NVML_ERROR_INVALID_ARGUMENT)
		return -ERANGE;
	return rc == NVML_SUCCESS ? 0 : to_errno(rc);
}

const struct wp_sensor_ops wp__sensor_nvml = {
	.version = 5,
	.name = SOURCE,
	.probe = probe,
	.read = read_counter,
	.release = release,
	.metrics = read_metrics,
	.gpu_use = gpu_use,
	.limit = get_limit,
	.set_limit = set_limit,
};
