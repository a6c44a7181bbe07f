/*
 * test_estimate.c - the estimate source on fake CPUs (fakecpu.h): its closed
 * form against hand-set ticks, where its TDP comes from, that it stands in
 * only where no counter answers, CPUs that go offline, and its contract
 * fixture.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "contract.h"
#include "fakecpu.h"
#include "sim.h"
#include "test.h"

/* The model's constants (src/sensors/estimate.c), restated: a change there
 * must be a deliberate change here. */
#define IDLE_FRACTION 0.20
#define PER_CORE_W 6.0

struct machine {
	char root[512], sys[600], proc[600], dev[600];
	struct fake_cpus cpus;
	struct wp_options opts;
};

static void machine(struct machine *m, int ncpu, int sockets, int threads, const char *model,
                    int topology)
{
	memset(m, 0, sizeof *m);
	test_tmpdir(m->root, sizeof m->root);
	snprintf(m->sys, sizeof m->sys, "%s/sys", m->root);
	snprintf(m->proc, sizeof m->proc, "%s/proc", m->root);
	snprintf(m->dev, sizeof m->dev, "%s/dev", m->root);
	test_mkdirs(m->sys);
	test_mkdirs(m->dev);
	fake_cpus_create(&m->cpus, m->sys, m->proc, ncpu, sockets, threads, model, topology);
	m->opts.version = WP_OPTIONS_VERSION;
	m->opts.sysfs_root = m->sys;
	m->opts.proc_root = m->proc;
	m->opts.dev_root = m->dev;
}

static double hz(void)
{
	return (double)sysconf(_SC_CLK_TCK);
}

static const struct wp_source_note *note_of(const struct wp_host *h, const char *source,
                                            enum wp_note_level level)
{
	const struct wp_source_note *n = test_find_note(h, source, (int)level, "");
	if (!n)
		TEST_FAIL_("no %d note from %s", level, source);
	return n;
}

static double energy(struct wp_meter *m, struct wp_snapshot *a, struct wp_snapshot *b, size_t i)
{
	double j = -1;
	ASSERT_EQ(wp_energy_between(m, a, b, i, &j), 0);
	return j;
}

TEST(estimate_closed_form_two_sockets)
{
	struct machine m;
	struct wp_host *h;
	struct wp_meter *meter;
	machine(&m, 8, 2, 2, "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", 1);
	ASSERT_EQ(wp_host_open(&h, &m.opts), 0);
	ASSERT_EQ(wp_host_domain_count(h), 2);
	for (size_t i = 0; i < 2; i++) {
		const struct wp_domain_info *d = wp_host_domain(h, i);
		ASSERT_STR(d->name, i ? "package_1" : "package_0");
		ASSERT_STR(d->source, "estimate");
		ASSERT_EQ(d->estimated, 1);
		ASSERT_EQ(d->kind, WP_KIND_PACKAGE);
		ASSERT_EQ(d->socket, (int)i);
		ASSERT_NEAR(d->peak_power_w, 150, 0);
	}
	const struct wp_source_note *n = note_of(h, "estimate", WP_NOTE_FOUND);
	ASSERT_HAS(n->message, "TDP 150 W from the table");
	ASSERT_HAS(n->message, "Gold 6248");
	ASSERT_EQ(wp_meter_open(&meter, h, NULL, 0, NULL), 0);
	struct wp_snapshot *a = wp_snapshot_new(meter), *b = wp_snapshot_new(meter);
	wp_meter_snapshot(meter, a);
	m.cpus.busy[0] += 40; /* socket 0: 60 ticks over 4 CPUs */
	m.cpus.busy[1] += 20;
	m.cpus.busy[4] += 100; /* socket 1: 100 ticks */
	m.cpus.steal[5] += 50; /* the hypervisor's, not ours */
	m.cpus.idle[6] += 500;
	fake_cpus_write_stat(&m.cpus);
	test_sleep_ms(50);
	wp_meter_snapshot(meter, b);
	double dt = (double)(wp_snapshot_time_ns(b) - wp_snapshot_time_ns(a)) / 1e9;
	double idle = 150 * IDLE_FRACTION * dt;
	ASSERT_NEAR(energy(meter, a, b, 0), idle + 150 * (1 - IDLE_FRACTION) * (60 / hz()) / 4,
	            0.01);
	ASSERT_NEAR(energy(meter, a, b, 1), idle + 150 * (1 - IDLE_FRACTION) * (100 / hz()) / 4,
	            0.01);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(meter);
	wp_host_close(h);
	test_rmtree(m.root);
	return TEST_OK;
}

/* The TDP a host gets for this model name and these options. */
static double tdp_of(const char *model, double given, const char *env, int *rc)
{
	struct machine m;
	struct wp_host *h = NULL;
	double tdp = -1;
	machine(&m, 4, 1, 2, model, 1);
	m.opts.tdp_w = given;
	if (env)
		setenv("WATTPROF_TDP_W", env, 1);
	else
		unsetenv("WATTPROF_TDP_W");
	*rc = wp_host_open(&h, &m.opts);
	if (*rc == 0) {
		ASSERT_EQ(wp_host_domain_count(h), 1);
		tdp = wp_host_domain(h, 0)->peak_power_w;
		const struct wp_source_note *n = note_of(h, "estimate", WP_NOTE_FOUND);
		if (given > 0 || env)
			ASSERT_HAS(n->message, "(given)");
		else if (strstr(n->message, "not in the table"))
			ASSERT_HAS(n->fix, "--tdp");
	}
	wp_host_close(h);
	unsetenv("WATTPROF_TDP_W");
	test_rmtree(m.root);
	return tdp;
}

