/*
 * live.c - monitor's live status line: while the command runs, one line on
 * the terminal, redrawn once a second, with the time elapsed, the power of
 * each domain that counts towards the total (over the last second), and the
 * total power and energy so far; erased before the report is written.
 *
 *   0:12  pkg0 20.0W  dram0 3.00W  total 23.0W 276.5J
 *
 * It is shown only where it can do no harm:
 *   - stderr is a terminal that knows "\r" and ESC [ K (TERM set, not
 *     "dumb"), and neither --no-live nor live = no turned it off;
 *   - wattprof is in the terminal's foreground process group at each tick.
 *     A background job that writes to a terminal with `stty tostop` gets
 *     SIGTTOU, which would stop wattprof and the command with it; and a
 *     line drawn or erased from the background lands in whatever the user
 *     is typing.
 *
 * The line takes its own snapshots (wp_meter_snapshot is safe beside the
 * sampler), so the sampler and the report are untouched.  Each redraw is
 * one write(2) of "\r", the text and ESC [ K (erase to the end of the
 * line), so that it is never split by our other output, and the text is cut
 * to the terminal's width: a line that wrapped could not be taken back by
 * "\r".
 *
 * Organisation: figures to text (live_compose and its helpers, pure, tested
 * on their own), then the terminal and the clock (live_open .. live_close).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "wattprof/wattprof.h"
#include "cli.h"

#define LIVE_PERIOD_NS 1000000000u
#define LIVE_LINE_MAX 512 /* bytes of text; wider terminals get this much */
#define LIVE_NAME_MAX 16  /* a shortened domain name, at most */

/* ------------------------------------------------------- figures to text */

/*
 * v with `sig` significant figures and an SI prefix, without a space (the
 * line is short of room): "20.0W", "1.235kJ", "520mW".  A value that rounds
 * up to 1000 takes the next prefix ("999.96 J" is "1.000kJ", not
 * "1000.0J").
 */
static void scaled(char *buf, size_t cap, double v, const char *unit, int sig)
{
	static const struct {
		double factor;
		const char *prefix;
	} steps[] = { { 1e6, "M" }, { 1e3, "k" }, { 1, "" }, { 1e-3, "m" } };
	const size_t nsteps = sizeof steps / sizeof *steps;
	size_t i = 0;

	if (!isfinite(v) || v < 0) {
		snprintf(buf, cap, "-"); /* not known */
		return;
	}
	while (i + 1 < nsteps && v < steps[i].factor)
		i++;
	if (v == 0)
		i = 2;
	for (;;) {
		double x = v / steps[i].factor;
		int dec = sig - (x >= 100 ? 3 : x >= 10 ? 2 : 1);
		double r = round(x * pow(10, dec > 0 ? dec : 0)) / pow(10, dec > 0 ? dec : 0);
		if (r >= 1000 && i > 0) {
			i--;
			continue;
		}
		/* 9.9996 rounds to 10.000: one figure more before the point. */
		dec = sig - (r >= 100 ? 3 : r >= 10 ? 2 : 1);
		snprintf(buf, cap, "%.*f%s%s", dec > 0 ? dec : 0, x, steps[i].prefix, unit);
		return;
	}
}

/* "0:07", "12:34", "1:02:03": rounded to the nearest second. */
static void elapsed_text(char *buf, size_t cap, uint64_t ns)
{
	uint64_t s = (ns + 500000000u) / 1000000000u;
	if (s >= 3600)
		snprintf(buf, cap, "%u:%02u:%02u", (unsigned)(s / 3600), (unsigned)(s / 60 % 60),
		         (unsigned)(s % 60));
	else
		snprintf(buf, cap, "%u:%02u", (unsigned)(s / 60), (unsigned)(s % 60));
}

/*
 * A domain's name, short enough for a status line: package_0 -> pkg0,
 * dram_1 -> dram1, package_0_die_1 -> pkg0.d1, nvidia_gpu_2 -> nvgpu2,
 * amd_gpu_0 -> amdgpu0; anything but printable ASCII becomes '?' (one byte,
 * one column), and the name stops at LIVE_NAME_MAX.
 */
