/*
 * sampler.c - the background sampling thread.
 *
 * The thread wakes on an absolute schedule, t0 + k * period, with
 * clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME): a late wake-up delays one
 * tick but never shifts the ones after it, so the schedule does not drift.
 * Ticks missed entirely (the thread woke more than a period late) are
 * counted, not made up.  Each tick advances the meter's accumulator, which is
 * what keeps wraps from being missed between the caller's snapshots.
 *
 * Stopping must be prompt (a 10 Hz sampler must not hold `wattprof monitor`
 * for 100 ms), so the thread is cancelled: cancellation is enabled only
 * around clock_nanosleep, a cancellation point, and disabled while it holds
 * the lock or runs the user's callback.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "meter.h"

double wp_meter_min_freq_hz(const struct wp_meter *m)
{
	uint64_t shortest = 0;
	for (size_t i = 0; m && i < m->count; i++) {
		const struct wp_domain_info *in = &m->dom[i]->info;
		uint64_t w = in->min_wrap_ns;
		if (w && (!shortest || w < shortest))
			shortest = w;
		/* An integral misses what happens between two reads: read at
		 * least twice per update of the power figure. */
		w = in->integrated ? in->update_ns : 0;
		if (w && (!shortest || w < shortest))
			shortest = w;
	}
	/* Two reads per shortest wrap time (or power update). */
	return shortest ? 2e9 / (double)shortest : 0;
}

static void *sampler_main(void *arg)
{
	struct wp_meter *m = arg;
	/* The caller has just read the meter (open, a snapshot): the first
	 * tick is a period away, so that every interval is a whole one. */
	uint64_t next = wp_now_ns() + m->period_ns;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	for (;;) {
		struct timespec ts = {
			.tv_sec = (time_t)(next / 1000000000u),
			.tv_nsec = (long)(next % 1000000000u),
		};
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);

		uint64_t now = wp_now_ns(), late = now - next, skipped = 0;
		if (late >= m->period_ns) {
			skipped = late / m->period_ns;
			next += skipped * m->period_ns;
			late = now - next;
		}
		pthread_mutex_lock(&m->lock);
		wp__meter_read_locked(m, m->sample);
		m->stats.samples++;
		m->stats.missed += skipped;
		if (late > m->stats.max_late_ns)
			m->stats.max_late_ns = late;
		pthread_mutex_unlock(&m->lock);
		if (m->sopts.version >= 2 && (m->sopts.flags & WP_SAMPLE_METRICS))
			wp_meter_read_metrics(m, m->sample);
		if (m->sopts.version >= 3 && m->sopts.series)
			wp_series_add(m->sopts.series, m->sample);
		if (m->sopts.on_sample)
			m->sopts.on_sample(m->sopts.user, m->sample);
		next += m->period_ns;
	}
	return NULL;
}

int wp_meter_start_sampler(struct wp_meter *m, const struct wp_sampler_options *opts)
{
	sigset_t all, old;
	int rc;

	if (!m || !opts || opts->version < 1 || !isfinite(opts->freq_hz) ||
	    opts->freq_hz <= 0 || opts->freq_hz > WP_SAMPLER_MAX_HZ)
		return -EINVAL;
	if (m->sampler_running)
		return -EBUSY;
	double hz = opts->freq_hz, need = wp_meter_min_freq_hz(m);
	if (hz < need)
		hz = need;
	if (hz > WP_SAMPLER_MAX_HZ)
		hz = WP_SAMPLER_MAX_HZ; /* a counter that wraps faster cannot be followed */
	/* A version 1 caller's struct ends before `flags`. */
	memset(&m->sopts, 0, sizeof m->sopts);
	memcpy(&m->sopts, opts,
	       opts->version >= 3   ? sizeof *opts
	       : opts->version == 2 ? offsetof(struct wp_sampler_options, series)
	                            : offsetof(struct wp_sampler_options, flags));
	m->period_ns = (uint64_t)(1e9 / hz);
	pthread_mutex_lock(&m->lock);
	m->stats = (struct wp_sampler_stats){ .freq_hz = 1e9 / (double)m->period_ns };
	pthread_mutex_unlock(&m->lock);

	/* The thread takes no signal: they belong to the caller's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&m->thread, NULL, sampler_main, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -rc;
	m->sampler_running = 1;
	return 0;
}

int wp_meter_stop_sampler(struct wp_meter *m)
{
	if (!m || !m->sampler_running)
		return 0;
	pthread_cancel(m->thread);
	pthread_join(m->thread, NULL);
	m->sampler_running = 0;
	return 0;
}

int wp_meter_sampler_stats(const struct wp_meter *m, struct wp_sampler_stats *out)
{
	if (!m || !out)
		return -EINVAL;
	pthread_mutex_lock((pthread_mutex_t *)&m->lock);
	*out = m->stats;
	pthread_mutex_unlock((pthread_mutex_t *)&m->lock);
	return 0;
}
