/*
 * test_meter.c - snapshots, wraps, domain selection, tagged regions and lost
 * domains, with counters driven by hand so every figure is exact.
 */
#include <errno.h>

#include "core/internal.h"
#include "sim.h"
#include "test.h"

/*
 * A package and its DRAM, each wrapping after 1 J (999999 uJ).  The tests
 * move counters by hand, joules within microseconds, so the zones declare
 * 10 MW: no jump here is too fast to be a wrap.
 */
#define TEN_MW_UW 10000000000000ull
static const struct sim_zone small[] = {
	{ "intel-rapl:0", "package-0", 999999, 0, 0, 0, TEN_MW_UW, 900000 },
	{ "intel-rapl:0:0", "dram", 999999, 0, 0, 0, TEN_MW_UW, 0 },
};

struct fixture {
	struct sim sim;
	struct wp_host *host;
	struct wp_meter *meter;
};

static void setup(struct fixture *f, const char *const *names, size_t n)
{
	sim_open(&f->sim, small, 2, &f->host, &f->meter);
	ASSERT_EQ(wp_host_domain_count(f->host), 2);
	if (names) {
		wp_meter_close(f->meter);
		ASSERT_EQ(wp_meter_open(&f->meter, f->host, names, n, NULL), 0);
	}
}

static void teardown(struct fixture *f)
{
	sim_close(&f->sim, f->host, f->meter);
}

static double energy(struct fixture *f, struct wp_snapshot *a, struct wp_snapshot *b, size_t i)
{
	double j = -1;
	ASSERT_EQ(wp_energy_between(f->meter, a, b, i, &j), 0);
	return j;
}

TEST(meter_energy_exact_across_wrap)
{
	struct fixture f;
	setup(&f, NULL, 0);
	struct wp_snapshot *a = wp_snapshot_new(f.meter), *b = wp_snapshot_new(f.meter),
	                   *c = wp_snapshot_new(f.meter);
	ASSERT_EQ(wp_meter_snapshot(f.meter, a), 0);
	ASSERT_U64(wp_snapshot_raw(a, 0), ==, 900000);
	/* package: 900000 -> 1100000 unwrapped, i.e. the counter reads 100000. */
	sim_set(&f.sim, 0, 1100000);
	sim_set(&f.sim, 1, 250000);
	ASSERT_EQ(wp_meter_snapshot(f.meter, b), 0);
	ASSERT_U64(wp_snapshot_raw(b, 0), ==, 100000);
	ASSERT_U64(wp_snapshot_time_ns(b), >=, wp_snapshot_time_ns(a));
	ASSERT_NEAR(energy(&f, a, b, 0), 0.2, 1e-12);
	ASSERT_NEAR(energy(&f, a, b, 1), 0.25, 1e-12);
	/* One more wrap for each, then c - a spans both. */
	sim_set(&f.sim, 0, 2000000);
	sim_set(&f.sim, 1, 1000001);
	ASSERT_EQ(wp_meter_snapshot(f.meter, c), 0);
	ASSERT_NEAR(energy(&f, a, c, 0), 1.1, 1e-12);
	ASSERT_NEAR(energy(&f, b, c, 1), 0.750001, 1e-12);
	ASSERT_NEAR(energy(&f, a, c, 1), 1.000001, 1e-12);
	/* Out of order or out of range: an error, not a figure. */
	double j;
	ASSERT_EQ(wp_energy_between(f.meter, c, a, 0, &j), -EINVAL);
	ASSERT_EQ(wp_energy_between(f.meter, a, c, 2, &j), -EINVAL);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_snapshot_free(c);
	teardown(&f);
	return TEST_OK;
}

TEST(meter_never_negative)
{
	struct fixture f;
	setup(&f, NULL, 0);
	struct wp_snapshot *first = wp_snapshot_new(f.meter), *prev = wp_snapshot_new(f.meter),
	                   *cur = wp_snapshot_new(f.meter);
	uint64_t unwrapped = 900000, expect = 0;
	unsigned seed = 12345;
	wp_meter_snapshot(f.meter, first);
	wp_meter_snapshot(f.meter, prev);
	for (int k = 0; k < 500; k++) {
		/* Steps of up to one full range minus one: at most one wrap. */
		uint64_t step = (uint64_t)(rand_r(&seed) % 999999);
		unwrapped += step;
		expect += step;
		sim_set(&f.sim, 0, unwrapped);
		wp_meter_snapshot(f.meter, cur);
		double j = energy(&f, prev, cur, 0);
		ASSERT(j >= 0);
		ASSERT_NEAR(j, step * 1e-6, 1e-9);
		struct wp_snapshot *t = prev;
		prev = cur;
		cur = t;
	}
	ASSERT_NEAR(energy(&f, first, prev, 0), expect * 1e-6, 1e-6);
	wp_snapshot_free(first);
	wp_snapshot_free(prev);
	wp_snapshot_free(cur);
	teardown(&f);
	return TEST_OK;
}

