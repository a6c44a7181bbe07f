/*
 * util.c - small helpers: the clock, sysfs value parsing, file reads, and
 * growing arrays.  The parser here is fed by files the kernel (or a fake tree)
 * hands us; tests/fuzz/fuzz_parse.c fuzzes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	char buf[64];
	ssize_t n;

	do
		n = pread(fd, buf, sizeof buf, 0);
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
