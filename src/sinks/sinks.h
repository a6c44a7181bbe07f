/*
 * sinks.h - the interface every report writer under src/sinks/ fills, and
 * helpers they share.  The table of sinks is in src/core/registry.c.
 */
#ifndef WATTPROF_SINKS_H
#define WATTPROF_SINKS_H

#include <stdio.h>

#include "wattprof/wattprof.h"

/* Fields are only ever added at the end; `version` says how many there are. */
struct wp_sink_ops {
	unsigned version; /* 1 */
	const char *name; /* what --format takes */
	/* Writes the whole report; returns 0 or a negative errno. */
	int (*write)(const struct wp_report *r, FILE *out);
};

extern const struct wp_sink_ops *const wp__sinks[];

/* "2026-11-21T14:03:07.125Z" from Unix ns; buf holds at least 32 bytes. */
void wp__iso8601(int64_t unix_ns, char *buf, size_t cap);

/* Nonzero when an estimated domain counts towards the total. */
int wp__total_estimated(const struct wp_report *r);

/*
 * The domain's WP_METHOD_* string; for a report filled by hand without one,
 * the method its estimated and integrated flags imply.
 */
const char *wp__report_method(const struct wp_report_domain *d);

#endif
