/*
 * store.c - the run store: one schema, written and read through a database
 * driver (db.h): SQLite by default, PostgreSQL for a team.
 *
 * A run is written in three steps, each one transaction:
 *   wp_store_begin   the run's row (status 'running'), its command, tags,
 *                    node, domains (totals still NULL) and reading columns;
 *   wp_store_sync    the series' rows that reached its file since the last
 *                    call, as chunks (little-endian doubles, row-major), and
 *                    the run's heartbeat;
 *   wp_store_finish  the last chunks, then every figure of the report, and
 *                    status 'finished'.
 * A wattprof that dies between them leaves a run whose status is still
 * 'running' but whose process is gone (or whose heartbeat stopped): it
 * loads as 'unfinished', its figures rebuilt from the last stored sample.
 *
 * The schema is versioned (wattprof_meta.schema_version) and built by
 * applying the migrations below in order, each in one transaction: a
 * database written by an older wattprof is brought up to date when opened.
 * docs/STORAGE.md describes every table.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "../core/internal.h"
#include "db.h"

/* Rows per stored chunk: 64 KiB of doubles at most, for any width. */
#define CHUNK_DOUBLES 8192
/* A run whose heartbeat is older than this, on another host, is unfinished. */
#define STALE_NS (120 * (int64_t)1000000000)

struct wp_store {
	struct wp__db db;
	int open;
	/* The run being written, if any. */
	int64_t run_id;
	struct wp_series *series;
	size_t nd;             /* its domains */
	uint64_t synced[2];    /* energy and reading rows stored */
	size_t width[2];
	double *buf;
};

/* ------------------------------------------------------------- schema */

/*
 * Each migration takes the schema from version k to k + 1.  Never edit one
 * that was released: add the next.  Statements are separated by ';' (there
 * is none inside them).
 */
static const char *const migrations[] = {
	/* 1: runs, their command, nodes, domains, regions, warnings, samples. */
	"CREATE TABLE wattprof_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE runs ("
	" id @ID@, uuid TEXT NOT NULL UNIQUE, name TEXT NOT NULL, status TEXT NOT NULL,"
	" start_unix_ns BIGINT NOT NULL, updated_unix_ns BIGINT NOT NULL,"
	" host TEXT NOT NULL, user_name TEXT NOT NULL, platform TEXT NOT NULL,"
	" wattprof_version TEXT NOT NULL, pid BIGINT NOT NULL, boot_id TEXT NOT NULL,"
	" flags BIGINT, exit_status BIGINT, term_signal BIGINT, duration_s @REAL@, total_energy_j @REAL@,"
	" sampler_freq_hz @REAL@, samples BIGINT, idle_s @REAL@, idle_total_power_w @REAL@,"
	" rounds BIGINT, warmup_rounds BIGINT, duration_std_s @REAL@, duration_min_s @REAL@,"
	" duration_max_s @REAL@, total_std_j @REAL@, total_min_j @REAL@, total_max_j @REAL@);"
	"CREATE TABLE run_args (run_id BIGINT NOT NULL REFERENCES runs(id), idx BIGINT NOT NULL,"
	" arg TEXT NOT NULL, PRIMARY KEY (run_id, idx));"
	"CREATE TABLE nodes (run_id BIGINT NOT NULL REFERENCES runs(id), node BIGINT NOT NULL,"
	" host TEXT NOT NULL, energy_j @REAL@, duration_s @REAL@, PRIMARY KEY (run_id, node));"
	"CREATE TABLE domains (run_id BIGINT NOT NULL REFERENCES runs(id), node BIGINT NOT NULL,"
	" idx BIGINT NOT NULL, name TEXT NOT NULL, kind BIGINT NOT NULL, source TEXT NOT NULL,"
	" method TEXT NOT NULL, estimated BIGINT NOT NULL, in_total BIGINT NOT NULL,"
	" integrated BIGINT NOT NULL, device_name TEXT, device_id TEXT, status BIGINT,"
	" energy_j @REAL@, avg_power_w @REAL@, min_power_w @REAL@, peak_power_w @REAL@,"
	" idle_power_w @REAL@, energy_std_j @REAL@, energy_min_j @REAL@, energy_max_j @REAL@,"
	" PRIMARY KEY (run_id, node, idx));"
	"CREATE TABLE readings (run_id BIGINT NOT NULL REFERENCES runs(id), node BIGINT NOT NULL,"
	" idx BIGINT NOT NULL, domain TEXT NOT NULL, metric TEXT NOT NULL, unit TEXT NOT NULL,"
	" PRIMARY KEY (run_id, node, idx));"
	"CREATE TABLE regions (run_id BIGINT NOT NULL REFERENCES runs(id), idx BIGINT NOT NULL,"
	" tag TEXT NOT NULL, start_s @REAL@, duration_s @REAL@, PRIMARY KEY (run_id, idx));"
	"CREATE TABLE region_energy (run_id BIGINT NOT NULL REFERENCES runs(id),"
	" region BIGINT NOT NULL, node BIGINT NOT NULL, domain BIGINT NOT NULL,"
	" energy_j @REAL@, PRIMARY KEY (run_id, region, node, domain));"
	"CREATE TABLE warnings (run_id BIGINT NOT NULL REFERENCES runs(id), idx BIGINT NOT NULL,"
	" message TEXT NOT NULL, PRIMARY KEY (run_id, idx));"
	"CREATE TABLE chunks (run_id BIGINT NOT NULL REFERENCES runs(id), node BIGINT NOT NULL,"
	" kind BIGINT NOT NULL, first_row BIGINT NOT NULL, nrows BIGINT NOT NULL,"
	" width BIGINT NOT NULL, data @BLOB@ NOT NULL, PRIMARY KEY (run_id, node, kind, first_row))",
	/* 2: the description ML users log with a run, and free tags. */
	"ALTER TABLE runs ADD COLUMN package TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE runs ADD COLUMN algorithm TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE runs ADD COLUMN algorithm_params TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE runs ADD COLUMN data_type TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE runs ADD COLUMN data_shape TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE runs ADD COLUMN comment TEXT NOT NULL DEFAULT '';"
	"CREATE TABLE tags (run_id BIGINT NOT NULL REFERENCES runs(id), idx BIGINT NOT NULL,"
	" tag TEXT NOT NULL, PRIMARY KEY (run_id, idx))",
	/* 3: the carbon and cost factors (wp_report_set_carbon); NULL pue: none.
	 * The figures are computed from them and the total when read. */
	"ALTER TABLE runs ADD COLUMN pue @REAL@;"
	"ALTER TABLE runs ADD COLUMN country TEXT;"
	"ALTER TABLE runs ADD COLUMN emissions_factor_g_per_kwh @REAL@;"
	"ALTER TABLE runs ADD COLUMN emissions_factor_source TEXT;"
	"ALTER TABLE runs ADD COLUMN price_factor @REAL@;"
	"ALTER TABLE runs ADD COLUMN price_unit TEXT",
	/* 4: the energy attributed to the command's process tree
	 * (wp_report_set_attribution): the run's figures, each domain's share
	 * and how it was found, and every process of the tree.  NULL or 0
	 * attributed: none (the other columns NULL, no process rows).  A
	 * command is bytes (a process's arguments need not be UTF-8, which
	 * PostgreSQL's TEXT requires); NULL when unknown. */
	"ALTER TABLE runs ADD COLUMN attributed BIGINT;"
	"ALTER TABLE runs ADD COLUMN attribution_root_pid BIGINT;"
	"ALTER TABLE runs ADD COLUMN attributed_total_j @REAL@;"
	"ALTER TABLE runs ADD COLUMN attributed_cpu_time_s @REAL@;"
	"ALTER TABLE runs ADD COLUMN attributed_peak_rss_b @REAL@;"
	"ALTER TABLE runs ADD COLUMN attributed_peak_pss_b @REAL@;"
	"ALTER TABLE runs ADD COLUMN attributed_peak_uss_b @REAL@;"
	"ALTER TABLE runs ADD COLUMN attributed_peak_gpu_mem_b @REAL@;"
	"ALTER TABLE runs ADD COLUMN process_count BIGINT;"
	"ALTER TABLE domains ADD COLUMN attributed_energy_j @REAL@;"
	"ALTER TABLE domains ADD COLUMN attribution_method TEXT;"
	"CREATE TABLE processes (run_id BIGINT NOT NULL REFERENCES runs(id), node BIGINT NOT NULL,"
	" idx BIGINT NOT NULL, pid BIGINT NOT NULL, ppid BIGINT NOT NULL, command @BLOB@,"
	" start_s @REAL@, end_s @REAL@, exited BIGINT NOT NULL, cpu_time_s @REAL@,"
	" peak_rss_b @REAL@, peak_pss_b @REAL@, peak_uss_b @REAL@, pss_from_rss BIGINT NOT NULL,"
	" peak_gpu_mem_b @REAL@, attributed_energy_j @REAL@, PRIMARY KEY (run_id, node, idx))",
	/* 5: an MPI job's regions (docs/MPI.md): each rank's time in each. */
	"CREATE TABLE region_ranks (run_id BIGINT NOT NULL REFERENCES runs(id),"
	" region BIGINT NOT NULL, idx BIGINT NOT NULL, rank BIGINT NOT NULL, node TEXT NOT NULL,"
	" start_s @REAL@, duration_s @REAL@, PRIMARY KEY (run_id, region, idx))",
};

