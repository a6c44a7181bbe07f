/*
 * postgres.c - the run store's PostgreSQL driver (struct wp__db_ops, db.h),
 * through libpq, loaded when the first PostgreSQL store is opened.
 *
 * Connecting (pg_open): `where` is a libpq URL, postgresql://... or
 * postgres://... (libpq docs, "Connection Strings", 34.1.1.2 "Connection
 * URIs").  It is handed to PQconnectStartParams() as its dbname with
 * expansion on, after a connect_timeout of 10 s (unless PGCONNECT_TIMEOUT is
 * set) so that a timeout in the URL wins, and before client_encoding=UTF8 so
 * that the store's UTF-8 text is never re-read in another encoding; the
 * connection is then polled to completion, keeping that timeout.  Then one
 * round trip sets the session: client_min_messages=warning (no NOTICEs
 * sent), standard_conforming_strings=on (a backslash in '...' is a plain
 * character, which the placeholder numbering below relies on) and, for
 * WP_STORE_READONLY, default_transaction_read_only=on.  A notice processor
 * that drops everything stands in for libpq's default one, which prints to
 * stderr, from the start of the connection: the library never prints.
 *
 * Passwords: db->where is the URL with the password (user:PASSWORD@ and a
 * password=... query parameter) replaced by ***, and every message of ours
 * is built from it.  libpq's own messages may quote the URL or a piece of it
 * (a malformed URL: "invalid percent-encoded token: ..."), so the URL and
 * the password, as written and as decoded, are replaced there as well.
 *
 * Running a statement (pg_exec): the `?` placeholders are numbered $1, $2
 * ... outside quoted text and comments, and the statement goes out with
 * PQexecParams() (libpq docs, 34.3.1 "Main Functions"), each parameter with
 * an explicit type and, where that is natural, in binary, results asked
 * for in binary (resultFormat 1):
 *
 *   value        parameter                       read back from
 *   WP__V_INT    int8 (OID 20), binary           int8 int4 int2 bool
 *   WP__V_REAL   float8 (OID 701), binary        float8 float4 (NaN: NULL)
 *   WP__V_TEXT   text (OID 25), text format      text varchar name bpchar
 *   WP__V_BLOB   bytea (OID 17), binary          bytea
 *   WP__V_NULL   NULL, type left to the server   NULL (any type)
 *
 * The binary forms are the types' send/recv functions in the server's
 * source: int8send/int8recv (src/backend/utils/adt/int8.c) and int4send,
 * int2send (int.c) write the integer in network byte order;
 * float8send/float4send (float.c) write the IEEE 754 bits as an integer of
 * the same width, in network byte order, so doubles travel bit-exact (-0.0,
 * subnormals, infinities); boolsend (bool.c) writes one byte 0 or 1;
 * byteasend (varlena.c) writes the bytes as they are; textsend (varlena.c)
 * writes the text in the client encoding, without a terminator (libpq adds
 * one, PQgetvalue).  Any other column type is refused with a message that
 * names the column and its type OID: the statement must cast it (the store
 * never reads numeric, which sum(bigint) returns: db.h).
 *
 * Errors are the server's primary message and SQLSTATE
 * (PQresultErrorField, PG_DIAG_MESSAGE_PRIMARY and PG_DIAG_SQLSTATE), then
 * the start of the statement.  A lost connection says so and is not
 * reopened: the store's transaction went with it.
 *
 * One connection per struct wp__db, used by one thread at a time (libpq is
 * thread-safe so long as a PGconn is not shared: libpq docs, 34.19
 * "Behavior in Threaded Programs").
 */
#include <dlfcn.h>
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "wattprof/wattprof.h"
#include "db.h"

/*
 * libpq, opened at the first PostgreSQL store with dlopen (as NVML is,
 * src/sensors/nvml.c): a program that never opens one never loads it, nor
 * the thirty libraries it brings (OpenSSL, Kerberos, LDAP), which cost
 * every start of `wattprof` about 3 ms (docs/BENCHMARKS.md).  Types and
 * constants come from libpq-fe.h; the functions through this table, each
 * typed by __typeof__ of libpq-fe.h's declaration.  libpq.so.5 is the
 * soname of every libpq since PostgreSQL 8.2.
 */
