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
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
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

/* ------------------------------------------------- use by processes */

/* Domain `name`'s gpu_use, called as the attribution calls it. */
static int gpu_use(const struct wp_host *h, const char *name, uint64_t *cursor,
                   struct wp__gpu_use *u)
{
	size_t i;
	if (wp_host_find_domain(h, name, &i) < 0)
		TEST_FAIL_("no domain %s", name);
	const struct wp__domain *d = &h->domains[i];
	ASSERT_INT(d->ops->version, >=, 4);
	ASSERT(d->ops->gpu_use != NULL);
	return d->ops->gpu_use(d, cursor, u);
}

static const struct wp__gpu_sample *sample_of(const struct wp__gpu_use *u, int64_t pid)
{
	const struct wp__gpu_sample *found = NULL;
	for (size_t i = 0; i < u->nsamples; i++) {
		if (u->samples[i].pid == pid) {
			if (found)
				TEST_FAIL_("pid %lld has two samples", (long long)pid);
			found = &u->samples[i];
		}
	}
	return found;
}

static const struct wp__gpu_mem *mem_of(const struct wp__gpu_use *u, int64_t pid)
{
	const struct wp__gpu_mem *found = NULL;
	for (size_t i = 0; i < u->nmem; i++) {
		if (u->mem[i].pid == pid) {
			if (found)
				TEST_FAIL_("pid %lld is listed twice", (long long)pid);
			found = &u->mem[i];
		}
	}
	return found;
}

/* CLOCK_REALTIME in us, the clock of NVML's time stamps. */
static uint64_t realtime_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

TEST(nvml_gpu_use_samples_and_memory)
{
	struct gpu_host g;
	struct wp__gpu_use u;
	uint64_t cursor = 0;

	/*
	 * GPU 1: 4242 computes; 4243 draws without using the SMs (no sample);
	 * 4244 has both contexts (listed by both calls, counted once) and a
	 * driver that does not say its memory; 4245 draws.  A sample period of
	 * 1000 s: every call here sees the same samples.  GPU 0: nothing.
	 */
	fake_config("gpus=2;sample_ms.1=1e6;"
	            "procs.1=4242:30:1000000,4243:0:2048:g,4244:55:na:cg,4245:20:777:g");
	open_gpus(&g, "nvml");
	fake_nvml_calls_fn calls = (fake_nvml_calls_fn)fake_symbol("fake_nvml_calls");
	uint64_t before = realtime_us();
	ASSERT_EQ(gpu_use(g.host, "nvidia_gpu_1", &cursor, &u), 0);
	ASSERT_EQ(u.sm_status, 0);
	ASSERT_EQ(u.mem_status, 0);
	ASSERT_EQ(u.nsamples, 3);
	ASSERT(sample_of(&u, 4243) == NULL);
	ASSERT_NEAR(sample_of(&u, 4242)->sm_pct, 30, 0);
	ASSERT_NEAR(sample_of(&u, 4244)->sm_pct, 55, 0);
	ASSERT_NEAR(sample_of(&u, 4245)->sm_pct, 20, 0);
	/* The driver's time stamps, CLOCK_REALTIME us: the end of the last
	 * period (at most 1000 s ago), each process 1 us apart; the cursor
	 * moved to the newest. */
	uint64_t newest = sample_of(&u, 4242)->ts_us;
	ASSERT_U64(newest, <=, before);
	ASSERT_U64(newest + 1000000000u, >=, before);
	ASSERT_U64(sample_of(&u, 4244)->ts_us, ==, newest - 1);
	ASSERT_U64(sample_of(&u, 4245)->ts_us, ==, newest - 2);
	ASSERT_U64(cursor, ==, newest);
	ASSERT_EQ(u.nmem, 4);
	ASSERT_NEAR(mem_of(&u, 4242)->bytes, 1000000, 0);
	ASSERT_NEAR(mem_of(&u, 4243)->bytes, 2048, 0);
	ASSERT(isnan(mem_of(&u, 4244)->bytes)); /* NVML_VALUE_NOT_AVAILABLE */
	ASSERT_NEAR(mem_of(&u, 4245)->bytes, 777, 0);
	wp__gpu_use_free(&u);
	ASSERT(u.samples == NULL && u.mem == NULL && u.nsamples == 0 && u.nmem == 0);

	/* At once again: no sample since the cursor (NVML's NOT_FOUND), and
	 * the cursor stays; the memory is there all the same. */
	int asked = calls("nvmlDeviceGetProcessUtilization");
	ASSERT_EQ(gpu_use(g.host, "nvidia_gpu_1", &cursor, &u), 0);
	ASSERT_INT(calls("nvmlDeviceGetProcessUtilization"), >, asked);
	ASSERT_EQ(u.sm_status, 0);
	ASSERT_EQ(u.nsamples, 0);
	ASSERT_U64(cursor, ==, newest);
	ASSERT_EQ(u.nmem, 4);
	wp__gpu_use_free(&u);

	/* A cursor between the processes' stamps: only the newer ones. */
	cursor = newest - 2;
	ASSERT_EQ(gpu_use(g.host, "nvidia_gpu_1", &cursor, &u), 0);
	ASSERT_EQ(u.nsamples, 2);
	ASSERT(sample_of(&u, 4242) && sample_of(&u, 4244) && !sample_of(&u, 4245));
	ASSERT_U64(cursor, ==, newest);
	wp__gpu_use_free(&u);

	/* A GPU nobody uses: both parts read, both empty. */
	cursor = 0;
	ASSERT_EQ(gpu_use(g.host, "nvidia_gpu_0", &cursor, &u), 0);
	ASSERT_EQ(u.sm_status, 0);
	ASSERT_EQ(u.mem_status, 0);
	ASSERT_EQ(u.nsamples + u.nmem, 0);
	ASSERT_U64(cursor, ==, 0);
	wp__gpu_use_free(&u);
	close_gpus(&g);

	/* Periods of 20 ms: the next period's samples are newer than the cursor. */
	fake_config("gpus=1;sample_ms.0=20;procs.0=77:40:10");
	open_gpus(&g, "nvml");
	cursor = 0;
	ASSERT_EQ(gpu_use(g.host, "nvidia_gpu_0", &cursor, &u), 0);
	ASSERT_EQ(u.nsamples, 1);
	uint64_t first = cursor;
	wp__gpu_use_free(&u);
	test_sleep_ms(50);
	ASSERT_EQ(gpu_use(g.host, "nvidia_gpu_0", &cursor, &u), 0);
	ASSERT_EQ(u.nsamples, 1);
	ASSERT_U64(u.samples[0].ts_us, >=, first + 20000);
	ASSERT_U64(cursor, ==, u.samples[0].ts_us);
	wp__gpu_use_free(&u);
	close_gpus(&g);
	return TEST_OK;
}