TEST(meter_select_domains)
{
	static const char *const pick[] = { "dram_0", "package_0" };
	struct fixture f;
	setup(&f, pick, 2);
	ASSERT_EQ(wp_meter_domain_count(f.meter), 2);
	ASSERT_STR(wp_meter_domain(f.meter, 0)->name, "dram_0");
	ASSERT_STR(wp_meter_domain(f.meter, 1)->name, "package_0");
	ASSERT(wp_meter_domain(f.meter, 2) == NULL);

	struct wp_meter *m = NULL;
	const char *bad = NULL;
	static const char *const unknown[] = { "package_0", "gpu_7" };
	ASSERT_EQ(wp_meter_open(&m, f.host, unknown, 2, &bad), WP_ENODOMAIN);
	ASSERT_STR(bad, "gpu_7");
	ASSERT(m == NULL);
	static const char *const twice[] = { "package_0", "package_0" };
	ASSERT_EQ(wp_meter_open(&m, f.host, twice, 2, &bad), -EINVAL);
	ASSERT_STR(bad, "package_0");
	/* Only the chosen domain is read. */
	static const char *const one[] = { "dram_0" };
	ASSERT_EQ(wp_meter_open(&m, f.host, one, 1, NULL), 0);
	ASSERT_EQ(wp_meter_domain_count(m), 1);
	wp_meter_close(m);
	teardown(&f);
	return TEST_OK;
}

TEST(meter_regions_breakpoints)
{
	struct fixture f;
	struct wp_region r;
	setup(&f, NULL, 0);
	ASSERT_EQ(wp_meter_begin(f.meter, "load"), 0);
	sim_set(&f.sim, 0, 900000 + 1000);
	sim_set(&f.sim, 1, 7);
	ASSERT_EQ(wp_meter_record(f.meter, "train"), 0);
	sim_set(&f.sim, 0, 900000 + 1000 + 300000); /* wraps */
	ASSERT_EQ(wp_meter_record(f.meter, NULL), 0);
	sim_set(&f.sim, 0, 900000 + 1000 + 300000 + 500);
	sim_set(&f.sim, 1, 9);
	ASSERT_EQ(wp_meter_end(f.meter), 0);

	ASSERT_EQ(wp_meter_region_count(f.meter), 3);
	static const char *const tags[] = { "load", "train", "" };
	static const double pkg[] = { 0.001, 0.3, 0.0005 }, dram[] = { 7e-6, 0, 2e-6 };
	uint64_t prev_end = 0;
	for (size_t i = 0; i < 3; i++) {
		ASSERT_EQ(wp_meter_region(f.meter, i, &r), 0);
		ASSERT_STR(r.tag, tags[i]);
		ASSERT_NEAR(r.energy_j[0], pkg[i], 1e-12);
		ASSERT_NEAR(r.energy_j[1], dram[i], 1e-12);
		/* Breakpoints: each region starts where the last one ended. */
		if (i > 0)
			ASSERT_U64(r.start_ns, ==, prev_end);
		prev_end = r.start_ns + r.duration_ns;
	}
	ASSERT_EQ(wp_meter_region(f.meter, 3, &r), -EINVAL);
	/* A second context on the same meter appends. */
	ASSERT_EQ(wp_meter_begin(f.meter, "again"), 0);
	ASSERT_EQ(wp_meter_end(f.meter), 0);
	ASSERT_EQ(wp_meter_region_count(f.meter), 4);
	ASSERT_EQ(wp_meter_region(f.meter, 3, &r), 0);
	ASSERT_STR(r.tag, "again");
	ASSERT_NEAR(r.energy_j[0], 0, 0);
	wp_meter_clear_regions(f.meter);
	ASSERT_EQ(wp_meter_region_count(f.meter), 0);
	teardown(&f);
	return TEST_OK;
}

TEST(meter_region_state_errors)
{
	struct fixture f;
	setup(&f, NULL, 0);
	ASSERT_EQ(wp_meter_record(f.meter, "x"), WP_ESTATE);
	ASSERT_EQ(wp_meter_end(f.meter), WP_ESTATE);
	ASSERT_EQ(wp_meter_begin(f.meter, "a"), 0);
	ASSERT_EQ(wp_meter_begin(f.meter, "b"), WP_ESTATE);
	ASSERT_EQ(wp_meter_end(f.meter), 0);
	ASSERT_EQ(wp_meter_end(f.meter), WP_ESTATE);
	ASSERT_EQ(wp_meter_region_count(f.meter), 1);
	ASSERT_EQ(wp_meter_begin(NULL, "a"), -EINVAL);
	teardown(&f);
	return TEST_OK;
}

