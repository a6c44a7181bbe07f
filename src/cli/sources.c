/*
 * sources.c - what `monitor` and `list` share about sources: opening the
 * host with their --source and --tdp (checked as settings in config.c), and
 * the notes that a report must repeat (two sources disagreeing, an estimate
 * standing in for a counter).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wattprof/wattprof.h"
#include "cli.h"

int cli_open_host(struct wp_host **host, const char *sources, double tdp_w)
{
	struct wp_options opts = {
		.version = WP_OPTIONS_VERSION,
		.sources = sources,
		.tdp_w = tdp_w,
	};
	int rc = wp_host_open(host, &opts);

	/* Its options, and WATTPROF_SOURCE and WATTPROF_TDP_W, which the
	 * library would read without them, were checked as settings (config.c). */
	if (rc < 0)
		cli_error("cannot look for energy sources: %s", wp_strerror(rc));
	return rc;
}

/* "package_0, package_1" of the estimated domains, and their count. */
static size_t estimated_names(const struct wp_host *host, char *buf, size_t cap)
{
	size_t n = 0, count = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < wp_host_domain_count(host); i++) {
		const struct wp_domain_info *d = wp_host_domain(host, i);
		if (d->estimated && n < cap) {
			n += (size_t)snprintf(buf + n, cap - n, "%s%s", count ? ", " : "", d->name);
			count++;
		}
	}
	return count;
}

int cli_report_source_notes(struct wp_report *r, const struct wp_host *host,
                            const char *sources)
{
	char names[512];
	int rc = 0;

	for (size_t i = 0; i < wp_host_note_count(host) && rc == 0; i++) {
		const struct wp_source_note *n = wp_host_note(host, i);
		if (n->level == WP_NOTE_WARNING)
			rc = wp_report_warn(r, "%s: %s", n->source, n->message);
	}
	if (rc < 0 || estimated_names(host, names, sizeof names) == 0)
		return rc;
	if (sources && *sources)
		return wp_report_warn(r, "%s: estimated from CPU time and the TDP, as asked "
		                         "(--source); not measured (docs/ESTIMATE.md gives the "
		                         "method and its error)",
		                      names);
	rc = wp_report_warn(r, "%s: estimated from CPU time and the TDP, because no energy "
	                       "counter measures the processor here (docs/ESTIMATE.md gives the "
	                       "method and its error); 'wattprof list' says how to get one",
	                    names);
	for (size_t i = 0; i < wp_host_note_count(host) && rc == 0; i++) {
		const struct wp_source_note *n = wp_host_note(host, i);
		if (n->level == WP_NOTE_UNAVAILABLE && strcmp(n->source, "estimate") != 0)
			rc = wp_report_warn(r, "%s: %s", n->source, n->message);
	}
	for (size_t i = 0; i < wp_host_note_count(host) && rc == 0; i++) {
		const struct wp_source_note *n = wp_host_note(host, i);
		if (n->level == WP_NOTE_FOUND && strcmp(n->source, "estimate") == 0)
			rc = wp_report_warn(r, "%s: %s", n->source, n->message);
	}
	return rc;
}
