/*
 * report.c - turns a meter's snapshots into a finished report (energy per
 * domain, what counts towards the total, regions, warnings) and hands it to
 * the sink of the chosen format.
 *
 * The total counts each joule once: a domain inside another reported domain
 * (core_0 inside package_0, every RAPL domain inside psys) is shown but left
 * out of the sum.  See wp_domain_contains().
 */
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "../sinks/sinks.h"

void wp_report_init(struct wp_report *r)
{
	memset(r, 0, sizeof *r);
	r->exit_status = -1;
	r->total_energy_j = NAN;
}

struct wp_report *wp_report_new(void)
{
	struct wp_report *r = malloc(sizeof *r);
	if (r)
		wp_report_init(r);
	return r;
}

void wp_report_delete(struct wp_report *r)
{
	wp_report_free(r);
	free(r);
}

int wp_report_warn(struct wp_report *r, const char *fmt, ...)
{
	char *s, **w;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		return -ENOMEM;
	w = realloc(r->warnings, (r->warning_count + 1) * sizeof *w);
	if (!w) {
		free(s);
		return -ENOMEM;
	}
	w[r->warning_count++] = s;
	r->warnings = w;
	return 0;
}

int wp_report_set_command(struct wp_report *r, const char *const *argv)
{
	size_t n = 0;
	while (argv && argv[n])
		n++;
	char **c = calloc(n + 1, sizeof *c);
	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		c[i] = strdup(argv[i]);
		if (!c[i]) {
			while (i--)
				free(c[i]);
			free(c);
			return -ENOMEM;
		}
	}
	if (r->command)
		for (size_t i = 0; r->command[i]; i++)
			free(r->command[i]);
	free(r->command);
	r->command = c;
	return 0;
}

/*
 * An integral of power is only as good as its reads: say so when the meter
 * read a domain less than twice per change of its power figure (no sampler,
 * too slow a one, or ticks missed).
 */
static int warn_undersampled(struct wp_report *r, const struct wp_domain_info *info)
{
	double need_hz = info->update_ns ? 2e9 / (double)info->update_ns : 0;

	if (need_hz == 0 || r->duration_s * need_hz < 2)
		return 0;
	/* r->samples: the sampler's ticks, set before the domains are measured. */
	double got_hz = r->duration_s > 0 ? (double)r->samples / r->duration_s : 0;
	if (got_hz >= 0.9 * need_hz)
		return 0;
	return wp_report_warn(r,
	                      "%s: power integrated from %.3g reads per second where its "
	                      "reading changes %.3g times a second: changes between reads "
	                      "are missed; run the sampler at %.4g Hz or more",
	                      info->name, got_hz, need_hz / 2, need_hz);
}