#define PQ_FUNCS(X) \
	X(PQclear) \
	X(PQconnectPoll) \
	X(PQconnectStartParams) \
	X(PQconninfo) \
	X(PQconninfoFree) \
	X(PQconninfoParse) \
	X(PQerrorMessage) \
	X(PQexec) \
	X(PQexecParams) \
	X(PQfinish) \
	X(PQfname) \
	X(PQfreemem) \
	X(PQftype) \
	X(PQgetCopyData) \
	X(PQgetResult) \
	X(PQgetisnull) \
	X(PQgetlength) \
	X(PQgetvalue) \
	X(PQnfields) \
	X(PQntuples) \
	X(PQputCopyEnd) \
	X(PQresStatus) \
	X(PQresultErrorField) \
	X(PQresultStatus) \
	X(PQsetNoticeProcessor) \
	X(PQsocket) \
	X(PQstatus)

static struct {
#define X(f) __typeof__(f) *f;
	PQ_FUNCS(X)
#undef X
} pq;
static pthread_once_t pq_once = PTHREAD_ONCE_INIT;
static char pq_missing[400]; /* why libpq cannot be used; "" once it can */

static void pq_load(void)
{
	void *h = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(pq_missing, sizeof pq_missing,
		         "PostgreSQL's client library cannot be loaded (%s): install it "
		         "(Debian: apt-get install libpq5)",
		         dlerror());
		return;
	}
#define X(f)                                                                             \
	if (!(pq.f = (__typeof__(f) *)dlsym(h, #f))) {                                   \
		snprintf(pq_missing, sizeof pq_missing,                                  \
		         "the libpq.so.5 found has no %s: it is older than this wattprof "   \
		         "needs (PostgreSQL 10 or later)",                                   \
		         #f);                                                            \
		return;                                                                  \
	}
	PQ_FUNCS(X)
#undef X
}

/* Type OIDs, as fixed in the server's src/include/catalog/pg_type.dat. */
enum {
	OID_BOOL = 16,
	OID_BYTEA = 17,
	OID_NAME = 19,
	OID_INT8 = 20,
	OID_INT2 = 21,
	OID_INT4 = 23,
	OID_TEXT = 25,
	OID_FLOAT4 = 700,
	OID_FLOAT8 = 701,
	OID_BPCHAR = 1042,
	OID_VARCHAR = 1043,
};

#define CONNECT_TIMEOUT_S "10"
#define STATEMENT_CHARS 80 /* of a failed statement, in its message */

/* ------------------------------------------------------------- messages */

/*
 * Copies src into dst (cap bytes) on one line: every run of white space
 * becomes one space, and the ends are trimmed.  With `sentences`, a line
 * break after a word ends a sentence (libpq's messages put a hint on a
 * tab-indented line of its own: "Connection refused.  Is the server
 * running...").  At most max_chars characters are kept, never cutting a
 * UTF-8 sequence; "..." marks a cut.
 */
static void one_line(char *dst, size_t cap, const char *src, size_t max_chars, int sentences)
{
	size_t o = 0, chars = 0;
	int space = 0; /* white space seen: 1, with a line break ending a word: 2 */
	if (!cap)
		return;
	for (const unsigned char *p = (const unsigned char *)(src ? src : ""); *p;) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			if (o > 0 && !space)
				space = 1;
			if (*p == '\n' && sentences && o > 0 && !strchr(".?!:;,", dst[o - 1]))
				space = 2;
			p++;
			continue;
		}
		/* The bytes of this character (RFC 3629), cut short at a NUL. */
		size_t clen = *p < 0xC0 ? 1 : *p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4;
		for (size_t k = 1; k < clen; k++)
			if (!p[k])
				clen = k;
		size_t gap = (size_t)space;
		if (chars + gap + 1 > max_chars || o + gap + clen + 3 >= cap) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (space == 2)
			dst[o++] = '.';
		if (space)
			dst[o++] = ' ';
		chars += gap;
		space = 0;
		memcpy(dst + o, p, clen);
		o += clen;
		p += clen;
		chars++;
	}
	dst[o] = '\0';
}

/*
 * Replaces each occurrence of `what` in s (cap bytes) by `with`, cutting
 * what no longer fits.  Without memory, s ends before the first occurrence.
 */
