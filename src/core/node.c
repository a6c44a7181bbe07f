/*
 * node.c - the node's own readings for the time series: CPU utilisation,
 * memory in use, and the hottest CPU package temperature (internal.h,
 * "node readings").
 *
 * Files read, under the host's roots:
 *
 *   <proc>/stat      the aggregate "cpu " line (proc(5), /proc/stat):
 *                    user nice system idle iowait irq softirq steal guest
 *                    guest_nice, in USER_HZ ticks since boot
 *   <proc>/meminfo   "MemTotal:" and "MemAvailable:" in kB (proc(5),
 *                    /proc/meminfo; MemAvailable since Linux 3.14)
 *   <sysfs>/class/hwmon/hwmonN/{name,tempK_input,tempK_label}
 *                    millidegrees Celsius (kernel Documentation/hwmon/
 *                    sysfs-interface.rst, "temp[1-*]_input")
 *   <sysfs>/class/thermal/thermal_zoneN/{type,temp}
 *                    millidegrees Celsius (kernel Documentation/driver-api/
 *                    thermal/sysfs-api.rst, "temp")
 *
 * wp__node_open() finds what this machine offers and opens every file it
 * will read; wp__node_read() re-reads them with pread() into fixed buffers:
 * no allocation, no open(), no directory walk per read.  A reading whose
 * file fails to read or holds something unexpected is NaN for that read
 * only; the next read tries again.  Nothing here prints or exits.
 *
 * Threads: a node keeps the ticks of its previous read, so one thread reads
 * it at a time; separate nodes are independent.
 *
 * The file is organised as: parsers of each file's contents, discovery of
 * the temperature inputs, then open/read/close.
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

/*
 * Every read of an open file goes through this: pread(2), but for the tests
 * (tests/test_node.c), which set it before opening to model kernfs.  A
 * regular file that was unlinked reads on through a descriptor opened
 * before; a sysfs attribute whose device went away fails the read instead,
 * and that is what they model.
 */
ssize_t (*wp__node_pread)(int fd, void *buf, size_t count, off_t offset) = pread;

/*
 * The first line of /proc/stat is at most "cpu " and ten 20-digit counters
 * (about 230 bytes).  The kernel formats the whole file at every read
 * (fs/proc/stat.c), which cannot be helped, but only this much is copied.
 * MemTotal, MemFree and MemAvailable are the first three lines of
 * /proc/meminfo (the order of meminfo_proc_show() in fs/proc/meminfo.c),
 * well inside the same size.
 */
#define HEAD_BYTES 512

/* At most this many temperature inputs are kept (the first, in order of
 * chip or zone number, then of input number). */
#define MAX_TEMP_INPUTS 64

/* Thermal zone types of CPU packages (the fallback where no hwmon chip). */
static const char *const ZONE_TYPES[] = { "x86_pkg_temp", "cpu-thermal", "cpu_thermal",
	                                  "soc_thermal", "cpu0-thermal" };

struct wp__node {
	int stat_fd, meminfo_fd; /* -1 when unavailable */
	/* CPU ticks at the previous good read of /proc/stat. */
	int have_prev;
	uint64_t prev_busy, prev_idle;
	size_t ntemp;
	int temp_fd[MAX_TEMP_INPUTS];
};

static const char *const NAMES[WP__NODE_COUNT] = {
	[WP__NODE_CPU_UTIL_PCT] = "cpu_util_pct",
	[WP__NODE_MEM_USED_B] = "mem_used_b",
	[WP__NODE_CPU_TEMP_C] = "cpu_temp_c",
};
static const char *const UNITS[WP__NODE_COUNT] = {
	[WP__NODE_CPU_UTIL_PCT] = "%",
	[WP__NODE_MEM_USED_B] = "B",
	[WP__NODE_CPU_TEMP_C] = "C",
};

const char *wp__node_reading_name(enum wp__node_reading r)
{
	return (unsigned)r < WP__NODE_COUNT ? NAMES[r] : NULL;
}

const char *wp__node_reading_unit(enum wp__node_reading r)
{
	return (unsigned)r < WP__NODE_COUNT ? UNITS[r] : NULL;
}

/* ---------------------------------------------------------------- parsers */

/*
 * pread()s the start of fd into buf (cap bytes, NUL-terminated).  Returns
 * the length or a negative errno.
 */
