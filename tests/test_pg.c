/*
 * test_pg.c - the PostgreSQL driver (src/store/postgres.c) against a real
 * server, through wp__pg_ops directly.
 *
 * The server is the one WATTPROF_TEST_PG names (a URL); `make check` and
 * `make test` start a throwaway one with scripts/pg.sh and set it.  Without
 * it every test here skips, saying why (WATTPROF_TEST_PG_WHY, set by
 * pg.sh when it could not start one).
 *
 * Each test works in a schema of its own, wpt_<test>_<pid>, so that several
 * runs (the plain and the sanitized builds) can share one server; the
 * schema is dropped when the test's process exits, failed assertion or not.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "store/db.h"
#include "test.h"
#include "wattprof/wattprof.h"

static const struct wp__db_ops *const PG = &wp__pg_ops;

static char g_url[1024];
static char g_schema[64];
/* The test's connections: closed before its schema is dropped, since a
 * failed assertion may leave one inside a transaction that holds locks. */
static struct wp__db g_db[2];

static void drop_schema(void)
{
	struct wp__db db = { .ops = PG };
	char sql[128];
	for (size_t k = 0; k < sizeof g_db / sizeof *g_db; k++)
		PG->close(&g_db[k]);
	snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", g_schema);
	if (PG->open(&db, g_url, 0) == 0 && PG->exec(&db, sql, NULL, 0, NULL) != 0)
		fprintf(stderr, "  cannot drop schema %s: %s\n", g_schema, db.err);
	PG->close(&db);
}

/* The test server's URL, or NULL after saying why there is none. */
static const char *server_url(void)
{
	const char *url = getenv("WATTPROF_TEST_PG");
	if (url && *url)
		return url;
	const char *why = getenv("WATTPROF_TEST_PG_WHY");
	fprintf(stderr, "  skipped: %s\n",
	        why && *why ? why
	                    : "no PostgreSQL server: WATTPROF_TEST_PG is not set (make check "
	                      "starts one with scripts/pg.sh)");
	return NULL;
}

static void set_search_path(struct wp__db *db)
{
	char sql[256];
	snprintf(sql, sizeof sql, "SET search_path TO %s", g_schema);
	if (PG->exec(db, sql, NULL, 0, NULL) != 0)
		TEST_FAIL_("%s: %s", sql, db->err);
}

/*
 * A connection to the test server, in a new schema wpt_<name>_<pid> that is
 * dropped at exit; NULL, having said why, when there is no server.
 */
static struct wp__db *connect_schema(const char *name)
{
	const char *url = server_url();
	if (!url)
		return NULL;
	snprintf(g_url, sizeof g_url, "%s", url);
	snprintf(g_schema, sizeof g_schema, "wpt_%s_%ld", name, (long)getpid());
	struct wp__db *db = &g_db[0];
	db->ops = PG;
	int rc = PG->open(db, g_url, WP_STORE_CREATE);
	if (rc != 0)
		TEST_FAIL_("cannot open the test server (%d): %s", rc, db->err);
	char sql[256];
	snprintf(sql, sizeof sql, "CREATE SCHEMA %s", g_schema);
	if (PG->exec(db, sql, NULL, 0, NULL) != 0)
		TEST_FAIL_("%s: %s", sql, db->err);
	atexit(drop_schema);
	set_search_path(db);
	return db;
}

/* A second connection to the test server, in the same schema. */
static struct wp__db *connect_again(void)
{
	struct wp__db *db = &g_db[1];
	db->ops = PG;
	if (PG->open(db, g_url, 0) != 0)
		TEST_FAIL_("cannot open a second connection: %s", db->err);
	set_search_path(db);
	return db;
}

/* Runs a statement that must succeed. */
#define EXEC(db, sql, params, np, out)                                        \
	do {                                                                  \
		int rc_ = PG->exec((db), (sql), (params), (np), (out));       \
		if (rc_ != 0)                                                 \
			TEST_FAIL_("%s: returned %d: %s", (sql), rc_, (db)->err); \
	} while (0)

/* Runs a statement that must fail with WP_EDB. */
#define EXEC_FAILS(db, sql, params, np, out)                                  \
	do {                                                                  \
		int rc_ = PG->exec((db), (sql), (params), (np), (out));       \
		if (rc_ != WP_EDB)                                            \
			TEST_FAIL_("%s: returned %d, not WP_EDB (%s)", (sql), rc_, \
			           (db)->err);                                \
	} while (0)

