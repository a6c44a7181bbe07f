/*
 * test_nvml.c - NVIDIA GPUs through the fake NVML (tests/fakenvml/), which
 * the runner puts first in LD_LIBRARY_PATH so that src/sensors/nvml.c opens
 * it with the same dlopen("libnvidia-ml.so.1") as on a user's machine.
 *
 * The fake's power is P(t) = base + amp sin(2 pi t / period), t counted
 * from epoch_ns, which each test sets to a CLOCK_MONOTONIC time it knows;
 * the truth over any interval is fake_nvml_energy_j() (fake_nvml.h).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakenvml/fake_nvml.h"
#include "wattprof/wattprof.h"
#include "contract.h"
#include "json.h"
#include "test.h"

struct gpu_host {
	char root[512];
	struct wp_host *host;
	uint64_t epoch_ns;
};

/* Sets FAKE_NVML to the printf-style items, with epoch_ns = now. */
static uint64_t fake_config(const char *fmt, ...)
{
	char items[1024], all[1200];
	va_list ap;
	uint64_t epoch = wp_now_ns();

	va_start(ap, fmt);
	vsnprintf(items, sizeof items, fmt, ap);
	va_end(ap);
	snprintf(all, sizeof all, "epoch_ns=%llu;%s", (unsigned long long)epoch, items);
	setenv("FAKE_NVML", all, 1);
	return epoch;
}

/* Opens a host on an empty machine but for the fake NVML's GPUs. */
static void open_gpus(struct gpu_host *g, const char *sources)
{
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sources = sources,
		                .flags = WP_OPEN_NO_CROSSCHECK };
	test_tmpdir(g->root, sizeof g->root);
	o.sysfs_root = g->root;
	ASSERT_EQ(wp_host_open(&g->host, &o), 0);
}

static void close_gpus(struct gpu_host *g)
{
	wp_host_close(g->host);
	test_rmtree(g->root);
}

static const struct wp_domain_info *gpu_domain(const struct wp_host *h, const char *name)
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

static double secs(uint64_t ns, uint64_t epoch)
{
	return ((double)ns - (double)epoch) / 1e9;
}

/* The fake's own helpers, from the copy of it that the NVML source loaded. */
static void *fake_symbol(const char *name)
{
	void *dl = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_NOLOAD);
	void *sym = dl ? dlsym(dl, name) : NULL;
	if (!sym)
		TEST_FAIL_("the fake NVML is not loaded, or lacks %s", name);
	dlclose(dl);
	return sym;
}

