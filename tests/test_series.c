/*
 * test_series.c - the time series (src/core/series.c) against a known
 * ground truth, and the reports that carry it.
 *
 * Two kinds of truth:
 *   - the simulation's closed form (sim.h), for a sampler-fed series that
 *     runs in real time; the tolerance is the writer's granularity;
 *   - counters driven by hand (sim_set) with exact microjoule steps, for
 *     everything that must be exact: every stored energy and time, chunk
 *     boundaries, two readers at once, failed writes (RLIMIT_FSIZE), lost
 *     domains, node readings (fake /proc) and GPU readings (the fake NVML)
 *     matched to their samples and their schedule, flat memory.
 * Then the JSON and YAML reports built from one series must say the same
 * (PyYAML reads both), and the number formatter under both must round-trip.
 *
 * Layout facts used here: a stored row is 8 x (1 + values) bytes
 * (wattprof.h, "time series") and rows are written in chunks of 64 KiB
 * (CHUNK_BYTES in series.c), so the tests know where a chunk ends and where
 * a file size limit cuts a row.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "json.h"
#include "sim.h"
#include "sinks/sinks.h"
#include "test.h"

#define CHUNK_BYTES (64 * 1024)

/* ------------------------------------------------------------- helpers */

/*
 * A package and its DRAM, each wrapping after 1 J (999999 uJ), driven by
 * hand.  They declare 10 MW so that no step (< 1 J) is ever too fast to be
 * a wrap, whatever the time between two snapshots.
 */
#define TEN_MW_UW 10000000000000ull
#define RANGE_UJ 999999u
static const struct sim_zone hand[] = {
	{ "intel-rapl:0", "package-0", RANGE_UJ, 0, 0, 0, TEN_MW_UW, 900000 },
	{ "intel-rapl:0:1", "dram", RANGE_UJ, 0, 0, 0, TEN_MW_UW, 0 },
};

/* A fixed pseudo-random sequence (xorshift64): every run the same. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Meter domain index of the domain named `name`. */
static size_t dom_index(const struct wp_meter *m, const char *name)
{
	for (size_t i = 0; i < wp_meter_domain_count(m); i++)
		if (strcmp(wp_meter_domain(m, i)->name, name) == 0)
			return i;
	TEST_FAIL_("no domain '%s'", name);
}

/*
 * Hand-driven counters: the unwrapped energy of each zone (uJ) and, per
 * sample, what it was and when the snapshot was taken.
 */
struct drive {
	struct sim *sim;
	struct wp_meter *m;
	struct wp_snapshot *snap;
	uint64_t now_uj[2];
	size_t n, cap;
	uint64_t *ts;     /* per sample */
	uint64_t *uj[2];  /* per sample, per zone */
};

static void drive_init(struct drive *d, struct sim *s, struct wp_meter *m)
{
	memset(d, 0, sizeof *d);
	d->sim = s;
	d->m = m;
	d->snap = wp_snapshot_new(m);
	ASSERT(d->snap != NULL);
	for (size_t z = 0; z < 2; z++)
		d->now_uj[z] = s->zones[z].start_uj;
}

static void drive_free(struct drive *d)
{
	wp_snapshot_free(d->snap);
	free(d->ts);
	free(d->uj[0]);
	free(d->uj[1]);
}

/* Snapshots, and logs the sample with the zones' energy as last set. */
static void drive_snap(struct drive *d)
{
	ASSERT_EQ(wp_meter_snapshot(d->m, d->snap), 0);
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 1024;
		d->ts = realloc(d->ts, d->cap * sizeof *d->ts);
		d->uj[0] = realloc(d->uj[0], d->cap * sizeof *d->uj[0]);
		d->uj[1] = realloc(d->uj[1], d->cap * sizeof *d->uj[1]);
		ASSERT(d->ts && d->uj[0] && d->uj[1]);
	}
	d->ts[d->n] = wp_snapshot_time_ns(d->snap);
	d->uj[0][d->n] = d->now_uj[0];
	d->uj[1][d->n] = d->now_uj[1];
	d->n++;
}

/* Moves each zone on by step[z] uJ, then drive_snap(). */
static void drive_step(struct drive *d, const uint64_t step[2])
{
	for (size_t z = 0; z < 2; z++) {
		d->now_uj[z] += step[z];
		sim_set(d->sim, z, d->now_uj[z]);
	}
	drive_snap(d);
}

/* A random step of each zone: 0 .. RANGE_UJ uJ, the extremes included. */
static void random_step(uint64_t step[2])
{
	for (size_t z = 0; z < 2; z++) {
		uint64_t r = rng();
		step[z] = r % 16 == 0 ? 0 : r % 16 == 1 ? RANGE_UJ : (r >> 8) % (RANGE_UJ + 1);
	}
}

/*
 * What sample k of a hand-driven series must hold for meter domain i (fed
 * by zone z): the energy since sample 0 exactly as the library computes it
 * (whole microjoules times the domain's joules per count).
 */
static double want_j(const struct drive *d, size_t z, size_t k, double jpc)
{
	return (double)(d->uj[z][k] - d->uj[z][0]) * jpc;
}

/* Every row of a series, read with one reader. */
struct rows {
	size_t n, nc;
	double *t, *v; /* v: n x nc */
};

static int read_row(struct wp_series_reader *rd, struct rows *r)
{
	double t;
	if ((r->n & (r->n - 1)) == 0) { /* powers of two: grow */
		size_t cap = r->n ? 2 * r->n : 1;
		r->t = realloc(r->t, cap * sizeof *r->t);
		r->v = realloc(r->v, cap * r->nc * sizeof *r->v + sizeof *r->v);
		ASSERT(r->t && r->v);
	}
	int rc = wp_series_next(rd, &t, r->v + r->n * r->nc);
	if (rc == 1)
		r->t[r->n++] = t;
	return rc;
}

static void read_all(const struct wp_series *s, struct rows *r)
{
	struct wp_series_reader *rd = NULL;
	int rc;
	memset(r, 0, sizeof *r);
	r->nc = wp_series_column_count(s);
	ASSERT_EQ(wp_series_reader_open(&rd, s), 0);
	while ((rc = read_row(rd, r)) == 1)
		;
	ASSERT_EQ(rc, 0);
	ASSERT_EQ(read_row(rd, r), 0); /* past the end it stays there */
	wp_series_reader_close(rd);
}

static void rows_free(struct rows *r)
{
	free(r->t);
	free(r->v);
}

#define V(r, k, c) ((r)->v[(k) * (r)->nc + (c)])

/* Column index of (domain, metric), or the test fails. */
static size_t col_index(const struct wp_series *s, const char *domain, const char *metric)
{
	struct wp_series_column c;
	for (size_t i = 0; wp_series_column(s, i, &c) == 0; i++)
		if (strcmp(c.domain, domain) == 0 && strcmp(c.metric, metric) == 0)
			return i;
	TEST_FAIL_("no column %s/%s", domain, metric);
}

/*
 * Checks rows 0..n-1 against a hand-driven log, all exact: times, every
 * energy, and the power between consecutive samples (NaN at the start).
 */
static void check_exact(const struct wp_meter *m, const struct drive *d, const struct rows *r,
                        size_t n)
{
	size_t dom[2] = { dom_index(m, "package_0"), dom_index(m, "dram_0") };
	ASSERT_U64(r->n, ==, n);
	for (size_t k = 0; k < n; k++) {
		ASSERT(r->t[k] == (double)(d->ts[k] - d->ts[0]) / 1e9);
		for (size_t z = 0; z < 2; z++) {
			size_t i = dom[z];
			double jpc = wp_meter_domain(m, i)->joules_per_count;
			double e = V(r, k, 2 * i + 1), p = V(r, k, 2 * i);
			if (e != want_j(d, z, k, jpc))
				TEST_FAIL_("sample %zu, %s: energy %.17g J, want %.17g J", k,
				           wp_meter_domain(m, i)->name, e, want_j(d, z, k, jpc));
			if (k == 0) {
				ASSERT(isnan(p));
				continue;
			}
			double dt = (double)(d->ts[k] - d->ts[k - 1]) / 1e9;
			double wp = (want_j(d, z, k, jpc) - want_j(d, z, k - 1, jpc)) / dt;
			if (p != wp)
				TEST_FAIL_("sample %zu, %s: power %.17g W, want %.17g W", k,
				           wp_meter_domain(m, i)->name, p, wp);
		}
	}
}

/* ---------------------------------------- 1. against the simulation */

/*
 * A square wave of 20 W +- 10 W (period 0.8 s) on a counter that wraps
 * after 5 J (six wraps in the run), beside a steady 4 W DRAM.
 */
static const struct sim_zone wave[] = {
	{ "intel-rapl:0", "package-0", 4999999, 20, 10, 0.8, 40000000, 777777 },
	{ "intel-rapl:0:1", "dram", 65712999613, 4, 0, 0, 0, 12345 },
};

/*
 * The simulator's writer (sim_start's), which also measures how stale a
 * counter can be: a read at time t sees the last write finished before t,
 * computed at its start `now_j`, while the next one had not finished:
 * t - now_j < done_{j+1} - now_j.  On a loaded machine that can reach
 * several ticks, and the tolerances below follow it instead of guessing.
 */
struct writer {
	struct sim *sim;
	uint64_t tick_ns;
	int stop; /* __atomic */
	uint64_t last_ns;  /* the start of the last write */
	uint64_t stale_ns; /* written by the thread; read after the join */
	pthread_t thread;
};

static void write_all(struct sim *s, uint64_t now)
{
	for (size_t z = 0; z < s->count; z++)
		sim_set(s, z, (uint64_t)llround(sim_energy_uj(s, z, now)));
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t next = wp_now_ns();
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now = wp_now_ns();
		write_all(w->sim, now);
		uint64_t done = wp_now_ns();
		if (done - w->last_ns > w->stale_ns)
			w->stale_ns = done - w->last_ns;
		w->last_ns = now;
		next += w->tick_ns;
		struct timespec ts = { (time_t)(next / 1000000000u), (long)(next % 1000000000u) };
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	return NULL;
}