TEST(nvml_gpu_use_driver_quirks)
{
	struct gpu_host g;
	struct wp__gpu_use u;
	uint64_t cursor = 0;

	/*
	 * Two processes start between each sizing call and the next
	 * (late.0=2): the buffers sized as NVML said are too small and must
	 * be grown.  And the driver pads its samples and ignores the cursor
	 * (junk.0=1), as some do.
	 */
	fake_config("gpus=1;sample_ms.0=1e6;late.0=2;junk.0=1;procs.0=10:10:100,11:20:200,"
	            "12:30:300,13:40:400:g,14:50:500:g,15:60:600:g");
	open_gpus(&g, "nvml");
	fake_nvml_calls_fn calls = (fake_nvml_calls_fn)fake_symbol("fake_nvml_calls");
	int su = calls("nvmlDeviceGetProcessUtilization");
	int sc = calls("nvmlDeviceGetComputeRunningProcesses_v3");
	int sg = calls("nvmlDeviceGetGraphicsRunningProcesses_v3");
	ASSERT_EQ(gpu_use(g.host, "nvidia_gpu_0", &cursor, &u), 0);
	/* Sized at 4 samples of 6 (with 3 of padding: 9), then 9: three calls;
	 * the lists sized at 1 of 3, then 3. */
	ASSERT_EQ(calls("nvmlDeviceGetProcessUtilization") - su, 3);
	ASSERT_EQ(calls("nvmlDeviceGetComputeRunningProcesses_v3") - sc, 3);
	ASSERT_EQ(calls("nvmlDeviceGetGraphicsRunningProcesses_v3") - sg, 3);
	ASSERT_EQ(u.sm_status, 0);
	ASSERT_EQ(u.mem_status, 0);
	/* The padding is not taken: no pid 0, no 37100 %, and the cursor is
	 * not thrown into the far future. */
	ASSERT_EQ(u.nsamples, 6);
	for (int64_t pid = 10; pid <= 15; pid++) {
		ASSERT_NEAR(sample_of(&u, pid)->sm_pct, 10 * (double)(pid - 9), 0);
		ASSERT_NEAR(mem_of(&u, pid)->bytes, 100 * (double)(pid - 9), 0);
	}
	ASSERT_EQ(u.nmem, 6);
	ASSERT_U64(cursor, <=, realtime_us());
	ASSERT_U64(cursor, ==, sample_of(&u, 10)->ts_us);
	wp__gpu_use_free(&u);
	/* The same samples again, older than asked for: none taken. */
	uint64_t was = cursor;
	ASSERT_EQ(gpu_use(g.host, "nvidia_gpu_0", &cursor, &u), 0);
	ASSERT_EQ(u.sm_status, 0);
	ASSERT_EQ(u.nsamples, 0);
	ASSERT_U64(cursor, ==, was);
	wp__gpu_use_free(&u);
	close_gpus(&g);
	return TEST_OK;
}

