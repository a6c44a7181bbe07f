/*
 * meter.h - the meter's insides, shared by meter.c (snapshots, regions) and
 * sampler.c (the background thread).
 */
#ifndef WATTPROF_METER_H
#define WATTPROF_METER_H

#include <pthread.h>

#include "internal.h"

struct wp_snapshot {
	uint64_t ts_ns;
	size_t count;
	uint64_t *raw;
	uint64_t *total;
	double *metrics; /* count * WP_METRIC_COUNT, NaN until read */
};

struct region_rec {
	uint64_t start_ns, duration_ns;
	size_t tag_off; /* into wp_meter.tags */
};

struct wp_meter {
	struct wp_host *host;
	size_t count;
	const struct wp__domain **dom;

	/*
	 * `lock` guards the accumulator (every array below up to `stats`),
	 * which both the caller's snapshots and the sampler thread advance.
	 */
	pthread_mutex_t lock;
	uint64_t *last_raw;
	uint64_t *total;      /* counts accumulated since open, across wraps */
	uint64_t *last_ok_ns; /* time of the last good read */
	uint64_t *bad_reads;
	int *status;          /* 0, or the read error that lost the domain */
	struct wp_sampler_stats stats;

	/* Regions: used by the caller's thread only. */
	int region_open;
	struct wp_snapshot *region_start, *scratch;
	char *open_tag;
	size_t open_tag_cap;
	struct region_rec *regions;
	size_t region_count, region_cap;
	double *energies; /* count figures per region */
	size_t energy_cap;
	char *tags;
	size_t tags_len, tags_cap;

	/* Sampler. */
	int sampler_running;
	pthread_t thread;
	struct wp_sampler_options sopts;
	uint64_t period_ns;
	struct wp_snapshot *sample; /* written by the sampler thread only */
};

/* Reads every domain into snap; the caller holds m->lock. */
void wp__meter_read_locked(struct wp_meter *m, struct wp_snapshot *snap);

/* Copies src into dst, a snapshot of the same meter. */
void wp__snapshot_copy(struct wp_snapshot *dst, const struct wp_snapshot *src);

#endif
