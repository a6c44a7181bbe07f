/*
 * powercap.c - RAPL energy counters through Linux's powercap sysfs tree.
 *
 * Layout read (kernel Documentation/ABI/testing/sysfs-class-powercap and
 * Documentation/power/powercap/powercap.rst):
 *
 *   <root>/class/powercap/intel-rapl:0/        name = "package-0"
 *                         intel-rapl:0:0/      name = "core"   (child of :0)
 *                         intel-rapl:0:1/      name = "uncore"
 *                         intel-rapl:0:2/      name = "dram"
 *                         intel-rapl:1/        name = "psys"   (laptops)
 *                         intel-rapl-mmio:0/   name = "package-0" (duplicate)
 *   each zone: energy_uj, max_energy_range_uj, constraint_N_max_power_uw,
 *              constraint_N_power_limit_uw
 *
 * AMD CPUs (Zen and later, Linux 5.8+) appear under the same intel-rapl
 * control type.  Sockets are identified by the zone's name ("package-N"),
 * never by the directory index, which follows probe order; a sub-zone takes
 * its socket from its parent's name.  Multi-die packages are named
 * "package-N-die-M" (drivers/powercap/intel_rapl_common.c, when a package
 * has more than one die) and give domains package_N_die_M, core_N_die_M...
 * A zone of intel-rapl-mmio that names a package already read through
 * intel-rapl is the same counter seen through MMIO and is skipped.
 * Files stay open and are re-read with pread().
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/internal.h"

#define SOURCE "powercap"

extern const struct wp_sensor_ops wp__sensor_powercap;

static const char NO_DRIVER_FIX[] =
	"load the RAPL driver ('modprobe intel_rapl_msr'; AMD CPUs need Linux 5.8 or "
	"later). Virtual machines and containers rarely expose RAPL: measure on the "
	"host instead";

/*
 * Assumed peak power when a zone declares no limit.  1000 W is above any
 * single socket, DRAM channel set or laptop platform sold today, so the wrap
 * time derived from it errs on the short (safe) side.
 */
#define DEFAULT_PEAK_W 1000.0
/*
 * Short-term limits (PL2) let a package draw up to about twice its long-term
 * limit; the wrap time is computed at twice the largest declared figure.
 */
#define PEAK_MARGIN 2.0

struct zone {
	char dir[64];     /* "intel-rapl:0:1" */
	int mmio;         /* from intel-rapl-mmio */
	char zname[64];   /* contents of `name` */
	enum wp_domain_kind kind;
	int socket;       /* from the name (packages) or the parent (sub-zones) */
	int die;          /* likewise; -1 on single-die packages */
	int name_err;     /* error reading `name` */
};

static int zone_order(const void *pa, const void *pb)
{
	const struct zone *a = pa, *b = pb;
	if (a->mmio != b->mmio)
		return a->mmio - b->mmio;
	return strverscmp(a->dir, b->dir);
}

/*
 * "package-12" -> socket 12, die -1; "package-1-die-3" -> 1, 3.  Returns -1
 * when the name is of neither form.
 */
static int package_index(const char *name, int *die)
{
	uint64_t n, d;
	const char *p = name + 8, *dash;

	*die = -1;
	if (strncmp(name, "package-", 8) != 0)
		return -1;
	dash = strstr(p, "-die-");
	if (wp__parse_u64(p, dash ? (size_t)(dash - p) : strlen(p), &n) < 0 || n > 4095)
		return -1;
	if (dash) {
		if (wp__parse_u64(dash + 5, strlen(dash + 5), &d) < 0 || d > 4095)
			return -1;
		*die = (int)d;
	}
	return (int)n;
}

static enum wp_domain_kind kind_of(const char *name)
{
	int die;
	if (package_index(name, &die) >= 0)
		return WP_KIND_PACKAGE;
	if (strcmp(name, "core") == 0)
		return WP_KIND_CORE;
	if (strcmp(name, "uncore") == 0)
		return WP_KIND_UNCORE;
	if (strcmp(name, "dram") == 0)
		return WP_KIND_DRAM;
	if (strcmp(name, "psys") == 0)
		return WP_KIND_PSYS;
	return WP_KIND_OTHER;
}

static const struct zone *find_zone(const struct zone *z, size_t n, const char *dir)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(z[i].dir, dir) == 0)
			return &z[i];
	return NULL;
}