TEST(nvml_discovers_gpus_and_methods)
{
	struct gpu_host g;
	/* 0: counter; 1: instant field; 2: only nvmlDeviceGetPowerUsage, a 1 s
	 * average on Ada; 3 and 4: the same call, a spot reading on Pascal
	 * and on GA100 (NVML reference, nvmlDeviceGetPowerUsage). */
	fake_config("gpus=5;energy.1=0;energy.2=0;instant.2=0;name.2=NVIDIA L4;arch.2=8;"
	            "energy.3=0;instant.3=0;name.3=Tesla P100-PCIE-16GB;arch.3=4;"
	            "energy.4=0;instant.4=0;name.4=NVIDIA A100-SXM4-40GB;arch.4=7;"
	            "max_limit_w.0=350;uuid.1=GPU-abcdef01-2345-6789-abcd-ef0123456789");
	open_gpus(&g, "nvml");
	ASSERT_EQ(wp_host_domain_count(g.host), 5);
	const struct wp_domain_info *d0 = gpu_domain(g.host, "nvidia_gpu_0");
	const struct wp_domain_info *d1 = gpu_domain(g.host, "nvidia_gpu_1");
	const struct wp_domain_info *d2 = gpu_domain(g.host, "nvidia_gpu_2");
	ASSERT_EQ(d0->kind, WP_KIND_GPU);
	ASSERT_STR(d0->source, "nvml");
	ASSERT_STR(d0->method, WP_METHOD_COUNTER);
	ASSERT_EQ(d0->integrated, 0);
	ASSERT_NEAR(d0->joules_per_count, 1e-3, 0);
	ASSERT_NEAR(d0->peak_power_w, 350, 0); /* the maximum limit NVML allows */
	ASSERT_U64(d0->update_ns, ==, 0);
	ASSERT_STR(d0->device_name, "NVIDIA H100 80GB HBM3");
	ASSERT_STR(d0->device_id, "GPU-5a5a0000-0000-4000-8000-000000000000");
	ASSERT_EQ(d0->opt_in, 0);
	/* The path is the library the loader found: the fake, by full path. */
	ASSERT_HAS(d0->path, "/fakenvml/libnvidia-ml.so.1");
	ASSERT_STR(d1->method, WP_METHOD_POWER_INSTANT);
	ASSERT_EQ(d1->integrated, 1);
	ASSERT_STR(d1->device_id, "GPU-abcdef01-2345-6789-abcd-ef0123456789");
	ASSERT_STR(d2->method, WP_METHOD_POWER_AVERAGE);
	ASSERT_STR(d2->device_name, "NVIDIA L4");
	ASSERT_STR(gpu_domain(g.host, "nvidia_gpu_3")->method, WP_METHOD_POWER_INSTANT);
	ASSERT_STR(gpu_domain(g.host, "nvidia_gpu_4")->method, WP_METHOD_POWER_INSTANT);
	/* The fake refreshes power every 20 ms: seen within a few polls, less
	 * one for safety. */
	ASSERT_U64(d1->update_ns, >=, 17000000);
	ASSERT_U64(d1->update_ns, <=, 40000000);
	ASSERT(test_find_note(g.host, "nvml", WP_NOTE_FOUND, "5 NVIDIA GPUs through '"));
	ASSERT(test_find_note(g.host, "nvml", WP_NOTE_FOUND, "(driver 550.54.15)"));
	ASSERT(test_find_note(g.host, "nvml", WP_NOTE_FOUND,
	                      "nvidia_gpu_1 (NVIDIA H100 80GB HBM3) has no energy counter: its "
	                      "instant power (NVML_FI_DEV_POWER_INSTANT) is integrated"));
	/* An H100 integrating power gets the part-time warning; the L4 the
	 * one-second-average warning, and not the H100 one; the P100 neither;
	 * the A100 only the part-time one. */
	ASSERT(test_find_note(g.host, "nvml", WP_NOTE_WARNING,
	                      "nvidia_gpu_1 (NVIDIA H100 80GB HBM3): energy integrated from power "
	                      "readings, and on A100/H100-class GPUs"));
	ASSERT(test_find_note(g.host, "nvml", WP_NOTE_WARNING,
	                      "nvidia_gpu_2 (NVIDIA L4): energy integrated from "
	                      "nvmlDeviceGetPowerUsage"));
	ASSERT(!test_find_note(g.host, "nvml", WP_NOTE_WARNING,
	                       "nvidia_gpu_2 (NVIDIA L4): energy integrated from power "
	                       "readings, and on A100/H100"));
	ASSERT(!test_find_note(g.host, "nvml", WP_NOTE_WARNING, "nvidia_gpu_3"));
	ASSERT(test_find_note(g.host, "nvml", WP_NOTE_WARNING,
	                      "nvidia_gpu_4 (NVIDIA A100-SXM4-40GB): energy integrated from power "
	                      "readings, and on A100/H100"));
	ASSERT(!test_find_note(g.host, "nvml", WP_NOTE_WARNING,
	                       "nvidia_gpu_4 (NVIDIA A100-SXM4-40GB): energy integrated from "
	                       "nvmlDeviceGetPowerUsage"));
	ASSERT(!test_find_note(g.host, "nvml", WP_NOTE_WARNING, "nvidia_gpu_0"));
	/* The newest entry points, and never a setting changed. */
	fake_nvml_calls_fn calls = (fake_nvml_calls_fn)fake_symbol("fake_nvml_calls");
	ASSERT_INT(calls("nvmlInit_v2"), >, 0);
	ASSERT_EQ(calls("nvmlInit"), 0);
	ASSERT_EQ(calls("nvmlDeviceGetCount"), 0);
	ASSERT_EQ(calls("nvmlDeviceGetHandleByIndex"), 0);
	ASSERT_EQ(calls("nvmlDeviceSetPowerManagementLimit"), 0);
	close_gpus(&g);
	return TEST_OK;
}

