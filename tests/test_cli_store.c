/*
 * test_cli_store.c - the run database through the wattprof command: the
 * real binary storing runs of a simulated powercap tree (steady 20 W package,
 * 3 W DRAM), then `runs`, `report` and `rm` reading them back.
 *
 * In order: runs listed and reported as monitor reported them, in every
 * format; a run whose wattprof was killed; files that are not wattprof's
 * databases, damaged ones, one from a newer wattprof; the default location
 * and not storing; the options that describe a run; the energy attributed
 * to a run's command in the list.  Each test names a database of its own in
 * its temporary folder (--db), but where the default location is the
 * subject.  A database is made or checked from outside with python3's
 * sqlite3 module; without it those checks are skipped, said so.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "sim.h"
#include "test.h"
#include "wattprof/wattprof.h"

/* Constant power, so the truth over any interval is power x duration. */
static const struct sim_zone steady[] = {
	/* 20 W, wraps every 0.25 s (5 J range); assumed peak 50 W. */
	{ "intel-rapl:0", "package-0", 4999999, 20, 0, 0, 25000000, 777 },
	{ "intel-rapl:0:0", "dram", 65712999613, 3, 0, 0, 0, 0 },
};
#define PKG_W 20.0
#define DRAM_W 3.0

/*
 * How far a stored energy may be from the simulation's power x time.  The
 * simulation's writer thread (in the test process, a 0.5 ms tick) can be held
 * back on a loaded 2-core machine for a time slice or more, during which the
 * counter that wattprof reads is stale; that happens at either end of an
 * interval.  2% of a run of one second or more allows 20 ms of such lag in
 * all, while a DRAM figure taken for the package's (3 W for 20 W), a unit
 * slip or a run's figures given for another's are far outside it.  (That
 * the stored figures are those monitor reported is checked exactly.)
 */
#define TRUTH_REL 0.02

#define J_PER_KWH 3.6e6

/* ------------------------------------------------------------ helpers */

/* The run ended on its own, without a signal or a sanitizer's report. */
static void assert_no_crash(const struct cli_run *r)
{
	if (r->signaled)
		TEST_FAIL_("wattprof died of signal %d; its stderr:\n%s", r->status - 128, r->err);
	ASSERT_LACKS(r->err, "Segmentation");
	ASSERT_LACKS(r->err, "Sanitizer");
	ASSERT_LACKS(r->err, "runtime error");
}

static int exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Whether python3 with its sqlite3 module can be run here. */
static int have_python(const char *dir)
{
	char *out = NULL;
	int st = test_shell(dir, &out, "python3 -c 'import sqlite3'");
	free(out);
	return st == 0;
}

/*
 * Runs a python3 script on a database (its path is `db` in the script),
 * with the sqlite3 module imported and `c` a connection to it; fails the
 * test unless it exits 0.  Returns what it printed (malloc'ed).
 */
static char *py_sqlite(const char *dir, const char *db, const char *code)
{
	char script[700], *out = NULL;
	snprintf(script, sizeof script, "%s/script.py", dir);
	test_spitf(script, "import sqlite3, sys\ndb = sys.argv[1]\nc = sqlite3.connect(db)\n%s\n"
	                   "c.commit()\nc.close()\n",
	           code);
	int st = test_shell(dir, &out, "python3 '%s' '%s'", script, db);
	if (st != 0)
		TEST_FAIL_("python3 on '%s' exited with %d:\n%s\nthe script:\n%s", db, st,
		           out ? out : "", code);
	return out;
}

/* The runs of `wattprof runs --format json` (fails the test unless it lists). */
static struct json *list_runs(const char *root, const char *db)
{
	struct cli_run r;
	cli_runl(&r, root, NULL, "runs", "--db", db, "--format", "json", NULL);
	if (r.status != 0)
		TEST_FAIL_("'wattprof runs --db %s' exited with %d:\n%s", db, r.status, r.err);
	struct json *j = json_must_parse(r.out);
	ASSERT_EQ(j->type, J_ARR);
	cli_run_free(&r);
	return j;
}

/* What `wattprof report --db DB --format FORMAT ID` prints (it must succeed). */
static char *report_of(const char *root, const char *db, const char *id, const char *format)
{
	struct cli_run r;
	cli_runl(&r, root, NULL, "report", "--db", db, "--format", format, id, NULL);
	if (r.status != 0)
		TEST_FAIL_("'wattprof report --db %s --format %s %s' exited with %d:\n%s", db,
		           format, id, r.status, r.err);
	char *out = r.out;
	r.out = NULL;
	cli_run_free(&r);
	return out;
}

/* Two files hold the same bytes. */
static void assert_same_file(const char *a, const char *b)
{
	char *x = test_slurp(a), *y = test_slurp(b);
	if (!x || !y)
		TEST_FAIL_("cannot read '%s' or '%s'", a, b);
	if (strcmp(x, y) != 0)
		TEST_FAIL_("'%s' and '%s' differ:\n--- %s\n%s\n--- %s\n%s", a, b, a, x, b, y);
	free(x);
	free(y);
}

/* A CSV document as RFC 4180 writes it: CRLF after every row, quoted fields. */
#define CSV_ROWS 8
#define CSV_COLS 32
struct csv {
	size_t rows;
	size_t cols[CSV_ROWS];
	char *f[CSV_ROWS][CSV_COLS];
};

static void csv_parse(const char *p, struct csv *c)
{
	memset(c, 0, sizeof *c);
	while (*p) {
		if (c->rows == CSV_ROWS)
			TEST_FAIL_("more than %d CSV rows", CSV_ROWS);
		size_t row = c->rows++;
		for (;;) {
			char buf[512];
			size_t n = 0;
			if (*p == '"') {
				for (p++; !(p[0] == '"' && p[1] != '"'); p++) {
					if (!*p)
						TEST_FAIL_("a quoted CSV field does not end");
					if (*p == '"')
						p++; /* "" is one quote */
					if (n + 1 < sizeof buf)
						buf[n++] = *p;
				}
				p++;
			} else {
				for (; *p && *p != ',' && *p != '\r' && *p != '\n' && *p != '"'; p++)
					if (n + 1 < sizeof buf)
						buf[n++] = *p;
			}
			buf[n] = '\0';
			if (c->cols[row] == CSV_COLS)
				TEST_FAIL_("more than %d CSV fields", CSV_COLS);
			c->f[row][c->cols[row]++] = strdup(buf);
			if (*p == ',') {
				p++;
				continue;
			}
			if (p[0] != '\r' || p[1] != '\n')
				TEST_FAIL_("a CSV row does not end in CRLF at: %.40s", p);
			p += 2;
			break;
		}
	}
}

static void csv_free(struct csv *c)
{
	for (size_t r = 0; r < c->rows; r++)
		for (size_t k = 0; k < c->cols[r]; k++)
			free(c->f[r][k]);
}

/* The field of a row under a column's name. */
static const char *csv_get(const struct csv *c, size_t row, const char *name)
{
	for (size_t k = 0; k < c->cols[0]; k++)
		if (!strcmp(c->f[0][k], name)) {
			ASSERT_INT(k, <, c->cols[row]);
			return c->f[row][k];
		}
	TEST_FAIL_("no CSV column '%s'", name);
}

static double csv_num(const struct csv *c, size_t row, const char *name)
{
	const char *s = csv_get(c, row, name);
	char *end;
	double v = strtod(s, &end);
	if (!*s || *end)
		TEST_FAIL_("CSV column '%s' holds '%s', not a number", name, s);
	return v;
}

/* Mean and sample standard deviation of two values. */
static void mean_std2(double a, double b, double *mean, double *std)
{
	*mean = (a + b) / 2;
	*std = fabs(a - b) / sqrt(2.0);
}

