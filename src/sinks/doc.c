/*
 * doc.c - the report as a tree of members, written once and emitted as JSON
 * or YAML.
 *
 * wp__report_doc() walks the report in the order of docs/REPORT.md and
 * calls the emitter for each member; the emitter (struct wp__doc) keeps a
 * stack of open containers and writes either syntax.  JSON is YAML 1.2, so
 * the two share scalars: strings double-quoted with JSON's escapes, numbers
 * as JSON numbers, null for what is absent (NaN included).  Containers are
 * "block" (one member per line) or "flow" (on one line: JSON objects of a
 * domain, rows of samples).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks.h"

/* ------------------------------------------------------------- scalars */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
size_t wp__utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned min;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xE0) == 0xC0)
		len = 2, cp = s[0] & 0x1F, min = 0x80;
	else if ((s[0] & 0xF0) == 0xE0)
		len = 3, cp = s[0] & 0x0F, min = 0x800;
	else if ((s[0] & 0xF8) == 0xF0)
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

void wp__put_quoted(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p);

	fputc('"', f);
	while (n > 0) {
		size_t len = wp__utf8_len(p, n);
		if (len == 0) {
			fputs("\\ufffd", f);
			len = 1;
		} else if (*p == '"' || *p == '\\') {
			fputc('\\', f);
			fputc(*p, f);
		} else if (*p == '\n') {
			fputs("\\n", f);
		} else if (*p == '\t') {
			fputs("\\t", f);
		} else if (*p == '\r') {
			fputs("\\r", f);
		} else if (*p < 0x20 || *p == 0x7F) {
			fprintf(f, "\\u%04x", *p);
		} else {
			fwrite(p, 1, len, f);
		}
		p += len;
		n -= len;
	}
	fputc('"', f);
}

static const double pow10_tab[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
	                            1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15 };

/*
 * v with 10 significant digits, trailing zeros dropped, as "%.10g" would
 * write it but several times faster (a million-sample series holds tens of
 * millions of numbers), and with a '.' before any exponent.  "null" for NaN
 * and infinities.
 */
size_t wp__fmt_num(char *buf, double v)
{
	double a = fabs(v);
	char digits[24];
	size_t len = 0, nd = 0;

	if (!isfinite(v))
		return (size_t)sprintf(buf, "null");
	if (a == 0)
		return (size_t)sprintf(buf, "0");
	if (a < 1e-5 || a >= 1e15) {
		size_t n = (size_t)snprintf(buf, 32, "%.10g", v);
		/*
		 * YAML 1.1 readers (PyYAML) take a float only with a '.' before
		 * the exponent: "1e-06" would be the string "1e-06" there.
		 * "1.0e-06" is the same number in JSON and in YAML 1.1 and 1.2.
		 */
		char *x = strchr(buf, 'e');
		if (x && !memchr(buf, '.', (size_t)(x - buf))) {
			memmove(x + 2, x, n - (size_t)(x - buf) + 1);
			x[0] = '.';
			x[1] = '0';
			n += 2;
		}
		return n;
	}
	int e = (int)floor(log10(a));
	int p = 9 - e; /* digits after the point: 14 down to -5 */
	double scaled = p >= 0 ? a * pow10_tab[p] : a / pow10_tab[-p];
	unsigned long long m = (unsigned long long)llround(scaled);
	if (m >= 10000000000ULL) { /* 9.9999999996 rounds up a digit */
		m = (m + 5) / 10;
		p--;
	}
	if (v < 0)
		buf[len++] = '-';
	do {
		digits[nd++] = (char)('0' + m % 10);
		m /= 10;
	} while (m);
	if (p <= 0) {
		while (nd)
			buf[len++] = digits[--nd];
		while (p++ < 0)
			buf[len++] = '0';
		buf[len] = '\0';
		return len;
	}
	/* Drop the trailing zeros of the fraction. */
	size_t skip = 0;
	while (skip < (size_t)p && skip < nd && digits[skip] == '0')
		skip++;
	if ((size_t)p >= nd) {
		buf[len++] = '0';
		buf[len++] = '.';
		for (size_t z = nd; z < (size_t)p; z++)
			buf[len++] = '0';
		while (nd > skip)
			buf[len++] = digits[--nd];
	} else {
		while (nd > (size_t)p)
			buf[len++] = digits[--nd];
		if (skip < (size_t)p) {
			buf[len++] = '.';
			while (nd > skip)
				buf[len++] = digits[--nd];
		}
	}
	buf[len] = '\0';
	return len;
}