#define SCHEMA_LATEST ((int)(sizeof migrations / sizeof migrations[0]))
_Static_assert(SCHEMA_LATEST == WP_STORE_SCHEMA_VERSION, "a migration per schema version");

/* The tables a run has rows in, children first (for wp_store_remove). */
static const char *const run_tables[] = { "processes", "chunks",  "warnings", "region_ranks",
	                                  "region_energy", "regions", "readings", "domains",
	                                  "nodes",     "tags",    "run_args" };

static int errf(struct wp_store *s, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int errf(struct wp_store *s, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->db.err, sizeof s->db.err, fmt, ap);
	va_end(ap);
	return rc;
}

static int exec(struct wp_store *s, const char *sql, const struct wp__val *p, size_t np,
                struct wp__rows *out)
{
	return s->db.ops->exec(&s->db, sql, p, np, out);
}

/* Runs a ';'-separated list of statements, the type words replaced. */
static int exec_script(struct wp_store *s, const char *script)
{
	const struct wp__db_ops *o = s->db.ops;
	size_t cap = strlen(script) * 2 + 1;
	char *sql = malloc(cap), *stmt;
	int rc = 0;

	if (!sql)
		return -ENOMEM;
	size_t n = 0;
	for (const char *p = script; *p;) {
		const char *word = NULL;
		size_t skip = 0;
		if (!strncmp(p, "@ID@", 4))
			word = o->id_type, skip = 4;
		else if (!strncmp(p, "@REAL@", 6))
			word = o->real_type, skip = 6;
		else if (!strncmp(p, "@BLOB@", 6))
			word = o->blob_type, skip = 6;
		if (word) {
			size_t len = strlen(word);
			if (n + len + 1 > cap)
				break;
			memcpy(sql + n, word, len);
			n += len;
			p += skip;
		} else {
			if (n + 2 > cap)
				break;
			sql[n++] = *p++;
		}
	}
	sql[n] = '\0';
	char *save = NULL;
	for (stmt = strtok_r(sql, ";", &save); stmt && rc == 0; stmt = strtok_r(NULL, ";", &save))
		rc = exec(s, stmt, NULL, 0, NULL);
	free(sql);
	return rc;
}

static int begin_tx(struct wp_store *s)
{
	/* SQLite: take the write lock now, so that two writers queue up
	 * instead of failing at their first write. */
	return exec(s, strcmp(s->db.ops->name, "sqlite") ? "BEGIN" : "BEGIN IMMEDIATE", NULL, 0,
	            NULL);
}

static int end_tx(struct wp_store *s, int rc)
{
	if (rc == 0)
		return exec(s, "COMMIT", NULL, 0, NULL);
	char keep[sizeof s->db.err];
	memcpy(keep, s->db.err, sizeof keep);
	exec(s, "ROLLBACK", NULL, 0, NULL);
	memcpy(s->db.err, keep, sizeof keep);
	return rc;
}

/* The schema version, 0 for an empty database; WP_ESCHEMA for a foreign one. */
static int schema_version(struct wp_store *s, int *version)
{
	struct wp__rows r = { 0 };
	int sqlite = !strcmp(s->db.ops->name, "sqlite");
	int rc = exec(s,
	              sqlite ? "SELECT name FROM sqlite_master WHERE type = 'table'"
	                     : "SELECT table_name::text FROM information_schema.tables "
	                       "WHERE table_schema = current_schema()",
	              NULL, 0, &r);
	int ours = 0;
	for (size_t i = 0; rc == 0 && i < r.nrows; i++)
		if (wp__cell(&r, i, 0)->t == WP__V_TEXT && !strcmp(wp__cell(&r, i, 0)->s, "wattprof_meta"))
			ours = 1;
	size_t tables = r.nrows;
	wp__rows_free(&r);
	if (rc < 0)
		return rc;
	*version = 0;
	if (!ours)
		return tables == 0 ? 0
		                   : errf(s, WP_ESCHEMA,
		                          "'%s' is not a wattprof database (it has tables, but "
		                          "no wattprof_meta): give wattprof a file or database "
		                          "of its own",
		                          s->db.where);
	struct wp__val k = wp__text("schema_version");
	rc = exec(s, "SELECT value FROM wattprof_meta WHERE key = ?", &k, 1, &r);
	if (rc == 0) {
		const struct wp__val *v = r.nrows == 1 ? wp__cell(&r, 0, 0) : NULL;
		char *end;
		long n = v && v->t == WP__V_TEXT ? strtol(v->s, &end, 10) : -1;
		if (!v || v->t != WP__V_TEXT || *end || n < 1)
			rc = errf(s, WP_ESCHEMA, "'%s' has no valid schema_version in wattprof_meta",
			          s->db.where);
		else
			*version = (int)(n > 1000000 ? 1000000 : n);
	}
	wp__rows_free(&r);
	return rc;
}

/* Brings the schema to the latest version, one migration per transaction. */
static int migrate(struct wp_store *s, unsigned flags)
{
	int version, rc;

	rc = schema_version(s, &version);
	if (rc < 0)
		return rc;
	if (version > SCHEMA_LATEST)
		return errf(s, WP_ESCHEMA,
		            "'%s' was written by a newer wattprof (schema %d; this wattprof %s "
		            "reads up to %d): upgrade wattprof",
		            s->db.where, version, wp_version(), SCHEMA_LATEST);
	if (version == SCHEMA_LATEST)
		return 0;
	if (flags & WP_STORE_READONLY)
		return errf(s, WP_ESCHEMA,
		            "'%s' has schema %d and must be updated to %d, which opening it "
		            "read-only does not allow: open it writable once",
		            s->db.where, version, SCHEMA_LATEST);
	rc = begin_tx(s);
	if (rc < 0)
		return rc;
	if (strcmp(s->db.ops->name, "sqlite")) {
		/* PostgreSQL: one wattprof migrates at a time (an advisory lock
		 * held until the transaction ends; the key is arbitrary). */
		struct wp__rows r = { 0 };
		rc = exec(s, "SELECT 1::bigint FROM (SELECT pg_advisory_xact_lock(74657461)) x", NULL, 0,
		          &r);
		wp__rows_free(&r);
	}
	/* Read again under the lock: another wattprof may have done it. */
	if (rc == 0)
		rc = schema_version(s, &version);
	while (rc == 0 && version < SCHEMA_LATEST) {
		rc = exec_script(s, migrations[version]);
		version++;
		char v[16];
		snprintf(v, sizeof v, "%d", version);
		struct wp__val p[2] = { wp__text("schema_version"), wp__text(v) };
		if (rc == 0 && version == 1)
			rc = exec(s, "INSERT INTO wattprof_meta (key, value) VALUES (?, ?)", p, 2, NULL);
		else if (rc == 0)
			rc = exec(s, "UPDATE wattprof_meta SET value = ? WHERE key = ?",
			          (struct wp__val[]){ p[1], p[0] }, 2, NULL);
	}
	return end_tx(s, rc);
}

/* ------------------------------------------------------- open, close */

int wp_store_open(struct wp_store **out, const char *where, unsigned flags)
{
	struct wp_store *s;
	int rc;

	if (!out || !where || !*where)
		return -EINVAL;
	*out = NULL;
	s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->db.ops = (!strncmp(where, "postgresql://", 13) || !strncmp(where, "postgres://", 11))
	                    ? &wp__pg_ops
	                    : &wp__sqlite_ops;
	*out = s;
	rc = s->db.ops->open(&s->db, where, flags);
	if (rc == 0)
		rc = migrate(s, flags);
	if (rc < 0) {
		s->db.ops->close(&s->db);
		return rc;
	}
	s->open = 1;
	return 0;
}

void wp_store_close(struct wp_store *s)
{
	if (!s)
		return;
	if (s->open)
		s->db.ops->close(&s->db);
	free(s->buf);
	free(s);
}

const char *wp_store_errmsg(const struct wp_store *s)
{
	return s ? s->db.err : "";
}

const char *wp_store_kind(const struct wp_store *s)
{
	return s ? s->db.ops->name : "";
}

int wp_data_type_check(const char *type)
{
	static const char *const ok[] = { "tabular", "image", "text", "time series", "other" };
	for (size_t i = 0; type && i < sizeof ok / sizeof ok[0]; i++)
		if (!strcmp(type, ok[i]))
			return 0;
	return -EINVAL;
}

/* -------------------------------------------------------- writing */

static void uuid4(char out[37])
{
	unsigned char b[16];
	if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
		/* No entropy source: time and pid still make it unique enough
		 * for one database. */
		uint64_t t = wp_now_ns() ^ ((uint64_t)getpid() << 40);
		for (int i = 0; i < 16; i++)
			b[i] = (unsigned char)(t >> (8 * (i % 8))) ^ (unsigned char)(i * 37);
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 (RFC 9562) */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10 */
	snprintf(out, 37,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
	         b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
	         b[15]);
}

/* This boot's id, so that a pid is only trusted on the boot that had it. */
static void boot_id(char *out, size_t cap)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	out[0] = '\0';
	if (f) {
		if (fgets(out, (int)cap, f))
			out[strcspn(out, "\n")] = '\0';
		fclose(f);
	}
}

