/*
 * test_nvml_old.c - the NVML source on an old driver: the fake NVML built
 * with -DFAKE_NVML_OLD_DRIVER (WATTPROF_FAKENVML_OLD, see the Makefile),
 * which has nvmlInit, nvmlShutdown, nvmlErrorString, nvmlDeviceGetCount,
 * nvmlDeviceGetHandleByIndex, nvmlDeviceGetName and nvmlDeviceGetPowerUsage
 * and no other NVML symbol at all.  The fake's no= only makes a present
 * function fail; here dlsym() finds nothing, so src/sensors/nvml.c must take
 * the unversioned entry points and never call through a NULL pointer.
 *
 * The library is named by full path in WATTPROF_NVML_LIB, as a user would
 * point wattprof at a driver outside the loader's path.  Its power is the
 * fake's model (fake_nvml.h), and nvmlDeviceGetPowerUsage reports the 1 s
 * trailing average A(t) at the last refresh.
 */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/internal.h"
#include "fakenvml/fake_nvml.h"
#include "wattprof/wattprof.h"
#include "json.h"
#include "test.h"

/* Sets FAKE_NVML to epoch_ns = now and the items; returns the epoch. */
static uint64_t old_config(const char *items)
{
	char all[1200];
	uint64_t epoch = wp_now_ns();

	snprintf(all, sizeof all, "epoch_ns=%llu;%s", (unsigned long long)epoch, items);
	setenv("FAKE_NVML", all, 1);
	setenv("WATTPROF_NVML_LIB", WATTPROF_FAKENVML_OLD, 1);
	return epoch;
}

static double secs(uint64_t ns, uint64_t epoch)
{
	return ((double)ns - (double)epoch) / 1e9;
}

/* A helper of the old fake, from the copy that the NVML source loaded. */
static void *old_symbol(const char *name)
{
	void *dl = dlopen(WATTPROF_FAKENVML_OLD, RTLD_NOW | RTLD_NOLOAD);
	void *sym = dl ? dlsym(dl, name) : NULL;
	if (!sym)
		TEST_FAIL_("the old fake NVML is not loaded, or lacks %s", name);
	dlclose(dl);
	return sym;
}

static const struct wp_domain_info *find(const struct wp_host *h, const char *name)
{
	size_t i;
	if (wp_host_find_domain(h, name, &i) < 0) {
		for (size_t k = 0; k < wp_host_note_count(h); k++)
			fprintf(stderr, "  note: %s: %s\n", wp_host_note(h, k)->source,
			        wp_host_note(h, k)->message);
		TEST_FAIL_("no domain %s", name);
	}
	return wp_host_domain(h, i);
}

/* Power models of the two GPUs, W and s; both refresh every 10 ms. */
static const double BASE[2] = { 200, 150 }, AMP[2] = { 80, 60 }, PERIOD[2] = { 0.8, 2.0 };
#define UPDATE_S 0.010