/* ------------------------------------------------------------- emitter */

static void indent(struct wp__doc *d, int n)
{
	fputc('\n', d->f);
	for (int i = 0; i < n; i++)
		fputc(' ', d->f);
}

/* A YAML key written plain where that is safe, else quoted. */
static void put_key(struct wp__doc *d, const char *key)
{
	int plain = *key != '\0';
	for (const char *p = key; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			plain = 0;
	if (d->yaml && plain)
		fputs(key, d->f);
	else
		wp__put_quoted(d->f, key);
}

/* Writes what comes before a member: separator, new line, "- ", "key: ". */
static void member(struct wp__doc *d, const char *key, int container)
{
	struct wp__doc_level *l = &d->stack[d->depth];

	if (l->flow) {
		if (l->count)
			fputs(", ", d->f);
	} else if (d->yaml) {
		if (!(l->count == 0 && l->inline_first))
			indent(d, l->indent);
		if (l->arr)
			fputs("- ", d->f);
	} else {
		if (l->count)
			fputc(',', d->f);
		indent(d, l->indent);
	}
	l->count++;
	if (!l->arr) {
		put_key(d, key);
		/* A YAML block container under a key starts on the next line. */
		fputs(container && d->yaml ? ":" : ": ", d->f);
	}
}

void wp__doc_begin(struct wp__doc *d, const char *key, int arr, enum wp__flow flow)
{
	struct wp__doc_level *up = &d->stack[d->depth];
	int is_flow = up->flow || flow == WP__FLOW || (flow == WP__FLOW_JSON && !d->yaml);

	if (d->depth + 1 >= WP__DOC_DEPTH)
		return; /* never: the report is three levels deep */
	member(d, key, !is_flow);
	struct wp__doc_level *l = &d->stack[++d->depth];
	*l = (struct wp__doc_level){ .arr = arr, .flow = is_flow };
	if (is_flow || !d->yaml)
		fputc(arr ? '[' : '{', d->f);
	if (d->yaml && !is_flow) {
		/* A sequence's items sit under their key; a mapping inside a
		 * sequence item starts on the "- " line. */
		l->indent = up->indent + 2;
		l->inline_first = up->arr;
	} else {
		l->indent = up->indent + 2;
	}
}

void wp__doc_end(struct wp__doc *d)
{
	struct wp__doc_level *l = &d->stack[d->depth];

	if (d->depth == 0)
		return;
	if (l->flow) {
		fputc(l->arr ? ']' : '}', d->f);
	} else if (d->yaml) {
		if (l->count == 0)
			fputs(l->arr ? " []" : " {}", d->f);
	} else {
		if (l->count)
			indent(d, d->stack[d->depth - 1].indent);
		fputc(l->arr ? ']' : '}', d->f);
	}
	d->depth--;
}

void wp__doc_str(struct wp__doc *d, const char *key, const char *s)
{
	member(d, key, 0);
	if (s)
		wp__put_quoted(d->f, s);
	else
		fputs("null", d->f);
}

void wp__doc_num(struct wp__doc *d, const char *key, double v)
{
	char buf[40];
	member(d, key, 0);
	fwrite(buf, 1, wp__fmt_num(buf, v), d->f);
}

void wp__doc_int(struct wp__doc *d, const char *key, long long v)
{
	member(d, key, 0);
	fprintf(d->f, "%lld", v);
}

void wp__doc_bool(struct wp__doc *d, const char *key, int v)
{
	member(d, key, 0);
	fputs(v ? "true" : "false", d->f);
}

void wp__doc_null(struct wp__doc *d, const char *key)
{
	member(d, key, 0);
	fputs("null", d->f);
}

void wp__doc_open(struct wp__doc *d, FILE *f, int yaml)
{
	memset(d, 0, sizeof *d);
	d->f = f;
	d->yaml = yaml;
	d->stack[0].inline_first = yaml; /* the first key opens the file */
	d->stack[0].indent = yaml ? 0 : 2;
	if (!yaml)
		fputc('{', f);
}

int wp__doc_close(struct wp__doc *d)
{
	while (d->depth > 0)
		wp__doc_end(d);
	fputs(d->yaml ? "\n" : "\n}\n", d->f);
	return ferror(d->f) ? -EIO : 0;
}

/* ------------------------------------------------------------ the report */

/* {"mean": .., "std": .., "min": .., "max": ..} */
static void stats(struct wp__doc *d, const char *key, double mean, double sd, double lo,
                  double hi)
{
	wp__doc_begin(d, key, 0, WP__FLOW);
	wp__doc_num(d, "mean", mean);
	wp__doc_num(d, "std", sd);
	wp__doc_num(d, "min", lo);
	wp__doc_num(d, "max", hi);
	wp__doc_end(d);
}

static void domains(struct wp__doc *d, const struct wp_report *r)
{
	wp__doc_begin(d, "domains", 1, WP__BLOCK);
	for (size_t i = 0; i < r->domain_count; i++) {
		const struct wp_report_domain *m = &r->domains[i];
		wp__doc_begin(d, NULL, 0, WP__FLOW_JSON);
		wp__doc_str(d, "name", m->name);
		wp__doc_str(d, "source", m->source);
		wp__doc_str(d, "kind", wp_domain_kind_name(m->kind));
		wp__doc_num(d, "energy_j", m->energy_j);
		/* Only in an attributed report, so that one without stays as it
		 * was (docs/REPORT.md). */
		if (r->attributed) {
			wp__doc_num(d, "attributed_energy_j", m->attributed_energy_j);
			wp__doc_str(d, "attribution_method", m->attribution_method);
		}
		wp__doc_num(d, "avg_power_w", m->avg_power_w);
		wp__doc_bool(d, "estimated", m->estimated);
		wp__doc_bool(d, "in_total", m->in_total);
		wp__doc_bool(d, "complete", m->status == 0);
		wp__doc_bool(d, "integrated", m->integrated);
		wp__doc_str(d, "method", wp__report_method(m));
		wp__doc_str(d, "device_name", m->device_name);
		wp__doc_str(d, "device_id", m->device_id);
		wp__doc_num(d, "min_power_w", (r->flags & WP_REPORT_POWER_RANGE) ? m->min_power_w : NAN);
		wp__doc_num(d, "peak_power_w", (r->flags & WP_REPORT_POWER_RANGE) ? m->peak_power_w : NAN);
		wp__doc_num(d, "idle_power_w", r->idle_s > 0 ? m->idle_power_w : NAN);
		wp__doc_num(d, "above_idle_j", wp_report_above_idle_j(r, i));
		wp__doc_num(d, "energy_std_j", r->rounds ? m->energy_std_j : NAN);
		wp__doc_num(d, "energy_min_j", r->rounds ? m->energy_min_j : NAN);
		wp__doc_num(d, "energy_max_j", r->rounds ? m->energy_max_j : NAN);
		wp__doc_end(d);
	}
	wp__doc_end(d);
}

static void regions(struct wp__doc *d, const struct wp_report *r)
{
	wp__doc_begin(d, "regions", 1, WP__BLOCK);
	for (size_t i = 0; i < r->region_count; i++) {
		const struct wp_report_region *g = &r->regions[i];
		wp__doc_begin(d, NULL, 0, WP__FLOW_JSON);
		wp__doc_str(d, "tag", g->tag);
		wp__doc_num(d, "start_s", g->start_s);
		wp__doc_num(d, "duration_s", g->duration_s);
		wp__doc_begin(d, "energy_j", 0, WP__FLOW);
		for (size_t k = 0; k < r->domain_count; k++)
			wp__doc_num(d, r->domains[k].name, g->energy_j[k]);
		wp__doc_end(d);
		if (g->rank_count) { /* an MPI job's region: each rank's time */
			wp__doc_begin(d, "ranks", 1, WP__FLOW);
			for (size_t k = 0; k < g->rank_count; k++) {
				const struct wp_report_rank *t = &g->ranks[k];
				wp__doc_begin(d, NULL, 0, WP__FLOW);
				wp__doc_int(d, "rank", t->rank);
				wp__doc_str(d, "node", t->node);
				wp__doc_num(d, "start_s", t->start_s);
				wp__doc_num(d, "duration_s", t->duration_s);
				wp__doc_end(d);
			}
			wp__doc_end(d);
		}
		wp__doc_end(d);
	}
	wp__doc_end(d);
}

/* "carbon": the factors and figures of wp_report_set_carbon; null without. */
static void carbon(struct wp__doc *d, const struct wp_report *r)
{
	const struct wp_report_carbon *c = &r->carbon;

	if (!c->set) {
		wp__doc_null(d, "carbon");
		return;
	}
	wp__doc_begin(d, "carbon", 0, WP__BLOCK);
	wp__doc_num(d, "energy_kwh", c->energy_kwh);
	wp__doc_num(d, "pue", c->pue);
	wp__doc_num(d, "facility_energy_kwh", c->facility_energy_kwh);
	wp__doc_str(d, "country", c->country);
	wp__doc_num(d, "emissions_factor_g_per_kwh", c->emissions_factor_g_per_kwh);
	wp__doc_str(d, "emissions_factor_source", c->emissions_factor_source);
	wp__doc_num(d, "co2e_g", c->co2e_g);
	wp__doc_num(d, "price_factor", c->price_factor);
	wp__doc_str(d, "price_unit", c->price_unit);
	wp__doc_num(d, "cost", c->cost);
	wp__doc_end(d);
}

/*
 * "attribution": the process tree's totals (wp_report_set_attribution), and
 * "processes": one object per process of the tree, in the order first
 * seen; both null without attribution.
 */
static void attribution(struct wp__doc *d, const struct wp_report *r)
{
	if (!r->attributed) {
		wp__doc_null(d, "attribution");
		wp__doc_null(d, "processes");
		return;
	}
	wp__doc_begin(d, "attribution", 0, WP__BLOCK);
	wp__doc_int(d, "root_pid", (long long)r->attribution_root_pid);
	wp__doc_num(d, "total_energy_j", r->attributed_total_j);
	wp__doc_num(d, "cpu_time_s", r->attributed_cpu_time_s);
	wp__doc_num(d, "peak_rss_b", r->attributed_peak_rss_b);
	wp__doc_num(d, "peak_pss_b", r->attributed_peak_pss_b);
	wp__doc_num(d, "peak_uss_b", r->attributed_peak_uss_b);
	wp__doc_num(d, "peak_gpu_mem_b", r->attributed_peak_gpu_mem_b);
	wp__doc_int(d, "process_count", (long long)r->process_count);
	wp__doc_end(d);
	wp__doc_begin(d, "processes", 1, WP__BLOCK);
	for (size_t i = 0; i < r->process_count; i++) {
		const struct wp_report_process *p = &r->processes[i];
		wp__doc_begin(d, NULL, 0, WP__FLOW_JSON);
		wp__doc_int(d, "pid", (long long)p->pid);
		wp__doc_int(d, "ppid", (long long)p->ppid);
		wp__doc_str(d, "command", p->command);
		wp__doc_num(d, "start_s", p->start_s);
		wp__doc_num(d, "end_s", p->end_s);
		wp__doc_bool(d, "exited", p->exited);
		wp__doc_num(d, "cpu_time_s", p->cpu_time_s);
		wp__doc_num(d, "peak_rss_b", p->peak_rss_b);
		wp__doc_num(d, "peak_pss_b", p->peak_pss_b);
		wp__doc_num(d, "peak_uss_b", p->peak_uss_b);
		wp__doc_bool(d, "pss_from_rss", p->pss_from_rss);
		wp__doc_num(d, "peak_gpu_mem_b", p->peak_gpu_mem_b);
		wp__doc_num(d, "attributed_energy_j", p->attributed_energy_j);
		wp__doc_end(d);
	}
	wp__doc_end(d);
}

/* "series": the columns, then one flow row per sample: [t, v0, v1 ...]. */
static int series(struct wp__doc *d, const struct wp_report *r)
{
	struct wp_series_reader *rd = NULL;
	size_t nc = wp_series_column_count(r->series);
	double t, *v = calloc(nc + 1, sizeof *v);
	char *line = malloc(40 * (nc + 1) + 8);
	int rc = v && line ? wp_series_reader_open(&rd, r->series) : -ENOMEM;

	if (rc < 0) {
		free(v);
		free(line);
		wp__doc_null(d, "series");
		return rc == -ENODATA ? 0 : rc;
	}
	wp__doc_begin(d, "series", 0, WP__BLOCK);
	wp__doc_begin(d, "columns", 1, WP__BLOCK);
	for (size_t i = 0; i < nc; i++) {
		struct wp_series_column c;
		wp_series_column(r->series, i, &c);
		wp__doc_begin(d, NULL, 0, WP__FLOW);
		wp__doc_str(d, "domain", c.domain);
		wp__doc_str(d, "metric", c.metric);
		wp__doc_str(d, "unit", c.unit);
		wp__doc_end(d);
	}
	wp__doc_end(d);
	wp__doc_begin(d, "samples", 1, WP__BLOCK);
	/* Rows are built in one buffer: a million of them must stay fast. */
	while ((rc = wp_series_next(rd, &t, v)) > 0) {
		size_t n = 0;
		member(d, NULL, 0);
		line[n++] = '[';
		n += wp__fmt_num(line + n, t);
		for (size_t i = 0; i < nc; i++) {
			line[n++] = ',';
			line[n++] = ' ';
			n += wp__fmt_num(line + n, v[i]);
		}
		line[n++] = ']';
		fwrite(line, 1, n, d->f);
	}
	wp__doc_end(d);
	wp__doc_end(d);
	wp_series_reader_close(rd);
	free(v);
	free(line);
	return rc;
}

int wp__report_doc(const struct wp_report *r, FILE *f, int yaml)
{
	struct wp__doc d;
	char when[40];

	wp__doc_open(&d, f, yaml);
	wp__doc_str(&d, "version", WP_VERSION_STRING);
	wp__doc_str(&d, "host", r->host ? r->host : "");
	wp__doc_begin(&d, "command", 1, WP__FLOW);
	for (size_t i = 0; r->command && r->command[i]; i++)
		wp__doc_str(&d, NULL, r->command[i]);
	wp__doc_end(&d);
	if (r->exit_status >= 0)
		wp__doc_int(&d, "exit_status", r->exit_status);
	else
		wp__doc_null(&d, "exit_status");
	if (r->term_signal > 0)
		wp__doc_int(&d, "signal", r->term_signal);
	else
		wp__doc_null(&d, "signal");
	wp__iso8601(r->start_unix_ns, when, sizeof when);
	wp__doc_str(&d, "start_time", when);
	wp__doc_num(&d, "duration_s", r->duration_s);
	domains(&d, r);
	wp__doc_num(&d, "total_energy_j", r->total_energy_j);
	wp__doc_bool(&d, "total_estimated", wp__total_estimated(r));
	regions(&d, r);
	wp__doc_begin(&d, "warnings", 1, WP__BLOCK);
	for (size_t i = 0; i < r->warning_count; i++)
		wp__doc_str(&d, NULL, r->warnings[i]);
	wp__doc_end(&d);
	wp__doc_begin(&d, "sampling", 0, WP__FLOW);
	wp__doc_num(&d, "freq_hz", r->sampler_freq_hz > 0 ? r->sampler_freq_hz : NAN);
	wp__doc_int(&d, "samples", (long long)r->samples);
	wp__doc_end(&d);
	if (r->idle_s > 0) {
		wp__doc_begin(&d, "idle", 0, WP__FLOW_JSON);
		wp__doc_num(&d, "duration_s", r->idle_s);
		wp__doc_num(&d, "power_w", r->idle_total_power_w);
		wp__doc_num(&d, "above_idle_j", wp_report_above_idle_j(r, (size_t)-1));
		wp__doc_end(&d);
	} else {
		wp__doc_null(&d, "idle");
	}
	if (r->rounds) {
		wp__doc_begin(&d, "rounds", 0, WP__BLOCK);
		wp__doc_int(&d, "count", (long long)r->rounds);
		wp__doc_int(&d, "warmup", (long long)r->warmup_rounds);
		stats(&d, "duration_s", r->duration_s, r->duration_std_s, r->duration_min_s,
		      r->duration_max_s);
		stats(&d, "total_energy_j", r->total_energy_j, r->total_std_j, r->total_min_j,
		      r->total_max_j);
		wp__doc_end(&d);
	} else {
		wp__doc_null(&d, "rounds");
	}
	attribution(&d, r);
	carbon(&d, r);
	int rc = 0;
	if (r->series && (r->flags & WP_REPORT_SERIES))
		rc = series(&d, r);
	else
		wp__doc_null(&d, "series");
	int rc2 = wp__doc_close(&d);
	return rc < 0 ? rc : rc2;
}
