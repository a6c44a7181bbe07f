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
 * that is a model, not a measurement; readings leave it empty.
 *
 * A value a sample does not have (power at time 0, readings between their
 * periods, a domain after it was lost) has no row.  A report without a
 * stored series (a library user's) is written as the two samples it has:
 * time 0 (energy 0) and the end (energy_j, and avg_power_w as the power over
 * the interval).  A report with carbon factors ends with their figures as
 * rows of the domain "carbon" at the run's end (carbon_rows).  Everything
 * else of the report (regions, warnings) is in the JSON and YAML reports.
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

/* The method of a column's domain, for energy and power; else "". */
static const char *column_method(const struct wp_report *r, const struct wp_series_column *c)
{
	if (strcmp(c->metric, "energy_j") != 0 && strcmp(c->metric, "power_w") != 0)
		return "";
	for (size_t i = 0; i < r->domain_count; i++)
		if (strcmp(r->domains[i].name, c->domain) == 0)
			return wp__report_method(&r->domains[i]);
	return "";
}

static int write_series(const struct wp_report *r, FILE *f)
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

/* One row of the carbon figures, at the end of the run; none when v is NaN. */
static int carbon_row(FILE *f, double t, const char *metric, double v, const char *unit,
                      const char *method)
{
	char ts[40], num[40];
	struct col_text c;

	if (!isfinite(v))
		return 0;
	if (col_text(&c, "carbon", metric, unit, method) < 0)
		return -ENOMEM;
	fwrite(ts, 1, wp__fmt_num(ts, t), f);
	fwrite(c.mid, 1, c.mid_len, f);
	fwrite(num, 1, wp__fmt_num(num, v), f);
	fwrite(c.tail, 1, c.tail_len, f);
	free(c.mid);
	free(c.tail);
	return 0;
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
	int rc = 0;

	fputs("time_s,domain,metric,value,unit,method\r\n", f);
	if (r->series)
		rc = write_series(r, f);
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
		rc = carbon_rows(r, f);
	if (rc < 0)
		return rc;
	return ferror(f) ? -EIO : 0;
}

const struct wp_sink_ops wp__sink_csv = {
	.version = 1,
	.name = "csv",
	.write = write_csv,
};
