/*
 * cmd_report.c - `wattprof report RUN_ID`: a stored run's report, as
 * `monitor` wrote it (or, for a run that did not finish, its figures up to
 * the last sample stored), in any format.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "wattprof/wattprof.h"
#include "cli.h"

enum { OPT_FORMAT = 256, OPT_DB, OPT_SERIES };

int cmd_report(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "db", required_argument, NULL, OPT_DB },
		{ "database", required_argument, NULL, OPT_DB },
		{ "config", required_argument, NULL, 'c' },
		{ "series", no_argument, NULL, OPT_SERIES },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum wp_format format = WP_FORMAT_TEXT;
	const char *db = NULL, *config = NULL, *output = NULL;
	int series = 0, c, status = CLI_EXIT_FAILURE;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:c:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_FORMAT:
			if (wp_format_parse(optarg, &format) < 0) {
				cli_error("unknown report format '%s'", optarg);
				cli_hint("use one of: text, json, csv, yaml, html");
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
		case OPT_SERIES:
			series = 1;
			break;
		case 'o':
			output = optarg;
			break;
		case 'h':
			cli_usage("report");
			return 0;
		default:
			return cli_bad_option("report", argv, c);
		}
	}
	if (series && format != WP_FORMAT_JSON && format != WP_FORMAT_YAML) {
		cli_error("'--series' needs '--format json' or '--format yaml'");
		cli_hint("csv and html reports always hold the time series; text has none");
		return CLI_EXIT_USAGE;
	}
	if (optind + 1 != argc) {
		cli_error(optind >= argc ? "no run id given" : "one run id at a time");
		cli_hint("'wattprof runs' lists the stored runs; 'wattprof export' writes several");
		return CLI_EXIT_USAGE;
	}

	struct wp_store *store = NULL;
	struct wp_run *run = NULL;
	FILE *out = stdout;
	int64_t id;
	/* A malformed id is a usage error, told before any database is opened. */
	if (strcmp(argv[optind], "last") && cli_parse_run_id(NULL, argv[optind], &id) < 0)
		return CLI_EXIT_USAGE;
	if (cli_open_store_config(&store, db, config, 0) < 0)
		return CLI_EXIT_FAILURE;
	if (cli_parse_run_id(store, argv[optind], &id) < 0)
		goto done;
	int with_series = series || format == WP_FORMAT_CSV || format == WP_FORMAT_HTML;
	int rc = wp_store_load(store, id, with_series ? WP_LOAD_SERIES : 0, &run);
	if (rc < 0) {
		char what[64];
		snprintf(what, sizeof what, "cannot read run %" PRId64, id);
		cli_store_error(store, rc, what);
		goto done;
	}
	if (with_series)
		run->report.flags |= WP_REPORT_SERIES;
	if (output && strcmp(output, "-") && !(out = fopen(output, "w"))) {
		cli_error("cannot write '%s': %s", output, strerror(errno));
		goto done;
	}
	rc = wp_report_write(&run->report, format, out);
	if (out != stdout && fclose(out) != 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		cli_error("cannot write the report to '%s': %s", output ? output : "stdout",
		          wp_strerror(rc));
	else
		status = 0;
done:
	wp_run_free(run);
	wp_store_close(store);
	return status;
}
