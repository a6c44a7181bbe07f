/*
 * selftest.c - checks the fake NVML against its own ground truth
 * (fake_nvml.h), apart from wattprof: the suite's NVML tests trust the
 * fake, so the fake is tested first.  Not part of `make check`; run by
 * hand after changing the fake:
 *
 *   make build/fakenvml/libnvidia-ml.so.1
 *   cc -std=c11 -D_GNU_SOURCE -Isrc -pthread tests/fakenvml/selftest.c \
 *     -o build/fakenvml/selftest -ldl -lm
 *   build/fakenvml/selftest build/fakenvml/libnvidia-ml.so.1
 *
 * It opens the library by path and looks every function up as wattprof
 * does, then drives it through FAKE_NVML.  Expect a few "fake_nvml:" lines
 * on stderr: the bad configurations are meant to be told.
 */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sensors/nvml_api.h"
#include "fake_nvml.h"

static struct {
#define PTR(ret, name, params) ret(*name) params;
	WP_NVML_FUNCTIONS(PTR)
#undef PTR
} nv;
static fake_nvml_calls_fn calls;
static int failures;

#define CHECK_EQ(a, b)                                                                    \
	do {                                                                              \
		long long a_ = (long long)(a), b_ = (long long)(b);                       \
		if (a_ != b_) {                                                           \
			fprintf(stderr, "%s:%d: %s == %s: %lld != %lld\n", __FILE__,      \
			        __LINE__, #a, #b, a_, b_);                                \
			failures++;                                                       \
		}                                                                         \
	} while (0)

#define CHECK(cond)                                                                       \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond);        \
			failures++;                                                       \
		}                                                                         \
	} while (0)

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	nanosleep(&ts, NULL);
}

