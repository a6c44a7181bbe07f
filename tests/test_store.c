/*
 * test_store.c - the run store (src/store/) against a known truth: a run
 * measured on hand-driven counters (every energy exact), stored, and read
 * back.
 *
 *   - round trip: every figure of the report, every sample of the series
 *     (bit for bit, NaN included), the description and tags, in SQLite and
 *     in PostgreSQL, and one run stored in both reads back the same;
 *   - a run whose process is killed (a real child, SIGKILL): 'running'
 *     while it lives, 'unfinished' after, with the energies of its last
 *     synced sample;
 *   - a disk that fills mid-run (RLIMIT_FSIZE): the sync fails, nothing is
 *     lost, the next sync stores it all;
 *   - carbon factors stored with a run give the same figures read back, in
 *     every format, for a finished, a running and a killed run;
 *   - attribution (filled by hand, as wp_report_set_attribution would):
 *     every figure and process read back bit for bit (commands that are
 *     NULL, empty, not UTF-8 ...), a thousand processes, the series'
 *     attribution columns, a run without attribution, a report that cannot
 *     be right refused, rows no wattprof writes refused with WP_ECORRUPT;
 *   - schemas 1, 2 and 3 (older wattprofs' databases, frozen below) are
 *     migrated, in SQLite and (schemas 2 and 3) PostgreSQL; factors no
 *     wattprof writes, a newer schema, a foreign database, a file that is not
 *     one, a chunk cut short, a bad domain kind and random damage give clear
 *     errors and never a crash;
 *   - removing a run removes every row it had, and only those.
 *
 * PostgreSQL tests need WATTPROF_TEST_PG (a server URL; `make test` starts
 * one) and skip, saying so, without it.  Each uses a schema of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/internal.h"
#include "sim.h"
#include "store/db.h"
#include "test.h"

/* Two zones driven by hand; 10 MW declared so no step looks like a wrap. */
static const struct sim_zone hand[] = {
	{ "intel-rapl:0", "package-0", 999999u, 0, 0, 0, 10000000000000ull, 900000 },
	{ "intel-rapl:0:1", "dram", 999999u, 0, 0, 0, 10000000000000ull, 0 },
};

/* ------------------------------------------------------------ a run */

struct fix {
	struct sim sim;
	struct wp_host *h;
	struct wp_meter *m;
	struct wp_series *ser;
	struct wp_snapshot *a, *b;
	struct wp_report rep;
	uint64_t uj[2];
	char proc[512];
};

/* A fake /proc with CPU time and memory, so the series has readings. */
static void fake_proc(struct fix *f, unsigned long busy)
{
	test_putf(f->proc, "stat", "cpu  %lu 0 0 %lu 0 0 0 0 0 0\n", busy, 100000 - busy);
	test_putf(f->proc, "meminfo", "MemTotal: 1000000 kB\nMemAvailable: %lu kB\n",
	          400000 + busy);
}

/* Moves the counters on and takes a sample. */
static void step(struct fix *f, uint64_t d0, uint64_t d1)
{
	f->uj[0] += d0;
	f->uj[1] += d1;
	sim_set(&f->sim, 0, f->uj[0]);
	sim_set(&f->sim, 1, f->uj[1]);
	test_sleep_ms(1);
	ASSERT_EQ(wp_meter_snapshot(f->m, f->b), 0);
	ASSERT_EQ(wp_series_add(f->ser, f->b), 0);
}

static void fix_open(struct fix *f)
{
	memset(f, 0, sizeof *f);
	test_tmpdir(f->proc, sizeof f->proc);
	fake_proc(f, 1000);
	setenv("WATTPROF_PROC_ROOT", f->proc, 1);
	sim_open(&f->sim, hand, 2, &f->h, &f->m);
	f->uj[0] = f->sim.zones[0].start_uj;
	f->uj[1] = f->sim.zones[1].start_uj;
	f->a = wp_snapshot_new(f->m);
	f->b = wp_snapshot_new(f->m);
	ASSERT(f->a && f->b);
	ASSERT_EQ(wp_meter_snapshot(f->m, f->a), 0);
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE | WP_SERIES_NODE,
		                        .readings_hz = 1e6, /* readings at every sample */
		                        .flush_s = 1e-9 };  /* every row reaches the file */
	ASSERT_EQ(wp_series_open(&f->ser, f->m, f->a, &so), 0);
	/* Two domains' power and energy, then CPU utilisation and memory. */
	ASSERT_EQ(wp_series_column_count(f->ser), 6);
	wp_report_init(&f->rep);
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	f->rep.host = strdup(host); /* a live run is told from a dead one on its own host */
	const char *argv[] = { "train.py", "--epochs", "3", "a 'quoted' arg", NULL };
	ASSERT_EQ(wp_report_set_command(&f->rep, argv), 0);
	f->rep.start_unix_ns = 1790000000123456789;
}

/* n samples with exact, varying steps; a region around the middle third. */
static void drive(struct fix *f, int n)
{
	for (int k = 0; k < n; k++) {
		if (k == n / 3)
			ASSERT_EQ(wp_meter_begin(f->m, "epoch_1"), 0);
		if (k == 2 * n / 3)
			ASSERT_EQ(wp_meter_end(f->m), 0);
		fake_proc(f, 1000 + 37 * (unsigned long)k);
		step(f, 1000 + 17 * (uint64_t)(k % 7), 300 + (uint64_t)(k % 3));
	}
}

/*
 * Commands a process can have: none (NULL), empty, bytes that are not UTF-8,
 * quotes, backslashes, a newline, a tab, a comma, UTF-8, the kernel's
 * "[comm]" and the stand-in for processes never seen.
 */
static const char *const odd_commands[] = {
	"python3 train.py --epochs 3",
	"(unseen)",
	NULL,
	"",
	"\xff\xfe not UTF-8 \x80\xc3",
	"sh -c 'echo \"hi\"; printf \\\\n'\nsecond line\ttab, comma",
	"[kworker/0:1]",
	"\xc2\xb5J \xe6\x97\xa5\xe6\x9c\xac",
};
#define ODD_COMMANDS (sizeof odd_commands / sizeof odd_commands[0])

/*
 * An attribution as wp_report_set_attribution fills it (written by hand:
 * the store only keeps what it is given), with `n` processes: the odd
 * commands above first, then workers.  Doubles with every kind of bits:
 * NaN, zero, subnormal, huge, ones that decimal does not hold exactly.
 */
static void fill_attribution(struct wp_report *r, size_t n)
{
	r->attributed = 1;
	r->attribution_root_pid = 4242;
	r->domains[0].attributed_energy_j = r->domains[0].energy_j * 0.37;
	r->domains[0].attribution_method = strdup(WP_ATTRIB_METHOD_CPU);
	r->domains[1].attributed_energy_j = r->domains[1].energy_j * (0.1 + 0.2);
	r->domains[1].attribution_method = strdup(WP_ATTRIB_METHOD_PSS);
	r->attributed_total_j = r->domains[0].attributed_energy_j + r->domains[1].attributed_energy_j;
	r->attributed_cpu_time_s = 12.345678901234567;
	r->attributed_peak_rss_b = 1073741824.0 + 4096;
	r->attributed_peak_pss_b = 805306368.5;
	r->attributed_peak_uss_b = 4.9e-324; /* subnormal */
	r->attributed_peak_gpu_mem_b = NAN;
	r->process_count = n;
	r->processes = calloc(n + 1, sizeof *r->processes);
	ASSERT(r->processes);
	for (size_t k = 0; k < n; k++) {
		struct wp_report_process *p = &r->processes[k];
		const char *cmd = k < ODD_COMMANDS ? odd_commands[k] : NULL;
		char buf[64];
		if (k >= ODD_COMMANDS) {
			snprintf(buf, sizeof buf, "worker %zu --seed=%zu", k, k * 7919);
			cmd = buf;
		}
		p->pid = k == 1 ? 0 : k == 0 ? 4242 : 4300 + (int64_t)k * 3;
		p->ppid = k == 0 ? 1 : k == 1 ? 4242 : 4242 + (int64_t)(k % 5);
		p->command = cmd ? strdup(cmd) : NULL;
		p->start_s = k == 1 ? NAN : (double)k / 7;
		p->end_s = k == 1 ? NAN : (double)k / 7 + 0.1 * (double)(k % 3);
		p->exited = k > 0 && k % 2;
		p->cpu_time_s = k == 1 ? 0.25 : (double)k / 3;
		p->peak_rss_b = k == 1 ? NAN : 4096.0 * (double)(k + 1);
		p->pss_from_rss = k == 6;
		p->peak_pss_b = k == 1 ? NAN : p->pss_from_rss ? p->peak_rss_b : p->peak_rss_b / 3;
		p->peak_uss_b = k == 1 ? NAN : p->pss_from_rss ? p->peak_rss_b : 1e300 / (double)(k + 1);
		p->peak_gpu_mem_b = k == 2 ? 2.5e9 : NAN;
		p->attributed_energy_j = k == 3 ? 0.0 : r->attributed_total_j / (double)(k + 2);
	}
}

/* Attribution with the odd commands (the runs most tests store). */
#define FIX_PROCESSES 11

static void fix_measure(struct fix *f)
{
	ASSERT_EQ(wp_report_measure(&f->rep, f->m, f->a, f->b), 0);
	ASSERT_EQ(wp_report_set_series(&f->rep, f->ser), 0);
	f->rep.exit_status = 3;
	f->rep.sampler_freq_hz = 1000;
	ASSERT_EQ(wp_report_warn(&f->rep, "a warning with \"quotes\" and UTF-8: µJ"), 0);
	fill_attribution(&f->rep, FIX_PROCESSES);
}

static void fix_close(struct fix *f)
{
	wp_report_free(&f->rep);
	wp_series_close(f->ser);
	wp_snapshot_free(f->a);
	wp_snapshot_free(f->b);
	sim_close(&f->sim, f->h, f->m);
	test_rmtree(f->proc);
}

static const char *const tags[] = { "lr=0.001", "model=resnet 50", "empty=" };
static const struct wp_run_info info = {
	.version = WP_RUN_INFO_VERSION,
	.name = "cifar",
	.tags = tags,
	.tag_count = 3,
	.package = "torch",
	.algorithm = "ResNet50",
	.algorithm_params = "batch=128, lr=0.001",
	.data_type = "image",
	.data_shape = "(50000, 32, 32, 3)",
	.comment = "baseline",
};

/* ------------------------------------------------------- comparisons */

/* Equal as stored doubles: the same bits, or both NaN. */
static int same(double x, double y)
{
	return (isnan(x) && isnan(y)) || memcmp(&x, &y, sizeof x) == 0;
}