static int64_t unix_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* The domains' rows, as a zero-length report describes them. */
/* A report's domains, as the run's domains. */
static int insert_report_domains(struct wp_store *s, int64_t id, const struct wp_report *r)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < r->domain_count; i++) {
		const struct wp_report_domain *d = &r->domains[i];
		struct wp__val p[] = { wp__int(id),          wp__int((int64_t)i), wp__text(d->name),
			               wp__int(d->kind),     wp__text(d->source), wp__text(d->method),
			               wp__int(d->estimated), wp__int(d->in_total),
			               wp__int(d->integrated), wp__text(d->device_name),
			               wp__text(d->device_id) };
		rc = exec(s,
		          "INSERT INTO domains (run_id, node, idx, name, kind, source, method, "
		          "estimated, in_total, integrated, device_name, device_id) "
		          "VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		          p, sizeof p / sizeof p[0], NULL);
	}
	return rc;
}

/* The meter's domains (as a report of it describes them). */
static int insert_domains(struct wp_store *s, int64_t id, struct wp_meter *meter)
{
	struct wp_snapshot *snap = wp_snapshot_new(meter);
	struct wp_report r;
	int rc;

	wp_report_init(&r);
	if (!snap)
		return -ENOMEM;
	wp_meter_snapshot(meter, snap);
	rc = wp_report_measure(&r, meter, snap, snap);
	if (rc == 0)
		rc = insert_report_domains(s, id, &r);
	wp_report_free(&r);
	wp_snapshot_free(snap);
	return rc;
}

/* The report's carbon factors into the run's row, when it has some. */
static int store_carbon(struct wp_store *s, int64_t id, const struct wp_report *r)
{
	const struct wp_report_carbon *c = &r->carbon;
	if (!c->set)
		return 0;
	struct wp__val p[] = { wp__real(c->pue),
		               wp__text(c->country),
		               wp__real(c->emissions_factor_g_per_kwh),
		               wp__text(c->emissions_factor_source),
		               wp__real(c->price_factor),
		               wp__text(c->price_unit),
		               wp__int(id) };
	return exec(s,
	            "UPDATE runs SET pue = ?, country = ?, emissions_factor_g_per_kwh = ?, "
	            "emissions_factor_source = ?, price_factor = ?, price_unit = ? WHERE id = ?",
	            p, sizeof p / sizeof p[0], NULL);
}

int wp_store_begin(struct wp_store *s, const struct wp_run_info *info,
                   const struct wp_report *report, struct wp_meter *meter,
                   struct wp_series *series, int64_t *id)
{
	struct wp_run_info in = { .version = WP_RUN_INFO_VERSION };
	char uuid[37], boot[64], host[256] = "", platform[400], user[256] = "";
	struct utsname u;
	struct wp__rows r = { 0 };
	int rc;

	if (!s || !s->open || !report || (!meter && !report->domains) || (!meter && series) ||
	    !id || (info && info->version < 1))
		return -EINVAL;
	if (s->run_id)
		return errf(s, WP_ESTATE, "a run is being stored already");
	if (info)
		in = *info;
	if (in.data_type && *in.data_type && wp_data_type_check(in.data_type) < 0)
		return errf(s, -EINVAL,
		            "unknown data type '%s': give tabular, image, text, time series or other",
		            in.data_type);
	uuid4(uuid);
	boot_id(boot, sizeof boot);
	if (!in.host)
		in.host = report->host ? report->host : (gethostname(host, sizeof host - 1), host);
	if (!in.platform) {
		if (uname(&u) == 0)
			snprintf(platform, sizeof platform, "%s %s %s", u.sysname, u.release, u.machine);
		else
			snprintf(platform, sizeof platform, "unknown");
		in.platform = platform;
	}
	if (!in.user) {
		struct passwd pw, *res = NULL;
		char pwbuf[1024];
		if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof pwbuf, &res) == 0 && res)
			snprintf(user, sizeof user, "%s", res->pw_name);
		else
			snprintf(user, sizeof user, "uid %u", (unsigned)geteuid());
		in.user = user;
	}
	int64_t now = unix_ns();
	rc = begin_tx(s);
	if (rc < 0)
		return rc;
	struct wp__val p[] = {
		wp__text(uuid),           wp__text(or_empty(in.name)),
		wp__int(report->start_unix_ns ? report->start_unix_ns : now),
		wp__int(now),             wp__text(in.host),
		wp__text(in.user),        wp__text(in.platform),
		wp__text(wp_version()),   wp__int(getpid()),
		wp__text(boot),           wp__text(or_empty(in.package)),
		wp__text(or_empty(in.algorithm)), wp__text(or_empty(in.algorithm_params)),
		wp__text(or_empty(in.data_type)), wp__text(or_empty(in.data_shape)),
		wp__text(or_empty(in.comment)),
	};
	rc = exec(s,
	          "INSERT INTO runs (uuid, name, status, start_unix_ns, updated_unix_ns, host, "
	          "user_name, platform, wattprof_version, pid, boot_id, package, algorithm, "
	          "algorithm_params, data_type, data_shape, comment) "
	          "VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
	          p, sizeof p / sizeof p[0], &r);
	int64_t run = 0;
	if (rc == 0 && (r.nrows != 1 || wp__cell(&r, 0, 0)->t != WP__V_INT))
		rc = errf(s, WP_EDB, "'%s': inserting a run returned no id", s->db.where);
	else if (rc == 0)
		run = wp__cell(&r, 0, 0)->i;
	wp__rows_free(&r);
	for (size_t i = 0; rc == 0 && report->command && report->command[i]; i++) {
		struct wp__val a[] = { wp__int(run), wp__int((int64_t)i), wp__text(report->command[i]) };
		rc = exec(s, "INSERT INTO run_args (run_id, idx, arg) VALUES (?, ?, ?)", a, 3, NULL);
	}
	for (size_t i = 0; rc == 0 && in.tags && i < in.tag_count; i++) {
		if (!in.tags[i] || !strchr(in.tags[i], '=') || in.tags[i][0] == '=') {
			rc = errf(s, -EINVAL, "tag '%s' is not KEY=VALUE", or_empty(in.tags[i]));
			break;
		}
		struct wp__val t[] = { wp__int(run), wp__int((int64_t)i), wp__text(in.tags[i]) };
		rc = exec(s, "INSERT INTO tags (run_id, idx, tag) VALUES (?, ?, ?)", t, 3, NULL);
	}
	if (rc == 0)
		rc = store_carbon(s, run, report);
	if (rc == 0) {
		struct wp__val n[] = { wp__int(run), wp__text(in.host) };
		rc = exec(s, "INSERT INTO nodes (run_id, node, host) VALUES (?, 0, ?)", n, 2, NULL);
	}
	if (rc == 0)
		rc = meter ? insert_domains(s, run, meter) : insert_report_domains(s, run, report);
	size_t ncols = series ? wp_series_column_count(series) : 0;
	size_t nd = meter ? wp_meter_domain_count(meter) : report->domain_count;
	if (series && ncols < 2 * nd)
		rc = rc ? rc : errf(s, -EINVAL, "the series is not of this meter");
	for (size_t k = 2 * nd; rc == 0 && k < ncols; k++) {
		struct wp_series_column c;
		wp_series_column(series, k, &c);
		struct wp__val q[] = { wp__int(run), wp__int((int64_t)(k - 2 * nd)),
			               wp__text(c.domain), wp__text(c.metric), wp__text(c.unit) };
		rc = exec(s,
		          "INSERT INTO readings (run_id, node, idx, domain, metric, unit) "
		          "VALUES (?, 0, ?, ?, ?, ?)",
		          q, 5, NULL);
	}
	rc = end_tx(s, rc);
	if (rc < 0)
		return rc;
	s->run_id = run;
	s->series = series;
	s->nd = nd;
	s->synced[0] = s->synced[1] = 0;
	if (series)
		wp__series_widths(series, &s->width[0], &s->width[1]);
	*id = run;
	return 0;
}

/* Doubles to little-endian bytes, in place (a no-op on x86 and arm64). */
static void to_le(double *v, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	for (size_t i = 0; i < n; i++) {
		uint64_t u;
		memcpy(&u, &v[i], 8);
		u = __builtin_bswap64(u);
		memcpy(&v[i], &u, 8);
	}
#else
	(void)v, (void)n;
#endif
}

/* Stores the rows of kind `which` that reached the series' file. */
static int store_rows(struct wp_store *s, int which)
{
	uint64_t have = wp__series_rows(s->series, which);
	size_t w = s->width[which];
	size_t per = CHUNK_DOUBLES / w ? CHUNK_DOUBLES / w : 1;
	int rc = 0;

	if (!s->buf && !(s->buf = malloc((CHUNK_DOUBLES > 2 * w ? CHUNK_DOUBLES : 2 * w) *
	                                 sizeof(double))))
		return -ENOMEM;
	for (uint64_t at = s->synced[which]; rc == 0 && at < have;) {
		size_t n = have - at < per ? (size_t)(have - at) : per;
		rc = wp__series_read(s->series, which, at, n, s->buf);
		if (rc < 0)
			return errf(s, rc, "cannot read the time series' temporary file: %s",
			            wp_strerror(rc));
		to_le(s->buf, n * w);
		struct wp__val p[] = { wp__int(s->run_id), wp__int(which), wp__int((int64_t)at),
			               wp__int((int64_t)n), wp__int((int64_t)w),
			               wp__blob(s->buf, n * w * sizeof(double)) };
		rc = exec(s,
		          "INSERT INTO chunks (run_id, node, kind, first_row, nrows, width, data) "
		          "VALUES (?, 0, ?, ?, ?, ?, ?)",
		          p, 6, NULL);
		at += n;
	}
	return rc;
}

