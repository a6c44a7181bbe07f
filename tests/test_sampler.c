/*
 * test_sampler.c - the background sampler against a simulation that runs in
 * real time: energy across many wraps against the closed-form truth, the
 * absolute schedule, the frequency floor, and a prompt stop.
 *
 * Tolerance: 0.5% of the true energy.  The simulator rewrites counters every
 * 0.5 ms, so a reading can be up to one tick (plus scheduling delay) stale at
 * either end of an interval; over 2 s at these powers that is well under
 * 0.1%.
 */
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "sim.h"
#include "test.h"

#define TOLERANCE 0.005

/* Wraps after 2 J at up to 35 W: about every 60 ms; sampler needs 60 Hz. */
static const struct sim_zone fast[] = {
	{ "intel-rapl:0", "package-0", 1999999, 25, 10, 0.15, 30000000, 123456 },
	{ "intel-rapl:0:0", "core", 999999, 12, 6, 0.1, 20000000, 0 },
	{ "intel-rapl:0:1", "dram", 65712999613, 4, 1, 0.4, 0, 5 },
};

static void open_fast(struct sim *s, struct wp_host **h, struct wp_meter **m)
{
	sim_open(s, fast, 3, h, m);
	sim_start(s, 500000);
	ASSERT_EQ(wp_meter_domain_count(*m), 3);
}

/* Meter domain i -> simulator zone (the meter sorts package, core, dram). */
static const size_t zone_of[] = { 0, 1, 2 };

TEST(sampler_matches_simulation_across_wraps)
{
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	open_fast(&s, &h, &m);
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = 10 };
	ASSERT_EQ(wp_meter_start_sampler(m, &so), 0);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	wp_meter_snapshot(m, a);
	ASSERT_EQ(wp_meter_begin(m, "first"), 0);
	test_sleep_ms(900);
	ASSERT_EQ(wp_meter_record(m, "second"), 0);
	test_sleep_ms(1100);
	ASSERT_EQ(wp_meter_end(m), 0);
	wp_meter_snapshot(m, b);
	ASSERT_EQ(wp_meter_stop_sampler(m), 0);

	for (size_t i = 0; i < 3; i++) {
		double j, truth = sim_truth_j(&s, zone_of[i], wp_snapshot_time_ns(a),
		                              wp_snapshot_time_ns(b));
		ASSERT_EQ(wp_energy_between(m, a, b, i, &j), 0);
		ASSERT_REL(j, truth, TOLERANCE);
	}
	/* The package wrapped many times: the test covers wraps. */
	ASSERT(sim_truth_j(&s, 0, wp_snapshot_time_ns(a), wp_snapshot_time_ns(b)) > 10 * 2.0);
	/* Regions match the truth over their own spans too. */
	for (size_t k = 0; k < 2; k++) {
		struct wp_region r;
		ASSERT_EQ(wp_meter_region(m, k, &r), 0);
		for (size_t i = 0; i < 3; i++)
			ASSERT_REL(r.energy_j[i],
			           sim_truth_j(&s, zone_of[i], r.start_ns, r.start_ns + r.duration_ns),
			           TOLERANCE);
	}
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	sim_close(&s, h, m);
	return TEST_OK;
}

TEST(sampler_catches_wraps_snapshots_miss)
{
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	open_fast(&s, &h, &m);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	double j;

	/* Without a sampler, two snapshots 1 s apart see at most one wrap. */
	wp_meter_snapshot(m, a);
	test_sleep_ms(1000);
	wp_meter_snapshot(m, b);
	double truth = sim_truth_j(&s, 0, wp_snapshot_time_ns(a), wp_snapshot_time_ns(b));
	ASSERT_EQ(wp_energy_between(m, a, b, 0, &j), 0);
	ASSERT(j < 2.0 + 1e-6 && truth > 10.0);

	/* With one, the same interval is right. */
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = 1 };
	ASSERT_EQ(wp_meter_start_sampler(m, &so), 0);
	wp_meter_snapshot(m, a);
	test_sleep_ms(1000);
	wp_meter_snapshot(m, b);
	wp_meter_stop_sampler(m);
	ASSERT_EQ(wp_energy_between(m, a, b, 0, &j), 0);
	ASSERT_REL(j, sim_truth_j(&s, 0, wp_snapshot_time_ns(a), wp_snapshot_time_ns(b)),
	           TOLERANCE);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	sim_close(&s, h, m);
	return TEST_OK;
}

#define MAX_TICKS 4096
static uint64_t ticks[MAX_TICKS];
static size_t nticks;

static void on_sample(void *user, const struct wp_snapshot *snap)
{
	(void)user;
	if (nticks < MAX_TICKS)
		ticks[nticks++] = wp_snapshot_time_ns(snap);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int64_t lowest(int64_t *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_i64);
	return v[0];
}

