/*
 * sources.c - what `monitor` and `list` share about sources: the --source
 * and --tdp options, opening the host with them, and the notes that a report
 * must repeat (two sources disagreeing, an estimate standing in for a
 * counter).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wattprof/wattprof.h"
#include "cli.h"

/* "perf, powercap, msr, hwmon, nvml, amdgpu, estimate" */
static void source_names(char *buf, size_t cap)
{
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; wp_source_name(i) && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", wp_source_name(i));
}

int cli_parse_sources(const char *list, const char **out)
{
	char names[256];
	const char *p = list;

	if (!*list)
		goto bad;
	while (*p) {
		size_t len = strcspn(p, ","), i;
		for (i = 0; wp_source_name(i); i++)
			if (strlen(wp_source_name(i)) == len &&
			    strncmp(wp_source_name(i), p, len) == 0)
				break;
		if (!wp_source_name(i)) {
			cli_error("unknown source '%.*s' in '--source %s'", (int)len, p, list);
			goto hint;
		}
		p += len;
		if (*p == ',' && (*++p == '\0' || *p == ','))
			goto bad;
	}
	*out = list;
	return 0;
bad:
	cli_error("empty source name in '--source %s'", list);
hint:
	source_names(names, sizeof names);
	cli_hint("give one or more of: %s, separated by commas", names);
	return -EINVAL;
}

int cli_parse_tdp(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > 100000) {
		cli_error("invalid TDP '%s'", s);
		cli_hint("give the CPU's thermal design power per socket in watts, e.g. "
		         "'--tdp 150'");
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int cli_open_host(struct wp_host **host, const char *sources, double tdp_w)
{
	struct wp_options opts = {
		.version = WP_OPTIONS_VERSION,
		.sources = sources,
		.tdp_w = tdp_w,
	};
	int rc = wp_host_open(host, &opts);

	if (rc == -EINVAL && getenv("WATTPROF_TDP_W")) {
		cli_error("invalid WATTPROF_TDP_W '%s'", getenv("WATTPROF_TDP_W"));
		cli_hint("give the CPU's TDP per socket in watts, e.g. WATTPROF_TDP_W=150, "
		         "or unset it");
	} else if (rc == WP_ESOURCE && getenv("WATTPROF_SOURCE")) {
		char names[256];
		source_names(names, sizeof names);
		cli_error("unknown source in WATTPROF_SOURCE '%s'", getenv("WATTPROF_SOURCE"));
		cli_hint("give one or more of: %s, separated by commas, or unset it", names);
	} else if (rc < 0) {
		cli_error("cannot look for energy sources: %s", wp_strerror(rc));
	}
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
