/*
 * limits.c - the power limits of a host's devices (wp_power_limits and
 * wp_power_limit_set in wattprof.h, docs/POWERCAP.md).
 *
 * GPUs through their source's limit operations (sensor ops version 5: NVML,
 * src/sensors/nvml.c).  RAPL packages through powercap's constraint files,
 * read here whatever source measures the package's energy (perf and msr
 * have no limits to offer):
 *
 *   <sysfs>/class/powercap/intel-rapl:N/name           "package-N"
 *   .../constraint_K_name                               "long_term", "short_term",
 *                                                       "peak_power"
 *   .../constraint_K_power_limit_uw                     the limit, uW (writable by root)
 *   .../constraint_K_time_window_us                     its averaging window, us
 *   .../constraint_K_max_power_uw, _min_power_uw        the range, uW (optional)
 *
 * (kernel Documentation/power/powercap/powercap.rst, "Power Zone
 * Constraints").  Only the "intel-rapl" control type: the MMIO interface
 * some Intel laptops also expose ("intel-rapl-mmio") holds a second copy of
 * the package limits, which a tool should not change behind the user's back.
 * Nothing here prints or exits.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define MAX_CONSTRAINTS 8

/* A RAPL package zone: its folder and number; 0, or -1 when dir is none. */
static int package_zone(const struct wp_host *host, const char *entry, char *dir, size_t cap,
                        int *number)
{
	char path[PATH_MAX], name[64];
	unsigned n;
	int len;

	/* "intel-rapl:N" exactly: subzones (":N:M") are core, uncore, dram. */
	if (sscanf(entry, "intel-rapl:%u%n", &n, &len) != 1 || entry[len] != '\0')
		return -1;
	snprintf(dir, cap, "%s/class/powercap/%s", host->sysfs_root, entry);
	snprintf(path, sizeof path, "%s/name", dir);
	if (wp__read_line(path, name, sizeof name) < 0 ||
	    sscanf(name, "package-%u%n", &n, &len) != 1 || name[len] != '\0')
		return -1;
	*number = (int)n;
	return 0;
}

/* A constraint file's value in uW (or us) as W (s), NaN when absent or bad. */
static double read_micro(const char *dir, int k, const char *what)
{
	char path[PATH_MAX];
	uint64_t v;

	snprintf(path, sizeof path, "%s/constraint_%d_%s", dir, k, what);
	return wp__read_u64(path, &v) == 0 ? (double)v / 1e6 : NAN;
}

static int push(struct wp_power_limit **arr, size_t *n, size_t *cap,
                const struct wp_power_limit *one)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 8;
		struct wp_power_limit *p = realloc(*arr, c * sizeof *p);
		if (!p)
			return -ENOMEM;
		*arr = p;
		*cap = c;
	}
	(*arr)[(*n)++] = *one;
	return 0;
}

static int add(struct wp_power_limit **arr, size_t *n, size_t *cap, struct wp_power_limit one,
               const char *device, const char *constraint, const char *id)
{
	one.device = strdup(device);
	one.constraint = strdup(constraint);
	one.id = strdup(id ? id : "");
	if (!one.device || !one.constraint || !one.id || push(arr, n, cap, &one) < 0) {
		free(one.device);
		free(one.constraint);
		free(one.id);
		return -ENOMEM;
	}
	return 0;
}

