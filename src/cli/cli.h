/*
 * cli.h - what the subcommands of the wattprof command share: the command
 * table's entry type and git-style messages.  Only the CLI prints.
 */
#ifndef WATTPROF_CLI_H
#define WATTPROF_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "wattprof/wattprof.h"

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the command's name */
	const char *summary;
	const char *usage; /* the full --help text */
};

/* Exit status of a wattprof failure in a command that otherwise passes on
 * its child's status (GNU env and timeout use the same). */
#define CLI_EXIT_FAILURE 125
#define CLI_EXIT_USAGE 2

/* "error: <message>" on stderr; lower case, no full stop, subjects quoted. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "warning: <message>" on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "hint: <what to do>" on stderr, after an error. */
void cli_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A file wattprof ships beside itself: the path named by the variable env
 * where set, else `name` beside this binary (a build folder), else
 * ../lib/<installed> from it (an installation).  Into buf; 0, or -1 when
 * none can be read (buf then holds the last place looked).
 */
int cli_find_file(const char *env, const char *name, const char *installed, char *buf,
                  size_t cap);

/* The option getopt just refused: "-Z" from a cluster, or "--bogus"
 * (long-only options use getopt values >= 256 so that they are named so). */
const char *cli_option_name(char **argv, int opt);
/* Prints the error for getopt's ':' (a value missing) or '?' and a hint;
 * returns CLI_EXIT_USAGE. */
int cli_bad_option(const char *cmd, char **argv, int c);

/* Prints a command's --help text to stdout. */
void cli_usage(const char *name);

struct wp_host;
struct wp_report;

/* Opens the host with these sources (NULL: the default) and TDP (0: the
 * default); prints the error.  Returns wp_host_open's code. */
int cli_open_host(struct wp_host **host, const char *sources, double tdp_w);
/* Repeats in a report what it must say about sources: disagreements found at
 * start, and that figures are estimates and why.  0 or -ENOMEM. */
int cli_report_source_notes(struct wp_report *r, const struct wp_host *host,
                            const char *sources);

/*
 * live.c: monitor's live status line on the terminal.  One object per run,
 * used by the main thread only; its snapshots are its own, taken beside the
 * sampler.  A zeroed struct live is off, and every call below is then a
 * no-op, so live_close() is safe on a struct that was never opened.
 */
struct wp_meter;
struct wp_snapshot;

/* One domain on the line. */
struct live_figure {
	const char *name; /* the meter's name; shortened on the line */
	double power_w;   /* over the last tick; NaN: not known */
	int estimated;
	int lost;
};

struct live {
	int on;    /* the line is drawn at each tick */
	int fd;    /* the terminal (stderr's descriptor) */
	int shown; /* a status line is on the screen now */
	struct wp_meter *meter;
	struct wp_snapshot *start, *prev, *cur; /* at open, last tick, this tick */
	int have_prev;
	unsigned char *in_total; /* per meter domain: counts towards the total */
	struct live_figure *fig; /* room for one per meter domain */
	uint64_t next_ns;        /* CLOCK_MONOTONIC time of the next tick */
};

/*
 * Decides whether to show the line, and if so takes its first snapshot
 * (time 0 of "elapsed").  Shown when `tty` is a terminal, TERM is set and
 * not "dumb", and the meter has a domain that counts towards the total
 * (the caller does not open it with live = no, --no-live or WATTPROF_LIVE=no).  Returns 1 when it will be shown,
 * 0 when not (out of memory included: the line is a nicety).
 */
int live_open(struct live *l, struct wp_meter *meter, FILE *tty);
/*
 * Redraws the line when a tick (one a second since live_open) is due, then
 * sets *timeout to the time left until the next one: the caller waits that
 * long at most (sigtimedwait) and calls again.  Returns 0, or -1 when the
 * line is off (*timeout untouched).
 */
int live_tick(struct live *l, struct timespec *timeout);
/* Takes a snapshot and redraws the line now, with one write(2). */
void live_update(struct live *l);
/* Erases the line, if one is on the screen; the report can follow. */
void live_clear(struct live *l);
/* live_clear, then frees what live_open allocated; the struct is off after. */
void live_close(struct live *l);

/*
 * Composes the status line's text (no control characters) into buf: the
 * time elapsed, each figure's power, then the total power and energy so
 * far; '~' marks figures that rest on an estimate.  The text takes at most
 * cols - 1 columns (never the last one, where some terminals wrap): figures
 * that do not fit are left out (counted, "+2 more", after those that fit),
 * the total power goes before the energy does, and a terminal too narrow
 * for the time and the energy gets an empty text.  Returns the text's
 * length.  Apart from the drawing so that the tests can call it.
 */
size_t live_compose(char *buf, size_t cap, unsigned cols, uint64_t elapsed_ns,
                    const struct live_figure *fig, size_t n, double total_w,
                    double total_j, int estimated);

/* store.c: the run database, for monitor, runs, report, export and rm. */
struct wp_store;
#define CLI_DEFAULT_DB "wattprof_results/wattprof.db"
/* The database given, else CLI_DEFAULT_DB. */
const char *cli_db_where(const char *given);
/* Opens the database of --db (db, may be NULL), else of the configuration
 * (`config`: -c FILE, may be NULL); prints the error.  0 or < 0. */
int cli_open_store_config(struct wp_store **out, const char *db, const char *config,
                          unsigned flags);
/* Opens it; prints the error and a hint.  wp_store_open's code. */
int cli_open_store(struct wp_store **out, const char *given, unsigned flags);
/* Prints "error: <what>: <why>" for a store call that returned rc. */
void cli_store_error(const struct wp_store *store, int rc, const char *what);
/* A run id, or "last"; prints the error.  0, -EINVAL or -ENOENT.  store is
 * only read for "last": NULL checks a number's syntax. */