static void replace_all(char *s, size_t cap, const char *what, const char *with)
{
	size_t wl = strlen(what), nl = strlen(with), o = 0;
	char *hit = wl ? strstr(s, what) : NULL;
	if (!hit)
		return;
	char *out = malloc(cap);
	if (!out) {
		*hit = '\0';
		return;
	}
	for (const char *p = s; *p && o + 1 < cap;) {
		if (strncmp(p, what, wl) == 0) {
			size_t k = nl < cap - 1 - o ? nl : cap - 1 - o;
			memcpy(out + o, with, k);
			o += k;
			p += wl;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	memcpy(s, out, o + 1);
	free(out);
}

static void set_err(struct wp__db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct wp__db *db, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(db->err, sizeof db->err, fmt, ap);
	va_end(ap);
}

/* ----------------------------------------------------- URLs and secrets */

/* The passwords a URL holds, as written in it; at most MAX_SECRETS. */
#define MAX_SECRETS 8
struct secrets {
	char *s[MAX_SECRETS];
	size_t n;
};

static void secrets_add(struct secrets *sec, const char *p, size_t len)
{
	if (!len || sec->n == MAX_SECRETS)
		return;
	char *s = malloc(len + 1);
	if (!s)
		return;
	memcpy(s, p, len);
	s[len] = '\0';
	sec->s[sec->n++] = s;
}

static void secrets_free(struct secrets *sec)
{
	for (size_t k = 0; k < sec->n; k++)
		free(sec->s[k]);
	sec->n = 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Whether the len bytes at p, percent-decoded, spell `word`. */
static int decodes_to(const char *p, size_t len, const char *word)
{
	size_t k = 0;
	for (size_t i = 0; i < len; i++, k++) {
		int c = (unsigned char)p[i];
		if (c == '%' && i + 2 < len && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
			c = hexval(p[i + 1]) * 16 + hexval(p[i + 2]);
			i += 2;
		}
		if (!word[k] || word[k] != c)
			return 0;
	}
	return word[k] == '\0';
}

static size_t url_prefix(const char *url)
{
	if (strncmp(url, "postgresql://", 13) == 0)
		return 13;
	if (strncmp(url, "postgres://", 11) == 0)
		return 11;
	return 0;
}

/*
 * Writes url into dst (cap bytes) with its passwords replaced by ***, and
 * notes the passwords as written in sec.  The user part is found as libpq
 * finds it (conninfo_uri_parse_options in fe-connect.c): it runs from the
 * prefix to the first '@' met before any '/', and the password from its
 * first ':' to that '@'.  Query parameters are key=value pairs after the
 * first '?', separated by '&'; a key that decodes to "password" has its
 * value replaced.
 */
static void redact_url(char *dst, size_t cap, const char *url, struct secrets *sec)
{
	size_t len = strlen(url), pre = url_prefix(url), o = 0;
	/* A password of one byte becomes three: *** */
	char *buf = malloc(3 * len + 8);
	if (!buf) {
		snprintf(dst, cap, "%.*s...", (int)pre, url);
		return;
	}
	size_t at = pre;
	while (url[at] && url[at] != '@' && url[at] != '/')
		at++;
	size_t i = pre;
	memcpy(buf, url, pre);
	o = pre;
	if (url[at] == '@') {
		const char *colon = memchr(url + pre, ':', at - pre);
		size_t user_end = colon ? (size_t)(colon - url) : at;
		memcpy(buf + o, url + pre, user_end - pre);
		o += user_end - pre;
		if (colon && (size_t)(colon - url) + 1 < at) {
			secrets_add(sec, colon + 1, at - (size_t)(colon - url) - 1);
			memcpy(buf + o, ":***", 4);
			o += 4;
		} else if (colon) {
			buf[o++] = ':';
		}
		i = at;
	}
	const char *q = strchr(url + i, '?');
	size_t rest_end = q ? (size_t)(q - url) : len;
	memcpy(buf + o, url + i, rest_end - i);
	o += rest_end - i;
	if (q) {
		buf[o++] = '?';
		const char *p = q + 1;
		while (*p) {
			size_t plen = strcspn(p, "&");
			const char *eq = memchr(p, '=', plen);
			if (eq && decodes_to(p, (size_t)(eq - p), "password") && eq + 1 < p + plen) {
				secrets_add(sec, eq + 1, plen - (size_t)(eq + 1 - p));
				memcpy(buf + o, p, (size_t)(eq + 1 - p));
				o += (size_t)(eq + 1 - p);
				memcpy(buf + o, "***", 3);
				o += 3;
			} else {
				memcpy(buf + o, p, plen);
				o += plen;
			}
			p += plen;
			if (*p == '&')
				buf[o++] = *p++;
		}
	}
	buf[o] = '\0';
	snprintf(dst, cap, "%s", buf);
	free(buf);
}

/*
 * Writes libpq's message about the URL into dst (cap bytes), on one line,
 * with the URL and every password in it (as written, and as libpq decoded
 * it) replaced.
 */
static void scrubbed(char *dst, size_t cap, const char *msg, const char *url,
                     const char *shown, const struct secrets *sec)
{
	char *tmp = malloc(cap);
	if (!tmp) {
		snprintf(dst, cap, "(message withheld: out of memory)");
		return;
	}
	one_line(tmp, cap, msg, (size_t)-1, 1);
	/* The URL as given first: its own password goes with it. */
	replace_all(tmp, cap, url, shown);
	for (size_t k = 0; k < sec->n; k++)
		replace_all(tmp, cap, sec->s[k], "***");
	char *err = NULL;
	PQconninfoOption *opts = pq.PQconninfoParse(url, &err);
	pq.PQfreemem(err);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val)
			replace_all(tmp, cap, o->val, "***");
	pq.PQconninfoFree(opts);
	snprintf(dst, cap, "%s", tmp);
	free(tmp);
}

/* ----------------------------------------------------------- connecting */

/* The server's NOTICE and WARNING messages: the library never prints. */
static void drop_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/*
 * Completes a connection begun by PQconnectStartParams(), giving the server
 * connect_timeout seconds to answer at each step.  libpq keeps that timeout
 * only in its blocking calls (libpq docs, PQconnectStartParams: with
 * PQconnectPoll it is the application's to keep); the connection is started
 * this way so that the notice processor is in place before the server's
 * first message, a warning at login among them.  Returns 0, or -ETIMEDOUT
 * after a step got no answer.
 */
static int connect_wait(PGconn *conn, int *timeout_s)
{
	int timeout_ms = -1;
	*timeout_s = 0;
	PQconninfoOption *opts = pq.PQconninfo(conn);
	for (PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (strcmp(o->keyword, "connect_timeout") == 0 && o->val) {
			/* As libpq reads it: none when 0, at least 2 s. */
			int s = atoi(o->val);
			if (s > 0) {
				*timeout_s = s < 2 ? 2 : s;
				timeout_ms = *timeout_s * 1000;
			}
		}
	}
	pq.PQconninfoFree(opts);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
		struct pollfd pfd = { .fd = pq.PQsocket(conn),
			              .events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT };
		if (pfd.fd >= 0) {
			int r = poll(&pfd, 1, timeout_ms);
			if (r < 0 && errno == EINTR)
				continue;
			if (r == 0)
				return -ETIMEDOUT;
		}
		st = pq.PQconnectPoll(conn);
	}
	return 0;
}

static int pg_open(struct wp__db *db, const char *where, unsigned flags)
{
	struct secrets sec = { .n = 0 };
	char msg[sizeof db->err];
	db->h = NULL;
	db->err[0] = '\0';
	if (!where || !url_prefix(where)) {
		/* Not echoed: a libpq "key=value" string may hold a password. */
		db->where[0] = '\0';
		set_err(db, "the PostgreSQL database must be given as a URL: "
		            "postgresql://USER@HOST:PORT/DATABASE");
		return WP_EDB;
	}
	pthread_once(&pq_once, pq_load);
	if (pq_missing[0]) { /* no URL in the message: redacting it needs libpq */
		db->where[0] = '\0';
		set_err(db, "cannot open a PostgreSQL database: %s", pq_missing);
		return WP_EDB;
	}
	redact_url(db->where, sizeof db->where, where, &sec);

	/* Later keywords override earlier ones, and the URL's settings are
	 * expanded in place of dbname (libpq docs, PQconnectdbParams, which
	 * PQconnectStartParams reads the same way). */
	const char *keys[5], *vals[5];
	size_t n = 0;
	if (!getenv("PGCONNECT_TIMEOUT")) {
		keys[n] = "connect_timeout";
		vals[n++] = CONNECT_TIMEOUT_S;
	}
	keys[n] = "fallback_application_name";
	vals[n++] = "wattprof";
	keys[n] = "dbname";
	vals[n++] = where;
	keys[n] = "client_encoding";
	vals[n++] = "UTF8";
	keys[n] = NULL;
	vals[n] = NULL;
	PGconn *conn = pq.PQconnectStartParams(keys, vals, 1);
	if (!conn) {
		secrets_free(&sec);
		set_err(db, "cannot connect to '%s': out of memory", db->where);
		return -ENOMEM;
	}
	pq.PQsetNoticeProcessor(conn, drop_notice, NULL);
	int timeout_s = 0;
	if (pq.PQstatus(conn) != CONNECTION_BAD && connect_wait(conn, &timeout_s) != 0) {
		set_err(db, "cannot connect to '%s': no answer within %d s (connect_timeout)",
		        db->where, timeout_s);
		pq.PQfinish(conn);
		secrets_free(&sec);
		return WP_EDB;
	}
	if (pq.PQstatus(conn) != CONNECTION_OK) {
		scrubbed(msg, sizeof msg, pq.PQerrorMessage(conn), where, db->where, &sec);
		set_err(db, "cannot connect to '%s': %s", db->where, msg);
		pq.PQfinish(conn);
		secrets_free(&sec);
		return WP_EDB;
	}
	db->h = conn;

	PGresult *res = pq.PQexec(conn, (flags & WP_STORE_READONLY)
	                                     ? "SET client_min_messages = warning; "
	                                       "SET standard_conforming_strings = on; "
	                                       "SET default_transaction_read_only = on"
	                                     : "SET client_min_messages = warning; "
	                                       "SET standard_conforming_strings = on");
	int ok = res && pq.PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok) {
		scrubbed(msg, sizeof msg,
		         res && pq.PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
		                 ? pq.PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
		                 : pq.PQerrorMessage(conn),
		         where, db->where, &sec);
		set_err(db, "cannot set up the session on '%s': %s", db->where, msg);
	}
	pq.PQclear(res);
	secrets_free(&sec);
	return ok ? 0 : WP_EDB;
}