/* Measures over `ms` with a sampler asking for `hz`; energies of domains 0..n-1. */
static void measure(struct wp_host *h, const char *const *names, size_t n, double hz, long ms,
                    uint64_t *t0, uint64_t *t1, double *joules)
{
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, names, n, NULL), 0);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = hz };
	ASSERT_EQ(wp_meter_start_sampler(m, &so), 0);
	ASSERT_EQ(wp_meter_snapshot(m, a), 0);
	test_sleep_ms(ms);
	ASSERT_EQ(wp_meter_snapshot(m, b), 0);
	wp_meter_stop_sampler(m);
	*t0 = wp_snapshot_time_ns(a);
	*t1 = wp_snapshot_time_ns(b);
	for (size_t i = 0; i < n; i++)
		wp_energy_between(m, a, b, i, &joules[i]);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m);
}

TEST(nvml_energy_counter_matches_truth)
{
	struct gpu_host g;
	uint64_t epoch = fake_config("gpus=2;base_w.0=120;amp_w.0=60;period_ms.0=700;"
	                             "base_w.1=300;amp_w.1=100;period_ms.1=450");
	open_gpus(&g, "nvml");
	const char *names[] = { "nvidia_gpu_0", "nvidia_gpu_1" };
	double j[2];
	uint64_t t0, t1;
	measure(g.host, names, 2, 10, 600, &t0, &t1, j);
	/*
	 * The counter is exact but for its 1 mJ steps, and each read comes a
	 * few microseconds after the snapshot's timestamp: 2 mJ plus 0.1%.
	 */
	double truth0 = fake_nvml_energy_j(120, 60, 0.7, secs(t0, epoch), secs(t1, epoch));
	double truth1 = fake_nvml_energy_j(300, 100, 0.45, secs(t0, epoch), secs(t1, epoch));
	ASSERT_NEAR(j[0], truth0, 0.002 + 0.001 * truth0);
	ASSERT_NEAR(j[1], truth1, 0.002 + 0.001 * truth1);
	close_gpus(&g);
	return TEST_OK;
}

TEST(nvml_integrated_power_matches_truth)
{
	struct gpu_host g;
	/* GPU 0: instant power every 10 ms; GPU 1: only the 1 s average. */
	uint64_t epoch = fake_config("gpus=2;energy.0=0;energy.1=0;instant.1=0;"
	                             "base_w.0=200;amp_w.0=80;period_ms.0=800;update_ms.0=10;"
	                             "base_w.1=150;amp_w.1=60;period_ms.1=2000;update_ms.1=10");
	open_gpus(&g, "nvml");
	const char *names[] = { "nvidia_gpu_0", "nvidia_gpu_1" };
	const struct wp_domain_info *d0 = gpu_domain(g.host, "nvidia_gpu_0");
	double j[2];
	uint64_t t0, t1;
	/* Asked for 1 Hz: the sampler must rise to twice the 10 ms update rate. */
	struct wp_meter *probe;
	ASSERT_EQ(wp_meter_open(&probe, g.host, names, 2, NULL), 0);
	ASSERT(wp_meter_min_freq_hz(probe) >= 2e9 / (double)d0->update_ns);
	ASSERT(wp_meter_min_freq_hz(probe) >= 150);
	wp_meter_close(probe);
	measure(g.host, names, 2, 1, 1000, &t0, &t1, j);
	double a = secs(t0, epoch), b = secs(t1, epoch);
	/*
	 * Instant power: each reading holds P from its refresh, up to u = 10 ms
	 * old, so the integral runs behind the truth by at most u at each end:
	 * |error| <= 2 u max(P) = 5.6 J in the worst phase, plus the trapezoid
	 * between reads (second order, < 0.1%).  On ~200 J that is 2.8%; the
	 * average phase is much better, and the bound is what is asserted.
	 */
	double truth0 = fake_nvml_energy_j(200, 80, 0.8, a, b);
	double truth1 = fake_nvml_avg_energy_j(150, 60, 2.0, a, b);
	fprintf(stderr, "  instant: %.3f J against %.3f J; average: %.3f J against %.3f J\n",
	        j[0], truth0, j[1], truth1);
	ASSERT_NEAR(j[0], truth0, 2 * 0.010 * 280 + 0.001 * truth0);
	/* The 1 s average is integrated as read: against its own integral. */
	ASSERT_NEAR(j[1], truth1, 2 * 0.010 * 210 + 0.001 * truth1);

	/* Without the sampler the integral rests on two reads: the report says so. */
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, g.host, names, 1, NULL), 0);
	struct wp_snapshot *sa = wp_snapshot_new(m), *sb = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_snapshot(m, sa), 0);
	test_sleep_ms(200);
	ASSERT_EQ(wp_meter_snapshot(m, sb), 0);
	struct wp_report r;
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, m, sa, sb), 0);
	ASSERT_EQ(r.warning_count, 1);
	ASSERT_HAS(r.warnings[0], "nvidia_gpu_0: power integrated from 0 reads per second where "
	                          "its reading changes");
	wp_report_free(&r);
	wp_snapshot_free(sa);
	wp_snapshot_free(sb);
	wp_meter_close(m);
	close_gpus(&g);
	return TEST_OK;
}