/* Stores new rows in one transaction; counts them synced only if it commits. */
static int sync_rows(struct wp_store *s)
{
	uint64_t want[2] = { 0, 0 };
	int rc = begin_tx(s);
	if (rc < 0)
		return rc;
	if (s->series) {
		want[0] = wp__series_rows(s->series, 0);
		want[1] = wp__series_rows(s->series, 1);
		for (int k = 0; k < 2 && rc == 0; k++)
			if (want[k] > s->synced[k]) {
				rc = store_rows(s, k);
				want[k] = rc == 0 ? want[k] : s->synced[k];
			}
	}
	if (rc == 0) {
		struct wp__val p[] = { wp__int(unix_ns()), wp__int((int64_t)want[0]),
			               wp__int(s->run_id) };
		rc = exec(s, "UPDATE runs SET updated_unix_ns = ?, samples = ? WHERE id = ?", p, 3,
		          NULL);
	}
	rc = end_tx(s, rc);
	if (rc == 0 && s->series) {
		/* store_rows read up to what it saw; the file may have grown
		 * since, which the next call takes. */
		s->synced[0] = want[0] > s->synced[0] ? want[0] : s->synced[0];
		s->synced[1] = want[1] > s->synced[1] ? want[1] : s->synced[1];
	}
	return rc;
}

int wp_store_sync(struct wp_store *s)
{
	if (!s || !s->open)
		return -EINVAL;
	if (!s->run_id)
		return errf(s, WP_ESTATE, "no run is being stored");
	return sync_rows(s);
}

/* An amount that cannot be negative: NaN (unknown), or finite and >= 0. */
static int bad_amount(double v)
{
	return !isnan(v) && !(v >= 0 && isfinite(v));
}

/*
 * Why a report's attribution cannot be right, or NULL when it can: what the
 * writer refuses to store and the reader refuses to load (WP_ECORRUPT), so
 * that nothing stored is unreadable.  A report without attribution passes.
 */
static const char *attribution_problem(const struct wp_report *r)
{
	if (!r->attributed)
		return NULL;
	if (r->attribution_root_pid <= 0)
		return "the root process is not a pid";
	const double amounts[] = { r->attributed_total_j,    r->attributed_cpu_time_s,
		                   r->attributed_peak_rss_b, r->attributed_peak_pss_b,
		                   r->attributed_peak_uss_b, r->attributed_peak_gpu_mem_b };
	for (size_t k = 0; k < sizeof amounts / sizeof amounts[0]; k++)
		if (bad_amount(amounts[k]))
			return "a total or peak is negative or infinite";
	for (size_t i = 0; i < r->domain_count; i++) {
		const struct wp_report_domain *d = &r->domains[i];
		if (!d->attribution_method || !*d->attribution_method)
			return "a domain has no attribution method";
		if (bad_amount(d->attributed_energy_j))
			return "a domain's attributed energy is negative or infinite";
		if (!strcmp(d->attribution_method, WP_ATTRIB_METHOD_NONE) &&
		    !isnan(d->attributed_energy_j))
			return "a domain that nothing attributes has an attributed energy";
	}
	if (r->process_count && !r->processes)
		return "its processes are missing";
	for (size_t k = 0; k < r->process_count; k++) {
		const struct wp_report_process *p = &r->processes[k];
		if (p->pid < 0 || p->ppid < 0)
			return "a process's pid is negative";
		if (bad_amount(p->cpu_time_s) || bad_amount(p->peak_rss_b) ||
		    bad_amount(p->peak_pss_b) || bad_amount(p->peak_uss_b) ||
		    bad_amount(p->peak_gpu_mem_b) || bad_amount(p->attributed_energy_j))
			return "a process's figure is negative or infinite";
		if (isinf(p->start_s) || isinf(p->end_s) || p->end_s < p->start_s)
			return "a process ends before it starts";
	}
	return NULL;
}

/* Rows of processes per INSERT: one statement per row is a round trip each
 * on PostgreSQL, and a build can start tens of thousands of processes.
 * 32 x 15 parameters stay below the oldest SQLite's limit of 999. */
#define PROCESS_ROWS 32
#define PROCESS_PARAMS 15 /* per row: every column but node */

/* The report's attribution: the run's figures and its processes (the
 * domains' shares are stored with the domains). */
static int store_attribution(struct wp_store *s, int64_t id, const struct wp_report *r)
{
	int a = r->attributed != 0;
	struct wp__val p[] = {
		wp__int(a),
		a ? wp__int(r->attribution_root_pid) : wp__text(NULL),
		wp__real(a ? r->attributed_total_j : NAN),
		wp__real(a ? r->attributed_cpu_time_s : NAN),
		wp__real(a ? r->attributed_peak_rss_b : NAN),
		wp__real(a ? r->attributed_peak_pss_b : NAN),
		wp__real(a ? r->attributed_peak_uss_b : NAN),
		wp__real(a ? r->attributed_peak_gpu_mem_b : NAN),
		a ? wp__int((int64_t)r->process_count) : wp__text(NULL),
		wp__int(id),
	};
	int rc = exec(s,
	              "UPDATE runs SET attributed = ?, attribution_root_pid = ?, "
	              "attributed_total_j = ?, attributed_cpu_time_s = ?, "
	              "attributed_peak_rss_b = ?, attributed_peak_pss_b = ?, "
	              "attributed_peak_uss_b = ?, attributed_peak_gpu_mem_b = ?, "
	              "process_count = ? WHERE id = ?",
	              p, sizeof p / sizeof p[0], NULL);
	static const char head[] =
		"INSERT INTO processes (run_id, node, idx, pid, ppid, command, start_s, end_s, "
		"exited, cpu_time_s, peak_rss_b, peak_pss_b, peak_uss_b, pss_from_rss, "
		"peak_gpu_mem_b, attributed_energy_j) VALUES ";
	static const char row[] = ", (?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
	size_t n = a ? r->process_count : 0;
	struct wp__val *v = NULL;
	char *sql = NULL;
	if (rc == 0 && n) {
		v = malloc(PROCESS_ROWS * PROCESS_PARAMS * sizeof *v);
		sql = malloc(sizeof head + PROCESS_ROWS * sizeof row);
		if (!v || !sql)
			rc = -ENOMEM;
	}
	for (size_t at = 0; rc == 0 && at < n; at += PROCESS_ROWS) {
		size_t m = n - at < PROCESS_ROWS ? (size_t)(n - at) : PROCESS_ROWS, k = 0;
		char *q = sql;
		memcpy(q, head, sizeof head - 1);
		q += sizeof head - 1;
		for (size_t j = 0; j < m; j++) {
			const struct wp_report_process *pr = &r->processes[at + j];
			size_t skip = j ? 0 : 2; /* no ", " before the first */
			memcpy(q, row + skip, sizeof row - 1 - skip);
			q += sizeof row - 1 - skip;
			v[k++] = wp__int(id);
			v[k++] = wp__int((int64_t)(at + j));
			v[k++] = wp__int(pr->pid);
			v[k++] = wp__int(pr->ppid);
			v[k++] = pr->command ? wp__blob(pr->command, strlen(pr->command))
			                     : wp__text(NULL);
			v[k++] = wp__real(pr->start_s);
			v[k++] = wp__real(pr->end_s);
			v[k++] = wp__int(pr->exited != 0);
			v[k++] = wp__real(pr->cpu_time_s);
			v[k++] = wp__real(pr->peak_rss_b);
			v[k++] = wp__real(pr->peak_pss_b);
			v[k++] = wp__real(pr->peak_uss_b);
			v[k++] = wp__int(pr->pss_from_rss != 0);
			v[k++] = wp__real(pr->peak_gpu_mem_b);
			v[k++] = wp__real(pr->attributed_energy_j);
		}
		*q = '\0';
		rc = exec(s, sql, v, k, NULL);
	}
	free(v);
	free(sql);
	return rc;
}