static void pg_close(struct wp__db *db)
{
	if (db->h)
		pq.PQfinish(db->h);
	db->h = NULL;
}

/* --------------------------------------------------------- placeholders */

static int ident_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$' || c >= 0x80;
}

/*
 * When a quoted text or a comment starts at p (in sql), where it ends;
 * else p.  What PostgreSQL reads as such (docs, 4.1 "Lexical Structure"):
 * '...' with '' for a quote, E'...' where a backslash also escapes, "..."
 * with "" for a quote, -- to the end of the line, and C-style comments (slash-star),
 * which nest.  Dollar-quoted text ($$...$$) is not recognised: the store
 * does not write it.  An unterminated one runs to the end; the server then
 * says what is wrong.
 */
static const char *skip_text(const char *sql, const char *p)
{
	if (*p == '\'') {
		int backslash = p > sql && (p[-1] == 'E' || p[-1] == 'e') &&
		                (p - 1 == sql || !ident_char((unsigned char)p[-2]));
		for (p++; *p; p++) {
			if (backslash && *p == '\\' && p[1]) {
				p++;
			} else if (*p == '\'') {
				if (p[1] != '\'')
					return p + 1;
				p++;
			}
		}
		return p;
	}
	if (*p == '"') {
		for (p++; *p; p++) {
			if (*p == '"') {
				if (p[1] != '"')
					return p + 1;
				p++;
			}
		}
		return p;
	}
	if (p[0] == '-' && p[1] == '-') {
		while (*p && *p != '\n')
			p++;
		return p;
	}
	if (p[0] == '/' && p[1] == '*') {
		int depth = 0;
		while (*p) {
			if (p[0] == '/' && p[1] == '*') {
				depth++;
				p += 2;
			} else if (p[0] == '*' && p[1] == '/') {
				p += 2;
				if (--depth == 0)
					return p;
			} else {
				p++;
			}
		}
		return p;
	}
	return p;
}