static int measure_domains(struct wp_report *r, const struct wp_meter *m,
                           const struct wp_snapshot *a, const struct wp_snapshot *b)
{
	size_t n = wp_meter_domain_count(m);

	r->domains = calloc(n ? n : 1, sizeof *r->domains);
	if (!r->domains)
		return -ENOMEM;
	r->domain_count = n;
	for (size_t i = 0; i < n; i++) {
		const struct wp_domain_info *info = wp_meter_domain(m, i);
		struct wp_report_domain *d = &r->domains[i];
		uint64_t lost_ns, bad;
		double j = 0;

		d->name = strdup(info->name);
		d->source = strdup(info->source);
		d->kind = info->kind;
		d->method = strdup(info->method ? info->method : WP_METHOD_COUNTER);
		d->device_name = info->device_name ? strdup(info->device_name) : NULL;
		d->device_id = info->device_id ? strdup(info->device_id) : NULL;
		if (!d->name || !d->source || !d->method ||
		    (info->device_name && !d->device_name) || (info->device_id && !d->device_id))
			return -ENOMEM;
		int rc = wp_energy_between(m, a, b, i, &j);
		if (rc < 0 && rc != WP_ELOST)
			return rc;
		d->energy_j = j;
		d->avg_power_w = r->duration_s > 0 ? j / r->duration_s : 0;
		d->min_power_w = d->peak_power_w = d->idle_power_w = NAN;
		d->energy_std_j = d->energy_min_j = d->energy_max_j = NAN;
		d->attributed_energy_j = NAN;
		d->estimated = info->estimated;
		d->integrated = info->integrated;
		d->kind = info->kind;
		/* A sensor of unknown coverage may overlap anything: shown,
		 * never summed. */
		d->in_total = info->kind != WP_KIND_OTHER;
		for (size_t k = 0; k < n; k++)
			if (wp_domain_contains(wp_meter_domain(m, k), info))
				d->in_total = 0;
		int st = wp_meter_domain_status(m, i, &lost_ns, &bad);
		if (rc == WP_ELOST) {
			d->status = st;
			double at = lost_ns > wp_snapshot_time_ns(a)
			                    ? (double)(lost_ns - wp_snapshot_time_ns(a)) / 1e9
			                    : 0;
			rc = wp_report_warn(r,
			                    "%s stopped answering %.3f s into the run (%s: %s); "
			                    "its energy covers only the time before",
			                    info->name, at, info->path, wp_strerror(st));
			if (rc < 0)
				return rc;
		}
		if (bad > 0 && wp_report_warn(r,
		                              "%s: %" PRIu64 " read%s of '%s' added nothing: "
		                              "above the counter's range, going back (a "
		                              "counter restart), or failed in passing and "
		                              "retried",
		                              info->name, bad, bad == 1 ? "" : "s",
		                              info->path) < 0)
			return -ENOMEM;
		if (info->integrated && (rc = warn_undersampled(r, info)) < 0)
			return rc;
	}
	if (n > 0) {
		r->total_energy_j = 0;
		for (size_t i = 0; i < n; i++)
			if (r->domains[i].in_total)
				r->total_energy_j += r->domains[i].energy_j;
	}
	return 0;
}

static int measure_regions(struct wp_report *r, const struct wp_meter *m,
                           const struct wp_snapshot *a)
{
	size_t n = wp_meter_region_count(m), nd = wp_meter_domain_count(m);

	if (n == 0)
		return 0;
	r->regions = calloc(n, sizeof *r->regions);
	if (!r->regions)
		return -ENOMEM;
	r->region_count = n;
	for (size_t i = 0; i < n; i++) {
		struct wp_region reg;
		struct wp_report_region *o = &r->regions[i];
		wp_meter_region(m, i, &reg);
		o->tag = strdup(reg.tag);
		o->energy_j = calloc(nd ? nd : 1, sizeof *o->energy_j);
		if (!o->tag || !o->energy_j)
			return -ENOMEM;
		if (nd)
			memcpy(o->energy_j, reg.energy_j, nd * sizeof *o->energy_j);
		o->start_s = ((double)reg.start_ns - (double)wp_snapshot_time_ns(a)) / 1e9;
		o->duration_s = (double)reg.duration_ns / 1e9;
	}
	return 0;
}

int wp_report_measure(struct wp_report *r, const struct wp_meter *m,
                      const struct wp_snapshot *a, const struct wp_snapshot *b)
{
	struct wp_sampler_stats st;

	if (!r || !m || !a || !b || wp_snapshot_time_ns(a) > wp_snapshot_time_ns(b))
		return -EINVAL;
	if (r->domains || r->regions)
		return WP_ESTATE; /* measured already: wp_report_free() first */
	r->duration_s = (double)(wp_snapshot_time_ns(b) - wp_snapshot_time_ns(a)) / 1e9;
	if (wp_meter_sampler_stats(m, &st) == 0 && st.freq_hz > 0) {
		r->sampler_freq_hz = st.freq_hz;
		r->samples = st.samples;
	}
	int rc = measure_domains(r, m, a, b);
	if (rc == 0)
		rc = measure_regions(r, m, a);
	wp__carbon_update(r); /* factors set before the measurement */
	return rc;
}