static void writer_start(struct writer *w, struct sim *s, uint64_t tick_ns)
{
	memset(w, 0, sizeof *w);
	w->sim = s;
	w->tick_ns = tick_ns;
	w->last_ns = wp_now_ns();
	write_all(s, w->last_ns);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0)
		TEST_FAIL_("cannot start the writer thread");
}

static void writer_stop(struct writer *w)
{
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	pthread_join(w->thread, NULL);
}

/* The sampler's callback: how long after its time each tick's read ended
 * (a bound on how much newer than its time a reading can be). */
static void note_lag(void *user, const struct wp_snapshot *snap)
{
	uint64_t *max_lag = user, lag = wp_now_ns() - wp_snapshot_time_ns(snap);
	if (lag > *max_lag)
		*max_lag = lag;
}

/* A snapshot, and how long it took (its reads lie inside). */
static uint64_t timed_snapshot(struct wp_meter *m, struct wp_snapshot *snap)
{
	ASSERT_EQ(wp_meter_snapshot(m, snap), 0);
	return wp_now_ns() - wp_snapshot_time_ns(snap);
}

TEST(series_matches_simulation)
{
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_series *ser = NULL;
	struct wp_sampler_stats st;
	struct writer w;
	sim_open(&s, wave, 2, &h, &m);
	writer_start(&w, &s, 1000000);
	size_t pkg = dom_index(m, "package_0"), dram = dom_index(m, "dram_0");
	size_t zone_of[2];
	zone_of[pkg] = 0;
	zone_of[dram] = 1;

	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE };
	uint64_t lag_a = timed_snapshot(m, a), lag = 0;
	ASSERT_EQ(wp_series_open(&ser, m, a, &so), 0);
	ASSERT_EQ(wp_series_column_count(ser), 4);
	struct wp_sampler_options opt = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = 100,
		                          .series = ser, .on_sample = note_lag, .user = &lag };
	ASSERT_EQ(wp_meter_start_sampler(m, &opt), 0);
	test_sleep_ms(1500);
	ASSERT_EQ(wp_meter_stop_sampler(m), 0);
	uint64_t lag_b = timed_snapshot(m, b);
	ASSERT_EQ(wp_series_add(ser, b), 0);
	ASSERT_EQ(wp_series_status(ser), 0);
	writer_stop(&w);
	/*
	 * A reading is of the counter at most stale_ns before its snapshot's
	 * time, and at most the read's lag after it: an energy between two
	 * snapshots is off by at most peak power x (stale + lag), plus the
	 * simulator's rounding to whole microjoules.
	 */
	lag = lag > lag_a ? lag : lag_a;
	lag = lag > lag_b ? lag : lag_b;
	double stale_s = (double)(w.stale_ns + lag) / 1e9;

	/* Every tick fed it, and so did the start and the last snapshot. */
	ASSERT_EQ(wp_meter_sampler_stats(m, &st), 0);
	ASSERT_U64(wp_series_sample_count(ser), ==, st.samples + 2);
	ASSERT(st.samples > 100);

	struct rows r;
	read_all(ser, &r);
	ASSERT_U64(r.n, ==, wp_series_sample_count(ser));
	ASSERT(r.t[0] == 0);
	uint64_t t0 = wp_snapshot_time_ns(a);
	double worst = 0;
	for (size_t k = 0; k < r.n; k++) {
		if (k > 0 && !(r.t[k] > r.t[k - 1]))
			TEST_FAIL_("time goes back at sample %zu: %.9f after %.9f", k, r.t[k],
			           r.t[k - 1]);
		uint64_t tk = t0 + (uint64_t)llround(r.t[k] * 1e9);
		for (size_t i = 0; i < 2; i++) {
			double e = V(&r, k, 2 * i + 1), p = V(&r, k, 2 * i);
			double truth = sim_truth_j(&s, zone_of[i], t0, tk);
			double peak = i == pkg ? 30 : 4;
			if (fabs(e - truth) > worst)
				worst = fabs(e - truth);
			if (!(fabs(e - truth) <= peak * stale_s + 2e-6)) {
				uint64_t bad = 0;
				wp_meter_domain_status(m, i, NULL, &bad);
				TEST_FAIL_("sample %zu at %.4f s, %s: %.6f J, truth %.6f J "
				           "(%llu bad reads)", k, r.t[k], wp_meter_domain(m, i)->name,
				           e, truth, (unsigned long long)bad);
			}
			if (k == 0) {
				ASSERT(e == 0);
				ASSERT(isnan(p));
			} else {
				double want = (e - V(&r, k - 1, 2 * i + 1)) / (r.t[k] - r.t[k - 1]);
				ASSERT_NEAR(p, want, 1e-9 * fabs(want) + 1e-12);
			}
		}
	}
	/* The last sample is the last snapshot, to the bit. */
	for (size_t i = 0; i < 2; i++) {
		double j;
		ASSERT_EQ(wp_energy_between(m, a, b, i, &j), 0);
		ASSERT(V(&r, r.n - 1, 2 * i + 1) == j);
	}
	ASSERT(r.t[r.n - 1] == (double)(wp_snapshot_time_ns(b) - t0) / 1e9);
	/* It wrapped several times on the way. */
	ASSERT(V(&r, r.n - 1, 2 * pkg + 1) > 5 * 5.0);

	/* Windows of 0.1 s inside each 0.4 s half see 10 W and 30 W. */
	double lo, hi;
	ASSERT_EQ(wp_series_power_range(ser, pkg, &lo, &hi), 0);
	ASSERT_NEAR(lo, 10, 30 * stale_s / 0.1);
	ASSERT_NEAR(hi, 30, 30 * stale_s / 0.1);
	ASSERT_EQ(wp_series_power_range(ser, dram, &lo, &hi), 0);
	ASSERT_NEAR(lo, 4, 4 * stale_s / 0.1);
	ASSERT_NEAR(hi, 4, 4 * stale_s / 0.1);
	fprintf(stderr,
	        "  %zu samples; readings up to %.2f ms old, %.2f ms late; worst error %.4f J\n",
	        r.n, (double)w.stale_ns / 1e6, (double)lag / 1e6, worst);

	rows_free(&r);
	wp_series_close(ser);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	sim_close(&s, h, m);
	return TEST_OK;
}

/* ------------------------------------ 2. chunks, exactness, readers */

TEST(series_chunks_exact_with_two_readers)
{
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_series *ser = NULL;
	struct drive d;
	uint64_t step[2] = { 0, 0 };
	sim_open(&s, hand, 2, &h, &m);
	drive_init(&d, &s, m);
	/* 24-byte rows: a chunk holds 2730 of them. */
	const size_t cap = CHUNK_BYTES / (8 * 3);

	drive_step(&d, step);
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE };
	ASSERT_EQ(wp_series_open(&ser, m, d.snap, &so), 0);
	ASSERT_U64(wp_series_sample_count(ser), ==, 1);

	/* Read back at and around each chunk boundary: every sample so far,
	 * from the file and from the tail not written yet. */
	const size_t marks[] = { 1, 2, cap - 1, cap, cap + 1, 2 * cap, 2 * cap + 1, 3 * cap - 7 };
	for (size_t k = 0; k < sizeof marks / sizeof *marks; k++) {
		while (d.n < marks[k]) {
			random_step(step);
			drive_step(&d, step);
			ASSERT_EQ(wp_series_add(ser, d.snap), 0);
		}
		struct rows r;
		read_all(ser, &r);
		check_exact(m, &d, &r, marks[k]);
		rows_free(&r);
	}
	ASSERT_U64(wp_series_sample_count(ser), ==, d.n);

	/* Two readers at once, in step and out of step, each on its own. */
	struct wp_series_reader *r1 = NULL, *r2 = NULL;
	struct rows a = { .nc = 4 }, b = { .nc = 4 };
	ASSERT_EQ(wp_series_reader_open(&r1, ser), 0);
	ASSERT_EQ(wp_series_reader_open(&r2, ser), 0);
	for (size_t k = 0; k < 100; k++) /* r1 runs ahead by 100 rows */
		ASSERT_EQ(read_row(r1, &a), 1);
	int ra, rb;
	while ((ra = read_row(r1, &a)) == 1)
		ASSERT_EQ(read_row(r2, &b), 1);
	ASSERT_EQ(ra, 0);
	ASSERT_U64(b.n, ==, d.n - 100);
	while ((rb = read_row(r2, &b)) == 1)
		;
	ASSERT_EQ(rb, 0);
	check_exact(m, &d, &a, d.n);
	check_exact(m, &d, &b, d.n);
	wp_series_reader_close(r1);
	wp_series_reader_close(r2);
	rows_free(&a);
	rows_free(&b);

	wp_series_close(ser);
	drive_free(&d);
	sim_close(&s, h, m);
	return TEST_OK;
}

/* -------------------------------------------------- 3. node readings */

static void write_meminfo(const char *proc, uint64_t total_kb, uint64_t avail_kb)
{
	char path[700], text[256];
	snprintf(path, sizeof path, "%s/meminfo", proc);
	snprintf(text, sizeof text,
	         "MemTotal:       %llu kB\nMemFree:         1000 kB\nMemAvailable:   %llu kB\n"
	         "Buffers:          100 kB\n",
	         (unsigned long long)total_kb, (unsigned long long)avail_kb);
	test_rewrite(path, text);
}