static double wall_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* ------------------------------------------------- runs listed, reported */

/* One run's row of `runs --format json` against what monitor reported. */
static void check_listed(const struct json *run, int64_t id, const struct json *report,
                         double t0, double t1)
{
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	struct passwd *pw = getpwuid(geteuid());
	ASSERT_EQ(json_member(run, "id")->num, id);
	ASSERT_STR(json_member(run, "status")->str, "finished");
	ASSERT_EQ(json_member(run, "exit_status")->num, 0);
	ASSERT_STR(json_member(run, "name")->str, "exp");
	ASSERT_STR(json_member(run, "host")->str, host);
	if (pw)
		ASSERT_STR(json_member(run, "user")->str, pw->pw_name);
	ASSERT_STR(json_member(run, "wattprof_version")->str, WP_VERSION_STRING);
	ASSERT_HAS(json_member(run, "platform")->str, "Linux");
	ASSERT_EQ(strlen(json_member(run, "uuid")->str), 36);
	/* Started while the test ran monitor; the date says the same second. */
	double start = json_member(run, "start_unix_ns")->num / 1e9;
	ASSERT(start >= t0 - 0.01 && start <= t1);
	char date[40];
	time_t sec = (time_t)start;
	struct tm tm;
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&sec, &tm));
	ASSERT_STR(json_member(run, "start_time")->str, date);

	/* The figures are those monitor reported... */
	double dur = json_member(run, "duration_s")->num;
	const struct json *e = json_member(run, "energy_j");
	const struct json *doms = json_member(report, "domains");
	ASSERT_EQ(doms->n, 2);
	ASSERT_STR(json_member(&doms->items[0], "name")->str, "package_0");
	ASSERT_STR(json_member(&doms->items[1], "name")->str, "dram_0");
	ASSERT_REL(dur, json_member(report, "duration_s")->num, 1e-12);
	ASSERT_REL(json_member(e, "cpu")->num, json_member(&doms->items[0], "energy_j")->num, 1e-12);
	ASSERT_REL(json_member(e, "dram")->num, json_member(&doms->items[1], "energy_j")->num,
	           1e-12);
	ASSERT_REL(json_member(run, "total_energy_j")->num,
	           json_member(report, "total_energy_j")->num, 1e-12);
	/* ...and the simulation's truth (TRUTH_REL says why that much). */
	ASSERT(dur >= 1 && dur < 4);
	ASSERT_REL(json_member(e, "cpu")->num, PKG_W * dur, TRUTH_REL);
	ASSERT_REL(json_member(e, "dram")->num, DRAM_W * dur, TRUTH_REL);
	ASSERT_EQ(json_member(e, "gpu")->type, J_NULL);
	ASSERT_EQ(json_member(e, "other")->type, J_NULL);
	double total = json_member(run, "total_energy_j")->num;
	ASSERT_REL(total, json_member(e, "cpu")->num + json_member(e, "dram")->num, 1e-12);
	ASSERT_REL(total, (PKG_W + DRAM_W) * dur, TRUTH_REL);
	ASSERT_REL(json_member(run, "total_kwh")->num, total / J_PER_KWH, 1e-12);
}