#define ASSERT_SAME(x, y)                                                              \
	do {                                                                           \
		double x_ = (x), y_ = (y);                                             \
		if (!same(x_, y_))                                                     \
			TEST_FAIL_("%s = %.17g, %s = %.17g", #x, x_, #y, y_);          \
	} while (0)

static const char *str0(const char *s)
{
	return s ? s : "(null)";
}

/* The same string, or both NULL. */
#define ASSERT_STR_OR_NULL(x, y)                                                        \
	do {                                                                            \
		const char *x_ = (x), *y_ = (y);                                        \
		if (!x_ != !y_)                                                         \
			TEST_FAIL_("%s = %s, %s = %s", #x, x_ ? x_ : "NULL", #y,        \
			           y_ ? y_ : "NULL");                                   \
		if (x_)                                                                 \
			ASSERT_STR(x_, y_);                                             \
	} while (0)

/* The attribution of two reports: every figure bit for bit, every process. */
static void same_attribution(const struct wp_report *x, const struct wp_report *y)
{
	ASSERT_EQ(x->attributed, y->attributed);
	for (size_t i = 0; i < x->domain_count && i < y->domain_count; i++) {
		ASSERT_SAME(x->domains[i].attributed_energy_j, y->domains[i].attributed_energy_j);
		ASSERT_STR_OR_NULL(x->domains[i].attribution_method, y->domains[i].attribution_method);
	}
	if (!x->attributed) {
		/* "The rest unset": as wp_report_init leaves it. */
		ASSERT(y->attribution_root_pid == 0 && y->process_count == 0 && !y->processes);
		return;
	}
	ASSERT(x->attribution_root_pid == y->attribution_root_pid);
	ASSERT_SAME(x->attributed_total_j, y->attributed_total_j);
	ASSERT_SAME(x->attributed_cpu_time_s, y->attributed_cpu_time_s);
	ASSERT_SAME(x->attributed_peak_rss_b, y->attributed_peak_rss_b);
	ASSERT_SAME(x->attributed_peak_pss_b, y->attributed_peak_pss_b);
	ASSERT_SAME(x->attributed_peak_uss_b, y->attributed_peak_uss_b);
	ASSERT_SAME(x->attributed_peak_gpu_mem_b, y->attributed_peak_gpu_mem_b);
	ASSERT_EQ(x->process_count, y->process_count);
	for (size_t k = 0; k < x->process_count; k++) {
		const struct wp_report_process *p = &x->processes[k], *q = &y->processes[k];
		ASSERT(p->pid == q->pid && p->ppid == q->ppid);
		ASSERT_STR_OR_NULL(p->command, q->command);
		ASSERT_SAME(p->start_s, q->start_s);
		ASSERT_SAME(p->end_s, q->end_s);
		ASSERT_EQ(p->exited, q->exited);
		ASSERT_SAME(p->cpu_time_s, q->cpu_time_s);
		ASSERT_SAME(p->peak_rss_b, q->peak_rss_b);
		ASSERT_SAME(p->peak_pss_b, q->peak_pss_b);
		ASSERT_SAME(p->peak_uss_b, q->peak_uss_b);
		ASSERT_EQ(p->pss_from_rss, q->pss_from_rss);
		ASSERT_SAME(p->peak_gpu_mem_b, q->peak_gpu_mem_b);
		ASSERT_SAME(p->attributed_energy_j, q->attributed_energy_j);
	}
}

static void same_report(const struct wp_report *x, const struct wp_report *y)
{
	ASSERT_STR(x->host, y->host);
	ASSERT_EQ(x->exit_status, y->exit_status);
	ASSERT_EQ(x->term_signal, y->term_signal);
	ASSERT(x->start_unix_ns == y->start_unix_ns);
	ASSERT_SAME(x->duration_s, y->duration_s);
	ASSERT_SAME(x->total_energy_j, y->total_energy_j);
	ASSERT_SAME(x->sampler_freq_hz, y->sampler_freq_hz);
	ASSERT_U64(x->samples, ==, y->samples);
	ASSERT_EQ(x->domain_count, y->domain_count);
	for (size_t i = 0; i < x->domain_count; i++) {
		const struct wp_report_domain *p = &x->domains[i], *q = &y->domains[i];
		ASSERT_STR(p->name, q->name);
		ASSERT_STR(p->source, q->source);
		ASSERT_STR(p->method, q->method);
		ASSERT_STR(str0(p->device_name), str0(q->device_name));
		ASSERT_EQ(p->kind, q->kind);
		ASSERT_EQ(p->in_total, q->in_total);
		ASSERT_EQ(p->estimated, q->estimated);
		ASSERT_EQ(p->integrated, q->integrated);
		ASSERT_EQ(p->status, q->status);
		ASSERT_SAME(p->energy_j, q->energy_j);
		ASSERT_SAME(p->avg_power_w, q->avg_power_w);
		ASSERT_SAME(p->min_power_w, q->min_power_w);
		ASSERT_SAME(p->peak_power_w, q->peak_power_w);
	}
	ASSERT_EQ(x->region_count, y->region_count);
	for (size_t k = 0; k < x->region_count; k++) {
		ASSERT_STR(x->regions[k].tag, y->regions[k].tag);
		ASSERT_SAME(x->regions[k].start_s, y->regions[k].start_s);
		ASSERT_SAME(x->regions[k].duration_s, y->regions[k].duration_s);
		for (size_t i = 0; i < x->domain_count; i++)
			ASSERT_SAME(x->regions[k].energy_j[i], y->regions[k].energy_j[i]);
	}
	ASSERT_EQ(x->warning_count, y->warning_count);
	for (size_t k = 0; k < x->warning_count; k++)
		ASSERT_STR(x->warnings[k], y->warnings[k]);
	size_t n = 0;
	while (x->command && x->command[n]) {
		ASSERT(y->command && y->command[n]);
		ASSERT_STR(x->command[n], y->command[n]);
		n++;
	}
	ASSERT(!y->command || !y->command[n]);
	/* The carbon factors as set, and the figures computed from them. */
	const struct wp_report_carbon *c = &x->carbon, *d = &y->carbon;
	ASSERT_EQ(c->set, d->set);
	if (c->set) {
		ASSERT_SAME(c->pue, d->pue);
		ASSERT_STR(str0(c->country), str0(d->country));
		ASSERT_SAME(c->emissions_factor_g_per_kwh, d->emissions_factor_g_per_kwh);
		ASSERT_STR(c->emissions_factor_source, d->emissions_factor_source);
		ASSERT_SAME(c->price_factor, d->price_factor);
		ASSERT_STR(str0(c->price_unit), str0(d->price_unit));
		ASSERT_SAME(c->energy_kwh, d->energy_kwh);
		ASSERT_SAME(c->facility_energy_kwh, d->facility_energy_kwh);
		ASSERT_SAME(c->co2e_g, d->co2e_g);
		ASSERT_SAME(c->cost, d->cost);
	}
	same_attribution(x, y);
}

/* Every sample of two series: times and values, bit for bit. */
static void same_series(const struct wp_series *x, const struct wp_series *y)
{
	struct wp_series_reader *rx, *ry;
	size_t nc = wp_series_column_count(x);
	double vx[16], vy[16], tx, ty;
	ASSERT_EQ(wp_series_column_count(y), nc);
	ASSERT(nc <= 16);
	for (size_t i = 0; i < nc; i++) {
		struct wp_series_column a, b;
		ASSERT_EQ(wp_series_column(x, i, &a), 0);
		ASSERT_EQ(wp_series_column(y, i, &b), 0);
		ASSERT_STR(a.domain, b.domain);
		ASSERT_STR(a.metric, b.metric);
		ASSERT_STR(a.unit, b.unit);
	}
	ASSERT_U64(wp_series_sample_count(x), ==, wp_series_sample_count(y));
	ASSERT_EQ(wp_series_reader_open(&rx, x), 0);
	ASSERT_EQ(wp_series_reader_open(&ry, y), 0);
	uint64_t rows = 0, readings = 0;
	for (;;) {
		int a = wp_series_next(rx, &tx, vx), b = wp_series_next(ry, &ty, vy);
		ASSERT_EQ(a, b);
		if (a == 0)
			break;
		ASSERT_EQ(a, 1);
		ASSERT_SAME(tx, ty);
		for (size_t i = 0; i < nc; i++)
			ASSERT_SAME(vx[i], vy[i]);
		readings += !isnan(vx[5]);
		rows++;
	}
	ASSERT_U64(rows, ==, wp_series_sample_count(x));
	ASSERT_U64(readings, >, rows / 2); /* the readings really were compared */
	wp_series_reader_close(rx);
	wp_series_reader_close(ry);
}

static char *report_json(const struct wp_report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ASSERT(f != NULL);
	ASSERT_EQ(wp_report_write(r, WP_FORMAT_JSON, f), 0);
	fclose(f);
	return buf;
}

static void same_info(const struct wp_run *run)
{
	ASSERT_STR(run->name, "cifar");
	ASSERT_STR(run->package, "torch");
	ASSERT_STR(run->algorithm, "ResNet50");
	ASSERT_STR(run->algorithm_params, "batch=128, lr=0.001");
	ASSERT_STR(run->data_type, "image");
	ASSERT_STR(run->data_shape, "(50000, 32, 32, 3)");
	ASSERT_STR(run->comment, "baseline");
	ASSERT_STR(run->wattprof_version, wp_version());
	ASSERT(*run->user && *run->platform);
	ASSERT_EQ(run->tag_count, 3);
	for (size_t i = 0; i < 3; i++)
		ASSERT_STR(run->tags[i], tags[i]);
	ASSERT_EQ(strlen(run->uuid), 36);
	ASSERT_EQ(run->uuid[14], '4');
}

/* ------------------------------------------------------- databases */

/* A PostgreSQL URL on a fresh schema of its own; NULL (skip) without a server. */
static char *pg_url(char *schema, size_t cap)
{
	const char *base = getenv("WATTPROF_TEST_PG");
	struct wp__db db = { .ops = &wp__pg_ops };
	char sql[160], *url;
	if (!base || !*base)
		return NULL;
	snprintf(schema, cap, "wp_store_%d_%lu", (int)getpid(), (unsigned long)wp_now_ns() % 100000);
	ASSERT_EQ(db.ops->open(&db, base, 0), 0);
	snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
	if (db.ops->exec(&db, sql, NULL, 0, NULL) != 0)
		TEST_FAIL_("%s", db.err);
	db.ops->close(&db);
	ASSERT(asprintf(&url, "%s%soptions=-csearch_path%%3D%s", base, strchr(base, '?') ? "&" : "?",
	                schema) > 0);
	return url;
}

static void pg_drop(const char *schema)
{
	struct wp__db db = { .ops = &wp__pg_ops };
	char sql[160];
	ASSERT_EQ(db.ops->open(&db, getenv("WATTPROF_TEST_PG"), 0), 0);
	snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
	db.ops->exec(&db, sql, NULL, 0, NULL);
	db.ops->close(&db);
}

static void sqlite_path(char *buf, size_t cap)
{
	test_tmpdir(buf, cap - 32);
	strcat(buf, "/sub/dir/runs.db"); /* folders created on the way */
}

static struct wp_store *must_open(const char *where, unsigned flags)
{
	struct wp_store *s = NULL;
	int rc = wp_store_open(&s, where, flags);
	if (rc != 0)
		TEST_FAIL_("wp_store_open('%s'): %s: %s", where, wp_strerror(rc), wp_store_errmsg(s));
	return s;
}

/* Stores the fixture's run in each store, syncing along the way. */
static void store_run(struct fix *f, struct wp_store *const *st, size_t n, int64_t *ids)
{
	for (size_t k = 0; k < n; k++)
		ASSERT_EQ(wp_store_begin(st[k], &info, &f->rep, f->m, f->ser, &ids[k]), 0);
	for (int round = 0; round < 4; round++) {
		drive(f, 150);
		for (size_t k = 0; k < n; k++)
			if (wp_store_sync(st[k]) != 0)
				TEST_FAIL_("sync: %s", wp_store_errmsg(st[k]));
	}
	drive(f, 20); /* the last rows reach the store only at finish */
	fix_measure(f);
	for (size_t k = 0; k < n; k++)
		if (wp_store_finish(st[k], &f->rep) != 0)
			TEST_FAIL_("finish: %s", wp_store_errmsg(st[k]));
}

static void check_loaded(struct fix *f, struct wp_store *st, int64_t id)
{
	struct wp_run *run;
	ASSERT_EQ(wp_store_load(st, id, WP_LOAD_SERIES, &run), 0);
	ASSERT_STR(run->status, "finished");
	same_info(run);
	same_report(&f->rep, &run->report);
	ASSERT(run->series != NULL && run->report.series == run->series);
	same_series(f->ser, run->series);
	/* The whole report, as monitor writes it, with and without samples. */
	char *x = report_json(&f->rep), *y = report_json(&run->report);
	ASSERT_STR(y, x);
	free(x);
	free(y);
	f->rep.flags |= WP_REPORT_SERIES;
	run->report.flags |= WP_REPORT_SERIES;
	x = report_json(&f->rep);
	y = report_json(&run->report);
	ASSERT_STR(y, x);
	f->rep.flags &= ~WP_REPORT_SERIES;
	free(x);
	free(y);
	/* The energy by kind: the package is the CPU's, the DRAM the memory's. */
	ASSERT_SAME(run->cpu_j, f->rep.domains[0].energy_j);
	ASSERT_SAME(run->dram_j, f->rep.domains[1].energy_j);
	ASSERT(isnan(run->gpu_j) && isnan(run->other_j));
	/* The truth: what the hand-driven counters moved. */
	ASSERT_SAME(f->rep.domains[0].energy_j,
	            (double)(f->uj[0] - f->sim.zones[0].start_uj) / 1e6);
	wp_run_free(run);
}

static void roundtrip(const char *where)
{
	struct fix f;
	int64_t id;
	fix_open(&f);
	struct wp_store *st = must_open(where, WP_STORE_CREATE);
	store_run(&f, &st, 1, &id);
	check_loaded(&f, st, id);
	/* And again from a fresh connection, read-only. */
	wp_store_close(st);
	st = must_open(where, WP_STORE_READONLY);
	check_loaded(&f, st, id);
	wp_store_close(st);
	fix_close(&f);
}

TEST(store_roundtrip_sqlite)
{
	char path[600];
	sqlite_path(path, sizeof path);
	roundtrip(path);
	return TEST_OK;
}

TEST(store_roundtrip_postgresql)
{
	char schema[64];
	char *url = pg_url(schema, sizeof schema);
	if (!url)
		SKIP_BECAUSE("WATTPROF_TEST_PG is not set: no PostgreSQL server to test against "
		             "(`make test` starts one with scripts/pg.sh)");
	roundtrip(url);
	pg_drop(schema);
	free(url);
	return TEST_OK;
}

/* One run stored in both databases at once reads back the same from each. */
TEST(store_postgresql_holds_what_sqlite_holds)
{
	char path[600], schema[64];
	char *url = pg_url(schema, sizeof schema);
	struct fix f;
	int64_t ids[2];
	if (!url)
		SKIP_BECAUSE("WATTPROF_TEST_PG is not set: no PostgreSQL server to test against");
	sqlite_path(path, sizeof path);
	fix_open(&f);
	struct wp_store *st[2] = { must_open(path, WP_STORE_CREATE), must_open(url, WP_STORE_CREATE) };
	ASSERT_STR(wp_store_kind(st[0]), "sqlite");
	ASSERT_STR(wp_store_kind(st[1]), "postgresql");
	store_run(&f, st, 2, ids);
	struct wp_run *a, *b;
	ASSERT_EQ(wp_store_load(st[0], ids[0], WP_LOAD_SERIES, &a), 0);
	ASSERT_EQ(wp_store_load(st[1], ids[1], WP_LOAD_SERIES, &b), 0);
	same_report(&a->report, &b->report);
	same_series(a->series, b->series);
	ASSERT_STR(a->uuid, a->uuid);
	ASSERT_STR(a->name, b->name);
	ASSERT_EQ(a->tag_count, b->tag_count);
	wp_run_free(a);
	wp_run_free(b);
	wp_store_close(st[0]);
	wp_store_close(st[1]);
	fix_close(&f);
	pg_drop(schema);
	free(url);
	return TEST_OK;
}

/* ----------------------------------------------- a killed wattprof */

static void killed(const char *where)
{
	int to_parent[2], to_child[2];
	ASSERT_EQ(pipe(to_parent), 0);
	ASSERT_EQ(pipe(to_child), 0);
	fflush(NULL);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		/* The wattprof that will be killed: stores 300 samples, syncs,
		 * says what its last synced energies were, then waits. */
		struct fix f;
		int64_t id;
		char msg[256];
		fix_open(&f);
		struct wp_carbon_options co = { .version = WP_CARBON_OPTIONS_VERSION, .pue = 1.2,
			                        .country = "FR" };
		ASSERT_EQ(wp_report_set_carbon(&f.rep, &co), 0);
		struct wp_store *st = must_open(where, WP_STORE_CREATE);
		ASSERT_EQ(wp_store_begin(st, &info, &f.rep, f.m, f.ser, &id), 0);
		drive(&f, 300);
		ASSERT_EQ(wp_store_sync(st), 0);
		double e0 = (double)(f.uj[0] - f.sim.zones[0].start_uj) / 1e6;
		double e1 = (double)(f.uj[1] - f.sim.zones[1].start_uj) / 1e6;
		drive(&f, 5); /* taken, never synced: lost with the process */
		int len = snprintf(msg, sizeof msg, "%lld %.17g %.17g\n", (long long)id, e0, e1);
		ASSERT(write(to_parent[1], msg, (size_t)len) == len);
		char c;
		while (read(to_child[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(to_parent[1]);
	close(to_child[0]);
	char buf[256] = "";
	size_t got = 0;
	ssize_t n;
	while (got < sizeof buf - 1 && (n = read(to_parent[0], buf + got, sizeof buf - 1 - got)) > 0) {
		got += (size_t)n;
		if (strchr(buf, '\n'))
			break;
	}
	long long id;
	double e0, e1;
	ASSERT_EQ(sscanf(buf, "%lld %lg %lg", &id, &e0, &e1), 3);

	struct wp_store *st = must_open(where, 0);
	struct wp_run *run;
	ASSERT_EQ(wp_store_load(st, id, 0, &run), 0);
	ASSERT_STR(run->status, "running");
	ASSERT_HAS(run->report.warnings[run->report.warning_count - 1], "is still running");
	wp_run_free(run);

	kill(pid, SIGKILL);
	int ws;
	ASSERT_EQ(waitpid(pid, &ws, 0), pid);
	ASSERT(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
	ASSERT_EQ(wp_store_load(st, id, WP_LOAD_SERIES, &run), 0);
	ASSERT_STR(run->status, "unfinished");
	same_info(run);
	/* The meter scales counts by its own joules per count: equal to the
	 * last rounding bit. */
	ASSERT_NEAR(run->report.domains[0].energy_j, e0, 1e-12);
	ASSERT_NEAR(run->report.domains[1].energy_j, e1, 1e-12);
	ASSERT_NEAR(run->report.total_energy_j, e0 + e1, 1e-12);
	ASSERT_U64(run->report.samples, ==, 301); /* the start and 300 samples */
	ASSERT_U64(wp_series_sample_count(run->series), ==, 301);
	ASSERT(run->report.duration_s > 0);
	ASSERT_HAS(run->report.warnings[run->report.warning_count - 1], "did not finish");
	/* Its carbon figures are of the energy up to its last stored sample. */
	ASSERT_EQ(run->report.carbon.set, 1);
	ASSERT_STR(run->report.carbon.country, "FR");
	ASSERT_NEAR(run->report.carbon.energy_kwh, (e0 + e1) / 3.6e6, 1e-15);
	ASSERT_REL(run->report.carbon.co2e_g, (e0 + e1) / 3.6e6 * 1.2 * 84.88, 1e-12);
	/* Its report is written like any other. */
	char *j = report_json(&run->report);
	ASSERT_HAS(j, "did not finish");
	free(j);
	wp_run_free(run);
	wp_store_close(st);
	close(to_parent[0]);
	close(to_child[1]);
}

TEST(store_killed_run_is_unfinished_sqlite)
{
	char path[600];
	sqlite_path(path, sizeof path);
	killed(path);
	return TEST_OK;
}

TEST(store_killed_run_is_unfinished_postgresql)
{
	char schema[64];
	char *url = pg_url(schema, sizeof schema);
	if (!url)
		SKIP_BECAUSE("WATTPROF_TEST_PG is not set: no PostgreSQL server to test against");
	killed(url);
	pg_drop(schema);
	free(url);
	return TEST_OK;
}

/* ------------------------------------------------------ a full disk */

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : 0;
}

TEST(store_full_disk_loses_nothing)
{
	char path[600], wal[640];
	struct fix f;
	int64_t id;
	struct rlimit lim;
	sqlite_path(path, sizeof path);
	snprintf(wal, sizeof wal, "%s-wal", path);
	signal(SIGXFSZ, SIG_IGN); /* writes past the limit fail with EFBIG */
	fix_open(&f);
	struct wp_store *st = must_open(path, WP_STORE_CREATE);
	ASSERT_EQ(wp_store_begin(st, &info, &f.rep, f.m, f.ser, &id), 0);
	drive(&f, 100);
	ASSERT_EQ(wp_store_sync(st), 0);
	/* The database's files may not grow: the next sync must fail.  The
	 * series' own file stays below the limit (48 bytes a row). */
	ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &lim), 0);
	off_t cap = file_size(wal) > file_size(path) ? file_size(wal) : file_size(path);
	ASSERT(cap > 300 * 48);
	struct rlimit small = { (rlim_t)cap, lim.rlim_max };
	ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
	drive(&f, 200);
	int rc = wp_store_sync(st);
	ASSERT_EQ(rc, WP_EDB);
	ASSERT(*wp_store_errmsg(st));
	ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
	/* Room again: the rows that failed are stored now, none twice. */
	ASSERT_EQ(wp_store_sync(st), 0);
	drive(&f, 10);
	fix_measure(&f);
	ASSERT_EQ(wp_store_finish(st, &f.rep), 0);
	struct wp_run *run;
	ASSERT_EQ(wp_store_load(st, id, WP_LOAD_SERIES, &run), 0);
	same_report(&f.rep, &run->report);
	same_series(f.ser, run->series);
	wp_run_free(run);
	wp_store_close(st);
	fix_close(&f);
	return TEST_OK;
}

/* ------------------------------------------------------ old and bad */

/*
 * Schema 1, frozen as the first wattprof that wrote it left it, with one
 * run: two samples of two domains (0 and 1 s; 0 and 10 J, 0 and 2 J).
 * Never change this text: it stands for databases already out there.
 */
static const char *const schema1 =
	"CREATE TABLE wattprof_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE runs (id INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"
	" status TEXT NOT NULL, start_unix_ns BIGINT NOT NULL, updated_unix_ns BIGINT NOT NULL,"
	" host TEXT NOT NULL, user_name TEXT NOT NULL, platform TEXT NOT NULL,"
	" wattprof_version TEXT NOT NULL, pid BIGINT NOT NULL, boot_id TEXT NOT NULL,"
	" flags BIGINT, exit_status BIGINT, term_signal BIGINT, duration_s REAL,"
	" total_energy_j REAL, sampler_freq_hz REAL, samples BIGINT, idle_s REAL,"
	" idle_total_power_w REAL, rounds BIGINT, warmup_rounds BIGINT, duration_std_s REAL,"
	" duration_min_s REAL, duration_max_s REAL, total_std_j REAL, total_min_j REAL,"
	" total_max_j REAL);"
	"CREATE TABLE run_args (run_id BIGINT NOT NULL REFERENCES runs(id), idx BIGINT NOT NULL,"
	" arg TEXT NOT NULL, PRIMARY KEY (run_id, idx));"
	"CREATE TABLE nodes (run_id BIGINT NOT NULL REFERENCES runs(id), node BIGINT NOT NULL,"
	" host TEXT NOT NULL, energy_j REAL, duration_s REAL, PRIMARY KEY (run_id, node));"
	"CREATE TABLE domains (run_id BIGINT NOT NULL REFERENCES runs(id), node BIGINT NOT NULL,"
	" idx BIGINT NOT NULL, name TEXT NOT NULL, kind BIGINT NOT NULL, source TEXT NOT NULL,"
	" method TEXT NOT NULL, estimated BIGINT NOT NULL, in_total BIGINT NOT NULL,"
	" integrated BIGINT NOT NULL, device_name TEXT, device_id TEXT, status BIGINT,"
	" energy_j REAL, avg_power_w REAL, min_power_w REAL, peak_power_w REAL,"
	" idle_power_w REAL, energy_std_j REAL, energy_min_j REAL, energy_max_j REAL,"
	" PRIMARY KEY (run_id, node, idx));"
	"CREATE TABLE readings (run_id BIGINT NOT NULL REFERENCES runs(id), node BIGINT NOT NULL,"
	" idx BIGINT NOT NULL, domain TEXT NOT NULL, metric TEXT NOT NULL, unit TEXT NOT NULL,"
	" PRIMARY KEY (run_id, node, idx));"
	"CREATE TABLE regions (run_id BIGINT NOT NULL REFERENCES runs(id), idx BIGINT NOT NULL,"
	" tag TEXT NOT NULL, start_s REAL, duration_s REAL, PRIMARY KEY (run_id, idx));"
	"CREATE TABLE region_energy (run_id BIGINT NOT NULL REFERENCES runs(id),"
	" region BIGINT NOT NULL, node BIGINT NOT NULL, domain BIGINT NOT NULL,"
	" energy_j REAL, PRIMARY KEY (run_id, region, node, domain));"
	"CREATE TABLE warnings (run_id BIGINT NOT NULL REFERENCES runs(id), idx BIGINT NOT NULL,"
	" message TEXT NOT NULL, PRIMARY KEY (run_id, idx));"
	"CREATE TABLE chunks (run_id BIGINT NOT NULL REFERENCES runs(id), node BIGINT NOT NULL,"
	" kind BIGINT NOT NULL, first_row BIGINT NOT NULL, nrows BIGINT NOT NULL,"
	" width BIGINT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (run_id, node, kind, first_row));"
	"INSERT INTO wattprof_meta VALUES ('schema_version', '1');"
	"INSERT INTO runs VALUES (1, '0d5c7e7a-2c4b-4a55-9f1e-3f0a8e7d6c5b', 'old', 'finished',"
	" 1700000000000000000, 1700000001000000000, 'oldhost', 'alice', 'Linux 6.1 x86_64',"
	" '0.1.0', 4242, 'boot', 2, 0, 0, 1.0, 12.0, 10.0, 2, 0, NULL, 0, 0, NULL, NULL, NULL,"
	" NULL, NULL, NULL);"
	"INSERT INTO run_args VALUES (1, 0, 'sleep'), (1, 1, '1');"
	"INSERT INTO nodes VALUES (1, 0, 'oldhost', 12.0, 1.0);"
	"INSERT INTO domains VALUES (1, 0, 0, 'package_0', 1, 'powercap', 'energy_counter', 0, 1,"
	" 0, NULL, NULL, 0, 10.0, 10.0, 10.0, 10.0, NULL, NULL, NULL, NULL),"
	" (1, 0, 1, 'dram_0', 4, 'powercap', 'energy_counter', 0, 1, 0, NULL, NULL, 0, 2.0, 2.0,"
	" 2.0, 2.0, NULL, NULL, NULL, NULL);"
	/* Rows [t_ns, E0, E1] as little-endian doubles: [0, 0, 0], [1e9, 10, 2]. */
	"INSERT INTO chunks VALUES (1, 0, 0, 0, 2, 3, X'"
	"000000000000000000000000000000000000000000000000"
	"0000000065CDCD41" "0000000000002440" "0000000000000040');";

/* Runs a ';'-separated script on an SQLite file through the driver. */
static void sqlite_script(const char *path, const char *script)
{
	struct wp__db db = { .ops = &wp__sqlite_ops };
	ASSERT_EQ(db.ops->open(&db, path, WP_STORE_CREATE), 0);
	if (db.ops->exec(&db, script, NULL, 0, NULL) != 0)
		TEST_FAIL_("%s", db.err);
	db.ops->close(&db);
}

TEST(store_migrates_schema_1)
{
	char path[600];
	struct wp_run *run;
	sqlite_path(path, sizeof path);
	sqlite_script(path, schema1);
	/* Read-only, an old schema cannot be brought up to date: it says so. */
	struct wp_store *st = NULL;
	ASSERT_EQ(wp_store_open(&st, path, WP_STORE_READONLY), WP_ESCHEMA);
	ASSERT_HAS(wp_store_errmsg(st), "has schema 1 and must be updated to 5");
	wp_store_close(st);
	st = must_open(path, 0);
	ASSERT_EQ(wp_store_load(st, 1, WP_LOAD_SERIES, &run), 0);
	ASSERT_STR(run->status, "finished");
	ASSERT_STR(run->name, "old");
	ASSERT_STR(run->user, "alice");
	ASSERT_STR(run->package, ""); /* added by schema 2, empty for old runs */
	ASSERT_EQ(run->tag_count, 0);
	ASSERT_STR(run->report.command[0], "sleep");
	ASSERT_SAME(run->report.total_energy_j, 12.0);
	ASSERT_SAME(run->cpu_j, 10.0);
	ASSERT_SAME(run->dram_j, 2.0);
	struct wp_series_reader *rd;
	double t, v[4];
	ASSERT_EQ(wp_series_reader_open(&rd, run->series), 0);
	ASSERT_EQ(wp_series_next(rd, &t, v), 1);
	ASSERT_EQ(wp_series_next(rd, &t, v), 1);
	ASSERT_SAME(t, 1.0);
	ASSERT_SAME(v[0], 10.0); /* package power: 10 J over 1 s */
	ASSERT_SAME(v[1], 10.0);
	ASSERT_SAME(v[2], 2.0);
	ASSERT_EQ(wp_series_next(rd, &t, v), 0);
	wp_series_reader_close(rd);
	wp_run_free(run);
	wp_store_close(st);
	/* Now at the latest schema, and new runs go in beside the old. */
	struct fix f;
	int64_t id;
	fix_open(&f);
	st = must_open(path, WP_STORE_READONLY);
	wp_store_close(st);
	st = must_open(path, 0);
	store_run(&f, &st, 1, &id);
	ASSERT(id == 2);
	check_loaded(&f, st, id);
	wp_store_close(st);
	fix_close(&f);
	return TEST_OK;
}

/*
 * Schema 2, frozen as the wattprof that wrote it left it (migrations 1 and
 * 2, their type words left for the driver: @ID@, @REAL@, @BLOB@), with two
 * runs: one with a description and tags, one unnamed.  Never change this
 * text: it stands for databases already out there.
 */
static const char *const schema2[] = {
	"CREATE TABLE wattprof_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
	"CREATE TABLE runs ("
	" id @ID@, uuid TEXT NOT NULL UNIQUE, name TEXT NOT NULL, status TEXT NOT NULL,"
	" start_unix_ns BIGINT NOT NULL, updated_unix_ns BIGINT NOT NULL,"
	" host TEXT NOT NULL, user_name TEXT NOT NULL, platform TEXT NOT NULL,"
	" wattprof_version TEXT NOT NULL, pid BIGINT NOT NULL, boot_id TEXT NOT NULL,"
	" flags BIGINT, exit_status BIGINT, term_signal BIGINT, duration_s @REAL@, total_energy_j @REAL@,"
	" sampler_freq_hz @REAL@, samples BIGINT, idle_s @REAL@, idle_total_power_w @REAL@,"
	" rounds BIGINT, warmup_rounds BIGINT, duration_std_s @REAL@, duration_min_s @REAL@,"
	" duration_max_s @REAL@, total_std_j @REAL@, total_min_j @REAL@, total_max_j @REAL@)",
	"CREATE TABLE run_args (run_id BIGINT NOT NULL REFERENCES runs(id), idx BIGINT NOT NULL,"
	" arg TEXT NOT NULL, PRIMARY KEY (run_id, idx))",
	"CREATE TABLE nodes (run_id BIGINT NOT NULL REFERENCES runs(id), node BIGINT NOT NULL,"
	" host TEXT NOT NULL, energy_j @REAL@, duration_s @REAL@, PRIMARY KEY (run_id, node))",
	"CREATE TABLE domains (run_id BIGINT NOT NULL REFERENCES runs(id), node BIGINT NOT NULL,"
	" idx BIGINT NOT NULL, name TEXT NOT NULL, kind BIGINT NOT NULL, source TEXT NOT NULL,"
	" method TEXT NOT NULL, estimated BIGINT NOT NULL, in_total BIGINT NOT NULL,"
	" integrated BIGINT NOT NULL, device_name TEXT, device_id TEXT, status BIGINT,"
	" energy_j @REAL@, avg_power_w @REAL@, min_power_w @REAL@, peak_power_w @REAL@,"
	" idle_power_w @REAL@, energy_std_j @REAL@, energy_min_j @REAL@, energy_max_j @REAL@,"
	" PRIMARY KEY (run_id, node, idx))",
	"CREATE TABLE readings (run_id BIGINT NOT NULL REFERENCES runs(id), node BIGINT NOT NULL,"
	" idx BIGINT NOT NULL, domain TEXT NOT NULL, metric TEXT NOT NULL, unit TEXT NOT NULL,"
	" PRIMARY KEY (run_id, node, idx))",
	"CREATE TABLE regions (run_id BIGINT NOT NULL REFERENCES runs(id), idx BIGINT NOT NULL,"
	" tag TEXT NOT NULL, start_s @REAL@, duration_s @REAL@, PRIMARY KEY (run_id, idx))",
	"CREATE TABLE region_energy (run_id BIGINT NOT NULL REFERENCES runs(id),"
	" region BIGINT NOT NULL, node BIGINT NOT NULL, domain BIGINT NOT NULL,"
	" energy_j @REAL@, PRIMARY KEY (run_id, region, node, domain))",
	"CREATE TABLE warnings (run_id BIGINT NOT NULL REFERENCES runs(id), idx BIGINT NOT NULL,"
	" message TEXT NOT NULL, PRIMARY KEY (run_id, idx))",
	"CREATE TABLE chunks (run_id BIGINT NOT NULL REFERENCES runs(id), node BIGINT NOT NULL,"
	" kind BIGINT NOT NULL, first_row BIGINT NOT NULL, nrows BIGINT NOT NULL,"
	" width BIGINT NOT NULL, data @BLOB@ NOT NULL, PRIMARY KEY (run_id, node, kind, first_row))",
	"INSERT INTO wattprof_meta (key, value) VALUES ('schema_version', '1')",
	"ALTER TABLE runs ADD COLUMN package TEXT NOT NULL DEFAULT ''",
	"ALTER TABLE runs ADD COLUMN algorithm TEXT NOT NULL DEFAULT ''",
	"ALTER TABLE runs ADD COLUMN algorithm_params TEXT NOT NULL DEFAULT ''",
	"ALTER TABLE runs ADD COLUMN data_type TEXT NOT NULL DEFAULT ''",
	"ALTER TABLE runs ADD COLUMN data_shape TEXT NOT NULL DEFAULT ''",
	"ALTER TABLE runs ADD COLUMN comment TEXT NOT NULL DEFAULT ''",
	"CREATE TABLE tags (run_id BIGINT NOT NULL REFERENCES runs(id), idx BIGINT NOT NULL,"
	" tag TEXT NOT NULL, PRIMARY KEY (run_id, idx))",
	"UPDATE wattprof_meta SET value = '2' WHERE key = 'schema_version'",
	/* Ids 1 and 2, given by the database as a wattprof left them to it. */
	"INSERT INTO runs (uuid, name, status, start_unix_ns, updated_unix_ns, host, user_name,"
	" platform, wattprof_version, pid, boot_id, flags, exit_status, term_signal, duration_s,"
	" total_energy_j, sampler_freq_hz, samples, idle_s, rounds, warmup_rounds, package,"
	" algorithm, algorithm_params, data_type, data_shape, comment) VALUES"
	" ('6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f', 'mnist', 'finished', 1780000000000000000,"
	" 1780000002000000000, 'gpu07', 'bob', 'Linux 6.1 x86_64', '0.1.0', 777, 'boot', 2, 0, 0,"
	" 2.0, 7200000.0, 10.0, 20, 0, 0, 0, 'torch', 'cnn', 'lr=0.1', 'image', '(60000, 28, 28)',"
	" 'old run')",
	"INSERT INTO runs (uuid, name, status, start_unix_ns, updated_unix_ns, host, user_name,"
	" platform, wattprof_version, pid, boot_id, flags, exit_status, term_signal, duration_s,"
	" total_energy_j, sampler_freq_hz, samples, idle_s, rounds, warmup_rounds) VALUES"
	" ('7a2d3e4f-5b6c-4d7e-9f80-0b1c2d3e4f50', '', 'finished', 1780000100000000000,"
	" 1780000101000000000, 'gpu07', 'bob', 'Linux 6.1 x86_64', '0.1.0', 778, 'boot', 0, 1, 0,"
	" 1.0, 3.0, NULL, 0, 0, 0, 0)",
	"INSERT INTO run_args (run_id, idx, arg) VALUES (1, 0, 'python3'), (1, 1, 'mnist.py'),"
	" (2, 0, 'false')",
	"INSERT INTO tags (run_id, idx, tag) VALUES (1, 0, 'epochs=3'), (1, 1, 'gpu=a100')",
	"INSERT INTO nodes (run_id, node, host, energy_j, duration_s) VALUES"
	" (1, 0, 'gpu07', 7200000.0, 2.0), (2, 0, 'gpu07', 3.0, 1.0)",
	"INSERT INTO domains VALUES (1, 0, 0, 'package_0', 1, 'powercap', 'energy_counter', 0, 1,"
	" 0, NULL, NULL, 0, 3600000.0, 1800000.0, NULL, NULL, NULL, NULL, NULL, NULL),"
	" (1, 0, 1, 'nvidia_gpu_0', 8, 'nvml', 'energy_counter', 0, 1, 0, 'NVIDIA A100',"
	" 'GPU-1', 0, 3600000.0, 1800000.0, NULL, NULL, NULL, NULL, NULL, NULL),"
	" (2, 0, 0, 'package_0', 1, 'powercap', 'energy_counter', 0, 1, 0, NULL, NULL, 0, 3.0,"
	" 3.0, NULL, NULL, NULL, NULL, NULL, NULL)",
	"INSERT INTO warnings (run_id, idx, message) VALUES (2, 0, 'an old warning')",
};

/* A frozen script on a database, the type words as that driver writes them. */
static void frozen_script(const struct wp__db_ops *ops, const char *where,
                          const char *const *script, size_t count)
{
	struct wp__db db = { .ops = ops };
	ASSERT_EQ(db.ops->open(&db, where, WP_STORE_CREATE), 0);
	for (size_t i = 0; i < count; i++) {
		char sql[4096];
		size_t n = 0;
		for (const char *p = script[i]; *p;) {
			const char *word = !strncmp(p, "@ID@", 4)     ? ops->id_type
			                   : !strncmp(p, "@REAL@", 6) ? ops->real_type
			                   : !strncmp(p, "@BLOB@", 6) ? ops->blob_type
			                                              : NULL;
			if (word) {
				n += (size_t)snprintf(sql + n, sizeof sql - n, "%s", word);
				p = strchr(p + 1, '@') + 1;
			} else {
				sql[n++] = *p++;
			}
			ASSERT(n < sizeof sql - 64);
		}
		sql[n] = '\0';
		if (db.ops->exec(&db, sql, NULL, 0, NULL) != 0)
			TEST_FAIL_("%s: %s", sql, db.err);
	}
	db.ops->close(&db);
}

/* Opens a schema-2 database: migrated, its runs read back, new runs beside. */
static void migrates_schema_2(const char *where)
{
	struct wp_store *st = NULL;
	struct wp_run *run;
	ASSERT_EQ(wp_store_open(&st, where, WP_STORE_READONLY), WP_ESCHEMA);
	ASSERT_HAS(wp_store_errmsg(st), "has schema 2 and must be updated to 5");
	wp_store_close(st);
	st = must_open(where, 0);
	ASSERT_EQ(wp_store_load(st, 1, WP_LOAD_SERIES, &run), 0);
	ASSERT_STR(run->status, "finished");
	ASSERT_STR(run->name, "mnist");
	ASSERT_STR(run->package, "torch");
	ASSERT_STR(run->data_shape, "(60000, 28, 28)");
	ASSERT_EQ(run->tag_count, 2);
	ASSERT_STR(run->tags[1], "gpu=a100");
	ASSERT_STR(run->report.command[1], "mnist.py");
	ASSERT_SAME(run->report.total_energy_j, 7200000.0);
	ASSERT_SAME(run->cpu_j, 3600000.0);
	ASSERT_SAME(run->gpu_j, 3600000.0);
	ASSERT_STR(run->report.domains[1].device_name, "NVIDIA A100");
	ASSERT(run->series == NULL); /* it stored no samples */
	/* Stored before carbon factors existed: none, and none made up. */
	ASSERT_EQ(run->report.carbon.set, 0);
	char *j = report_json(&run->report);
	ASSERT_HAS(j, "\"carbon\": null");
	free(j);
	wp_run_free(run);
	ASSERT_EQ(wp_store_load(st, 2, 0, &run), 0);
	ASSERT_STR(run->name, "");
	ASSERT_EQ(run->report.exit_status, 1);
	ASSERT_EQ(run->report.warning_count, 1);
	ASSERT_EQ(run->report.carbon.set, 0);
	wp_run_free(run);
	wp_store_close(st);
	/* Now at the latest schema (read-only opens it), and new runs carry factors. */
	struct fix f;
	int64_t id;
	fix_open(&f);
	st = must_open(where, WP_STORE_READONLY);
	wp_store_close(st);
	st = must_open(where, 0);
	struct wp_carbon_options co = { .version = WP_CARBON_OPTIONS_VERSION, .pue = 1.1,
		                        .country = "US" };
	ASSERT_EQ(wp_report_set_carbon(&f.rep, &co), 0);
	store_run(&f, &st, 1, &id);
	ASSERT(id == 3);
	check_loaded(&f, st, id);
	ASSERT_EQ(wp_store_load(st, id, 0, &run), 0);
	ASSERT_STR(run->report.carbon.country, "US");
	ASSERT_REL(run->report.carbon.co2e_g, run->report.total_energy_j / 3.6e6 * 1.1 * 368.1,
	           1e-12);
	wp_run_free(run);
	wp_store_close(st);
	fix_close(&f);
}

TEST(store_migrates_schema_2_sqlite)
{
	char path[600];
	sqlite_path(path, sizeof path);
	frozen_script(&wp__sqlite_ops, path, schema2, sizeof schema2 / sizeof *schema2);
	migrates_schema_2(path);
	return TEST_OK;
}

TEST(store_migrates_schema_2_postgresql)
{
	char schema[64];
	char *url = pg_url(schema, sizeof schema);
	if (!url)
		SKIP_BECAUSE("WATTPROF_TEST_PG is not set: no PostgreSQL server to test against");
	frozen_script(&wp__pg_ops, url, schema2, sizeof schema2 / sizeof *schema2);
	migrates_schema_2(url);
	pg_drop(schema);
	free(url);
	return TEST_OK;
}

/*
 * Schema 3, frozen as the wattprof that wrote it left it (migrations 1 to 3,
 * their type words left for the driver), with two runs: one with carbon
 * factors, a GPU, a region and reading columns; one without factors.
 * Never change this text: it stands for databases already out there.
 */
static const char *const schema3[] = {
	"CREATE TABLE wattprof_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
	"CREATE TABLE runs ("
	" id @ID@, uuid TEXT NOT NULL UNIQUE, name TEXT NOT NULL, status TEXT NOT NULL,"
	" start_unix_ns BIGINT NOT NULL, updated_unix_ns BIGINT NOT NULL,"
	" host TEXT NOT NULL, user_name TEXT NOT NULL, platform TEXT NOT NULL,"
	" wattprof_version TEXT NOT NULL, pid BIGINT NOT NULL, boot_id TEXT NOT NULL,"
	" flags BIGINT, exit_status BIGINT, term_signal BIGINT, duration_s @REAL@, total_energy_j @REAL@,"
	" sampler_freq_hz @REAL@, samples BIGINT, idle_s @REAL@, idle_total_power_w @REAL@,"
	" rounds BIGINT, warmup_rounds BIGINT, duration_std_s @REAL@, duration_min_s @REAL@,"
	" duration_max_s @REAL@, total_std_j @REAL@, total_min_j @REAL@, total_max_j @REAL@)",
	"CREATE TABLE run_args (run_id BIGINT NOT NULL REFERENCES runs(id), idx BIGINT NOT NULL,"
	" arg TEXT NOT NULL, PRIMARY KEY (run_id, idx))",
	"CREATE TABLE nodes (run_id BIGINT NOT NULL REFERENCES runs(id), node BIGINT NOT NULL,"
	" host TEXT NOT NULL, energy_j @REAL@, duration_s @REAL@, PRIMARY KEY (run_id, node))",
	"CREATE TABLE domains (run_id BIGINT NOT NULL REFERENCES runs(id), node BIGINT NOT NULL,"
	" idx BIGINT NOT NULL, name TEXT NOT NULL, kind BIGINT NOT NULL, source TEXT NOT NULL,"
	" method TEXT NOT NULL, estimated BIGINT NOT NULL, in_total BIGINT NOT NULL,"
	" integrated BIGINT NOT NULL, device_name TEXT, device_id TEXT, status BIGINT,"
	" energy_j @REAL@, avg_power_w @REAL@, min_power_w @REAL@, peak_power_w @REAL@,"
	" idle_power_w @REAL@, energy_std_j @REAL@, energy_min_j @REAL@, energy_max_j @REAL@,"
	" PRIMARY KEY (run_id, node, idx))",
	"CREATE TABLE readings (run_id BIGINT NOT NULL REFERENCES runs(id), node BIGINT NOT NULL,"
	" idx BIGINT NOT NULL, domain TEXT NOT NULL, metric TEXT NOT NULL, unit TEXT NOT NULL,"
	" PRIMARY KEY (run_id, node, idx))",
	"CREATE TABLE regions (run_id BIGINT NOT NULL REFERENCES runs(id), idx BIGINT NOT NULL,"
	" tag TEXT NOT NULL, start_s @REAL@, duration_s @REAL@, PRIMARY KEY (run_id, idx))",
	"CREATE TABLE region_energy (run_id BIGINT NOT NULL REFERENCES runs(id),"
	" region BIGINT NOT NULL, node BIGINT NOT NULL, domain BIGINT NOT NULL,"
	" energy_j @REAL@, PRIMARY KEY (run_id, region, node, domain))",
	"CREATE TABLE warnings (run_id BIGINT NOT NULL REFERENCES runs(id), idx BIGINT NOT NULL,"
	" message TEXT NOT NULL, PRIMARY KEY (run_id, idx))",
	"CREATE TABLE chunks (run_id BIGINT NOT NULL REFERENCES runs(id), node BIGINT NOT NULL,"
	" kind BIGINT NOT NULL, first_row BIGINT NOT NULL, nrows BIGINT NOT NULL,"
	" width BIGINT NOT NULL, data @BLOB@ NOT NULL, PRIMARY KEY (run_id, node, kind, first_row))",
	"INSERT INTO wattprof_meta (key, value) VALUES ('schema_version', '1')",
	"ALTER TABLE runs ADD COLUMN package TEXT NOT NULL DEFAULT ''",
	"ALTER TABLE runs ADD COLUMN algorithm TEXT NOT NULL DEFAULT ''",
	"ALTER TABLE runs ADD COLUMN algorithm_params TEXT NOT NULL DEFAULT ''",
	"ALTER TABLE runs ADD COLUMN data_type TEXT NOT NULL DEFAULT ''",
	"ALTER TABLE runs ADD COLUMN data_shape TEXT NOT NULL DEFAULT ''",
	"ALTER TABLE runs ADD COLUMN comment TEXT NOT NULL DEFAULT ''",
	"CREATE TABLE tags (run_id BIGINT NOT NULL REFERENCES runs(id), idx BIGINT NOT NULL,"
	" tag TEXT NOT NULL, PRIMARY KEY (run_id, idx))",
	"UPDATE wattprof_meta SET value = '2' WHERE key = 'schema_version'",
	"ALTER TABLE runs ADD COLUMN pue @REAL@",
	"ALTER TABLE runs ADD COLUMN country TEXT",
	"ALTER TABLE runs ADD COLUMN emissions_factor_g_per_kwh @REAL@",
	"ALTER TABLE runs ADD COLUMN emissions_factor_source TEXT",
	"ALTER TABLE runs ADD COLUMN price_factor @REAL@",
	"ALTER TABLE runs ADD COLUMN price_unit TEXT",
	"UPDATE wattprof_meta SET value = '3' WHERE key = 'schema_version'",
	"INSERT INTO runs (uuid, name, status, start_unix_ns, updated_unix_ns, host, user_name,"
	" platform, wattprof_version, pid, boot_id, flags, exit_status, term_signal, duration_s,"
	" total_energy_j, sampler_freq_hz, samples, idle_s, rounds, warmup_rounds, package,"
	" algorithm, algorithm_params, data_type, data_shape, comment, pue, country,"
	" emissions_factor_g_per_kwh, emissions_factor_source, price_factor, price_unit) VALUES"
	" ('8b3e4f50-6c7d-4e8f-a091-1c2d3e4f5061', 'llm', 'finished', 1785000000000000000,"
	" 1785000010000000000, 'gpu11', 'carol', 'Linux 6.1 x86_64', '0.1.0', 999, 'boot', 2, 0,"
	" 0, 10.0, 3600000.0, 100.0, 1000, 0, 0, 0, 'vllm', 'llama', '', 'text', '', '',"
	" 1.2, 'FR', 84.88, 'Ember 2022 (France), via CO2.js 0.13.10', 0.2, 'EUR')",
	"INSERT INTO runs (uuid, name, status, start_unix_ns, updated_unix_ns, host, user_name,"
	" platform, wattprof_version, pid, boot_id, flags, exit_status, term_signal, duration_s,"
	" total_energy_j, sampler_freq_hz, samples, idle_s, rounds, warmup_rounds) VALUES"
	" ('9c4f5061-7d8e-4f90-b1a2-2d3e4f506172', '', 'finished', 1785000100000000000,"
	" 1785000101000000000, 'gpu11', 'carol', 'Linux 6.1 x86_64', '0.1.0', 1000, 'boot', 0, 1,"
	" 0, 1.0, 5.0, NULL, 0, 0, 0, 0)",
	"INSERT INTO run_args (run_id, idx, arg) VALUES (1, 0, 'vllm'), (1, 1, 'serve'),"
	" (2, 0, 'false')",
	"INSERT INTO tags (run_id, idx, tag) VALUES (1, 0, 'model=llama-7b')",
	"INSERT INTO nodes (run_id, node, host, energy_j, duration_s) VALUES"
	" (1, 0, 'gpu11', 3600000.0, 10.0), (2, 0, 'gpu11', 5.0, 1.0)",
	"INSERT INTO domains VALUES (1, 0, 0, 'package_0', 1, 'powercap', 'energy_counter', 0, 1,"
	" 0, NULL, NULL, 0, 1000000.0, 100000.0, 90000.0, 120000.0, NULL, NULL, NULL, NULL),"
	" (1, 0, 1, 'dram_0', 4, 'powercap', 'energy_counter', 0, 1, 0, NULL, NULL, 0, 600000.0,"
	" 60000.0, NULL, NULL, NULL, NULL, NULL, NULL),"
	" (1, 0, 2, 'nvidia_gpu_0', 8, 'nvml', 'energy_counter', 0, 1, 0, 'NVIDIA H100',"
	" 'GPU-7', 0, 2000000.0, 200000.0, NULL, NULL, NULL, NULL, NULL, NULL),"
	" (2, 0, 0, 'package_0', 1, 'powercap', 'energy_counter', 0, 1, 0, NULL, NULL, 0, 5.0,"
	" 5.0, NULL, NULL, NULL, NULL, NULL, NULL)",
	"INSERT INTO readings (run_id, node, idx, domain, metric, unit) VALUES"
	" (1, 0, 0, 'nvidia_gpu_0', 'util_pct', '%'), (1, 0, 1, 'node', 'cpu_util_pct', '%')",
	"INSERT INTO regions (run_id, idx, tag, start_s, duration_s) VALUES (1, 0, 'warmup', 0.5, 2.0)",
	"INSERT INTO region_energy (run_id, region, node, domain, energy_j) VALUES"
	" (1, 0, 0, 0, 200000.0), (1, 0, 0, 1, 120000.0), (1, 0, 0, 2, 400000.0)",
	"INSERT INTO warnings (run_id, idx, message) VALUES (1, 0, 'a schema-3 warning')",
};

/* Opens a schema-3 database: migrated, its runs read back without
 * attribution, and new runs with attribution beside them. */
static void migrates_schema_3(const char *where)
{
	struct wp_store *st = NULL;
	struct wp_run *run;
	ASSERT_EQ(wp_store_open(&st, where, WP_STORE_READONLY), WP_ESCHEMA);
	ASSERT_HAS(wp_store_errmsg(st), "has schema 3 and must be updated to 5");
	wp_store_close(st);
	st = must_open(where, 0);
	ASSERT_EQ(wp_store_load(st, 1, WP_LOAD_SERIES, &run), 0);
	ASSERT_STR(run->status, "finished");
	ASSERT_STR(run->name, "llm");
	ASSERT_STR(run->package, "vllm");
	ASSERT_STR(run->tags[0], "model=llama-7b");
	ASSERT_STR(run->report.command[1], "serve");
	ASSERT_SAME(run->report.total_energy_j, 3600000.0);
	ASSERT_SAME(run->gpu_j, 2000000.0);
	ASSERT_SAME(run->report.domains[0].min_power_w, 90000.0);
	ASSERT_EQ(run->report.region_count, 1);
	ASSERT_SAME(run->report.regions[0].energy_j[2], 400000.0);
	ASSERT_STR(run->report.warnings[0], "a schema-3 warning");
	/* Its carbon factors as stored: 1 kWh x 1.2 x 84.88 g, x 0.2 EUR. */
	ASSERT_EQ(run->report.carbon.set, 1);
	ASSERT_STR(run->report.carbon.country, "FR");
	ASSERT_REL(run->report.carbon.co2e_g, 1.2 * 84.88, 1e-12);
	ASSERT_REL(run->report.carbon.cost, 1.2 * 0.2, 1e-12);
	/* Stored before attribution existed: none, and none made up. */
	ASSERT_EQ(run->report.attributed, 0);
	ASSERT_EQ(run->report.process_count, 0);
	ASSERT(run->report.processes == NULL);
	for (size_t i = 0; i < 3; i++) {
		ASSERT(isnan(run->report.domains[i].attributed_energy_j));
		ASSERT(run->report.domains[i].attribution_method == NULL);
	}
	ASSERT(run->series == NULL); /* it stored no samples */
	wp_run_free(run);
	ASSERT_EQ(wp_store_load(st, 2, 0, &run), 0);
	ASSERT_STR(run->name, "");
	ASSERT_EQ(run->report.exit_status, 1);
	ASSERT_EQ(run->report.carbon.set, 0);
	ASSERT_EQ(run->report.attributed, 0);
	ASSERT(isnan(run->report.domains[0].attributed_energy_j));
	wp_run_free(run);
	wp_store_close(st);
	/* Now at the latest schema, and new runs carry their attribution. */
	struct fix f;
	int64_t id;
	fix_open(&f);
	st = must_open(where, WP_STORE_READONLY);
	wp_store_close(st);
	st = must_open(where, 0);
	store_run(&f, &st, 1, &id);
	ASSERT(id == 3);
	check_loaded(&f, st, id);
	ASSERT_EQ(wp_store_load(st, id, 0, &run), 0);
	ASSERT_EQ(run->report.attributed, 1);
	ASSERT_EQ(run->report.process_count, FIX_PROCESSES);
	wp_run_free(run);
	/* The old runs read back as before. */
	ASSERT_EQ(wp_store_load(st, 1, 0, &run), 0);
	ASSERT_EQ(run->report.attributed, 0);
	wp_run_free(run);
	wp_store_close(st);
	fix_close(&f);
}

TEST(store_migrates_schema_3_sqlite)
{
	char path[600];
	sqlite_path(path, sizeof path);
	frozen_script(&wp__sqlite_ops, path, schema3, sizeof schema3 / sizeof *schema3);
	migrates_schema_3(path);
	return TEST_OK;
}

TEST(store_migrates_schema_3_postgresql)
{
	char schema[64];
	char *url = pg_url(schema, sizeof schema);
	if (!url)
		SKIP_BECAUSE("WATTPROF_TEST_PG is not set: no PostgreSQL server to test against");
	frozen_script(&wp__pg_ops, url, schema3, sizeof schema3 / sizeof *schema3);
	migrates_schema_3(url);
	pg_drop(schema);
	free(url);
	return TEST_OK;
}

TEST(store_refuses_newer_foreign_and_broken)
{
	char dir[600], path[700];
	struct wp_store *st = NULL;
	test_tmpdir(dir, sizeof dir);

	/* A newer wattprof's. */
	snprintf(path, sizeof path, "%s/newer.db", dir);
	sqlite_script(path, "CREATE TABLE wattprof_meta (key TEXT PRIMARY KEY, value TEXT);"
	                    "INSERT INTO wattprof_meta VALUES ('schema_version', '99')");
	ASSERT_EQ(wp_store_open(&st, path, 0), WP_ESCHEMA);
	ASSERT_HAS(wp_store_errmsg(st), "written by a newer wattprof (schema 99");
	ASSERT_HAS(wp_store_errmsg(st), path);
	wp_store_close(st);

	/* Someone else's database: never written into. */
	snprintf(path, sizeof path, "%s/foreign.db", dir);
	sqlite_script(path, "CREATE TABLE foo (x INTEGER)");
	ASSERT_EQ(wp_store_open(&st, path, WP_STORE_CREATE), WP_ESCHEMA);
	ASSERT_HAS(wp_store_errmsg(st), "is not a wattprof database");
	wp_store_close(st);

	/* Not a database at all. */
	snprintf(path, sizeof path, "%s/notes.txt", dir);
	test_spit(path, "these are my notes, not a database; they go on for a while so "
	                "that SQLite reads a whole header's worth of them.........\n");
	ASSERT_EQ(wp_store_open(&st, path, WP_STORE_CREATE), WP_EDB);
	ASSERT_HAS(wp_store_errmsg(st), "is not a usable SQLite database");
	ASSERT_HAS(wp_store_errmsg(st), path);
	wp_store_close(st);
	char *left = test_slurp(path);
	ASSERT_STR(left, "these are my notes, not a database; they go on for a while "
	                 "so that SQLite reads a whole header's worth of them.........\n");
	free(left);

	/* Absent, without CREATE; a folder. */
	snprintf(path, sizeof path, "%s/absent.db", dir);
	ASSERT_EQ(wp_store_open(&st, path, 0), -ENOENT);
	wp_store_close(st);
	ASSERT(access(path, F_OK) < 0);
	ASSERT_EQ(wp_store_open(&st, dir, WP_STORE_CREATE), -EISDIR);
	ASSERT_HAS(wp_store_errmsg(st), "is a folder");
	wp_store_close(st);
	test_rmtree(dir);
	return TEST_OK;
}

/* Runs SQL on the store's file behind its back. */
static void tamper(const char *path, const char *sql)
{
	sqlite_script(path, sql);
}

TEST(store_corrupt_runs_give_clear_errors)
{
	char path[600];
	struct fix f;
	int64_t ids[3];
	struct wp_run *run;
	sqlite_path(path, sizeof path);
	fix_open(&f);
	struct wp_store *st = must_open(path, WP_STORE_CREATE);
	store_run(&f, &st, 1, &ids[0]);
	wp_store_close(st);

	/* A chunk cut short. */
	tamper(path, "UPDATE chunks SET data = substr(data, 1, 100) WHERE kind = 0 AND first_row > 0");
	st = must_open(path, 0);
	ASSERT_EQ(wp_store_load(st, ids[0], WP_LOAD_SERIES, &run), WP_ECORRUPT);
	ASSERT_HAS(wp_store_errmsg(st), "the samples stored from row");
	/* Without its samples, a finished run still loads. */
	ASSERT_EQ(wp_store_load(st, ids[0], 0, &run), 0);
	same_report(&f.rep, &run->report);
	wp_run_free(run);
	wp_store_close(st);

	/* A domain of no known kind; a status that is none; a missing run. */
	tamper(path, "UPDATE domains SET kind = 42 WHERE idx = 1");
	st = must_open(path, 0);
	ASSERT_EQ(wp_store_load(st, ids[0], 0, &run), WP_ECORRUPT);
	ASSERT_HAS(wp_store_errmsg(st), "domain 1 is missing or of an unknown kind");
	wp_store_close(st);
	tamper(path, "UPDATE domains SET kind = 4 WHERE idx = 1; UPDATE runs SET status = 'odd'");
	st = must_open(path, 0);
	ASSERT_EQ(wp_store_load(st, ids[0], 0, &run), WP_ECORRUPT);
	ASSERT_EQ(wp_store_load(st, 999, 0, &run), -ENOENT);
	ASSERT_HAS(wp_store_errmsg(st), "no run 999");
	/* Time going backwards in the samples. */
	wp_store_close(st);
	tamper(path, "UPDATE runs SET status = 'running', pid = 0;"
	             "UPDATE chunks SET data = CAST(X'00C84E676DC1AB4300000000000000000000000000000000'"
	             " || substr(data, 25) AS BLOB) WHERE kind = 0 AND first_row = 0");
	st = must_open(path, 0);
	ASSERT_EQ(wp_store_load(st, ids[0], 0, &run), WP_ECORRUPT);
	ASSERT_HAS(wp_store_errmsg(st), "goes backwards");
	wp_store_close(st);
	fix_close(&f);
	return TEST_OK;
}

/* Damage anywhere in the file: errors, never a crash (ASan watches). */
TEST(store_damaged_file_never_crashes)
{
	char path[600], copy[640];
	struct fix f;
	int64_t id;
	sqlite_path(path, sizeof path);
	snprintf(copy, sizeof copy, "%s.copy", path);
	fix_open(&f);
	struct wp_store *st = must_open(path, WP_STORE_CREATE);
	store_run(&f, &st, 1, &id);
	wp_store_close(st); /* the last connection: the WAL is checkpointed */
	char *orig = NULL;
	size_t len;
	{
		FILE *in = fopen(path, "rb");
		ASSERT(in != NULL);
		fseek(in, 0, SEEK_END);
		len = (size_t)ftell(in);
		rewind(in);
		orig = malloc(len);
		ASSERT(fread(orig, 1, len, in) == len);
		fclose(in);
	}
	ASSERT(len >= 8192);
	int errors = 0;
	for (size_t off = 0; off < len; off += 1024) {
		for (int cut = 0; cut < 2; cut++) {
			FILE *out = fopen(copy, "wb");
			ASSERT(out != NULL);
			if (cut) {
				/* Cut short here. */
				ASSERT(fwrite(orig, 1, off, out) == off);
			} else {
				/* 64 bytes of garbage here. */
				char *bad = malloc(len);
				memcpy(bad, orig, len);
				for (size_t k = 0; k < 64 && off + k < len; k++)
					bad[off + k] = (char)(0xA5 ^ (k * 29));
				ASSERT(fwrite(bad, 1, len, out) == len);
				free(bad);
			}
			fclose(out);
			char wal[700];
			snprintf(wal, sizeof wal, "%s-wal", copy);
			unlink(wal);
			struct wp_store *s = NULL;
			int rc = wp_store_open(&s, copy, WP_STORE_READONLY);
			if (rc == 0) {
				int64_t *ids;
				size_t n;
				rc = wp_store_list(s, &ids, &n);
				for (size_t i = 0; rc == 0 && i < n; i++) {
					struct wp_run *run;
					int r2 = wp_store_load(s, ids[i], WP_LOAD_SERIES, &run);
					if (r2 == 0)
						wp_run_free(run);
					else
						ASSERT(r2 == WP_EDB || r2 == WP_ECORRUPT || r2 == -ENOENT);
					errors += r2 != 0;
				}
				if (rc == 0)
					free(ids);
			}
			if (rc != 0) {
				ASSERT(rc == WP_EDB || rc == WP_ESCHEMA || rc == WP_ECORRUPT);
				ASSERT(*wp_store_errmsg(s));
				errors++;
			}
			wp_store_close(s);
		}
	}
	ASSERT_INT(errors, >, 4); /* the damage was seen, not only survived */
	free(orig);
	fix_close(&f);
	return TEST_OK;
}

/* -------------------------------------------------------------- carbon */

static char *report_as(const struct wp_report *r, enum wp_format format)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ASSERT(f != NULL);
	ASSERT_EQ(wp_report_write(r, format, f), 0);
	fclose(f);
	return buf;
}

/*
 * Runs stored with carbon factors read back with the same factors and
 * figures, in every format: factors set before wp_store_begin, factors set
 * only before wp_store_finish, none; a run still being written; factors
 * that cannot be right.
 */
static void carbon_roundtrip(const char *where, int sqlite)
{
	struct fix f;
	int64_t ids[4];
	struct wp_run *run;

	/* Germany at a PUE of 1.4, 0.25 EUR per kWh, set before the run. */
	fix_open(&f);
	struct wp_carbon_options co = { .version = WP_CARBON_OPTIONS_VERSION,
		                        .flags = WP_CARBON_PRICE,
		                        .pue = 1.4,
		                        .country = "deu",
		                        .price_factor = 0.25,
		                        .price_unit = "EUR" };
	ASSERT_EQ(wp_report_set_carbon(&f.rep, &co), 0);
	struct wp_store *st = must_open(where, WP_STORE_CREATE);
	store_run(&f, &st, 1, &ids[0]);
	check_loaded(&f, st, ids[0]); /* same_report and the JSON compare the carbon */
	ASSERT_EQ(wp_store_load(st, ids[0], WP_LOAD_SERIES, &run), 0);
	const struct wp_report_carbon *c = &run->report.carbon;
	ASSERT_EQ(c->set, 1);
	ASSERT_STR(c->country, "DE");
	ASSERT_STR(c->emissions_factor_source, "Ember 2022 (Germany), via CO2.js 0.13.10");
	ASSERT_STR(c->price_unit, "EUR");
	double kwh = run->report.total_energy_j / 3.6e6;
	ASSERT(kwh > 0);
	ASSERT_REL(c->co2e_g, kwh * 1.4 * 385.39, 1e-12);
	ASSERT_REL(c->cost, kwh * 1.4 * 0.25, 1e-12);
	static const enum wp_format formats[] = { WP_FORMAT_TEXT, WP_FORMAT_CSV, WP_FORMAT_YAML,
		                                  WP_FORMAT_HTML };
	for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
		char *x = report_as(&f.rep, formats[i]), *y = report_as(&run->report, formats[i]);
		ASSERT_STR(y, x);
		if (formats[i] == WP_FORMAT_TEXT)
			ASSERT_HAS(y, "gCO2e at 385.39 gCO2e/kWh (Ember 2022 (Germany)");
		free(x);
		free(y);
	}
	wp_run_free(run);

	/* Factors set after wp_store_begin: stored at wp_store_finish. */
	wp_report_free(&f.rep);
	wp_report_init(&f.rep);
	f.rep.host = strdup("node18");
	f.rep.start_unix_ns = 1790000001000000000;
	ASSERT_EQ(wp_meter_snapshot(f.m, f.a), 0);
	ASSERT_EQ(wp_store_begin(st, NULL, &f.rep, f.m, NULL, &ids[1]), 0);
	drive(&f, 20);
	ASSERT_EQ(wp_report_measure(&f.rep, f.m, f.a, f.b), 0);
	struct wp_carbon_options given = { .version = WP_CARBON_OPTIONS_VERSION,
		                           .flags = WP_CARBON_EMISSIONS_FACTOR,
		                           .emissions_factor = 12.5,
		                           .emissions_factor_source = "PPA 'wind', 2026" };
	ASSERT_EQ(wp_report_set_carbon(&f.rep, &given), 0);
	ASSERT_EQ(wp_store_finish(st, &f.rep), 0);
	ASSERT_EQ(wp_store_load(st, ids[1], 0, &run), 0);
	same_report(&f.rep, &run->report);
	ASSERT(run->report.carbon.country == NULL);
	ASSERT_STR(run->report.carbon.emissions_factor_source, "PPA 'wind', 2026");
	ASSERT(isnan(run->report.carbon.cost) && run->report.carbon.price_unit == NULL);
	char *x = report_json(&f.rep), *y = report_json(&run->report);
	ASSERT_STR(y, x);
	ASSERT_HAS(y, "\"country\": null");
	free(x);
	free(y);
	wp_run_free(run);

	/* Without factors: none read back, "carbon": null. */
	wp_report_free(&f.rep);
	wp_report_init(&f.rep);
	f.rep.host = strdup("node19");
	ASSERT_EQ(wp_store_begin(st, NULL, &f.rep, f.m, NULL, &ids[2]), 0);
	drive(&f, 5);
	ASSERT_EQ(wp_report_measure(&f.rep, f.m, f.a, f.b), 0);
	ASSERT_EQ(wp_store_finish(st, &f.rep), 0);
	ASSERT_EQ(wp_store_load(st, ids[2], 0, &run), 0);
	ASSERT_EQ(run->report.carbon.set, 0);
	y = report_json(&run->report);
	ASSERT_HAS(y, "\"carbon\": null");
	free(y);
	wp_run_free(run);

	/* Still being written: the figures of its samples so far. */
	wp_report_free(&f.rep);
	wp_report_init(&f.rep);
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	f.rep.host = strdup(host); /* its wattprof (this process) is alive */
	co.country = "IN";
	ASSERT_EQ(wp_report_set_carbon(&f.rep, &co), 0);
	wp_series_close(f.ser);
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE,
		                        .flush_s = 1e-9 };
	ASSERT_EQ(wp_meter_snapshot(f.m, f.a), 0);
	ASSERT_EQ(wp_series_open(&f.ser, f.m, f.a, &so), 0);
	uint64_t at0 = f.uj[0] + f.uj[1];
	ASSERT_EQ(wp_store_begin(st, NULL, &f.rep, f.m, f.ser, &ids[3]), 0);
	drive(&f, 40);
	ASSERT_EQ(wp_store_sync(st), 0);
	double so_far_j = (double)(f.uj[0] + f.uj[1] - at0) / 1e6;
	wp_store_close(st); /* never finished */
	st = must_open(where, 0);
	ASSERT_EQ(wp_store_load(st, ids[3], 0, &run), 0);
	ASSERT_STR(run->status, "running");
	ASSERT_NEAR(run->report.total_energy_j, so_far_j, 1e-9);
	ASSERT_STR(run->report.carbon.country, "IN");
	ASSERT_REL(run->report.carbon.co2e_g, run->report.total_energy_j / 3.6e6 * 1.4 * 633.4,
	           1e-12);
	ASSERT_REL(run->report.carbon.cost, run->report.total_energy_j / 3.6e6 * 1.4 * 0.25,
	           1e-12);
	wp_run_free(run);
	wp_store_close(st);
	fix_close(&f);

	if (!sqlite)
		return;
	/* Factors no wattprof writes: a clear error, never a figure. */
	static const char *const tampered[] = {
		"UPDATE runs SET pue = 0.5 WHERE id = 1",
		"UPDATE runs SET pue = 1.4, emissions_factor_g_per_kwh = -3 WHERE id = 1",
		"UPDATE runs SET emissions_factor_g_per_kwh = NULL WHERE id = 1",
		"UPDATE runs SET emissions_factor_g_per_kwh = 385.39, price_unit = NULL WHERE id = 1",
		"UPDATE runs SET price_unit = 'EUR', emissions_factor_source = NULL WHERE id = 1",
	};
	for (size_t i = 0; i < sizeof tampered / sizeof *tampered; i++) {
		sqlite_script(where, tampered[i]);
		st = must_open(where, 0);
		if (wp_store_load(st, 1, 0, &run) != WP_ECORRUPT)
			TEST_FAIL_("'%s' was read", tampered[i]);
		ASSERT_HAS(wp_store_errmsg(st), "has impossible carbon factors");
		ASSERT_EQ(wp_store_load(st, 2, 0, &run), 0); /* the others still load */
		wp_run_free(run);
		wp_store_close(st);
	}
}