TEST(nvml_cuda_visible_devices)
{
	struct gpu_host g;
	struct wp_meter *m;

	/* An index and a UUID prefix: GPUs 2 and 0; 1 and 3 listed but opt-in. */
	fake_config("gpus=4");
	setenv("CUDA_VISIBLE_DEVICES", "2,GPU-5a5a0000", 1);
	open_gpus(&g, "nvml");
	ASSERT_EQ(wp_host_domain_count(g.host), 4);
	ASSERT_EQ(gpu_domain(g.host, "nvidia_gpu_0")->opt_in, 0);
	ASSERT_EQ(gpu_domain(g.host, "nvidia_gpu_1")->opt_in, 1);
	ASSERT_EQ(gpu_domain(g.host, "nvidia_gpu_2")->opt_in, 0);
	ASSERT_EQ(gpu_domain(g.host, "nvidia_gpu_3")->opt_in, 1);
	ASSERT(test_find_note(g.host, "nvml", WP_NOTE_SKIPPED,
	                      "nvidia_gpu_1 (NVIDIA H100 80GB HBM3) is not in CUDA_VISIBLE_DEVICES"));
	ASSERT_EQ(wp_meter_open(&m, g.host, NULL, 0, NULL), 0);
	ASSERT_EQ(wp_meter_domain_count(m), 2);
	ASSERT_STR(wp_meter_domain(m, 0)->name, "nvidia_gpu_0");
	ASSERT_STR(wp_meter_domain(m, 1)->name, "nvidia_gpu_2");
	wp_meter_close(m);
	/* Named, a hidden GPU is measured all the same. */
	const char *three[] = { "nvidia_gpu_3" };
	ASSERT_EQ(wp_meter_open(&m, g.host, three, 1, NULL), 0);
	ASSERT_EQ(wp_meter_domain_status(m, 0, NULL, NULL), 0);
	wp_meter_close(m);
	/* All one model: no warning about CUDA's order. */
	ASSERT(!test_find_note(g.host, "nvml", WP_NOTE_WARNING, "CUDA_VISIBLE_DEVICES"));
	close_gpus(&g);

	/* A MIG instance stands for its board: the older form names it. */
	setenv("CUDA_VISIBLE_DEVICES", "MIG-GPU-5a5a0003-0000-4000-8000-000000000003/1/0", 1);
	open_gpus(&g, "nvml");
	ASSERT_EQ(gpu_domain(g.host, "nvidia_gpu_3")->opt_in, 0);
	ASSERT_EQ(gpu_domain(g.host, "nvidia_gpu_0")->opt_in, 1);
	ASSERT(test_find_note(g.host, "nvml", WP_NOTE_FOUND, "each one's whole GPU is measured"));
	close_gpus(&g);
	/* The current form needs NVML to say the board; this driver (the fake)
	 * cannot, so every board is measured rather than the one in use missed. */
	setenv("CUDA_VISIBLE_DEVICES", "MIG-9c0e4b4e-5b0b-5b5b-9d9d-000000000001", 1);
	open_gpus(&g, "nvml");
	for (int i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof name, "nvidia_gpu_%d", i);
		ASSERT_EQ(gpu_domain(g.host, name)->opt_in, 0);
	}
	ASSERT(test_find_note(g.host, "nvml", WP_NOTE_WARNING,
	                      "is a MIG instance whose GPU this driver does not say"));
	close_gpus(&g);

	/* CUDA stops at the first entry that names no GPU. */
	setenv("CUDA_VISIBLE_DEVICES", "1,7,2", 1);
	open_gpus(&g, "nvml");
	ASSERT_EQ(gpu_domain(g.host, "nvidia_gpu_1")->opt_in, 0);
	ASSERT_EQ(gpu_domain(g.host, "nvidia_gpu_2")->opt_in, 1);
	ASSERT(test_find_note(g.host, "nvml", WP_NOTE_WARNING,
	                      "CUDA_VISIBLE_DEVICES entry '7' names no GPU here"));
	close_gpus(&g);

	/* Set but empty: CUDA sees no GPU, and none is measured by default. */
	setenv("CUDA_VISIBLE_DEVICES", "", 1);
	open_gpus(&g, "nvml");
	ASSERT_EQ(wp_meter_open(&m, g.host, NULL, 0, NULL), 0);
	ASSERT_EQ(wp_meter_domain_count(m), 0);
	wp_meter_close(m);
	close_gpus(&g);

	/* Models differ and indices are used: CUDA's order may not be NVML's. */
	fake_config("gpus=2;name.1=NVIDIA GeForce RTX 4090");
	setenv("CUDA_VISIBLE_DEVICES", "1", 1);
	open_gpus(&g, "nvml");
	ASSERT(test_find_note(g.host, "nvml", WP_NOTE_WARNING, "CUDA_DEVICE_ORDER=PCI_BUS_ID"));
	close_gpus(&g);
	setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID", 1);
	open_gpus(&g, "nvml");
	ASSERT(!test_find_note(g.host, "nvml", WP_NOTE_WARNING, "CUDA_DEVICE_ORDER=PCI_BUS_ID"));
	close_gpus(&g);
	return TEST_OK;
}

