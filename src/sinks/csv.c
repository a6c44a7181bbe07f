/*
 * csv.c - the CSV report: the time series in long format, one row per
 * sample, domain and metric, RFC 4180 with CRLF line ends:
 *
 *   time_s,domain,metric,value,unit,method
 *   0.1,package_0,power_w,20.01,W,energy_counter
 *   0.1,package_0,energy_j,2.001,J,energy_counter
 *   0.1,node,cpu_util_pct,48.5,%,
 *
 * `method` is the domain's (docs/REPORT.md): "estimate" marks every figure
 * that is a model, not a measurement; readings leave it empty, but for a
 * domain's attributed_energy_j, which carries its attribution method.
 *
 * A value a sample does not have (power at time 0, readings between their
 * periods, a domain after it was lost) has no row.  A report without a
 * stored series (a library user's) is written as the two samples it has:
 * time 0 (energy 0) and the end (energy_j, and avg_power_w as the power over
 * the interval).  An attributed report then gives the attribution at the
 * run's end (attribution_rows: each domain's attributed_energy_j, the
 * tree's totals as rows of "attribution", each process as rows of
 * "process_<pid>"), and a report with carbon factors ends with their
 * figures as rows of the domain "carbon" (carbon_rows).  Everything else of
 * the report (regions, warnings) is in the JSON and YAML reports.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks.h"

/* Length of s written as one CSV field into out (quoted when it needs it). */
static size_t field(char *out, const char *s)
{
	size_t n = 0;
	if (!strpbrk(s, ",\"\r\n")) {
		n = strlen(s);
		memcpy(out, s, n);
		return n;
	}
	out[n++] = '"';
	for (; *s; s++) {
		if (*s == '"')
			out[n++] = '"';
		out[n++] = *s;
	}
	out[n++] = '"';
	return n;
}

/* ",domain,metric," and ",unit\r\n" of every column, built once. */
struct col_text {
	char *mid, *tail;
	size_t mid_len, tail_len;
};

static int col_text(struct col_text *c, const char *domain, const char *metric,
                    const char *unit, const char *method)
{
	c->mid = malloc(2 * (strlen(domain) + strlen(metric)) + 8);
	c->tail = malloc(2 * (strlen(unit) + strlen(method)) + 8);
	if (!c->mid || !c->tail) {
		free(c->mid);
		free(c->tail);
		c->mid = c->tail = NULL;
		return -ENOMEM;
	}
	size_t n = 0;
	c->mid[n++] = ',';
	n += field(c->mid + n, domain);
	c->mid[n++] = ',';
	n += field(c->mid + n, metric);
	c->mid[n++] = ',';
	c->mid_len = n;
	n = 0;
	c->tail[n++] = ',';
	n += field(c->tail + n, unit);
	c->tail[n++] = ',';
	n += field(c->tail + n, method);
	c->tail[n++] = '\r';
	c->tail[n++] = '\n';
	c->tail_len = n;
	return 0;
}

/* The method of a column's domain, for energy and power; its attribution
 * method for its attributed energy; else "". */
static const char *column_method(const struct wp_report *r, const struct wp_series_column *c)
{
	int attributed = strcmp(c->metric, "attributed_energy_j") == 0;
	if (strcmp(c->metric, "energy_j") != 0 && strcmp(c->metric, "power_w") != 0 && !attributed)
		return "";
	for (size_t i = 0; i < r->domain_count; i++) {
		const struct wp_report_domain *d = &r->domains[i];
		if (strcmp(d->name, c->domain) != 0)
			continue;
		if (attributed)
			return r->attributed && d->attribution_method ? d->attribution_method : "";
		return wp__report_method(d);
	}
	return "";
}

/*
 * The series' rows.  last[2 * i] and last[2 * i + 1] get the time and value
 * of column i's last row (NaN for none), so that the attribution's rows at
 * the end repeat no row the series wrote.
 */
static int write_series(const struct wp_report *r, FILE *f, double *last)
{
	size_t nc = wp_series_column_count(r->series);
	struct col_text *ct = calloc(nc + 1, sizeof *ct);
	double t, *v = calloc(nc + 1, sizeof *v);
	struct wp_series_reader *rd = NULL;
	int rc = ct && v ? 0 : -ENOMEM;

	for (size_t i = 0; i < nc && rc == 0; i++) {
		struct wp_series_column c;
		wp_series_column(r->series, i, &c);
		rc = col_text(&ct[i], c.domain, c.metric, c.unit, column_method(r, &c));
	}
	if (rc == 0)
		rc = wp_series_reader_open(&rd, r->series);
	while (rc == 0 && (rc = wp_series_next(rd, &t, v)) > 0) {
		char ts[40], num[40];
		size_t tl = wp__fmt_num(ts, t);
		for (size_t i = 0; i < nc; i++) {
			if (isnan(v[i]))
				continue;
			fwrite(ts, 1, tl, f);
			fwrite(ct[i].mid, 1, ct[i].mid_len, f);
			fwrite(num, 1, wp__fmt_num(num, v[i]), f);
			fwrite(ct[i].tail, 1, ct[i].tail_len, f);
			last[2 * i] = t;
			last[2 * i + 1] = v[i];
		}
		rc = 0;
	}
	wp_series_reader_close(rd);
	for (size_t i = 0; ct && i < nc; i++) {
		free(ct[i].mid);
		free(ct[i].tail);
	}
	free(ct);
	free(v);
	return rc;
}