TEST(nvml_old_driver_without_optional_symbols)
{
	char root[512], items[512];
	struct wp_host *host;
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sources = "nvml",
		                .flags = WP_OPEN_NO_CROSSCHECK };

	snprintf(items, sizeof items,
	         "gpus=2;base_w.0=%g;amp_w.0=%g;period_ms.0=%g;update_ms.0=%g;"
	         "base_w.1=%g;amp_w.1=%g;period_ms.1=%g;update_ms.1=%g",
	         BASE[0], AMP[0], PERIOD[0] * 1e3, UPDATE_S * 1e3, BASE[1], AMP[1],
	         PERIOD[1] * 1e3, UPDATE_S * 1e3);
	uint64_t epoch = old_config(items);
	test_tmpdir(root, sizeof root);
	o.sysfs_root = root;
	ASSERT_EQ(wp_host_open(&host, &o), 0);

	/* Both GPUs, found through the old library by its full path. */
	ASSERT_EQ(wp_host_domain_count(host), 2);
	const struct wp_domain_info *d[2] = { find(host, "nvidia_gpu_0"),
		                              find(host, "nvidia_gpu_1") };
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(d[i]->kind, WP_KIND_GPU);
		ASSERT_STR(d[i]->source, "nvml");
		ASSERT_STR(d[i]->path, WATTPROF_FAKENVML_OLD);
		/* No energy counter and no field values: nvmlDeviceGetPowerUsage,
		 * integrated.  Without nvmlDeviceGetArchitecture the source cannot
		 * tell whether it is an average or a sample; either name will do. */
		ASSERT(strcmp(d[i]->method, WP_METHOD_POWER_AVERAGE) == 0 ||
		       strcmp(d[i]->method, WP_METHOD_POWER_INSTANT) == 0);
		ASSERT_EQ(d[i]->integrated, 1);
		ASSERT_STR(d[i]->device_name, "NVIDIA H100 80GB HBM3");
		/* No nvmlDeviceGetUUID: no identifier (NULL or empty). */
		ASSERT(d[i]->device_id == NULL); /* no UUID function: none, not "" */
		/* No limit functions: some assumed peak, but a usable one. */
		ASSERT(isfinite(d[i]->peak_power_w) && d[i]->peak_power_w > 0);
		/* The 10 ms refresh, seen within a few polls.  A poll that load
		 * delays makes the next change look sooner (7.7 ms has been seen
		 * on a loaded machine): the estimate errs low, the safe side (the
		 * sampler reads more often), so 6 ms is enough to tell it from the
		 * 1 ms polls. */
		ASSERT_U64(d[i]->update_ns, >=, 6000000);
		ASSERT_U64(d[i]->update_ns, <=, 40000000);
	}
	ASSERT(test_find_note(host, "nvml", WP_NOTE_FOUND, "2 NVIDIA GPUs through '"));
	/* No nvmlSystemGetDriverVersion. */
	ASSERT(test_find_note(host, "nvml", WP_NOTE_FOUND, "(driver unknown)"));

	/* The unversioned entry points; the newer ones were never reached
	 * (they exist in the object, hidden, so their counts can be asked). */
	fake_nvml_calls_fn calls = (fake_nvml_calls_fn)old_symbol("fake_nvml_calls");
	ASSERT_INT(calls("nvmlInit"), >, 0);
	ASSERT_EQ(calls("nvmlInit_v2"), 0);
	ASSERT_INT(calls("nvmlDeviceGetCount"), >, 0);
	ASSERT_EQ(calls("nvmlDeviceGetCount_v2"), 0);
	ASSERT_INT(calls("nvmlDeviceGetHandleByIndex"), >, 0);
	ASSERT_EQ(calls("nvmlDeviceGetHandleByIndex_v2"), 0);
	ASSERT_INT(calls("nvmlDeviceGetPowerUsage"), >, 0);
	ASSERT_EQ(calls("nvmlDeviceGetTotalEnergyConsumption"), 0);
	ASSERT_EQ(calls("nvmlDeviceGetFieldValues"), 0);
	/* The old fake is the only NVML in this process. */
	ASSERT(dlopen(WATTPROF_FAKENVML_DIR "/libnvidia-ml.so.1", RTLD_NOW | RTLD_NOLOAD) == NULL);

	/* Energy over ~500 ms with a sampler, against the fake's truth. */
	const char *names[] = { "nvidia_gpu_0", "nvidia_gpu_1" };
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, host, names, 2, NULL), 0);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = 10 };
	ASSERT_EQ(wp_meter_start_sampler(m, &so), 0);
	ASSERT_EQ(wp_meter_snapshot(m, a), 0);
	test_sleep_ms(500);
	ASSERT_EQ(wp_meter_snapshot(m, b), 0);
	wp_meter_stop_sampler(m);
	double t0 = secs(wp_snapshot_time_ns(a), epoch), t1 = secs(wp_snapshot_time_ns(b), epoch);
	for (size_t i = 0; i < 2; i++) {
		double j;
		ASSERT_EQ(wp_energy_between(m, a, b, i, &j), 0);
		double truth = fake_nvml_avg_energy_j(BASE[i], AMP[i], PERIOD[i], t0, t1);
		/*
		 * What is read is A(t_k), t_k the last refresh, at most u = 10 ms
		 * before the read, and the source joins the reads by trapezoids.
		 * Over D = t1 - t0 seconds the error is then at most
		 *   D (u max|A'| + h^2 / 8 max|A''|),
		 * h the time between reads.  A(t) = E(t - 1, t), so
		 * A'(t) = P(t) - P(t - 1), |A'| <= 2 amp, and
		 * |A''| <= 2 amp (2 pi / period).  The sampler reads at 200 Hz
		 * (twice per refresh); allowing a sampler ten times late,
		 * h = 50 ms, GPU 0 gets D (1.6 + 0.39) W, about 1 J on about
		 * 100 J.  Add 0.1% for reads a few microseconds off the
		 * snapshot's time.  Integrating P instead of A would be off by
		 * up to amp period / pi, 20 J on GPU 0.
		 */
		double h = 0.050, w = 2 * FAKE_NVML_PI / PERIOD[i];
		double tol = (t1 - t0) * (UPDATE_S * 2 * AMP[i] + h * h / 8 * 2 * AMP[i] * w) +
		             0.001 * truth;
		fprintf(stderr, "  gpu %zu: %.3f J against %.3f J (allowed %.3f J)\n", i, j, truth,
		        tol);
		ASSERT_NEAR(j, truth, tol);
	}

	/* Metrics: power, and NaN for what the old driver cannot tell. */
	uint64_t r0 = wp_now_ns();
	ASSERT_EQ(wp_meter_read_metrics(m, b), 0);
	uint64_t r1 = wp_now_ns();
	for (size_t i = 0; i < 2; i++) {
		/* A(t_k) for a t_k in [r0 - u, r1]: within (r1 - r0 + u) max|A'|
		 * of A at r1, and 0.5 mW of rounding. */
		double p = wp_snapshot_metric(b, i, WP_METRIC_POWER_W);
		double want = fake_nvml_avg_power_w(BASE[i], AMP[i], PERIOD[i], secs(r1, epoch));
		ASSERT_NEAR(p, want, ((double)(r1 - r0) / 1e9 + UPDATE_S) * 2 * AMP[i] + 0.0005);
		ASSERT(isnan(wp_snapshot_metric(b, i, WP_METRIC_UTIL_PCT)));
		ASSERT(isnan(wp_snapshot_metric(b, i, WP_METRIC_MEM_UTIL_PCT)));
		ASSERT(isnan(wp_snapshot_metric(b, i, WP_METRIC_TEMP_C)));
		ASSERT(isnan(wp_snapshot_metric(b, i, WP_METRIC_MEM_USED_B)));
		ASSERT(isnan(wp_snapshot_metric(b, i, WP_METRIC_SM_CLOCK_MHZ)));
		ASSERT(isnan(wp_snapshot_metric(b, i, WP_METRIC_POWER_LIMIT_W)));
	}
	/* No per-process use: neither query exists in this driver, and none is
	 * called through a missing symbol. */
	for (size_t i = 0; i < 2; i++) {
		struct wp__gpu_use u;
		uint64_t cursor = 0;
		const struct wp__domain *dom = &host->domains[i];
		ASSERT(dom->ops->version >= 4 && dom->ops->gpu_use);
		ASSERT_EQ(dom->ops->gpu_use(dom, &cursor, &u), -EOPNOTSUPP);
		ASSERT_EQ(u.sm_status, -EOPNOTSUPP);
		ASSERT_EQ(u.mem_status, -EOPNOTSUPP);
		ASSERT_EQ(u.nsamples + u.nmem, 0);
		ASSERT_U64(cursor, ==, 0);
		wp__gpu_use_free(&u);
	}
	ASSERT_EQ(calls("nvmlDeviceGetProcessUtilization"), 0);
	ASSERT_EQ(calls("nvmlDeviceGetComputeRunningProcesses_v3"), 0);
	ASSERT_EQ(calls("nvmlDeviceGetGraphicsRunningProcesses_v3"), 0);

	/* The sampler asking for metrics at every tick goes through the same path. */
	so.freq_hz = 50;
	so.flags = WP_SAMPLE_METRICS;
	ASSERT_EQ(wp_meter_start_sampler(m, &so), 0);
	test_sleep_ms(100);
	wp_meter_stop_sampler(m);

	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m);
	wp_host_close(host);
	test_rmtree(root);
	return TEST_OK;
}

