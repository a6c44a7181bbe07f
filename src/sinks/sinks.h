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
 * An MPI job's region in a few words: "8 ranks, 1.203 s to 1.412 s
 * (slowest: rank 5 on node-b)", "1 rank: rank 0 on node-a"; "" for a region
 * without ranks.
 */
const char *wp__region_ranks(const struct wp_report_region *g, char *buf, size_t cap);

/*
 * The domain's WP_METHOD_* string; for a report filled by hand without one,
 * the method its estimated and integrated flags imply.
 */
const char *wp__report_method(const struct wp_report_domain *d);

/* Length of the valid UTF-8 sequence at s (at most n bytes, n > 0), or 0
 * (doc.c; the HTML report uses it too). */
size_t wp__utf8_len(const unsigned char *s, size_t n);

/* ------------------------------------------ JSON and YAML from one walk */

/* A string double-quoted with JSON's escapes (valid YAML too); bytes that
 * are not UTF-8 become U+FFFD. */
void wp__put_quoted(FILE *f, const char *s);
/* v with 10 significant digits, "null" when not finite; buf >= 40 bytes.
 * Returns the length written. */
size_t wp__fmt_num(char *buf, double v);

enum wp__flow {
	WP__BLOCK = 0, /* one member per line */
	WP__FLOW_JSON, /* on one line in JSON, one member per line in YAML */
	WP__FLOW       /* on one line in both */
};

#define WP__DOC_DEPTH 8
struct wp__doc_level {
	int arr, flow, count, indent, inline_first;
};
struct wp__doc {
	FILE *f;
	int yaml;
	int depth;
	struct wp__doc_level stack[WP__DOC_DEPTH];
};

void wp__doc_open(struct wp__doc *d, FILE *f, int yaml);
int wp__doc_close(struct wp__doc *d);
/* key is NULL inside an array. */
void wp__doc_begin(struct wp__doc *d, const char *key, int arr, enum wp__flow flow);
void wp__doc_end(struct wp__doc *d);
void wp__doc_str(struct wp__doc *d, const char *key, const char *s); /* NULL: null */
void wp__doc_num(struct wp__doc *d, const char *key, double v);      /* NaN: null */
void wp__doc_int(struct wp__doc *d, const char *key, long long v);
void wp__doc_bool(struct wp__doc *d, const char *key, int v);
void wp__doc_null(struct wp__doc *d, const char *key);

/* The whole report (docs/REPORT.md) as JSON, or as YAML when yaml != 0. */
int wp__report_doc(const struct wp_report *r, FILE *f, int yaml);

/* Energy scaled for reading: "820.4 mJ", "12.35 J", "3.102 kJ", "1.25 Wh",
 * "3.5 kWh" (four significant figures); "-" when not finite. */
const char *wp__scaled_j(char *buf, size_t cap, double j);
/* A run's duration: "12.345 s", past a minute "3723.100 s (1:02:03)". */
void wp__put_duration(FILE *f, double s);
/* Power likewise: "mW", "W", "kW", "MW". */
const char *wp__scaled_w(char *buf, size_t cap, double w);
/* Bytes likewise, in powers of 1024: "B", "KiB", "MiB", "GiB", "TiB". */
const char *wp__scaled_b(char *buf, size_t cap, double b);
/* Seconds likewise: "812.3 ms", "4.1 s"; "-" when not finite. */
const char *wp__scaled_s(char *buf, size_t cap, double s);
/*
 * The run's kWh, emissions and cost in one plain sentence (text.c; the HTML
 * page shows it too): "In all: 0.0123 kWh (0.0148 kWh at the facility with
 * a PUE of 1.2), 5.69 gCO2e at 385.39 gCO2e/kWh (Ember 2022 (Germany), via
 * CO2.js 0.13.10), costing 0.00444 EUR at 0.3 EUR/kWh."  *out is malloc'ed,
 * NULL when the report has no carbon factors.  0 or -ENOMEM.
 */
int wp__carbon_sentence(const struct wp_report *r, char **out);

/* ------------------------------------ attribution, for text.c and html.c */

/* The processes that the text and HTML reports list; the rest are summed
 * in one line.  The JSON, YAML and CSV reports hold every process. */
#define WP__SHOWN_PROCESSES 20
/*
 * The report's processes as the text and HTML reports list them (text.c):
 * `order` (malloc'ed, process_count indices; NULL when there are none) in
 * the order people read them: most attributed energy first, unknown energy
 * last, ties by CPU time, then in the order first seen; the first `shown`
 * are listed; `gpu` and `rss` say whether a listed one held GPU memory or
 * has its RSS for its PSS.  0 or -ENOMEM.
 */
struct wp__process_list {
	size_t *order;
	size_t shown;
	int gpu, rss;
};
int wp__process_list(const struct wp_report *r, struct wp__process_list *out);
/*
 * The attribution in one line: "attributed to the process tree of pid 4242
 * (12 processes): 6.5 J of 12 J (54.2%), 3.21 s of CPU time, peak PSS
 * 1.2 GiB, peak GPU memory 2 GiB".  *out is malloc'ed, NULL without
 * attribution.  0 or -ENOMEM.
 */
int wp__attribution_sentence(const struct wp_report *r, char **out);
/* What an attribution method means, in a few words; NULL for a name we do
 * not know. */
const char *wp__attribution_meaning(const char *method);

#endif