TEST(nvml_gpu_lost_mid_run)
{
	struct gpu_host g;
	/* GPU 1 integrates power, GPU 2 reads its counter; both are lost at 400 ms. */
	uint64_t epoch = fake_config("gpus=3;energy.1=0;amp_w.1=0;amp_w.2=0;lose_ms.1=400;"
	                             "lose_ms.2=400");
	open_gpus(&g, "nvml");
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, g.host, NULL, 0, NULL), 0);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = 100 };
	ASSERT_EQ(wp_meter_start_sampler(m, &so), 0);
	ASSERT_EQ(wp_meter_snapshot(m, a), 0);
	test_sleep_ms(800);
	ASSERT_EQ(wp_meter_snapshot(m, b), 0);
	wp_meter_stop_sampler(m);
	double t0 = secs(wp_snapshot_time_ns(a), epoch), t1 = secs(wp_snapshot_time_ns(b), epoch);
	double j;
	/* GPU 0 goes on. */
	ASSERT_EQ(wp_energy_between(m, a, b, 0, &j), 0);
	ASSERT_NEAR(j, fake_nvml_energy_j(100, 40, 1, t0, t1), 0.01 + 0.001 * j);
	/* GPUs 1 and 2 keep what they measured until 400 ms: constant power
	 * 150 and 200 W, up to the last good read (at most one 10 ms tick
	 * before the loss). */
	for (size_t i = 1; i <= 2; i++) {
		uint64_t lost_ns;
		double watts = 100 + 50.0 * (double)i;
		ASSERT_EQ(wp_energy_between(m, a, b, i, &j), WP_ELOST);
		ASSERT_EQ(wp_meter_domain_status(m, i, &lost_ns, NULL), -ENODEV);
		/* The last good read: before 400 ms, and not long before on any
		 * but a very loaded machine (a tick every 10 ms). */
		ASSERT(secs(lost_ns, epoch) < 0.4 && secs(lost_ns, epoch) > 0.3);
		ASSERT_NEAR(j, watts * (secs(lost_ns, epoch) - t0), 0.01 * watts * 0.4);
	}
	/* The report says what happened. */
	struct wp_report r;
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, m, a, b), 0);
	ASSERT_EQ(r.warning_count, 2);
	ASSERT_HAS(r.warnings[0], "nvidia_gpu_1 stopped answering 0.");
	ASSERT_HAS(r.warnings[0], "No such device");
	ASSERT_EQ(r.domains[1].status, -ENODEV);
	wp_report_free(&r);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m);
	close_gpus(&g);
	return TEST_OK;
}