TEST(store_carbon_roundtrip_sqlite)
{
	char path[600];
	sqlite_path(path, sizeof path);
	carbon_roundtrip(path, 1);
	return TEST_OK;
}

TEST(store_carbon_roundtrip_postgresql)
{
	char schema[64];
	char *url = pg_url(schema, sizeof schema);
	if (!url)
		SKIP_BECAUSE("WATTPROF_TEST_PG is not set: no PostgreSQL server to test against");
	carbon_roundtrip(url, 0);
	pg_drop(schema);
	free(url);
	return TEST_OK;
}

/* ------------------------------------------------------- attribution */

/* A number from a query on the database behind the store's back: the first
 * column of its one row (an integer), -1 for NULL. */
static int64_t query_int(const struct wp__db_ops *ops, const char *where, const char *sql,
                         int64_t id)
{
	struct wp__db db = { .ops = ops };
	struct wp__rows r = { 0 };
	struct wp__val p = wp__int(id);
	ASSERT_EQ(db.ops->open(&db, where, 0), 0);
	if (db.ops->exec(&db, sql, &p, 1, &r) != 0)
		TEST_FAIL_("%s: %s", sql, db.err);
	ASSERT_EQ(r.nrows, 1);
	int64_t n = wp__cell(&r, 0, 0)->t == WP__V_INT ? wp__cell(&r, 0, 0)->i : -1;
	wp__rows_free(&r);
	db.ops->close(&db);
	return n;
}