static void write_stat(const char *proc, uint64_t busy, uint64_t idle)
{
	char path[700], text[256];
	snprintf(path, sizeof path, "%s/stat", proc);
	snprintf(text, sizeof text,
	         "cpu  %llu 0 0 %llu 0 0 0 0 0 0\ncpu0 %llu 0 0 %llu 0 0 0 0 0 0\nctxt 1\n",
	         (unsigned long long)busy, (unsigned long long)idle, (unsigned long long)busy,
	         (unsigned long long)idle);
	test_rewrite(path, text);
}

static void write_temp(const char *sysfs, uint64_t millideg)
{
	char path[700], text[32];
	snprintf(path, sizeof path, "%s/class/hwmon/hwmon0/temp1_input", sysfs);
	snprintf(text, sizeof text, "%llu\n", (unsigned long long)millideg);
	test_rewrite(path, text);
}

/* A host on the simulated tree (powercap only) with `proc` for /proc. */
static void open_host_with_proc(struct sim *s, const char *proc, struct wp_host **h,
                                struct wp_meter **m)
{
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = s->root,
		                .proc_root = proc, .sources = "powercap",
		                .flags = WP_OPEN_NO_CROSSCHECK };
	ASSERT_EQ(wp_host_open(h, &o), 0);
	ASSERT_EQ(wp_meter_open(m, *h, NULL, 0, NULL), 0);
	ASSERT_EQ(wp_meter_domain_count(*m), 2);
}

#define MEM_TOTAL_KB 16384000ull

/*
 * Which samples must hold readings: the start, then the first sample at or
 * after each period, on the period's grid; a sampler that fell behind by
 * more than a period does not catch up (the next is a period after the
 * late one).  want[k] = 1 for those samples.
 */
static void readings_due(const uint64_t *ts, size_t n, uint64_t period, int *want)
{
	uint64_t due = ts[0];
	for (size_t k = 0; k < n; k++) {
		want[k] = ts[k] >= due;
		if (want[k]) {
			due += period;
			if (due <= ts[k])
				due = ts[k] + period;
		}
	}
}

TEST(series_node_readings)
{
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_series *ser = NULL;
	struct drive d;
	char proc[600];
	sim_create(&s, hand, 2);
	snprintf(proc, sizeof proc, "%s/proc", s.root);
	test_mkdirs(proc);
	/* A coretemp chip with its package sensor, in the same sysfs tree. */
	test_putf(s.root, "class/hwmon/hwmon0/name", "coretemp\n");
	test_putf(s.root, "class/hwmon/hwmon0/temp1_label", "Package id 0\n");

	/* Per sample: the ticks, the memory and the temperature written before
	 * it was added, so that a reading can be matched to its sample. */
	enum { MAXS = 4096 };
	static uint64_t busy[MAXS], idle[MAXS], avail[MAXS], temp[MAXS];
	busy[0] = 1000, idle[0] = 5000, avail[0] = 8000000, temp[0] = 41000;
	write_stat(proc, busy[0], idle[0]);
	write_meminfo(proc, MEM_TOTAL_KB, avail[0]);
	write_temp(s.root, temp[0]);
	open_host_with_proc(&s, proc, &h, &m);
	drive_init(&d, &s, m);
	uint64_t step[2] = { 0, 0 };
	drive_step(&d, step);

	const double hz = 10;
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE | WP_SERIES_NODE,
		                        .readings_hz = hz };
	ASSERT_EQ(wp_series_open(&ser, m, d.snap, &so), 0);
	ASSERT_EQ(wp_series_column_count(ser), 4 + 3);
	static const char *const names[] = { "cpu_util_pct", "mem_used_b", "cpu_temp_c" };
	static const char *const units[] = { "%", "B", "C" };
	for (size_t k = 0; k < 3; k++) {
		struct wp_series_column c;
		ASSERT_EQ(wp_series_column(ser, 4 + k, &c), 0);
		ASSERT_STR(c.domain, "node");
		ASSERT_STR(c.metric, names[k]);
		ASSERT_STR(c.unit, units[k]);
	}
	size_t cu = col_index(ser, "node", "cpu_util_pct"), mu = col_index(ser, "node", "mem_used_b"),
	       ct = col_index(ser, "node", "cpu_temp_c");

	/* A snapshot every ~5 ms for 0.6 s, the files changing before each. */
	while (d.ts[d.n - 1] - d.ts[0] < 600000000u && d.n < MAXS) {
		size_t k = d.n;
		test_sleep_ms(5);
		busy[k] = busy[k - 1] + rng() % 40;
		idle[k] = idle[k - 1] + 1 + rng() % 40;
		avail[k] = 8000000 - rng() % 1000000;
		temp[k] = 30000 + rng() % 60000;
		write_stat(proc, busy[k], idle[k]);
		write_meminfo(proc, MEM_TOTAL_KB, avail[k]);
		write_temp(s.root, temp[k]);
		random_step(step);
		drive_step(&d, step);
		ASSERT_EQ(wp_series_add(ser, d.snap), 0);
	}

	struct rows r;
	read_all(ser, &r);
	check_exact(m, &d, &r, d.n); /* energy is untouched by the readings */
	static int want[MAXS];
	readings_due(d.ts, d.n, (uint64_t)(1e9 / hz), want);
	size_t readings = 0, prev = 0;
	for (size_t k = 0; k < r.n; k++) {
		if (!want[k]) {
			if (!isnan(V(&r, k, cu)) || !isnan(V(&r, k, mu)) || !isnan(V(&r, k, ct)))
				TEST_FAIL_("sample %zu at %.4f s has readings (%g %g %g); none was due",
				           k, r.t[k], V(&r, k, cu), V(&r, k, mu), V(&r, k, ct));
			continue;
		}
		if (isnan(V(&r, k, mu)))
			TEST_FAIL_("sample %zu at %.4f s has no readings; they were due", k, r.t[k]);
		ASSERT(V(&r, k, mu) == (double)(MEM_TOTAL_KB - avail[k]) * 1024.0);
		ASSERT(V(&r, k, ct) == (double)temp[k] / 1000.0);
		if (readings == 0) {
			ASSERT(isnan(V(&r, k, cu))); /* one read of /proc/stat: no interval */
		} else {
			double db = (double)(busy[k] - busy[prev]), di = (double)(idle[k] - idle[prev]);
			ASSERT(V(&r, k, cu) == 100.0 * db / (db + di));
		}
		readings++;
		prev = k;
	}
	double span = r.t[r.n - 1];
	ASSERT_NEAR((double)readings, 1 + span * hz, 2);
	rows_free(&r);
	wp_series_close(ser);

	/* Without WP_SERIES_NODE: energy and power only, nothing else read. */
	so.flags = WP_SERIES_STORE;
	ASSERT_EQ(wp_series_open(&ser, m, d.snap, &so), 0);
	ASSERT_EQ(wp_series_column_count(ser), 4);
	struct wp_series_column c;
	for (size_t i = 0; i < 4; i++) {
		ASSERT_EQ(wp_series_column(ser, i, &c), 0);
		ASSERT(strcmp(c.domain, "node") != 0);
	}
	wp_series_close(ser);
	wp_meter_close(m);
	wp_host_close(h);

	/* A node with nothing readable (no /proc files, no sensors): no node
	 * column, and the series works as without. */
	char empty[700];
	snprintf(empty, sizeof empty, "%s/emptyproc", s.root);
	test_mkdirs(empty);
	char hw[700];
	snprintf(hw, sizeof hw, "%s/class/hwmon/hwmon0/name", s.root);
	test_rewrite(hw, "nct6775\n"); /* not a CPU chip */
	open_host_with_proc(&s, empty, &h, &m);
	so.flags = WP_SERIES_STORE | WP_SERIES_NODE;
	struct wp_snapshot *a = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_snapshot(m, a), 0);
	ASSERT_EQ(wp_series_open(&ser, m, a, &so), 0);
	ASSERT_EQ(wp_series_column_count(ser), 4);
	test_sleep_ms(2);
	ASSERT_EQ(wp_meter_snapshot(m, a), 0);
	ASSERT_EQ(wp_series_add(ser, a), 0);
	read_all(ser, &r);
	ASSERT_EQ(r.n, 2);
	rows_free(&r);
	wp_series_close(ser);
	wp_snapshot_free(a);

	drive_free(&d);
	sim_close(&s, h, m);
	return TEST_OK;
}