TEST(estimate_tdp_given_table_or_per_core)
{
	int rc;
	/* Table rows match whole words: the K part is not the plain one. */
	ASSERT_NEAR(tdp_of("12th Gen Intel(R) Core(TM) i7-12700K", 0, NULL, &rc), 125, 0);
	ASSERT_NEAR(tdp_of("12th Gen Intel(R) Core(TM) i7-12700", 0, NULL, &rc), 65, 0);
	ASSERT_NEAR(tdp_of("AMD EPYC 7763 64-Core Processor", 0, NULL, &rc), 280, 0);
	ASSERT_NEAR(tdp_of("Intel(R) Xeon(R) Platinum 8480+", 0, NULL, &rc), 350, 0);
	/* Unknown: 4 CPUs, 2 threads per core, so 2 cores. */
	ASSERT_NEAR(tdp_of("AMD EPYC", 0, NULL, &rc), 2 * PER_CORE_W, 0);
	ASSERT_NEAR(tdp_of("Intel(R) Xeon(R) Gold 62480", 0, NULL, &rc), 2 * PER_CORE_W, 0);
	/* Given by the caller, or by the environment. */
	ASSERT_NEAR(tdp_of("AMD EPYC 7763 64-Core Processor", 95, NULL, &rc), 95, 0);
	ASSERT_NEAR(tdp_of("AMD EPYC", 0, "77.5", &rc), 77.5, 0);
	/* Nonsense is refused, never guessed around. */
	tdp_of("AMD EPYC", 0, "seventy", &rc);
	ASSERT_EQ(rc, -EINVAL);
	tdp_of("AMD EPYC", -5, NULL, &rc);
	ASSERT_EQ(rc, -EINVAL);
	return TEST_OK;
}

TEST(estimate_only_where_no_counter_answers)
{
	static const struct sim_zone zone = { "intel-rapl:0", "package-0", 262143328850, 20, 0, 0,
		                              0, 0 };
	struct sim s;
	struct fake_cpus cpus;
	char proc[600], dev[600];
	struct wp_host *h;
	sim_create(&s, &zone, 1);
	snprintf(proc, sizeof proc, "%s/proc", s.root);
	snprintf(dev, sizeof dev, "%s/dev", s.root);
	test_mkdirs(dev);
	fake_cpus_create(&cpus, s.root, proc, 2, 1, 1, "AMD EPYC", 1);
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = s.root,
		                .proc_root = proc, .dev_root = dev };

	ASSERT_EQ(wp_host_open(&h, &o), 0);
	ASSERT_EQ(wp_host_domain_count(h), 1);
	ASSERT_STR(wp_host_domain(h, 0)->source, "powercap");
	const struct wp_source_note *n = note_of(h, "estimate", WP_NOTE_UNAVAILABLE);
	ASSERT_HAS(n->message, "a real counter measures the processor here");
	ASSERT_HAS(n->fix, "--source estimate");
	wp_host_close(h);

	/* Asked for by name, it is used, and nothing else is tried. */
	o.sources = "estimate";
	ASSERT_EQ(wp_host_open(&h, &o), 0);
	ASSERT_EQ(wp_host_domain_count(h), 1);
	ASSERT_STR(wp_host_domain(h, 0)->source, "estimate");
	ASSERT_EQ(wp_host_domain(h, 0)->estimated, 1);
	n = note_of(h, "powercap", WP_NOTE_UNAVAILABLE);
	ASSERT_HAS(n->message, "not tried: sources limited to 'estimate'");
	wp_host_close(h);

	/* The environment does the same; an unknown name is refused. */
	o.sources = NULL;
	setenv("WATTPROF_SOURCE", "estimate", 1);
	ASSERT_EQ(wp_host_open(&h, &o), 0);
	ASSERT_STR(wp_host_domain(h, 0)->source, "estimate");
	wp_host_close(h);
	setenv("WATTPROF_SOURCE", "estimate,rapl", 1);
	ASSERT_EQ(wp_host_open(&h, &o), WP_ESOURCE);
	unsetenv("WATTPROF_SOURCE");
	o.sources = "powercap,";
	ASSERT_EQ(wp_host_open(&h, &o), 0); /* a trailing comma names nothing more */
	ASSERT_STR(wp_host_domain(h, 0)->source, "powercap");
	wp_host_close(h);
	o.sources = ",";
	ASSERT_EQ(wp_host_open(&h, &o), WP_ESOURCE);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(estimate_offline_cpu_takes_nothing_back)
{
	struct machine m;
	struct wp_host *h;
	struct wp_meter *meter;
	machine(&m, 2, 1, 1, "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", 1);
	ASSERT_EQ(wp_host_open(&h, &m.opts), 0);
	ASSERT_EQ(wp_meter_open(&meter, h, NULL, 0, NULL), 0);
	struct wp_snapshot *a = wp_snapshot_new(meter), *b = wp_snapshot_new(meter),
	                   *c = wp_snapshot_new(meter);
	double busy_j = 150 * (1 - IDLE_FRACTION) / hz() / 2; /* one tick of one CPU */

	wp_meter_snapshot(meter, a);
	m.cpus.busy[1] += 100;
	fake_cpus_write_stat(&m.cpus);
	wp_meter_snapshot(meter, b);
	double idle = 150 * IDLE_FRACTION *
	              (double)(wp_snapshot_time_ns(b) - wp_snapshot_time_ns(a)) / 1e9;
	ASSERT_NEAR(energy(meter, a, b, 0), idle + 100 * busy_j, 0.005);

	/* CPU 1 goes offline: its line goes, and nothing is taken back. */
	m.cpus.online[1] = 0;
	m.cpus.busy[0] += 10;
	fake_cpus_write_stat(&m.cpus);
	wp_meter_snapshot(meter, c);
	idle = 150 * IDLE_FRACTION * (double)(wp_snapshot_time_ns(c) - wp_snapshot_time_ns(b)) /
	       1e9;
	ASSERT_NEAR(energy(meter, b, c, 0), idle + 10 * busy_j, 0.005);

	/* It comes back with counters from zero: counting goes on from there. */
	m.cpus.online[1] = 1;
	m.cpus.busy[1] = 5;
	fake_cpus_write_stat(&m.cpus);
	wp_meter_snapshot(meter, b);
	m.cpus.busy[1] = 25;
	fake_cpus_write_stat(&m.cpus);
	wp_meter_snapshot(meter, a);
	idle = 150 * IDLE_FRACTION * (double)(wp_snapshot_time_ns(a) - wp_snapshot_time_ns(b)) /
	       1e9;
	ASSERT_NEAR(energy(meter, b, a, 0), idle + 20 * busy_j, 0.005);
	ASSERT_EQ(wp_meter_domain_status(meter, 0, NULL, NULL), 0);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_snapshot_free(c);
	wp_meter_close(meter);
	wp_host_close(h);
	test_rmtree(m.root);
	return TEST_OK;
}