/* Two series with any columns: the same names and every value, bit for bit;
 * returns how many readings (columns past the domains') were not NaN. */
static size_t same_rows(const struct wp_series *x, const struct wp_series *y, size_t nd)
{
	struct wp_series_reader *rx, *ry;
	size_t nc = wp_series_column_count(x), seen = 0;
	double vx[16], vy[16], tx, ty;
	ASSERT_EQ(wp_series_column_count(y), nc);
	ASSERT(nc <= 16);
	for (size_t i = 0; i < nc; i++) {
		struct wp_series_column a, b;
		ASSERT_EQ(wp_series_column(x, i, &a), 0);
		ASSERT_EQ(wp_series_column(y, i, &b), 0);
		ASSERT_STR(a.domain, b.domain);
		ASSERT_STR(a.metric, b.metric);
		ASSERT_STR(a.unit, b.unit);
	}
	ASSERT_EQ(wp_series_reader_open(&rx, x), 0);
	ASSERT_EQ(wp_series_reader_open(&ry, y), 0);
	uint64_t rows = 0;
	for (;;) {
		int a = wp_series_next(rx, &tx, vx), b = wp_series_next(ry, &ty, vy);
		ASSERT_EQ(a, b);
		if (a == 0)
			break;
		ASSERT_EQ(a, 1);
		ASSERT_SAME(tx, ty);
		for (size_t i = 0; i < nc; i++) {
			ASSERT_SAME(vx[i], vy[i]);
			seen += i >= 2 * nd && !isnan(vx[i]);
		}
		rows++;
	}
	ASSERT_U64(rows, ==, wp_series_sample_count(x));
	wp_series_reader_close(rx);
	wp_series_reader_close(ry);
	return seen;
}