TEST(series_readings_schedule_and_extremes)
{
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_series *ser = NULL;
	struct drive d;
	char proc[600];
	uint64_t step[2] = { 1000, 100 };
	sim_create(&s, hand, 2);
	snprintf(proc, sizeof proc, "%s/proc", s.root);
	test_mkdirs(proc);
	write_meminfo(proc, MEM_TOTAL_KB, 4000000);
	open_host_with_proc(&s, proc, &h, &m);
	drive_init(&d, &s, m);
	drive_step(&d, step);

	/* 100 Hz: a sample every ~2 ms, then a gap of 3.5 periods. */
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE | WP_SERIES_NODE,
		                        .readings_hz = 100 };
	ASSERT_EQ(wp_series_open(&ser, m, d.snap, &so), 0);
	ASSERT_EQ(wp_series_column_count(ser), 5); /* mem_used_b alone */
	size_t mu = col_index(ser, "node", "mem_used_b"), gap_at = 0;
	while (d.ts[d.n - 1] - d.ts[0] < 80000000u) {
		if (!gap_at && d.ts[d.n - 1] - d.ts[0] > 30000000u) {
			test_sleep_ms(35);
			gap_at = d.n;
		} else {
			test_sleep_ms(2);
		}
		drive_step(&d, step);
		ASSERT_EQ(wp_series_add(ser, d.snap), 0);
	}
	struct rows r;
	read_all(ser, &r);
	check_exact(m, &d, &r, d.n);
	int *want = calloc(d.n, sizeof *want);
	readings_due(d.ts, d.n, 10000000, want);
	for (size_t k = 0; k < r.n; k++) {
		if (want[k] != !isnan(V(&r, k, mu)))
			TEST_FAIL_("sample %zu at %.4f s: readings %s, want %s", k, r.t[k],
			           isnan(V(&r, k, mu)) ? "absent" : "present",
			           want[k] ? "present" : "absent");
		if (want[k])
			ASSERT(V(&r, k, mu) == (double)(MEM_TOTAL_KB - 4000000) * 1024);
	}
	/* After the gap: a reading at once, then none until a period later
	 * (no catching up on the ones missed). */
	ASSERT(gap_at > 0 && gap_at + 1 < r.n);
	ASSERT(!isnan(V(&r, gap_at, mu)));
	if (d.ts[gap_at + 1] - d.ts[gap_at] < 10000000u)
		ASSERT(isnan(V(&r, gap_at + 1, mu)));
	free(want);
	rows_free(&r);
	wp_series_close(ser);

	/*
	 * Periods past what 64 bits of ns hold: one reading a century (the
	 * start's only), windows of three thousand years (none closes).  Not a
	 * reading at every sample, not a window per interval.
	 */
	so.readings_hz = 1e-11;
	so.window_s = 1e11;
	ASSERT_EQ(wp_series_open(&ser, m, d.snap, &so), 0);
	for (int k = 0; k < 5; k++) {
		test_sleep_ms(1);
		drive_step(&d, step);
		ASSERT_EQ(wp_series_add(ser, d.snap), 0);
	}
	read_all(ser, &r);
	ASSERT_EQ(r.n, 6);
	ASSERT(!isnan(V(&r, 0, mu)));
	for (size_t k = 1; k < r.n; k++)
		if (!isnan(V(&r, k, mu)))
			TEST_FAIL_("sample %zu has readings at 1e-11 Hz", k);
	double lo, hi;
	ASSERT_EQ(wp_series_power_range(ser, 0, &lo, &hi), 0);
	if (!isnan(lo) || !isnan(hi))
		TEST_FAIL_("a window of 1e11 s closed after 5 ms: %g .. %g W", lo, hi);
	rows_free(&r);
	wp_series_close(ser);

	/* And the other way: readings at every sample, a window per interval. */
	so.readings_hz = 1e12;
	so.window_s = 1e-12;
	ASSERT_EQ(wp_series_open(&ser, m, d.snap, &so), 0);
	for (int k = 0; k < 5; k++) {
		test_sleep_ms(1);
		drive_step(&d, step);
		ASSERT_EQ(wp_series_add(ser, d.snap), 0);
	}
	read_all(ser, &r);
	for (size_t k = 0; k < r.n; k++)
		ASSERT(!isnan(V(&r, k, mu)));
	ASSERT_EQ(wp_series_power_range(ser, 0, &lo, &hi), 0);
	ASSERT(isfinite(lo) && isfinite(hi));
	rows_free(&r);
	wp_series_close(ser);

	drive_free(&d);
	sim_close(&s, h, m);
	return TEST_OK;
}

/*
 * Device readings, from the fake NVML (tests/fakenvml/): two GPUs whose
 * readings are set in its configuration, no temperature offered (an old
 * driver), and GPU 1 lost mid-run.
 */
static void *fake_nvml_symbol(const char *name)
{
	void *dl = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_NOLOAD);
	void *sym = dl ? dlsym(dl, name) : NULL;
	if (!sym)
		TEST_FAIL_("the fake NVML is not loaded, or lacks %s", name);
	dlclose(dl);
	return sym;
}

TEST(series_device_readings)
{
	static const enum wp_metric offered[] = { WP_METRIC_UTIL_PCT, WP_METRIC_MEM_UTIL_PCT,
		                                  WP_METRIC_MEM_USED_B, WP_METRIC_SM_CLOCK_MHZ,
		                                  WP_METRIC_POWER_LIMIT_W };
	static const double want[2][5] = { { 11, 22, 1000000, 1500, 300 },
		                           { 87, 41, 123456789, 1410, 450 } };
	char root[512], cfg[600];
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_series *ser = NULL;
	snprintf(cfg, sizeof cfg,
	         "epoch_ns=%llu;gpus=2;no=nvmlDeviceGetTemperature;"
	         "util.0=11;mem_util.0=22;mem_used.0=1000000;sm_mhz.0=1500;limit_w.0=300;"
	         "util.1=87;mem_util.1=41;mem_used.1=123456789;sm_mhz.1=1410;limit_w.1=450",
	         (unsigned long long)wp_now_ns());
	setenv("FAKE_NVML", cfg, 1);
	test_tmpdir(root, sizeof root);
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = root,
		                .sources = "nvml", .flags = WP_OPEN_NO_CROSSCHECK };
	ASSERT_EQ(wp_host_open(&h, &o), 0);
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	ASSERT_EQ(wp_meter_domain_count(m), 2);
	size_t gpu[2] = { dom_index(m, "nvidia_gpu_0"), dom_index(m, "nvidia_gpu_1") };
	struct wp_snapshot *snap = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_snapshot(m, snap), 0);

	/* Without WP_SERIES_DEVICES: energy and power alone. */
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE, .readings_hz = 1e12 };
	ASSERT_EQ(wp_series_open(&ser, m, snap, &so), 0);
	ASSERT_EQ(wp_series_column_count(ser), 4);
	wp_series_close(ser);

	/* With it: what each device offered at the start, in enum order. */
	so.flags |= WP_SERIES_DEVICES;
	ASSERT_EQ(wp_series_open(&ser, m, snap, &so), 0);
	ASSERT_EQ(wp_series_column_count(ser), 4 + 2 * 5);
	size_t col[2][5];
	for (size_t g = 0; g < 2; g++) {
		for (size_t k = 0; k < 5; k++) {
			struct wp_series_column c;
			col[g][k] = 4 + 5 * (gpu[g] > gpu[1 - g]) + k;
			ASSERT_EQ(wp_series_column(ser, col[g][k], &c), 0);
			ASSERT_STR(c.domain, g == 0 ? "nvidia_gpu_0" : "nvidia_gpu_1");
			ASSERT_STR(c.metric, wp_metric_name(offered[k]));
			ASSERT_STR(c.unit, wp_metric_unit(offered[k]));
		}
	}
	const size_t lose_at = 10, total = 16;
	for (size_t k = 1; k < total; k++) {
		if (k == lose_at)
			((void (*)(unsigned))fake_nvml_symbol("fake_nvml_lose_now"))(1);
		test_sleep_ms(2);
		ASSERT_EQ(wp_meter_snapshot(m, snap), 0);
		ASSERT_EQ(wp_series_add(ser, snap), 0);
	}
	struct rows r;
	read_all(ser, &r);
	ASSERT_EQ(r.n, total);
	for (size_t k = 0; k < total; k++) {
		for (size_t g = 0; g < 2; g++) {
			int gone = g == 1 && k >= lose_at;
			for (size_t i = 0; i < 5; i++) {
				double v = V(&r, k, col[g][i]);
				if (gone ? !isnan(v) : v != want[g][i])
					TEST_FAIL_("sample %zu, GPU %zu, %s: %.17g, want %.17g", k, g,
					           wp_metric_name(offered[i]), v,
					           gone ? NAN : want[g][i]);
			}
			double e = V(&r, k, 2 * gpu[g] + 1);
			if (gone ? !isnan(e) : !(k == 0 ? e == 0 : e > V(&r, k - 1, 2 * gpu[g] + 1)))
				TEST_FAIL_("sample %zu, GPU %zu: energy %.17g J", k, g, e);
		}
	}
	rows_free(&r);
	wp_series_close(ser);
	wp_snapshot_free(snap);
	wp_meter_close(m);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

/* ------------------------------------------------- 4. a domain lost */

