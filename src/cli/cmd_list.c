/*
 * cmd_list.c - `wattprof list`: every domain found, then what each source
 * found, skipped or missed, with the fix for what is missing.
 */
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
	struct wp_host *host;
	int rc;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		cli_usage("list");
		return 0;
	}
	if (argc > 1) {
		cli_error("unexpected argument '%s'", argv[1]);
		cli_hint("'wattprof list --help' shows the usage");
		return CLI_EXIT_USAGE;
	}
	rc = wp_host_open(&host, NULL);
	if (rc < 0) {
		cli_error("cannot look for energy sources: %s", wp_strerror(rc));
		return 1;
	}

	size_t n = wp_host_domain_count(host);
	if (n == 0) {
		printf("no energy domain found (sysfs root '%s')\n", wp_host_sysfs_root(host));
	} else {
		size_t w = 6;
		for (size_t i = 0; i < n; i++)
			if (strlen(wp_host_domain(host, i)->name) > w)
				w = strlen(wp_host_domain(host, i)->name);
		printf("%-*s  %-9s %-22s %s\n", (int)w, "domain", "source", "can wrap after",
		       "file");
		for (size_t i = 0; i < n; i++) {
			const struct wp_domain_info *d = wp_host_domain(host, i);
			char wrap[32];
			duration(wrap, sizeof wrap, (double)d->min_wrap_ns / 1e9);
			char col[48];
			snprintf(col, sizeof col, "%s at %.0f W", wrap, d->peak_power_w);
			printf("%-*s  %-9s %-22s %s%s\n", (int)w, d->name, d->source, col, d->path,
			       d->estimated ? "  (estimated)" : "");
		}
	}

	printf("\nsources:\n");
	for (size_t i = 0; i < wp_host_note_count(host); i++) {
		const struct wp_source_note *note = wp_host_note(host, i);
		printf("  %-9s %s: %s\n", note->source, level_word(note->level), note->message);
		if (note->fix)
			printf("  %-9s fix: %s\n", "", note->fix);
	}
	wp_host_close(host);
	return 0;
}
