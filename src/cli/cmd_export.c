/*
 * cmd_export.c - `wattprof export RUN_ID... --format hdf5|csv|json -o FILE`:
 * loads each run with its samples and hands them to the writers in
 * export.c.  A file is written whole or not at all: CSV and JSON go to a
 * temporary file beside it, renamed over FILE at the end; the HDF5 writer
 * removes what it wrote when it fails.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wattprof/wattprof.h"
#include "cli.h"

#define PLUGIN "wattprof-hdf5.so"

enum { OPT_FORMAT = 256, OPT_DB };
enum exp_format { EXP_NONE, EXP_HDF5, EXP_CSV, EXP_JSON };

/* The ids named: numbers, "last", or "all".  0, or -1 after an error. */
static int collect_ids(struct wp_store *store, char **args, int n, int64_t **ids, size_t *count)
{
	*ids = NULL;
	*count = 0;
	for (int i = 0; i < n; i++) {
		int64_t *more = NULL;
		size_t m = 0;
		if (!strcmp(args[i], "all")) {
			int rc = wp_store_list(store, &more, &m);
			if (rc < 0) {
				cli_store_error(store, rc, "cannot list the runs");
				return -1;
			}
		} else {
			more = malloc(sizeof *more);
			if (!more || cli_parse_run_id(store, args[i], more) < 0) {
				free(more);
				return -1;
			}
			m = 1;
		}
		int64_t *all = realloc(*ids, (*count + m + 1) * sizeof *all);
		if (!all) {
			free(more);
			cli_error("out of memory");
			return -1;
		}
		memcpy(all + *count, more, m * sizeof *more);
		*ids = all;
		*count += m;
		free(more);
	}
	return 0;
}

/*
 * The HDF5 writer, in the plugin wattprof-hdf5.so (src/export/hdf5.c),
 * loaded only now: HDF5 and what it brings would cost every start of
 * wattprof about 4 ms.  Beside this binary, in ../lib/wattprof when
 * installed, or named by WATTPROF_HDF5_PLUGIN.  NULL, said, when it cannot
 * be loaded.
 */