TEST(series_domain_lost_mid_run)
{
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_series *ser = NULL;
	struct drive d;
	uint64_t step[2] = { 0, 0 };
	sim_open(&s, hand, 2, &h, &m);
	drive_init(&d, &s, m);
	size_t pkg = dom_index(m, "package_0"), dram = dom_index(m, "dram_0");
	drive_step(&d, step);
	/* Windows of one interval: the range follows every step. */
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE, .window_s = 1e-9 };
	ASSERT_EQ(wp_series_open(&ser, m, d.snap, &so), 0);
	const size_t lose_at = 50, total = 120;
	double pkg_lo = NAN, pkg_hi = NAN, jpc = wp_meter_domain(m, pkg)->joules_per_count;
	for (size_t k = 1; k < total; k++) {
		random_step(step);
		if (k == lose_at) {
			/* The package's sensor goes away mid-run. */
			d.now_uj[0] += step[0];
			sim_write_file(&s, 0, "energy_uj", "");
			d.now_uj[1] += step[1];
			sim_set(&s, 1, d.now_uj[1]);
			drive_snap(&d);
		} else {
			/* After the loss, values come back: the domain stays lost
			 * (wraps may have been missed meanwhile). */
			drive_step(&d, step);
		}
		ASSERT_EQ(wp_series_add(ser, d.snap), 0);
		if (k < lose_at) {
			double dt = (double)(d.ts[k] - d.ts[k - 1]) / 1e9;
			double w = (want_j(&d, 0, k, jpc) - want_j(&d, 0, k - 1, jpc)) / dt;
			if (isnan(pkg_lo) || w < pkg_lo)
				pkg_lo = w;
			if (isnan(pkg_hi) || w > pkg_hi)
				pkg_hi = w;
		}
	}
	ASSERT(wp_meter_domain_status(m, pkg, NULL, NULL) != 0);
	ASSERT_EQ(wp_meter_domain_status(m, dram, NULL, NULL), 0);

	struct rows r;
	read_all(ser, &r);
	ASSERT_EQ(r.n, total);
	for (size_t k = 0; k < total; k++) {
		double e = V(&r, k, 2 * pkg + 1), p = V(&r, k, 2 * pkg);
		if (k < lose_at) {
			ASSERT(e == want_j(&d, 0, k, jpc));
			ASSERT(k == 0 ? isnan(p) : isfinite(p));
		} else if (!isnan(e) || !isnan(p)) {
			TEST_FAIL_("sample %zu, after the loss: package %g J, %g W; want NaN", k, e,
			           p);
		}
		/* The DRAM goes on, exact. */
		ASSERT(V(&r, k, 2 * dram + 1) == want_j(&d, 1, k, jpc));
		if (k > 0)
			ASSERT(isfinite(V(&r, k, 2 * dram)));
	}
	/* The package's range holds what it saw before. */
	double lo, hi;
	ASSERT_EQ(wp_series_power_range(ser, pkg, &lo, &hi), 0);
	ASSERT(lo == pkg_lo);
	ASSERT(hi == pkg_hi);
	ASSERT_EQ(wp_series_power_range(ser, dram, &lo, &hi), 0);
	ASSERT(isfinite(lo) && isfinite(hi));
	rows_free(&r);
	wp_series_close(ser);

	/* Lost before the series starts (the meter opened it lost): NaN from
	 * the start on, the range never set; the other domain unharmed. */
	struct wp_meter *m2;
	sim_write_file(&s, 1, "energy_uj", "");
	ASSERT_EQ(wp_meter_open(&m2, h, NULL, 0, NULL), 0);
	ASSERT(wp_meter_domain_status(m2, dram, NULL, NULL) != 0);
	struct wp_snapshot *a = wp_snapshot_new(m2), *b = wp_snapshot_new(m2);
	sim_set(&s, 0, 5000);
	ASSERT_EQ(wp_meter_snapshot(m2, a), 0);
	ASSERT_EQ(wp_series_open(&ser, m2, a, &so), 0);
	for (int k = 1; k <= 3; k++) {
		test_sleep_ms(1);
		sim_set(&s, 0, 5000 + 1000 * (uint64_t)k);
		ASSERT_EQ(wp_meter_snapshot(m2, b), 0);
		ASSERT_EQ(wp_series_add(ser, b), 0);
	}
	read_all(ser, &r);
	ASSERT_EQ(r.n, 4);
	for (size_t k = 0; k < 4; k++) {
		ASSERT(isnan(V(&r, k, 2 * dram)) && isnan(V(&r, k, 2 * dram + 1)));
		ASSERT(V(&r, k, 2 * pkg + 1) == (double)(1000 * k) * jpc);
	}
	ASSERT_EQ(wp_series_power_range(ser, dram, &lo, &hi), 0);
	ASSERT(isnan(lo) && isnan(hi));
	ASSERT_EQ(wp_series_power_range(ser, pkg, &lo, &hi), 0);
	ASSERT(isfinite(lo) && isfinite(hi));
	rows_free(&r);
	wp_series_close(ser);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m2);

	drive_free(&d);
	sim_close(&s, h, m);
	return TEST_OK;
}

/* ------------------------------------------------------- 5. errors */

TEST(series_errors)
{
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m, *one;
	struct wp_series *ser = (struct wp_series *)&s; /* not NULL: a failed open clears it */
	struct wp_series_reader *rd = NULL;
	struct wp_series_column c;
	static const char *const dram_only[] = { "dram_0" };
	sim_open(&s, hand, 2, &h, &m);
	ASSERT_EQ(wp_meter_open(&one, h, dram_only, 1, NULL), 0);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m),
	                   *other = wp_snapshot_new(one);
	ASSERT_EQ(wp_meter_snapshot(m, a), 0);
	ASSERT_EQ(wp_meter_snapshot(one, other), 0);

	/* A folder that does not exist, or that is a file: the error, and
	 * whatever was opened before it (the node's files) closed again. */
	char dir[700];
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE | WP_SERIES_NODE };
	snprintf(dir, sizeof dir, "%s/no/such/folder", s.root);
	so.dir = dir;
	ASSERT_EQ(wp_series_open(&ser, m, a, &so), -ENOENT);
	ASSERT(ser == NULL);
	snprintf(dir, sizeof dir, "%s/class/powercap/intel-rapl:0/name", s.root);
	ASSERT_EQ(wp_series_open(&ser, m, a, &so), -ENOTDIR);
	ASSERT(ser == NULL);
	/* Without WP_SERIES_STORE the folder is never used. */
	so.flags = 0;
	ASSERT_EQ(wp_series_open(&ser, m, a, &so), 0);
	wp_series_close(ser);
	so.dir = NULL;

	/* Bad arguments. */
	ASSERT_EQ(wp_series_open(NULL, m, a, &so), -EINVAL);
	ASSERT_EQ(wp_series_open(&ser, NULL, a, &so), -EINVAL);
	ASSERT_EQ(wp_series_open(&ser, m, NULL, &so), -EINVAL);
	ASSERT_EQ(wp_series_open(&ser, m, other, &so), -EINVAL); /* another meter's size */
	const double bad[] = { -1, NAN, INFINITY, -INFINITY };
	for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
		so.readings_hz = bad[k];
		ASSERT_EQ(wp_series_open(&ser, m, a, &so), -EINVAL);
		so.readings_hz = 0;
		so.window_s = bad[k];
		ASSERT_EQ(wp_series_open(&ser, m, a, &so), -EINVAL);
		so.window_s = 0;
	}

	/* A series not stored: statistics only, no reader. */
	ASSERT_EQ(wp_series_open(&ser, m, a, NULL), 0);
	ASSERT_EQ(wp_series_reader_open(&rd, ser), -ENODATA);
	ASSERT_EQ(wp_series_status(ser), 0);
	ASSERT_EQ(wp_series_column_count(ser), 4);
	ASSERT_EQ(wp_series_column(ser, 4, &c), -EINVAL);
	ASSERT_EQ(wp_series_column(ser, (size_t)-1, &c), -EINVAL);
	ASSERT_EQ(wp_series_column(ser, 0, NULL), -EINVAL);
	ASSERT_EQ(wp_series_column(NULL, 0, &c), -EINVAL);
	double lo = 1, hi = 1;
	ASSERT_EQ(wp_series_power_range(ser, 0, &lo, &hi), 0);
	ASSERT(isnan(lo) && isnan(hi)); /* no window has closed */
	ASSERT_EQ(wp_series_power_range(ser, 2, &lo, &hi), -EINVAL);
	ASSERT_EQ(wp_series_power_range(NULL, 0, &lo, &hi), -EINVAL);
	ASSERT_EQ(wp_series_power_range(ser, 1, NULL, NULL), 0);

	/* Snapshots: none, another meter's, the same time, an older one. */
	ASSERT_EQ(wp_series_add(ser, NULL), -EINVAL);
	ASSERT_EQ(wp_series_add(NULL, a), -EINVAL);
	ASSERT_EQ(wp_series_add(ser, other), -EINVAL);
	ASSERT_EQ(wp_series_add(ser, a), -EINVAL); /* the start again */
	test_sleep_ms(1);
	ASSERT_EQ(wp_meter_snapshot(m, b), 0);
	ASSERT_EQ(wp_series_add(ser, b), 0);
	ASSERT_EQ(wp_series_add(ser, b), -EINVAL);
	ASSERT_EQ(wp_series_add(ser, a), -EINVAL); /* older than the last */
	ASSERT_U64(wp_series_sample_count(ser), ==, 2);
	ASSERT_EQ(wp_series_status(ser), 0);
	wp_series_close(ser);

	/* The same on a stored series: ignored snapshots leave no row. */
	so.flags = WP_SERIES_STORE;
	ASSERT_EQ(wp_series_open(&ser, m, a, &so), 0);
	ASSERT_EQ(wp_series_add(ser, b), 0);
	ASSERT_EQ(wp_series_add(ser, a), -EINVAL);
	ASSERT_EQ(wp_series_reader_open(&rd, ser), 0);
	double t, v[4];
	ASSERT_EQ(wp_series_next(rd, &t, v), 1);
	ASSERT_EQ(wp_series_next(rd, &t, v), 1);
	ASSERT(t == (double)(wp_snapshot_time_ns(b) - wp_snapshot_time_ns(a)) / 1e9);
	ASSERT_EQ(wp_series_next(rd, &t, v), 0);
	ASSERT_EQ(wp_series_next(rd, NULL, v), -EINVAL);
	ASSERT_EQ(wp_series_next(rd, &t, NULL), -EINVAL);
	ASSERT_EQ(wp_series_next(NULL, &t, v), -EINVAL);
	wp_series_reader_close(rd);
	ASSERT_EQ(wp_series_reader_open(NULL, ser), -EINVAL);
	ASSERT_EQ(wp_series_reader_open(&rd, NULL), -EINVAL);
	wp_series_close(ser);

	/* A meter without domains: rows of times alone. */
	{
		char empty[512];
		struct wp_host *h0;
		struct wp_meter *m0;
		test_tmpdir(empty, sizeof empty);
		struct wp_options eo = { .version = WP_OPTIONS_VERSION, .sysfs_root = empty,
			                 .sources = "powercap", .flags = WP_OPEN_NO_CROSSCHECK };
		ASSERT_EQ(wp_host_open(&h0, &eo), 0);
		ASSERT_EQ(wp_meter_open(&m0, h0, NULL, 0, NULL), 0);
		ASSERT_EQ(wp_meter_domain_count(m0), 0);
		struct wp_snapshot *z0 = wp_snapshot_new(m0), *z1 = wp_snapshot_new(m0);
		ASSERT_EQ(wp_meter_snapshot(m0, z0), 0);
		ASSERT_EQ(wp_series_open(&ser, m0, z0, &so), 0);
		ASSERT_EQ(wp_series_column_count(ser), 0);
		test_sleep_ms(1);
		ASSERT_EQ(wp_meter_snapshot(m0, z1), 0);
		ASSERT_EQ(wp_series_add(ser, z1), 0);
		ASSERT_EQ(wp_series_power_range(ser, 0, &lo, &hi), -EINVAL);
		ASSERT_EQ(wp_series_reader_open(&rd, ser), 0);
		ASSERT_EQ(wp_series_next(rd, &t, v), 1);
		ASSERT(t == 0);
		ASSERT_EQ(wp_series_next(rd, &t, v), 1);
		ASSERT(t == (double)(wp_snapshot_time_ns(z1) - wp_snapshot_time_ns(z0)) / 1e9);
		ASSERT_EQ(wp_series_next(rd, &t, v), 0);
		wp_series_reader_close(rd);
		wp_series_close(ser);
		wp_snapshot_free(z0);
		wp_snapshot_free(z1);
		wp_meter_close(m0);
		wp_host_close(h0);
		test_rmtree(empty);
	}

	/* NULLs are harmless where the header says so. */
	wp_series_close(NULL);
	wp_series_reader_close(NULL);
	ASSERT_EQ(wp_series_column_count(NULL), 0);
	ASSERT_U64(wp_series_sample_count(NULL), ==, 0);
	ASSERT_EQ(wp_series_status(NULL), -EINVAL);

	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_snapshot_free(other);
	wp_meter_close(one);
	sim_close(&s, h, m);
	return TEST_OK;
}