/*
 * Writes sql with its `?` numbered $1, $2 ... into out (when not NULL).
 * Returns the number of placeholders; *len receives the length written.
 */
static size_t number_placeholders(const char *sql, char *out, size_t *len)
{
	size_t n = 0, o = 0;
	for (const char *p = sql; *p;) {
		if (*p == '?') {
			char num[24];
			int k = snprintf(num, sizeof num, "$%zu", ++n);
			if (out)
				memcpy(out + o, num, (size_t)k);
			o += (size_t)k;
			p++;
			continue;
		}
		const char *end = skip_text(sql, p);
		if (end == p)
			end = p + 1;
		if (out)
			memcpy(out + o, p, (size_t)(end - p));
		o += (size_t)(end - p);
		p = end;
	}
	if (out)
		out[o] = '\0';
	*len = o;
	return n;
}

/* ------------------------------------------------------------- running */

/* What a result column is read as. */
enum col_kind { COL_INT8, COL_INT4, COL_INT2, COL_BOOL, COL_FLOAT8, COL_FLOAT4, COL_TEXT, COL_BYTEA };

static int col_kind(Oid type, enum col_kind *kind)
{
	switch (type) {
	case OID_INT8:
		*kind = COL_INT8;
		break;
	case OID_INT4:
		*kind = COL_INT4;
		break;
	case OID_INT2:
		*kind = COL_INT2;
		break;
	case OID_BOOL:
		*kind = COL_BOOL;
		break;
	case OID_FLOAT8:
		*kind = COL_FLOAT8;
		break;
	case OID_FLOAT4:
		*kind = COL_FLOAT4;
		break;
	case OID_TEXT:
	case OID_VARCHAR:
	case OID_NAME:
	case OID_BPCHAR:
		*kind = COL_TEXT;
		break;
	case OID_BYTEA:
		*kind = COL_BYTEA;
		break;
	default:
		return -1;
	}
	return 0;
}