static int finish_report(struct wp_store *s, const struct wp_report *r)
{
	int64_t id = s->run_id;
	double node_j = r->total_energy_j;
	struct wp__val p[] = {
		wp__int(r->flags & WP_REPORT_POWER_RANGE),
		wp__int(r->exit_status),       wp__int(r->term_signal),
		wp__real(r->duration_s),       wp__real(r->total_energy_j),
		wp__real(r->sampler_freq_hz),  wp__int((int64_t)r->samples),
		wp__real(r->idle_s),           wp__real(r->idle_total_power_w),
		wp__int((int64_t)r->rounds),   wp__int((int64_t)r->warmup_rounds),
		wp__real(r->duration_std_s),   wp__real(r->duration_min_s),
		wp__real(r->duration_max_s),   wp__real(r->total_std_j),
		wp__real(r->total_min_j),      wp__real(r->total_max_j),
		wp__int(unix_ns()),            wp__int(id),
	};
	int rc = exec(s,
	              "UPDATE runs SET status = 'finished', flags = ?, exit_status = ?, "
	              "term_signal = ?, "
	              "duration_s = ?, total_energy_j = ?, sampler_freq_hz = ?, samples = ?, "
	              "idle_s = ?, idle_total_power_w = ?, rounds = ?, warmup_rounds = ?, "
	              "duration_std_s = ?, duration_min_s = ?, duration_max_s = ?, "
	              "total_std_j = ?, total_min_j = ?, total_max_j = ?, updated_unix_ns = ? "
	              "WHERE id = ?",
	              p, sizeof p / sizeof p[0], NULL);
	/* Factors set after wp_store_begin count too. */
	if (rc == 0)
		rc = store_carbon(s, id, r);
	if (rc == 0) {
		struct wp__val n[] = { wp__real(node_j), wp__real(r->duration_s), wp__int(id) };
		rc = exec(s, "UPDATE nodes SET energy_j = ?, duration_s = ? WHERE run_id = ? AND node = 0",
		          n, 3, NULL);
	}
	for (size_t i = 0; rc == 0 && i < r->domain_count; i++) {
		const struct wp_report_domain *d = &r->domains[i];
		struct wp__val q[] = {
			wp__text(d->name),          wp__text(d->source),
			wp__text(d->method),        wp__int(d->estimated),
			wp__int(d->in_total),       wp__int(d->integrated),
			wp__text(d->device_name),   wp__text(d->device_id),
			wp__int(d->status),         wp__real(d->energy_j),
			wp__real(d->avg_power_w),   wp__real(d->min_power_w),
			wp__real(d->peak_power_w),  wp__real(d->idle_power_w),
			wp__real(d->energy_std_j),  wp__real(d->energy_min_j),
			wp__real(d->energy_max_j),  wp__int(d->kind),
			wp__real(r->attributed ? d->attributed_energy_j : NAN),
			wp__text(r->attributed ? d->attribution_method : NULL),
			wp__int(id),                wp__int((int64_t)i),
		};
		rc = exec(s,
		          "UPDATE domains SET name = ?, source = ?, method = ?, estimated = ?, "
		          "in_total = ?, integrated = ?, device_name = ?, device_id = ?, status = ?, "
		          "energy_j = ?, avg_power_w = ?, min_power_w = ?, peak_power_w = ?, "
		          "idle_power_w = ?, energy_std_j = ?, energy_min_j = ?, energy_max_j = ?, "
		          "kind = ?, attributed_energy_j = ?, attribution_method = ? "
		          "WHERE run_id = ? AND node = 0 AND idx = ?",
		          q, sizeof q / sizeof q[0], NULL);
	}
	for (size_t k = 0; rc == 0 && k < r->region_count; k++) {
		const struct wp_report_region *g = &r->regions[k];
		struct wp__val q[] = { wp__int(id), wp__int((int64_t)k), wp__text(g->tag),
			               wp__real(g->start_s), wp__real(g->duration_s) };
		rc = exec(s,
		          "INSERT INTO regions (run_id, idx, tag, start_s, duration_s) "
		          "VALUES (?, ?, ?, ?, ?)",
		          q, 5, NULL);
		for (size_t i = 0; rc == 0 && i < r->domain_count; i++) {
			struct wp__val e[] = { wp__int(id), wp__int((int64_t)k), wp__int((int64_t)i),
				               wp__real(g->energy_j[i]) };
			rc = exec(s,
			          "INSERT INTO region_energy (run_id, region, node, domain, energy_j) "
			          "VALUES (?, ?, 0, ?, ?)",
			          e, 4, NULL);
		}
		for (size_t i = 0; rc == 0 && i < g->rank_count; i++) {
			const struct wp_report_rank *t = &g->ranks[i];
			struct wp__val w[] = { wp__int(id),        wp__int((int64_t)k),
				               wp__int((int64_t)i), wp__int(t->rank),
				               wp__text(or_empty(t->node)), wp__real(t->start_s),
				               wp__real(t->duration_s) };
			rc = exec(s,
			          "INSERT INTO region_ranks (run_id, region, idx, rank, node, start_s, "
			          "duration_s) VALUES (?, ?, ?, ?, ?, ?, ?)",
			          w, 7, NULL);
		}
	}
	for (size_t k = 0; rc == 0 && k < r->warning_count; k++) {
		struct wp__val q[] = { wp__int(id), wp__int((int64_t)k), wp__text(r->warnings[k]) };
		rc = exec(s, "INSERT INTO warnings (run_id, idx, message) VALUES (?, ?, ?)", q, 3,
		          NULL);
	}
	if (rc == 0)
		rc = store_attribution(s, id, r);
	return rc;
}

int wp_store_finish(struct wp_store *s, const struct wp_report *r)
{
	int rc;

	if (!s || !s->open || !r)
		return -EINVAL;
	if (!s->run_id)
		return errf(s, WP_ESTATE, "no run is being stored");
	if (r->domain_count != s->nd)
		return errf(s, -EINVAL, "the report has %zu domains, the stored run %zu",
		            r->domain_count, s->nd);
	const char *why = attribution_problem(r);
	if (why)
		return errf(s, -EINVAL, "the report's attribution cannot be right: %s", why);
	if (s->series)
		wp__series_flush(s->series);
	rc = begin_tx(s);
	if (rc < 0)
		return rc;
	uint64_t want[2] = { s->synced[0], s->synced[1] };
	for (int k = 0; s->series && k < 2 && rc == 0; k++) {
		want[k] = wp__series_rows(s->series, k);
		if (want[k] > s->synced[k])
			rc = store_rows(s, k);
	}
	if (rc == 0)
		rc = finish_report(s, r);
	rc = end_tx(s, rc);
	if (rc == 0) {
		s->run_id = 0;
		s->series = NULL;
	}
	return rc;
}

/* -------------------------------------------------------- reading */

/* A number from a cell: NULL is NaN; integers are taken as they are. */
static double num(const struct wp__val *v)
{
	return v->t == WP__V_REAL ? v->r : v->t == WP__V_INT ? (double)v->i : NAN;
}

static int64_t inum(const struct wp__val *v, int64_t dflt)
{
	return v->t == WP__V_INT ? v->i : dflt;
}

static char *dup_text(const struct wp__val *v)
{
	return strdup(v->t == WP__V_TEXT ? v->s : "");
}

static char *dup_opt(const struct wp__val *v)
{
	return v->t == WP__V_TEXT ? strdup(v->s) : NULL;
}

void wp_run_free(struct wp_run *run)
{
	if (!run)
		return;
	char **str[] = { &run->uuid,      &run->status,     &run->name,
		         &run->package,   &run->algorithm,  &run->algorithm_params,
		         &run->data_type, &run->data_shape, &run->comment,
		         &run->user,      &run->platform,   &run->wattprof_version };
	for (size_t i = 0; i < sizeof str / sizeof str[0]; i++)
		free(*str[i]);
	for (size_t i = 0; i < run->tag_count; i++)
		free(run->tags[i]);
	free(run->tags);
	wp_report_free(&run->report);
	wp_series_close(run->series);
	free(run);
}

/* Is the wattprof that wrote a 'running' run still alive? */
static int still_running(const char *host, const char *boot, int64_t pid, int64_t updated_ns)
{
	char me[256] = "", my_boot[64];
	gethostname(me, sizeof me - 1);
	boot_id(my_boot, sizeof my_boot);
	if (!strcmp(host, me) && *boot && !strcmp(boot, my_boot))
		return pid > 0 && pid <= INT32_MAX && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
	/* Another machine (or another boot of this one): its heartbeat. */
	return strcmp(host, me) && unix_ns() - updated_ns < STALE_NS;
}

static int load_run_row(struct wp_store *s, int64_t id, struct wp_run *run, char *boot,
                        size_t boot_cap, int64_t *pid, int64_t *updated)
{
	struct wp__rows r = { 0 };
	struct wp__val p = wp__int(id);
	int rc = exec(s,
	              "SELECT uuid, name, status, start_unix_ns, updated_unix_ns, host, user_name, "
	              "platform, wattprof_version, pid, boot_id, exit_status, term_signal, "
	              "duration_s, total_energy_j, sampler_freq_hz, samples, idle_s, "
	              "idle_total_power_w, rounds, warmup_rounds, duration_std_s, duration_min_s, "
	              "duration_max_s, total_std_j, total_min_j, total_max_j, package, algorithm, "
	              "algorithm_params, data_type, data_shape, comment, flags FROM runs WHERE id = ?",
	              &p, 1, &r);
	if (rc < 0)
		return rc;
	if (r.nrows == 0) {
		wp__rows_free(&r);
		return errf(s, -ENOENT, "no run %" PRId64 " in '%s'", id, s->db.where);
	}
	const struct wp__val *c = r.v;
	struct wp_report *rep = &run->report;
	run->id = id;
	run->uuid = dup_text(&c[0]);
	run->name = dup_text(&c[1]);
	run->status = dup_text(&c[2]);
	rep->start_unix_ns = inum(&c[3], 0);
	*updated = inum(&c[4], 0);
	rep->host = dup_text(&c[5]);
	run->user = dup_text(&c[6]);
	run->platform = dup_text(&c[7]);
	run->wattprof_version = dup_text(&c[8]);
	*pid = inum(&c[9], 0);
	snprintf(boot, boot_cap, "%s", c[10].t == WP__V_TEXT ? c[10].s : "");
	rep->exit_status = (int)inum(&c[11], -1);
	rep->term_signal = (int)inum(&c[12], 0);
	rep->duration_s = num(&c[13]);
	rep->total_energy_j = num(&c[14]);
	rep->sampler_freq_hz = c[15].t == WP__V_NULL ? 0 : num(&c[15]);
	rep->samples = (uint64_t)inum(&c[16], 0);
	rep->idle_s = c[17].t == WP__V_NULL ? 0 : num(&c[17]);
	rep->idle_total_power_w = num(&c[18]);
	rep->rounds = (size_t)inum(&c[19], 0);
	rep->warmup_rounds = (size_t)inum(&c[20], 0);
	rep->duration_std_s = num(&c[21]);
	rep->duration_min_s = num(&c[22]);
	rep->duration_max_s = num(&c[23]);
	rep->total_std_j = num(&c[24]);
	rep->total_min_j = num(&c[25]);
	rep->total_max_j = num(&c[26]);
	run->package = dup_text(&c[27]);
	run->algorithm = dup_text(&c[28]);
	run->algorithm_params = dup_text(&c[29]);
	run->data_type = dup_text(&c[30]);
	run->data_shape = dup_text(&c[31]);
	run->comment = dup_text(&c[32]);
	/* Only what describes the figures is kept; how to write them (the
	 * series or not) is the reader's choice. */
	rep->flags = (unsigned)inum(&c[33], 0) & WP_REPORT_POWER_RANGE;
	int bad = c[0].t != WP__V_TEXT || c[2].t != WP__V_TEXT || c[3].t != WP__V_INT ||
	          (strcmp(c[2].s, "running") && strcmp(c[2].s, "finished")) ||
	          (c[16].t != WP__V_NULL && c[16].i < 0) || (c[19].t != WP__V_NULL && c[19].i < 0) ||
	          (c[20].t != WP__V_NULL && c[20].i < 0);
	wp__rows_free(&r);
	if (!run->uuid || !run->name || !run->status || !rep->host || !run->user ||
	    !run->platform || !run->wattprof_version || !run->package || !run->algorithm ||
	    !run->algorithm_params || !run->data_type || !run->data_shape || !run->comment)
		return -ENOMEM;
	if (bad)
		return errf(s, WP_ECORRUPT,
		            "run %" PRId64 " in '%s' has an impossible status, start or count",
		            id, s->db.where);
	return 0;
}