static export_hdf5_fn *load_hdf5(void)
{
	char path[PATH_MAX];
	void *h = NULL;
	export_hdf5_fn *fn = NULL;

	if (cli_find_file("WATTPROF_HDF5_PLUGIN", PLUGIN, "wattprof/" PLUGIN, path, sizeof path) == 0 &&
	    (h = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
		*(void **)&fn = dlsym(h, "export_hdf5");
	if (!fn) {
		cli_error("cannot load the HDF5 writer '%s': %s", path,
		          h ? dlerror() : access(path, R_OK) == 0 ? dlerror() : strerror(errno));
		cli_hint("'make' builds " PLUGIN " beside wattprof and 'make install' installs it in "
		         "lib/wattprof; WATTPROF_HDF5_PLUGIN names another; nothing was written");
	}
	return fn;
}

int cmd_export(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "db", required_argument, NULL, OPT_DB },
		{ "database", required_argument, NULL, OPT_DB },
		{ "config", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum exp_format fmt = EXP_NONE;
	const char *db = NULL, *config = NULL, *output = NULL;
	int c, status = CLI_EXIT_FAILURE;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:c:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_FORMAT:
			fmt = !strcmp(optarg, "hdf5")   ? EXP_HDF5
			      : !strcmp(optarg, "csv")  ? EXP_CSV
			      : !strcmp(optarg, "json") ? EXP_JSON
			                                : EXP_NONE;
			if (fmt == EXP_NONE) {
				cli_error("unknown export format '%s'", optarg);
				cli_hint("use one of: hdf5, csv, json");
				return CLI_EXIT_USAGE;
			}
			break;
		case OPT_DB:
			db = optarg;
			break;
		case 'c':
			if (config) {
				cli_error("'-c' given twice ('%s' and '%s')", config, optarg);
				cli_hint("give one configuration file");
				return CLI_EXIT_USAGE;
			}
			config = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'h':
			cli_usage("export");
			return 0;
		default:
			return cli_bad_option("export", argv, c);
		}
	}
	if (fmt == EXP_NONE || !output) {
		cli_error(fmt == EXP_NONE ? "no export format given" : "no output file given");
		cli_hint("e.g. 'wattprof export --format hdf5 -o runs.h5 3 4'");
		return CLI_EXIT_USAGE;
	}
	if (optind >= argc) {
		cli_error("no run id given");
		cli_hint("'wattprof runs' lists the stored runs; 'all' exports every one");
		return CLI_EXIT_USAGE;
	}
	int to_stdout = !strcmp(output, "-");
	if (to_stdout && fmt == EXP_HDF5) {
		cli_error("an HDF5 file cannot be written to stdout");
		cli_hint("give a file name with -o");
		return CLI_EXIT_USAGE;
	}
	/* The writer first: a missing plugin is said before any run is loaded. */
	export_hdf5_fn *write_hdf5 = NULL;
	if (fmt == EXP_HDF5 && !(write_hdf5 = load_hdf5()))
		return CLI_EXIT_FAILURE;

	struct wp_store *store = NULL;
	struct wp_run **runs = NULL;
	int64_t *ids = NULL;
	size_t n = 0, loaded = 0;
	char tmp[4096] = "", err[1024] = "";
	FILE *f = NULL;
	if (cli_open_store_config(&store, db, config, 0) < 0)
		return CLI_EXIT_FAILURE;
	if (collect_ids(store, argv + optind, argc - optind, &ids, &n) < 0)
		goto done;
	if (n == 0) {
		cli_error("no run is stored in '%s'", cli_db_where(db));
		goto done;
	}
	runs = calloc(n, sizeof *runs);
	if (!runs) {
		cli_error("out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		int rc = wp_store_load(store, ids[i], WP_LOAD_SERIES, &runs[i]);
		if (rc < 0) {
			char what[64];
			snprintf(what, sizeof what, "cannot read run %" PRId64, ids[i]);
			cli_store_error(store, rc, what);
			cli_hint("nothing was written");
			goto done;
		}
		loaded++;
	}
	/* HDF5: export_hdf5 leaves no file behind when it fails, and names the
	 * file in its messages: it writes the target itself. */
	if (!to_stdout && fmt != EXP_HDF5 &&
	    snprintf(tmp, sizeof tmp, "%s.tmp-%d", output, (int)getpid()) >= (int)sizeof tmp) {
		cli_error("the file name '%s' is too long", output);
		goto done;
	}
	int rc;
	if (fmt == EXP_HDF5) {
		rc = write_hdf5(output, runs, n, err, sizeof err);
	} else {
		f = to_stdout ? stdout : fopen(tmp, "w");
		if (!f) {
			cli_error("cannot write '%s': %s", output, strerror(errno));
			goto done;
		}
		rc = fmt == EXP_CSV ? export_csv(f, output, runs, n, err, sizeof err)
		                    : export_json(f, output, runs, n, err, sizeof err);
		if ((f == stdout ? fflush(f) : fclose(f)) != 0 && rc == 0) {
			snprintf(err, sizeof err, "cannot write '%s': %s", output, strerror(errno));
			rc = -1;
		}
		f = NULL;
	}
	if (rc == 0 && *tmp && rename(tmp, output) < 0) {
		snprintf(err, sizeof err, "cannot write '%s': %s", output, strerror(errno));
		rc = -1;
	}
	if (rc < 0) {
		cli_error("%s", *err ? err : "the export failed");
		if (*tmp)
			unlink(tmp);
		goto done;
	}
	status = 0;
done:
	for (size_t i = 0; i < loaded; i++)
		wp_run_free(runs[i]);
	free(runs);
	free(ids);
	wp_store_close(store);
	return status;
}