static void short_name(char *out, size_t cap, const char *name)
{
	static const struct {
		const char *from, *to;
	} prefixes[] = {
		{ "package_", "pkg" },
		{ "uncore_", "unc" },
		{ "nvidia_gpu_", "nvgpu" },
		{ "amd_gpu_", "amdgpu" },
	};
	const char *p = name;
	size_t o = 0;

	if (cap > LIVE_NAME_MAX + 1)
		cap = LIVE_NAME_MAX + 1;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
		size_t len = strlen(prefixes[i].from);
		if (strncmp(p, prefixes[i].from, len) == 0) {
			snprintf(out, cap, "%s", prefixes[i].to);
			o = strlen(out);
			p += len;
			break;
		}
	}
	while (*p && o + 1 < cap) {
		if (strncmp(p, "_die_", 5) == 0 && o + 2 < cap) {
			out[o++] = '.';
			out[o++] = 'd';
			p += 5;
			continue;
		}
		if (*p == '_' && isdigit((unsigned char)p[1])) {
			p++;
			continue;
		}
		out[o++] = *p >= 0x20 && *p < 0x7f ? *p : '?';
		p++;
	}
	out[o] = '\0';
}

/* Appends s to buf (which has room: the callers measure first). */
static void append(char *buf, size_t *len, const char *s)
{
	size_t n = strlen(s);
	memcpy(buf + *len, s, n + 1);
	*len += n;
}

static void figure_text(char *buf, size_t cap, const struct live_figure *f)
{
	char name[LIVE_NAME_MAX + 1], power[32];
	short_name(name, sizeof name, f->name);
	if (f->lost) {
		snprintf(buf, cap, "  %s lost", name);
		return;
	}
	scaled(power, sizeof power, f->power_w, "W", 3);
	snprintf(buf, cap, "  %s %s%s", name, f->estimated ? "~" : "", power);
}

size_t live_compose(char *buf, size_t cap, unsigned cols, uint64_t elapsed_ns,
                    const struct live_figure *fig, size_t n, double total_w,
                    double total_j, int estimated)
{
	char head[32], tail[96], item[LIVE_NAME_MAX + 48], more[32], w[32], j[32];
	const char *est = estimated ? "~" : "";
	size_t maxw = cols > 1 ? cols - 1 : 0, len = 0, used, k;

	if (cap == 0)
		return 0;
	buf[0] = '\0';
	if (maxw > cap - 1)
		maxw = cap - 1;
	elapsed_text(head, sizeof head, elapsed_ns);
	scaled(w, sizeof w, total_w, "W", 3);
	scaled(j, sizeof j, total_j, "J", 4);
	snprintf(tail, sizeof tail, "  total %s%s %s%s", est, w, est, j);
	if (strlen(head) + strlen(tail) > maxw) {
		/* Narrow: the energy alone.  Narrower: nothing, rather than a
		 * figure cut short that reads as another. */
		snprintf(tail, sizeof tail, "  %s%s", est, j);
		if (strlen(head) + strlen(tail) > maxw)
			return 0;
	}
	append(buf, &len, head);
	used = len + strlen(tail);
	/* As many figures as fit, in the meter's order, with room left to say
	 * how many did not; none at all says nothing (the total covers them). */
	for (k = 0; k < n; k++) {
		size_t left_out = n - k - 1;
		figure_text(item, sizeof item, &fig[k]);
		snprintf(more, sizeof more, "  +%zu more", left_out);
		if (used + strlen(item) + (left_out ? strlen(more) : 0) > maxw)
			break;
		append(buf, &len, item);
		used += strlen(item);
	}
	if (k > 0 && k < n) {
		snprintf(more, sizeof more, "  +%zu more", n - k);
		append(buf, &len, more);
	}
	append(buf, &len, tail);
	return len;
}

/* ------------------------------------------------ the terminal and clock */

static int wanted(void)
{
	const char *term = getenv("TERM");
	/* Without TERM (cron, some IDE consoles) ESC [ K may print as text. */
	return term && *term && strcmp(term, "dumb") != 0;
}

/*
 * 0 when another process group has the terminal's foreground (we are a
 * background job).  A terminal that is not our controlling one has no say
 * (tcgetpgrp fails): drawing on it stops nobody.
 */
static int in_foreground(int fd)
{
	pid_t fg = tcgetpgrp(fd);
	return fg < 0 || fg == getpgrp();
}