TEST(nvml_unavailable_is_a_note)
{
	struct gpu_host g;
	const struct wp_source_note *n;

	/* The fake unconfigured: a machine whose NVIDIA driver is not loaded. */
	unsetenv("FAKE_NVML");
	open_gpus(&g, NULL);
	ASSERT_EQ(wp_host_domain_count(g.host), 0);
	n = test_find_note(g.host, "nvml", WP_NOTE_UNAVAILABLE, "cannot start: Driver Not Loaded");
	ASSERT(n && n->fix);
	ASSERT_HAS(n->fix, "'nvidia-smi' must work first");
	close_gpus(&g);

	/* A driver upgrade without a reboot. */
	fake_config("init=18");
	open_gpus(&g, "nvml");
	n = test_find_note(g.host, "nvml", WP_NOTE_UNAVAILABLE, "cannot start");
	ASSERT(n && n->fix);
	ASSERT_HAS(n->fix, "differ in version");
	close_gpus(&g);

	/* No library at all, as on a machine without NVIDIA's driver. */
	setenv("WATTPROF_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
	open_gpus(&g, "nvml");
	n = test_find_note(g.host, "nvml", WP_NOTE_UNAVAILABLE,
	                   "NVIDIA's NVML library cannot be loaded: /nonexistent/");
	ASSERT(n && n->fix);
	ASSERT_HAS(n->fix, "WATTPROF_NVML_LIB");
	close_gpus(&g);

	/* A library that is not NVML (or far too old a driver). */
	setenv("WATTPROF_NVML_LIB", "libm.so.6", 1);
	open_gpus(&g, "nvml");
	ASSERT(test_find_note(g.host, "nvml", WP_NOTE_UNAVAILABLE,
	                      "lacks nvmlInit, nvmlDeviceGetCount or nvmlDeviceGetHandleByIndex"));
	close_gpus(&g);
	unsetenv("WATTPROF_NVML_LIB");

	/* Loaded and started, but no GPU. */
	fake_config("gpus=0");
	open_gpus(&g, "nvml");
	ASSERT(test_find_note(g.host, "nvml", WP_NOTE_UNAVAILABLE, "NVML works but sees no GPU"));
	close_gpus(&g);

	/* A GPU with neither energy nor power is skipped; the other stays. */
	fake_config("gpus=2;energy.0=0;instant.0=0;average.0=0");
	open_gpus(&g, "nvml");
	ASSERT_EQ(wp_host_domain_count(g.host), 1);
	ASSERT_STR(wp_host_domain(g.host, 0)->name, "nvidia_gpu_1");
	ASSERT(test_find_note(g.host, "nvml", WP_NOTE_SKIPPED,
	                      "GPU 0 (NVIDIA H100 80GB HBM3) skipped: it reports neither energy "
	                      "nor power"));
	close_gpus(&g);

	/* Optional functions an old driver lacks: power usage still works. */
	fake_config("gpus=1;no=nvmlDeviceGetTotalEnergyConsumption,nvmlDeviceGetFieldValues,"
	            "nvmlDeviceGetUtilizationRates");
	open_gpus(&g, "nvml");
	ASSERT_STR(gpu_domain(g.host, "nvidia_gpu_0")->method, WP_METHOD_POWER_AVERAGE);
	close_gpus(&g);
	return TEST_OK;
}

struct seen {
	int samples, with_util;
};

static void count_util(void *user, const struct wp_snapshot *snap)
{
	struct seen *s = user;
	s->samples++;
	s->with_util += wp_snapshot_metric(snap, 1, WP_METRIC_UTIL_PCT) == 87;
}

TEST(nvml_device_readings)
{
	struct gpu_host g;
	fake_config("gpus=2;util.1=87;mem_util.1=41;temp.1=66;"
	            "mem_used.1=123456789;sm_mhz.1=1410;limit_w.1=450;"
	            "amp_w.1=0;base_w.1=321.5;update_ms.1=0;no=nvmlDeviceGetTemperature");
	open_gpus(&g, "nvml");
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, g.host, NULL, 0, NULL), 0);
	struct wp_snapshot *s = wp_snapshot_new(m);
	/* Nothing read yet: NaN. */
	ASSERT(isnan(wp_snapshot_metric(s, 1, WP_METRIC_UTIL_PCT)));
	ASSERT_EQ(wp_meter_read_metrics(m, s), 0);
	ASSERT_NEAR(wp_snapshot_metric(s, 1, WP_METRIC_POWER_W), 321.5, 0.001);
	ASSERT_NEAR(wp_snapshot_metric(s, 1, WP_METRIC_UTIL_PCT), 87, 0);
	ASSERT_NEAR(wp_snapshot_metric(s, 1, WP_METRIC_MEM_UTIL_PCT), 41, 0);
	ASSERT_NEAR(wp_snapshot_metric(s, 1, WP_METRIC_MEM_USED_B), 123456789, 0);
	ASSERT_NEAR(wp_snapshot_metric(s, 1, WP_METRIC_SM_CLOCK_MHZ), 1410, 0);
	ASSERT_NEAR(wp_snapshot_metric(s, 1, WP_METRIC_POWER_LIMIT_W), 450, 0);
	/* A reading the driver does not offer stays NaN. */
	ASSERT(isnan(wp_snapshot_metric(s, 1, WP_METRIC_TEMP_C)));
	ASSERT(isnan(wp_snapshot_metric(s, 2, WP_METRIC_UTIL_PCT))); /* no domain 2 */
	ASSERT_NEAR(wp_snapshot_metric(s, 0, WP_METRIC_UTIL_PCT), 50, 0);
	ASSERT_STR(wp_metric_name(WP_METRIC_SM_CLOCK_MHZ), "sm_clock_mhz");
	ASSERT_STR(wp_metric_unit(WP_METRIC_MEM_USED_B), "B");
	ASSERT(wp_metric_name(WP_METRIC_COUNT) == NULL);

	/* The sampler reads them at every tick when asked to. */
	struct seen seen = { 0, 0 };
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = 50,
		                         .on_sample = count_util, .user = &seen,
		                         .flags = WP_SAMPLE_METRICS };
	ASSERT_EQ(wp_meter_start_sampler(m, &so), 0);
	test_sleep_ms(150);
	wp_meter_stop_sampler(m);
	ASSERT_INT(seen.samples, >=, 2);
	ASSERT_EQ(seen.with_util, seen.samples);
	/* A lost GPU gives NaN from then on. */
	((fake_nvml_lose_now_fn)fake_symbol("fake_nvml_lose_now"))(1);
	ASSERT_EQ(wp_meter_snapshot(m, s), 0);
	ASSERT_EQ(wp_meter_read_metrics(m, s), 0);
	ASSERT(isnan(wp_snapshot_metric(s, 1, WP_METRIC_UTIL_PCT)));
	ASSERT_NEAR(wp_snapshot_metric(s, 0, WP_METRIC_UTIL_PCT), 50, 0);
	wp_snapshot_free(s);
	wp_meter_close(m);
	close_gpus(&g);
	return TEST_OK;
}