TEST(nvml_old_driver_cli)
{
	char dir[512], *out;
	const char *cfg = "gpus=2;amp_w.0=0;amp_w.1=0;base_w.0=210;base_w.1=95;update_ms.0=10;"
	                  "update_ms.1=10";

	test_tmpdir(dir, sizeof dir);
	unsetenv("FAKE_NVML");
	unsetenv("WATTPROF_NVML_LIB");
	int st = test_shell(dir, &out, "WATTPROF_NVML_LIB='%s' FAKE_NVML='%s' WATTPROF_SYSFS_ROOT='%s' "
	                          "%s list",
	               WATTPROF_FAKENVML_OLD, cfg, dir, WATTPROF_BIN);
	ASSERT_EQ(st, 0);
	ASSERT_HAS(out, "nvidia_gpu_0  nvml      power_");
	ASSERT_HAS(out, "nvidia_gpu_1  nvml      power_");
	ASSERT_HAS(out, WATTPROF_FAKENVML_OLD);
	ASSERT_HAS(out, "NVIDIA H100 80GB HBM3");
	ASSERT_HAS(out, "power updates every ");
	ASSERT_HAS(out, "2 NVIDIA GPUs through '");
	ASSERT_LACKS(out, "GPU-5a5a");
	free(out);

	/* A run: constant power, so the truth is watts x duration. */
	st = test_shell(dir, &out,
	           "WATTPROF_NVML_LIB='%s' FAKE_NVML='%s' WATTPROF_SYSFS_ROOT='%s' "
	           "%s monitor --format json -- sleep 0.4",
	           WATTPROF_FAKENVML_OLD, cfg, dir, WATTPROF_BIN);
	ASSERT_EQ(st, 0);
	ASSERT(strchr(out, '{'));
	struct json *j = json_must_parse(strchr(out, '{'));
	const struct json *doms = json_member(j, "domains");
	double dur = json_member(j, "duration_s")->num;
	int gpus = 0;
	for (size_t i = 0; i < doms->n; i++) {
		const struct json *d = &doms->items[i];
		const char *name = json_member(d, "name")->str;
		if (strncmp(name, "nvidia_gpu_", 11) != 0)
			continue;
		gpus++;
		double watts = name[11] == '0' ? 210 : 95;
		ASSERT_STR(json_member(d, "device_name")->str, "NVIDIA H100 80GB HBM3");
		/* The integral of a constant: exact but for the reads' few
		 * microseconds off the snapshot times. */
		ASSERT_NEAR(json_member(d, "energy_j")->num, watts * dur, 0.003 * watts * dur);
	}
	ASSERT_EQ(gpus, 2);
	json_free(j);
	free(out);
	test_rmtree(dir);
	return TEST_OK;
}