TEST(nvml_gpu_use_errors)
{
	struct gpu_host g;
	struct wp__gpu_use u;
	uint64_t cursor = 0;
	static const struct {
		const char *cfg;
		int rc, sm, mem;
		size_t nsamples, nmem;
	} cases[] = {
		/* A device without per-process samples (MIG, some boards). */
		{ "fail=nvmlDeviceGetProcessUtilization:3", 0, -EOPNOTSUPP, 0, 0, 2 },
		{ "fail=nvmlDeviceGetProcessUtilization:4", 0, -EACCES, 0, 0, 2 },
		/* Processes that may not be listed (MIG's whole board, unprivileged). */
		{ "fail=nvmlDeviceGetComputeRunningProcesses_v3:4", 0, 0, -EACCES, 2, 0 },
		/* A driver without the graphics list: the compute one is enough. */
		{ "no=nvmlDeviceGetGraphicsRunningProcesses_v3", 0, 0, 0, 2, 1 },
		{ "fail=nvmlDeviceGetGraphicsRunningProcesses_v3:999", 0, 0, 0, 2, 1 },
		/* Neither: the sample's error. */
		{ "fail=nvmlDeviceGetProcessUtilization:4,nvmlDeviceGetComputeRunningProcesses_v3:3",
		  -EACCES, -EACCES, -EOPNOTSUPP, 0, 0 },
		/* Symbols an old driver lacks, as a driver that says so. */
		{ "no=nvmlDeviceGetProcessUtilization,nvmlDeviceGetComputeRunningProcesses_v3",
		  -EOPNOTSUPP, -EOPNOTSUPP, -EOPNOTSUPP, 0, 0 },
	};

	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		fprintf(stderr, "  %s\n", cases[k].cfg);
		fake_config("gpus=1;sample_ms.0=1e6;procs.0=5:50:500,6:60:600:g;%s", cases[k].cfg);
		open_gpus(&g, "nvml");
		cursor = 0;
		ASSERT_EQ(gpu_use(g.host, "nvidia_gpu_0", &cursor, &u), cases[k].rc);
		ASSERT_EQ(u.sm_status, cases[k].sm);
		ASSERT_EQ(u.mem_status, cases[k].mem);
		ASSERT_EQ(u.nsamples, cases[k].nsamples);
		ASSERT_EQ(u.nmem, cases[k].nmem);
		/* Without samples the cursor stays. */
		ASSERT(cases[k].nsamples ? cursor > 0 : cursor == 0);
		wp__gpu_use_free(&u);
		close_gpus(&g);
	}

	/* A GPU lost: both parts say so, and nothing is filled. */
	fake_config("gpus=2;sample_ms.0=1e6;procs.0=5:50:500");
	open_gpus(&g, "nvml");
	((fake_nvml_lose_now_fn)fake_symbol("fake_nvml_lose_now"))(0);
	cursor = 0;
	ASSERT_EQ(gpu_use(g.host, "nvidia_gpu_0", &cursor, &u), -ENODEV);
	ASSERT_EQ(u.sm_status, -ENODEV);
	ASSERT_EQ(u.mem_status, -ENODEV);
	ASSERT_EQ(u.nsamples + u.nmem, 0);
	ASSERT_U64(cursor, ==, 0);
	wp__gpu_use_free(&u);
	/* The other GPU goes on. */
	ASSERT_EQ(gpu_use(g.host, "nvidia_gpu_1", &cursor, &u), 0);
	wp__gpu_use_free(&u);
	close_gpus(&g);
	return TEST_OK;
}

/* procs_file: the processes written as a test learns their pids. */
static void write_procs(const char *path, const char *text)
{
	char tmp[600];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	test_spit(tmp, text);
	ASSERT_EQ(rename(tmp, path), 0);
}