/* Largest declared power of the zone's constraints, in W; 0 when none. */
static double declared_power_w(const char *zdir)
{
	static const char *const files[] = { "max_power_uw", "power_limit_uw" };
	double best = 0;
	char path[4096];
	uint64_t uw;

	for (int c = 0; c < 4; c++) {
		for (size_t f = 0; f < 2; f++) {
			snprintf(path, sizeof path, "%s/constraint_%d_%s", zdir, c, files[f]);
			if (wp__read_u64(path, &uw) == 0 && uw / 1e6 > best)
				best = uw / 1e6;
		}
	}
	return best;
}

static const char *perm_fix(void)
{
	return "energy_uj is readable by root only since Linux 5.10 (CVE-2020-8694, "
	       "'Platypus'). Run as root, or grant read access: until the next reboot, "
	       "'sudo chmod o+r /sys/class/powercap/intel-rapl*/energy_uj'; for good, "
	       "the udev rule 'ACTION==\"add\", SUBSYSTEM==\"powercap\", "
	       "RUN+=\"/bin/chmod o+r /sys%p/energy_uj\"' in "
	       "/etc/udev/rules.d/70-wattprof-rapl.rules (or, with sysfsutils, a line "
	       "'mode class/powercap/intel-rapl:0/energy_uj = 0444' per zone in "
	       "/etc/sysfs.conf). To limit it to a group, use chgrp and g+r instead";
}

/* Opens zone z as domain `name`, or notes why it cannot be read. */
static int add_zone(struct wp_host *host, const char *base, const struct zone *z,
                    const char *name, int *perm_denied)
{
	char zdir[4096], path[4096];
	uint64_t max_uj, raw;
	int fd, rc;

	snprintf(zdir, sizeof zdir, "%s/%s", base, z->dir);

	snprintf(path, sizeof path, "%s/max_energy_range_uj", zdir);
	rc = wp__read_u64(path, &max_uj);
	if (rc == 0 && max_uj == 0)
		rc = WP_ERANGE;
	if (rc < 0)
		return wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, rc, path,
		                     "check the kernel's RAPL driver; wattprof cannot handle "
		                     "counter wraps without this file",
		                     "zone '%s' (%s) skipped: cannot read its wrap range: %s",
		                     z->dir, z->zname, wp_strerror(rc));

	snprintf(path, sizeof path, "%s/energy_uj", zdir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	rc = fd < 0 ? -errno : wp__pread_u64(fd, &raw);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		if (rc == -EACCES || rc == -EPERM)
			*perm_denied = 1;
		return wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, rc, path,
		                     rc == -EACCES || rc == -EPERM ? perm_fix()
		                                                   : NULL,
		                     "zone '%s' (%s) skipped: cannot read '%s': %s", z->dir,
		                     z->zname, path, wp_strerror(rc));
	}

	double peak = declared_power_w(zdir) * PEAK_MARGIN;
	if (peak <= 0)
		peak = DEFAULT_PEAK_W;
	struct wp_domain_info info = {
		.name = name,
		.source = SOURCE,
		.path = path,
		.unit = "J",
		.kind = z->kind,
		.socket = z->kind == WP_KIND_PSYS ? -1 : z->socket,
		.die = z->kind == WP_KIND_PSYS ? -1 : z->die,
		.estimated = 0,
		.counter_max = max_uj,
		.joules_per_count = 1e-6,
		.peak_power_w = peak,
	};
	return wp__host_add_domain(host, &wp__sensor_powercap, &info, fd);
}

/* Is `dir` a zone of control type `type` ("intel-rapl:0", not "intel-rapl")? */
static int is_zone_of(const char *dir, const char *type)
{
	size_t n = strlen(type);
	return strncmp(dir, type, n) == 0 && dir[n] == ':';
}