/* The bytes a fixed-width binary value takes; 0 for varying ones. */
static int col_width(enum col_kind kind)
{
	switch (kind) {
	case COL_INT8:
	case COL_FLOAT8:
		return 8;
	case COL_INT4:
	case COL_FLOAT4:
		return 4;
	case COL_INT2:
		return 2;
	case COL_BOOL:
		return 1;
	default:
		return 0;
	}
}

/* A big-endian unsigned integer of len (<= 8) bytes. */
static uint64_t be_uint(const char *p, int len)
{
	uint64_t v = 0;
	for (int i = 0; i < len; i++)
		v = v << 8 | (unsigned char)p[i];
	return v;
}

static struct wp__val decode(enum col_kind kind, const char *p, int len)
{
	struct wp__val v = { .t = WP__V_NULL };
	uint64_t u = be_uint(p, col_width(kind));
	switch (kind) {
	case COL_INT8: {
		int64_t i;
		memcpy(&i, &u, sizeof i);
		v.t = WP__V_INT;
		v.i = i;
		break;
	}
	case COL_INT4: {
		uint32_t u32 = (uint32_t)u;
		int32_t i;
		memcpy(&i, &u32, sizeof i);
		v.t = WP__V_INT;
		v.i = i;
		break;
	}
	case COL_INT2: {
		uint16_t u16 = (uint16_t)u;
		int16_t i;
		memcpy(&i, &u16, sizeof i);
		v.t = WP__V_INT;
		v.i = i;
		break;
	}
	case COL_BOOL:
		v.t = WP__V_INT;
		v.i = u != 0;
		break;
	case COL_FLOAT8: {
		double d;
		memcpy(&d, &u, sizeof d);
		v.r = d;
		v.t = d == d ? WP__V_REAL : WP__V_NULL;
		break;
	}
	case COL_FLOAT4: {
		uint32_t u32 = (uint32_t)u;
		float f;
		memcpy(&f, &u32, sizeof f);
		v.r = f;
		v.t = f == f ? WP__V_REAL : WP__V_NULL;
		break;
	}
	case COL_TEXT:
		v.t = WP__V_TEXT;
		v.s = p;
		v.len = (size_t)len;
		break;
	case COL_BYTEA:
		v.t = WP__V_BLOB;
		v.b = p;
		v.len = (size_t)len;
		break;
	}
	return v;
}

/* Drops the rows of r from row `keep` on (what a failed exec appended). */
static void rows_truncate(struct wp__rows *r, size_t keep)
{
	for (size_t k = keep * r->ncols; k < r->nrows * r->ncols; k++)
		if (r->v[k].t == WP__V_TEXT || r->v[k].t == WP__V_BLOB)
			free((void *)(r->v[k].t == WP__V_TEXT ? (const void *)r->v[k].s : r->v[k].b));
	r->nrows = keep;
	if (!keep)
		wp__rows_free(r);
}