/* A fresh report on the fixture's meter, from now. */
static void fix_restart(struct fix *f, const char *host)
{
	wp_report_free(&f->rep);
	wp_report_init(&f->rep);
	f->rep.host = strdup(host);
	f->rep.start_unix_ns = 1790000002000000000;
	ASSERT_EQ(wp_meter_snapshot(f->m, f->a), 0);
}

/* Every format, the loaded report against the one stored. */
static void same_in_every_format(const struct wp_report *x, const struct wp_report *y)
{
	static const enum wp_format formats[] = { WP_FORMAT_TEXT, WP_FORMAT_JSON, WP_FORMAT_CSV,
		                                  WP_FORMAT_YAML, WP_FORMAT_HTML };
	for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
		char *a = report_as(x, formats[i]), *b = report_as(y, formats[i]);
		ASSERT_STR(b, a);
		free(a);
		free(b);
	}
}

/*
 * Attribution through a store: a run with a thousand processes (many
 * INSERTs' worth) and a series that carries the attribution's reading
 * columns; a report whose attribution cannot be right, refused; a run
 * without attribution; one whose tree had no process to list and a domain
 * that nothing attributes; removal.
 */
static void attribution(const char *where, const struct wp__db_ops *ops)
{
	struct fix f;
	int64_t id[3];
	struct wp_run *run;
	fix_open(&f);
	struct wp_store *st = must_open(where, WP_STORE_CREATE);

	/* 1. The series' reading columns: each domain's attributed energy and
	 * the tree's CPU and memory, as wp_series_open makes them with an
	 * attribution (stored like any reading column). */
	ASSERT_EQ(wp_meter_domain_count(f.m), 2);
	const char *names[2] = { wp_meter_domain(f.m, 0)->name, wp_meter_domain(f.m, 1)->name };
	const struct wp_series_column cols[6] = {
		{ names[0], "attributed_energy_j", "J" }, { names[1], "attributed_energy_j", "J" },
		{ "processes", "cpu_util_pct", "%" },      { "processes", "rss_b", "B" },
		{ "processes", "pss_b", "B" },             { "processes", "uss_b", "B" },
	};
	struct wp_series *ser;
	ASSERT_EQ(wp__series_open_rows(&ser, 2, names, 6, cols, NULL), 0);
	ASSERT_EQ(wp_store_begin(st, &info, &f.rep, f.m, ser, &id[0]), 0);
	for (int k = 0; k < 500; k++) {
		double e[3] = { k * 1e6, k * 0.5, k * 0.125 };
		ASSERT_EQ(wp__series_append(ser, 0, e), 0);
		if (k % 3 == 0) {
			double v[7] = { k * 1e6,
				        k * 0.5 * 0.37,
				        k % 9 ? k * 0.125 * (0.1 + 0.2) : NAN,
				        k % 6 ? 37.5 + k / 100.0 : NAN,
				        1e9 + k * 4096.0,
				        7e8 + k / 3.0,
				        k ? 5e8 - k : 4.9e-324 };
			ASSERT_EQ(wp__series_append(ser, 1, v), 0);
		}
		if (k == 250) {
			ASSERT_EQ(wp__series_flush(ser), 0);
			ASSERT_EQ(wp_store_sync(st), 0);
		}
	}
	drive(&f, 10);
	ASSERT_EQ(wp_report_measure(&f.rep, f.m, f.a, f.b), 0);
	fill_attribution(&f.rep, 1000);
	/* What cannot be right is refused, and the run can still be finished. */
	double keep = f.rep.domains[0].attributed_energy_j;
	f.rep.domains[0].attributed_energy_j = -1e-9;
	ASSERT_EQ(wp_store_finish(st, &f.rep), -EINVAL);
	ASSERT_HAS(wp_store_errmsg(st), "the report's attribution cannot be right: a domain's "
	                                "attributed energy is negative");
	f.rep.domains[0].attributed_energy_j = keep;
	f.rep.processes[999].end_s = f.rep.processes[999].start_s - 0.5;
	ASSERT_EQ(wp_store_finish(st, &f.rep), -EINVAL);
	ASSERT_HAS(wp_store_errmsg(st), "a process ends before it starts");
	f.rep.processes[999].end_s = f.rep.processes[999].start_s;
	if (wp_store_finish(st, &f.rep) != 0)
		TEST_FAIL_("finish: %s", wp_store_errmsg(st));
	ASSERT_EQ(query_int(ops, where, "SELECT count(*) FROM processes WHERE run_id = ?", id[0]),
	          1000);
	ASSERT_EQ(wp_store_load(st, id[0], WP_LOAD_SERIES, &run), 0);
	same_report(&f.rep, &run->report);
	ASSERT_STR(run->report.processes[4].command, odd_commands[4]); /* not UTF-8: as given */
	ASSERT(run->report.processes[2].command == NULL);
	ASSERT_STR(run->report.processes[3].command, "");
	ASSERT_STR(run->report.processes[999].command, "worker 999 --seed=7911081");
	/* The attribution's readings, every one (about a third of the rows). */
	ASSERT_U64(same_rows(ser, run->series, 2), >, 500 / 3 * 4);
	wp_run_free(run);
	ASSERT_EQ(wp_store_load(st, id[0], 0, &run), 0);
	same_in_every_format(&f.rep, &run->report);
	wp_run_free(run);
	wp_series_close(ser);

	/* 2. Without attribution: nothing stored, nothing made up. */
	fix_restart(&f, "node21");
	ASSERT_EQ(wp_store_begin(st, NULL, &f.rep, f.m, NULL, &id[1]), 0);
	drive(&f, 5);
	ASSERT_EQ(wp_report_measure(&f.rep, f.m, f.a, f.b), 0);
	ASSERT_EQ(wp_store_finish(st, &f.rep), 0);
	ASSERT_EQ(wp_store_load(st, id[1], 0, &run), 0);
	same_report(&f.rep, &run->report);
	const struct wp_report *r = &run->report;
	ASSERT_EQ(r->attributed, 0);
	ASSERT(r->attribution_root_pid == 0 && r->process_count == 0 && r->processes == NULL);
	for (size_t i = 0; i < r->domain_count; i++)
		ASSERT(isnan(r->domains[i].attributed_energy_j) && !r->domains[i].attribution_method);
	same_in_every_format(&f.rep, r);
	wp_run_free(run);
	ASSERT_EQ(query_int(ops, where, "SELECT count(*) FROM processes WHERE run_id = ?", id[1]), 0);
	ASSERT_EQ(query_int(ops, where, "SELECT attributed FROM runs WHERE id = ?", id[1]), 0);
	ASSERT_EQ(query_int(ops, where, "SELECT count(*) FROM domains WHERE run_id = ? AND "
	                                "(attributed_energy_j IS NOT NULL OR attribution_method "
	                                "IS NOT NULL)",
	                    id[1]),
	          0);

	/* 3. Attributed, but no process listed (a launcher whose command
	 * never started), a domain nothing attributes, totals unknown. */
	fix_restart(&f, "node22");
	ASSERT_EQ(wp_store_begin(st, NULL, &f.rep, f.m, NULL, &id[2]), 0);
	drive(&f, 5);
	ASSERT_EQ(wp_report_measure(&f.rep, f.m, f.a, f.b), 0);
	f.rep.attributed = 1;
	f.rep.attribution_root_pid = INT64_C(4194304);
	f.rep.domains[0].attributed_energy_j = 0;
	f.rep.domains[0].attribution_method = strdup(WP_ATTRIB_METHOD_CPU);
	f.rep.domains[1].attributed_energy_j = NAN;
	f.rep.domains[1].attribution_method = strdup(WP_ATTRIB_METHOD_NONE);
	f.rep.attributed_total_j = 0;
	f.rep.attributed_cpu_time_s = f.rep.attributed_peak_rss_b = NAN;
	f.rep.attributed_peak_pss_b = f.rep.attributed_peak_uss_b = NAN;
	f.rep.attributed_peak_gpu_mem_b = NAN;
	ASSERT_EQ(wp_store_finish(st, &f.rep), 0);
	ASSERT_EQ(wp_store_load(st, id[2], 0, &run), 0);
	same_report(&f.rep, &run->report);
	ASSERT_EQ(run->report.attributed, 1);
	ASSERT_STR(run->report.domains[1].attribution_method, "none");
	ASSERT_EQ(run->report.process_count, 0);
	wp_run_free(run);

	/* Removed: its processes with it, the others' kept. */
	ASSERT_EQ(wp_store_remove(st, id[0]), 0);
	ASSERT_EQ(query_int(ops, where, "SELECT count(*) FROM processes WHERE run_id = ?", id[0]),
	          0);
	ASSERT_EQ(wp_store_load(st, id[2], 0, &run), 0);
	wp_run_free(run);
	wp_store_close(st);
	fix_close(&f);
}