TEST(sampler_schedule_does_not_drift)
{
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_sampler_stats st;
	open_fast(&s, &h, &m);
	const double hz = 200;
	const int64_t period = (int64_t)(1e9 / hz);
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION,
		                         .freq_hz = hz,
		                         .on_sample = on_sample };
	nticks = 0;
	ASSERT_EQ(wp_meter_start_sampler(m, &so), 0);
	test_sleep_ms(2000);
	wp_meter_stop_sampler(m);
	ASSERT_EQ(wp_meter_sampler_stats(m, &st), 0);
	ASSERT_NEAR(st.freq_hz, hz, 1e-6);
	ASSERT_U64(st.samples, ==, nticks);
	ASSERT(nticks > 100);

	/*
	 * Offset of each sample from its slot on the ideal grid t0 + k*period.
	 * k follows from the gaps (a gap of ~2 periods is a missed tick).  On
	 * an absolute schedule the offset stays put; a sampler that slept a
	 * period after each read would add its own run time every tick and
	 * drift by several ms over these 400 ticks.
	 */
	static int64_t off[MAX_TICKS];
	int64_t k = 0;
	off[0] = 0;
	for (size_t i = 1; i < nticks; i++) {
		int64_t gap = (int64_t)(ticks[i] - ticks[i - 1]);
		k += (gap + period / 2) / period;
		off[i] = (int64_t)(ticks[i] - ticks[0]) - k * period;
	}
	/* Every slot of the grid was either sampled or counted as missed (one
	 * slot of slack: a late last sample can round either way). */
	ASSERT_NEAR((double)k, (double)(nticks - 1 + st.missed), 1);
	/* The earliest wake-up of each end: a busy machine only makes wake-ups
	 * late, never early, so the earliest shows the schedule itself.  Each
	 * end is 50 ticks (a quarter of a second): a VM whose host held it off
	 * for a whole eighth of a second at one end (seen once under ASan)
	 * still has an on-time tick there, while a sampler that drifts by its
	 * run time each tick would be off at every tick of the later end. */
	enum { END = 50 };
	int64_t head[END], tail[END];
	ASSERT(nticks > 4 * END);
	for (size_t i = 0; i < END; i++) {
		head[i] = off[i];
		tail[i] = off[nticks - END + i];
	}
	int64_t drift = lowest(tail, END) - lowest(head, END);
	if (drift < 0)
		drift = -drift;
	ASSERT_INT(drift, <, 1000000); /* 1 ms over 2 s */
	sim_close(&s, h, m);
	return TEST_OK;
}

TEST(sampler_raises_frequency_for_wraps)
{
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_sampler_stats st;
	open_fast(&s, &h, &m);
	/* core: 1 J range at assumed peak 40 W -> wraps in 25 ms -> 80 Hz. */
	double need = wp_meter_min_freq_hz(m);
	ASSERT_NEAR(need, 2.0 / (1000000e-6 / 40.0), 0.01);
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = 1 };
	ASSERT_EQ(wp_meter_start_sampler(m, &so), 0);
	ASSERT_EQ(wp_meter_start_sampler(m, &so), -EBUSY);
	ASSERT_EQ(wp_meter_sampler_stats(m, &st), 0);
	ASSERT(st.freq_hz >= need * 0.999);
	wp_meter_stop_sampler(m);
	ASSERT_EQ(wp_meter_stop_sampler(m), 0); /* stopping twice is fine */
	sim_close(&s, h, m);
	return TEST_OK;
}

TEST(sampler_stops_at_once)
{
	static const struct sim_zone slow[] = {
		{ "intel-rapl:0", "package-0", 262143328850, 10, 0, 0, 10000000, 0 },
	};
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_sampler_stats st;
	sim_open(&s, slow, 1, &h, &m);
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION,
		                         .freq_hz = 0.5 };
	ASSERT_EQ(wp_meter_start_sampler(m, &so), 0);
	test_sleep_ms(100);
	uint64_t t0 = wp_now_ns();
	ASSERT_EQ(wp_meter_stop_sampler(m), 0);
	uint64_t took = wp_now_ns() - t0;
	/* The thread was asleep until its first tick, 2 s after the start. */
	ASSERT_U64(took, <, 500000000u);
	ASSERT_EQ(wp_meter_sampler_stats(m, &st), 0);
	ASSERT_U64(st.samples, ==, 0); /* the first tick is a period away */
	/* It can be started again. */
	ASSERT_EQ(wp_meter_start_sampler(m, &so), 0);
	sim_close(&s, h, m); /* closes a running sampler too */
	return TEST_OK;
}

TEST(sampler_rejects_bad_frequency)
{
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	open_fast(&s, &h, &m);
	static const double bad[] = { 0, -1, NAN, INFINITY, 200000 };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION,
			                         .freq_hz = bad[i] };
		ASSERT_EQ(wp_meter_start_sampler(m, &so), -EINVAL);
	}
	struct wp_sampler_options v0 = { .version = 0, .freq_hz = 10 };
	ASSERT_EQ(wp_meter_start_sampler(m, &v0), -EINVAL);
	ASSERT_EQ(wp_meter_start_sampler(m, NULL), -EINVAL);
	sim_close(&s, h, m);
	return TEST_OK;
}

TEST(sampler_caps_frequency_and_odd_ranges)
{
	static const struct sim_zone odd[] = {
		/* wraps every microsecond at the assumed 1000 W: cannot be followed */
		{ "intel-rapl:0", "package-0", 1000, 0, 0, 0, 0, 0 },
		/* the largest range and a 1 uW limit: a wrap time beyond any clock */
		{ "intel-rapl:1", "package-1", UINT64_MAX - 1, 0, 0, 0, 1, 0 },
	};
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_sampler_stats st;
	sim_open(&s, odd, 2, &h, &m);
	ASSERT_EQ(wp_host_domain_count(h), 2);
	ASSERT_U64(wp_host_domain(h, 0)->min_wrap_ns, ==, 1001); /* 1001 uJ at 1000 W */
	ASSERT_U64(wp_host_domain(h, 1)->min_wrap_ns, ==, (uint64_t)1 << 62);
	ASSERT(wp_meter_min_freq_hz(m) > 1e6);
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = 10 };
	ASSERT_EQ(wp_meter_start_sampler(m, &so), 0);
	ASSERT_EQ(wp_meter_sampler_stats(m, &st), 0);
	ASSERT_NEAR(st.freq_hz, 100000, 1e-6);
	sim_close(&s, h, m);
	return TEST_OK;
}
