/*
 * host.c - what a machine offers: runs every source's probe in the order of
 * the sensor table, keeps the domains they find (sorted so that users see
 * package_0, package_1, core_0, ... dram_0, psys) and the notes that say
 * what each source found, skipped or missed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int wp__host_add_domain(struct wp_host *host, const struct wp_sensor_ops *ops,
                        const struct wp_domain_info *info, int fd)
{
	if (wp__grow((void **)&host->domains, &host->domain_cap, host->domain_count + 1,
	             sizeof *host->domains) < 0)
		goto oom;
	struct wp__domain *d = &host->domains[host->domain_count];
	memset(d, 0, sizeof *d);
	d->name = strdup(info->name);
	d->path = strdup(info->path ? info->path : "");
	if (!d->name || !d->path) {
		free(d->name);
		free(d->path);
		goto oom;
	}
	d->info = *info;
	d->info.name = d->name;
	d->info.path = d->path;
	d->ops = ops;
	d->fd = fd;
	host->domain_count++;
	return 0;
oom:
	if (fd >= 0)
		close(fd);
	return -ENOMEM;
}

int wp__host_note(struct wp_host *host, const char *source, enum wp_note_level level,
                  int error, const char *path, const char *fix, const char *fmt, ...)
{
	if (wp__grow((void **)&host->notes, &host->note_cap, host->note_count + 1,
	             sizeof *host->notes) < 0)
		return -ENOMEM;
	struct wp_source_note *n = &host->notes[host->note_count];
	char *msg;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	n->source = source; /* static: a sensor's name */
	n->level = level;
	n->error = error;
	n->message = msg;
	n->path = path ? strdup(path) : NULL;
	n->fix = fix ? strdup(fix) : NULL;
	if (!msg || (path && !n->path) || (fix && !n->fix)) {
		free(msg);
		free((char *)n->path);
		free((char *)n->fix);
		return -ENOMEM;
	}
	host->note_count++;
	return 0;
}

static int domain_order(const void *pa, const void *pb)
{
	const struct wp__domain *a = pa, *b = pb;
	if (a->info.kind != b->info.kind)
		return (int)a->info.kind - (int)b->info.kind;
	if (a->info.socket != b->info.socket)
		return a->info.socket - b->info.socket;
	if (a->info.die != b->info.die)
		return a->info.die - b->info.die;
	return strcmp(a->name, b->name);
}

int wp_host_open(struct wp_host **out, const struct wp_options *opts)
{
	const char *root = opts && opts->version >= 1 ? opts->sysfs_root : NULL;
	struct wp_host *host;
	int rc = 0;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!root || !*root)
		root = getenv("WATTPROF_SYSFS_ROOT");
	if (!root || !*root)
		root = "/sys";
	if (strlen(root) > WP__ROOT_MAX)
		return -ENAMETOOLONG;
	host = calloc(1, sizeof *host);
	if (!host)
		return -ENOMEM;
	host->sysfs_root = strdup(root);
	if (!host->sysfs_root) {
		free(host);
		return -ENOMEM;
	}
	for (size_t i = 0; wp__sensors[i]; i++) {
		rc = wp__sensors[i]->probe(host);
		if (rc < 0) {
			wp_host_close(host);
			return rc;
		}
	}
	if (host->domain_count > 1)
		qsort(host->domains, host->domain_count, sizeof *host->domains, domain_order);
	*out = host;
	return 0;
}

void wp_host_close(struct wp_host *host)
{
	if (!host)
		return;
	for (size_t i = 0; i < host->domain_count; i++) {
		struct wp__domain *d = &host->domains[i];
		if (d->ops->release)
			d->ops->release(d);
		free(d->name);
		free(d->path);
	}
	for (size_t i = 0; i < host->note_count; i++) {
		free((char *)host->notes[i].message);
		free((char *)host->notes[i].path);
		free((char *)host->notes[i].fix);
	}
	free(host->domains);
	free(host->notes);
	free(host->sysfs_root);
	free(host);
}

size_t wp_host_domain_count(const struct wp_host *host)
{
	return host ? host->domain_count : 0;
}

const struct wp_domain_info *wp_host_domain(const struct wp_host *host, size_t i)
{
	return host && i < host->domain_count ? &host->domains[i].info : NULL;
}

int wp_host_find_domain(const struct wp_host *host, const char *name, size_t *index)
{
	for (size_t i = 0; host && name && i < host->domain_count; i++) {
		if (strcmp(host->domains[i].name, name) == 0) {
			if (index)
				*index = i;
			return 0;
		}
	}
	return WP_ENODOMAIN;
}

size_t wp_host_note_count(const struct wp_host *host)
{
	return host ? host->note_count : 0;
}

const struct wp_source_note *wp_host_note(const struct wp_host *host, size_t i)
{
	return host && i < host->note_count ? &host->notes[i] : NULL;
}

const char *wp_host_sysfs_root(const struct wp_host *host)
{
	return host ? host->sysfs_root : NULL;
}

int wp_domain_contains(const struct wp_domain_info *outer, const struct wp_domain_info *inner)
{
	if (!outer || !inner || outer == inner)
		return 0;
	switch (outer->kind) {
	case WP_KIND_PSYS:
		/* Intel SDM vol. 3B, "Power and Thermal Management", RAPL
		 * section: PSys covers the SoC and the rest
		 * of the platform, so every RAPL domain lies inside it. */
		return inner->kind == WP_KIND_PACKAGE || inner->kind == WP_KIND_CORE ||
		       inner->kind == WP_KIND_UNCORE || inner->kind == WP_KIND_DRAM;
	case WP_KIND_PACKAGE:
		/* PP0 (cores) and PP1 (uncore) are parts of the package; DRAM
		 * is not. */
		return (inner->kind == WP_KIND_CORE || inner->kind == WP_KIND_UNCORE) &&
		       inner->socket == outer->socket && inner->die == outer->die;
	default:
		return 0;
	}
}