TEST(cli_store_runs_listed_and_reported)
{
	struct sim s;
	struct cli_run r;
	char dir[512], db[600], r1[600], r2[600], got[600];
	sim_create(&s, steady, 2);
	sim_start(&s, 500000);
	test_tmpdir(dir, sizeof dir);
	snprintf(db, sizeof db, "%s/runs.db", dir);
	snprintf(r1, sizeof r1, "%s/r1.json", dir);
	snprintf(r2, sizeof r2, "%s/r2.txt", dir);

	double t0 = wall_s();
	cli_runl(&r, s.root, NULL, "monitor", "--db", db, "--name", "exp", "--tag", "lr=0.1", "--tag",
	         "seed=7", "--package", "scikit-learn", "--algorithm", "random forest",
	   "--algorithm-params", "n_estimators=100", "--data-type", "tabular", "--data-shape",
	   "1000x20", "--comment", "first \"try\", with\\ a comma", "--format", "json", "-o", r1,
	   "--", "sleep", "1", NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_STR(r.err, ""); /* stored silently: stderr is not a terminal */
	cli_run_free(&r);
	double t1 = wall_s();
	cli_runl(&r, s.root, NULL, "monitor", "--db", db, "--name", "exp", "--tag", "lr=0.1",
	         "--data-type", "tabular", "-o", r2, "--", "sleep", "1", NULL);
	ASSERT_EQ(r.status, 0);
	cli_run_free(&r);
	double t2 = wall_s();

	/* runs --format json: both, as monitor reported them. */
	char *report1 = test_slurp(r1);
	struct json *rep1 = json_must_parse(report1);
	char *report2json = report_of(s.root, db, "2", "json");
	struct json *rep2 = json_must_parse(report2json);
	struct json *runs = list_runs(s.root, db);
	ASSERT_EQ(runs->n, 2);
	check_listed(&runs->items[0], 1, rep1, t0, t1);
	check_listed(&runs->items[1], 2, rep2, t1, t2);
	ASSERT(strcmp(json_member(&runs->items[0], "uuid")->str,
	              json_member(&runs->items[1], "uuid")->str) != 0);
	const struct json *tags = json_member(&runs->items[0], "tags");
	ASSERT_EQ(tags->n, 2);
	ASSERT_STR(json_member(tags, "lr")->str, "0.1");
	ASSERT_STR(json_member(tags, "seed")->str, "7");
	ASSERT_STR(tags->keys[0], "lr"); /* in the order given */
	tags = json_member(&runs->items[1], "tags");
	ASSERT_EQ(tags->n, 1);
	ASSERT_STR(json_member(tags, "lr")->str, "0.1");
	const struct json *d = json_member(&runs->items[0], "description");
	ASSERT_STR(json_member(d, "package")->str, "scikit-learn");
	ASSERT_STR(json_member(d, "algorithm")->str, "random forest");
	ASSERT_STR(json_member(d, "algorithm_params")->str, "n_estimators=100");
	ASSERT_STR(json_member(d, "data_type")->str, "tabular");
	ASSERT_STR(json_member(d, "data_shape")->str, "1000x20");
	ASSERT_STR(json_member(d, "comment")->str, "first \"try\", with\\ a comma");
	d = json_member(&runs->items[1], "description");
	ASSERT_STR(json_member(d, "data_type")->str, "tabular");
	ASSERT_STR(json_member(d, "package")->str, "");
	ASSERT_STR(json_member(d, "comment")->str, "");

	/* runs (text): a header and a row per run, with the same figures. */
	cli_runl(&r, s.root, NULL, "runs", "--db", db, NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_STR(r.err, "");
	size_t lines = 0;
	for (const char *p = r.out; *p; p++)
		lines += *p == '\n';
	ASSERT_EQ(lines, 3);
	ASSERT(strncmp(r.out, "ID  DATE", 8) == 0);
	const char *row = r.out;
	for (size_t i = 0; i < 2; i++) {
		const struct json *run = &runs->items[i];
		row = strchr(row, '\n') + 1;
		char want[64], line[512];
		snprintf(line, sizeof line, "%.*s", (int)(strchr(row, '\n') - row), row);
		snprintf(want, sizeof want, " %zu  ", i + 1);
		ASSERT(strncmp(line, want, strlen(want)) == 0);
		ASSERT_HAS(line, "  exp  ");
		ASSERT_HAS(line, json_member(run, "host")->str);
		snprintf(want, sizeof want, "  %.1f J  ", json_member(run, "total_energy_j")->num);
		ASSERT_HAS(line, want);
		snprintf(want, sizeof want, "  %.6f  ",
		         json_member(run, "total_energy_j")->num / J_PER_KWH);
		ASSERT_HAS(line, want);
		snprintf(want, sizeof want, "  %s  finished", "-"); /* no price: no cost */
		ASSERT_HAS(line, want);
	}
	cli_run_free(&r);

	/* runs --format csv: the same runs, the same numbers. */
	cli_runl(&r, s.root, NULL, "runs", "--db", db, "--format", "csv", NULL);
	ASSERT_EQ(r.status, 0);
	struct csv c;
	csv_parse(r.out, &c);
	ASSERT_EQ(c.rows, 3);
	static const char *const head[] = {
		"id",        "start_time",   "name",         "host",
		"user",      "duration_s",   "cpu_j",        "dram_j",
		"gpu_j",     "other_j",      "total_j",      "total_kwh",
		"pue",       "facility_energy_kwh",          "country",
		"emissions_factor_g_per_kwh", "co2e_g",      "price_factor",
		"price_unit", "cost",        "status",       "exit_status",
		"attributed_energy_j",
	};
	ASSERT_EQ(c.cols[0], 23);
	for (size_t k = 0; k < 23; k++)
		ASSERT_STR(c.f[0][k], head[k]);
	for (size_t i = 0; i < 2; i++) {
		const struct json *run = &runs->items[i];
		const struct json *e = json_member(run, "energy_j");
		ASSERT_EQ(c.cols[i + 1], 23);
		ASSERT_EQ(csv_num(&c, i + 1, "id"), i + 1);
		ASSERT_STR(csv_get(&c, i + 1, "start_time"), json_member(run, "start_time")->str);
		ASSERT_STR(csv_get(&c, i + 1, "name"), "exp");
		ASSERT_STR(csv_get(&c, i + 1, "host"), json_member(run, "host")->str);
		ASSERT_STR(csv_get(&c, i + 1, "user"), json_member(run, "user")->str);
		/* Both print every digit (%.17g): the same doubles. */
		ASSERT(csv_num(&c, i + 1, "duration_s") == json_member(run, "duration_s")->num);
		ASSERT(csv_num(&c, i + 1, "cpu_j") == json_member(e, "cpu")->num);
		ASSERT(csv_num(&c, i + 1, "dram_j") == json_member(e, "dram")->num);
		ASSERT_STR(csv_get(&c, i + 1, "gpu_j"), "");
		ASSERT_STR(csv_get(&c, i + 1, "other_j"), "");
		ASSERT(csv_num(&c, i + 1, "total_j") == json_member(run, "total_energy_j")->num);
		ASSERT(csv_num(&c, i + 1, "total_kwh") == json_member(run, "total_kwh")->num);
		/* No country given: the world average of the shipped table
		 * (437.63 gCO2e/kWh, Ember 2022), PUE 1, no price. */
		double kwh = json_member(run, "total_kwh")->num;
		ASSERT_NEAR(csv_num(&c, i + 1, "co2e_g"), kwh * 437.63, kwh * 1e-9);
		ASSERT_NEAR(csv_num(&c, i + 1, "pue"), 1, 0);
		ASSERT_STR(csv_get(&c, i + 1, "country"), "");
		ASSERT_STR(csv_get(&c, i + 1, "cost"), "");
		ASSERT_STR(csv_get(&c, i + 1, "status"), "finished");
		ASSERT_STR(csv_get(&c, i + 1, "exit_status"), "0");
		/* No attribution: an empty cell, null in JSON. */
		ASSERT_STR(csv_get(&c, i + 1, "attributed_energy_j"), "");
		ASSERT_EQ(json_member(run, "attributed_energy_j")->type, J_NULL);
	}
	csv_free(&c);
	cli_run_free(&r);

	/* report ID: what monitor wrote, byte for byte, to a file or stdout. */
	snprintf(got, sizeof got, "%s/got.json", dir);
	cli_runl(&r, s.root, NULL, "report", "--db", db, "--format", "json", "-o", got, "1", NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_STR(r.out, "");
	ASSERT_STR(r.err, "");
	cli_run_free(&r);
	assert_same_file(got, r1);
	char *text = report_of(s.root, db, "1", "json");
	ASSERT_STR(text, report1);
	free(text);
	snprintf(got, sizeof got, "%s/got.txt", dir);
	cli_runl(&r, s.root, NULL, "report", "--db", db, "-o", got, "2", NULL);
	ASSERT_EQ(r.status, 0);
	cli_run_free(&r);
	assert_same_file(got, r2);
	char *report2 = test_slurp(r2);
	ASSERT_HAS(report2, "wattprof: 'sleep 1' exited with status 0 after ");
	ASSERT_HAS(report2, "package_0  powercap");
	text = report_of(s.root, db, "2", "text");
	ASSERT_STR(text, report2);
	free(text);
	/* last is the second. */
	text = report_of(s.root, db, "last", "json");
	ASSERT_STR(text, report2json);
	ASSERT(strcmp(text, report1) != 0);
	free(text);

	/* The summary: mean and sample standard deviation over the two. */
	cli_runl(&r, s.root, NULL, "runs", "--db", db, "--summary", "--format", "json", NULL);
	ASSERT_EQ(r.status, 0);
	struct json *sum = json_must_parse(r.out);
	cli_run_free(&r);
	ASSERT_EQ(sum->n, 1);
	const struct json *g = &sum->items[0];
	ASSERT_STR(json_member(g, "name")->str, "exp");
	ASSERT_EQ(json_member(g, "runs")->num, 2);
	ASSERT_EQ(json_member(g, "counted")->num, 2);
	double mean, sd;
	mean_std2(json_member(&runs->items[0], "duration_s")->num,
	          json_member(&runs->items[1], "duration_s")->num, &mean, &sd);
	ASSERT_REL(json_member(g, "duration_mean_s")->num, mean, 1e-12);
	ASSERT_NEAR(json_member(g, "duration_std_s")->num, sd, 1e-9 * mean);
	mean_std2(json_member(&runs->items[0], "total_energy_j")->num,
	          json_member(&runs->items[1], "total_energy_j")->num, &mean, &sd);
	ASSERT_REL(json_member(g, "energy_mean_j")->num, mean, 1e-12);
	ASSERT_NEAR(json_member(g, "energy_std_j")->num, sd, 1e-9 * mean);
	ASSERT_REL(json_member(g, "energy_mean_kwh")->num, mean / J_PER_KWH, 1e-12);
	json_free(sum);

	/* Runs of nearly the same energy: the spread is still right (a sum of
	 * squares loses it against the mean's square). */
	snprintf(got, sizeof got, "%s/tight.db", dir);
	char *out = NULL;
	if (test_shell(dir, &out, "cp '%s' '%s'", db, got) != 0)
		TEST_FAIL_("cp: %s", out);
	free(out);
	if (have_python(dir)) {
		free(py_sqlite(dir, got, "c.execute('UPDATE runs SET total_energy_j = "
		                         "1000000 + id / 1000.0')"));
		cli_runl(&r, s.root, NULL, "runs", "--db", got, "--summary", "--format", "json", NULL);
		ASSERT_EQ(r.status, 0);
		sum = json_must_parse(r.out);
		cli_run_free(&r);
		g = &sum->items[0];
		ASSERT_REL(json_member(g, "energy_mean_j")->num, 1000000.0015, 1e-15);
		ASSERT_REL(json_member(g, "energy_std_j")->num, 0.001 / sqrt(2.0), 1e-6);
		json_free(sum);
	} else {
		fprintf(stderr, "  note: python3 with sqlite3 is missing: the spread of runs "
		                "of nearly the same energy is not checked\n");
	}

	/* --name selects; a name without runs lists nothing, and says so. */
	cli_runl(&r, s.root, NULL, "runs", "--db", db, "--name", "other", NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_STR(r.out, "");
	ASSERT_HAS(r.err, "no run stored in '");
	ASSERT_HAS(r.err, "under that name");
	cli_run_free(&r);

	/* rm 1: gone from the list, and report says which run it cannot find. */
	cli_runl(&r, s.root, NULL, "rm", "--db", db, "1", NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_STR(r.err, "");
	cli_run_free(&r);
	json_free(runs);
	runs = list_runs(s.root, db);
	ASSERT_EQ(runs->n, 1);
	ASSERT_EQ(json_member(&runs->items[0], "id")->num, 2);
	cli_runl(&r, s.root, NULL, "report", "--db", db, "1", NULL);
	ASSERT_EQ(r.status, 125);
	ASSERT_STR(r.out, "");
	ASSERT_HAS(r.err, "error: cannot read run 1: no run 1 in '");
	ASSERT_HAS(r.err, db);
	cli_run_free(&r);
	cli_runl(&r, s.root, NULL, "rm", "--db", db, "1", NULL);
	ASSERT_EQ(r.status, 125);
	ASSERT_HAS(r.err, "error: cannot remove run 1: no run 1 in '");
	cli_run_free(&r);
	/* The other run is whole. */
	text = report_of(s.root, db, "2", "json");
	ASSERT_STR(text, report2json);
	free(text);

	json_free(runs);
	json_free(rep1);
	json_free(rep2);
	free(report1);
	free(report2);
	free(report2json);
	test_rmtree(dir);
	sim_destroy(&s);
	return TEST_OK;
}

/* Every format report writes is the one monitor wrote for the same run. */
TEST(cli_store_report_formats_as_monitor_wrote)
{
	static const char *const formats[][2] = {
		{ "csv", NULL }, { "html", NULL }, { "yaml", NULL }, { "json", "--series" },
	};
	struct sim s;
	struct cli_run r;
	char dir[512], db[600];
	sim_create(&s, steady, 2);
	sim_start(&s, 500000);
	test_tmpdir(dir, sizeof dir);
	snprintf(db, sizeof db, "%s/formats.db", dir);
	for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
		const char *fmt = formats[i][0], *series = formats[i][1];
		char mine[600], theirs[600], id[16];
		snprintf(mine, sizeof mine, "%s/monitor.%s", dir, fmt);
		snprintf(theirs, sizeof theirs, "%s/report.%s", dir, fmt);
		snprintf(id, sizeof id, "%zu", i + 1);
		char *argv[16] = { "wattprof", "monitor", "--db", db, "--format", (char *)fmt, "-o",
			           mine };
		size_t n = 8;
		if (series)
			argv[n++] = (char *)series;
		argv[n++] = "--";
		argv[n++] = "sleep";
		argv[n++] = "0.3";
		argv[n] = NULL;
		cli_run(&r, s.root, argv, NULL);
		ASSERT_EQ(r.status, 0);
		cli_run_free(&r);
		cli_runl(&r, s.root, NULL, "report", "--db", db, "--format", fmt, "-o", theirs,
		         series ? series : id, series ? id : NULL, NULL);
		ASSERT_EQ(r.status, 0);
		ASSERT_STR(r.err, "");
		cli_run_free(&r);
		assert_same_file(theirs, mine);
		/* To stdout as well. */
		cli_runl(&r, s.root, NULL, "report", "--db", db, "--format", fmt, series ? series : id,
		         series ? id : NULL, NULL);
		ASSERT_EQ(r.status, 0);
		char *want = test_slurp(mine);
		ASSERT_STR(r.out, want);
		free(want);
		cli_run_free(&r);
	}
	/* The samples were compared too: 0.3 s at 20 Hz or more. */
	char path[700];
	snprintf(path, sizeof path, "%s/monitor.csv", dir);
	char *csv = test_slurp(path);
	size_t samples = 0;
	for (const char *p = csv; (p = strstr(p, ",package_0,power_w,")); p++)
		samples++;
	ASSERT_INT(samples, >=, 5);
	free(csv);
	test_rmtree(dir);
	sim_destroy(&s);
	return TEST_OK;
}

/* ------------------------------------------------------ a killed run */

TEST(cli_store_killed_run_unfinished)
{
	struct sim s;
	struct cli_run r, m;
	char dir[512], db[600], first[600], pidfile[600], script[1400];
	sim_create(&s, steady, 2);
	sim_start(&s, 500000);
	test_tmpdir(dir, sizeof dir);
	snprintf(db, sizeof db, "%s/killed.db", dir);
	snprintf(first, sizeof first, "%s/first.json", dir);
	snprintf(pidfile, sizeof pidfile, "%s/pid", dir);

	/* A finished run first, which the killed one must leave as it is. */
	cli_runl(&r, s.root, NULL, "monitor", "--db", db, "--format", "json", "-o", first, "--", "sleep",
	         "0.3", NULL);
	ASSERT_EQ(r.status, 0);
	cli_run_free(&r);

	/* The command says its pid, so that it can be ended once wattprof is
	 * killed (it outlives its parent). */
	snprintf(script, sizeof script, "echo $$ > %s.tmp && mv %s.tmp %s && exec sleep 30",
	         pidfile, pidfile, pidfile);
	char *argv[] = { "wattprof", "monitor", "--db", db, "--", "sh", "-c", script, NULL };
	double t0 = wall_s();
	cli_run_start(&m, s.root, argv, NULL);
	test_wait_for_file(pidfile);
	/*
	 * Samples are synced every second, of those flushed every 0.5 s: wait
	 * until the running run shows one second or more stored (read as
	 * another process would, while it is written), rather than for a fixed
	 * time that a loaded machine could stretch.
	 */
	double stored = 0;
	for (int i = 0; stored < 1; i++) {
		if (i == 75)
			TEST_FAIL_("after 15 s, the running run has %.3f s stored", stored);
		test_sleep_ms(200);
		struct json *runs = list_runs(s.root, db);
		ASSERT_EQ(runs->n, 2);
		const struct json *run = &runs->items[1];
		ASSERT_STR(json_member(run, "status")->str, "running");
		ASSERT_EQ(json_member(run, "exit_status")->type, J_NULL);
		if (json_member(run, "duration_s")->type == J_NUM)
			stored = json_member(run, "duration_s")->num;
		json_free(runs);
	}
	/* report shows it as far as it is stored, and says it runs on. */
	char *text = report_of(s.root, db, "2", "text");
	ASSERT_HAS(text, "warning: this run is still running: its figures cover its first ");
	ASSERT_LACKS(text, "nan");
	free(text);

	ASSERT_EQ(kill(m.pid, SIGKILL), 0);
	cli_run_wait(&m); /* reaped: its pid no longer answers */
	double elapsed = wall_s() - t0;
	ASSERT_EQ(m.status, 128 + SIGKILL);
	char *pidtext = test_slurp(pidfile);
	ASSERT(pidtext);
	ASSERT_EQ(kill((pid_t)atoi(pidtext), SIGKILL), 0);
	free(pidtext);
	cli_run_free(&m);

	/* What the kill left is a sound database. */
	if (have_python(dir)) {
		char *ok = py_sqlite(dir, db, "print(c.execute('PRAGMA integrity_check').fetchone()[0])");
		ASSERT_STR(ok, "ok\n");
		free(ok);
	} else {
		fprintf(stderr, "  note: python3 with sqlite3 is missing: PRAGMA integrity_check "
		                "not run on the killed run's database\n");
	}

	struct json *runs = list_runs(s.root, db);
	ASSERT_EQ(runs->n, 2);
	const struct json *run = &runs->items[1];
	ASSERT_STR(json_member(run, "status")->str, "unfinished");
	ASSERT_EQ(json_member(run, "exit_status")->type, J_NULL);
	/* Its figures end at the last sample stored: at least what was seen
	 * stored, at most until the kill. */
	double dur = json_member(run, "duration_s")->num;
	ASSERT(dur >= stored);
	ASSERT(dur >= 1 && dur <= elapsed);
	const struct json *e = json_member(run, "energy_j");
	/* Energy and time of that sample come from one snapshot: the truth
	 * over that time, within TRUTH_REL (said why there). */
	ASSERT_REL(json_member(e, "cpu")->num, PKG_W * dur, TRUTH_REL);
	ASSERT_REL(json_member(e, "dram")->num, DRAM_W * dur, TRUTH_REL);
	ASSERT_REL(json_member(run, "total_energy_j")->num,
	           json_member(e, "cpu")->num + json_member(e, "dram")->num, 1e-12);
	/* The run before it is untouched. */
	ASSERT_STR(json_member(&runs->items[0], "status")->str, "finished");
	char *want = test_slurp(first);
	text = report_of(s.root, db, "1", "json");
	ASSERT_STR(text, want);
	free(text);
	free(want);

	/* report says it did not finish, as text and as JSON. */
	text = report_of(s.root, db, "2", "text");
	ASSERT_HAS(text, "warning: this run did not finish (its wattprof was killed");
	ASSERT_HAS(text, "exit status unknown");
	free(text);
	text = report_of(s.root, db, "2", "json");
	struct json *j = json_must_parse(text);
	ASSERT(json_member(j, "duration_s")->num == dur);
	const struct json *w = json_member(j, "warnings");
	ASSERT_INT(w->n, >=, 1);
	ASSERT_HAS(w->items[w->n - 1].str, "did not finish");
	json_free(j);
	free(text);

	/* The database takes new runs after it. */
	cli_runl(&r, s.root, NULL, "monitor", "--db", db, "--", "true", NULL);
	ASSERT_EQ(r.status, 0);
	cli_run_free(&r);
	json_free(runs);
	runs = list_runs(s.root, db);
	ASSERT_EQ(runs->n, 3);
	ASSERT_STR(json_member(&runs->items[2], "status")->str, "finished");
	ASSERT_STR(json_member(&runs->items[1], "status")->str, "unfinished");
	json_free(runs);
	test_rmtree(dir);
	sim_destroy(&s);
	return TEST_OK;
}

/* ------------------------------------------------------ bad databases */

/* runs and report on a damaged database: an error or a result, no crash. */
static void read_damaged(const char *root, const char *db, const char *what)
{
	static const char *const reads[][5] = {
		{ "runs", NULL },
		{ "runs", "--summary", NULL },
		{ "report", "1", NULL },
		{ "report", "last", NULL },
		{ "report", "--format", "csv", "last", NULL },
		{ "report", "--format", "json", "--series", "1" },
	};
	for (size_t i = 0; i < sizeof reads / sizeof *reads; i++) {
		char *argv[12] = { "wattprof", (char *)reads[i][0], "--db", (char *)db };
		size_t n = 4;
		for (size_t k = 1; k < 5 && reads[i][k]; k++)
			argv[n++] = (char *)reads[i][k];
		argv[n] = NULL;
		struct cli_run r;
		cli_run(&r, root, argv, NULL);
		assert_no_crash(&r);
		if (r.status != 0 && r.status != 125)
			TEST_FAIL_("'wattprof %s' on %s exited with %d:\n%s", reads[i][0], what,
			           r.status, r.err);
		if (r.status == 125)
			ASSERT_HAS(r.err, "error: ");
		cli_run_free(&r);
	}
}

TEST(cli_store_bad_databases)
{
	struct sim s;
	struct cli_run r;
	char dir[512], path[600], marker[600], good[600];
	sim_create(&s, steady, 2);
	sim_start(&s, 500000);
	test_tmpdir(dir, sizeof dir);
	snprintf(marker, sizeof marker, "%s/ran", dir);

	/* A text file: monitor refuses before running anything, and leaves
	 * the file as it was. */
	static const char garbage[] = "these are my notes, not a database\n";
	snprintf(path, sizeof path, "%s/notes.txt", dir);
	test_spit(path, garbage);
	cli_runl(&r, s.root, NULL, "monitor", "--db", path, "--", "touch", marker, NULL);
	assert_no_crash(&r);
	ASSERT_EQ(r.status, 125);
	ASSERT_HAS(r.err, "error: '");
	ASSERT_HAS(r.err, path);
	ASSERT_HAS(r.err, "is not a usable SQLite database");
	ASSERT(!exists(marker));
	cli_run_free(&r);
	char *still = test_slurp(path);
	ASSERT_STR(still, garbage);
	free(still);
	static const char *const readers[][3] = { { "runs", NULL }, { "report", "1" },
		                                  { "report", "last" }, { "rm", "1" } };
	for (size_t i = 0; i < 4; i++) {
		char *argv[] = { "wattprof", (char *)readers[i][0], "--db", path,
			         (char *)readers[i][1], NULL };
		cli_run(&r, s.root, argv, NULL);
		assert_no_crash(&r);
		ASSERT_EQ(r.status, 125);
		ASSERT_HAS(r.err, "is not a usable SQLite database");
		ASSERT_HAS(r.err, path);
		cli_run_free(&r);
	}
	still = test_slurp(path);
	ASSERT_STR(still, garbage);
	free(still);

	/* No database there: said, with what to do, and none is made. */
	snprintf(path, sizeof path, "%s/nonexistent.db", dir);
	cli_runl(&r, s.root, NULL, "report", "--db", path, "1", NULL);
	ASSERT_EQ(r.status, 125);
	ASSERT_HAS(r.err, "error: no run database at '");
	ASSERT_HAS(r.err, path);
	ASSERT_HAS(r.err, "hint: 'wattprof monitor' stores every run there");
	cli_run_free(&r);
	cli_runl(&r, s.root, NULL, "runs", "--db", path, NULL);
	ASSERT_EQ(r.status, 125);
	ASSERT_HAS(r.err, "error: no run database at '");
	cli_run_free(&r);
	ASSERT(!exists(path));

	/* A run id that is not one is a usage error, whatever the database. */
	static const char *const bad_ids[] = { "abc", "0", "1x", "", "99999999999999999999" };
	for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++) {
		cli_runl(&r, s.root, NULL, "report", "--db", path, bad_ids[i], NULL);
		ASSERT_EQ(r.status, 2);
		ASSERT_HAS(r.err, "error: invalid run id '");
		ASSERT_HAS(r.err, "hint: 'wattprof runs' lists the stored runs");
		cli_run_free(&r);
		cli_runl(&r, s.root, NULL, "rm", "--db", path, "1", bad_ids[i], NULL);
		ASSERT_EQ(r.status, 2);
		ASSERT_HAS(r.err, "error: invalid run id '");
		cli_run_free(&r);
	}
	ASSERT(!exists(path));

	/* A good database, with runs whose samples span several syncs. */
	snprintf(good, sizeof good, "%s/good.db", dir);
	for (int i = 0; i < 3; i++) {
		cli_runl(&r, s.root, NULL, "monitor", "--db", good, "--name", "damage", "-f", "200", "--",
		         "sleep", i ? "0.2" : "1.2", NULL);
		ASSERT_EQ(r.status, 0);
		cli_run_free(&r);
	}
	read_damaged(s.root, good, "the good database"); /* the check itself */
	cli_runl(&r, s.root, NULL, "report", "--db", good, "--format", "csv", "1", NULL);
	ASSERT_EQ(r.status, 0);
	cli_run_free(&r);

	/* Cut to half its size, or with bytes overwritten here and there. */
	struct stat st;
	ASSERT_EQ(stat(good, &st), 0);
	ASSERT_INT(st.st_size, >=, 8 * 4096); /* every write was checkpointed at close */
	snprintf(path, sizeof path, "%s/damaged.db", dir);
	for (int k = 0; k <= 8; k++) {
		char *out = NULL;
		if (test_shell(dir, &out, "cp '%s' '%s'", good, path) != 0)
			TEST_FAIL_("cp: %s", out);
		free(out);
		int fd = open(path, O_WRONLY);
		ASSERT_INT(fd, >=, 0);
		char what[80];
		if (k == 0) {
			ASSERT_EQ(ftruncate(fd, st.st_size / 2), 0);
			snprintf(what, sizeof what, "the database cut to half its size");
		} else {
			/* 1 KiB of pseudo-random bytes at k/9 of the file. */
			unsigned char junk[1024];
			uint32_t x = 2463534242u * (uint32_t)k;
			for (size_t b = 0; b < sizeof junk; b++) {
				x ^= x << 13, x ^= x >> 17, x ^= x << 5;
				junk[b] = (unsigned char)x;
			}
			off_t at = st.st_size * k / 9;
			ASSERT_EQ(pwrite(fd, junk, sizeof junk, at), (ssize_t)sizeof junk);
			snprintf(what, sizeof what, "the database overwritten at byte %lld",
			         (long long)at);
		}
		close(fd);
		read_damaged(s.root, path, what);
	}

	if (!have_python(dir)) {
		test_rmtree(dir);
		sim_destroy(&s);
		SKIP_BECAUSE("python3 with sqlite3 is missing: foreign, altered and newer "
		             "databases cannot be made (the checks above passed)");
	}

	/* Another program's SQLite database: not wattprof's, left alone. */
	snprintf(path, sizeof path, "%s/foreign.db", dir);
	free(py_sqlite(dir, path, "c.execute('CREATE TABLE foo (x)')"));
	static const char *const users[][3] = { { "runs", NULL }, { "report", "1" }, { "rm", "1" } };
	for (size_t i = 0; i < 3; i++) {
		char *argv[] = { "wattprof", (char *)users[i][0], "--db", path,
			         (char *)users[i][1], NULL };
		cli_run(&r, s.root, argv, NULL);
		assert_no_crash(&r);
		ASSERT_EQ(r.status, 125);
		ASSERT_HAS(r.err, "is not a wattprof database");
		ASSERT_HAS(r.err, path);
		cli_run_free(&r);
	}
	cli_runl(&r, s.root, NULL, "monitor", "--db", path, "--", "touch", marker, NULL);
	ASSERT_EQ(r.status, 125);
	ASSERT_HAS(r.err, "is not a wattprof database");
	ASSERT(!exists(marker));
	cli_run_free(&r);
	char *tables = py_sqlite(dir, path,
	                         "print(c.execute(\"SELECT group_concat(name) FROM sqlite_master "
	                         "WHERE type = 'table'\").fetchone()[0])");
	ASSERT_STR(tables, "foo\n");
	free(tables);

	/* From a newer wattprof: said so, and not written to. */
	snprintf(path, sizeof path, "%s/newer.db", dir);
	char *out = NULL;
	if (test_shell(dir, &out, "cp '%s' '%s'", good, path) != 0)
		TEST_FAIL_("cp: %s", out);
	free(out);
	free(py_sqlite(dir, path,
	               "c.execute(\"UPDATE wattprof_meta SET value = '99' "
	               "WHERE key = 'schema_version'\")"));
	static const char *const newer[][3] = { { "runs", NULL }, { "report", "1" },
		                                { "rm", "1" } };
	for (size_t i = 0; i < 3; i++) {
		char *argv[] = { "wattprof", (char *)newer[i][0], "--db", path,
			         (char *)newer[i][1], NULL };
		cli_run(&r, s.root, argv, NULL);
		ASSERT_EQ(r.status, 125);
		ASSERT_HAS(r.err, "was written by a newer wattprof (schema 99;");
		ASSERT_HAS(r.err, "upgrade wattprof");
		cli_run_free(&r);
	}
	cli_runl(&r, s.root, NULL, "monitor", "--db", path, "--", "touch", marker, NULL);
	ASSERT_EQ(r.status, 125);
	ASSERT_HAS(r.err, "was written by a newer wattprof");
	ASSERT(!exists(marker));
	cli_run_free(&r);
	char *count = py_sqlite(dir, path, "print(c.execute('SELECT count(*) FROM runs').fetchone()[0])");
	ASSERT_STR(count, "3\n");
	free(count);

	/* Rows that SQLite reads well but that no wattprof wrote: the run is
	 * refused with the reason, the others still listed. */
	static const struct {
		const char *sql, *error;
		int listed; /* runs still lists run 1 */
	} altered[] = {
		{ "UPDATE chunks SET data = substr(data, 1, 12) WHERE run_id = 1",
		  "the samples stored from row", 1 },
		{ "DELETE FROM chunks WHERE run_id = 1 AND first_row = 0",
		  "the samples stored from row 0", 1 },
		{ "UPDATE runs SET status = 'exploded' WHERE id = 1", "impossible status", 0 },
		{ "UPDATE domains SET kind = 99 WHERE run_id = 1", "of an unknown kind", 0 },
		{ "UPDATE domains SET idx = 7 WHERE run_id = 1 AND idx = 0", "domain 0 is missing", 0 },
		{ "UPDATE runs SET name = x'ff00fe' WHERE id = 1", NULL, 1 },
		{ "UPDATE runs SET duration_s = 'long' WHERE id = 1", NULL, 1 },
		{ "UPDATE domains SET attribution_method = 'cpu_time' WHERE run_id = 1",
		  "has impossible attribution", 0 },
	};
	for (size_t i = 0; i < sizeof altered / sizeof *altered; i++) {
		snprintf(path, sizeof path, "%s/altered.db", dir);
		unlink(path);
		if (test_shell(dir, &out, "cp '%s' '%s'", good, path) != 0)
			TEST_FAIL_("cp: %s", out);
		free(out);
		char code[400];
		snprintf(code, sizeof code, "c.execute(\"%s\")", altered[i].sql);
		free(py_sqlite(dir, path, code));
		read_damaged(s.root, path, altered[i].sql);
		cli_runl(&r, s.root, NULL, "report", "--db", path, "--format", "csv", "1", NULL);
		assert_no_crash(&r);
		if (altered[i].error) {
			ASSERT_EQ(r.status, 125);
			ASSERT_HAS(r.err, "error: cannot read run 1: run 1 in '");
			ASSERT_HAS(r.err, altered[i].error);
		}
		cli_run_free(&r);
		/* One bad run does not hide the others. */
		cli_runl(&r, s.root, NULL, "runs", "--db", path, "--format", "json", NULL);
		assert_no_crash(&r);
		struct json *runs = json_must_parse(r.out);
		ASSERT_EQ(runs->n, altered[i].listed ? 3 : 2);
		ASSERT_EQ(json_member(&runs->items[runs->n - 1], "id")->num, 3);
		json_free(runs);
		ASSERT_EQ(r.status, altered[i].listed ? 0 : 125);
		cli_run_free(&r);
	}
	test_rmtree(dir);
	sim_destroy(&s);
	return TEST_OK;
}

/* ------------------------------------------------------- attribution */

/*
 * The energy attributed to a run's command, in `runs`' CSV and JSON: a run
 * given an attribution behind wattprof's back (as a wattprof that attributes
 * stores it: schema 4), beside one without.
 */
TEST(cli_store_runs_attributed)
{
	struct sim s;
	struct cli_run r;
	char dir[512], db[600];
	sim_create(&s, steady, 2);
	sim_start(&s, 500000);
	test_tmpdir(dir, sizeof dir);
	if (!have_python(dir)) {
		test_rmtree(dir);
		sim_destroy(&s);
		SKIP_BECAUSE("python3 with sqlite3 is missing: no attribution can be stored");
	}
	snprintf(db, sizeof db, "%s/runs.db", dir);
	for (int i = 0; i < 2; i++) {
		cli_runl(&r, s.root, NULL, "monitor", "--db", db, "-o", "/dev/null", "--", "sleep",
		         "0.2", NULL);
		ASSERT_EQ(r.status, 0);
		cli_run_free(&r);
	}
	free(py_sqlite(dir, db,
	               "c.execute('UPDATE runs SET attributed = 1, attribution_root_pid = 4242, "
	               "attributed_total_j = 1.25, attributed_cpu_time_s = 0.5, process_count = 1 "
	               "WHERE id = 1')\n"
	               "c.execute(\"UPDATE domains SET attributed_energy_j = 1.0, "
	               "attribution_method = 'cpu_time' WHERE run_id = 1 AND idx = 0\")\n"
	               "c.execute(\"UPDATE domains SET attributed_energy_j = 0.25, "
	               "attribution_method = 'memory_pss' WHERE run_id = 1 AND idx = 1\")\n"
	               "c.execute(\"INSERT INTO processes VALUES (1, 0, 0, 4242, 1, "
	               "CAST('sleep 0.2' AS BLOB), 0.0, 0.2, 1, 0.001, 1e6, 5e5, 2e5, 0, NULL, "
	               "1.25)\")"));
	struct json *runs = list_runs(s.root, db);
	ASSERT_EQ(runs->n, 2);
	ASSERT_EQ(json_member(&runs->items[0], "attributed_energy_j")->type, J_NUM);
	ASSERT(json_member(&runs->items[0], "attributed_energy_j")->num == 1.25);
	ASSERT_EQ(json_member(&runs->items[1], "attributed_energy_j")->type, J_NULL);
	json_free(runs);
	cli_runl(&r, s.root, NULL, "runs", "--db", db, "--format", "csv", NULL);
	ASSERT_EQ(r.status, 0);
	struct csv c;
	csv_parse(r.out, &c);
	ASSERT_EQ(c.rows, 3);
	ASSERT_STR(c.f[0][c.cols[0] - 1], "attributed_energy_j"); /* the last column */
	ASSERT(csv_num(&c, 1, "attributed_energy_j") == 1.25);
	ASSERT_STR(csv_get(&c, 2, "attributed_energy_j"), "");
	csv_free(&c);
	cli_run_free(&r);
	/* Its report is read, in every format. */
	static const char *const formats[] = { "text", "json", "csv", "yaml", "html" };
	for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
		free(report_of(s.root, db, "1", formats[i]));
	test_rmtree(dir);
	sim_destroy(&s);
	return TEST_OK;
}

/* ------------------------------------------- default place, not storing */

TEST(cli_store_default_location_and_no_store)
{
	struct sim s;
	struct cli_run r;
	char dir[512], cwd[600], path[700], marker[700];
	static const char *const no_env[] = { "WATTPROF_DATABASE", NULL };
	sim_create(&s, steady, 2);
	test_tmpdir(dir, sizeof dir);

	/* ./wattprof_results/wattprof.db, made with its folder. */
	snprintf(cwd, sizeof cwd, "%s/default", dir);
	test_mkdirs(cwd);
	ASSERT_EQ(chdir(cwd), 0);
	cli_runl(&r, s.root, no_env, "monitor", "--name", "here", "--", "true", NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_LACKS(r.err, "warning");
	cli_run_free(&r);
	ASSERT(exists("wattprof_results/wattprof.db"));
	cli_runl(&r, s.root, no_env, "runs", "--format", "json", NULL);
	ASSERT_EQ(r.status, 0);
	struct json *runs = json_must_parse(r.out);
	ASSERT_EQ(runs->n, 1);
	ASSERT_STR(json_member(&runs->items[0], "name")->str, "here");
	ASSERT_STR(json_member(&runs->items[0], "status")->str, "finished");
	json_free(runs);
	cli_run_free(&r);
	cli_runl(&r, s.root, no_env, "report", "last", NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_HAS(r.out, "wattprof: 'true' exited with status 0");
	cli_run_free(&r);

	/* WATTPROF_DATABASE names another; --db wins over it. */
	snprintf(path, sizeof path, "%s/env.db", dir);
	char env_db[720];
	snprintf(env_db, sizeof env_db, "WATTPROF_DATABASE=%s", path);
	const char *const with_env[] = { env_db, NULL };
	cli_runl(&r, s.root, with_env, "monitor", "--", "true", NULL);
	ASSERT_EQ(r.status, 0);
	cli_run_free(&r);
	ASSERT(exists(path));
	runs = list_runs(s.root, path);
	ASSERT_EQ(runs->n, 1);
	json_free(runs);
	cli_runl(&r, s.root, with_env, "monitor", "--db", "given.db", "--", "true", NULL);
	ASSERT_EQ(r.status, 0);
	cli_run_free(&r);
	ASSERT(exists("given.db"));
	runs = list_runs(s.root, path);
	ASSERT_EQ(runs->n, 1);
	json_free(runs);

	/* Where the folder cannot be made, the run is measured and not stored:
	 * `wattprof_results` a file (which stops root as well), and, when not
	 * root, a read-only folder (root writes there anyway). */
	snprintf(cwd, sizeof cwd, "%s/blocked", dir);
	test_mkdirs(cwd);
	ASSERT_EQ(chdir(cwd), 0);
	test_spit("wattprof_results", "not a folder\n");
	for (int ro = 0; ro < 2; ro++) {
		if (ro) {
			if (geteuid() == 0) {
				fprintf(stderr, "  note: running as root, which writes into a mode "
				                "555 folder: its case is not checked\n");
				break;
			}
			snprintf(cwd, sizeof cwd, "%s/readonly", dir);
			test_mkdirs(cwd);
			ASSERT_EQ(chdir(cwd), 0);
			ASSERT_EQ(chmod(cwd, 0555), 0);
		}
		snprintf(marker, sizeof marker, "%s/ran", dir);
		unlink(marker);
		cli_runl(&r, s.root, no_env, "monitor", "--", "touch", marker, NULL);
		ASSERT_EQ(r.status, 0);
		ASSERT(exists(marker));
		ASSERT_HAS(r.err, "warning: this run will not be stored: ");
		ASSERT_HAS(r.err, "wattprof_results/wattprof.db");
		ASSERT_HAS(r.err, "hint: give a database with --db, or --no-store");
		ASSERT_HAS(r.err, "exited with status 0"); /* the report follows */
		cli_run_free(&r);
		if (ro) {
			ASSERT(!exists("wattprof_results"));
			chmod(cwd, 0755);
		} else {
			char *still = test_slurp("wattprof_results");
			ASSERT_STR(still, "not a folder\n");
			free(still);
		}
	}

	/* --no-store, or WATTPROF_STORE=no, stores nothing. */
	snprintf(cwd, sizeof cwd, "%s/nostore", dir);
	test_mkdirs(cwd);
	ASSERT_EQ(chdir(cwd), 0);
	cli_runl(&r, s.root, no_env, "monitor", "--no-store", "--", "true", NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_LACKS(r.err, "stored");
	cli_run_free(&r);
	ASSERT(!exists("wattprof_results"));
	static const char *const off[] = { "WATTPROF_DATABASE", "WATTPROF_STORE=no", NULL };
	cli_runl(&r, s.root, off, "monitor", "--", "true", NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_LACKS(r.err, "stored");
	cli_run_free(&r);
	ASSERT(!exists("wattprof_results"));
	/* ...unless a database is named: --db overrides the variable. */
	cli_runl(&r, s.root, off, "monitor", "--db", "named.db", "--", "true", NULL);
	ASSERT_EQ(r.status, 0);
	cli_run_free(&r);
	ASSERT(exists("named.db"));
	static const char *const on[] = { "WATTPROF_DATABASE", "WATTPROF_STORE=yes", NULL };
	cli_runl(&r, s.root, on, "monitor", "--", "true", NULL);
	ASSERT_EQ(r.status, 0);
	cli_run_free(&r);
	ASSERT(exists("wattprof_results/wattprof.db"));

	/* --db with --no-store, in either order: refused, nothing run or made. */
	snprintf(marker, sizeof marker, "%s/ran2", dir);
	for (int order = 0; order < 2; order++) {
		const char *a = order ? "--no-store" : "--db", *b = order ? "--db" : "x.db",
		           *c = order ? "x.db" : "--no-store";
		cli_runl(&r, s.root, no_env, "monitor", a, b, c, "--", "touch", marker, NULL);
		ASSERT_EQ(r.status, 125);
		ASSERT_HAS(r.err, "error: '--db' and '--no-store' contradict each other");
		cli_run_free(&r);
		ASSERT(!exists(marker));
		ASSERT(!exists("x.db"));
	}
	ASSERT_EQ(chdir("/"), 0);
	test_rmtree(dir);
	sim_destroy(&s);
	return TEST_OK;
}

/* ------------------------------------------ options that describe a run */

TEST(cli_store_description_options)
{
	struct sim s;
	struct cli_run r;
	char dir[512], db[600], marker[600];
	sim_create(&s, steady, 2);
	test_tmpdir(dir, sizeof dir);
	snprintf(db, sizeof db, "%s/options.db", dir);
	snprintf(marker, sizeof marker, "%s/ran", dir);

	static const struct {
		const char *args[4];
		const char *error, *hint;
	} cases[] = {
		{ { "--tag", "novalue" }, "error: invalid tag 'novalue'", "give KEY=VALUE" },
		{ { "--tag", "=x" }, "error: invalid tag '=x'", "give KEY=VALUE" },
		{ { "--tag", "a b=1" }, "error: invalid tag 'a b=1'", "letters, digits" },
		{ { "--tag", "" }, "error: invalid tag ''", NULL },
		{ { "--tag", "lr=1", "--tag", "lr=2" }, "error: tag 'lr' given twice", NULL },
		{ { "--data-type", "video" }, "error: invalid data type 'video'",
		  "use one of: tabular, image, text, 'time series', other" },
		{ { "--data-type", "" }, "error: empty data type", NULL },
		{ { "--tag" }, "error: option '--tag' needs a value", NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *argv[16] = { "wattprof", "monitor", "--db", db };
		size_t n = 4;
		for (size_t k = 0; k < 4 && cases[i].args[k]; k++)
			argv[n++] = (char *)cases[i].args[k];
		if (cases[i].args[1]) { /* else the option is left without its value */
			argv[n++] = "--";
			argv[n++] = "touch";
			argv[n++] = marker;
		}
		argv[n] = NULL;
		cli_run(&r, s.root, argv, NULL);
		/* monitor's own failures are 125, its command's status stays apart. */
		ASSERT_EQ(r.status, 125);
		ASSERT_HAS(r.err, cases[i].error);
		if (cases[i].hint)
			ASSERT_HAS(r.err, cases[i].hint);
		ASSERT(!exists(marker));
		ASSERT(!exists(db)); /* refused before the database is made */
		cli_run_free(&r);
	}

	/* What is allowed: '=' in a value, an empty value, "time series". */
	cli_runl(&r, s.root, NULL, "monitor", "--db", db, "--tag", "expr=a=b", "--tag", "empty=",
	         "--tag", "v1.2_x-y=ok", "--data-type", "time series", "--", "true", NULL);
	ASSERT_EQ(r.status, 0);
	cli_run_free(&r);
	struct json *runs = list_runs(s.root, db);
	ASSERT_EQ(runs->n, 1);
	const struct json *tags = json_member(&runs->items[0], "tags");
	ASSERT_EQ(tags->n, 3);
	ASSERT_STR(json_member(tags, "expr")->str, "a=b");
	ASSERT_STR(json_member(tags, "empty")->str, "");
	ASSERT_STR(json_member(tags, "v1.2_x-y")->str, "ok");
	ASSERT_STR(json_member(json_member(&runs->items[0], "description"), "data_type")->str,
	           "time series");
	ASSERT_STR(json_member(&runs->items[0], "name")->str, "");
	json_free(runs);

	/* Any bytes in a description still list as JSON (a strict reader's):
	 * UTF-8 kept, other bytes replaced, control characters escaped. */
	cli_runl(&r, s.root, NULL, "monitor", "--db", db, "--name", "caf\xc3\xa9 \xe2\x98\x95",
	         "--comment", "latin-1 caf\xe9, cut \xe2\x98, \"quoted\"\ttab\nline\x01",
	   "--tag", "k=\xff", "--", "true", NULL);
	ASSERT_EQ(r.status, 0);
	cli_run_free(&r);
	runs = list_runs(s.root, db);
	ASSERT_EQ(runs->n, 2);
	const struct json *run = &runs->items[1];
	ASSERT_STR(json_member(run, "name")->str, "caf\xc3\xa9 \xe2\x98\x95");
	ASSERT_STR(json_member(json_member(run, "description"), "comment")->str,
	           "latin-1 caf\xef\xbf\xbd, cut \xef\xbf\xbd\xef\xbf\xbd, "
	           "\"quoted\"\ttab\nline\x01");
	ASSERT_STR(json_member(json_member(run, "tags"), "k")->str, "\xef\xbf\xbd");
	json_free(runs);

	/* runs and report: their own usage errors. */
	cli_runl(&r, s.root, NULL, "runs", "--db", db, "--format", "xml", NULL);
	ASSERT_EQ(r.status, 2);
	ASSERT_HAS(r.err, "error: unknown format 'xml'");
	cli_run_free(&r);
	cli_runl(&r, s.root, NULL, "runs", "--db", db, "7", NULL);
	ASSERT_EQ(r.status, 2);
	ASSERT_HAS(r.err, "error: unexpected argument '7'");
	cli_run_free(&r);
	cli_runl(&r, s.root, NULL, "report", "--db", db, NULL);
	ASSERT_EQ(r.status, 2);
	ASSERT_HAS(r.err, "error: no run id given");
	cli_run_free(&r);
	cli_runl(&r, s.root, NULL, "report", "--db", db, "1", "2", NULL);
	ASSERT_EQ(r.status, 2);
	ASSERT_HAS(r.err, "error: one run id at a time");
	cli_run_free(&r);
	cli_runl(&r, s.root, NULL, "report", "--db", db, "--format", "text", "--series", "1", NULL);
	ASSERT_EQ(r.status, 2);
	ASSERT_HAS(r.err, "error: '--series' needs '--format json' or '--format yaml'");
	cli_run_free(&r);
	cli_runl(&r, s.root, NULL, "rm", "--db", db, NULL);
	ASSERT_EQ(r.status, 2);
	ASSERT_HAS(r.err, "error: no run id given");
	cli_run_free(&r);
	test_rmtree(dir);
	sim_destroy(&s);
	return TEST_OK;
}