TEST(store_attribution_roundtrip_sqlite)
{
	char path[600];
	sqlite_path(path, sizeof path);
	attribution(path, &wp__sqlite_ops);
	return TEST_OK;
}

TEST(store_attribution_roundtrip_postgresql)
{
	char schema[64];
	char *url = pg_url(schema, sizeof schema);
	if (!url)
		SKIP_BECAUSE("WATTPROF_TEST_PG is not set: no PostgreSQL server to test against");
	attribution(url, &wp__pg_ops);
	pg_drop(schema);
	free(url);
	return TEST_OK;
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	size_t n;
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	ASSERT(in && out);
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		ASSERT(fwrite(buf, 1, n, out) == n);
	fclose(in);
	ASSERT_EQ(fclose(out), 0);
}

/*
 * Attribution rows no wattprof writes: each change, made to a copy of a
 * sound database (run 1 attributed with FIX_PROCESSES processes, run 2
 * without), makes the run it touches fail to load with WP_ECORRUPT and a
 * message naming what is wrong; the other run still loads.
 */
TEST(store_attribution_corrupt_gives_clear_errors)
{
	static const struct {
		const char *sql;
		int bad_run; /* 1, 2, or 3 for both */
		const char *said;
	} cases[] = {
		{ "UPDATE runs SET attributed = 2 WHERE id = 1", 1, "neither attributed nor not" },
		{ "UPDATE runs SET attributed = 0 WHERE id = 1", 1, "but no attribution" },
		{ "UPDATE runs SET attribution_root_pid = 0 WHERE id = 1", 1, "not a pid" },
		{ "UPDATE runs SET attribution_root_pid = NULL WHERE id = 1", 1, "missing" },
		{ "UPDATE runs SET attributed_total_j = -0.5 WHERE id = 1", 1, "negative or infinite" },
		{ "UPDATE runs SET attributed_peak_rss_b = 1e999 WHERE id = 1", 1, "or infinite" },
		{ "UPDATE runs SET process_count = 12 WHERE id = 1", 1, "processes are missing" },
		{ "UPDATE domains SET attributed_energy_j = -1 WHERE run_id = 1 AND idx = 0", 1,
		  "a domain's attributed energy is negative" },
		{ "UPDATE domains SET attribution_method = NULL WHERE run_id = 1 AND idx = 1", 1,
		  "no attribution method" },
		{ "UPDATE domains SET attribution_method = 'none' WHERE run_id = 1 AND idx = 1", 1,
		  "nothing attributes has an attributed energy" },
		{ "DELETE FROM processes WHERE run_id = 1 AND idx = 4", 1, "missing" },
		{ "UPDATE processes SET idx = 20 WHERE run_id = 1 AND idx = 10", 1,
		  "a process is missing" },
		{ "UPDATE processes SET run_id = 2 WHERE run_id = 1 AND idx = 10", 3, "" },
		{ "UPDATE processes SET exited = 2 WHERE run_id = 1 AND idx = 0", 1,
		  "neither 0 nor 1" },
		{ "UPDATE processes SET pss_from_rss = -1 WHERE run_id = 1 AND idx = 6", 1,
		  "neither 0 nor 1" },
		{ "UPDATE processes SET pid = -5 WHERE run_id = 1 AND idx = 2", 1, "pid is negative" },
		{ "UPDATE processes SET cpu_time_s = -1 WHERE run_id = 1 AND idx = 7", 1,
		  "a process's figure is negative" },
		{ "UPDATE processes SET end_s = start_s - 1 WHERE run_id = 1 AND idx = 5", 1,
		  "ends before it starts" },
		{ "UPDATE processes SET command = X'41004200' WHERE run_id = 1 AND idx = 0", 1,
		  "command is not text" },
		{ "UPDATE processes SET command = 42 WHERE run_id = 1 AND idx = 0", 1,
		  "command is not text" },
		{ "UPDATE runs SET attributed_total_j = 3 WHERE id = 2", 2,
		  "attribution figures but no attribution" },
		{ "UPDATE domains SET attribution_method = 'cpu_time' WHERE run_id = 2 AND idx = 0",
		  2, "a domain has an attributed energy or method but the run no attribution" },
	};
	char path[600], copy[640];
	struct fix f;
	int64_t ids[2];
	struct wp_run *run;
	sqlite_path(path, sizeof path);
	snprintf(copy, sizeof copy, "%s.copy", path);
	fix_open(&f);
	struct wp_store *st = must_open(path, WP_STORE_CREATE);
	store_run(&f, &st, 1, &ids[0]);
	fix_restart(&f, "node2");
	ASSERT_EQ(wp_store_begin(st, NULL, &f.rep, f.m, NULL, &ids[1]), 0);
	drive(&f, 5);
	ASSERT_EQ(wp_report_measure(&f.rep, f.m, f.a, f.b), 0);
	ASSERT_EQ(wp_store_finish(st, &f.rep), 0);
	wp_store_close(st); /* the last connection: the WAL is checkpointed */
	ASSERT(ids[0] == 1 && ids[1] == 2);
	/* Sound, both load. */
	copy_file(path, copy);
	st = must_open(copy, 0);
	for (int64_t id = 1; id <= 2; id++) {
		ASSERT_EQ(wp_store_load(st, id, 0, &run), 0);
		ASSERT_EQ(run->report.attributed, id == 1);
		wp_run_free(run);
	}
	wp_store_close(st);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char wal[700];
		snprintf(wal, sizeof wal, "%s-wal", copy);
		unlink(wal);
		copy_file(path, copy);
		tamper(copy, cases[i].sql);
		st = must_open(copy, 0);
		for (int64_t id = 1; id <= 2; id++) {
			int bad = cases[i].bad_run == 3 || cases[i].bad_run == id;
			int rc = wp_store_load(st, id, WP_LOAD_SERIES, &run);
			if (!bad && rc != 0)
				TEST_FAIL_("after '%s', run %d: %s", cases[i].sql, (int)id,
				           wp_store_errmsg(st));
			if (!bad) {
				wp_run_free(run);
				continue;
			}
			if (rc != WP_ECORRUPT)
				TEST_FAIL_("after '%s', run %d loaded (%d)", cases[i].sql, (int)id, rc);
			char want[64];
			snprintf(want, sizeof want, "run %d in '", (int)id);
			ASSERT_HAS(wp_store_errmsg(st), want);
			ASSERT_HAS(wp_store_errmsg(st), "has impossible attribution: ");
			ASSERT_HAS(wp_store_errmsg(st), cases[i].said);
		}
		wp_store_close(st);
	}
	fix_close(&f);
	return TEST_OK;
}