static unsigned term_cols(int fd)
{
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

/* One write(2) in the normal case; the rest of a short write follows. */
static int write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int live_open(struct live *l, struct wp_meter *meter, FILE *tty)
{
	size_t n, counted = 0;
	int fd;

	memset(l, 0, sizeof *l);
	l->fd = -1;
	if (!meter || !tty || !wanted())
		return 0;
	fd = fileno(tty);
	if (fd < 0 || !isatty(fd))
		return 0;
	n = wp_meter_domain_count(meter);
	l->in_total = calloc(n ? n : 1, sizeof *l->in_total);
	l->fig = calloc(n ? n : 1, sizeof *l->fig);
	if (!l->in_total || !l->fig)
		goto off;
	/* What counts towards the total, as the report decides it: never a
	 * sensor of unknown coverage, nor a domain inside another one. */
	for (size_t i = 0; i < n; i++) {
		const struct wp_domain_info *info = wp_meter_domain(meter, i);
		int in = info->kind != WP_KIND_OTHER;
		for (size_t k = 0; k < n && in; k++)
			if (wp_domain_contains(wp_meter_domain(meter, k), info))
				in = 0;
		l->in_total[i] = (unsigned char)in;
		counted += (size_t)in;
	}
	if (counted == 0)
		goto off;
	l->start = wp_snapshot_new(meter);
	l->prev = wp_snapshot_new(meter);
	l->cur = wp_snapshot_new(meter);
	if (!l->start || !l->prev || !l->cur || wp_meter_snapshot(meter, l->start) < 0)
		goto off;
	l->meter = meter;
	l->fd = fd;
	l->next_ns = wp_snapshot_time_ns(l->start) + LIVE_PERIOD_NS;
	l->on = 1;
	return 1;
off:
	live_close(l);
	return 0;
}

void live_update(struct live *l)
{
	char line[LIVE_LINE_MAX + 8];
	double total_w = 0, total_j = 0;
	size_t n, k = 0, len;
	int estimated = 0;

	if (!l->on)
		return;
	if (!in_foreground(l->fd)) {
		l->shown = 0; /* whatever ran in the foreground moved the cursor */
		return;
	}
	if (wp_meter_snapshot(l->meter, l->cur) < 0)
		return;
	const struct wp_snapshot *prev = l->have_prev ? l->prev : l->start;
	double dt_s = (double)(wp_snapshot_time_ns(l->cur) - wp_snapshot_time_ns(prev)) / 1e9;
	n = wp_meter_domain_count(l->meter);
	for (size_t i = 0; i < n; i++) {
		const struct wp_domain_info *info = wp_meter_domain(l->meter, i);
		struct live_figure *f = &l->fig[k];
		double so_far = 0, last = 0;
		if (!l->in_total[i])
			continue;
		/* WP_ELOST leaves the energy up to the loss, which still counts. */
		int rc = wp_energy_between(l->meter, l->start, l->cur, i, &so_far);
		wp_energy_between(l->meter, prev, l->cur, i, &last);
		f->name = info->name;
		f->estimated = info->estimated;
		f->lost = rc == WP_ELOST;
		f->power_w = dt_s > 0 ? last / dt_s : NAN;
		total_j += so_far;
		if (!f->lost && isfinite(f->power_w))
			total_w += f->power_w;
		estimated |= info->estimated;
		k++;
	}
	/* Swap: this tick's snapshot is the next one's start of interval. */
	struct wp_snapshot *t = l->prev;
	l->prev = l->cur;
	l->cur = t;
	l->have_prev = 1;

	line[0] = '\r';
	len = 1 + live_compose(line + 1, LIVE_LINE_MAX, term_cols(l->fd),
	                       wp_snapshot_time_ns(l->prev) - wp_snapshot_time_ns(l->start),
	                       l->fig, k, total_w, total_j, estimated);
	memcpy(line + len, "\033[K", 4);
	if (write_all(l->fd, line, len + 3) < 0) {
		l->on = 0; /* the terminal went away (EIO after a hangup) */
		l->shown = 0;
		return;
	}
	l->shown = len > 1;
}

int live_tick(struct live *l, struct timespec *timeout)
{
	if (!l->on)
		return -1;
	uint64_t now = wp_now_ns();
	if (now >= l->next_ns) {
		live_update(l);
		now = wp_now_ns();
		/* Ticks stay on whole seconds since the start; missed ones are
		 * skipped, not made up. */
		while (l->next_ns <= now)
			l->next_ns += LIVE_PERIOD_NS;
		if (!l->on)
			return -1;
	}
	uint64_t left = l->next_ns - now;
	timeout->tv_sec = (time_t)(left / 1000000000u);
	timeout->tv_nsec = (long)(left % 1000000000u);
	return 0;
}

void live_clear(struct live *l)
{
	if (!l->shown)
		return;
	l->shown = 0;
	if (in_foreground(l->fd))
		write_all(l->fd, "\r\033[K", 4);
}

void live_close(struct live *l)
{
	live_clear(l);
	wp_snapshot_free(l->start);
	wp_snapshot_free(l->prev);
	wp_snapshot_free(l->cur);
	free(l->in_total);
	free(l->fig);
	memset(l, 0, sizeof *l);
	l->fd = -1;
}