static int probe(struct wp_host *host)
{
	char base[4096], path[4096];
	struct zone *zones = NULL;
	size_t nzones = 0, cap = 0;
	int rc = 0, perm_denied = 0;
	DIR *dir;
	struct dirent *e;

	snprintf(base, sizeof base, "%s/class/powercap", host->sysfs_root);
	dir = opendir(base);
	if (!dir) {
		int err = -errno;
		return wp__host_note(
			host, SOURCE, WP_NOTE_UNAVAILABLE, err, base,
			err == -ENOENT
				? NO_DRIVER_FIX
				: NULL,
			"cannot open '%s': %s", base, wp_strerror(err));
	}
	while ((e = readdir(dir))) {
		int mmio = is_zone_of(e->d_name, "intel-rapl-mmio");
		if (!mmio && !is_zone_of(e->d_name, "intel-rapl"))
			continue;
		if (strlen(e->d_name) >= sizeof zones->dir)
			continue;
		rc = wp__grow((void **)&zones, &cap, nzones + 1, sizeof *zones);
		if (rc < 0)
			goto out;
		struct zone *z = &zones[nzones++];
		memset(z, 0, sizeof *z);
		strcpy(z->dir, e->d_name);
		z->mmio = mmio;
		snprintf(path, sizeof path, "%s/%s/name", base, z->dir);
		z->name_err = wp__read_line(path, z->zname, sizeof z->zname);
		z->kind = z->name_err ? WP_KIND_OTHER : kind_of(z->zname);
		z->socket = package_index(z->zname, &z->die);
	}
	if (nzones > 1)
		qsort(zones, nzones, sizeof *zones, zone_order);

	/* Sub-zones take their socket from the parent zone's name. */
	for (size_t i = 0; i < nzones; i++) {
		struct zone *z = &zones[i];
		char parent[64];
		strcpy(parent, z->dir);
		char *colon = strrchr(parent, ':');
		if (z->kind == WP_KIND_PACKAGE || z->kind == WP_KIND_PSYS || !colon)
			continue;
		*colon = '\0';
		const struct zone *p = find_zone(zones, nzones, parent);
		if (p && p->kind == WP_KIND_PACKAGE) {
			z->socket = p->socket;
			z->die = p->die;
		}
	}

	size_t added_before = host->domain_count;
	for (size_t i = 0; i < nzones && rc == 0; i++) {
		const struct zone *z = &zones[i];
		char name[32];
		size_t dup;

		snprintf(path, sizeof path, "%s/%s", base, z->dir);
		if (z->name_err) {
			rc = wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, z->name_err, path, NULL,
			                   "zone '%s' skipped: cannot read its name: %s", z->dir,
			                   wp_strerror(z->name_err));
			continue;
		}
		if (z->kind == WP_KIND_OTHER) {
			rc = wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, 0, path, NULL,
			                   "zone '%s' skipped: unknown zone name '%s'", z->dir,
			                   z->zname);
			continue;
		}
		if (z->kind != WP_KIND_PSYS && z->socket < 0) {
			rc = wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, 0, path, NULL,
			                   "zone '%s' (%s) skipped: it lies under no package zone, "
			                   "so its socket is unknown",
			                   z->dir, z->zname);
			continue;
		}
		wp__rapl_domain_name(name, sizeof name, z->kind, z->socket, z->die);
		if (wp_host_find_domain(host, name, &dup) == 0 &&
		    host->domains[dup].ops == &wp__sensor_powercap) {
			rc = wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, 0, path, NULL,
			                   "zone '%s' skipped: it duplicates %s, read from '%s'",
			                   z->dir, name, host->domains[dup].path);
			continue;
		}
		rc = add_zone(host, base, z, name, &perm_denied);
	}
	if (rc < 0)
		goto out;

	size_t added = host->domain_count - added_before;
	if (added > 0)
		rc = wp__host_note(host, SOURCE, WP_NOTE_FOUND, 0, base, NULL,
		                   "%zu domain%s from %zu zone%s", added, added == 1 ? "" : "s",
		                   nzones, nzones == 1 ? "" : "s");
	else if (nzones == 0)
		rc = wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, WP_ENOSOURCE, base,
		                   NO_DRIVER_FIX,
		                   "no RAPL zone under '%s'", base);
	else
		rc = wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE,
		                   perm_denied ? -EACCES : WP_ENOSOURCE, base,
		                   perm_denied ? perm_fix() : NULL,
		                   "%zu RAPL zone%s found but none could be read%s", nzones,
		                   nzones == 1 ? "" : "s",
		                   perm_denied ? ": permission denied" : "");
out:
	free(zones);
	closedir(dir);
	return rc;
}

static int read_counter(const struct wp__domain *d, uint64_t *raw)
{
	return wp__pread_u64(d->fd, raw);
}

const struct wp_sensor_ops wp__sensor_powercap = {
	.version = 2,
	.name = SOURCE,
	.probe = probe,
	.read = read_counter,
};