/* Every text of column 0 of a query on one run, in order. */
static int load_texts(struct wp_store *s, const char *sql, int64_t id, char ***out, size_t *n,
                      int null_end)
{
	struct wp__rows r = { 0 };
	struct wp__val p = wp__int(id);
	int rc = exec(s, sql, &p, 1, &r);
	if (rc < 0)
		return rc;
	char **v = calloc(r.nrows + 1, sizeof *v);
	if (!v)
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < r.nrows; i++)
		if (!(v[i] = dup_text(wp__cell(&r, i, 0))))
			rc = -ENOMEM;
	*out = v;
	*n = v ? r.nrows : 0;
	if (!null_end && v && r.nrows == 0) {
		free(v);
		*out = NULL;
	}
	wp__rows_free(&r);
	return rc;
}

static int load_domains(struct wp_store *s, int64_t id, struct wp_run *run)
{
	struct wp__rows r = { 0 };
	struct wp__val p = wp__int(id);
	struct wp_report *rep = &run->report;
	int rc = exec(s,
	              "SELECT idx, name, kind, source, method, estimated, in_total, integrated, "
	              "device_name, device_id, status, energy_j, avg_power_w, min_power_w, "
	              "peak_power_w, idle_power_w, energy_std_j, energy_min_j, energy_max_j, "
	              "attributed_energy_j, attribution_method "
	              "FROM domains WHERE run_id = ? AND node = 0 ORDER BY idx",
	              &p, 1, &r);
	if (rc < 0)
		return rc;
	rep->domains = calloc(r.nrows ? r.nrows : 1, sizeof *rep->domains);
	if (!rep->domains) {
		wp__rows_free(&r);
		return -ENOMEM;
	}
	rep->domain_count = r.nrows;
	for (size_t i = 0; rc == 0 && i < r.nrows; i++) {
		const struct wp__val *c = wp__cell(&r, i, 0);
		struct wp_report_domain *d = &rep->domains[i];
		d->name = dup_text(&c[1]);
		d->kind = (enum wp_domain_kind)inum(&c[2], WP_KIND_OTHER);
		d->source = dup_text(&c[3]);
		d->method = dup_text(&c[4]);
		d->estimated = inum(&c[5], 0) != 0;
		d->in_total = inum(&c[6], 0) != 0;
		d->integrated = inum(&c[7], 0) != 0;
		d->device_name = dup_opt(&c[8]);
		d->device_id = dup_opt(&c[9]);
		d->status = (int)inum(&c[10], 0);
		d->energy_j = num(&c[11]);
		d->avg_power_w = num(&c[12]);
		d->min_power_w = num(&c[13]);
		d->peak_power_w = num(&c[14]);
		d->idle_power_w = num(&c[15]);
		d->energy_std_j = num(&c[16]);
		d->energy_min_j = num(&c[17]);
		d->energy_max_j = num(&c[18]);
		/* Checked with the run's attribution (load_attribution). */
		d->attributed_energy_j = num(&c[19]);
		d->attribution_method = dup_opt(&c[20]);
		if (!d->name || !d->source || !d->method || (c[8].t == WP__V_TEXT && !d->device_name) ||
		    (c[9].t == WP__V_TEXT && !d->device_id) ||
		    (c[20].t == WP__V_TEXT && !d->attribution_method))
			rc = -ENOMEM;
		else if (inum(&c[0], -1) != (int64_t)i || !*d->name || d->kind < WP_KIND_PACKAGE ||
		         d->kind > WP_KIND_GPU)
			rc = errf(s, WP_ECORRUPT,
			          "run %" PRId64 " in '%s': domain %zu is missing or of an unknown kind",
			          id, s->db.where, i);
	}
	wp__rows_free(&r);
	return rc;
}

/* A process's command: bytes (or text) without a NUL, or NULL. */
static int dup_command(const struct wp__val *v, char **out)
{
	*out = NULL;
	if (v->t == WP__V_NULL)
		return 0;
	if (v->t == WP__V_TEXT)
		return (*out = strdup(v->s)) ? 0 : -ENOMEM;
	if (v->t != WP__V_BLOB || memchr(v->b, '\0', v->len))
		return 1;
	if (!(*out = malloc(v->len + 1)))
		return -ENOMEM;
	memcpy(*out, v->b, v->len);
	(*out)[v->len] = '\0';
	return 0;
}

/* 0 or 1 from a flag column; -1 for anything else. */
static int flag(const struct wp__val *v)
{
	return v->t == WP__V_INT && (v->i == 0 || v->i == 1) ? (int)v->i : -1;
}

/*
 * The run's attribution (schema 4): its figures, its processes in order,
 * and the domains' shares that load_domains read, all checked: a run
 * without attribution has none of them, and one with attribution has what
 * attribution_problem() accepts, with processes numbered 0 .. count - 1.
 */
static int load_attribution(struct wp_store *s, int64_t id, struct wp_report *rep)
{
	struct wp__rows r = { 0 };
	struct wp__val p = wp__int(id);
	const char *why = NULL;
	/* One query (one round trip for each run that `wattprof runs` lists):
	 * the run's figures on every row, beside each of its processes; one
	 * row with NULL process columns when it has none. */
	int rc = exec(s,
	              "SELECT r.attributed, r.attribution_root_pid, r.attributed_total_j, "
	              "r.attributed_cpu_time_s, r.attributed_peak_rss_b, "
	              "r.attributed_peak_pss_b, r.attributed_peak_uss_b, "
	              "r.attributed_peak_gpu_mem_b, r.process_count, p.idx, p.pid, p.ppid, "
	              "p.command, p.start_s, p.end_s, p.exited, p.cpu_time_s, p.peak_rss_b, "
	              "p.peak_pss_b, p.peak_uss_b, p.pss_from_rss, p.peak_gpu_mem_b, "
	              "p.attributed_energy_j FROM runs r LEFT JOIN processes p "
	              "ON p.run_id = r.id AND p.node = 0 WHERE r.id = ? ORDER BY p.idx",
	              &p, 1, &r);
	if (rc < 0)
		return rc;
	const struct wp__val *c = r.nrows ? wp__cell(&r, 0, 0) : NULL;
	size_t n = c && c[9].t != WP__V_NULL ? r.nrows : 0; /* processes */
	int attributed = !c || c[0].t == WP__V_NULL ? 0 : flag(&c[0]);
	if (attributed < 0) {
		why = "it is neither attributed nor not";
	} else if (!attributed) {
		for (size_t k = 1; c && k < 9 && !why; k++)
			if (c[k].t != WP__V_NULL)
				why = "it has attribution figures but no attribution";
		for (size_t i = 0; i < rep->domain_count && !why; i++)
			if (!isnan(rep->domains[i].attributed_energy_j) ||
			    rep->domains[i].attribution_method)
				why = "a domain has an attributed energy or method but the run no "
				      "attribution";
		if (!why && n)
			why = "it has processes but no attribution";
	} else if (c[1].t != WP__V_INT || c[8].t != WP__V_INT || c[8].i < 0 ||
	           (uint64_t)c[8].i != n) {
		why = "its root process or its processes are missing";
	} else {
		rep->attributed = 1;
		rep->attribution_root_pid = c[1].i;
		rep->attributed_total_j = num(&c[2]);
		rep->attributed_cpu_time_s = num(&c[3]);
		rep->attributed_peak_rss_b = num(&c[4]);
		rep->attributed_peak_pss_b = num(&c[5]);
		rep->attributed_peak_uss_b = num(&c[6]);
		rep->attributed_peak_gpu_mem_b = num(&c[7]);
		if (n && !(rep->processes = calloc(n, sizeof *rep->processes)))
			rc = -ENOMEM;
	}
	for (size_t k = 0; rc == 0 && !why && attributed == 1 && k < n; k++) {
		const struct wp__val *q = wp__cell(&r, k, 9);
		struct wp_report_process *x = &rep->processes[k];
		rep->process_count = k + 1;
		rc = dup_command(&q[3], &x->command);
		if (rc > 0)
			why = "a process's command is not text";
		x->pid = inum(&q[1], -1);
		x->ppid = inum(&q[2], -1);
		x->start_s = num(&q[4]);
		x->end_s = num(&q[5]);
		x->exited = flag(&q[6]);
		x->cpu_time_s = num(&q[7]);
		x->peak_rss_b = num(&q[8]);
		x->peak_pss_b = num(&q[9]);
		x->peak_uss_b = num(&q[10]);
		x->pss_from_rss = flag(&q[11]);
		x->peak_gpu_mem_b = num(&q[12]);
		x->attributed_energy_j = num(&q[13]);
		if (rc == 0 && inum(&q[0], -1) != (int64_t)k)
			why = "a process is missing";
		else if (rc == 0 && (x->exited < 0 || x->pss_from_rss < 0))
			why = "a process's flags are neither 0 nor 1";
	}
	if (rc > 0)
		rc = 0; /* a bad command: said by why */
	if (rc == 0 && !why && attributed == 1)
		why = attribution_problem(rep);
	if (rc == 0 && why)
		rc = errf(s, WP_ECORRUPT, "run %" PRId64 " in '%s' has impossible attribution: %s",
		          id, s->db.where, why);
	wp__rows_free(&r);
	return rc;
}