/* ---------------------------------------------- 6. a failed write */

TEST(series_write_failure_keeps_whole_rows)
{
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_series *ser = NULL;
	struct drive d;
	uint64_t step[2] = { 0, 0 };
	struct rlimit old, lim;
	sim_open(&s, hand, 2, &h, &m);
	drive_init(&d, &s, m);
	size_t pkg = dom_index(m, "package_0");
	drive_step(&d, step);
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE, .window_s = 1e-9 };
	ASSERT_EQ(wp_series_open(&ser, m, d.snap, &so), 0);

	/*
	 * Files of this process may grow to 100000 bytes: the first chunk
	 * (2730 rows of 24 bytes, 65520 bytes) fits, the second is cut in the
	 * middle of row 4166.  The signal would end the process: ignored, the
	 * write fails with EFBIG instead.
	 */
	const size_t row_bytes = 8 * 3, cap = CHUNK_BYTES / row_bytes, limit = 100000;
	signal(SIGXFSZ, SIG_IGN);
	ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = limit;
	ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
	size_t failed_at = 0;
	int rc = 0;
	while (d.n < 3 * cap) {
		step[0] = 1 + rng() % RANGE_UJ; /* never 0 W here */
		step[1] = rng() % (RANGE_UJ + 1);
		drive_step(&d, step);
		rc = wp_series_add(ser, d.snap);
		if (rc < 0 && !failed_at)
			failed_at = d.n - 1;
		if (failed_at && d.n > failed_at + 20)
			break;
	}
	/* After the failure: the package draws nothing, a new lowest. */
	step[0] = step[1] = 0;
	for (int k = 0; k < 3; k++) {
		drive_step(&d, step);
		rc = wp_series_add(ser, d.snap);
	}
	ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
	ASSERT_EQ(rc, -EFBIG); /* every add after the first failure says so */
	ASSERT_U64(failed_at, ==, 2 * cap - 1);
	ASSERT_EQ(wp_series_status(ser), -EFBIG);
	ASSERT_U64(wp_series_sample_count(ser), ==, d.n);

	/* The range went on following every sample. */
	double lo = INFINITY, hi = -INFINITY, jpc = wp_meter_domain(m, pkg)->joules_per_count;
	size_t lo_at = 0;
	for (size_t k = 1; k < d.n; k++) {
		double dt = (double)(d.ts[k] - d.ts[k - 1]) / 1e9;
		double w = (want_j(&d, 0, k, jpc) - want_j(&d, 0, k - 1, jpc)) / dt;
		if (w < lo)
			lo = w, lo_at = k;
		if (w > hi)
			hi = w;
	}
	double slo, shi;
	ASSERT_EQ(wp_series_power_range(ser, pkg, &slo, &shi), 0);
	ASSERT(slo == lo);
	ASSERT(shi == hi);
	ASSERT(lo == 0);
	ASSERT_U64(lo_at, >, failed_at);

	/* The rows that reached the file, whole, and nothing after them. */
	struct rows r;
	read_all(ser, &r);
	check_exact(m, &d, &r, limit / row_bytes);
	rows_free(&r);
	wp_series_close(ser);
	drive_free(&d);
	sim_close(&s, h, m);
	return TEST_OK;
}

/*
 * The readings' file fails first: one domain (16-byte energy rows, 4096 to
 * a chunk) beside two node readings at every sample (24-byte rows, 2730 to
 * a chunk).  The readings keep the whole rows that reached their file; the
 * energy rows, all still in memory or on file, stay whole and exact.
 */
TEST(series_failed_readings_write)
{
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_series *ser = NULL;
	struct drive d;
	struct rlimit old, lim;
	char proc[600];
	uint64_t step[2] = { 0, 0 };
	static const char *const dram_only[] = { "dram_0" };
	sim_create(&s, hand, 2);
	snprintf(proc, sizeof proc, "%s/proc", s.root);
	test_mkdirs(proc);
	write_stat(proc, 100, 100);
	write_meminfo(proc, MEM_TOTAL_KB, 5000000);
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = s.root,
		                .proc_root = proc, .sources = "powercap",
		                .flags = WP_OPEN_NO_CROSSCHECK };
	ASSERT_EQ(wp_host_open(&h, &o), 0);
	ASSERT_EQ(wp_meter_open(&m, h, dram_only, 1, NULL), 0);
	drive_init(&d, &s, m);
	drive_step(&d, step);
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE | WP_SERIES_NODE,
		                        .readings_hz = 1e12 };
	ASSERT_EQ(wp_series_open(&ser, m, d.snap, &so), 0);
	ASSERT_EQ(wp_series_column_count(ser), 2 + 2);
	size_t mu = col_index(ser, "node", "mem_used_b");

	const size_t rcap = CHUNK_BYTES / 24, limit = 100000;
	signal(SIGXFSZ, SIG_IGN);
	ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = limit;
	ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
	size_t failed_at = 0;
	while (!failed_at && d.n < 3 * rcap) {
		random_step(step);
		drive_step(&d, step);
		if (wp_series_add(ser, d.snap) < 0)
			failed_at = d.n - 1;
	}
	for (int k = 0; k < 10; k++) {
		drive_step(&d, step);
		ASSERT_EQ(wp_series_add(ser, d.snap), -EFBIG);
	}
	ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
	ASSERT_U64(failed_at, ==, 2 * rcap - 1);
	ASSERT_EQ(wp_series_status(ser), -EFBIG);

	/* Energy up to the failing sample (its row was kept before its
	 * readings failed); readings for the rows that reached their file. */
	struct rows r;
	read_all(ser, &r);
	ASSERT_U64(r.n, ==, failed_at + 1);
	double jpc = wp_meter_domain(m, 0)->joules_per_count;
	for (size_t k = 0; k < r.n; k++) {
		ASSERT(r.t[k] == (double)(d.ts[k] - d.ts[0]) / 1e9);
		if (V(&r, k, 1) != want_j(&d, 1, k, jpc))
			TEST_FAIL_("sample %zu: %.17g J, want %.17g J", k, V(&r, k, 1),
			           want_j(&d, 1, k, jpc));
		int has = !isnan(V(&r, k, mu));
		if (has != (k < limit / 24))
			TEST_FAIL_("sample %zu: readings %s", k, has ? "present" : "absent");
		if (has)
			ASSERT(V(&r, k, mu) == (double)(MEM_TOTAL_KB - 5000000) * 1024);
	}
	rows_free(&r);
	wp_series_close(ser);
	drive_free(&d);
	sim_close(&s, h, m);
	return TEST_OK;
}

/* ------------------------------------------------ 7. flat memory */

static long resident_bytes(void)
{
	/* The real /proc: this process's own memory. */
	FILE *f = fopen("/proc/self/statm", "r");
	long size, res;
	if (!f)
		return -1;
	int n = fscanf(f, "%ld %ld", &size, &res);
	fclose(f);
	return n == 2 ? res * sysconf(_SC_PAGESIZE) : -1;
}

TEST(series_memory_stays_flat)
{
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_series *ser = NULL;
	struct wp_snapshot *snap, *first;
	uint64_t uj = 0;
	const size_t total = 200000, early = 20000;
	long at_early = 0;
	sim_open(&s, hand, 2, &h, &m);
	if (resident_bytes() < 0)
		SKIP_BECAUSE("cannot read /proc/self/statm");
	snap = wp_snapshot_new(m);
	first = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_snapshot(m, first), 0);
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE };
	ASSERT_EQ(wp_series_open(&ser, m, first, &so), 0);
	for (size_t k = 1; k < total; k++) {
		uj += 1 + k % 977;
		sim_set(&s, 1, uj);
		ASSERT_EQ(wp_meter_snapshot(m, snap), 0);
		ASSERT_EQ(wp_series_add(ser, snap), 0);
		if (k == early)
			at_early = resident_bytes();
	}
	long at_end = resident_bytes();
	fprintf(stderr, "  resident: %ld KiB at %zu samples, %ld KiB at %zu\n", at_early / 1024,
	        early, at_end / 1024, total);
	ASSERT_INT(at_end - at_early, <, 1024 * 1024);
	ASSERT_U64(wp_series_sample_count(ser), ==, total);

	/* And it is all there. */
	struct wp_series_reader *rd;
	double t, v[4], last = 0;
	uint64_t n = 0;
	size_t dram = dom_index(m, "dram_0");
	ASSERT_EQ(wp_series_reader_open(&rd, ser), 0);
	while (wp_series_next(rd, &t, v) == 1) {
		if (n > 0 && !(v[2 * dram + 1] > last))
			TEST_FAIL_("sample %llu: %.17g J after %.17g J", (unsigned long long)n,
			           v[2 * dram + 1], last);
		last = v[2 * dram + 1];
		n++;
	}
	ASSERT_U64(n, ==, total);
	double j;
	wp_energy_between(m, first, snap, dram, &j);
	ASSERT(last == j);
	ASSERT(last == (double)uj * 1e-6);
	wp_series_reader_close(rd);
	wp_series_close(ser);
	wp_snapshot_free(snap);
	wp_snapshot_free(first);
	sim_close(&s, h, m);
	return TEST_OK;
}