static int gpu_limits(struct wp_host *host, struct wp_power_limit **arr, size_t *n, size_t *cap)
{
	for (size_t i = 0; i < host->domain_count; i++) {
		const struct wp__domain *d = &host->domains[i];
		struct wp__limit l;
		int index;
		if (d->ops->version < 5 || !d->ops->limit || d->info.kind != WP_KIND_GPU ||
		    d->ops->limit(d, &l) < 0)
			continue;
		if (sscanf(d->name, "%*[a-z]_gpu_%d", &index) != 1)
			index = -1;
		struct wp_power_limit one = {
			.kind = WP_LIMIT_GPU, .index = index, .power_w = l.now_w,
			.default_w = l.default_w, .min_w = l.min_w, .max_w = l.max_w,
			.time_window_s = NAN, .enforced_w = l.enforced_w,
		};
		if (add(arr, n, cap, one, d->name, "power", d->device_id) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int by_package(const void *a, const void *b)
{
	const struct wp_power_limit *x = a, *y = b;
	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return x->constraint_id - y->constraint_id;
}

static int package_limits(struct wp_host *host, struct wp_power_limit **arr, size_t *n,
                          size_t *cap)
{
	char base[PATH_MAX], dir[PATH_MAX];
	size_t first = *n;
	struct dirent *e;
	DIR *d;

	snprintf(base, sizeof base, "%s/class/powercap", host->sysfs_root);
	if (!(d = opendir(base)))
		return 0; /* no powercap: no package limits */
	while ((e = readdir(d))) {
		int number;
		if (package_zone(host, e->d_name, dir, sizeof dir, &number) < 0)
			continue;
		for (int k = 0; k < MAX_CONSTRAINTS; k++) {
			char path[PATH_MAX], cname[64], device[32];
			snprintf(path, sizeof path, "%s/constraint_%d_name", dir, k);
			if (wp__read_line(path, cname, sizeof cname) < 0)
				break;
			struct wp_power_limit one = {
				.kind = WP_LIMIT_PACKAGE, .index = number, .constraint_id = k,
				.power_w = read_micro(dir, k, "power_limit_uw"),
				.default_w = NAN,
				.min_w = read_micro(dir, k, "min_power_uw"),
				.max_w = read_micro(dir, k, "max_power_uw"),
				.time_window_s = read_micro(dir, k, "time_window_us"),
				.enforced_w = NAN,
			};
			if (isnan(one.power_w))
				continue; /* a constraint whose limit cannot be read */
			/* 0 means "not reported" for these two (powercap.rst). */
			if (one.max_w == 0)
				one.max_w = NAN;
			if (one.min_w == 0)
				one.min_w = NAN;
			snprintf(device, sizeof device, "package_%d", number);
			if (add(arr, n, cap, one, device, cname, dir) < 0) {
				closedir(d);
				return -ENOMEM;
			}
		}
	}
	closedir(d);
	qsort(*arr + first, *n - first, sizeof **arr, by_package);
	return 0;
}

int wp_power_limits(struct wp_host *host, struct wp_power_limit **out, size_t *count)
{
	struct wp_power_limit *arr = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if (!host || !out || !count)
		return -EINVAL;
	rc = gpu_limits(host, &arr, &n, &cap);
	if (rc == 0)
		rc = package_limits(host, &arr, &n, &cap);
	if (rc < 0) {
		wp_power_limits_free(arr, n);
		return rc;
	}
	*out = arr;
	*count = n;
	return 0;
}

void wp_power_limits_free(struct wp_power_limit *limits, size_t count)
{
	for (size_t i = 0; limits && i < count; i++) {
		free(limits[i].device);
		free(limits[i].constraint);
		free(limits[i].id);
	}
	free(limits);
}

/* Writes a RAPL constraint's limit, uW. */
static int write_uw(const char *dir, int k, double watts)
{
	char path[PATH_MAX], text[32];
	int fd, len;
	ssize_t w;

	snprintf(path, sizeof path, "%s/constraint_%d_power_limit_uw", dir, k);
	len = snprintf(text, sizeof text, "%llu\n", (unsigned long long)llround(watts * 1e6));
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC); /* a file in tests; sysfs ignores it */
	if (fd < 0)
		return -errno;
	w = write(fd, text, (size_t)len);
	int err = w < 0 ? errno : 0;
	if (close(fd) < 0 && !err)
		err = errno;
	if (err)
		return err == EINVAL ? -ERANGE : -err; /* the kernel refuses a value with EINVAL */
	return w == len ? 0 : -EIO;
}

static int set_package(struct wp_host *host, const char *device, const char *constraint,
                       double watts, int check)
{
	struct wp_power_limit *all;
	size_t n;
	int rc = wp_power_limits(host, &all, &n);

	if (rc < 0)
		return rc;
	rc = -ENOENT;
	for (size_t i = 0; i < n; i++) {
		const struct wp_power_limit *l = &all[i];
		if (l->kind != WP_LIMIT_PACKAGE || strcmp(l->device, device) != 0 ||
		    strcmp(l->constraint, constraint ? constraint : "long_term") != 0)
			continue;
		if (check)
			watts = l->power_w;
		/* Above max_power_uw (the rated power) is the kernel's to refuse:
		 * some packages are sold to run above it. */
		if (!(watts > 0) || !isfinite(watts) || watts * 1e6 >= 1.8e19 ||
		    (!isnan(l->min_w) && watts < l->min_w))
			rc = -ERANGE;
		else
			rc = write_uw(l->id, l->constraint_id, watts);
		break;
	}
	wp_power_limits_free(all, n);
	return rc;
}

static int set_or_check(struct wp_host *host, const char *device, const char *constraint,
                        double watts, int check)
{
	if (!host || !device)
		return -EINVAL;
	for (size_t i = 0; i < host->domain_count; i++) {
		const struct wp__domain *d = &host->domains[i];
		struct wp__limit l;
		int rc;
		if (strcmp(d->name, device) != 0 || d->info.kind != WP_KIND_GPU)
			continue;
		if (constraint && strcmp(constraint, "power") != 0)
			return -ENOENT;
		if (d->ops->version < 5 || !d->ops->set_limit || !d->ops->limit)
			return -EOPNOTSUPP;
		if (check) {
			rc = d->ops->limit(d, &l);
			if (rc < 0)
				return rc;
			watts = l.now_w;
		}
		return d->ops->set_limit(d, watts);
	}
	return set_package(host, device, constraint, watts, check);
}

int wp_power_limit_set(struct wp_host *host, const char *device, const char *constraint,
                       double watts)
{
	return set_or_check(host, device, constraint, watts, 0);
}

int wp_power_limit_check(struct wp_host *host, const char *device, const char *constraint)
{
	return set_or_check(host, device, constraint, NAN, 1);
}
