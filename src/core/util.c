/*
 * util.c - small helpers: the clock, sysfs value parsing, file reads, and
 * growing arrays.  The parser here is fed by files the kernel (or a fake tree)
 * hands us; tests/fuzz/fuzz_parse.c fuzzes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

uint64_t wp_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int wp__parse_u64(const char *buf, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	int overflow = 0;

	for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
		unsigned d = (unsigned)(buf[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			overflow = 1;
		v = v * 10 + d;
	}
	/* The shape first: trailing garbage is "not a number" even when the
	 * digits before it would not fit. */
	if (i == 0 || (i < len && buf[i] != '\n'))
		return WP_EPARSE;
	if (overflow)
		return WP_ERANGE;
	*out = v;
	return 0;
}

int wp__pread_u64(int fd, uint64_t *out)
{
	return wp__pread_u64_via(pread, fd, out);
}

int wp__pread_u64_via(ssize_t (*rd)(int, void *, size_t, off_t), int fd, uint64_t *out)
{
	char buf[64];
	ssize_t n;

	do
		n = rd(fd, buf, sizeof buf, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n == sizeof buf && !memchr(buf, '\n', sizeof buf))
		return WP_EPARSE; /* no sysfs counter is this long */
	return wp__parse_u64(buf, (size_t)n, out);
}

int wp__read_line(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, cap - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	close(fd);
	buf[n] = '\0';
	char *nl = memchr(buf, '\n', (size_t)n);
	if (nl)
		*nl = '\0';
	return 0;
}

int wp__make_parents(const char *path, mode_t mode)
{
	char dir[PATH_MAX];
	if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
		return -ENAMETOOLONG;
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(dir, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = c;
		if (c == '\0')
			break;
	}
	return 0;
}

int wp__read_u64(const char *path, uint64_t *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = wp__pread_u64(fd, out);
	close(fd);
	return rc;
}

char *wp__strdupf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

int wp__grow(void **arr, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 8;
	while (n < need)
		n *= 2;
	void *p = realloc(*arr, n * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

int wp__parse_uint_any(const char *s, uint64_t *out)
{
	int base = 10;
	uint64_t v = 0;
	int any = 0;

	if (!s)
		return WP_EPARSE;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (; *s; s++, any = 1) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return WP_EPARSE;
		if (v > (UINT64_MAX - d) / (unsigned)base)
			return WP_ERANGE;
		v = v * (unsigned)base + d;
	}
	if (!any)
		return WP_EPARSE;
	*out = v;
	return 0;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

int wp__parse_double(const char *s, double *out)
{
	char *end;
	double v;

	pthread_once(&c_locale_once, make_c_locale);
	if (!s || !c_locale)
		return WP_EPARSE;
	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return WP_EPARSE;
	errno = 0;
	v = strtod_l(s, &end, c_locale);
	while (*end == ' ' || *end == '\t' || *end == '\n')
		end++;
	if (*end || end == s)
		return WP_EPARSE;
	if (errno == ERANGE || !isfinite(v))
		return WP_ERANGE;
	*out = v;
	return 0;
}

/* ------------------------------------------------------------ integrator */

void wp__integrator_init(struct wp__integrator *ig)
{
	memset(ig, 0, sizeof *ig);
	pthread_mutex_init(&ig->lock, NULL);
}

void wp__integrator_destroy(struct wp__integrator *ig)
{
	pthread_mutex_destroy(&ig->lock);
}

uint64_t wp__integrator_add(struct wp__integrator *ig, uint64_t now_ns, double watts)
{
	uint64_t uj;

	pthread_mutex_lock(&ig->lock);
	if (ig->started && now_ns > ig->last_ns)
		ig->joules += (ig->last_w + watts) / 2 * (double)(now_ns - ig->last_ns) / 1e9;
	if (!ig->started || now_ns > ig->last_ns) {
		ig->last_ns = now_ns;
		ig->last_w = watts;
	}
	ig->started = 1;
	uj = (uint64_t)(ig->joules * 1e6);
	pthread_mutex_unlock(&ig->lock);
	return uj;
}

/* ------------------------------------------------ power update period */

void wp__detect_update_ns(size_t n, int (*read)(void *ctx, double *watts), void *const *ctx,
                          uint64_t *update_ns, uint64_t poll_ns, uint64_t max_ns)
{
	double last[WP__DETECT_MAX];
	uint64_t changed_at[WP__DETECT_MAX];
	unsigned changes[WP__DETECT_MAX];
	int ok[WP__DETECT_MAX];
	uint64_t start = wp_now_ns();
	size_t waiting;

	if (n > WP__DETECT_MAX)
		n = WP__DETECT_MAX;
	for (size_t i = 0; i < n; i++) {
		update_ns[i] = 0;
		changes[i] = 0;
		changed_at[i] = start;
		ok[i] = read(ctx[i], &last[i]) == 0;
	}
	do {
		struct timespec ts = { (time_t)(poll_ns / 1000000000u),
			               (long)(poll_ns % 1000000000u) };
		nanosleep(&ts, NULL);
		uint64_t now = wp_now_ns();
		waiting = 0;
		for (size_t i = 0; i < n; i++) {
			double w;
			if (!ok[i] || changes[i] >= 3)
				continue;
			if (read(ctx[i], &w) < 0) {
				ok[i] = 0;
				continue;
			}
			if (w != last[i]) {
				/* The first change only starts the clock: the
				 * reading may have been held for a while already. */
				if (changes[i] > 0 &&
				    (update_ns[i] == 0 || now - changed_at[i] < update_ns[i]))
					update_ns[i] = now - changed_at[i];
				changes[i]++;
				changed_at[i] = now;
				last[i] = w;
			}
			waiting += changes[i] < 3;
		}
	} while (waiting > 0 && wp_now_ns() - start < max_ns);
	/*
	 * Each change is seen up to one poll late, so a measured interval may
	 * run one poll long: take a poll off, so that sampling at twice the
	 * result is fast enough.  A reading that changed at (nearly) every poll
	 * changes faster than polling can tell: it gets the floor.
	 */
	for (size_t i = 0; i < n; i++) {
		if (update_ns[i] == 0)
			continue;
		if (update_ns[i] <= 2 * poll_ns)
			update_ns[i] = WP__MIN_UPDATE_NS;
		else
			update_ns[i] -= poll_ns;
		if (update_ns[i] < WP__MIN_UPDATE_NS)
			update_ns[i] = WP__MIN_UPDATE_NS;
	}
}

void wp__gpu_use_free(struct wp__gpu_use *u)
{
	if (!u)
		return;
	free(u->samples);
	free(u->mem);
	u->samples = NULL;
	u->mem = NULL;
	u->nsamples = u->nmem = 0;
}