int wp_report_set_series(struct wp_report *r, const struct wp_series *s)
{
	struct wp_series_column c;

	if (!r || !s || !r->domains || wp_series_column_count(s) < 2 * r->domain_count)
		return -EINVAL;
	/* The series' domains are the report's, in order, and no more. */
	for (size_t i = 0; i < r->domain_count; i++)
		if (wp_series_column(s, 2 * i, &c) < 0 || strcmp(c.domain, r->domains[i].name) != 0)
			return -EINVAL;
	if (wp_series_power_range(s, r->domain_count, NULL, NULL) == 0)
		return -EINVAL;
	for (size_t i = 0; i < r->domain_count; i++)
		wp_series_power_range(s, i, &r->domains[i].min_power_w,
		                      &r->domains[i].peak_power_w);
	if (r->rounds)
		for (size_t i = 0; i < r->domain_count; i++)
			r->domains[i].min_power_w = r->domains[i].peak_power_w = NAN;
	r->series = s;
	r->flags |= WP_REPORT_POWER_RANGE;
	return 0;
}

/* Mean, sample standard deviation (NaN for one value), min and max. */
static void spread(const double *v, size_t n, size_t stride, double *mean, double *sd,
                   double *lo, double *hi)
{
	double sum = 0, ss = 0;
	*lo = *hi = v[0];
	for (size_t k = 0; k < n; k++) {
		double x = v[k * stride];
		sum += x;
		if (x < *lo)
			*lo = x;
		if (x > *hi)
			*hi = x;
	}
	*mean = sum / (double)n;
	for (size_t k = 0; k < n; k++)
		ss += (v[k * stride] - *mean) * (v[k * stride] - *mean);
	*sd = n > 1 ? sqrt(ss / (double)(n - 1)) : NAN;
}

int wp_report_set_rounds(struct wp_report *r, size_t first, size_t n, size_t warmup)
{
	if (!r || n == 0 || first > r->region_count || n > r->region_count - first)
		return -EINVAL;
	if (r->rounds)
		return WP_ESTATE;
	size_t nd = r->domain_count;
	double *v = calloc(n * (nd + 2), sizeof *v);
	if (!v)
		return -ENOMEM;
	/* Row k: the round's domains, then its total, then its duration. */
	for (size_t k = 0; k < n; k++) {
		const struct wp_report_region *g = &r->regions[first + k];
		double *row = v + k * (nd + 2);
		row[nd] = 0;
		for (size_t i = 0; i < nd; i++) {
			row[i] = g->energy_j[i];
			if (r->domains[i].in_total)
				row[nd] += g->energy_j[i];
		}
		row[nd + 1] = g->duration_s;
	}
	spread(v + nd + 1, n, nd + 2, &r->duration_s, &r->duration_std_s, &r->duration_min_s,
	       &r->duration_max_s);
	for (size_t i = 0; i < nd; i++) {
		struct wp_report_domain *d = &r->domains[i];
		spread(v + i, n, nd + 2, &d->energy_j, &d->energy_std_j, &d->energy_min_j,
		       &d->energy_max_j);
		d->avg_power_w = r->duration_s > 0 ? d->energy_j / r->duration_s : 0;
		/* The series' range spans warm-ups and the gaps between runs:
		 * not a figure of the counted rounds. */
		d->min_power_w = d->peak_power_w = NAN;
	}
	if (nd > 0)
		spread(v + nd, n, nd + 2, &r->total_energy_j, &r->total_std_j, &r->total_min_j,
		       &r->total_max_j);
	else
		r->total_std_j = r->total_min_j = r->total_max_j = NAN;
	free(v);
	r->rounds = n;
	r->warmup_rounds = warmup;
	wp__carbon_update(r); /* now of the mean round */
	return 0;
}

int wp_report_set_idle(struct wp_report *r, const struct wp_meter *m,
                       const struct wp_snapshot *a, const struct wp_snapshot *b)
{
	if (!r || !m || !a || !b || wp_snapshot_time_ns(b) <= wp_snapshot_time_ns(a) ||
	    wp_meter_domain_count(m) != r->domain_count)
		return -EINVAL;
	double s = (double)(wp_snapshot_time_ns(b) - wp_snapshot_time_ns(a)) / 1e9;
	r->idle_s = s;
	r->idle_total_power_w = 0;
	for (size_t i = 0; i < r->domain_count; i++) {
		double j = 0;
		int rc = wp_energy_between(m, a, b, i, &j);
		struct wp_report_domain *d = &r->domains[i];
		/* A domain lost during the idle time has no baseline. */
		d->idle_power_w = rc == 0 ? j / s : NAN;
		if (d->in_total)
			r->idle_total_power_w += d->idle_power_w;
	}
	return 0;
}