#define ASSERT_BITS(a, b)                                                     \
	do {                                                                  \
		double a_ = (a), b_ = (b);                                    \
		if (memcmp(&a_, &b_, sizeof a_) != 0)                         \
			TEST_FAIL_("%s == %s bit for bit: %a vs %a", #a, #b, a_, b_); \
	} while (0)

/* The one value of a one-row, one-column result, of type t. */
static const struct wp__val *only(const struct wp__rows *r, enum wp__vtype t)
{
	if (r->nrows != 1 || r->ncols != 1)
		TEST_FAIL_("expected 1 row of 1 column, got %zu x %zu", r->nrows, r->ncols);
	if (r->v[0].t != t)
		TEST_FAIL_("expected a value of type %d, got %d", (int)t, (int)r->v[0].t);
	return &r->v[0];
}

/* CREATE TABLE with @ID@ @REAL@ @BLOB@ spelt as the driver spells them. */
static void create_table(struct wp__db *db, const char *name, const char *cols)
{
	char sql[1024];
	snprintf(sql, sizeof sql, "CREATE TABLE %s (id %s, %s)", name, PG->id_type, cols);
	EXEC(db, sql, NULL, 0, NULL);
}

/* A column list with its one %s filled in (the type words differ by driver). */
static const char *col(const char *fmt, const char *type)
{
	static char buf[256];
	snprintf(buf, sizeof buf, fmt, type);
	return buf;
}

TEST(pg_round_trips_numbers)
{
	struct wp__db *db = connect_schema("numbers");
	if (!db)
		return TEST_SKIP;
	ASSERT_STR(PG->name, "postgresql");
	create_table(db, "n", col("i BIGINT, r %s", PG->real_type));

	const int64_t ints[] = { INT64_MIN, INT64_MAX, 0, -1, 1, ((int64_t)1 << 53) + 1,
		                 (int64_t)0x0102030405060708 };
	const double reals[] = { 0.0, -0.0, 1e-308, 4.9406564584124654e-324, DBL_MIN,
		                 DBL_MAX, -DBL_MAX, INFINITY, -INFINITY, 0.1, 1.0 / 3.0,
		                 -2.5e-17, 6.02214076e23, };
	const size_t n_ints = sizeof ints / sizeof *ints, n_reals = sizeof reals / sizeof *reals;
	ASSERT(n_ints <= n_reals);
	struct wp__rows ids = { 0 };
	for (size_t k = 0; k < n_reals; k++) {
		struct wp__val p[2] = { wp__int(k < n_ints ? ints[k] : (int64_t)k), wp__real(reals[k]) };
		EXEC(db, "INSERT INTO n (i, r) VALUES (?, ?) RETURNING id", p, 2, &ids);
	}
	/* @ID@ numbers the rows 1, 2, ... and RETURNING hands the id back,
	 * appended to the same result. */
	ASSERT_EQ(ids.nrows, n_reals);
	for (size_t k = 0; k < n_reals; k++) {
		ASSERT_EQ(wp__cell(&ids, k, 0)->t, WP__V_INT);
		ASSERT_EQ(wp__cell(&ids, k, 0)->i, (int64_t)k + 1);
	}
	wp__rows_free(&ids);

	struct wp__rows r = { 0 };
	EXEC(db, "SELECT i, r FROM n ORDER BY id", NULL, 0, &r);
	ASSERT_EQ(r.nrows, n_reals);
	ASSERT_EQ(r.ncols, 2);
	for (size_t k = 0; k < n_reals; k++) {
		ASSERT_EQ(wp__cell(&r, k, 0)->t, WP__V_INT);
		ASSERT_EQ(wp__cell(&r, k, 0)->i, k < n_ints ? ints[k] : (int64_t)k);
		ASSERT_EQ(wp__cell(&r, k, 1)->t, WP__V_REAL);
		ASSERT_BITS(wp__cell(&r, k, 1)->r, reals[k]);
	}
	wp__rows_free(&r);

	/* Parameters come back as they went, in any position of a SELECT. */
	struct wp__val echo[3] = { wp__int(INT64_MIN), wp__real(-0.0), wp__int(INT64_MAX) };
	EXEC(db, "SELECT ?, ?, ?", echo, 3, &r);
	ASSERT_EQ(r.v[0].i, INT64_MIN);
	ASSERT_BITS(r.v[1].r, -0.0);
	ASSERT_EQ(r.v[2].i, INT64_MAX);
	wp__rows_free(&r);

	/* NaN is stored as NULL, whether wp__real() made the NULL or not, and a
	 * NaN the server holds is read as NULL. */
	struct wp__val nan_made = wp__real(NAN);
	struct wp__val nan_raw = { .t = WP__V_REAL, .r = NAN };
	ASSERT_EQ(nan_made.t, WP__V_NULL);
	EXEC(db, "INSERT INTO n (i, r) VALUES (100, ?)", &nan_made, 1, NULL);
	EXEC(db, "INSERT INTO n (i, r) VALUES (101, ?)", &nan_raw, 1, NULL);
	EXEC(db, "SELECT count(*) FROM n WHERE i >= 100 AND r IS NULL", NULL, 0, &r);
	ASSERT_EQ(only(&r, WP__V_INT)->i, 2);
	wp__rows_free(&r);
	EXEC(db, "SELECT r FROM n WHERE i = 100", NULL, 0, &r);
	only(&r, WP__V_NULL);
	wp__rows_free(&r);
	/* A NaN's NULL is typed float8, so it fits where the server could not
	 * guess a type. */
	EXEC(db, "SELECT ? IS NULL", &nan_made, 1, &r);
	ASSERT_EQ(only(&r, WP__V_INT)->i, 1);
	wp__rows_free(&r);
	EXEC(db, "SELECT 'NaN'::float8, 'NaN'::real", NULL, 0, &r);
	ASSERT_EQ(r.v[0].t, WP__V_NULL);
	ASSERT_EQ(r.v[1].t, WP__V_NULL);
	wp__rows_free(&r);
	/* A plain NULL goes where the column's type says. */
	struct wp__val nul[2] = { { .t = WP__V_NULL }, { .t = WP__V_NULL } };
	EXEC(db, "INSERT INTO n (i, r) VALUES (?, ?) RETURNING i, r", nul, 2, &r);
	ASSERT_EQ(r.v[0].t, WP__V_NULL);
	ASSERT_EQ(r.v[1].t, WP__V_NULL);
	wp__rows_free(&r);

	/* The narrower types the server may return, and NULLs of every type. */
	EXEC(db,
	     "SELECT 32767::int2, (-32768)::int2, 2147483647::int4, (-2147483648)::int4, "
	     "true, false, 1.5::real, '-0'::real, '-Infinity'::real, 3.4e38::real",
	     NULL, 0, &r);
	ASSERT_EQ(r.nrows, 1);
	const int64_t narrow[] = { 32767, -32768, 2147483647, -2147483648LL, 1, 0 };
	for (size_t c = 0; c < 6; c++) {
		ASSERT_EQ(r.v[c].t, WP__V_INT);
		ASSERT_EQ(r.v[c].i, narrow[c]);
	}
	for (size_t c = 6; c < 10; c++)
		ASSERT_EQ(r.v[c].t, WP__V_REAL);
	ASSERT_BITS(r.v[6].r, 1.5);
	ASSERT_BITS(r.v[7].r, -0.0);
	ASSERT_BITS(r.v[8].r, -INFINITY);
	ASSERT_BITS(r.v[9].r, (double)3.4e38f);
	wp__rows_free(&r);
	EXEC(db,
	     "SELECT NULL::bigint, NULL::int4, NULL::float8, NULL::text, NULL::bytea, "
	     "NULL::bool",
	     NULL, 0, &r);
	ASSERT_EQ(r.ncols, 6);
	for (size_t c = 0; c < 6; c++)
		ASSERT_EQ(r.v[c].t, WP__V_NULL);
	wp__rows_free(&r);
	PG->close(db);
	return TEST_OK;
}

/* A 1 MiB pattern with every byte value, NULs among them. */
static unsigned char *big_blob(size_t len)
{
	unsigned char *b = malloc(len);
	ASSERT(b);
	uint32_t x = 2463534242u;
	for (size_t k = 0; k < len; k++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[k] = (unsigned char)(k % 7 == 0 ? 0 : x);
	}
	return b;
}

TEST(pg_round_trips_text_and_blobs)
{
	struct wp__db *db = connect_schema("text");
	if (!db)
		return TEST_SKIP;
	create_table(db, "t", col("s TEXT, b %s", PG->blob_type));

	const char *texts[] = {
		"",
		"plain",
		"it's \"quoted\" ''twice''",
		"\xc3\xa9nergie \xe2\x9a\xa1 \xe9\x9b\xbb\xe5\x8a\x9b \xf0\x9f\x94\x8b", /* énergie ⚡ 電力 🔋 */
		"?",
		"$1 $2 ?",
		"back\\slash E'\\'' -- not a comment /* nor this */",
		"new\nline\ttab\r",
	};
	static const unsigned char nuls[] = { 0, 1, 0, 255, '?', '\'', 0, '\\', 0 };
	const size_t big_len = 1 << 20;
	unsigned char *big = big_blob(big_len);
	const struct {
		const void *b;
		size_t len;
	} blobs[] = {
		{ nuls, sizeof nuls }, { NULL, 0 }, { "", 0 }, { big, big_len },
		{ "\0", 1 }, { "x", 1 }, { "?'\"", 3 }, { nuls + 1, 3 },
	};
	const size_t n = sizeof texts / sizeof *texts;
	ASSERT_EQ(n, sizeof blobs / sizeof *blobs);
	for (size_t k = 0; k < n; k++) {
		struct wp__val p[2] = { wp__text(texts[k]), wp__blob(blobs[k].b, blobs[k].len) };
		EXEC(db, "INSERT INTO t (s, b) VALUES (?, ?)", p, 2, NULL);
	}
	struct wp__rows r = { 0 };
	EXEC(db, "SELECT s, b, length(s), length(b) FROM t ORDER BY id", NULL, 0, &r);
	ASSERT_EQ(r.nrows, n);
	for (size_t k = 0; k < n; k++) {
		const struct wp__val *s = wp__cell(&r, k, 0), *b = wp__cell(&r, k, 1);
		ASSERT_EQ(s->t, WP__V_TEXT);
		ASSERT_STR(s->s, texts[k]);
		ASSERT_EQ(s->len, strlen(texts[k]));
		/* An empty blob is a blob, not NULL. */
		ASSERT_EQ(b->t, WP__V_BLOB);
		ASSERT_EQ(b->len, blobs[k].len);
		ASSERT(b->b != NULL);
		ASSERT(blobs[k].len == 0 || memcmp(b->b, blobs[k].b, blobs[k].len) == 0);
		ASSERT_EQ(wp__cell(&r, k, 3)->i, (int64_t)blobs[k].len);
	}
	/* The server holds what was meant, not just bytes that read back the
	 * same: the UTF-8 line's 24 bytes are 14 characters to it. */
	ASSERT_EQ(wp__cell(&r, 3, 0)->len, 24);
	ASSERT_EQ(wp__cell(&r, 3, 2)->i, 14);
	wp__rows_free(&r);
	free(big);

	/* A NULL text binds NULL. */
	struct wp__val none = wp__text(NULL);
	ASSERT_EQ(none.t, WP__V_NULL);
	EXEC(db, "INSERT INTO t (s) VALUES (?) RETURNING s, b", &none, 1, &r);
	ASSERT_EQ(r.v[0].t, WP__V_NULL);
	ASSERT_EQ(r.v[1].t, WP__V_NULL);
	wp__rows_free(&r);

	/* The other text types. */
	EXEC(db, "SELECT 'ab'::varchar(5), 'ab'::char(4), 'pg_class'::name, current_user", NULL,
	     0, &r);
	ASSERT_STR(r.v[0].s, "ab");
	ASSERT_STR(r.v[1].s, "ab  ");
	ASSERT_STR(r.v[2].s, "pg_class");
	ASSERT_EQ(r.v[3].t, WP__V_TEXT);
	ASSERT(r.v[3].len > 0);
	wp__rows_free(&r);
	PG->close(db);
	return TEST_OK;
}

TEST(pg_placeholders_outside_quotes)
{
	struct wp__db *db = connect_schema("quotes");
	if (!db)
		return TEST_SKIP;
	/* A `?` in quoted text, an identifier or a comment is not a parameter. */
	struct wp__val p[3] = { wp__int(7), wp__text("x"), wp__real(2.5) };
	struct wp__rows r = { 0 };
	EXEC(db,
	     "SELECT ? AS \"a?\", 'it''s ?' AS b, E'\\'?\\\\' AS c, -- what?\n"
	     "  ? /* ? /* nested ? */ still ? */ AS d, '?' || ?::text AS e",
	     p, 3, &r);
	ASSERT_EQ(r.ncols, 5);
	ASSERT_EQ(r.v[0].i, 7);
	ASSERT_STR(r.v[1].s, "it's ?");
	ASSERT_STR(r.v[2].s, "'?\\");
	ASSERT_STR(r.v[3].s, "x");
	ASSERT_STR(r.v[4].s, "?2.5");
	wp__rows_free(&r);

	/* Identifiers with a `?` and a doubled quote; ? in LIMIT and OFFSET. */
	EXEC(db, "CREATE TABLE \"q?\" (\"?\" BIGINT, \"a\"\"?\" TEXT)", NULL, 0, NULL);
	for (int k = 0; k < 5; k++) {
		struct wp__val row[2] = { wp__int(k), wp__text("?") };
		EXEC(db, "INSERT INTO \"q?\" (\"?\", \"a\"\"?\") VALUES (?, ?)", row, 2, NULL);
	}
	struct wp__val lim[2] = { wp__int(2), wp__int(1) };
	EXEC(db, "SELECT \"?\" FROM \"q?\" ORDER BY \"?\" LIMIT ? OFFSET ?", lim, 2, &r);
	ASSERT_EQ(r.nrows, 2);
	ASSERT_EQ(wp__cell(&r, 0, 0)->i, 1);
	ASSERT_EQ(wp__cell(&r, 1, 0)->i, 2);
	wp__rows_free(&r);

	/* More than nine: $10, $11 and $12 in their places. */
	struct wp__val twelve[12];
	for (int k = 0; k < 12; k++)
		twelve[k] = wp__int(k * 10);
	EXEC(db, "SELECT ?,?,?,?,?,?,?,?,?,?,?,?", twelve, 12, &r);
	ASSERT_EQ(r.ncols, 12);
	for (int k = 0; k < 12; k++)
		ASSERT_EQ(r.v[k].i, k * 10);
	wp__rows_free(&r);

	/* As many values as placeholders, or an error that says so. */
	EXEC_FAILS(db, "SELECT ?, '?'", twelve, 2, &r);
	ASSERT_HAS(db->err, "1 placeholders but 2 values");
	ASSERT_EQ(r.nrows, 0);
	PG->close(db);
	return TEST_OK;
}

TEST(pg_many_rows)
{
	struct wp__db *db = connect_schema("many");
	if (!db)
		return TEST_SKIP;
	const int n = 5000;
	struct wp__val nv = wp__int(n);
	struct wp__rows r = { 0 };
	EXEC(db, "SELECT g::bigint, g * 0.25::float8, 'row ' || g FROM generate_series(1, ?) g ORDER BY g",
	     &nv, 1, &r);
	ASSERT_EQ(r.nrows, (size_t)n);
	ASSERT_EQ(r.ncols, 3);
	for (int k = 0; k < n; k++) {
		char want[32];
		snprintf(want, sizeof want, "row %d", k + 1);
		ASSERT_EQ(wp__cell(&r, (size_t)k, 0)->i, k + 1);
		ASSERT_BITS(wp__cell(&r, (size_t)k, 1)->r, (k + 1) * 0.25);
		ASSERT_STR(wp__cell(&r, (size_t)k, 2)->s, want);
	}
	/* A second statement appends rows of the same width. */
	struct wp__val two = wp__int(2);
	EXEC(db, "SELECT g::bigint, 0.5::float8, 'more' FROM generate_series(1, ?) g", &two, 1,
	     &r);
	ASSERT_EQ(r.nrows, (size_t)n + 2);
	ASSERT_STR(wp__cell(&r, (size_t)n + 1, 2)->s, "more");
	/* Rows of another width are refused, and nothing is appended. */
	EXEC_FAILS(db, "SELECT 1::bigint", NULL, 0, &r);
	ASSERT_HAS(db->err, "1 columns where the rows hold 3");
	ASSERT_EQ(r.nrows, (size_t)n + 2);
	wp__rows_free(&r);

	/* Many statements, in one transaction. */
	create_table(db, "m", col("i BIGINT, r %s", PG->real_type));
	EXEC(db, "BEGIN", NULL, 0, NULL);
	for (int k = 0; k < 2000; k++) {
		struct wp__val p[2] = { wp__int(k), wp__real(k / 8.0) };
		EXEC(db, "INSERT INTO m (i, r) VALUES (?, ?)", p, 2, NULL);
	}
	EXEC(db, "COMMIT", NULL, 0, NULL);
	EXEC(db, "SELECT count(*), min(i), max(i), max(r) FROM m", NULL, 0, &r);
	ASSERT_EQ(r.v[0].i, 2000);
	ASSERT_EQ(r.v[1].i, 0);
	ASSERT_EQ(r.v[2].i, 1999);
	ASSERT_BITS(r.v[3].r, 1999 / 8.0);
	wp__rows_free(&r);
	/* A statement that returns no rows leaves the result empty. */
	EXEC(db, "SELECT i FROM m WHERE i < 0", NULL, 0, &r);
	ASSERT_EQ(r.nrows, 0);
	wp__rows_free(&r);
	PG->close(db);
	return TEST_OK;
}

static int64_t count_rows(struct wp__db *db, const char *table)
{
	char sql[128];
	struct wp__rows r = { 0 };
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
	EXEC(db, sql, NULL, 0, &r);
	int64_t n = only(&r, WP__V_INT)->i;
	wp__rows_free(&r);
	return n;
}

TEST(pg_statement_errors)
{
	struct wp__db *db = connect_schema("errors");
	if (!db)
		return TEST_SKIP;
	struct wp__rows r = { 0 };
	EXEC_FAILS(db, "SELECT * FROM wp_no_such_table", NULL, 0, &r);
	ASSERT_HAS(db->err, "relation \"wp_no_such_table\" does not exist");
	ASSERT_HAS(db->err, "[42P01]");
	ASSERT_HAS(db->err, "'SELECT * FROM wp_no_such_table'");
	ASSERT_EQ(r.nrows, 0);

	EXEC_FAILS(db, "SELEC 1", NULL, 0, NULL);
	ASSERT_HAS(db->err, "syntax error at or near \"SELEC\" [42601]");

	/* The statement on one line, cut after 80 characters. */
	char longsql[400];
	snprintf(longsql, sizeof longsql,
	         "SELECT\n\tnot_a_column_0123456789,\n\t%s\nFROM wp_nothing_at_all_here",
	         "filler_abcdefghijklmnopqrstuvwxyz_abcdefghijklmnopqrstuvwxyz_abcdefghijklmnopqrstuvwxyz");
	EXEC_FAILS(db, longsql, NULL, 0, NULL);
	ASSERT_HAS(db->err, "[42P01]");
	ASSERT_HAS(db->err, "'SELECT not_a_column_0123456789, filler_abcdefghijklmnopqrstuvwxyz_abcdefghijklmn...'");
	ASSERT_LACKS(db->err, "\n");
	ASSERT_LACKS(db->err, "FROM wp_nothing");

	create_table(db, "u", "k BIGINT UNIQUE, s TEXT");
	struct wp__val p[2] = { wp__int(1), wp__text("a") };
	EXEC(db, "INSERT INTO u (k, s) VALUES (?, ?)", p, 2, NULL);
	EXEC_FAILS(db, "INSERT INTO u (k, s) VALUES (?, ?)", p, 2, NULL);
	ASSERT_HAS(db->err, "duplicate key value violates unique constraint");
	ASSERT_HAS(db->err, "[23505]");
	/* The values themselves are not in the message. */
	ASSERT_LACKS(db->err, "(k)=(1)");

	/* A value of the wrong type: the server says which column. */
	struct wp__val wrong[2] = { wp__text("one"), wp__text("a") };
	EXEC_FAILS(db, "INSERT INTO u (k, s) VALUES (?, ?)", wrong, 2, NULL);
	ASSERT_HAS(db->err, "column \"k\" is of type bigint but expression is of type text");
	ASSERT_HAS(db->err, "[42804]");

	/* COPY is refused, and leaves the connection ready for the next. */
	EXEC_FAILS(db, "COPY (SELECT 1) TO STDOUT", NULL, 0, NULL);
	ASSERT_HAS(db->err, "COPY");
	EXEC_FAILS(db, "COPY u (k, s) FROM STDIN", NULL, 0, NULL);
	ASSERT_HAS(db->err, "COPY");
	ASSERT_EQ(count_rows(db, "u"), 1);

	/* Outside a transaction, the connection goes on after an error. */
	EXEC(db, "SELECT 1::bigint", NULL, 0, &r);
	ASSERT_EQ(only(&r, WP__V_INT)->i, 1);
	wp__rows_free(&r);
	PG->close(db);
	return TEST_OK;
}

TEST(pg_unsupported_type_is_named)
{
	struct wp__db *db = connect_schema("types");
	if (!db)
		return TEST_SKIP;
	struct wp__rows r = { 0 };
	/* numeric, what sum(bigint) returns, must be cast by the statement. */
	EXEC_FAILS(db, "SELECT 1::bigint AS fine, 1.5::numeric AS amount", NULL, 0, &r);
	ASSERT_HAS(db->err, "column 'amount' is of type OID 1700");
	ASSERT_HAS(db->err, "cast it");
	ASSERT_EQ(r.nrows, 0);
	EXEC_FAILS(db, "SELECT sum(g::bigint) FROM generate_series(1, 3) g", NULL, 0, &r);
	ASSERT_HAS(db->err, "OID 1700");
	EXEC_FAILS(db, "SELECT now() AS t", NULL, 0, &r);
	ASSERT_HAS(db->err, "column 't' is of type OID 1184");
	ASSERT_EQ(r.nrows, 0);
	/* Rows read before do not change when a later statement fails. */
	EXEC(db, "SELECT 1.5::numeric::float8", NULL, 0, &r);
	ASSERT_BITS(only(&r, WP__V_REAL)->r, 1.5);
	EXEC_FAILS(db, "SELECT 2.5::numeric", NULL, 0, &r);
	ASSERT_EQ(r.nrows, 1);
	ASSERT_BITS(r.v[0].r, 1.5);
	wp__rows_free(&r);
	/* Without rows asked for, the type does not matter. */
	EXEC(db, "SELECT 1.5::numeric", NULL, 0, NULL);
	EXEC(db, "SELECT sum(g::bigint)::bigint FROM generate_series(1, 3) g", NULL, 0, &r);
	ASSERT_EQ(only(&r, WP__V_INT)->i, 6);
	wp__rows_free(&r);
	PG->close(db);
	return TEST_OK;
}

TEST(pg_transactions)
{
	struct wp__db *db = connect_schema("tx");
	if (!db)
		return TEST_SKIP;
	struct wp__db *other = connect_again();
	create_table(db, "x", "v BIGINT");

	EXEC(db, "BEGIN", NULL, 0, NULL);
	EXEC(db, "INSERT INTO x (v) VALUES (1), (2)", NULL, 0, NULL);
	ASSERT_EQ(count_rows(db, "x"), 2);
	ASSERT_EQ(count_rows(other, "x"), 0);
	EXEC(db, "ROLLBACK", NULL, 0, NULL);
	ASSERT_EQ(count_rows(db, "x"), 0);

	EXEC(db, "BEGIN", NULL, 0, NULL);
	EXEC(db, "INSERT INTO x (v) VALUES (3)", NULL, 0, NULL);
	ASSERT_EQ(count_rows(other, "x"), 0);
	EXEC(db, "COMMIT", NULL, 0, NULL);
	ASSERT_EQ(count_rows(other, "x"), 1);

	/* After an error, the transaction takes nothing more until rolled back. */
	EXEC(db, "BEGIN", NULL, 0, NULL);
	EXEC(db, "INSERT INTO x (v) VALUES (4)", NULL, 0, NULL);
	EXEC_FAILS(db, "INSERT INTO x (nope) VALUES (5)", NULL, 0, NULL);
	ASSERT_HAS(db->err, "[42703]");
	EXEC_FAILS(db, "INSERT INTO x (v) VALUES (6)", NULL, 0, NULL);
	ASSERT_HAS(db->err, "current transaction is aborted");
	ASSERT_HAS(db->err, "[25P02]");
	EXEC(db, "ROLLBACK", NULL, 0, NULL);
	ASSERT_EQ(count_rows(db, "x"), 1);
	ASSERT_EQ(count_rows(other, "x"), 1);
	PG->close(other);
	PG->close(db);
	return TEST_OK;
}

TEST(pg_read_only_and_quiet)
{
	struct wp__db *db = connect_schema("quiet");
	if (!db)
		return TEST_SKIP;
	struct wp__db ro;
	create_table(db, "w", "v BIGINT");

	memset(&ro, 0, sizeof ro);
	ASSERT_EQ(PG->open(&ro, g_url, WP_STORE_READONLY), 0);
	char sql[256];
	snprintf(sql, sizeof sql, "INSERT INTO %s.w (v) VALUES (1)", g_schema);
	EXEC_FAILS(&ro, sql, NULL, 0, NULL);
	ASSERT_HAS(ro.err, "read-only transaction");
	ASSERT_HAS(ro.err, "[25006]");
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.w", g_schema);
	struct wp__rows r = { 0 };
	EXEC(&ro, sql, NULL, 0, &r);
	ASSERT_EQ(only(&r, WP__V_INT)->i, 0);
	wp__rows_free(&r);
	PG->close(&ro);

	/* The server's NOTICEs and WARNINGs never reach stderr. */
	char dir[512], path[600];
	test_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/stderr", dir);
	fflush(stderr);
	int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ASSERT(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
	int rc1 = PG->exec(db, "DROP TABLE IF EXISTS wp_not_there", NULL, 0, NULL);
	int rc2 = PG->exec(db, "DO $$ BEGIN RAISE WARNING 'wp warning'; END $$", NULL, 0, NULL);
	int rc3 = PG->exec(db, "SET client_min_messages = debug5", NULL, 0, NULL);
	int rc4 = PG->exec(db, "DO $$ BEGIN RAISE NOTICE 'wp notice'; END $$", NULL, 0, NULL);
	int rc5 = PG->exec(db, "DROP TABLE IF EXISTS wp_not_there", NULL, 0, NULL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ASSERT_EQ(rc1, 0);
	ASSERT_EQ(rc2, 0);
	ASSERT_EQ(rc3, 0);
	ASSERT_EQ(rc4, 0);
	ASSERT_EQ(rc5, 0);
	char *printed = test_slurp(path);
	ASSERT_STR(printed, "");
	free(printed);
	test_rmtree(dir);
	PG->close(db);
	return TEST_OK;
}

TEST(pg_connection_lost)
{
	struct wp__db *db = connect_schema("lost");
	if (!db)
		return TEST_SKIP;
	EXEC_FAILS(db, "SELECT pg_terminate_backend(pg_backend_pid())", NULL, 0, NULL);
	ASSERT_HAS(db->err, "the connection to 'postgres");
	ASSERT_HAS(db->err, "' was lost: ");
	ASSERT_HAS(db->err, "terminating connection");
	/* No reconnection: the next statement fails too, saying so. */
	struct wp__rows r = { 0 };
	EXEC_FAILS(db, "SELECT 1::bigint", NULL, 0, &r);
	ASSERT_HAS(db->err, "was lost");
	ASSERT_EQ(r.nrows, 0);
	PG->close(db);
	PG->close(db); /* twice is harmless */
	return TEST_OK;
}

/* A TCP port on 127.0.0.1 that nobody listens on (just now). */
static int unused_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT(s >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	ASSERT_EQ(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	ASSERT_EQ(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	return ntohs(a.sin_port);
}

/* Opening `url` fails with WP_EDB, a message with `has` and without the
 * password, and db.where without it either. */
static void open_fails(const char *url, const char *where, const char *has)
{
	struct wp__db db = { .ops = PG };
	int rc = PG->open(&db, url, 0);
	if (rc != WP_EDB)
		TEST_FAIL_("opening %s returned %d, not WP_EDB", url, rc);
	ASSERT_STR(db.where, where);
	if (*where) {
		char want[700];
		snprintf(want, sizeof want, "cannot connect to '%s': ", where);
		ASSERT_HAS(db.err, want);
	}
	ASSERT_HAS(db.err, has);
	ASSERT_LACKS(db.err, "s3cr3t");
	ASSERT_LACKS(db.err, "\n");
	ASSERT_LACKS(db.where, "s3cr3t");
	/* close() is safe whatever open() returned; exec() says it cannot. */
	ASSERT_EQ(PG->exec(&db, "SELECT 1", NULL, 0, NULL), WP_EDB);
	ASSERT_HAS(db.err, "not connected");
	PG->close(&db);
}

TEST(pg_connect_errors_hide_passwords)
{
	char url[512], where[512];
	int port = unused_port();

	snprintf(url, sizeof url, "postgresql://wpuser:s3cr3t-pw@127.0.0.1:%d/db", port);
	snprintf(where, sizeof where, "postgresql://wpuser:***@127.0.0.1:%d/db", port);
	open_fails(url, where, "Connection refused");

	snprintf(url, sizeof url,
	         "postgres://wpuser@127.0.0.1:%d/db?password=s3cr3t-pw&connect_timeout=3", port);
	snprintf(where, sizeof where,
	         "postgres://wpuser@127.0.0.1:%d/db?password=***&connect_timeout=3", port);
	open_fails(url, where, "Connection refused");

	/* libpq's own messages about a malformed URL quote it, or a piece. */
	snprintf(url, sizeof url, "postgresql://wpuser:s3cr3t%%zz@127.0.0.1:%d/db", port);
	snprintf(where, sizeof where, "postgresql://wpuser:***@127.0.0.1:%d/db", port);
	open_fails(url, where, "invalid percent-encoded token");
	open_fails("postgresql://wpuser:s3cr3t@127.0.0.1:notaport/db",
	           "postgresql://wpuser:***@127.0.0.1:notaport/db", "notaport");
	open_fails("postgresql://wpuser:s3cr3t@127.0.0.1/db?nonsense=1",
	           "postgresql://wpuser:***@127.0.0.1/db?nonsense=1", "nonsense");
	open_fails("postgresql://wpuser:s3cr3t@127.0.0.1/db?password=s3cr3t2&junk",
	           "postgresql://wpuser:***@127.0.0.1/db?password=***&junk", "junk");
	/* A password with an encoded name is still one. */
	open_fails("postgresql://127.0.0.1:1/db?pass%77ord=s3cr3t",
	           "postgresql://127.0.0.1:1/db?pass%77ord=***", "");
	/* A server that accepts and never answers: the URL's timeout holds. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof a;
	ASSERT(s >= 0);
	ASSERT_EQ(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	ASSERT_EQ(listen(s, 4), 0);
	ASSERT_EQ(getsockname(s, (struct sockaddr *)&a, &alen), 0);
	snprintf(url, sizeof url, "postgresql://wpuser:s3cr3t@127.0.0.1:%d/db?connect_timeout=2",
	         ntohs(a.sin_port));
	snprintf(where, sizeof where, "postgresql://wpuser:***@127.0.0.1:%d/db?connect_timeout=2",
	         ntohs(a.sin_port));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	open_fails(url, where, "no answer within 2 s");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ASSERT_NEAR((double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, 2.0, 0.5);
	close(s);

	/* Not a URL: nothing of it is echoed. */
	open_fails("host=127.0.0.1 password=s3cr3t", "", "must be given as a URL");

	/* The test server, with a database it does not have. */
	const char *srv = server_url();
	if (!srv)
		return TEST_SKIP;
	char bad[1024];
	snprintf(bad, sizeof bad, "%s", srv);
	char *q = strchr(bad + strlen("postgres://"), '?');
	if (q)
		*q = '\0';
	char *slash = strrchr(bad, '/');
	ASSERT(slash != NULL);
	snprintf(slash, sizeof bad - (size_t)(slash - bad), "/wp_no_such_database");
	struct wp__db db = { .ops = PG };
	ASSERT_EQ(PG->open(&db, bad, 0), WP_EDB);
	ASSERT_HAS(db.err, "database \"wp_no_such_database\" does not exist");
	ASSERT_LACKS(db.err, "\n");
	PG->close(&db);
	return TEST_OK;
}