TEST(meter_lost_domain_keeps_data)
{
	struct fixture f;
	setup(&f, NULL, 0);
	struct wp_snapshot *a = wp_snapshot_new(f.meter), *b = wp_snapshot_new(f.meter),
	                   *c = wp_snapshot_new(f.meter);
	uint64_t lost_ns = 0;
	wp_meter_snapshot(f.meter, a);
	sim_set(&f.sim, 0, 900000 + 2000);
	sim_set(&f.sim, 1, 3000);
	wp_meter_snapshot(f.meter, b);
	/* The package's sensor goes away: its file no longer holds a value. */
	sim_write_file(&f.sim, 0, "energy_uj", "");
	sim_set(&f.sim, 1, 5000);
	wp_meter_snapshot(f.meter, c);
	double j = -1;
	ASSERT_EQ(wp_energy_between(f.meter, a, c, 0, &j), WP_ELOST);
	ASSERT_NEAR(j, 0.002, 1e-12); /* what was measured before the loss */
	ASSERT_EQ(wp_energy_between(f.meter, a, b, 0, &j), 0);
	ASSERT_NEAR(energy(&f, a, c, 1), 0.005, 1e-12);
	ASSERT_EQ(wp_meter_domain_status(f.meter, 0, &lost_ns, NULL), WP_EPARSE);
	ASSERT_U64(lost_ns, ==, wp_snapshot_time_ns(b));
	ASSERT_EQ(wp_meter_domain_status(f.meter, 1, NULL, NULL), 0);
	/* It stays lost even if a value comes back: wraps may have passed. */
	sim_set(&f.sim, 0, 900000 + 9000);
	wp_meter_snapshot(f.meter, c);
	ASSERT_EQ(wp_energy_between(f.meter, a, c, 0, &j), WP_ELOST);
	ASSERT_NEAR(j, 0.002, 1e-12);

	/* A report of the run says what happened and keeps the figure. */
	struct wp_report r;
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, f.meter, a, c), 0);
	ASSERT_NEAR(r.domains[0].energy_j, 0.002, 1e-12);
	ASSERT_EQ(r.domains[0].status, WP_EPARSE);
	ASSERT_EQ(r.warning_count, 1);
	ASSERT_HAS(r.warnings[0], "package_0 stopped answering");
	ASSERT_HAS(r.warnings[0], "its energy covers only the time before");
	wp_report_free(&r);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_snapshot_free(c);
	teardown(&f);
	return TEST_OK;
}

TEST(meter_out_of_range_read_ignored)
{
	struct fixture f;
	setup(&f, NULL, 0);
	struct wp_snapshot *a = wp_snapshot_new(f.meter), *b = wp_snapshot_new(f.meter);
	uint64_t bad = 0;
	wp_meter_snapshot(f.meter, a);
	sim_write_file(&f.sim, 0, "energy_uj", "5000000\n"); /* above 999999 */
	wp_meter_snapshot(f.meter, b);
	ASSERT_NEAR(energy(&f, a, b, 0), 0, 0);
	sim_set(&f.sim, 0, 900000 + 40);
	wp_meter_snapshot(f.meter, b);
	ASSERT_NEAR(energy(&f, a, b, 0), 40e-6, 1e-12);
	ASSERT_EQ(wp_meter_domain_status(f.meter, 0, NULL, &bad), 0);
	ASSERT_U64(bad, ==, 1);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	teardown(&f);
	return TEST_OK;
}

TEST(meter_without_domains)
{
	char empty[512];
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_report r;
	struct wp_region reg;
	struct wp_options o = { .version = WP_OPTIONS_VERSION };
	test_tmpdir(empty, sizeof empty);
	o.sysfs_root = empty;
	ASSERT_EQ(wp_host_open(&h, &o), 0);
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	ASSERT_EQ(wp_meter_domain_count(m), 0);
	ASSERT_NEAR(wp_meter_min_freq_hz(m), 0, 0);
	/* Regions still record their tags and times. */
	ASSERT_EQ(wp_meter_begin(m, "a"), 0);
	ASSERT_EQ(wp_meter_record(m, "b"), 0);
	ASSERT_EQ(wp_meter_end(m), 0);
	ASSERT_EQ(wp_meter_region_count(m), 2);
	ASSERT_EQ(wp_meter_region(m, 1, &reg), 0);
	ASSERT_STR(reg.tag, "b");
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	wp_meter_snapshot(m, a);
	wp_meter_snapshot(m, b);
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, m, a, b), 0);
	ASSERT(isnan(r.total_energy_j));
	ASSERT_EQ(r.region_count, 2);
	ASSERT_EQ(wp_report_measure(&r, m, a, b), WP_ESTATE); /* no silent leak */
	wp_report_free(&r);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m);
	wp_host_close(h);
	test_rmtree(empty);
	return TEST_OK;
}

