/*
 * db.h - the one interface the run store speaks to a database through, so
 * that SQLite (sqlite.c) and PostgreSQL (postgres.c) hold the same schema and run
 * the same statements (store.c).
 *
 * Statements are written once, in the SQL both understand, with `?` for each
 * parameter (postgres.c numbers them $1, $2 ... outside quoted text).  Table
 * definitions use three words that each driver spells its own way:
 *   @ID@    an auto-numbered 64-bit primary key
 *   @REAL@  a 64-bit float (NaN is stored as NULL by both)
 *   @BLOB@  bytes
 * Integers are BIGINT and text TEXT in both.  Results come back fully read,
 * as typed values: integers as WP__V_INT, floats as WP__V_REAL (NULL as
 * WP__V_NULL), text as WP__V_TEXT, bytes as WP__V_BLOB.  Aggregates that a
 * driver would widen to another type (PostgreSQL's sum(bigint) is numeric)
 * are not used; sums are made in C.
 */
#ifndef WATTPROF_DB_H
#define WATTPROF_DB_H

#include <stddef.h>
#include <stdint.h>

enum wp__vtype { WP__V_NULL = 0, WP__V_INT, WP__V_REAL, WP__V_TEXT, WP__V_BLOB };

struct wp__val {
	enum wp__vtype t;
	int64_t i;
	double r;
	const char *s;   /* text, NUL-terminated */
	const void *b;   /* bytes */
	size_t len;      /* bytes in b (or in s) */
};

/* Parameter helpers: a NaN real and a NULL text are bound as NULL. */
static inline struct wp__val wp__int(int64_t i)
{
	struct wp__val v = { .t = WP__V_INT, .i = i };
	return v;
}
static inline struct wp__val wp__real(double r)
{
	struct wp__val v = { .t = r == r ? WP__V_REAL : WP__V_NULL, .r = r };
	return v;
}
static inline struct wp__val wp__text(const char *s)
{
	struct wp__val v = { .t = s ? WP__V_TEXT : WP__V_NULL, .s = s };
	return v;
}
static inline struct wp__val wp__blob(const void *b, size_t len)
{
	struct wp__val v = { .t = WP__V_BLOB, .b = b, .len = len };
	return v;
}

/* A result: nrows x ncols values, row-major; each text and blob value owns
 * its copy (freed by wp__rows_free). */
struct wp__rows {
	size_t nrows, ncols;
	struct wp__val *v;
	size_t cap; /* rows allocated */
};

static inline const struct wp__val *wp__cell(const struct wp__rows *r, size_t row, size_t col)
{
	return &r->v[row * r->ncols + col];
}
void wp__rows_free(struct wp__rows *r);
/*
 * Appends one row of ncols values to r, copying their text and bytes (the
 * drivers build results with it).  0 or -ENOMEM.
 */
int wp__rows_add(struct wp__rows *r, size_t ncols, const struct wp__val *row);

struct wp__db;

struct wp__db_ops {
	const char *name; /* "sqlite", "postgresql" */
	const char *id_type, *real_type, *blob_type; /* @ID@ @REAL@ @BLOB@ */
	/*
	 * Connects.  `where` is the path or URL given to wp_store_open; flags
	 * are WP_STORE_*.  Returns 0, -ENOENT (no such file and no CREATE), or
	 * WP_EDB with db->err set; *h is the driver's handle, closed by
	 * close() whatever open() returned.
	 */
	int (*open)(struct wp__db *db, const char *where, unsigned flags);
	void (*close)(struct wp__db *db);
	/*
	 * Runs one statement with np parameters; when out is not NULL, the
	 * rows it returns are appended there (out must be zeroed or hold rows
	 * of the same width).  Returns 0 or WP_EDB with db->err set, naming
	 * what failed in the database's words.
	 */
	int (*exec)(struct wp__db *db, const char *sql, const struct wp__val *params, size_t np,
	            struct wp__rows *out);
};

struct wp__db {
	const struct wp__db_ops *ops;
	void *h;        /* the driver's connection */
	char err[1024]; /* the last error, in words */
	char where[512]; /* the path or the URL without its password, for messages */
};

extern const struct wp__db_ops wp__sqlite_ops;
extern const struct wp__db_ops wp__pg_ops;

#endif
