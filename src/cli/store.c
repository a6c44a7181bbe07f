/*
 * store.c - what the commands that use the run database share: where it is
 * (--db, else WATTPROF_DB, else ./wattprof_results/wattprof.db), opening it
 * with an error that says what to do, and reading run ids.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "wattprof/wattprof.h"
#include "cli.h"

const char *cli_db_where(const char *given)
{
	const char *env = getenv("WATTPROF_DB");
	if (given && *given)
		return given;
	return env && *env ? env : CLI_DEFAULT_DB;
}

int cli_open_store(struct wp_store **out, const char *given, unsigned flags)
{
	const char *where = cli_db_where(given);
	int rc = wp_store_open(out, where, flags);
	if (rc == 0)
		return 0;
	if (rc == -ENOENT && !(flags & WP_STORE_CREATE)) {
		cli_error("no run database at '%s'", where);
		cli_hint("'wattprof monitor' stores every run there; give another database "
		         "with --db or WATTPROF_DB");
	} else if (rc == -EINVAL || rc == -ENOMEM) {
		cli_error("cannot open the run database '%s': %s", where, wp_strerror(rc));
	} else {
		cli_error("%s", wp_store_errmsg(*out));
		if (rc == WP_ESCHEMA)
			cli_hint("--db names the database to use");
		else if (!strncmp(where, "postgres", 8))
			cli_hint("check the server, the user and the database in the URL");
	}
	wp_store_close(*out);
	*out = NULL;
	return rc;
}

void cli_store_error(const struct wp_store *store, int rc, const char *what)
{
	if (rc == WP_EDB || rc == WP_ECORRUPT || rc == WP_ESCHEMA || rc == -ENOENT ||
	    (rc == -EINVAL && *wp_store_errmsg(store)))
		cli_error("%s: %s", what, wp_store_errmsg(store));
	else
		cli_error("%s: %s", what, wp_strerror(rc));
	if (rc == WP_ECORRUPT)
		cli_hint("the run's other data may still be read with 'wattprof runs'; "
		         "'wattprof rm' removes it");
}

int cli_parse_run_id(struct wp_store *store, const char *s, int64_t *id)
{
	char *end;
	if (!strcmp(s, "last")) {
		int64_t *ids;
		size_t n;
		int rc = wp_store_list(store, &ids, &n);
		if (rc < 0) {
			cli_store_error(store, rc, "cannot list the runs");
			return rc;
		}
		if (n == 0) {
			free(ids);
			cli_error("no run is stored yet");
			return -ENOENT;
		}
		*id = ids[n - 1];
		free(ids);
		return 0;
	}
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 1) {
		cli_error("invalid run id '%s'", s);
		cli_hint("'wattprof runs' lists the stored runs and their ids; 'last' is the latest");
		return -EINVAL;
	}
	*id = v;
	return 0;
}

size_t cli_utf8_width(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80; /* count lead bytes only */
	return n;
}

/* Length of the valid UTF-8 sequence at p, or 0 (RFC 3629: no overlong
 * forms, surrogates or code points above U+10FFFF; a NUL ends it). */
static size_t utf8_len(const unsigned char *p)
{
	size_t len;
	unsigned cp, min;
	if (*p < 0x80)
		return 1;
	if ((*p & 0xE0) == 0xC0)
		len = 2, cp = *p & 0x1Fu, min = 0x80;
	else if ((*p & 0xF0) == 0xE0)
		len = 3, cp = *p & 0x0Fu, min = 0x800;
	else if ((*p & 0xF8) == 0xF0)
		len = 4, cp = *p & 0x07u, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3Fu);
	}
	return cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : len;
}

void cli_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t len = utf8_len(p);
		if (len == 0) /* JSON is UTF-8: a byte that is not becomes U+FFFD */
			fputs("\\ufffd", f);
		else if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fwrite(p, 1, len, f);
		p += len ? len : 1;
	}
	fputc('"', f);
}