static void row(FILE *f, double t, const struct wp_report_domain *d, const char *metric,
                double v, const char *unit)
{
	char ts[40], num[40];
	struct col_text c;
	if (!isfinite(v) || col_text(&c, d->name, metric, unit, wp__report_method(d)) < 0)
		return;
	fwrite(ts, 1, wp__fmt_num(ts, t), f);
	fwrite(c.mid, 1, c.mid_len, f);
	fwrite(num, 1, wp__fmt_num(num, v), f);
	fwrite(c.tail, 1, c.tail_len, f);
	free(c.mid);
	free(c.tail);
}

/* One row at the end of the run, of a domain of its own ("carbon",
 * "attribution", "process_<pid>") or a domain's summary; none when v is
 * not finite. */
static int end_row(FILE *f, double t, const char *domain, const char *metric, double v,
                   const char *unit, const char *method)
{
	char ts[40], num[40];
	struct col_text c;

	if (!isfinite(v))
		return 0;
	if (col_text(&c, domain, metric, unit, method) < 0)
		return -ENOMEM;
	fwrite(ts, 1, wp__fmt_num(ts, t), f);
	fwrite(c.mid, 1, c.mid_len, f);
	fwrite(num, 1, wp__fmt_num(num, v), f);
	fwrite(c.tail, 1, c.tail_len, f);
	free(c.mid);
	free(c.tail);
	return 0;
}

static int carbon_row(FILE *f, double t, const char *metric, double v, const char *unit,
                      const char *method)
{
	return end_row(f, t, "carbon", metric, v, unit, method);
}

/* s with every byte that is not UTF-8 as U+FFFD, as the JSON report has
 * it (malloc'ed; NULL when out of memory). */
static char *valid_utf8(const char *s)
{
	size_t n = strlen(s), k = 0;
	char *out = malloc(3 * n + 1);
	if (!out)
		return NULL;
	while (n > 0) {
		size_t len = wp__utf8_len((const unsigned char *)s, n);
		if (len == 0) {
			memcpy(out + k, "\xef\xbf\xbd", 3);
			k += 3;
			len = 1;
		} else {
			memcpy(out + k, s, len);
			k += len;
		}
		s += len;
		n -= len;
	}
	out[k] = '\0';
	return out;
}

/* Nonzero when the series' last row of (domain, metric) was (t, v) as
 * written: a row the end need not repeat. */
static int series_wrote(const struct wp_report *r, const double *last, const char *domain,
                        const char *metric, double t, double v)
{
	size_t nc = last ? wp_series_column_count(r->series) : 0;
	char a[40], b[40];

	for (size_t i = 0; i < nc; i++) {
		struct wp_series_column c;
		wp_series_column(r->series, i, &c);
		if (strcmp(c.domain, domain) != 0 || strcmp(c.metric, metric) != 0)
			continue;
		if (isnan(last[2 * i]))
			return 0;
		wp__fmt_num(a, last[2 * i]);
		wp__fmt_num(b, t);
		if (strcmp(a, b) != 0)
			return 0;
		wp__fmt_num(a, last[2 * i + 1]);
		wp__fmt_num(b, v);
		return strcmp(a, b) == 0;
	}
	return 0;
}

/*
 * The attribution (wp_report_set_attribution) at the run's end, named as in
 * the JSON report: each domain's attributed_energy_j (its method in
 * `method`), the tree's totals as rows of "attribution", then every
 * process as rows of "process_<pid>", in the order first seen; the pid row
 * carries the command in `method`.
 */