static ssize_t read_head(int fd, char *buf, size_t cap)
{
	ssize_t n;
	do
		n = wp__node_pread(fd, buf, cap - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return n;
}

/*
 * The aggregate "cpu " line at the start of buf: busy and idle ticks.
 *
 * busy = user + nice + system + irq + softirq + steal, idle = idle +
 * iowait.  guest and guest_nice are left out because they are already
 * inside user and nice: account_guest_time() in kernel/sched/cputime.c adds
 * a guest's time to both (proc(5) lists guest as "time spent running a
 * virtual CPU for guest operating systems").  steal is time the hypervisor
 * ran something else while this node wanted the CPU: not idle, so busy here
 * (the estimate source, which models the node's own power, leaves it out).
 * Kernels older than the later columns (steal 2.6.11,
 * guest 2.6.24, guest_nice 2.6.33) give fewer numbers; the missing ones
 * count as zero, and columns a future kernel may add are ignored.
 * Returns 0 or WP_EPARSE (also when the line does not end inside buf).
 */
static int parse_cpu_line(const char *buf, size_t len, uint64_t *busy, uint64_t *idle)
{
	uint64_t v[10] = { 0 };
	size_t i = 4, k = 0;

	if (len < 4 || memcmp(buf, "cpu ", 4) != 0)
		return WP_EPARSE;
	for (;;) {
		size_t j;
		uint64_t x;

		while (i < len && buf[i] == ' ')
			i++;
		if (i == len)
			return WP_EPARSE; /* no end of line: cut short */
		if (buf[i] == '\n')
			break;
		for (j = i; j < len && buf[j] >= '0' && buf[j] <= '9'; j++)
			;
		if (j == len || (buf[j] != ' ' && buf[j] != '\n'))
			return WP_EPARSE;
		if (wp__parse_u64(buf + i, j - i, &x) < 0)
			return WP_EPARSE;
		if (k < sizeof v / sizeof *v)
			v[k] = x;
		k++;
		i = j;
	}
	if (k < 4) /* user nice system idle, at the least */
		return WP_EPARSE;
	/* Sums of tick counters since boot: no realistic uptime overflows. */
	*busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	*idle = v[3] + v[4];
	return 0;
}

/*
 * The value of "<key>:   <digits> kB" among the complete lines of buf, in
 * kB.  Returns 0, -ENOENT when no complete line has the key, or WP_EPARSE.
 */
static int meminfo_kb(const char *buf, size_t len, const char *key, uint64_t *kb)
{
	size_t klen = strlen(key);
	const char *end = buf + len;

	for (const char *line = buf; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		if (!nl)
			break; /* a line cut by the buffer is not read */
		if ((size_t)(nl - line) > klen && memcmp(line, key, klen) == 0 && line[klen] == ':') {
			const char *p = line + klen + 1, *d;
			while (p < nl && p[0] == ' ')
				p++;
			for (d = p; d < nl && *d >= '0' && *d <= '9'; d++)
				;
			/* The kernel's "kB" is KiB (show_val_kb() in fs/proc/meminfo.c
			 * shifts pages by PAGE_SHIFT - 10). */
			if (nl - d != 3 || memcmp(d, " kB", 3) != 0 ||
			    wp__parse_u64(p, (size_t)(d - p), kb) < 0)
				return WP_EPARSE;
			return 0;
		}
		line = nl + 1;
	}
	return -ENOENT;
}

/* MemTotal - MemAvailable in bytes from buf; 0, -ENOENT or WP_EPARSE. */
static int parse_meminfo(const char *buf, size_t len, double *used_b)
{
	uint64_t total, avail;
	int rc = meminfo_kb(buf, len, "MemTotal", &total);
	if (rc == 0)
		rc = meminfo_kb(buf, len, "MemAvailable", &avail);
	if (rc < 0)
		return rc;
	if (avail > total)
		return WP_EPARSE; /* the kernel never says so; a broken file does */
	*used_b = (double)(total - avail) * 1024.0;
	return 0;
}

/* A temperature file: a signed decimal in millidegrees, then '\n' or the end. */
static int read_millideg(int fd, double *celsius)
{
	char buf[32];
	uint64_t v;
	ssize_t n = read_head(fd, buf, sizeof buf);
	size_t neg;

	if (n < 0)
		return (int)n;
	if ((size_t)n == sizeof buf - 1 && !memchr(buf, '\n', (size_t)n))
		return WP_EPARSE; /* no temperature is this long */
	neg = n > 0 && buf[0] == '-';
	int rc = wp__parse_u64(buf + neg, (size_t)n - neg, &v);
	if (rc < 0)
		return rc;
	*celsius = (neg ? -(double)v : (double)v) / 1000.0;
	return 0;
}

/* ------------------------------------------------- temperature inputs */

/* Adds path's fd to the node; 1 when the cap is reached. */
static int add_temp(struct wp__node *node, const char *path)
{
	if (node->ntemp == MAX_TEMP_INPUTS)
		return 1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	/* A file that opens is kept even if it does not read now: hwmon and
	 * thermal drivers may fail a read for a while (a sensor not ready). */
	if (fd >= 0)
		node->temp_fd[node->ntemp++] = fd;
	return node->ntemp == MAX_TEMP_INPUTS;
}

static int version_order(const void *a, const void *b)
{
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/*
 * The entries of dir named "<prefix><number>", sorted by number, as a
 * malloc'ed array of malloc'ed names in *out.  Returns the count (0 when
 * dir cannot be read) or -ENOMEM.
 */
static int list_numbered(const char *dir, const char *prefix, char ***out)
{
	size_t plen = strlen(prefix), n = 0, cap = 0;
	char **names = NULL;
	struct dirent *e;
	DIR *d = opendir(dir);
	int rc = 0;
	uint64_t k;

	*out = NULL;
	if (!d)
		return 0;
	while (rc == 0 && (e = readdir(d))) {
		if (strncmp(e->d_name, prefix, plen) != 0 ||
		    wp__parse_u64(e->d_name + plen, strlen(e->d_name + plen), &k) < 0)
			continue;
		rc = wp__grow((void **)&names, &cap, n + 1, sizeof *names);
		if (rc == 0 && !(names[n] = strdup(e->d_name)))
			rc = -ENOMEM;
		n += rc == 0;
	}
	closedir(d);
	if (rc < 0) {
		free_names(names, n);
		return rc;
	}
	if (n > 1)
		qsort(names, n, sizeof *names, version_order);
	*out = names;
	return (int)n;
}

/*
 * The numbers K of dir's tempK_input files, ascending, at most cap of them
 * (coretemp has one per core and one per package: far fewer).  Returns the
 * count; 0 when dir cannot be read.
 */
static int temp_inputs(const char *dir, unsigned *ks, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < cap) {
		size_t len = strlen(e->d_name);
		uint64_t k;
		if (len > 10 && strncmp(e->d_name, "temp", 4) == 0 &&
		    strcmp(e->d_name + len - 6, "_input") == 0 &&
		    wp__parse_u64(e->d_name + 4, len - 10, &k) == 0 && k <= 100000)
			ks[n++] = (unsigned)k;
	}
	closedir(d);
	/* Insertion sort: a chip has a few dozen inputs at most. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && ks[j - 1] > ks[j]; j--) {
			unsigned t = ks[j];
			ks[j] = ks[j - 1];
			ks[j - 1] = t;
		}
	return (int)n;
}

/* Input K's label, or "" when it has none. */
static void temp_label(const char *dir, unsigned k, char *label, size_t cap)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/temp%u_label", dir, k);
	if (wp__read_line(path, label, cap) < 0)
		label[0] = '\0';
}

/*
 * The inputs of one CPU chip (Documentation/hwmon/coretemp.rst,
 * Documentation/hwmon/k10temp.rst; zenpower, out of tree, labels its
 * inputs as k10temp does):
 *   coretemp   one "Package id N" input per package, beside one per core;
 *              a chip with no such label (old CPUs without a package
 *              sensor) gives all its inputs
 *   k10temp, zenpower   one chip per package; "Tdie" is the die's
 *              temperature, "Tctl" the control value, which some parts
 *              raise by an offset for fan control; then temp1
 * Returns 1 when the cap is reached.
 */
static int add_chip(struct wp__node *node, const char *dir, const char *chip)
{
	unsigned ks[MAX_TEMP_INPUTS * 4];
	char path[PATH_MAX], label[64];
	int n = temp_inputs(dir, ks, sizeof ks / sizeof *ks), full = 0;

	if (strcmp(chip, "coretemp") == 0) {
		int packages = 0;
		for (int i = 0; i < n && !full; i++) {
			temp_label(dir, ks[i], label, sizeof label);
			if (strncmp(label, "Package id", 10) != 0)
				continue;
			packages++;
			snprintf(path, sizeof path, "%s/temp%u_input", dir, ks[i]);
			full = add_temp(node, path);
		}
		for (int i = 0; i < n && !packages && !full; i++) {
			snprintf(path, sizeof path, "%s/temp%u_input", dir, ks[i]);
			full = add_temp(node, path);
		}
		return full;
	}
	static const char *const prefer[] = { "Tdie", "Tctl" };
	for (size_t p = 0; p < sizeof prefer / sizeof *prefer; p++) {
		for (int i = 0; i < n; i++) {
			temp_label(dir, ks[i], label, sizeof label);
			if (strcmp(label, prefer[p]) == 0) {
				snprintf(path, sizeof path, "%s/temp%u_input", dir, ks[i]);
				return add_temp(node, path);
			}
		}
	}
	for (int i = 0; i < n; i++) {
		if (ks[i] == 1) {
			snprintf(path, sizeof path, "%s/temp1_input", dir);
			return add_temp(node, path);
		}
	}
	return 0;
}

/* CPU chips of <sysfs>/class/hwmon; 0 or -ENOMEM. */
static int find_hwmon(struct wp__node *node, const struct wp_host *host)
{
	char base[PATH_MAX], dir[PATH_MAX], path[PATH_MAX], name[64];
	char **chips;
	int n, full = 0;

	snprintf(base, sizeof base, "%s/class/hwmon", host->sysfs_root);
	n = list_numbered(base, "hwmon", &chips);
	if (n < 0)
		return n;
	for (int i = 0; i < n && !full; i++) {
		snprintf(dir, sizeof dir, "%s/%s", base, chips[i]);
		snprintf(path, sizeof path, "%s/name", dir);
		if (wp__read_line(path, name, sizeof name) < 0)
			continue;
		if (strcmp(name, "coretemp") == 0 || strcmp(name, "k10temp") == 0 ||
		    strcmp(name, "zenpower") == 0)
			full = add_chip(node, dir, name);
	}
	free_names(chips, (size_t)n);
	return 0;
}

/* CPU zones of <sysfs>/class/thermal; 0 or -ENOMEM. */
static int find_thermal(struct wp__node *node, const struct wp_host *host)
{
	char base[PATH_MAX], path[PATH_MAX], type[64];
	char **zones;
	int n, full = 0;

	snprintf(base, sizeof base, "%s/class/thermal", host->sysfs_root);
	n = list_numbered(base, "thermal_zone", &zones);
	if (n < 0)
		return n;
	for (int i = 0; i < n && !full; i++) {
		snprintf(path, sizeof path, "%s/%s/type", base, zones[i]);
		if (wp__read_line(path, type, sizeof type) < 0)
			continue;
		for (size_t t = 0; t < sizeof ZONE_TYPES / sizeof *ZONE_TYPES; t++) {
			if (strcmp(type, ZONE_TYPES[t]) == 0) {
				snprintf(path, sizeof path, "%s/%s/temp", base, zones[i]);
				full = add_temp(node, path);
				break;
			}
		}
	}
	free_names(zones, (size_t)n);
	return 0;
}

/* ------------------------------------------------------- open/read/close */

/* Opens path and keeps it if check() accepts its head; else -1. */
static int open_checked(const char *path, int (*check)(const char *buf, size_t len))
{
	char buf[HEAD_BYTES];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read_head(fd, buf, sizeof buf);
	if (n < 0 || check(buf, (size_t)n) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int check_stat(const char *buf, size_t len)
{
	uint64_t busy, idle;
	return parse_cpu_line(buf, len, &busy, &idle);
}

static int check_meminfo(const char *buf, size_t len)
{
	double used;
	return parse_meminfo(buf, len, &used);
}

int wp__node_open(struct wp__node **out, const struct wp_host *host)
{
	char path[PATH_MAX];
	struct wp__node *node = calloc(1, sizeof *node);
	int rc;

	*out = NULL;
	if (!node)
		return -ENOMEM;
	/* A file that does not parse at open is taken for one this code does
	 * not know (a kernel before MemAvailable, a foreign /proc): the
	 * reading is unavailable rather than NaN for ever. */
	snprintf(path, sizeof path, "%s/stat", host->proc_root);
	node->stat_fd = open_checked(path, check_stat);
	snprintf(path, sizeof path, "%s/meminfo", host->proc_root);
	node->meminfo_fd = open_checked(path, check_meminfo);
	/* Thermal zones only where no CPU hwmon chip answers: where both
	 * exist (x86_pkg_temp beside coretemp), they read the same sensor. */
	rc = find_hwmon(node, host);
	if (rc == 0 && node->ntemp == 0)
		rc = find_thermal(node, host);
	if (rc < 0) {
		wp__node_close(node);
		return rc;
	}
	*out = node;
	return 0;
}

int wp__node_has(const struct wp__node *node, enum wp__node_reading r)
{
	if (!node)
		return 0;
	switch (r) {
	case WP__NODE_CPU_UTIL_PCT:
		return node->stat_fd >= 0;
	case WP__NODE_MEM_USED_B:
		return node->meminfo_fd >= 0;
	case WP__NODE_CPU_TEMP_C:
		return node->ntemp > 0;
	default:
		return 0;
	}
}

/*
 * 100 x busy / (busy + idle) over the ticks since the previous good read.
 * Each sum is taken as not going back: iowait may ("the value in this
 * field may decrease in certain conditions", proc(5); the kernel's
 * Documentation/filesystems/proc.rst says the same), and a step back would
 * otherwise wrap into a huge interval.
 */
static double cpu_util(struct wp__node *node)
{
	char buf[HEAD_BYTES];
	uint64_t busy, idle, d_busy, d_idle;
	double pct = NAN;
	ssize_t n;

	if (node->stat_fd < 0)
		return NAN;
	n = read_head(node->stat_fd, buf, sizeof buf);
	if (n < 0 || parse_cpu_line(buf, (size_t)n, &busy, &idle) < 0)
		return NAN; /* the interval runs on from the last good read */
	if (node->have_prev) {
		d_busy = busy > node->prev_busy ? busy - node->prev_busy : 0;
		d_idle = idle > node->prev_idle ? idle - node->prev_idle : 0;
		if (d_busy + d_idle > 0)
			pct = 100.0 * (double)d_busy / (double)(d_busy + d_idle);
	}
	node->have_prev = 1;
	node->prev_busy = busy;
	node->prev_idle = idle;
	return pct;
}

int wp__node_cpu_ticks(const struct wp__node *node, uint64_t *busy, uint64_t *idle)
{
	char buf[HEAD_BYTES];
	ssize_t n;

	if (!node || node->stat_fd < 0)
		return -ENOENT;
	n = read_head(node->stat_fd, buf, sizeof buf);
	if (n < 0)
		return (int)n;
	return parse_cpu_line(buf, (size_t)n, busy, idle);
}

static double mem_used(const struct wp__node *node)
{
	char buf[HEAD_BYTES];
	double used;
	ssize_t n;

	if (node->meminfo_fd < 0)
		return NAN;
	n = read_head(node->meminfo_fd, buf, sizeof buf);
	if (n < 0 || parse_meminfo(buf, (size_t)n, &used) < 0)
		return NAN;
	return used;
}

/*
 * The hottest input.  One that fails makes the whole reading NaN: the
 * package it stands for may be the hottest, and a maximum over the others
 * would be a wrong number where a missing one is honest.
 */
static double cpu_temp(const struct wp__node *node)
{
	double hottest = -INFINITY, c = NAN;

	if (node->ntemp == 0)
		return NAN;
	for (size_t i = 0; i < node->ntemp; i++) {
		if (read_millideg(node->temp_fd[i], &c) < 0)
			return NAN;
		if (c > hottest)
			hottest = c;
	}
	return hottest;
}

void wp__node_read(struct wp__node *node, double *out)
{
	if (!node) {
		for (size_t i = 0; i < WP__NODE_COUNT; i++)
			out[i] = NAN;
		return;
	}
	out[WP__NODE_CPU_UTIL_PCT] = cpu_util(node);
	out[WP__NODE_MEM_USED_B] = mem_used(node);
	out[WP__NODE_CPU_TEMP_C] = cpu_temp(node);
}

double wp__node_mem_used(const struct wp__node *node)
{
	return node ? mem_used(node) : NAN;
}

void wp__node_close(struct wp__node *node)
{
	if (!node)
		return;
	if (node->stat_fd >= 0)
		close(node->stat_fd);
	if (node->meminfo_fd >= 0)
		close(node->meminfo_fd);
	for (size_t i = 0; i < node->ntemp; i++)
		close(node->temp_fd[i]);
	free(node);
}