/* ------------------------------------------------------------ remove */

TEST(store_remove_takes_every_row)
{
	char path[600];
	struct fix f;
	int64_t ids[2];
	sqlite_path(path, sizeof path);
	fix_open(&f);
	struct wp_store *st = must_open(path, WP_STORE_CREATE);
	store_run(&f, &st, 1, &ids[0]);
	/* A second run of the same meter: its own series. */
	wp_series_close(f.ser);
	struct wp_series_options so = { .version = WP_SERIES_OPTIONS_VERSION,
		                        .flags = WP_SERIES_STORE,
		                        .flush_s = 1e-9 };
	ASSERT_EQ(wp_meter_snapshot(f.m, f.a), 0);
	ASSERT_EQ(wp_series_open(&f.ser, f.m, f.a, &so), 0);
	wp_report_free(&f.rep);
	wp_report_init(&f.rep);
	f.rep.host = strdup("another-node");
	f.rep.start_unix_ns = 1790000001000000000;
	ASSERT_EQ(wp_store_begin(st, NULL, &f.rep, f.m, f.ser, &ids[1]), 0);
	drive(&f, 30);
	ASSERT_EQ(wp_report_measure(&f.rep, f.m, f.a, f.b), 0);
	ASSERT_EQ(wp_store_finish(st, &f.rep), 0);

	int64_t *list;
	size_t n;
	ASSERT_EQ(wp_store_list(st, &list, &n), 0);
	ASSERT_EQ(n, 2);
	ASSERT(list[0] == ids[0] && list[1] == ids[1]);
	free(list);
	/* The first run has rows in every table (its processes too). */
	ASSERT_EQ(query_int(&wp__sqlite_ops, path, "SELECT count(*) FROM processes WHERE run_id = ?",
	                    ids[0]),
	          FIX_PROCESSES);
	ASSERT_EQ(wp_store_remove(st, ids[0]), 0);
	ASSERT_EQ(wp_store_remove(st, ids[0]), -ENOENT);
	wp_store_close(st);

	static const char *const tables[] = { "runs",     "run_args", "tags",
		                              "nodes",    "domains",  "readings",
		                              "regions",  "region_energy", "warnings",
		                              "chunks",   "processes" };
	struct wp__db db = { .ops = &wp__sqlite_ops };
	ASSERT_EQ(db.ops->open(&db, path, 0), 0);
	for (size_t t = 0; t < sizeof tables / sizeof *tables; t++) {
		char sql[128];
		struct wp__rows r = { 0 };
		snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s = ?", tables[t],
		         t == 0 ? "id" : "run_id");
		struct wp__val p = wp__int(ids[0]);
		ASSERT_EQ(db.ops->exec(&db, sql, &p, 1, &r), 0);
		ASSERT(r.nrows == 1 && wp__cell(&r, 0, 0)->i == 0);
		wp__rows_free(&r);
	}
	db.ops->close(&db);
	/* The other run is whole. */
	st = must_open(path, 0);
	struct wp_run *run;
	ASSERT_EQ(wp_store_load(st, ids[1], WP_LOAD_SERIES, &run), 0);
	same_report(&f.rep, &run->report);
	ASSERT_STR(run->name, "");
	wp_run_free(run);
	wp_store_close(st);
	fix_close(&f);
	return TEST_OK;
}