/* ------------------------------------------- 8. YAML says what JSON says */

static void render_to(const struct wp_report *r, enum wp_format f, const char *path)
{
	FILE *out = fopen(path, "w");
	if (!out)
		TEST_FAIL_("cannot write '%s': %s", path, strerror(errno));
	ASSERT_EQ(wp_report_write(r, f, out), 0);
	ASSERT_EQ(fclose(out), 0);
}

static const struct json *jmember(const struct json *o, const char *key, enum json_type t)
{
	const struct json *v = json_member(o, key);
	if (v->type != t)
		TEST_FAIL_("member '%s' has type %d, not %d", key, v->type, t);
	return v;
}

/* A JSON number written with 10 significant digits against the figure. */
static void assert_num(const struct json *o, const char *key, double want)
{
	const struct json *v = json_member(o, key);
	if (isnan(want)) {
		if (v->type != J_NULL)
			TEST_FAIL_("'%s' should be null, it is %.10g", key, v->num);
		return;
	}
	if (v->type != J_NUM || !(fabs(v->num - want) <= 1e-9 * fabs(want) + 1e-300))
		TEST_FAIL_("'%s' is %.17g, want %.17g", key, v->type == J_NUM ? v->num : NAN, want);
}

/* {"mean", "std", "min", "max"} of v[0..n-1] computed here. */
static void assert_stats(const struct json *o, const char *key, const double *v, size_t n)
{
	const struct json *st = jmember(o, key, J_OBJ);
	double sum = 0, ss = 0, lo = v[0], hi = v[0];
	for (size_t k = 0; k < n; k++) {
		sum += v[k];
		lo = v[k] < lo ? v[k] : lo;
		hi = v[k] > hi ? v[k] : hi;
	}
	double mean = sum / (double)n;
	for (size_t k = 0; k < n; k++)
		ss += (v[k] - mean) * (v[k] - mean);
	assert_num(st, "mean", mean);
	const struct json *sd = jmember(st, "std", J_NUM);
	ASSERT_NEAR(sd->num, sqrt(ss / (double)(n - 1)), 1e-9 * mean);
	assert_num(st, "min", lo);
	assert_num(st, "max", hi);
}

TEST(series_yaml_equals_json)
{
	struct sim s;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_series *ser = NULL;
	struct wp_report r;
	char dir[512], jpath[600], ypath[600];
	char *out = NULL;
	test_tmpdir(dir, sizeof dir);
	snprintf(jpath, sizeof jpath, "%s/report.json", dir);
	snprintf(ypath, sizeof ypath, "%s/report.yaml", dir);
	if (test_shell(dir, &out, "python3 -c 'import json, yaml'") != 0) {
		fprintf(stderr, "  %s", out ? out : "");
		free(out);
		test_rmtree(dir);
		SKIP_BECAUSE("python3 with PyYAML is needed to read the YAML back "
		             "(scripts/deps.sh test installs python3-yaml)");
	}
	free(out);

	sim_open(&s, hand, 2, &h, &m);
	size_t pkg = dom_index(m, "package_0"), dram = dom_index(m, "dram_0");
	uint64_t uj[2] = { hand[0].start_uj, hand[1].start_uj };
	struct wp_snapshot *i0 = wp_snapshot_new(m), *i1 = wp_snapshot_new(m),
	                   *a = wp_snapshot_new(m), *snap = wp_snapshot_new(m);

	/* Idle: 0.25 J and 0.05 J over about 20 ms. */
	ASSERT_EQ(wp_meter_snapshot(m, i0), 0);
	test_sleep_ms(20);
	uj[0] += 250000, uj[1] += 50000;
	sim_set(&s, 0, uj[0]);
	sim_set(&s, 1, uj[1]);
	ASSERT_EQ(wp_meter_snapshot(m, i1), 0);

	ASSERT_EQ(wp_meter_snapshot(m, a), 0);
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE, .window_s = 0.004 };
	ASSERT_EQ(wp_series_open(&ser, m, a, &so), 0);
	/*
	 * A warm-up round and three counted ones, each a few steps with a
	 * sample after each; the DRAM barely moves in some (1 and 3 uJ: figures
	 * that print with an exponent).
	 */
	static const char *const tags[] = { "warm-up", "round: 1", "round \"2\"", "round 3" };
	static const uint64_t pkg_uj[4] = { 300000, 512345, 498000, 777777 };
	static const uint64_t dram_uj[4] = { 20000, 1, 3, 250000 };
	double round_j[4][2], round_total[3];
	for (size_t k = 0; k < 4; k++) {
		ASSERT_EQ(k == 0 ? wp_meter_begin(m, tags[k]) : wp_meter_record(m, tags[k]), 0);
		uint64_t left[2] = { pkg_uj[k], dram_uj[k] };
		for (int stepno = 0; stepno < 3; stepno++) {
			test_sleep_ms(3);
			for (size_t z = 0; z < 2; z++) {
				uint64_t st = stepno == 2 ? left[z] : left[z] / 3;
				uj[z] += st;
				left[z] -= st;
				sim_set(&s, z, uj[z]);
			}
			ASSERT_EQ(wp_meter_snapshot(m, snap), 0);
			ASSERT_EQ(wp_series_add(ser, snap), 0);
		}
		round_j[k][0] = (double)pkg_uj[k] * 1e-6;
		round_j[k][1] = (double)dram_uj[k] * 1e-6;
		if (k > 0)
			round_total[k - 1] = round_j[k][0] + round_j[k][1];
	}
	test_sleep_ms(2);
	ASSERT_EQ(wp_meter_end(m), 0);
	ASSERT_EQ(wp_meter_snapshot(m, snap), 0);
	ASSERT_EQ(wp_series_add(ser, snap), 0);

	/* Strings that YAML would take for something else unless quoted. */
	static const char *const argv[] = { "python3", "-c", "print('a: b')", "yes", "null",
		                            "#x", "- item", "caf\xc3\xa9", "tab\there\n",
		                            "bad\xff\x01\x7f", "", "1e-06", NULL };
	wp_report_init(&r);
	r.host = strdup("on");
	ASSERT_EQ(wp_report_set_command(&r, argv), 0);
	r.exit_status = 0;
	ASSERT_EQ(wp_report_measure(&r, m, a, snap), 0);
	ASSERT_EQ(wp_report_warn(&r, "a warning: with {braces}, [brackets] & 'quotes'"), 0);
	ASSERT_EQ(r.region_count, 4);
	ASSERT_EQ(wp_report_set_series(&r, ser), 0);
	ASSERT_EQ(wp_report_set_idle(&r, m, i0, i1), 0);
	ASSERT_EQ(wp_report_set_rounds(&r, 1, 3, 1), 0);
	struct wp_carbon_options co = { .version = WP_CARBON_OPTIONS_VERSION,
		                        .flags = WP_CARBON_PRICE, .pue = 1.3, .country = "swe",
		                        .price_factor = 0.2, .price_unit = "SEK: 'kr'" };
	ASSERT_EQ(wp_report_set_carbon(&r, &co), 0);
	r.flags |= WP_REPORT_SERIES;
	ASSERT(r.domains[pkg].in_total && r.domains[dram].in_total);
	render_to(&r, WP_FORMAT_JSON, jpath);
	render_to(&r, WP_FORMAT_YAML, ypath);

	/* The same document, as PyYAML and Python's json read them. */
	int st = test_shell(dir, &out,
	                    "python3 -c 'import json, sys, yaml\n"
	                    "y = yaml.safe_load(open(sys.argv[1]))\n"
	                    "j = json.load(open(sys.argv[2]))\n"
	                    "def diff(a, b, at):\n"
	                    "    if type(a) is dict and type(b) is dict:\n"
	                    "        for k in sorted(set(a) | set(b)):\n"
	                    "            diff(a.get(k, \"(absent)\"), b.get(k, \"(absent)\"), at + \"/\" + str(k))\n"
	                    "    elif type(a) is list and type(b) is list and len(a) == len(b):\n"
	                    "        for i, (x, z) in enumerate(zip(a, b)):\n"
	                    "            diff(x, z, at + \"/\" + str(i))\n"
	                    "    elif a != b or type(a) is str and type(b) is not str:\n"
	                    "        print(\"%%s: yaml %%r, json %%r\" %% (at, a, b))\n"
	                    "diff(y, j, \"\")\n"
	                    "assert y == j\n"
	                    "' '%s' '%s'",
	                    ypath, jpath);
	if (st != 0)
		TEST_FAIL_("the YAML and the JSON differ (python3 said %d):\n%s", st, out);
	free(out);

	/* The JSON, member by member, against the figures set here. */
	char *text = test_slurp(jpath);
	struct json *j = json_must_parse(text);

	/* series: the columns, then one row [t, values...] per sample. */
	const struct json *js = jmember(j, "series", J_OBJ);
	const struct json *cols = jmember(js, "columns", J_ARR);
	size_t nc = wp_series_column_count(ser);
	ASSERT_EQ(cols->n, nc);
	for (size_t i = 0; i < nc; i++) {
		struct wp_series_column c;
		ASSERT_EQ(wp_series_column(ser, i, &c), 0);
		ASSERT_STR(jmember(&cols->items[i], "domain", J_STR)->str, c.domain);
		ASSERT_STR(jmember(&cols->items[i], "metric", J_STR)->str, c.metric);
		ASSERT_STR(jmember(&cols->items[i], "unit", J_STR)->str, c.unit);
	}
	const struct json *samples = jmember(js, "samples", J_ARR);
	ASSERT_U64(samples->n, ==, wp_series_sample_count(ser));
	struct rows rr;
	read_all(ser, &rr);
	ASSERT_EQ(rr.n, samples->n);
	for (size_t k = 0; k < rr.n; k++) {
		const struct json *row = &samples->items[k];
		ASSERT_EQ(row->type, J_ARR);
		ASSERT_EQ(row->n, nc + 1);
		ASSERT_NEAR(row->items[0].num, rr.t[k], 1e-9 * rr.t[k]);
		for (size_t i = 0; i < nc; i++) {
			double want = V(&rr, k, i);
			if (isnan(want))
				ASSERT_EQ(row->items[1 + i].type, J_NULL);
			else
				ASSERT_NEAR(row->items[1 + i].num, want, 1e-9 * fabs(want));
		}
	}
	rows_free(&rr);

	/* rounds: counted 3 after 1 warm-up; spreads computed here. */
	const struct json *rounds = jmember(j, "rounds", J_OBJ);
	ASSERT_NEAR(jmember(rounds, "count", J_NUM)->num, 3, 0);
	ASSERT_NEAR(jmember(rounds, "warmup", J_NUM)->num, 1, 0);
	double dur[3];
	struct wp_region reg;
	for (size_t k = 0; k < 3; k++) {
		ASSERT_EQ(wp_meter_region(m, k + 1, &reg), 0);
		dur[k] = (double)reg.duration_ns / 1e9;
	}
	assert_stats(rounds, "duration_s", dur, 3);
	assert_stats(rounds, "total_energy_j", round_total, 3);
	double dur_mean = (dur[0] + dur[1] + dur[2]) / 3;
	double total_mean = (round_total[0] + round_total[1] + round_total[2]) / 3;
	assert_num(j, "duration_s", dur_mean);
	assert_num(j, "total_energy_j", total_mean);

	/* idle: its length, its power, and the energy above it. */
	double idle_s = (double)(wp_snapshot_time_ns(i1) - wp_snapshot_time_ns(i0)) / 1e9;
	double idle_w[2] = { 0.25 / idle_s, 0.05 / idle_s };
	const struct json *idle = jmember(j, "idle", J_OBJ);
	assert_num(idle, "duration_s", idle_s);
	assert_num(idle, "power_w", idle_w[0] + idle_w[1]);
	assert_num(idle, "above_idle_j", total_mean - (idle_w[0] + idle_w[1]) * dur_mean);
	ASSERT_NEAR(wp_report_above_idle_j(&r, (size_t)-1),
	            total_mean - (idle_w[0] + idle_w[1]) * dur_mean, 1e-9);

	/* Each domain: the mean of the rounds, their spread, idle, range. */
	const struct json *doms = jmember(j, "domains", J_ARR);
	ASSERT_EQ(doms->n, 2);
	for (size_t z = 0; z < 2; z++) {
		size_t i = z == 0 ? pkg : dram;
		const struct json *dj = &doms->items[i];
		double e[3] = { round_j[1][z], round_j[2][z], round_j[3][z] };
		double mean = (e[0] + e[1] + e[2]) / 3, lo, hi;
		ASSERT_STR(jmember(dj, "name", J_STR)->str, z == 0 ? "package_0" : "dram_0");
		assert_num(dj, "energy_j", mean);
		assert_num(dj, "avg_power_w", mean / dur_mean);
		double sd = sqrt(((e[0] - mean) * (e[0] - mean) + (e[1] - mean) * (e[1] - mean) +
		                  (e[2] - mean) * (e[2] - mean)) / 2);
		assert_num(dj, "energy_std_j", sd);
		assert_num(dj, "energy_min_j", fmin(e[0], fmin(e[1], e[2])));
		assert_num(dj, "energy_max_j", fmax(e[0], fmax(e[1], e[2])));
		assert_num(dj, "idle_power_w", idle_w[z]);
		assert_num(dj, "above_idle_j", mean - idle_w[z] * dur_mean);
		ASSERT_EQ(wp_series_power_range(ser, i, &lo, &hi), 0);
		ASSERT(isfinite(lo) && isfinite(hi));
		/* The series' range spans the warm-up too: in benchmark mode it
		 * is no figure of the counted rounds, and not shown. */
		assert_num(dj, "min_power_w", NAN);
		assert_num(dj, "peak_power_w", NAN);
	}
	/* The regions, the warm-up included, with their exact energies. */
	const struct json *regs = jmember(j, "regions", J_ARR);
	ASSERT_EQ(regs->n, 4);
	for (size_t k = 0; k < 4; k++) {
		ASSERT_STR(jmember(&regs->items[k], "tag", J_STR)->str, tags[k]);
		const struct json *re = jmember(&regs->items[k], "energy_j", J_OBJ);
		assert_num(re, "package_0", round_j[k][0]);
		assert_num(re, "dram_0", round_j[k][1]);
	}
	json_free(j);
	free(text);

	wp_report_free(&r);
	wp_series_close(ser);
	wp_snapshot_free(i0);
	wp_snapshot_free(i1);
	wp_snapshot_free(a);
	wp_snapshot_free(snap);
	sim_close(&s, h, m);
	test_rmtree(dir);
	return TEST_OK;
}