TEST(estimate_without_topology_or_proc)
{
	struct machine m;
	struct wp_host *h;
	/* A container without sysfs CPU files: one socket, each CPU a core. */
	machine(&m, 3, 1, 1, "Some CPU", 0);
	ASSERT_EQ(wp_host_open(&h, &m.opts), 0);
	ASSERT_EQ(wp_host_domain_count(h), 1);
	ASSERT_STR(wp_host_domain(h, 0)->name, "package_0");
	ASSERT_NEAR(wp_host_domain(h, 0)->peak_power_w, 3 * PER_CORE_W, 0);
	wp_host_close(h);

	/* No /proc/stat at all: no estimate, and a note that says so. */
	char stat[700];
	snprintf(stat, sizeof stat, "%s/stat", m.proc);
	ASSERT_EQ(unlink(stat), 0);
	ASSERT_EQ(wp_host_open(&h, &m.opts), 0);
	ASSERT_EQ(wp_host_domain_count(h), 0);
	const struct wp_source_note *n = note_of(h, "estimate", WP_NOTE_UNAVAILABLE);
	ASSERT_HAS(n->message, stat);
	ASSERT_HAS(n->fix, "/proc");
	wp_host_close(h);
	test_rmtree(m.root);
	return TEST_OK;
}

/* ----------------------------------------------- the contract's fixture */

/* Two CPUs, both fully busy from t0: the estimate is then exactly TDP x t. */
static void est_setup(struct contract_env *env)
{
	struct fake_cpus *f = calloc(1, sizeof *f);
	fake_cpus_create(f, env->sys, env->proc, 2, 1, 1, "Unknown CPU", 1);
	env->opts.tdp_w = env->watts;
	env->priv = f;
}

static void est_tick(struct contract_env *env, uint64_t now_ns)
{
	struct fake_cpus *f = env->priv;
	for (int c = 0; c < f->ncpu; c++)
		f->busy[c] = 1000 + (uint64_t)((double)(now_ns - env->t0_ns) / 1e9 * hz() + 0.5);
	fake_cpus_write_stat(f);
}

static void est_vanish(struct contract_env *env)
{
	char path[700];
	snprintf(path, sizeof path, "%s/stat", env->proc);
	ASSERT_EQ(unlink(path), 0);
}

static void est_teardown(struct contract_env *env)
{
	free(env->priv);
}

const struct contract_source contract_estimate = {
	.source = "estimate",
	.domain = "package_0",
	.estimated = 1,
	/* 80% of the figure moves in whole ticks (10 ms): +-5 ms at each end of
	 * 300 ms. */
	.rel_tol = 0.04,
	.setup = est_setup,
	.tick = est_tick,
	.vanish = est_vanish,
	.teardown = est_teardown,
};