/* Appends the rows of res to out; 0, WP_EDB or -ENOMEM. */
static int read_rows(struct wp__db *db, const PGresult *res, struct wp__rows *out)
{
	int ncols = pq.PQnfields(res), nrows = pq.PQntuples(res);
	if (ncols <= 0)
		return 0;
	if (out->nrows > 0 && out->ncols != (size_t)ncols) {
		set_err(db, "the statement returns %d columns where the rows hold %zu", ncols,
		        out->ncols);
		return WP_EDB;
	}
	enum col_kind *kinds = malloc((size_t)ncols * sizeof *kinds);
	struct wp__val *row = malloc((size_t)ncols * sizeof *row);
	int rc = kinds && row ? 0 : -ENOMEM;
	for (int c = 0; !rc && c < ncols; c++) {
		if (col_kind(pq.PQftype(res, c), &kinds[c]) != 0) {
			set_err(db,
			        "column '%s' is of type OID %u, which the driver does not read: "
			        "cast it to bigint, double precision, text or bytea",
			        pq.PQfname(res, c), (unsigned)pq.PQftype(res, c));
			rc = WP_EDB;
		}
	}
	size_t keep = out->nrows;
	for (int r = 0; !rc && r < nrows; r++) {
		for (int c = 0; !rc && c < ncols; c++) {
			if (pq.PQgetisnull(res, r, c)) {
				row[c] = (struct wp__val){ .t = WP__V_NULL };
				continue;
			}
			int len = pq.PQgetlength(res, r, c), width = col_width(kinds[c]);
			if (width && len != width) {
				set_err(db, "column '%s' came back as %d bytes where %d were expected",
				        pq.PQfname(res, c), len, width);
				rc = WP_EDB;
				break;
			}
			row[c] = decode(kinds[c], pq.PQgetvalue(res, r, c), len);
		}
		if (!rc)
			rc = wp__rows_add(out, (size_t)ncols, row);
	}
	if (rc) {
		if (rc == -ENOMEM)
			set_err(db, "out of memory reading the rows");
		rows_truncate(out, keep);
	}
	free(kinds);
	free(row);
	return rc;
}

/* The parameters as PQexecParams takes them. */
struct params {
	Oid *types;
	const char **values;
	int *lengths, *formats;
	unsigned char (*words)[8]; /* the binary int8 and float8 values */
};

static void params_free(struct params *p)
{
	free(p->types);
	free(p->values);
	free(p->lengths);
	free(p->formats);
	free(p->words);
}

static void put_be64(unsigned char *w, uint64_t v)
{
	uint64_t be = htobe64(v);
	memcpy(w, &be, 8);
}

/* 0, -ENOMEM, or WP_EDB for a value libpq cannot carry. */
static int params_make(struct wp__db *db, struct params *p, const struct wp__val *v, size_t n)
{
	/* An empty bytea must not be a NULL pointer, which means SQL NULL. */
	static const char empty[1] = "";
	memset(p, 0, sizeof *p);
	if (!n)
		return 0;
	p->types = calloc(n, sizeof *p->types);
	p->values = calloc(n, sizeof *p->values);
	p->lengths = calloc(n, sizeof *p->lengths);
	p->formats = calloc(n, sizeof *p->formats);
	p->words = calloc(n, sizeof *p->words);
	if (!p->types || !p->values || !p->lengths || !p->formats || !p->words)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++) {
		switch (v[k].t) {
		case WP__V_INT: {
			uint64_t u;
			memcpy(&u, &v[k].i, sizeof u);
			put_be64(p->words[k], u);
			p->types[k] = OID_INT8;
			p->values[k] = (const char *)p->words[k];
			p->lengths[k] = 8;
			p->formats[k] = 1;
			break;
		}
		case WP__V_REAL:
		case WP__V_NULL:
			/*
			 * wp__real() makes a NaN a NULL that keeps the NaN in
			 * .r: it goes out as a float8 NULL, typed, so that it
			 * fits wherever a real would.  Other NULLs leave their
			 * type to the server (OID 0).
			 */
			if (v[k].r != v[k].r) {
				p->types[k] = OID_FLOAT8;
			} else if (v[k].t == WP__V_REAL) {
				uint64_t u;
				memcpy(&u, &v[k].r, sizeof u);
				put_be64(p->words[k], u);
				p->types[k] = OID_FLOAT8;
				p->values[k] = (const char *)p->words[k];
				p->lengths[k] = 8;
				p->formats[k] = 1;
			}
			break;
		case WP__V_TEXT:
			p->types[k] = OID_TEXT;
			p->values[k] = v[k].s; /* NULL: SQL NULL, as wp__text() says */
			break;
		case WP__V_BLOB:
			if (v[k].len > INT_MAX) {
				set_err(db, "parameter %zu: %zu bytes, more than libpq sends (2 GiB)",
				        k + 1, v[k].len);
				return WP_EDB;
			}
			p->types[k] = OID_BYTEA;
			p->values[k] = v[k].len ? v[k].b : empty;
			p->lengths[k] = (int)v[k].len;
			p->formats[k] = 1;
			break;
		}
	}
	return 0;
}