int cli_parse_run_id(struct wp_store *store, const char *s, int64_t *id);
/* Columns a UTF-8 string takes (one per character). */
size_t cli_utf8_width(const char *s);

/*
 * export.c: the writers of `wattprof export` (docs/STORAGE.md, "Export
 * formats").  Each writes runs[0..n), loaded with WP_LOAD_SERIES (a run's
 * series may be NULL: its report's two samples, start and end, stand in),
 * in the order given; a run given twice (the same id) is written once.
 * Each returns 0, or -1 with err filled with a message in git's style that
 * names the file (`path`, or `name` for a stream: the path as the user
 * gave it, "-" or "stdout" for standard output).  They print nothing.
 *
 * export_hdf5 creates `path`, replacing a file of that name; after a
 * failure no file is left there (one it created is removed).  HDF5's own
 * error printing is turned off for the process.
 * export_csv and export_json write to `out` and flush it; closing it is
 * the caller's.
 */
struct wp_run;
/* In the plugin wattprof-hdf5.so (src/export/hdf5.c): cli_export_hdf5_load. */
int export_hdf5(const char *path, struct wp_run *const *runs, size_t n, char *err,
                size_t errlen);
typedef int export_hdf5_fn(const char *path, struct wp_run *const *runs, size_t n, char *err,
                           size_t errlen);
int export_csv(FILE *out, const char *name, struct wp_run *const *runs, size_t n, char *err,
               size_t errlen);
int export_json(FILE *out, const char *name, struct wp_run *const *runs, size_t n, char *err,
                size_t errlen);

/* A run given twice (the same id) is written once, where it first appears. */
static inline int export_seen_before(struct wp_run *const *runs, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (runs[j]->id == runs[i]->id)
			return 1;
	return 0;
}

/* The run's report with its samples attached (a shallow copy: nothing of
 * it is owned, and nothing is freed). */
static inline struct wp_report export_run_report(const struct wp_run *run)
{
	struct wp_report r = run->report;
	if (!r.series)
		r.series = run->series;
	return r;
}

/*
 * config.c: layered settings (docs/CONFIG.md): the command line, then
 * WATTPROF_<KEY>, then ./.wattprof.ini (or -c FILE), then the user's
 * $XDG_CONFIG_HOME/wattprof/config.ini, then the defaults.
 */
enum cli_setting {
	CFG_FREQUENCY, CFG_DOMAINS, CFG_FORMAT, CFG_OUTPUT, CFG_SOURCE, CFG_TDP_W, CFG_IDLE,
	CFG_LIVE, CFG_SERIES, CFG_ATTRIBUTE,                           /* [monitor] */
	CFG_NAME, CFG_PACKAGE, CFG_ALGORITHM, CFG_ALGORITHM_PARAMS, CFG_DATA_TYPE,
	CFG_DATA_SHAPE, CFG_COMMENT,                                   /* [run] */
	CFG_PUE, CFG_COUNTRY, CFG_EMISSIONS_FACTOR, CFG_PRICE_FACTOR, CFG_PRICE_UNIT, /* [report] */
	CFG_DATABASE, CFG_STORE,                                       /* [storage] */
	CFG_COUNT
};
enum cli_level { CLI_LEVEL_DEFAULT, CLI_LEVEL_USER, CLI_LEVEL_LOCAL, CLI_LEVEL_ENV, CLI_LEVEL_CLI };
#define CLI_LOCAL_CONFIG ".wattprof.ini"

struct cli_value {
	char *value;  /* NULL: not set */
	char *origin; /* "default", "FILE:LINE", "WATTPROF_PUE", "--pue" */
	enum cli_level level;
};
struct cli_config {
	struct cli_value v[CFG_COUNT];
};

void cli_config_init(struct cli_config *c);
/* A value given on the command line: checked (the error printed), then
 * kept over every other level.  option: how it was given ("-f"); NULL: the
 * setting's long option.  0 or -1. */
int cli_config_set(struct cli_config *c, enum cli_setting id, const char *value,
                   const char *option);
/* The defaults, the user's file, the local file (`local`, from -c, when not
 * NULL: it must then exist), and the environment, under what the command
 * line set.  Prints the first error (file, line, key) and returns -1. */
int cli_config_load(struct cli_config *c, const char *local);
/* Only the built-in defaults.  0 or -1. */
int cli_config_defaults(struct cli_config *c);
void cli_config_free(struct cli_config *c);
/* The effective value (NULL: not set), as a number (NaN: not set). */
const char *cli_config_get(const struct cli_config *c, enum cli_setting id);
double cli_config_number(const struct cli_config *c, enum cli_setting id);
/* Set at some level above the defaults. */
int cli_config_given(const struct cli_config *c, enum cli_setting id);
const char *cli_config_key(enum cli_setting id);
/* 1 for yes/true/on/1, 0 for no/false/off/0 (any case), -1 otherwise. */
int cli_config_parse_bool(const char *v);
/* The carbon factors of the [report] settings; src (cap bytes) holds the
 * source of a given emissions factor.  0. */
struct wp_carbon_options;
int cli_carbon_options(const struct cli_config *c, struct wp_carbon_options *co, char *src,
                       size_t cap);
/* The settings as INI, each with where its value came from. */
void cli_config_print(FILE *out, const struct cli_config *c);

int cmd_monitor(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_showconf(int argc, char **argv);
int cmd_powercap(int argc, char **argv);
int cmd_exec(int argc, char **argv);

#endif
