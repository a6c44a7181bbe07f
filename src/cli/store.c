/*
 * store.c - what the commands that use the run database share: where it is
 * (--db, else the [storage] database setting, else
 * ./wattprof_results/wattprof.db), opening it
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
	return given && *given ? given : CLI_DEFAULT_DB;
}

int cli_open_store_config(struct wp_store **out, const char *db, const char *config,
                          unsigned flags)
{
	struct cli_config cfg;
	int rc = -EINVAL;
	cli_config_init(&cfg);
	*out = NULL;
	if ((!db || cli_config_set(&cfg, CFG_DATABASE, db, "--db") == 0) &&
	    cli_config_load(&cfg, config) == 0)
		rc = cli_open_store(out, cli_config_get(&cfg, CFG_DATABASE), flags);
	cli_config_free(&cfg);
	return rc;
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
		         "with --db, WATTPROF_DATABASE or 'database' in [storage]");
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