/* db->err for a failed statement: the server's words, then the statement's. */
static void statement_err(struct wp__db *db, PGconn *conn, const PGresult *res, const char *sql)
{
	char msg[sizeof db->err], stmt[STATEMENT_CHARS * 4 + 4];
	const char *primary = res ? pq.PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *state = res ? pq.PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	one_line(msg, sizeof msg, primary ? primary : pq.PQerrorMessage(conn), (size_t)-1, 1);
	if (!msg[0])
		snprintf(msg, sizeof msg, "%s", res ? pq.PQresStatus(pq.PQresultStatus(res)) : "no result");
	if (state && *state) {
		size_t l = strlen(msg);
		snprintf(msg + l, sizeof msg - l, " [%s]", state);
	}
	if (pq.PQstatus(conn) == CONNECTION_BAD) {
		set_err(db, "the connection to '%s' was lost: %s", db->where, msg);
		return;
	}
	one_line(stmt, sizeof stmt, sql, STATEMENT_CHARS, 0);
	set_err(db, "%s in '%s'", msg, stmt);
}

/*
 * Leaves the COPY state a statement put the connection in (libpq docs,
 * 34.10 "Functions Associated with the COPY Command"): refuses to send
 * data, reads and drops what the server sends, then reads the results up
 * to the end.
 */
static void end_copy(PGconn *conn, const PGresult *res)
{
	if (pq.PQresultStatus(res) != PGRES_COPY_OUT)
		pq.PQputCopyEnd(conn, "wattprof does not send COPY data");
	if (pq.PQresultStatus(res) != PGRES_COPY_IN) {
		char *buf = NULL;
		while (pq.PQgetCopyData(conn, &buf, 0) >= 0) {
			pq.PQfreemem(buf);
			buf = NULL;
		}
	}
	for (PGresult *r = pq.PQgetResult(conn); r; r = pq.PQgetResult(conn))
		pq.PQclear(r);
}

static int pg_exec(struct wp__db *db, const char *sql, const struct wp__val *params, size_t np,
                   struct wp__rows *out)
{
	PGconn *conn = db->h;
	if (!conn) {
		set_err(db, "not connected to '%s'", db->where);
		return WP_EDB;
	}
	size_t len;
	size_t n = number_placeholders(sql, NULL, &len);
	if (n != np) {
		char stmt[STATEMENT_CHARS * 4 + 4];
		one_line(stmt, sizeof stmt, sql, STATEMENT_CHARS, 0);
		set_err(db, "%zu placeholders but %zu values in '%s'", n, np, stmt);
		return WP_EDB;
	}
	if (np > 65535) { /* the protocol's Bind message counts them in 16 bits */
		set_err(db, "%zu parameters, more than the 65535 of one statement", np);
		return WP_EDB;
	}
	char *text = malloc(len + 1);
	struct params p;
	int rc = params_make(db, &p, params, np);
	if (!text && !rc)
		rc = -ENOMEM;
	if (rc) {
		if (rc == -ENOMEM)
			set_err(db, "out of memory for a statement");
		free(text);
		params_free(&p);
		return rc;
	}
	number_placeholders(sql, text, &len);
	PGresult *res = pq.PQexecParams(conn, text, (int)np, p.types, p.values, p.lengths, p.formats, 1);
	free(text);
	params_free(&p);
	switch (res ? pq.PQresultStatus(res) : PGRES_FATAL_ERROR) {
	case PGRES_COMMAND_OK:
	case PGRES_EMPTY_QUERY:
		rc = 0;
		break;
	case PGRES_TUPLES_OK:
		rc = out ? read_rows(db, res, out) : 0;
		break;
	case PGRES_COPY_IN:
	case PGRES_COPY_OUT:
	case PGRES_COPY_BOTH:
		end_copy(conn, res);
		set_err(db, "COPY is not run through this driver");
		rc = WP_EDB;
		break;
	default:
		statement_err(db, conn, res, sql);
		rc = WP_EDB;
		break;
	}
	pq.PQclear(res);
	return rc;
}

const struct wp__db_ops wp__pg_ops = {
	.name = "postgresql",
	.id_type = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
	.real_type = "DOUBLE PRECISION",
	.blob_type = "BYTEA",
	.open = pg_open,
	.close = pg_close,
	.exec = pg_exec,
};