TEST(nvml_cli_monitor_and_list)
{
	char dir[512], *out;
	test_tmpdir(dir, sizeof dir);
	/* Constant power, so the truth over the run is watts x duration. */
	fake_config("gpus=2;amp_w.0=0;amp_w.1=0;energy.1=0;base_w.0=210;base_w.1=95");
	int st = test_shell(dir, &out,
	               "WATTPROF_SYSFS_ROOT='%s' %s monitor --format json -- sleep 0.4", dir,
	               WATTPROF_BIN);
	ASSERT_EQ(st, 0);
	/* The report is the last thing on stderr (the shell merged both). */
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
		ASSERT_STR(json_member(d, "method")->str,
		           name[11] == '0' ? WP_METHOD_COUNTER : WP_METHOD_POWER_INSTANT);
		ASSERT_STR(json_member(d, "device_name")->str, "NVIDIA H100 80GB HBM3");
		ASSERT_HAS(json_member(d, "device_id")->str, "GPU-5a5a000");
		ASSERT_EQ(json_member(d, "in_total")->boolean, 1);
		/* Counter: 1 mJ steps; integral of a constant: exact but for the
		 * reads' few microseconds off the snapshot times. */
		ASSERT_NEAR(json_member(d, "energy_j")->num, watts * dur, 0.003 * watts * dur);
	}
	ASSERT_EQ(gpus, 2);
	json_free(j);
	free(out);

	/* A machine without NVIDIA's driver: no error, one line in list. */
	unsetenv("FAKE_NVML");
	st = test_shell(dir, &out, "WATTPROF_SYSFS_ROOT='%s' %s monitor -- true", dir, WATTPROF_BIN);
	ASSERT_EQ(st, 0);
	ASSERT_LACKS(out, "error");
	free(out);
	st = test_shell(dir, &out, "WATTPROF_SYSFS_ROOT='%s' %s list", dir, WATTPROF_BIN);
	ASSERT_EQ(st, 0);
	ASSERT_HAS(out, "  nvml      unavailable: NVML loaded from '");
	ASSERT_HAS(out, "cannot start: Driver Not Loaded");
	free(out);

	/* list shows each GPU's name, UUID and method. */
	fake_config("gpus=2;energy.1=0;name.1=NVIDIA A100-SXM4-80GB");
	st = test_shell(dir, &out, "WATTPROF_SYSFS_ROOT='%s' %s list", dir, WATTPROF_BIN);
	ASSERT_EQ(st, 0);
	ASSERT_HAS(out, "nvidia_gpu_0  nvml      energy_counter");
	ASSERT_HAS(out, "NVIDIA H100 80GB HBM3, GPU-5a5a0000-0000-4000-8000-000000000000");
	ASSERT_HAS(out, "nvidia_gpu_1  nvml      power_instant");
	ASSERT_HAS(out, "NVIDIA A100-SXM4-80GB, GPU-5a5a0001-");
	ASSERT_HAS(out, "power updates every ");
	ASSERT_HAS(out, "on A100/H100-class GPUs");
	free(out);

	/* -d picks one GPU, even one CUDA_VISIBLE_DEVICES hides. */
	fake_config("gpus=3;amp_w.2=0;base_w.2=250");
	st = test_shell(dir, &out,
	           "CUDA_VISIBLE_DEVICES=0 WATTPROF_SYSFS_ROOT='%s' %s monitor -f 20 --format json "
	           "-d nvidia_gpu_2 -- sleep 0.2",
	           dir, WATTPROF_BIN);
	ASSERT_EQ(st, 0);
	j = json_must_parse(strchr(out, '{'));
	doms = json_member(j, "domains");
	ASSERT_EQ(doms->n, 1);
	ASSERT_STR(json_member(&doms->items[0], "name")->str, "nvidia_gpu_2");
	json_free(j);
	free(out);
	test_rmtree(dir);
	return TEST_OK;
}

