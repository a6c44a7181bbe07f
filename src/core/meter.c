/*
 * meter.c - a chosen set of domains: snapshots, 64-bit totals across counter
 * wraps, and tagged regions.
 *
 * Every read of a domain, whether by the caller's snapshot or by the sampler
 * thread (sampler.c), advances one accumulator per domain under the meter's
 * lock: total += wp_counter_delta(last_raw, raw, counter_max).  A snapshot
 * copies the totals, so the energy between two snapshots is a subtraction,
 * correct across any number of wraps as long as some read happened at least
 * once per wrap.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "meter.h"

uint64_t wp_counter_delta(uint64_t prev, uint64_t next, uint64_t counter_max)
{
	if (next >= prev)
		return next - prev;
	/* The counter passed counter_max, went to 0 and on to next. */
	return counter_max - prev + next + 1;
}

/*
 * Could the counter have wrapped from prev to next in elapsed_ns?  A wrap
 * means at least counter_max - prev + next + 1 counts; more than the domain's
 * peak power could deliver in that time (with a factor 2 to spare) means a
 * restart instead.  Without this, a counter reset would add most of a wrap
 * range, hundreds of kJ, to the total.
 */
static int wrap_possible(const struct wp__domain *d, uint64_t prev, uint64_t next,
                         uint64_t elapsed_ns)
{
	double joules = (double)wp_counter_delta(prev, next, d->info.counter_max) *
	                d->info.joules_per_count;
	return joules <= 2 * d->info.peak_power_w * (double)elapsed_ns / 1e9;
}

void wp__meter_read_locked(struct wp_meter *m, struct wp_snapshot *snap)
{
	uint64_t ts = wp_now_ns();

	for (size_t i = 0; i < m->count; i++) {
		const struct wp__domain *d = m->dom[i];
		uint64_t raw;
		int rc;

		if (m->status[i] == 0) {
			rc = d->ops->read(d, &raw);
			if (rc == -EAGAIN) {
				/* A passing failure (an NVML timeout, a GPU
				 * waking up): this read adds nothing, the next
				 * one carries on. */
				m->bad_reads[i]++;
			} else if (rc < 0) {
				m->status[i] = rc;
			} else if (raw > d->info.counter_max) {
				m->bad_reads[i]++;
			} else if (raw < m->last_raw[i] &&
			           !wrap_possible(d, m->last_raw[i], raw, ts - m->last_ok_ns[i])) {
				/* The counter went back: it restarted (driver reload,
				 * firmware), it did not wrap.  Count nothing for this
				 * step and carry on from the new value. */
				m->bad_reads[i]++;
				m->last_raw[i] = raw;
				m->last_ok_ns[i] = ts;
			} else {
				m->total[i] += wp_counter_delta(m->last_raw[i], raw,
				                                d->info.counter_max);
				m->last_raw[i] = raw;
				m->last_ok_ns[i] = ts;
			}
		}
		snap->raw[i] = m->last_raw[i];
		snap->total[i] = m->total[i];
	}
	snap->ts_ns = ts;
}

struct wp_snapshot *wp_snapshot_new(const struct wp_meter *m)
{
	size_t n = m ? m->count : 0, k = n ? n : 1;
	struct wp_snapshot *s = calloc(1, sizeof *s + 2 * k * sizeof(uint64_t) +
	                                          k * WP_METRIC_COUNT * sizeof(double));
	if (!s)
		return NULL;
	s->count = n;
	s->raw = (uint64_t *)(s + 1);
	s->total = s->raw + k;
	s->metrics = (double *)(s->total + k);
	for (size_t i = 0; i < k * WP_METRIC_COUNT; i++)
		s->metrics[i] = NAN;
	return s;
}

void wp_snapshot_free(struct wp_snapshot *snap)
{
	free(snap);
}

void wp__snapshot_copy(struct wp_snapshot *dst, const struct wp_snapshot *src)
{
	size_t k = src->count ? src->count : 1;
	dst->ts_ns = src->ts_ns;
	memcpy(dst->raw, src->raw, k * sizeof *dst->raw);
	memcpy(dst->total, src->total, k * sizeof *dst->total);
	memcpy(dst->metrics, src->metrics, k * WP_METRIC_COUNT * sizeof *dst->metrics);
}