static void config(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void config(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	setenv("FAKE_NVML", buf, 1);
}

static nvmlDevice_t handle(unsigned int i)
{
	nvmlDevice_t dev = NULL;

	CHECK_EQ(nv.nvmlDeviceGetHandleByIndex_v2(i, &dev), NVML_SUCCESS);
	return dev;
}

static void test_init(void)
{
	unsigned int n;

	unsetenv("FAKE_NVML");
	CHECK_EQ(nv.nvmlInit_v2(), NVML_ERROR_DRIVER_NOT_LOADED);
	CHECK_EQ(nv.nvmlDeviceGetCount_v2(&n), NVML_ERROR_UNINITIALIZED);
	CHECK_EQ(nv.nvmlShutdown(), NVML_ERROR_UNINITIALIZED);
	setenv("FAKE_NVML", "", 1);
	CHECK_EQ(nv.nvmlInit(), NVML_ERROR_DRIVER_NOT_LOADED);
	config("init=9");
	CHECK_EQ(nv.nvmlInit_v2(), NVML_ERROR_DRIVER_NOT_LOADED);
	config("init=15;gpus=2");
	CHECK_EQ(nv.nvmlInit_v2(), NVML_ERROR_GPU_IS_LOST);

	/* Each bad configuration is refused, and says why on stderr. */
	static const char *const bad[] = {
		"bogus=1", "gpus=17", "gpus=2;base_w.2=5", "name=x", "gpus", "energy.0=2",
		"period_ms.0=0", "no=nvmlInit", "no=nvmlFoo", "procs.0=1:2", "procs.0=1:101:0",
		"min_limit_w.0=800", "mem_used.0=100;mem_total.0=10", "base_w.0=1x",
		"epoch_ns=abc", "temp.x=3", "procs.0=1:2:3:x", "procs.0=1:2:na:cg:1",
		"fail=nvmlDeviceGetName", "fail=nvmlInit:3", "fail=nvmlDeviceGetName:0",
		"sample_ms.0=0", "late.0=33", "junk.0=2",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		setenv("FAKE_NVML", bad[i], 1);
		if (nv.nvmlInit_v2() != NVML_ERROR_INVALID_ARGUMENT) {
			fprintf(stderr, "'%s' was accepted\n", bad[i]);
			failures++;
		}
	}
	CHECK_EQ(nv.nvmlDeviceGetCount(&n), NVML_ERROR_UNINITIALIZED);

	/* Reference counted: two inits need two shutdowns. */
	config("gpus=3");
	CHECK_EQ(nv.nvmlInit_v2(), NVML_SUCCESS);
	CHECK_EQ(nv.nvmlInit(), NVML_SUCCESS);
	CHECK_EQ(nv.nvmlDeviceGetCount_v2(&n), NVML_SUCCESS);
	CHECK_EQ(n, 3);
	CHECK_EQ(nv.nvmlShutdown(), NVML_SUCCESS);
	CHECK_EQ(nv.nvmlDeviceGetCount(&n), NVML_SUCCESS);
	CHECK_EQ(nv.nvmlShutdown(), NVML_SUCCESS);
	CHECK_EQ(nv.nvmlDeviceGetCount(&n), NVML_ERROR_UNINITIALIZED);
	CHECK_EQ(nv.nvmlShutdown(), NVML_ERROR_UNINITIALIZED);
	CHECK(!strcmp(nv.nvmlErrorString(NVML_ERROR_GPU_IS_LOST), "GPU is lost"));
	CHECK(!strcmp(nv.nvmlErrorString(12345), "Unknown Error"));
}

static void test_energy(void)
{
	long long epoch = mono_ns() - 300000000LL; /* t starts at 0.3 s */
	nvmlDevice_t dev;
	unsigned long long e[2];
	double t[2][2];

	config("gpus=2;epoch_ns=%lld;base_w.1=150;amp_w.1=60;period_ms.1=333", epoch);
	CHECK_EQ(nv.nvmlInit_v2(), NVML_SUCCESS);
	dev = handle(1);
	for (int i = 0; i < 2; i++) {
		t[i][0] = (mono_ns() - epoch) / 1e9;
		CHECK_EQ(nv.nvmlDeviceGetTotalEnergyConsumption(dev, &e[i]), NVML_SUCCESS);
		t[i][1] = (mono_ns() - epoch) / 1e9;
		/* Bracketed by the truth just before and just after the call. */
		CHECK(e[i] + 1 >= floor(1000 * fake_nvml_energy_j(150, 60, 0.333, 0, t[i][0])));
		CHECK(e[i] <= floor(1000 * fake_nvml_energy_j(150, 60, 0.333, 0, t[i][1])) + 1);
		if (!i)
			sleep_ms(200);
	}
	double want_mj = 1000 * fake_nvml_energy_j(150, 60, 0.333, (t[0][0] + t[0][1]) / 2,
	                                           (t[1][0] + t[1][1]) / 2);
	double got_mj = (double)(e[1] - e[0]);

	if (fabs(got_mj - want_mj) > 1 + 0.001 * want_mj) {
		fprintf(stderr, "energy over 200 ms: %.1f mJ, truth %.1f mJ\n", got_mj, want_mj);
		failures++;
	}
	printf("energy over %.0f ms: %.0f mJ, truth %.1f mJ\n", (t[1][0] - t[0][0]) * 1000, got_mj,
	       want_mj);
	CHECK_EQ(nv.nvmlShutdown(), NVML_SUCCESS);

	/* Before the epoch the counter stands at 0. */
	config("epoch_ns=%lld", mono_ns() + 10000000000LL);
	CHECK_EQ(nv.nvmlInit_v2(), NVML_SUCCESS);
	CHECK_EQ(nv.nvmlDeviceGetTotalEnergyConsumption(handle(0), &e[0]), NVML_SUCCESS);
	CHECK_EQ(e[0], 0);
	CHECK_EQ(nv.nvmlShutdown(), NVML_SUCCESS);
}

/* The instant field holds P(t_k) for update_ms, then moves; the average likewise. */
static void test_hold(void)
{
	long long epoch = mono_ns();
	nvmlDevice_t dev;
	int changes = 0, checked = 0;
	unsigned int last = 0, usage;

	config("epoch_ns=%lld;update_ms.0=50;period_ms.0=400;amp_w.0=50", epoch);
	CHECK_EQ(nv.nvmlInit_v2(), NVML_SUCCESS);
	dev = handle(0);
	for (int i = 0; i < 100; i++) {
		nvmlFieldValue_t v[3] = { { .fieldId = NVML_FI_DEV_POWER_INSTANT },
			                  { .fieldId = NVML_FI_DEV_POWER_AVERAGE },
			                  { .fieldId = 9999 } };
		double t0 = (mono_ns() - epoch) / 1e9, t1, tk;

		CHECK_EQ(nv.nvmlDeviceGetFieldValues(dev, 3, v), NVML_SUCCESS);
		CHECK_EQ(nv.nvmlDeviceGetPowerUsage(dev, &usage), NVML_SUCCESS);
		t1 = (mono_ns() - epoch) / 1e9;
		CHECK_EQ(v[0].nvmlReturn, NVML_SUCCESS);
		CHECK_EQ(v[0].valueType, NVML_VALUE_TYPE_UNSIGNED_INT);
		CHECK_EQ(v[1].nvmlReturn, NVML_SUCCESS);
		CHECK_EQ(v[2].nvmlReturn, NVML_ERROR_NOT_SUPPORTED);
		tk = fake_nvml_held_s(t0, 0.05);
		if (tk == fake_nvml_held_s(t1, 0.05)) {
			/* The call fell within one refresh: the value is known exactly. */
			CHECK(fabs(v[0].value.uiVal - 1000 * fake_nvml_power_w(100, 50, 0.4, tk)) <= 1);
			CHECK(fabs(v[1].value.uiVal - 1000 * fake_nvml_avg_power_w(100, 50, 0.4, tk)) <=
			      1);
			CHECK(fabs(usage - 1000 * fake_nvml_avg_power_w(100, 50, 0.4, tk)) <= 1);
			checked++;
		}
		if (i && v[0].value.uiVal != last)
			changes++;
		last = v[0].value.uiVal;
		sleep_ms(5);
	}
	/* About 500 ms over 50 ms refreshes: about 10 changes, not 100. */
	printf("instant field: %d changes in 100 reads, %d checked exactly\n", changes, checked);
	CHECK(changes >= 6 && changes <= 14);
	CHECK(checked >= 50);
	CHECK_EQ(nv.nvmlShutdown(), NVML_SUCCESS);
}

static void test_lose(void)
{
	long long epoch = mono_ns();
	nvmlDevice_t dev0, dev1, dev;
	unsigned long long e;
	nvmlFieldValue_t v = { .fieldId = NVML_FI_DEV_POWER_INSTANT };

	config("gpus=2;epoch_ns=%lld;lose_ms.1=100", epoch);
	CHECK_EQ(nv.nvmlInit_v2(), NVML_SUCCESS);
	dev0 = handle(0);
	dev1 = handle(1);
	CHECK_EQ(nv.nvmlDeviceGetTotalEnergyConsumption(dev1, &e), NVML_SUCCESS);
	sleep_ms(150);
	CHECK_EQ(nv.nvmlDeviceGetTotalEnergyConsumption(dev1, &e), NVML_ERROR_GPU_IS_LOST);
	CHECK_EQ(nv.nvmlDeviceGetFieldValues(dev1, 1, &v), NVML_ERROR_GPU_IS_LOST);
	CHECK_EQ(v.nvmlReturn, NVML_ERROR_GPU_IS_LOST);
	CHECK_EQ(nv.nvmlDeviceGetHandleByIndex(1, &dev), NVML_ERROR_GPU_IS_LOST);
	CHECK_EQ(nv.nvmlDeviceGetTotalEnergyConsumption(dev0, &e), NVML_SUCCESS);
	CHECK_EQ(nv.nvmlShutdown(), NVML_SUCCESS);
}

static void test_switches(void)
{
	nvmlDevice_t dev, bogus = (nvmlDevice_t)&failures;
	unsigned long long e;
	unsigned int u, lo, hi;
	nvmlFieldValue_t v[2] = { { .fieldId = NVML_FI_DEV_POWER_INSTANT },
		                  { .fieldId = NVML_FI_DEV_POWER_AVERAGE } };
	nvmlMemory_t mem;
	nvmlUtilization_t util;

	config("gpus=2;energy.1=0;instant.1=0;no=nvmlDeviceGetCount_v2,nvmlDeviceGetUUID;"
	       "arch.1=7;util.1=77;mem_util.1=11;temp.1=61;sm_mhz.1=1410;mem_used.1=5;"
	       "mem_total.1=8");
	CHECK_EQ(nv.nvmlInit_v2(), NVML_SUCCESS);
	dev = handle(1);
	CHECK_EQ(nv.nvmlDeviceGetTotalEnergyConsumption(dev, &e), NVML_ERROR_NOT_SUPPORTED);
	CHECK_EQ(nv.nvmlDeviceGetTotalEnergyConsumption(handle(0), &e), NVML_SUCCESS);
	CHECK_EQ(nv.nvmlDeviceGetFieldValues(dev, 2, v), NVML_SUCCESS);
	CHECK_EQ(v[0].nvmlReturn, NVML_ERROR_NOT_SUPPORTED);
	CHECK_EQ(v[1].nvmlReturn, NVML_SUCCESS);
	CHECK_EQ(nv.nvmlDeviceGetCount_v2(&u), NVML_ERROR_FUNCTION_NOT_FOUND);
	CHECK_EQ(nv.nvmlDeviceGetCount(&u), NVML_SUCCESS);
	CHECK_EQ(nv.nvmlDeviceGetUUID(dev, (char[96]){ 0 }, 96), NVML_ERROR_FUNCTION_NOT_FOUND);
	CHECK_EQ(nv.nvmlDeviceGetArchitecture(dev, &u), NVML_SUCCESS);
	CHECK_EQ(u, NVML_DEVICE_ARCH_AMPERE);
	CHECK_EQ(nv.nvmlDeviceGetUtilizationRates(dev, &util), NVML_SUCCESS);
	CHECK_EQ(util.gpu, 77);
	CHECK_EQ(util.memory, 11);
	CHECK_EQ(nv.nvmlDeviceGetTemperature(dev, NVML_TEMPERATURE_GPU, &u), NVML_SUCCESS);
	CHECK_EQ(u, 61);
	CHECK_EQ(nv.nvmlDeviceGetTemperature(dev, 1, &u), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ(nv.nvmlDeviceGetClockInfo(dev, NVML_CLOCK_SM, &u), NVML_SUCCESS);
	CHECK_EQ(u, 1410);
	CHECK_EQ(nv.nvmlDeviceGetClockInfo(dev, 0, &u), NVML_ERROR_NOT_SUPPORTED);
	CHECK_EQ(nv.nvmlDeviceGetMemoryInfo(dev, &mem), NVML_SUCCESS);
	CHECK_EQ(mem.used, 5);
	CHECK_EQ(mem.free, 3);

	/* Handles: only ours, only below the count. */
	CHECK_EQ(nv.nvmlDeviceGetArchitecture(bogus, &u), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ(nv.nvmlDeviceGetArchitecture(NULL, &u), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ(nv.nvmlDeviceGetHandleByIndex_v2(2, &dev), NVML_ERROR_INVALID_ARGUMENT);

	/* Limits: set within the constraints, kept over a shutdown and the same configuration. */
	dev = handle(0);
	CHECK_EQ(nv.nvmlDeviceGetPowerManagementLimitConstraints(dev, &lo, &hi), NVML_SUCCESS);
	CHECK_EQ(lo, 200000);
	CHECK_EQ(hi, 700000);
	CHECK_EQ(nv.nvmlDeviceSetPowerManagementLimit(dev, 199999), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ(nv.nvmlDeviceSetPowerManagementLimit(dev, 700001), NVML_ERROR_INVALID_ARGUMENT);
	CHECK_EQ(nv.nvmlDeviceSetPowerManagementLimit(dev, 450000), NVML_SUCCESS);
	CHECK_EQ(nv.nvmlShutdown(), NVML_SUCCESS);
	CHECK_EQ(nv.nvmlInit_v2(), NVML_SUCCESS);
	CHECK_EQ(nv.nvmlDeviceGetEnforcedPowerLimit(dev, &u), NVML_SUCCESS);
	CHECK_EQ(u, 450000);
	CHECK_EQ(nv.nvmlDeviceGetPowerManagementDefaultLimit(dev, &u), NVML_SUCCESS);
	CHECK_EQ(u, 700000);
	CHECK_EQ(nv.nvmlShutdown(), NVML_SUCCESS);
	config("root=0;limit_w.0=300.5");
	CHECK_EQ(nv.nvmlInit_v2(), NVML_SUCCESS);
	CHECK_EQ(nv.nvmlDeviceGetEnforcedPowerLimit(dev, &u), NVML_SUCCESS);
	CHECK_EQ(u, 300500);
	CHECK_EQ(nv.nvmlDeviceSetPowerManagementLimit(dev, 450000), NVML_ERROR_NO_PERMISSION);
	CHECK_EQ(nv.nvmlShutdown(), NVML_SUCCESS);
}

static void test_sizes(void)
{
	nvmlDevice_t dev;
	char buf[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
	size_t len;
	unsigned int n;
	nvmlProcessUtilizationSample_t s[3];
	nvmlProcessInfo_t p[3];

	config("gpus=2;name.0=Fake GPU;procs.0=100:25:4096,200:75:8192");
	CHECK_EQ(nv.nvmlInit_v2(), NVML_SUCCESS);
	dev = handle(0);
	len = strlen("Fake GPU");
	CHECK_EQ(nv.nvmlDeviceGetName(dev, buf, (unsigned int)len), NVML_ERROR_INSUFFICIENT_SIZE);
	CHECK_EQ(nv.nvmlDeviceGetName(dev, buf, (unsigned int)len + 1), NVML_SUCCESS);
	CHECK(!strcmp(buf, "Fake GPU"));
	CHECK_EQ(nv.nvmlDeviceGetUUID(dev, buf, sizeof buf), NVML_SUCCESS);
	CHECK(!strncmp(buf, "GPU-", 4));
	CHECK_EQ(nv.nvmlDeviceGetUUID(dev, buf, 4), NVML_ERROR_INSUFFICIENT_SIZE);
	CHECK_EQ(nv.nvmlSystemGetDriverVersion(buf, sizeof buf), NVML_SUCCESS);
	CHECK(!strcmp(buf, "550.54.15"));
	CHECK_EQ(nv.nvmlSystemGetDriverVersion(buf, 3), NVML_ERROR_INSUFFICIENT_SIZE);

	n = 0;
	CHECK_EQ(nv.nvmlDeviceGetProcessUtilization(dev, NULL, &n, 0), NVML_ERROR_INSUFFICIENT_SIZE);
	CHECK_EQ(n, 2);
	n = 1;
	CHECK_EQ(nv.nvmlDeviceGetProcessUtilization(dev, s, &n, 0), NVML_ERROR_INSUFFICIENT_SIZE);
	CHECK_EQ(n, 2);
	n = 3;
	CHECK_EQ(nv.nvmlDeviceGetProcessUtilization(dev, s, &n, 0), NVML_SUCCESS);
	CHECK_EQ(n, 2);
	CHECK_EQ(s[1].pid, 200);
	CHECK_EQ(s[1].smUtil, 75);
	CHECK(s[1].timeStamp > 1600000000ULL * 1000000);
	CHECK_EQ(nv.nvmlDeviceGetProcessUtilization(dev, s, &n, s[1].timeStamp + 10000000),
	         NVML_ERROR_NOT_FOUND);
	CHECK_EQ(nv.nvmlDeviceGetProcessUtilization(handle(1), NULL, &n, 0), NVML_ERROR_NOT_FOUND);

	n = 0;
	CHECK_EQ(nv.nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, NULL),
	         NVML_ERROR_INSUFFICIENT_SIZE);
	CHECK_EQ(n, 2);
	n = 3;
	CHECK_EQ(nv.nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, p), NVML_SUCCESS);
	CHECK_EQ(n, 2);
	CHECK_EQ(p[0].pid, 100);
	CHECK_EQ(p[0].usedGpuMemory, 4096);
	CHECK_EQ(p[0].gpuInstanceId, 0xFFFFFFFFu);
	n = 0;
	CHECK_EQ(nv.nvmlDeviceGetComputeRunningProcesses_v3(handle(1), &n, NULL), NVML_SUCCESS);
	CHECK_EQ(n, 0);
	CHECK_EQ(nv.nvmlShutdown(), NVML_SUCCESS);
}

/* Per-process samples and lists: periods, kinds, files, sizing races, padding. */
static void test_procs(void)
{
	nvmlProcessUtilizationSample_t s[8];
	nvmlProcessInfo_t p[8];
	unsigned int n;
	char path[] = "/tmp/fake_nvml_selftest_XXXXXX";
	int fd = mkstemp(path);
	FILE *f;

	/* A period of 1000 s: every call below sees the same samples. */
	config("sample_ms.0=1e6;procs.0=10:30:100,11:0:na:g,12:20:300:cg,13:5:400");
	CHECK_EQ(nv.nvmlInit_v2(), NVML_SUCCESS);
	nvmlDevice_t dev = handle(0);
	/* Process 11 used no SM: no sample. */
	n = 8;
	CHECK_EQ(nv.nvmlDeviceGetProcessUtilization(dev, s, &n, 0), NVML_SUCCESS);
	CHECK_EQ(n, 3);
	CHECK_EQ(s[0].pid, 10);
	CHECK_EQ(s[1].pid, 12);
	CHECK_EQ(s[2].pid, 13);
	CHECK_EQ(s[1].smUtil, 20);
	/* Each its own time stamp, 1 us apart, in the past. */
	CHECK_EQ(s[0].timeStamp - s[1].timeStamp, 1);
	CHECK_EQ(s[1].timeStamp - s[2].timeStamp, 1);
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	CHECK(s[0].timeStamp <= (unsigned long long)rt.tv_sec * 1000000 + rt.tv_nsec / 1000);
	/* Only the newer ones, and then none. */
	unsigned long long newest = s[0].timeStamp;
	n = 8;
	CHECK_EQ(nv.nvmlDeviceGetProcessUtilization(dev, s, &n, newest - 2), NVML_SUCCESS);
	CHECK_EQ(n, 2);
	CHECK_EQ(s[0].timeStamp, newest);
	CHECK_EQ(nv.nvmlDeviceGetProcessUtilization(dev, s, &n, newest), NVML_ERROR_NOT_FOUND);
	/* Lists by kind; "na" memory is NVML_VALUE_NOT_AVAILABLE. */
	n = 8;
	CHECK_EQ(nv.nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, p), NVML_SUCCESS);
	CHECK_EQ(n, 3);
	CHECK_EQ(p[1].pid, 12);
	n = 8;
	CHECK_EQ(nv.nvmlDeviceGetGraphicsRunningProcesses_v3(dev, &n, p), NVML_SUCCESS);
	CHECK_EQ(n, 2);
	CHECK_EQ(p[0].pid, 11);
	CHECK(p[0].usedGpuMemory == (unsigned long long)NVML_VALUE_NOT_AVAILABLE);
	CHECK_EQ(p[1].usedGpuMemory, 300);
	CHECK_EQ(nv.nvmlShutdown(), NVML_SUCCESS);

	/* A new period brings new samples, newer than the last seen. */
	config("sample_ms.0=20;procs.0=10:30:100");
	CHECK_EQ(nv.nvmlInit_v2(), NVML_SUCCESS);
	dev = handle(0);
	n = 8;
	CHECK_EQ(nv.nvmlDeviceGetProcessUtilization(dev, s, &n, 0), NVML_SUCCESS);
	newest = s[0].timeStamp;
	sleep_ms(30);
	n = 8;
	CHECK_EQ(nv.nvmlDeviceGetProcessUtilization(dev, s, &n, newest), NVML_SUCCESS);
	CHECK(s[0].timeStamp >= newest + 20000);
	CHECK_EQ(nv.nvmlShutdown(), NVML_SUCCESS);

	/* A sizing call misses the late process; a junk-padded buffer. */
	config("sample_ms.0=1e6;procs.0=10:30:100,12:20:300;late.0=1;junk.0=1");
	CHECK_EQ(nv.nvmlInit_v2(), NVML_SUCCESS);
	dev = handle(0);
	n = 0;
	CHECK_EQ(nv.nvmlDeviceGetProcessUtilization(dev, NULL, &n, 0), NVML_ERROR_INSUFFICIENT_SIZE);
	CHECK_EQ(n, 4);
	CHECK_EQ(nv.nvmlDeviceGetProcessUtilization(dev, s, &n, 0), NVML_ERROR_INSUFFICIENT_SIZE);
	CHECK_EQ(n, 5);
	CHECK_EQ(nv.nvmlDeviceGetProcessUtilization(dev, s, &n, 0), NVML_SUCCESS);
	CHECK_EQ(s[2].smUtil, 37100);
	CHECK_EQ(s[4].pid, 0);
	n = 0;
	CHECK_EQ(nv.nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, NULL),
	         NVML_ERROR_INSUFFICIENT_SIZE);
	CHECK_EQ(n, 1);
	CHECK_EQ(nv.nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, p), NVML_ERROR_INSUFFICIENT_SIZE);
	CHECK_EQ(n, 2);
	CHECK_EQ(nv.nvmlShutdown(), NVML_SUCCESS);

	/* fail= */
	config("procs.0=10:30:100;fail=nvmlDeviceGetProcessUtilization:4");
	CHECK_EQ(nv.nvmlInit_v2(), NVML_SUCCESS);
	n = 0;
	CHECK_EQ(nv.nvmlDeviceGetProcessUtilization(handle(0), NULL, &n, 0),
	         NVML_ERROR_NO_PERMISSION);
	CHECK_EQ(nv.nvmlShutdown(), NVML_SUCCESS);

	/* procs_file: read at every call; none while it does not exist. */
	CHECK(fd >= 0);
	close(fd);
	unlink(path);
	config("sample_ms.0=1e6;procs.0=10:30:100;procs_file.0=%s", path);
	CHECK_EQ(nv.nvmlInit_v2(), NVML_SUCCESS);
	dev = handle(0);
	n = 0;
	CHECK_EQ(nv.nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, NULL), NVML_SUCCESS);
	CHECK_EQ(n, 0);
	CHECK_EQ(nv.nvmlDeviceGetProcessUtilization(dev, NULL, &n, 0), NVML_ERROR_NOT_FOUND);
	f = fopen(path, "w");
	fputs("\n77 40 1000\n78 0 na g\n", f);
	fclose(f);
	n = 8;
	CHECK_EQ(nv.nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, p), NVML_SUCCESS);
	CHECK_EQ(n, 1);
	CHECK_EQ(p[0].pid, 77);
	CHECK_EQ(p[0].usedGpuMemory, 1000);
	n = 8;
	CHECK_EQ(nv.nvmlDeviceGetProcessUtilization(dev, s, &n, 0), NVML_SUCCESS);
	CHECK_EQ(n, 1);
	CHECK_EQ(s[0].smUtil, 40);
	f = fopen(path, "w");
	fputs("77 40\n", f);
	fclose(f);
	fprintf(stderr, "(a bad procs_file line is meant to be told:)\n");
	CHECK_EQ(nv.nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, p), NVML_ERROR_UNKNOWN);
	unlink(path);
	CHECK_EQ(nv.nvmlShutdown(), NVML_SUCCESS);
}

