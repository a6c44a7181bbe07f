/*
 * text.c - the report people read: a headline, a table of domains, the
 * regions, and every warning.  Figures are scaled for reading (mJ, J, kJ,
 * MJ; mW, W, kW); the JSON and CSV reports keep plain joules.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "sinks.h"

/* "12.35 J", "820.4 mJ", "3.102 kJ": four significant figures. */
static const char *scaled(char *buf, size_t cap, double v, const char *unit)
{
	static const struct {
		double factor;
		const char *prefix;
	} steps[] = { { 1e6, "M" }, { 1e3, "k" }, { 1, "" }, { 1e-3, "m" }, { 1e-6, "u" } };
	size_t i = 0;

	if (!isfinite(v)) {
		snprintf(buf, cap, "-");
		return buf;
	}
	while (i + 1 < sizeof steps / sizeof *steps && fabs(v) < steps[i].factor)
		i++;
	if (v == 0)
		i = 2;
	snprintf(buf, cap, "%.4g %s%s", v / steps[i].factor, steps[i].prefix, unit);
	return buf;
}

static void headline(const struct wp_report *r, FILE *f)
{
	fputs("wattprof:", f);
	if (r->command && r->command[0]) {
		fputs(" '", f);
		for (size_t i = 0; r->command[i]; i++)
			fprintf(f, "%s%s", i ? " " : "", r->command[i]);
		fputc('\'', f);
		if (r->term_signal > 0)
			fprintf(f, " was killed by SIG%s (signal %d)",
			        sigabbrev_np(r->term_signal) ? sigabbrev_np(r->term_signal) : "?",
			        r->term_signal);
		else if (r->exit_status >= 0)
			fprintf(f, " exited with status %d", r->exit_status);
		else
			fputs(" did not run", f);
	} else {
		fputs(" measured", f);
	}
	fprintf(f, " after %.3f s\n", r->duration_s);
}

static int write_text(const struct wp_report *r, FILE *f)
{
	char e[32], p[32];
	size_t w = 6; /* "domain" */

	headline(r, f);
	for (size_t i = 0; i < r->domain_count; i++)
		if (strlen(r->domains[i].name) > w)
			w = strlen(r->domains[i].name);
	if (r->domain_count == 0) {
		fputs("  no energy domain was measured\n", f);
	} else {
		fprintf(f, "  %-*s  %-9s %12s %12s\n", (int)w, "domain", "source", "energy",
		        "avg power");
		for (size_t i = 0; i < r->domain_count; i++) {
			const struct wp_report_domain *d = &r->domains[i];
			fprintf(f, "  %-*s  %-9s %12s %12s", (int)w, d->name, d->source,
			        scaled(e, sizeof e, d->energy_j, "J"),
			        scaled(p, sizeof p, d->avg_power_w, "W"));
			if (d->estimated)
				fputs("  estimated", f);
			if (d->integrated)
				fprintf(f, "  integrated from %s power readings",
				        strcmp(wp__report_method(d), WP_METHOD_POWER_AVERAGE) == 0 ? "average"
				                                                       : "instant");
			if (d->device_name)
				fprintf(f, "  %s", d->device_name);
			if (d->status)
				fputs("  incomplete", f);
			if (!d->in_total)
				fputs("  (inside another domain; not in total)", f);
			fputc('\n', f);
		}
		fprintf(f, "  %-*s  %-9s %12s %12s%s\n", (int)w, "total", "",
		        scaled(e, sizeof e, r->total_energy_j, "J"),
		        scaled(p, sizeof p, r->duration_s > 0 ? r->total_energy_j / r->duration_s : NAN,
		               "W"),
		        wp__total_estimated(r) ? "  estimated" : "");
	}
	if (r->region_count) {
		fputs("regions:\n", f);
		for (size_t i = 0; i < r->region_count; i++) {
			const struct wp_report_region *g = &r->regions[i];
			double sum = 0;
			for (size_t k = 0; k < r->domain_count; k++)
				if (r->domains[k].in_total)
					sum += g->energy_j[k];
			fprintf(f, "  %-16s at %8.3f s for %8.3f s  %12s%s\n", g->tag, g->start_s,
			        g->duration_s, scaled(e, sizeof e, sum, "J"),
			        wp__total_estimated(r) ? "  estimated" : "");
		}
	}
	for (size_t i = 0; i < r->warning_count; i++)
		fprintf(f, "warning: %s\n", r->warnings[i]);
	return ferror(f) ? -EIO : 0;
}

const struct wp_sink_ops wp__sink_text = {
	.version = 1,
	.name = "text",
	.write = write_text,
};