/* An MPI job's regions: each rank's time (schema 5; none before it). */
static int load_region_ranks(struct wp_store *s, int64_t id, struct wp_report *rep)
{
	struct wp__rows t = { 0 };
	struct wp__val p = wp__int(id);
	int rc = exec(s,
	              "SELECT region, idx, rank, node, start_s, duration_s FROM region_ranks "
	              "WHERE run_id = ? ORDER BY region, idx",
	              &p, 1, &t);
	/* Rows in order: region k's are idx 0, 1 ... of it. */
	for (size_t j = 0, end; rc == 0 && j < t.nrows; j = end) {
		int64_t k = inum(wp__cell(&t, j, 0), -1);
		for (end = j; end < t.nrows && inum(wp__cell(&t, end, 0), -1) == k; end++)
			;
		struct wp_report_region *g =
			k >= 0 && (uint64_t)k < rep->region_count ? &rep->regions[k] : NULL;
		if (g && !(g->ranks = calloc(end - j, sizeof *g->ranks)))
			rc = -ENOMEM;
		for (size_t i = j; rc == 0 && i < end; i++) {
			const struct wp__val *c = wp__cell(&t, i, 0);
			int64_t rank = inum(&c[2], -1);
			if (!g || inum(&c[1], -1) != (int64_t)(i - j) || rank < 0 || rank > INT32_MAX) {
				rc = errf(s, WP_ECORRUPT,
				          "run %" PRId64 " in '%s': a rank's time in a region names no "
				          "region, or one is missing",
				          id, s->db.where);
				break;
			}
			struct wp_report_rank *o = &g->ranks[g->rank_count++];
			o->rank = (int)rank;
			o->node = dup_text(&c[3]);
			o->start_s = num(&c[4]);
			o->duration_s = num(&c[5]);
			if (!o->node)
				rc = -ENOMEM;
		}
	}
	wp__rows_free(&t);
	return rc;
}

static int load_regions(struct wp_store *s, int64_t id, struct wp_report *rep)
{
	struct wp__rows r = { 0 }, e = { 0 };
	struct wp__val p = wp__int(id);
	int rc = exec(s,
	              "SELECT idx, tag, start_s, duration_s FROM regions WHERE run_id = ? "
	              "ORDER BY idx",
	              &p, 1, &r);
	if (rc == 0)
		rc = exec(s,
		          "SELECT region, domain, energy_j FROM region_energy WHERE run_id = ? "
		          "AND node = 0",
		          &p, 1, &e);
	if (rc == 0 && r.nrows) {
		rep->regions = calloc(r.nrows, sizeof *rep->regions);
		rc = rep->regions ? 0 : -ENOMEM;
	}
	for (size_t k = 0; rc == 0 && k < r.nrows; k++) {
		const struct wp__val *c = wp__cell(&r, k, 0);
		struct wp_report_region *g = &rep->regions[k];
		rep->region_count = k + 1;
		g->tag = dup_text(&c[1]);
		g->start_s = num(&c[2]);
		g->duration_s = num(&c[3]);
		g->energy_j = malloc((rep->domain_count ? rep->domain_count : 1) * sizeof(double));
		if (!g->tag || !g->energy_j)
			rc = -ENOMEM;
		for (size_t i = 0; rc == 0 && i < rep->domain_count; i++)
			g->energy_j[i] = NAN;
		if (rc == 0 && inum(&c[0], -1) != (int64_t)k)
			rc = errf(s, WP_ECORRUPT, "run %" PRId64 " in '%s': region %zu is missing", id,
			          s->db.where, k);
	}
	for (size_t j = 0; rc == 0 && j < e.nrows; j++) {
		int64_t k = inum(wp__cell(&e, j, 0), -1), i = inum(wp__cell(&e, j, 1), -1);
		if (k < 0 || (uint64_t)k >= rep->region_count || i < 0 ||
		    (uint64_t)i >= rep->domain_count)
			rc = errf(s, WP_ECORRUPT,
			          "run %" PRId64 " in '%s': a region's energy names no region or domain",
			          id, s->db.where);
		else
			rep->regions[k].energy_j[i] = num(wp__cell(&e, j, 2));
	}
	wp__rows_free(&r);
	wp__rows_free(&e);
	return rc == 0 ? load_region_ranks(s, id, rep) : rc;
}

/*
 * Reads the chunks of one kind in order, a page at a time, calling
 * `row` for every row (bounded memory however long the run).
 */
static int each_row(struct wp_store *s, int64_t id, int which, size_t width,
                    int (*row)(void *ctx, const double *v), void *ctx, uint64_t *rows)
{
	uint64_t next = 0;
	double *v = malloc(width * sizeof(double));
	int rc = v ? 0 : -ENOMEM;

	for (int done = 0; rc == 0 && !done;) {
		struct wp__rows r = { 0 };
		struct wp__val p[] = { wp__int(id), wp__int(which), wp__int((int64_t)next) };
		rc = exec(s,
		          "SELECT first_row, nrows, width, data FROM chunks WHERE run_id = ? AND "
		          "node = 0 AND kind = ? AND first_row >= ? ORDER BY first_row LIMIT 16",
		          p, 3, &r);
		done = rc < 0 || r.nrows < 16;
		for (size_t j = 0; rc == 0 && j < r.nrows; j++) {
			const struct wp__val *c = wp__cell(&r, j, 0);
			int64_t first = inum(&c[0], -1), n = inum(&c[1], -1), w = inum(&c[2], -1);
			if (first != (int64_t)next || n <= 0 || w != (int64_t)width ||
			    c[3].t != WP__V_BLOB || c[3].len != (uint64_t)n * width * sizeof(double)) {
				rc = errf(s, WP_ECORRUPT,
				          "run %" PRId64 " in '%s': the samples stored from row %" PRIu64
				          " are not what their table says (a chunk is missing, of "
				          "another width, or cut short)",
				          id, s->db.where, next);
				break;
			}
			const unsigned char *b = c[3].b;
			for (int64_t k = 0; rc == 0 && k < n; k++) {
				memcpy(v, b + (size_t)k * width * sizeof(double), width * sizeof(double));
				to_le(v, width); /* its own inverse */
				rc = row(ctx, v);
			}
			next += (uint64_t)n;
		}
		wp__rows_free(&r);
	}
	free(v);
	*rows = next;
	return rc;
}

struct energy_ctx {
	struct wp_store *s;
	struct wp_series *series; /* NULL: only the last row is kept */
	size_t nd;
	double *last;
	double prev_t;
	int64_t id;
	int any;
};

static int energy_row(void *p, const double *v)
{
	struct energy_ctx *c = p;
	if (!(v[0] >= 0) || (c->any && v[0] < c->prev_t))
		return errf(c->s, WP_ECORRUPT,
		            "run %" PRId64 " in '%s': a sample's time goes backwards or is not a number",
		            c->id, c->s->db.where);
	c->prev_t = v[0];
	c->any = 1;
	memcpy(c->last, v, (c->nd + 1) * sizeof(double));
	return c->series ? wp__series_append(c->series, 0, v) : 0;
}

static int reading_row(void *p, const double *v)
{
	struct energy_ctx *c = p;
	return wp__series_append(c->series, 1, v);
}