/* ---------------------------------------------- 9. the number format */

/* A JSON number (RFC 8259, section 6), all of s. */
static int is_json_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return 0;
	if (*s == '.') {
		if (!(*++s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

/*
 * A number YAML 1.1 readers (PyYAML) take for a number, not a string: an
 * integer, or a float with a '.' and, when it has an exponent, a signed one
 * (the float pattern of yaml.org/type/float.html).
 */
static int is_yaml11_number(const char *s)
{
	const char *e = strpbrk(s, "eE");
	if (!e)
		return 1; /* an integer, or digits with a '.' */
	return memchr(s, '.', (size_t)(e - s)) != NULL && (e[1] == '+' || e[1] == '-');
}

static void check_fmt(double v)
{
	char buf[64];
	memset(buf, 'x', sizeof buf);
	buf[sizeof buf - 1] = '\0';
	size_t n = wp__fmt_num(buf, v);
	if (n >= 40 || strlen(buf) != n)
		TEST_FAIL_("%.17g: length %zu for \"%.40s\"", v, n, buf);
	if (!isfinite(v)) {
		ASSERT_STR(buf, "null");
		return;
	}
	if (strchr(buf, ',') || !is_json_number(buf))
		TEST_FAIL_("%.17g printed as \"%s\": not a JSON number", v, buf);
	if (!is_yaml11_number(buf))
		TEST_FAIL_("%.17g printed as \"%s\": YAML 1.1 reads that as a string", v, buf);
	char *end;
	double back = strtod(buf, &end);
	ASSERT(*end == '\0');
	if (v == 0) {
		ASSERT(back == 0);
		return;
	}
	if (v == trunc(v) && fabs(v) < 1e9) {
		if (back != v)
			TEST_FAIL_("%.17g printed as \"%s\": an integer must be exact", v, buf);
		return;
	}
	if (!(fabs(back - v) <= 1e-9 * fabs(v)))
		TEST_FAIL_("%.17g printed as \"%s\" reads back as %.17g: off by %.3g", v, buf, back,
		           fabs(back - v) / fabs(v));
	/* Never more than the 10 significant digits that make it exact
	 * enough, so that the same figure always prints the same way. */
	size_t digits = 0, lead = 1;
	for (const char *p = buf; *p && *p != 'e'; p++) {
		if (*p < '0' || *p > '9')
			continue;
		if (lead && *p == '0')
			continue;
		lead = 0;
		digits++;
	}
	if (digits > 10 && strchr(buf, '.'))
		TEST_FAIL_("%.17g printed as \"%s\": more than 10 significant digits", v, buf);
}

TEST(series_number_format_round_trips)
{
	static const double special[] = {
		0, -0.0, 1, -1, 0.1, 0.5, 1e-5, 9.99999999995e-6, 1e-6, 2e-6, -3e-7, 1e15, 2e15,
		-1e16, 1e18, 1.5e15, 999999999999999.9, 999999999, 999999999.5, 123456789,
		1234567891, 12345678912, 9.9999999999, 99.999999999, 0.99999999999,
		9.9999999996, 0.30000000000000004, 1e300, 1e-300, 5e-324, 1.79769313e308,
		2.2250738585072014e-308, 4503599627370496.0, 9007199254740993.0, 0.001, 1e-4,
		65536, 3.14159265358979,
	};
	for (size_t k = 0; k < sizeof special / sizeof *special; k++) {
		check_fmt(special[k]);
		check_fmt(-special[k]);
	}
	check_fmt(NAN);
	check_fmt(INFINITY);
	check_fmt(-INFINITY);
	/* Every power of ten, and numbers just below and above it. */
	for (int e = -12; e <= 18; e++) {
		double p = pow(10, e);
		check_fmt(p);
		check_fmt(nextafter(p, 0));
		check_fmt(nextafter(p, INFINITY));
		check_fmt(p * 9.9999999999);
		check_fmt(p * 9.99999999949);
		check_fmt(p * 9.9999999995);
		check_fmt(-p * 1.00000000005);
	}
	/* Random mantissas at every magnitude, both signs, and integers. */
	for (int n = 0; n < 200000; n++) {
		uint64_t r = rng();
		double mant = 1 + (double)(r >> 11) / 9007199254740992.0 * 9; /* [1, 10) */
		int e = (int)(rng() % 31) - 12;
		double v = mant * pow(10, e) * (r & 1 ? -1 : 1);
		check_fmt(v);
		check_fmt((double)(rng() % 1000000000));
		check_fmt(round(v * 1e3) / 1e3);
	}
	return TEST_OK;
}