TEST(meter_counter_restart_is_not_a_wrap)
{
	static const struct sim_zone real[] = {
		/* an Intel range, 150 W declared: a wrap takes at least 14 min */
		{ "intel-rapl:0", "package-0", 262143328850, 0, 0, 0, 150000000, 900 },
	};
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	uint64_t bad = 0;
	double j;
	sim_open(&s, real, 1, &h, &m);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	wp_meter_snapshot(m, a);
	sim_set(&s, 0, 5000000);
	wp_meter_snapshot(m, b);
	ASSERT_EQ(wp_energy_between(m, a, b, 0, &j), 0);
	ASSERT_NEAR(j, 4.9991, 1e-9);
	/* The counter restarts lower: not 262 kJ of wrap. */
	sim_set(&s, 0, 4000);
	wp_meter_snapshot(m, b);
	ASSERT_EQ(wp_energy_between(m, a, b, 0, &j), 0);
	ASSERT_NEAR(j, 4.9991, 1e-9);
	ASSERT_EQ(wp_meter_domain_status(m, 0, NULL, &bad), 0);
	ASSERT_U64(bad, ==, 1);
	/* Counting goes on from the new value. */
	sim_set(&s, 0, 6000);
	wp_meter_snapshot(m, b);
	ASSERT_EQ(wp_energy_between(m, a, b, 0, &j), 0);
	ASSERT_NEAR(j, 4.9991 + 0.002, 1e-9);
	struct wp_report r;
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, m, a, b), 0);
	ASSERT_EQ(r.warning_count, 1);
	ASSERT_HAS(r.warnings[0], "a counter restart");
	wp_report_free(&r);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	sim_close(&s, h, m);
	return TEST_OK;
}

/* A source whose reads follow a script: a value, or an error. */
static const struct {
	int rc;
	uint64_t raw;
} script[] = { { 0, 100 }, { 0, 150 }, { -EAGAIN, 0 }, { 0, 230 }, { -ENODEV, 0 }, { 0, 999 } };
static size_t script_at;

static int scripted_read(const struct wp__domain *d, uint64_t *raw)
{
	(void)d;
	size_t k = script_at < 5 ? script_at++ : 5;
	*raw = script[k].raw;
	return script[k].rc;
}

TEST(meter_passing_failure_is_not_a_loss)
{
	static const struct wp_sensor_ops ops = { .version = 3, .name = "scripted",
		                                  .read = scripted_read };
	char root[512];
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sources = "estimate" };
	struct wp_host *h;
	struct wp_meter *m;
	test_tmpdir(root, sizeof root);
	o.sysfs_root = o.proc_root = o.dev_root = root;
	ASSERT_EQ(wp_host_open(&h, &o), 0);
	struct wp_domain_info info = { .name = "gpu_x", .source = "scripted", .unit = "J",
		                       .kind = WP_KIND_GPU, .socket = -1, .die = -1,
		                       .counter_max = UINT64_MAX, .joules_per_count = 1,
		                       .peak_power_w = 1e9 };
	ASSERT_EQ(wp__host_add_domain(h, &ops, &info, -1), 0);
	const char *name = "gpu_x";
	ASSERT_EQ(wp_meter_open(&m, h, &name, 1, NULL), 0); /* reads 100 */
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_snapshot(m, a), 0); /* 150 */
	ASSERT_EQ(wp_meter_snapshot(m, b), 0); /* -EAGAIN: counted, not lost */
	uint64_t bad;
	ASSERT_EQ(wp_meter_domain_status(m, 0, NULL, &bad), 0);
	ASSERT_U64(bad, ==, 1);
	ASSERT_EQ(wp_meter_snapshot(m, b), 0); /* 230: counting goes on */
	double j;
	ASSERT_EQ(wp_energy_between(m, a, b, 0, &j), 0);
	ASSERT_NEAR(j, 80, 0);
	ASSERT_EQ(wp_meter_snapshot(m, b), 0); /* -ENODEV: lost for good */
	ASSERT_EQ(wp_meter_domain_status(m, 0, NULL, NULL), -ENODEV);
	ASSERT_EQ(wp_meter_snapshot(m, b), 0); /* not read again */
	ASSERT_EQ(wp_energy_between(m, a, b, 0, &j), WP_ELOST);
	ASSERT_NEAR(j, 80, 0);
	ASSERT_EQ(script_at, 5);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}
