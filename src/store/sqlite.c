/*
 * sqlite.c - the run store's SQLite driver: a database in one file, the
 * default (no server to set up).
 *
 * The file is opened in WAL mode with synchronous=NORMAL: a transaction that
 * committed survives a kill -9 of wattprof, and a crash of the machine can
 * lose only the last transactions, never corrupt earlier ones
 * (https://www.sqlite.org/wal.html, "Durability"; pragma.html#pragma_synchronous).
 * Several wattprof processes may write one file: each waits up to
 * BUSY_MS for another's transaction to end.
 */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wattprof/wattprof.h"
#include "db.h"
#include "../core/internal.h" /* wp__make_parents */

#define BUSY_MS 10000

static int fail(struct wp__db *db, const char *what)
{
	sqlite3 *h = db->h;
	int code = h ? sqlite3_extended_errcode(h) : SQLITE_ERROR;
	const char *msg = h ? sqlite3_errmsg(h) : "out of memory";
	if ((code & 0xff) == SQLITE_NOTADB || (code & 0xff) == SQLITE_CORRUPT)
		snprintf(db->err, sizeof db->err,
		         "'%s' is not a usable SQLite database (%s)", db->where, msg);
	else if (what)
		snprintf(db->err, sizeof db->err, "'%s': %s (in: %.80s)", db->where, msg, what);
	else
		snprintf(db->err, sizeof db->err, "'%s': %s", db->where, msg);
	return WP_EDB;
}

static int sq_exec(struct wp__db *db, const char *sql, const struct wp__val *params, size_t np,
                   struct wp__rows *out);

static int sq_open(struct wp__db *db, const char *where, unsigned flags)
{
	struct stat st;
	int oflags = (flags & WP_STORE_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;

	snprintf(db->where, sizeof db->where, "%s", where);
	if (stat(where, &st) < 0) {
		if (errno != ENOENT || !(flags & WP_STORE_CREATE) || (flags & WP_STORE_READONLY)) {
			int err = errno;
			snprintf(db->err, sizeof db->err, "cannot open '%s': %s", where, strerror(err));
			return -err;
		}
		int rc = wp__make_parents(where, 0777);
		if (rc < 0) {
			snprintf(db->err, sizeof db->err, "cannot create the folder of '%s': %s", where,
			         strerror(-rc));
			return rc;
		}
		oflags |= SQLITE_OPEN_CREATE;
	} else if (S_ISDIR(st.st_mode)) {
		snprintf(db->err, sizeof db->err, "'%s' is a folder, not a database file", where);
		return -EISDIR;
	}
	sqlite3 *h = NULL;
	int rc = sqlite3_open_v2(where, &h, oflags | SQLITE_OPEN_NOMUTEX, NULL);
	db->h = h;
	if (rc != SQLITE_OK)
		return fail(db, NULL);
	sqlite3_extended_result_codes(h, 1);
	sqlite3_busy_timeout(h, BUSY_MS);
	/* Reading the schema is the first access: a file that is not a
	 * database says so here. */
	rc = sq_exec(db, "SELECT count(*) FROM sqlite_master", NULL, 0, NULL);
	if (rc == 0 && !(flags & WP_STORE_READONLY))
		rc = sq_exec(db, "PRAGMA journal_mode=WAL", NULL, 0, NULL);
	if (rc == 0)
		rc = sq_exec(db, "PRAGMA synchronous=NORMAL", NULL, 0, NULL);
	if (rc == 0)
		rc = sq_exec(db, "PRAGMA foreign_keys=ON", NULL, 0, NULL);
	return rc;
}

static void sq_close(struct wp__db *db)
{
	if (db->h)
		sqlite3_close_v2(db->h);
	db->h = NULL;
}

static int bind(sqlite3_stmt *st, const struct wp__val *params, size_t np)
{
	int rc = SQLITE_OK;
	for (size_t k = 0; k < np && rc == SQLITE_OK; k++) {
		const struct wp__val *v = &params[k];
		int at = (int)k + 1;
		switch (v->t) {
		case WP__V_INT:
			rc = sqlite3_bind_int64(st, at, v->i);
			break;
		case WP__V_REAL:
			rc = v->r == v->r ? sqlite3_bind_double(st, at, v->r) : sqlite3_bind_null(st, at);
			break;
		case WP__V_TEXT:
			rc = sqlite3_bind_text(st, at, v->s, -1, SQLITE_STATIC);
			break;
		case WP__V_BLOB:
			rc = sqlite3_bind_blob64(st, at, v->len ? v->b : "", v->len, SQLITE_STATIC);
			break;
		default:
			rc = sqlite3_bind_null(st, at);
		}
	}
	return rc;
}

static int collect(sqlite3_stmt *st, struct wp__rows *out)
{
	int n = sqlite3_column_count(st);
	struct wp__val row[128];
	if (n > 128)
		return -E2BIG;
	for (int c = 0; c < n; c++) {
		struct wp__val *v = &row[c];
		memset(v, 0, sizeof *v);
		switch (sqlite3_column_type(st, c)) {
		case SQLITE_INTEGER:
			v->t = WP__V_INT;
			v->i = sqlite3_column_int64(st, c);
			break;
		case SQLITE_FLOAT:
			v->t = WP__V_REAL;
			v->r = sqlite3_column_double(st, c);
			break;
		case SQLITE_TEXT:
			v->t = WP__V_TEXT;
			v->s = (const char *)sqlite3_column_text(st, c);
			v->len = (size_t)sqlite3_column_bytes(st, c);
			break;
		case SQLITE_BLOB:
			v->t = WP__V_BLOB;
			v->b = sqlite3_column_blob(st, c);
			v->len = (size_t)sqlite3_column_bytes(st, c);
			break;
		default:
			v->t = WP__V_NULL;
		}
	}
	return wp__rows_add(out, (size_t)n, row);
}

static int sq_exec(struct wp__db *db, const char *sql, const struct wp__val *params, size_t np,
                   struct wp__rows *out)
{
	const char *tail = sql;

	/* Without parameters, a string may hold several statements (the
	 * schema's); with them, exactly one. */
	while (tail && *tail) {
		sqlite3_stmt *st = NULL;
		const char *stmt = tail;
		int rc = sqlite3_prepare_v2(db->h, stmt, -1, &st, &tail);
		if (rc != SQLITE_OK)
			return fail(db, stmt);
		if (!st)
			break; /* only whitespace or comments were left */
		rc = bind(st, params, np);
		while (rc == SQLITE_OK || rc == SQLITE_ROW) {
			rc = sqlite3_step(st);
			if (rc == SQLITE_ROW && out && collect(st, out) < 0) {
				sqlite3_finalize(st);
				snprintf(db->err, sizeof db->err, "'%s': out of memory reading a result",
				         db->where);
				return -ENOMEM;
			}
		}
		if (rc != SQLITE_DONE) {
			int r = fail(db, stmt);
			sqlite3_finalize(st);
			return r;
		}
		sqlite3_finalize(st);
		if (np)
			break;
	}
	return 0;
}

const struct wp__db_ops wp__sqlite_ops = {
	.name = "sqlite",
	.id_type = "INTEGER PRIMARY KEY",
	.real_type = "REAL",
	.blob_type = "BLOB",
	.open = sq_open,
	.close = sq_close,
	.exec = sq_exec,
};