static int attribution_rows(const struct wp_report *r, FILE *f, const double *last)
{
	double t = r->duration_s;
	int rc = 0;

	if (!r->attributed)
		return 0;
	for (size_t i = 0; i < r->domain_count && rc == 0; i++) {
		const struct wp_report_domain *d = &r->domains[i];
		if (!series_wrote(r, last, d->name, "attributed_energy_j", t, d->attributed_energy_j))
			rc = end_row(f, t, d->name, "attributed_energy_j", d->attributed_energy_j, "J",
			             d->attribution_method ? d->attribution_method : "");
	}
	/* The tree's figures, then each process's, in the JSON report's order. */
	struct row {
		const char *metric, *unit;
		double v;
	};
	const struct row tree[] = {
		{ "root_pid", "", (double)r->attribution_root_pid },
		{ "total_energy_j", "J", r->attributed_total_j },
		{ "cpu_time_s", "s", r->attributed_cpu_time_s },
		{ "peak_rss_b", "B", r->attributed_peak_rss_b },
		{ "peak_pss_b", "B", r->attributed_peak_pss_b },
		{ "peak_uss_b", "B", r->attributed_peak_uss_b },
		{ "peak_gpu_mem_b", "B", r->attributed_peak_gpu_mem_b },
		{ "process_count", "", (double)r->process_count },
	};
	for (size_t k = 0; k < sizeof tree / sizeof *tree && rc == 0; k++)
		rc = end_row(f, t, "attribution", tree[k].metric, tree[k].v, tree[k].unit, "");
	for (size_t i = 0; i < r->process_count && rc == 0; i++) {
		const struct wp_report_process *p = &r->processes[i];
		const struct row proc[] = {
			{ "ppid", "", (double)p->ppid },
			{ "start_s", "s", p->start_s },
			{ "end_s", "s", p->end_s },
			{ "exited", "", p->exited ? 1 : 0 },
			{ "cpu_time_s", "s", p->cpu_time_s },
			{ "peak_rss_b", "B", p->peak_rss_b },
			{ "peak_pss_b", "B", p->peak_pss_b },
			{ "peak_uss_b", "B", p->peak_uss_b },
			{ "pss_from_rss", "", p->pss_from_rss ? 1 : 0 },
			{ "peak_gpu_mem_b", "B", p->peak_gpu_mem_b },
			{ "attributed_energy_j", "J", p->attributed_energy_j },
		};
		char dom[40];
		char *cmd = valid_utf8(p->command ? p->command : "");
		if (!cmd)
			return -ENOMEM;
		snprintf(dom, sizeof dom, "process_%lld", (long long)p->pid);
		rc = end_row(f, t, dom, "pid", (double)p->pid, "", cmd);
		free(cmd);
		for (size_t k = 0; k < sizeof proc / sizeof *proc && rc == 0; k++)
			rc = end_row(f, t, dom, proc[k].metric, proc[k].v, proc[k].unit, "");
	}
	return rc;
}

/*
 * The carbon figures (wp_report_set_carbon) as rows of the domain "carbon"
 * at the run's end: energy_kwh, pue, facility_energy_kwh,
 * emissions_factor_g_per_kwh and co2e_g (their method: the factor's
 * source), price_factor and cost (units from the price unit).
 */
static int carbon_rows(const struct wp_report *r, FILE *f)
{
	const struct wp_report_carbon *c = &r->carbon;
	const char *src = c->emissions_factor_source ? c->emissions_factor_source : "";
	const char *cur = c->price_unit ? c->price_unit : "";
	char *per_kwh = NULL;
	double t = r->duration_s;
	int rc;

	if (!c->set)
		return 0;
	if (asprintf(&per_kwh, "%s/kWh", cur) < 0)
		return -ENOMEM;
	rc = carbon_row(f, t, "energy_kwh", c->energy_kwh, "kWh", "");
	if (rc == 0)
		rc = carbon_row(f, t, "pue", c->pue, "", "");
	if (rc == 0)
		rc = carbon_row(f, t, "facility_energy_kwh", c->facility_energy_kwh, "kWh", "");
	if (rc == 0)
		rc = carbon_row(f, t, "emissions_factor_g_per_kwh", c->emissions_factor_g_per_kwh,
		                "gCO2e/kWh", src);
	if (rc == 0)
		rc = carbon_row(f, t, "co2e_g", c->co2e_g, "gCO2e", src);
	if (rc == 0)
		rc = carbon_row(f, t, "price_factor", c->price_factor, per_kwh, "");
	if (rc == 0)
		rc = carbon_row(f, t, "cost", c->cost, cur, "");
	free(per_kwh);
	return rc;
}

static int write_csv(const struct wp_report *r, FILE *f)
{
	size_t nc = wp_series_column_count(r->series);
	double *last = NULL;
	int rc = 0;

	fputs("time_s,domain,metric,value,unit,method\r\n", f);
	if (r->series) {
		last = malloc((2 * nc + 1) * sizeof *last);
		if (!last)
			return -ENOMEM;
		for (size_t i = 0; i < 2 * nc; i++)
			last[i] = NAN;
		rc = write_series(r, f, last);
	}
	if (!r->series || rc == -ENODATA) {
		rc = 0;
		for (size_t i = 0; i < r->domain_count; i++)
			row(f, 0, &r->domains[i], "energy_j", 0, "J");
		for (size_t i = 0; i < r->domain_count; i++) {
			row(f, r->duration_s, &r->domains[i], "power_w", r->domains[i].avg_power_w,
			    "W");
			row(f, r->duration_s, &r->domains[i], "energy_j", r->domains[i].energy_j, "J");
		}
	}
	if (rc == 0)
		rc = attribution_rows(r, f, last);
	if (rc == 0)
		rc = carbon_rows(r, f);
	free(last);
	if (rc < 0)
		return rc;
	return ferror(f) ? -EIO : 0;
}

const struct wp_sink_ops wp__sink_csv = {
	.version = 1,
	.name = "csv",
	.write = write_csv,
};