int wp_meter_snapshot(struct wp_meter *m, struct wp_snapshot *snap)
{
	if (!m || !snap || snap->count != m->count)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	wp__meter_read_locked(m, snap);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

uint64_t wp_snapshot_time_ns(const struct wp_snapshot *snap)
{
	return snap ? snap->ts_ns : 0;
}

uint64_t wp_snapshot_raw(const struct wp_snapshot *snap, size_t i)
{
	return snap && i < snap->count ? snap->raw[i] : 0;
}

int wp_energy_between(const struct wp_meter *m, const struct wp_snapshot *a,
                      const struct wp_snapshot *b, size_t i, double *joules)
{
	if (!m || !a || !b || !joules || i >= m->count || a->count != m->count ||
	    b->count != m->count || a->ts_ns > b->ts_ns || a->total[i] > b->total[i])
		return -EINVAL;
	*joules = (double)(b->total[i] - a->total[i]) * m->dom[i]->info.joules_per_count;
	pthread_mutex_lock((pthread_mutex_t *)&m->lock);
	int lost = m->status[i] != 0 && m->last_ok_ns[i] < b->ts_ns;
	pthread_mutex_unlock((pthread_mutex_t *)&m->lock);
	return lost ? WP_ELOST : 0;
}

static void meter_free(struct wp_meter *m)
{
	free(m->dom);
	free(m->last_raw);
	free(m->total);
	free(m->last_ok_ns);
	free(m->bad_reads);
	free(m->status);
	wp_snapshot_free(m->region_start);
	wp_snapshot_free(m->scratch);
	wp_snapshot_free(m->sample);
	free(m->open_tag);
	free(m->regions);
	free(m->energies);
	free(m->tags);
	free(m);
}

int wp_meter_open(struct wp_meter **out, struct wp_host *host, const char *const *names,
                  size_t count, const char **bad_name)
{
	struct wp_meter *m;
	size_t n = names ? count : 0;

	if (!out || !host)
		return -EINVAL;
	for (size_t i = 0; !names && i < host->domain_count; i++)
		n += !host->domains[i].info.opt_in;
	*out = NULL;
	m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	m->host = host;
	m->count = n;
	m->dom = calloc(n + 1, sizeof *m->dom);
	m->last_raw = calloc(n + 1, sizeof *m->last_raw);
	m->total = calloc(n + 1, sizeof *m->total);
	m->last_ok_ns = calloc(n + 1, sizeof *m->last_ok_ns);
	m->bad_reads = calloc(n + 1, sizeof *m->bad_reads);
	m->status = calloc(n + 1, sizeof *m->status);
	if (!m->dom || !m->last_raw || !m->total || !m->last_ok_ns || !m->bad_reads ||
	    !m->status) {
		meter_free(m);
		return -ENOMEM;
	}
	for (size_t i = 0, next = 0; i < n; i++) {
		size_t idx = next;
		if (!names) {
			while (host->domains[idx].info.opt_in)
				idx++;
			next = idx + 1;
		} else {
			int rc = wp_host_find_domain(host, names[i], &idx);
			if (rc < 0) {
				if (bad_name)
					*bad_name = names[i];
				meter_free(m);
				return rc;
			}
			for (size_t j = 0; j < i; j++) {
				if (m->dom[j] == &host->domains[idx]) {
					if (bad_name)
						*bad_name = names[i];
					meter_free(m);
					return -EINVAL;
				}
			}
		}
		m->dom[i] = &host->domains[idx];
	}
	m->region_start = wp_snapshot_new(m);
	m->scratch = wp_snapshot_new(m);
	m->sample = wp_snapshot_new(m);
	if (!m->region_start || !m->scratch || !m->sample) {
		meter_free(m);
		return -ENOMEM;
	}
	pthread_mutex_init(&m->lock, NULL);
	/* Baseline: the first read sets last_raw without adding energy. */
	uint64_t ts = wp_now_ns();
	for (size_t i = 0; i < n; i++) {
		const struct wp__domain *d = m->dom[i];
		int rc = d->ops->read(d, &m->last_raw[i]);
		if (rc == 0 && m->last_raw[i] > d->info.counter_max)
			rc = WP_ERANGE;
		m->status[i] = rc;
		m->last_ok_ns[i] = ts;
	}
	*out = m;
	return 0;
}

void wp_meter_close(struct wp_meter *m)
{
	if (!m)
		return;
	wp_meter_stop_sampler(m);
	pthread_mutex_destroy(&m->lock);
	meter_free(m);
}

size_t wp_meter_domain_count(const struct wp_meter *m)
{
	return m ? m->count : 0;
}

const struct wp_domain_info *wp_meter_domain(const struct wp_meter *m, size_t i)
{
	return m && i < m->count ? &m->dom[i]->info : NULL;
}

int wp_meter_domain_status(const struct wp_meter *m, size_t i, uint64_t *lost_ns,
                           uint64_t *bad_reads)
{
	if (!m || i >= m->count)
		return -EINVAL;
	pthread_mutex_lock((pthread_mutex_t *)&m->lock);
	int st = m->status[i];
	if (lost_ns)
		*lost_ns = st ? m->last_ok_ns[i] : 0;
	if (bad_reads)
		*bad_reads = m->bad_reads[i];
	pthread_mutex_unlock((pthread_mutex_t *)&m->lock);
	return st;
}

/* ---------------------------------------------------------------- regions */

static int set_open_tag(struct wp_meter *m, const char *tag)
{
	size_t len = tag ? strlen(tag) : 0;
	if (wp__grow((void **)&m->open_tag, &m->open_tag_cap, len + 1, 1) < 0)
		return -ENOMEM;
	memcpy(m->open_tag, tag ? tag : "", len);
	m->open_tag[len] = '\0';
	return 0;
}

/* Closes the open region, which started at m->region_start, at m->scratch. */
static int close_region(struct wp_meter *m)
{
	const struct wp_snapshot *a = m->region_start, *b = m->scratch;
	size_t len = strlen(m->open_tag) + 1;

	if (wp__grow((void **)&m->regions, &m->region_cap, m->region_count + 1,
	             sizeof *m->regions) < 0 ||
	    wp__grow((void **)&m->energies, &m->energy_cap,
	             (m->region_count + 1) * m->count + 1 /* never NULL */,
	             sizeof *m->energies) < 0 ||
	    wp__grow((void **)&m->tags, &m->tags_cap, m->tags_len + len, 1) < 0)
		return -ENOMEM;
	struct region_rec *r = &m->regions[m->region_count];
	double *e = m->energies + m->region_count * m->count;
	r->start_ns = a->ts_ns;
	r->duration_ns = b->ts_ns - a->ts_ns;
	r->tag_off = m->tags_len;
	memcpy(m->tags + m->tags_len, m->open_tag, len);
	m->tags_len += len;
	for (size_t i = 0; i < m->count; i++)
		e[i] = (double)(b->total[i] - a->total[i]) * m->dom[i]->info.joules_per_count;
	m->region_count++;
	return 0;
}

int wp_meter_begin(struct wp_meter *m, const char *tag)
{
	if (!m)
		return -EINVAL;
	if (m->region_open)
		return WP_ESTATE;
	if (set_open_tag(m, tag) < 0)
		return -ENOMEM;
	wp_meter_snapshot(m, m->region_start);
	m->region_open = 1;
	return 0;
}

int wp_meter_record(struct wp_meter *m, const char *tag)
{
	if (!m)
		return -EINVAL;
	if (!m->region_open)
		return WP_ESTATE;
	wp_meter_snapshot(m, m->scratch);
	int rc = close_region(m);
	if (rc < 0)
		return rc;
	struct wp_snapshot *t = m->region_start;
	m->region_start = m->scratch;
	m->scratch = t;
	return set_open_tag(m, tag);
}

int wp_meter_end(struct wp_meter *m)
{
	if (!m)
		return -EINVAL;
	if (!m->region_open)
		return WP_ESTATE;
	wp_meter_snapshot(m, m->scratch);
	m->region_open = 0;
	return close_region(m);
}

size_t wp_meter_region_count(const struct wp_meter *m)
{
	return m ? m->region_count : 0;
}

int wp_meter_region(const struct wp_meter *m, size_t i, struct wp_region *out)
{
	if (!m || !out || i >= m->region_count)
		return -EINVAL;
	out->tag = m->tags + m->regions[i].tag_off;
	out->start_ns = m->regions[i].start_ns;
	out->duration_ns = m->regions[i].duration_ns;
	out->energy_j = m->energies + i * m->count;
	return 0;
}

void wp_meter_clear_regions(struct wp_meter *m)
{
	if (!m)
		return;
	m->region_count = 0;
	m->tags_len = 0;
}

/* ------------------------------------------------------ device readings */

static const char *const metric_names[WP_METRIC_COUNT][2] = {
	[WP_METRIC_POWER_W] = { "power_w", "W" },
	[WP_METRIC_UTIL_PCT] = { "util_pct", "%" },
	[WP_METRIC_MEM_UTIL_PCT] = { "mem_util_pct", "%" },
	[WP_METRIC_TEMP_C] = { "temp_c", "C" },
	[WP_METRIC_MEM_USED_B] = { "mem_used_b", "B" },
	[WP_METRIC_SM_CLOCK_MHZ] = { "sm_clock_mhz", "MHz" },
	[WP_METRIC_POWER_LIMIT_W] = { "power_limit_w", "W" },
};

const char *wp_metric_name(enum wp_metric mt)
{
	return (unsigned)mt < WP_METRIC_COUNT ? metric_names[mt][0] : NULL;
}

const char *wp_metric_unit(enum wp_metric mt)
{
	return (unsigned)mt < WP_METRIC_COUNT ? metric_names[mt][1] : NULL;
}

/*
 * Not under the meter's lock: device calls can be slow (milliseconds for
 * some NVML queries) and the sensors' metrics() are thread-safe; the status
 * is only peeked at, so a domain lost meanwhile gives one more failed try.
 */
int wp_meter_read_metrics(struct wp_meter *m, struct wp_snapshot *snap)
{
	if (!m || !snap || snap->count != m->count)
		return -EINVAL;
	for (size_t i = 0; i < m->count; i++) {
		const struct wp__domain *d = m->dom[i];
		double *v = snap->metrics + i * WP_METRIC_COUNT;
		pthread_mutex_lock(&m->lock);
		int lost = m->status[i] != 0;
		pthread_mutex_unlock(&m->lock);
		for (size_t k = 0; k < WP_METRIC_COUNT; k++)
			v[k] = NAN;
		if (!lost && d->ops->version >= 3 && d->ops->metrics)
			d->ops->metrics(d, v);
	}
	return 0;
}

double wp_snapshot_metric(const struct wp_snapshot *snap, size_t i, enum wp_metric mt)
{
	if (!snap || i >= snap->count || (unsigned)mt >= WP_METRIC_COUNT)
		return NAN;
	return snap->metrics[i * WP_METRIC_COUNT + mt];
}