double wp_report_above_idle_j(const struct wp_report *r, size_t i)
{
	if (!r || r->idle_s <= 0)
		return NAN;
	if (i == (size_t)-1)
		return r->total_energy_j - r->idle_total_power_w * r->duration_s;
	if (i >= r->domain_count)
		return NAN;
	return r->domains[i].energy_j - r->domains[i].idle_power_w * r->duration_s;
}

void wp_report_free(struct wp_report *r)
{
	if (!r)
		return;
	free(r->host);
	for (size_t i = 0; r->command && r->command[i]; i++)
		free(r->command[i]);
	free(r->command);
	for (size_t i = 0; i < r->domain_count; i++) {
		free(r->domains[i].name);
		free(r->domains[i].source);
		free(r->domains[i].method);
		free(r->domains[i].device_name);
		free(r->domains[i].device_id);
		free(r->domains[i].attribution_method);
	}
	free(r->domains);
	for (size_t i = 0; i < r->process_count; i++)
		free(r->processes[i].command);
	free(r->processes);
	for (size_t i = 0; i < r->region_count; i++) {
		free(r->regions[i].tag);
		free(r->regions[i].energy_j);
		for (size_t k = 0; k < r->regions[i].rank_count; k++)
			free(r->regions[i].ranks[k].node);
		free(r->regions[i].ranks);
	}
	free(r->regions);
	for (size_t i = 0; i < r->warning_count; i++)
		free(r->warnings[i]);
	free(r->warnings);
	wp__carbon_free(r);
	wp_report_init(r);
}

int wp_format_parse(const char *name, enum wp_format *out)
{
	for (int i = 0; name && wp__sinks[i]; i++) {
		if (strcmp(name, wp__sinks[i]->name) == 0) {
			*out = (enum wp_format)i;
			return 0;
		}
	}
	return WP_EFORMAT;
}

int wp_report_write(const struct wp_report *r, enum wp_format format, FILE *out)
{
	if (!r || !out || (unsigned)format > WP_FORMAT_HTML)
		return -EINVAL;
	/* Numbers in the reports use '.' whatever LC_NUMERIC the program set. */
	locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	locale_t prev = c ? uselocale(c) : (locale_t)0;
	int rc = wp__sinks[format]->write(r, out);
	if (rc == 0 && (fflush(out) != 0 || ferror(out)))
		rc = -EIO;
	if (c) {
		uselocale(prev);
		freelocale(c);
	}
	return rc;
}

void wp__iso8601(int64_t unix_ns, char *buf, size_t cap)
{
	time_t s = (time_t)(unix_ns / 1000000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, cap - n, ".%03dZ", (int)(unix_ns % 1000000000 / 1000000));
}

int wp__total_estimated(const struct wp_report *r)
{
	for (size_t i = 0; i < r->domain_count; i++)
		if (r->domains[i].in_total && r->domains[i].estimated)
			return 1;
	return 0;
}

const char *wp__region_ranks(const struct wp_report_region *g, char *buf, size_t cap)
{
	size_t lo = 0, hi = 0;
	buf[0] = '\0';
	if (!g->rank_count)
		return buf;
	for (size_t k = 1; k < g->rank_count; k++) {
		if (g->ranks[k].duration_s < g->ranks[lo].duration_s)
			lo = k;
		if (g->ranks[k].duration_s > g->ranks[hi].duration_s)
			hi = k;
	}
	const char *node = g->ranks[hi].node ? g->ranks[hi].node : "?";
	if (g->rank_count == 1)
		snprintf(buf, cap, "1 rank: rank %d on %s", g->ranks[0].rank, node);
	else
		snprintf(buf, cap, "%zu ranks, %.3f s to %.3f s (slowest: rank %d on %s)",
		         g->rank_count, g->ranks[lo].duration_s, g->ranks[hi].duration_s,
		         g->ranks[hi].rank, node);
	return buf;
}

const char *wp__report_method(const struct wp_report_domain *d)
{
	if (d->method)
		return d->method;
	return d->estimated ? WP_METHOD_ESTIMATE
	       : d->integrated ? WP_METHOD_POWER_INSTANT
	                       : WP_METHOD_COUNTER;
}