/* Reading columns of the run: (domain, metric, unit) triples. */
static int load_series(struct wp_store *s, int64_t id, struct wp_run *run, int want_series)
{
	struct wp_report *rep = &run->report;
	struct wp__rows rc_rows = { 0 };
	struct wp__val p = wp__int(id);
	struct energy_ctx ctx = { .s = s, .nd = rep->domain_count, .id = id };
	int rc = exec(s,
	              "SELECT domain, metric, unit FROM readings WHERE run_id = ? AND node = 0 "
	              "ORDER BY idx",
	              &p, 1, &rc_rows);
	size_t nr = rc_rows.nrows;
	struct wp_series_column *cols = calloc(nr + 1, sizeof *cols);
	const char **names = calloc(rep->domain_count + 1, sizeof *names);
	ctx.last = malloc((rep->domain_count + 1) * sizeof(double));
	if (rc == 0 && (!cols || !names || !ctx.last))
		rc = -ENOMEM;
	for (size_t k = 0; rc == 0 && k < nr; k++) {
		const struct wp__val *c = wp__cell(&rc_rows, k, 0);
		if (c[0].t != WP__V_TEXT || c[1].t != WP__V_TEXT || c[2].t != WP__V_TEXT)
			rc = errf(s, WP_ECORRUPT, "run %" PRId64 " in '%s': a reading column has no name",
			          id, s->db.where);
		else
			cols[k] = (struct wp_series_column){ c[0].s, c[1].s, c[2].s };
	}
	for (size_t i = 0; rc == 0 && i < rep->domain_count; i++)
		names[i] = rep->domains[i].name;
	if (rc == 0 && want_series)
		rc = wp__series_open_rows(&ctx.series, rep->domain_count, names, nr, cols, NULL);
	uint64_t n = 0, nrr = 0;
	if (rc == 0)
		rc = each_row(s, id, 0, rep->domain_count + 1, energy_row, &ctx, &n);
	if (rc == 0 && ctx.series && nr)
		rc = each_row(s, id, 1, nr + 1, reading_row, &ctx, &nrr);
	if (rc == 0 && strcmp(run->status, "finished") && n > 0) {
		/* Running or unfinished: the figures up to the last stored sample. */
		double t = ctx.last[0] / 1e9, total = 0;
		int any = 0;
		rep->duration_s = t;
		for (size_t i = 0; i < rep->domain_count; i++) {
			struct wp_report_domain *d = &rep->domains[i];
			d->energy_j = ctx.last[1 + i];
			d->avg_power_w = t > 0 ? d->energy_j / t : NAN;
			if (d->in_total && !isnan(d->energy_j))
				total += d->energy_j, any = 1;
		}
		rep->total_energy_j = any ? total : NAN;
		rep->samples = n;
	}
	wp__rows_free(&rc_rows);
	free(cols);
	free(names);
	free(ctx.last);
	if (rc == 0 && ctx.series && n > 0) {
		run->series = ctx.series;
		rep->series = ctx.series;
	} else {
		wp_series_close(ctx.series);
	}
	return rc;
}

/*
 * The run's carbon factors, and its figures from them and the total (for an
 * unfinished run, the total up to its last sample): the same formulas as
 * when it was measured, so the stored report shows the same figures.
 */
static int load_carbon(struct wp_store *s, int64_t id, struct wp_report *rep)
{
	struct wp__rows r = { 0 };
	struct wp__val p = wp__int(id);
	int rc = exec(s,
	              "SELECT pue, country, emissions_factor_g_per_kwh, emissions_factor_source, "
	              "price_factor, price_unit FROM runs WHERE id = ?",
	              &p, 1, &r);
	if (rc < 0)
		return rc;
	const struct wp__val *c = r.nrows == 1 ? wp__cell(&r, 0, 0) : NULL;
	if (c && c[0].t != WP__V_NULL) {
		rc = wp__carbon_restore(rep, num(&c[0]), c[1].t == WP__V_TEXT ? c[1].s : NULL,
		                        num(&c[2]), c[3].t == WP__V_TEXT ? c[3].s : NULL, num(&c[4]),
		                        c[5].t == WP__V_TEXT ? c[5].s : NULL);
		if (rc == -EINVAL)
			rc = errf(s, WP_ECORRUPT,
			          "run %" PRId64 " in '%s' has impossible carbon factors (a PUE below "
			          "1, a negative or missing emissions factor or price, a price "
			          "without its unit)",
			          id, s->db.where);
	}
	wp__rows_free(&r);
	return rc;
}

static void sum_kinds(struct wp_run *run)
{
	double *to[] = { &run->cpu_j, &run->dram_j, &run->gpu_j, &run->other_j };
	for (size_t k = 0; k < 4; k++)
		*to[k] = NAN;
	for (size_t i = 0; i < run->report.domain_count; i++) {
		const struct wp_report_domain *d = &run->report.domains[i];
		if (!d->in_total || isnan(d->energy_j))
			continue;
		double *t = d->kind == WP_KIND_PACKAGE || d->kind == WP_KIND_CORE ||
		                            d->kind == WP_KIND_UNCORE
		                    ? &run->cpu_j
		            : d->kind == WP_KIND_DRAM ? &run->dram_j
		            : d->kind == WP_KIND_GPU  ? &run->gpu_j
		                                      : &run->other_j;
		*t = isnan(*t) ? d->energy_j : *t + d->energy_j;
	}
}

int wp_store_load(struct wp_store *s, int64_t id, unsigned flags, struct wp_run **out)
{
	struct wp_run *run;
	char boot[64];
	int64_t pid = 0, updated = 0;
	int rc;

	if (!s || !s->open || !out)
		return -EINVAL;
	*out = NULL;
	run = calloc(1, sizeof *run);
	if (!run)
		return -ENOMEM;
	wp_report_init(&run->report);
	rc = load_run_row(s, id, run, boot, sizeof boot, &pid, &updated);
	if (rc == 0 && !strcmp(run->status, "running") &&
	    !still_running(run->report.host, boot, pid, updated)) {
		free(run->status);
		run->status = strdup("unfinished");
		rc = run->status ? 0 : -ENOMEM;
	}
	size_t nargs = 0, nwarn = 0;
	if (rc == 0)
		rc = load_texts(s, "SELECT arg FROM run_args WHERE run_id = ? ORDER BY idx", id,
		                &run->report.command, &nargs, 0);
	if (rc == 0)
		rc = load_texts(s, "SELECT tag FROM tags WHERE run_id = ? ORDER BY idx", id, &run->tags,
		                &run->tag_count, 1);
	if (rc == 0)
		rc = load_texts(s, "SELECT message FROM warnings WHERE run_id = ? ORDER BY idx", id,
		                &run->report.warnings, &nwarn, 1);
	run->report.warning_count = nwarn;
	if (rc == 0)
		rc = load_domains(s, id, run);
	if (rc == 0)
		rc = load_regions(s, id, &run->report);
	if (rc == 0)
		rc = load_attribution(s, id, &run->report);
	int partial = rc == 0 && strcmp(run->status, "finished");
	if (rc == 0 && (partial || (flags & WP_LOAD_SERIES)))
		rc = load_series(s, id, run, (flags & WP_LOAD_SERIES) != 0);
	if (rc == 0)
		rc = load_carbon(s, id, &run->report);
	if (rc == 0 && partial)
		rc = wp_report_warn(&run->report,
		                    "this run %s: its figures cover its first %.1f s, up to the last "
		                    "sample stored; its regions and exit status were not stored",
		                    !strcmp(run->status, "running")
		                            ? "is still running"
		                            : "did not finish (its wattprof was killed, or the "
		                              "machine stopped)",
		                    isnan(run->report.duration_s) ? 0.0 : run->report.duration_s);
	if (rc == 0)
		sum_kinds(run);
	if (rc < 0) {
		wp_run_free(run);
		return rc;
	}
	*out = run;
	return 0;
}

int wp_store_list(struct wp_store *s, int64_t **ids, size_t *count)
{
	struct wp__rows r = { 0 };
	if (!s || !s->open || !ids || !count)
		return -EINVAL;
	*ids = NULL;
	*count = 0;
	int rc = exec(s, "SELECT id FROM runs ORDER BY id", NULL, 0, &r);
	if (rc == 0) {
		*ids = malloc((r.nrows ? r.nrows : 1) * sizeof **ids);
		rc = *ids ? 0 : -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < r.nrows; i++)
		(*ids)[i] = inum(wp__cell(&r, i, 0), 0);
	if (rc == 0)
		*count = r.nrows;
	wp__rows_free(&r);
	return rc;
}

int wp_store_remove(struct wp_store *s, int64_t id)
{
	struct wp__rows r = { 0 };
	struct wp__val p = wp__int(id);
	if (!s || !s->open)
		return -EINVAL;
	if (s->run_id == id)
		return errf(s, WP_ESTATE, "run %" PRId64 " is being stored", id);
	int rc = begin_tx(s);
	if (rc < 0)
		return rc;
	rc = exec(s, "SELECT id FROM runs WHERE id = ?", &p, 1, &r);
	if (rc == 0 && r.nrows == 0)
		rc = errf(s, -ENOENT, "no run %" PRId64 " in '%s'", id, s->db.where);
	wp__rows_free(&r);
	for (size_t t = 0; rc == 0 && t < sizeof run_tables / sizeof run_tables[0]; t++) {
		char sql[96];
		snprintf(sql, sizeof sql, "DELETE FROM %s WHERE run_id = ?", run_tables[t]);
		rc = exec(s, sql, &p, 1, NULL);
	}
	if (rc == 0)
		rc = exec(s, "DELETE FROM runs WHERE id = ?", &p, 1, NULL);
	return end_tx(s, rc);
}