TEST(store_rejects_bad_input)
{
	char path[600];
	struct fix f;
	int64_t id;
	sqlite_path(path, sizeof path);
	fix_open(&f);
	struct wp_store *st = must_open(path, WP_STORE_CREATE);
	struct wp_run_info bad = info;
	bad.data_type = "video";
	ASSERT_EQ(wp_store_begin(st, &bad, &f.rep, f.m, f.ser, &id), -EINVAL);
	ASSERT_HAS(wp_store_errmsg(st), "unknown data type 'video'");
	bad = info;
	const char *notag[] = { "novalue" };
	bad.tags = notag;
	bad.tag_count = 1;
	ASSERT_EQ(wp_store_begin(st, &bad, &f.rep, f.m, f.ser, &id), -EINVAL);
	ASSERT_HAS(wp_store_errmsg(st), "tag 'novalue' is not KEY=VALUE");
	ASSERT_EQ(wp_store_sync(st), WP_ESTATE);
	ASSERT_EQ(wp_store_finish(st, &f.rep), WP_ESTATE);
	/* Nothing of the refused runs was kept. */
	int64_t *list;
	size_t n;
	ASSERT_EQ(wp_store_list(st, &list, &n), 0);
	ASSERT_EQ(n, 0);
	free(list);
	ASSERT_EQ(wp_store_begin(st, &info, &f.rep, f.m, f.ser, &id), 0);
	ASSERT_EQ(wp_store_begin(st, &info, &f.rep, f.m, f.ser, &id), WP_ESTATE);
	ASSERT_EQ(wp_store_remove(st, id), WP_ESTATE);
	wp_store_close(st);
	struct wp_store *none = NULL;
	ASSERT_EQ(wp_store_open(&none, "", 0), -EINVAL);
	ASSERT_EQ(wp_store_open(NULL, path, 0), -EINVAL);
	fix_close(&f);
	return TEST_OK;
}

/*
 * Schema 4, frozen: schema 3's text and runs, then migration 4 as it was
 * released (the attribution).  Never change this text.
 */
static const char *const schema4_after_3[] = {
	"ALTER TABLE runs ADD COLUMN attributed BIGINT",
	"ALTER TABLE runs ADD COLUMN attribution_root_pid BIGINT",
	"ALTER TABLE runs ADD COLUMN attributed_total_j @REAL@",
	"ALTER TABLE runs ADD COLUMN attributed_cpu_time_s @REAL@",
	"ALTER TABLE runs ADD COLUMN attributed_peak_rss_b @REAL@",
	"ALTER TABLE runs ADD COLUMN attributed_peak_pss_b @REAL@",
	"ALTER TABLE runs ADD COLUMN attributed_peak_uss_b @REAL@",
	"ALTER TABLE runs ADD COLUMN attributed_peak_gpu_mem_b @REAL@",
	"ALTER TABLE runs ADD COLUMN process_count BIGINT",
	"ALTER TABLE domains ADD COLUMN attributed_energy_j @REAL@",
	"ALTER TABLE domains ADD COLUMN attribution_method TEXT",
	"CREATE TABLE processes (run_id BIGINT NOT NULL REFERENCES runs(id), node BIGINT NOT NULL,"
	" idx BIGINT NOT NULL, pid BIGINT NOT NULL, ppid BIGINT NOT NULL, command @BLOB@,"
	" start_s @REAL@, end_s @REAL@, exited BIGINT NOT NULL, cpu_time_s @REAL@,"
	" peak_rss_b @REAL@, peak_pss_b @REAL@, peak_uss_b @REAL@, pss_from_rss BIGINT NOT NULL,"
	" peak_gpu_mem_b @REAL@, attributed_energy_j @REAL@, PRIMARY KEY (run_id, node, idx))",
	"UPDATE wattprof_meta SET value = '4' WHERE key = 'schema_version'",
};

/* An MPI job's report as libwattprof-mpi makes it (no meter): two nodes'
 * packages, and one region with three ranks' times. */
static void job_report(struct wp_report *r)
{
	static const char *const names[] = { "node-a/package_0", "node-b/package_0" };

	wp_report_init(r);
	r->domains = calloc(2, sizeof *r->domains);
	r->regions = calloc(1, sizeof *r->regions);
	ASSERT(r->domains && r->regions);
	r->domain_count = 2;
	for (size_t i = 0; i < 2; i++) {
		r->domains[i].name = strdup(names[i]);
		r->domains[i].source = strdup("powercap");
		r->domains[i].method = strdup(WP_METHOD_COUNTER);
		r->domains[i].kind = WP_KIND_PACKAGE;
		r->domains[i].in_total = 1;
		r->domains[i].energy_j = 1.5 + (double)i;
	}
	r->total_energy_j = 4;
	r->duration_s = 2;
	r->region_count = 1;
	struct wp_report_region *g = &r->regions[0];
	g->tag = strdup("step");
	g->start_s = 0.25;
	g->duration_s = 1.5;
	g->energy_j = calloc(2, sizeof *g->energy_j);
	g->energy_j[0] = 0.75;
	g->energy_j[1] = 1.25;
	g->rank_count = 3;
	g->ranks = calloc(3, sizeof *g->ranks);
	for (int k = 0; k < 3; k++) {
		g->ranks[k].rank = 2 * k;
		g->ranks[k].node = strdup(k < 2 ? "node-a" : "node-b");
		g->ranks[k].start_s = 0.25 + 0.125 * k;
		g->ranks[k].duration_s = 1.0 + 0.125 * k;
	}
}

/* Stores job_report's report; its id. */
static int64_t store_job_report(struct wp_store *s)
{
	struct wp_report r;
	int64_t id = 0;
	job_report(&r);
	ASSERT_EQ(wp_store_begin(s, NULL, &r, NULL, NULL, &id), 0);
	ASSERT_EQ(wp_store_finish(s, &r), 0);
	wp_report_free(&r);
	return id;
}

/* What store_job_report stored, read back bit for bit. */
static void check_job_report(struct wp_store *s, int64_t id)
{
	struct wp_run *run;
	ASSERT_EQ(wp_store_load(s, id, 0, &run), 0);
	ASSERT_EQ(run->report.region_count, 1);
	const struct wp_report_region *g = &run->report.regions[0];
	ASSERT_STR(g->tag, "step");
	ASSERT_SAME(g->energy_j[1], 1.25);
	ASSERT_EQ(g->rank_count, 3);
	for (int k = 0; k < 3; k++) {
		ASSERT_EQ(g->ranks[k].rank, 2 * k);
		ASSERT_STR(g->ranks[k].node, k < 2 ? "node-a" : "node-b");
		ASSERT_SAME(g->ranks[k].start_s, 0.25 + 0.125 * k);
		ASSERT_SAME(g->ranks[k].duration_s, 1.0 + 0.125 * k);
	}
	wp_run_free(run);
}

/* Opens a schema-4 database: migrated; its region has no ranks; an MPI
 * job's regions are stored with theirs and read back; a rank's row that
 * names no region makes the run fail to load, saying so. */
static void migrates_schema_4(const char *where, const struct wp__db_ops *ops)
{
	struct wp_store *st = NULL;
	struct wp_run *run;
	ASSERT_EQ(wp_store_open(&st, where, WP_STORE_READONLY), WP_ESCHEMA);
	ASSERT_HAS(wp_store_errmsg(st), "has schema 4 and must be updated to 5");
	wp_store_close(st);
	st = must_open(where, 0);
	ASSERT_EQ(wp_store_load(st, 1, 0, &run), 0);
	ASSERT_EQ(run->report.region_count, 1);
	ASSERT_EQ(run->report.regions[0].rank_count, 0);
	ASSERT(run->report.regions[0].ranks == NULL);
	wp_run_free(run);
	int64_t id = store_job_report(st);
	check_job_report(st, id);
	wp_store_close(st);
	char sql[200];
	snprintf(sql, sizeof sql,
	         "INSERT INTO region_ranks (run_id, region, idx, rank, node, start_s, duration_s) "
	         "VALUES (%lld, 4, 0, 1, 'node-a', 0, 1)",
	         (long long)id);
	const char *const bad[] = { sql };
	frozen_script(ops, where, bad, 1);
	st = must_open(where, 0);
	ASSERT_EQ(wp_store_load(st, id, 0, &run), WP_ECORRUPT);
	ASSERT_HAS(wp_store_errmsg(st), "a rank's time in a region names no region");
	ASSERT_EQ(wp_store_remove(st, id), 0); /* and it can still be removed */
	ASSERT_EQ(wp_store_load(st, id, 0, &run), -ENOENT);
	wp_store_close(st);
}

TEST(store_migrates_schema_4_sqlite)
{
	char path[600];
	sqlite_path(path, sizeof path);
	frozen_script(&wp__sqlite_ops, path, schema3, sizeof schema3 / sizeof *schema3);
	frozen_script(&wp__sqlite_ops, path, schema4_after_3,
	              sizeof schema4_after_3 / sizeof *schema4_after_3);
	migrates_schema_4(path, &wp__sqlite_ops);
	return TEST_OK;
}

TEST(store_migrates_schema_4_postgresql)
{
	char schema[64];
	char *url = pg_url(schema, sizeof schema);
	if (!url)
		SKIP_BECAUSE("WATTPROF_TEST_PG is not set: no PostgreSQL server to test against");
	frozen_script(&wp__pg_ops, url, schema3, sizeof schema3 / sizeof *schema3);
	frozen_script(&wp__pg_ops, url, schema4_after_3,
	              sizeof schema4_after_3 / sizeof *schema4_after_3);
	migrates_schema_4(url, &wp__pg_ops);
	pg_drop(schema);
	free(url);
	return TEST_OK;
}

/* A report made by hand (an MPI job's nodes): stored without a meter, its
 * domains the report's; a series needs a meter. */
TEST(store_report_without_meter)
{
	char dir[512], db[600];
	struct wp_store *s;
	struct wp_run *run;

	test_tmpdir(dir, sizeof dir);
	snprintf(db, sizeof db, "%s/r.db", dir);
	ASSERT_EQ(wp_store_open(&s, db, WP_STORE_CREATE), 0);
	int64_t id = store_job_report(s);
	ASSERT_EQ(wp_store_load(s, id, 0, &run), 0);
	ASSERT_EQ(run->report.domain_count, 2);
	ASSERT_STR(run->report.domains[1].name, "node-b/package_0");
	ASSERT_NEAR(run->report.domains[1].energy_j, 2.5, 0);
	ASSERT_NEAR(run->report.total_energy_j, 4, 0);
	ASSERT_NEAR(run->cpu_j, 4, 0);
	ASSERT_STR(run->status, "finished");
	wp_run_free(run);
	check_job_report(s, id);
	/* No domains and no meter: nothing to describe the run with. */
	struct wp_report empty;
	wp_report_init(&empty);
	ASSERT_EQ(wp_store_begin(s, NULL, &empty, NULL, NULL, &id), -EINVAL);
	wp_report_free(&empty);
	wp_store_close(s);
	test_rmtree(dir);
	return 0;
}