/* Reads from several threads at once, as the sampler and the caller do. */
static void *reader(void *arg)
{
	nvmlDevice_t dev = arg;

	for (int i = 0; i < 2000; i++) {
		unsigned long long e;
		unsigned int u;

		nv.nvmlDeviceGetTotalEnergyConsumption(dev, &e);
		nv.nvmlDeviceSetPowerManagementLimit(dev, 300000 + (unsigned int)i);
		nv.nvmlDeviceGetEnforcedPowerLimit(dev, &u);
	}
	return NULL;
}

static void test_threads(void)
{
	pthread_t th[4];
	int before = calls("nvmlDeviceGetEnforcedPowerLimit");

	config("gpus=1");
	CHECK_EQ(nv.nvmlInit_v2(), NVML_SUCCESS);
	nvmlDevice_t dev = handle(0);
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, reader, dev);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(calls("nvmlDeviceGetEnforcedPowerLimit") - before, 8000);
	CHECK_EQ(calls("nvmlNoSuchThing"), -1);
	CHECK_EQ(nv.nvmlShutdown(), NVML_SUCCESS);
}

int main(int argc, char **argv)
{
	void *lib = dlopen(argc > 1 ? argv[1] : "libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);

	if (!lib) {
		fprintf(stderr, "selftest: %s\n", dlerror());
		return 2;
	}
	/* The fake leaves out the MIG look-ups on purpose: a driver that cannot
	 * tell a MIG instance's board (test_nvml.c). */
#define LOOKUP(ret, name, params)                                                   \
	*(void **)&nv.name = dlsym(lib, #name);                                     \
	if (!nv.name && strcmp(#name, "nvmlDeviceGetHandleByUUID") &&               \
	    strcmp(#name, "nvmlDeviceGetDeviceHandleFromMigDeviceHandle")) {        \
		fprintf(stderr, "selftest: %s missing\n", #name);                   \
		return 2;                                                           \
	}
	WP_NVML_FUNCTIONS(LOOKUP)
#undef LOOKUP
	*(void **)&calls = dlsym(lib, "fake_nvml_calls");
	if (!calls)
		return 2;

	test_init();
	test_energy();
	test_hold();
	test_lose();
	test_switches();
	test_sizes();
	test_procs();
	test_threads();
	CHECK_EQ(calls("nvmlInit_v2") > 0, 1);
	CHECK_EQ(calls("nvmlDeviceGetPowerManagementLimitConstraints"), 1);
	printf("selftest: %s\n", failures ? "FAILED" : "passed");
	return failures != 0;
}
