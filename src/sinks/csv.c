/*
 * csv.c - the CSV report: one row per measured figure, RFC 4180 quoting.
 *
 *   record,label,domain,source,start_s,duration_s,energy_j,avg_power_w,estimated,in_total,
 *   integrated,method
 *
 * record is "domain" (the whole run, one row per domain), "total",
 * "region" (label = the tag, one row per region and domain) or "warning"
 * (label = the text).  Empty cells mean "not applicable".
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sinks.h"

static void put_field(FILE *f, const char *s)
{
	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void put_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.10g", v);
}

static int write_csv(const struct wp_report *r, FILE *f)
{
	fputs("record,label,domain,source,start_s,duration_s,energy_j,avg_power_w,estimated,"
	      "in_total,integrated,method\r\n",
	      f);
	for (size_t i = 0; i < r->domain_count; i++) {
		const struct wp_report_domain *d = &r->domains[i];
		fputs("domain,,", f);
		put_field(f, d->name);
		fputc(',', f);
		put_field(f, d->source);
		fputs(",0,", f);
		put_num(f, r->duration_s);
		fputc(',', f);
		put_num(f, d->energy_j);
		fputc(',', f);
		put_num(f, d->avg_power_w);
		fprintf(f, ",%d,%d,%d,", d->estimated, d->in_total, d->integrated);
		put_field(f, wp__report_method(d));
		fputs("\r\n", f);
	}
	if (isfinite(r->total_energy_j)) {
		int est = wp__total_estimated(r);
		fputs("total,,,,0,", f);
		put_num(f, r->duration_s);
		fputc(',', f);
		put_num(f, r->total_energy_j);
		fputc(',', f);
		put_num(f, r->duration_s > 0 ? r->total_energy_j / r->duration_s : NAN);
		fprintf(f, ",%d,,,\r\n", est);
	}
	for (size_t i = 0; i < r->region_count; i++) {
		const struct wp_report_region *g = &r->regions[i];
		for (size_t k = 0; k < r->domain_count; k++) {
			fputs("region,", f);
			put_field(f, g->tag);
			fputc(',', f);
			put_field(f, r->domains[k].name);
			fputc(',', f);
			put_field(f, r->domains[k].source);
			fputc(',', f);
			put_num(f, g->start_s);
			fputc(',', f);
			put_num(f, g->duration_s);
			fputc(',', f);
			put_num(f, g->energy_j[k]);
			fputc(',', f);
			put_num(f, g->duration_s > 0 ? g->energy_j[k] / g->duration_s : NAN);
			fprintf(f, ",%d,%d,%d,", r->domains[k].estimated,
			        r->domains[k].in_total, r->domains[k].integrated);
			put_field(f, wp__report_method(&r->domains[k]));
			fputs("\r\n", f);
		}
	}
	for (size_t i = 0; i < r->warning_count; i++) {
		fputs("warning,", f);
		put_field(f, r->warnings[i]);
		fputs(",,,,,,,,,,\r\n", f);
	}
	return ferror(f) ? -EIO : 0;
}

const struct wp_sink_ops wp__sink_csv = {
	.version = 1,
	.name = "csv",
	.write = write_csv,
};