TEST(nvml_gpu_use_procs_file)
{
	struct gpu_host g;
	struct wp__gpu_use u;
	char dir[512], path[600];
	uint64_t cursor = 0;

	test_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/procs", dir);
	/* procs.0 is replaced by the file, which does not exist yet. */
	fake_config("gpus=1;sample_ms.0=20;procs.0=1:99:1;procs_file.0=%s", path);
	open_gpus(&g, "nvml");
	ASSERT_EQ(gpu_use(g.host, "nvidia_gpu_0", &cursor, &u), 0);
	ASSERT_EQ(u.nsamples + u.nmem, 0);
	wp__gpu_use_free(&u);

	/* A process appears: listed at once, sampled from the next period. */
	char line[128];
	snprintf(line, sizeof line, "%d 35 4096\n", (int)getpid());
	write_procs(path, line);
	ASSERT_EQ(gpu_use(g.host, "nvidia_gpu_0", &cursor, &u), 0);
	ASSERT_EQ(u.nmem, 1);
	ASSERT_NEAR(mem_of(&u, getpid())->bytes, 4096, 0);
	wp__gpu_use_free(&u);
	test_sleep_ms(40);
	ASSERT_EQ(gpu_use(g.host, "nvidia_gpu_0", &cursor, &u), 0);
	ASSERT_EQ(u.nsamples, 1);
	ASSERT_NEAR(sample_of(&u, getpid())->sm_pct, 35, 0);
	wp__gpu_use_free(&u);

	/* It ends and another starts. */
	write_procs(path, "31337 70 na\n");
	ASSERT_EQ(gpu_use(g.host, "nvidia_gpu_0", &cursor, &u), 0);
	ASSERT_EQ(u.nmem, 1);
	ASSERT(isnan(mem_of(&u, 31337)->bytes));
	wp__gpu_use_free(&u);
	test_sleep_ms(40);
	ASSERT_EQ(gpu_use(g.host, "nvidia_gpu_0", &cursor, &u), 0);
	ASSERT_EQ(u.nsamples, 1);
	ASSERT_NEAR(sample_of(&u, 31337)->sm_pct, 70, 0);
	wp__gpu_use_free(&u);

	/* Gone: no process. */
	ASSERT_EQ(unlink(path), 0);
	test_sleep_ms(40);
	ASSERT_EQ(gpu_use(g.host, "nvidia_gpu_0", &cursor, &u), 0);
	ASSERT_EQ(u.sm_status, 0);
	ASSERT_EQ(u.nsamples + u.nmem, 0);
	wp__gpu_use_free(&u);
	close_gpus(&g);
	test_rmtree(dir);
	return TEST_OK;
}

struct use_thread {
	const struct wp_host *host;
	int calls, bad;
};

/* Calls gpu_use with a cursor of its own, as each attribution would. */
static void *use_loop(void *arg)
{
	struct use_thread *t = arg;
	uint64_t cursor = 0;
	for (int i = 0; i < 1000; i++) {
		struct wp__gpu_use u;
		uint64_t was = cursor;
		int rc = gpu_use(t->host, "nvidia_gpu_0", &cursor, &u);
		t->calls++;
		const struct wp__gpu_mem *m8 = mem_of(&u, 8);
		t->bad += rc != 0 || u.nmem != 2 || !m8 || m8->bytes != 800;
		for (size_t k = 0; k < u.nsamples; k++)
			t->bad += u.samples[k].ts_us <= was || u.samples[k].ts_us > cursor;
		wp__gpu_use_free(&u);
	}
	return NULL;
}

TEST(nvml_gpu_use_from_threads)
{
	struct gpu_host g;
	struct use_thread t[4];
	pthread_t th[4];

	/* While the sampler reads energy, four callers with their own cursors. */
	fake_config("gpus=1;sample_ms.0=1;procs.0=7:70:700,8:80:800");
	open_gpus(&g, "nvml");
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, g.host, NULL, 0, NULL), 0);
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = 200,
		                         .flags = WP_SAMPLE_METRICS };
	ASSERT_EQ(wp_meter_start_sampler(m, &so), 0);
	for (int i = 0; i < 4; i++) {
		t[i] = (struct use_thread){ g.host, 0, 0 };
		ASSERT_EQ(pthread_create(&th[i], NULL, use_loop, &t[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ASSERT_EQ(t[i].calls, 1000);
		ASSERT_EQ(t[i].bad, 0);
	}
	wp_meter_stop_sampler(m);
	wp_meter_close(m);
	close_gpus(&g);
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