/* ----------------------------------------------- the contract's fixtures */

/* One GPU of the fake drawing the contract's constant power from t0. */
static void nv_setup_with(struct contract_env *env, const char *extra)
{
	char cfg[256];
	snprintf(cfg, sizeof cfg, "epoch_ns=%llu;gpus=1;amp_w.0=0;base_w.0=%.6f;%s",
	         (unsigned long long)env->t0_ns, env->watts, extra);
	setenv("FAKE_NVML", cfg, 1);
}

static void nv_setup_counter(struct contract_env *env)
{
	nv_setup_with(env, "");
}

static void nv_setup_power(struct contract_env *env)
{
	nv_setup_with(env, "energy.0=0");
}

/* The fake's power is a function of time: nothing to move by hand. */
static void nv_tick(struct contract_env *env, uint64_t now_ns)
{
	(void)env;
	(void)now_ns;
}

static void nv_vanish(struct contract_env *env)
{
	(void)env;
	((fake_nvml_lose_now_fn)fake_symbol("fake_nvml_lose_now"))(0);
}

static void nv_teardown(struct contract_env *env)
{
	(void)env;
	unsetenv("FAKE_NVML");
}

const struct contract_source contract_nvml_counter = {
	.source = "nvml",
	.domain = "nvidia_gpu_0",
	.rel_tol = 0.01,
	.setup = nv_setup_counter,
	.tick = nv_tick,
	.vanish = nv_vanish,
	.teardown = nv_teardown,
};

const struct contract_source contract_nvml_power = {
	.source = "nvml",
	.domain = "nvidia_gpu_0",
	.integrated = 1,
	.rel_tol = 0.01,
	.setup = nv_setup_power,
	.tick = nv_tick,
	.vanish = nv_vanish,
	.teardown = nv_teardown,
};
