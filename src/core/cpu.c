/*
 * cpu.c - what the sources need to know about the CPUs: which are online,
 * which socket and die each one sits on (sysfs topology), and the first
 * processor's vendor, family, model and name (/proc/cpuinfo).  The MSR and
 * perf sources open one CPU per socket; the MSR source keys its unit table
 * on family and model; the estimate looks the model name up in its TDP table.
 *
 * Files read (kernel Documentation/ABI/stable/sysfs-devices-system-cpu and
 * Documentation/admin-guide/cputopology.rst):
 *   <sysfs>/devices/system/cpu/online                  "0-7,16-23"
 *   <sysfs>/devices/system/cpu/cpuN/topology/physical_package_id
 *                                              .../die_id, .../core_id
 *   <proc>/cpuinfo                 "vendor_id", "cpu family", "model", "model name"
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* More CPUs than any Linux build supports (CONFIG_NR_CPUS tops at 8192). */
#define MAX_CPU 65536

int wp__parse_cpulist(const char *list, int **cpus)
{
	int *out = NULL;
	size_t n = 0, cap = 0;
	const char *p = list;

	*cpus = NULL;
	while (*p && *p != '\n') {
		char *end;
		long a, b;

		if (*p < '0' || *p > '9')
			goto bad;
		a = strtol(p, &end, 10);
		b = a;
		p = end;
		if (*p == '-') {
			p++;
			if (*p < '0' || *p > '9')
				goto bad;
			b = strtol(p, &end, 10);
			p = end;
		}
		if (a < 0 || b < a || b >= MAX_CPU)
			goto bad;
		for (long c = a; c <= b; c++) {
			if (wp__grow((void **)&out, &cap, n + 1, sizeof *out) < 0) {
				free(out);
				return -ENOMEM;
			}
			out[n++] = (int)c;
		}
		if (*p == ',')
			p++;
		else if (*p && *p != '\n')
			goto bad;
	}
	*cpus = out;
	return (int)n;
bad:
	free(out);
	return WP_EPARSE;
}

int wp__online_cpus(const struct wp_host *host, int **cpus)
{
	char path[PATH_MAX], buf[4096];
	int rc;

	snprintf(path, sizeof path, "%s/devices/system/cpu/online", host->sysfs_root);
	rc = wp__read_line(path, buf, sizeof buf);
	if (rc < 0) {
		*cpus = NULL;
		return rc;
	}
	return wp__parse_cpulist(buf, cpus);
}

static int topo_value(const struct wp_host *host, int cpu, const char *file, int *out)
{
	char path[PATH_MAX];
	uint64_t v;
	int rc;

	snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/topology/%s",
	         host->sysfs_root, cpu, file);
	rc = wp__read_u64(path, &v);
	if (rc < 0)
		return rc;
	if (v > INT_MAX)
		return WP_ERANGE;
	*out = (int)v;
	return 0;
}

int wp__cpu_topology(const struct wp_host *host, int cpu, int *package, int *die, int *core)
{
	int rc = topo_value(host, cpu, "physical_package_id", package);
	if (rc < 0)
		return rc;
	if (topo_value(host, cpu, "die_id", die) < 0)
		*die = -1;
	if (topo_value(host, cpu, "core_id", core) < 0)
		*core = -1;
	return 0;
}

/* "key\t: value" -> value, when the line's key is `key`. */
static const char *field(const char *line, const char *key)
{
	size_t n = strlen(key);
	if (strncmp(line, key, n) != 0)
		return NULL;
	line += n;
	while (*line == ' ' || *line == '\t')
		line++;
	if (*line != ':')
		return NULL;
	line++;
	while (*line == ' ')
		line++;
	return line;
}

int wp__read_cpuid(const struct wp_host *host, struct wp__cpuid *out)
{
	char path[PATH_MAX];
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int seen = 0, rc;
	FILE *f;

	memset(out, 0, sizeof *out);
	snprintf(path, sizeof path, "%s/cpuinfo", host->proc_root);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	/* The first processor's block: up to the first blank line. */
	while ((len = getline(&line, &cap, f)) > 0 && line[0] != '\n') {
		const char *v;
		uint64_t u;

		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		if ((v = field(line, "vendor_id"))) {
			snprintf(out->vendor, sizeof out->vendor, "%s", v);
			seen |= 1;
		} else if ((v = field(line, "cpu family"))) {
			if (wp__parse_uint_any(v, &u) == 0 && u <= 0xffff) {
				out->family = (unsigned)u;
				seen |= 2;
			}
		} else if ((v = field(line, "model name"))) {
			snprintf(out->model_name, sizeof out->model_name, "%s", v);
			seen |= 8;
		} else if ((v = field(line, "model"))) {
			if (wp__parse_uint_any(v, &u) == 0 && u <= 0xffff) {
				out->model = (unsigned)u;
				seen |= 4;
			}
		}
	}
	rc = ferror(f) ? -EIO : 0;
	free(line);
	fclose(f);
	if (rc == 0 && (seen & 7) != 7)
		rc = WP_EPARSE;
	return rc;
}
