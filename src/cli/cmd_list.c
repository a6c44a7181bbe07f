/*
 * cmd_list.c - `wattprof list`: every domain found, then what each source
 * found, skipped or missed, with the fix for what is missing.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "wattprof/wattprof.h"
#include "cli.h"

static const char *level_word(enum wp_note_level l)
{
	switch (l) {
	case WP_NOTE_FOUND:
		return "found";
	case WP_NOTE_SKIPPED:
		return "skipped";
	case WP_NOTE_WARNING:
		return "warning";
	default:
		return "unavailable";
	}
}

/* "4.4 min", "17 s", "3.2 h": how soon a counter can wrap. */
static void duration(char *buf, size_t cap, double s)
{
	if (s < 120)
		snprintf(buf, cap, "%.3g s", s);
	else if (s < 7200)
		snprintf(buf, cap, "%.3g min", s / 60);
	else
		snprintf(buf, cap, "%.3g h", s / 3600);
}

int cmd_list(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "source", required_argument, NULL, 's' },
		{ "tdp", required_argument, NULL, 256 },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	struct wp_host *host;
	struct cli_config cfg;
	int c, bad = 0;

	/* -s and --tdp are monitor's [monitor] source and tdp_w, checked as
	 * monitor checks them: list shows what monitor would measure. */
	cli_config_init(&cfg);
	opterr = 0;
	optind = 1;
	while (!bad && (c = getopt_long(argc, argv, ":s:c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			bad = cli_config_set(&cfg, CFG_SOURCE, optarg, NULL) < 0;
			break;
		case 256: /* --tdp: long only, named in full by errors */
			bad = cli_config_set(&cfg, CFG_TDP_W, optarg, NULL) < 0;
			break;
		case 'c':
			if (config) {
				cli_error("'-c' given twice ('%s' and '%s')", config, optarg);
				cli_hint("give one configuration file");
				bad = 1;
			}
			config = optarg;
			break;
		case 'h':
			cli_config_free(&cfg);
			cli_usage("list");
			return 0;
		case ':':
			cli_error("option '%s' needs a value", argv[optind - 1]);
			cli_hint("'wattprof list --help' shows the usage");
			bad = 1;
			break;
		default:
			cli_error("unknown option '%s'", argv[optind - 1]);
			cli_hint("'wattprof list --help' shows the usage");
			bad = 1;
		}
	}
	if (!bad && optind < argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		cli_hint("'wattprof list --help' shows the usage");
		bad = 1;
	}
	if (bad || cli_config_load(&cfg, config) < 0) {
		cli_config_free(&cfg);
		return CLI_EXIT_USAGE;
	}
	double tdp_w = cli_config_get(&cfg, CFG_TDP_W) ? cli_config_number(&cfg, CFG_TDP_W) : 0;
	int rc = cli_open_host(&host, cli_config_get(&cfg, CFG_SOURCE), tdp_w);
	cli_config_free(&cfg);
	if (rc < 0)
		return 1;

	size_t n = wp_host_domain_count(host);
	if (n == 0) {
		printf("no energy domain found (roots: sysfs '%s', proc '%s', dev '%s')\n",
		       wp_host_sysfs_root(host), wp_host_proc_root(host), wp_host_dev_root(host));
	} else {
		size_t w = 6;
		for (size_t i = 0; i < n; i++)
			if (strlen(wp_host_domain(host, i)->name) > w)
				w = strlen(wp_host_domain(host, i)->name);
		printf("%-*s  %-9s %-15s %-22s %s\n", (int)w, "domain", "source", "method",
		       "can wrap after", "file");
		for (size_t i = 0; i < n; i++) {
			const struct wp_domain_info *d = wp_host_domain(host, i);
			char wrap[32];
			duration(wrap, sizeof wrap, (double)d->min_wrap_ns / 1e9);
			char col[48];
			/* A 64-bit count wraps after centuries: say never. */
			if (d->min_wrap_ns >= (uint64_t)1 << 62)
				snprintf(col, sizeof col, "never");
			else
				snprintf(col, sizeof col, "%s at %.0f W", wrap, d->peak_power_w);
			printf("%-*s  %-9s %-15s %-22s %s\n", (int)w, d->name, d->source, d->method,
			       col, d->path);
			if (d->device_name || d->device_id)
				printf("%-*s  %s%s%s\n", (int)w, "", d->device_name ? d->device_name : "",
				       d->device_name && d->device_id ? ", " : "",
				       d->device_id ? d->device_id : "");
			if (d->integrated && d->update_ns)
				printf("%-*s  power updates every %.3g ms: sampled at %.4g Hz or more\n",
				       (int)w, "", (double)d->update_ns / 1e6, 2e9 / (double)d->update_ns);
			if (d->opt_in)
				printf("%-*s  not measured unless named (--domains %s): see the %s "
				       "note below\n",
				       (int)w, "", d->name, d->source);
		}
	}

	/* Source by source, in order of preference. */
	printf("\nsources, in order of preference:\n");
	for (size_t k = 0; wp_source_name(k); k++) {
		for (size_t i = 0; i < wp_host_note_count(host); i++) {
			const struct wp_source_note *note = wp_host_note(host, i);
			if (strcmp(note->source, wp_source_name(k)) != 0)
				continue;
			printf("  %-9s %s: %s\n", note->source, level_word(note->level),
			       note->message);
			if (note->fix)
				printf("  %-9s fix: %s\n", "", note->fix);
		}
	}
	wp_host_close(host);
	return 0;
}
