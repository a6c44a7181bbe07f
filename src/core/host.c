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
#include <time.h>
#include <unistd.h>

#include "internal.h"

int wp__host_add_domain(struct wp_host *host, const struct wp_sensor_ops *ops,
                        const struct wp_domain_info *info, int fd)
{
	return wp__host_add_domain_priv(host, ops, info, fd, NULL);
}

/*
 * The shortest time in which a counter can wrap: counter_max + 1 counts at
 * peak power, in ns, kept within [1 ns, 2^62 ns] whatever the sensor read.
 */
static uint64_t min_wrap_ns(const struct wp_domain_info *info)
{
	double ns = ((double)info->counter_max + 1.0) * (info->joules_per_count * 1e9) /
	            info->peak_power_w;
	return !(ns >= 1) ? 1 : ns > 0x1p62 ? (uint64_t)1 << 62 : (uint64_t)ns;
}

int wp__host_add_domain_priv(struct wp_host *host, const struct wp_sensor_ops *ops,
                             const struct wp_domain_info *info, int fd, void *priv)
{
	if (wp__grow((void **)&host->domains, &host->domain_cap, host->domain_count + 1,
	             sizeof *host->domains) < 0)
		goto oom;
	struct wp__domain *d = &host->domains[host->domain_count];
	memset(d, 0, sizeof *d);
	d->name = strdup(info->name);
	d->path = strdup(info->path ? info->path : "");
	d->device_name = info->device_name ? strdup(info->device_name) : NULL;
	d->device_id = info->device_id ? strdup(info->device_id) : NULL;
	if (!d->name || !d->path || (info->device_name && !d->device_name) ||
	    (info->device_id && !d->device_id)) {
		free(d->name);
		free(d->path);
		free(d->device_name);
		free(d->device_id);
		goto oom;
	}
	d->info = *info;
	d->info.name = d->name;
	d->info.path = d->path;
	d->info.device_name = d->device_name;
	d->info.device_id = d->device_id;
	if (!d->info.method)
		d->info.method = info->estimated    ? WP_METHOD_ESTIMATE
		                 : info->integrated ? WP_METHOD_POWER_INSTANT
		                                    : WP_METHOD_COUNTER;
	d->info.min_wrap_ns = min_wrap_ns(info);
	d->ops = ops;
	d->fd = fd;
	d->priv = priv;
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
	return strverscmp(a->name, b->name); /* nvidia_gpu_2 before nvidia_gpu_10 */
}

/* The root option, else the environment variable, else the default. */
static int pick_root(char **out, const char *opt, const char *env, const char *def)
{
	const char *root = opt && *opt ? opt : getenv(env);
	if (!root || !*root)
		root = def;
	if (strlen(root) > WP__ROOT_MAX)
		return -ENAMETOOLONG;
	*out = strdup(root);
	return *out ? 0 : -ENOMEM;
}

const char *wp_source_name(size_t i)
{
	for (size_t k = 0; wp__sensors[k]; k++)
		if (k == i)
			return wp__sensors[k]->name;
	return NULL;
}

static const struct wp_sensor_ops *sensor_named(const char *name, size_t len)
{
	for (size_t k = 0; wp__sensors[k]; k++)
		if (strlen(wp__sensors[k]->name) == len &&
		    strncmp(wp__sensors[k]->name, name, len) == 0)
			return wp__sensors[k];
	return NULL;
}

static int is_fallback(const struct wp_sensor_ops *ops)
{
	return ops->version >= 2 && (ops->flags & WP__SENSOR_FALLBACK);
}

/*
 * The sources to probe, in order of preference: those named in `list`, or
 * every non-fallback source of the table.  Returns the count or WP_ESOURCE.
 */
static int plan_sources(const char *list, const struct wp_sensor_ops **plan, size_t cap)
{
	size_t n = 0;

	if (!list || !*list) {
		for (size_t k = 0; wp__sensors[k] && n < cap; k++)
			if (!is_fallback(wp__sensors[k]))
				plan[n++] = wp__sensors[k];
		return (int)n;
	}
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");
		const struct wp_sensor_ops *ops = sensor_named(p, len);
		if (!ops)
			return WP_ESOURCE;
		int seen = 0;
		for (size_t i = 0; i < n; i++)
			seen |= plan[i] == ops;
		if (!seen && n < cap)
			plan[n++] = ops;
		p += len;
		if (*p == ',')
			p++;
	}
	return n ? (int)n : WP_ESOURCE;
}

/* Two sources of one domain: the kept one and the one dropped. */
struct dup {
	size_t keep, drop;
	uint64_t raw_keep[2], raw_drop[2];
	int ok;
};

/* Reads both counters of every pair; `at` is 0 for the first read, 1 for the second. */
static void read_pairs(struct wp_host *host, struct dup *dups, size_t n, int at)
{
	for (size_t i = 0; i < n; i++) {
		const struct wp__domain *k = &host->domains[dups[i].keep];
		const struct wp__domain *d = &host->domains[dups[i].drop];
		if (k->ops->read(k, &dups[i].raw_keep[at]) < 0 ||
		    d->ops->read(d, &dups[i].raw_drop[at]) < 0)
			dups[i].ok = 0;
	}
}

/* Less energy than this in the window says nothing about agreement. */
#define CROSSCHECK_MIN_J 0.005
#define CROSSCHECK_WINDOW_NS 20000000L
#define CROSSCHECK_TOLERANCE 0.05

static int crosscheck(struct wp_host *host, struct dup *dups, size_t n)
{
	struct timespec ts = { 0, CROSSCHECK_WINDOW_NS };
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		const struct wp_domain_info *k = &host->domains[dups[i].keep].info;
		const struct wp_domain_info *d = &host->domains[dups[i].drop].info;
		/* Only counters: an estimate or a power integral has no
		 * 20 ms truth to compare. */
		dups[i].ok = !k->estimated && !d->estimated && !k->integrated && !d->integrated;
	}
	read_pairs(host, dups, n, 0);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	read_pairs(host, dups, n, 1);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct wp_domain_info *k = &host->domains[dups[i].keep].info;
		const struct wp_domain_info *d = &host->domains[dups[i].drop].info;
		if (!dups[i].ok || dups[i].raw_keep[1] > k->counter_max ||
		    dups[i].raw_drop[1] > d->counter_max)
			continue;
		double jk = (double)wp_counter_delta(dups[i].raw_keep[0], dups[i].raw_keep[1],
		                                     k->counter_max) * k->joules_per_count;
		double jd = (double)wp_counter_delta(dups[i].raw_drop[0], dups[i].raw_drop[1],
		                                     d->counter_max) * d->joules_per_count;
		double hi = jk > jd ? jk : jd;
		if (hi < CROSSCHECK_MIN_J)
			continue;
		double off = (jk > jd ? jk - jd : jd - jk) / hi;
		if (off > CROSSCHECK_TOLERANCE)
			rc = wp__host_note(
				host, k->source, WP_NOTE_WARNING, 0, k->path,
				"check both sources by hand ('wattprof list'); force one with "
				"--source (or the sources option) if you know which is right",
				"%s: %s and %s disagree by %.0f%% over the same %.0f ms "
				"(%.4g J against %.4g J); %s is used",
				k->name, k->source, d->source, off * 100,
				CROSSCHECK_WINDOW_NS / 1e6, jk, jd, k->source);
	}
	return rc;
}

static void release_domain(struct wp__domain *d)
{
	if (d->ops->release)
		d->ops->release(d);
	if (d->fd >= 0)
		close(d->fd);
	free(d->name);
	free(d->path);
	free(d->device_name);
	free(d->device_id);
}

/*
 * Keeps one domain per name: the first found, from the most preferred
 * source.  The others are cross-checked against it, then released.
 */
static int drop_duplicates(struct wp_host *host, unsigned flags)
{
	struct dup *dups = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	for (size_t i = 0; i < host->domain_count; i++) {
		for (size_t k = 0; k < i; k++) {
			/* The first k of this name is the one kept: it was
			 * found first, so it is never itself dropped. */
			if (strcmp(host->domains[k].name, host->domains[i].name) != 0)
				continue;
			if (wp__grow((void **)&dups, &cap, n + 1, sizeof *dups) < 0) {
				free(dups);
				return -ENOMEM;
			}
			dups[n++] = (struct dup){ .keep = k, .drop = i };
			break;
		}
	}
	if (n == 0)
		return 0;
	if (!(flags & WP_OPEN_NO_CROSSCHECK))
		rc = crosscheck(host, dups, n);
	for (size_t j = 0; j < n && rc == 0; j++) {
		const struct wp__domain *k = &host->domains[dups[j].keep];
		const struct wp__domain *d = &host->domains[dups[j].drop];
		rc = wp__host_note(host, d->info.source, WP_NOTE_SKIPPED, 0, d->path, NULL,
		                   "%s skipped: %s gives it too and is preferred", d->name,
		                   k->info.source);
	}
	/* Compact, releasing what was dropped. */
	size_t w = 0;
	for (size_t i = 0; i < host->domain_count; i++) {
		int drop = 0;
		for (size_t j = 0; j < n; j++)
			drop |= dups[j].drop == i;
		if (drop)
			release_domain(&host->domains[i]);
		else
			host->domains[w++] = host->domains[i];
	}
	host->domain_count = w;
	free(dups);
	return rc;
}

/* A note for every source left out, so that 'wattprof list' tells. */
static int note_left_out(struct wp_host *host, const struct wp_sensor_ops *const *plan,
                         size_t n, const char *list, int real_found)
{
	for (size_t k = 0; wp__sensors[k]; k++) {
		const struct wp_sensor_ops *ops = wp__sensors[k];
		int planned = 0, rc;
		for (size_t i = 0; i < n; i++)
			planned |= plan[i] == ops;
		if (planned)
			continue;
		if (list && *list)
			rc = wp__host_note(host, ops->name, WP_NOTE_UNAVAILABLE, WP_ENOSOURCE,
			                   NULL, NULL, "not tried: sources limited to '%s'", list);
		else if (is_fallback(ops) && real_found)
			rc = wp__host_note(host, ops->name, WP_NOTE_UNAVAILABLE, WP_ENOSOURCE,
			                   NULL, "ask for it with '--source estimate'",
			                   "not used: a real counter measures the processor here");
		else
			continue;
		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * Does a real domain measure the processor side: a RAPL domain, or a meter
 * of the whole machine?  GPUs do not, nor sensors of unknown coverage; a
 * GPU server without RAPL still gets the CPU estimate beside its GPUs.
 */
static int covers_cpu(const struct wp_host *host)
{
	for (size_t i = 0; i < host->domain_count; i++) {
		enum wp_domain_kind k = host->domains[i].info.kind;
		if (k != WP_KIND_GPU && k != WP_KIND_OTHER)
			return 1;
	}
	return 0;
}

static int parse_tdp(const struct wp_options *opts, double *tdp_w)
{
	const char *env = getenv("WATTPROF_TDP_W");
	double v = opts && opts->version >= 2 ? opts->tdp_w : 0;

	*tdp_w = 0;
	if (v == 0 && env && *env && wp__parse_double(env, &v) < 0)
		return -EINVAL;
	if (!(v >= 0 && v <= 100000))
		return -EINVAL;
	*tdp_w = v;
	return 0;
}

int wp_host_open(struct wp_host **out, const struct wp_options *opts)
{
	const struct wp_options none = { 0 };
	const struct wp_sensor_ops *plan[16];
	const char *list;
	struct wp_host *host;
	int rc = 0, n;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!opts)
		opts = &none;
	list = opts->version >= 2 ? opts->sources : NULL;
	if (!list || !*list)
		list = getenv("WATTPROF_SOURCE");
	n = plan_sources(list, plan, sizeof plan / sizeof *plan);
	if (n < 0)
		return n;
	host = calloc(1, sizeof *host);
	if (!host)
		return -ENOMEM;
	if ((rc = pick_root(&host->sysfs_root, opts->sysfs_root, "WATTPROF_SYSFS_ROOT",
	                    "/sys")) < 0 ||
	    (rc = pick_root(&host->proc_root, opts->version >= 2 ? opts->proc_root : NULL,
	                    "WATTPROF_PROC_ROOT", "/proc")) < 0 ||
	    (rc = pick_root(&host->dev_root, opts->version >= 2 ? opts->dev_root : NULL,
	                    "WATTPROF_DEV_ROOT", "/dev")) < 0 ||
	    (rc = parse_tdp(opts, &host->tdp_w)) < 0)
		goto fail;
	for (int i = 0; i < n; i++)
		if ((rc = plan[i]->probe(host)) < 0)
			goto fail;
	rc = drop_duplicates(host, opts->version >= 2 ? opts->flags : 0);
	if (rc < 0)
		goto fail;
	/* The estimate, only where nothing real measures the CPU side. */
	int cpu_found = covers_cpu(host);
	if ((!list || !*list) && !cpu_found) {
		for (size_t k = 0; wp__sensors[k]; k++) {
			if (is_fallback(wp__sensors[k])) {
				plan[n++] = wp__sensors[k];
				if ((rc = wp__sensors[k]->probe(host)) < 0)
					goto fail;
			}
		}
	}
	if ((rc = note_left_out(host, plan, (size_t)n, list, cpu_found)) < 0)
		goto fail;
	if (host->domain_count > 1)
		qsort(host->domains, host->domain_count, sizeof *host->domains, domain_order);
	*out = host;
	return 0;
fail:
	wp_host_close(host);
	return rc;
}

void wp_host_close(struct wp_host *host)
{
	if (!host)
		return;
	for (size_t i = 0; i < host->domain_count; i++)
		release_domain(&host->domains[i]);
	for (size_t i = 0; i < host->note_count; i++) {
		free((char *)host->notes[i].message);
		free((char *)host->notes[i].path);
		free((char *)host->notes[i].fix);
	}
	free(host->domains);
	free(host->notes);
	free(host->sysfs_root);
	free(host->proc_root);
	free(host->dev_root);
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

const char *wp_host_proc_root(const struct wp_host *host)
{
	return host ? host->proc_root : NULL;
}

const char *wp_host_dev_root(const struct wp_host *host)
{
	return host ? host->dev_root : NULL;
}

const char *wp_domain_kind_name(enum wp_domain_kind kind)
{
	static const char *const names[] = {
		[WP_KIND_PACKAGE] = "package", [WP_KIND_CORE] = "core",
		[WP_KIND_UNCORE] = "uncore",   [WP_KIND_DRAM] = "dram",
		[WP_KIND_PSYS] = "psys",       [WP_KIND_OTHER] = "other",
		[WP_KIND_SYSTEM] = "system",   [WP_KIND_GPU] = "gpu",
	};
	return (unsigned)kind < sizeof names / sizeof *names && names[kind] ? names[kind]
	                                                                    : "unknown";
}

void wp__rapl_domain_name(char *buf, size_t cap, enum wp_domain_kind kind, int socket, int die)
{
	static const char *const prefix[] = {
		[WP_KIND_PACKAGE] = "package", [WP_KIND_CORE] = "core",
		[WP_KIND_UNCORE] = "uncore",   [WP_KIND_DRAM] = "dram",
	};
	const char *pre = (unsigned)kind < sizeof prefix / sizeof *prefix && prefix[kind]
	                          ? prefix[kind]
	                          : "other";

	if (kind == WP_KIND_PSYS)
		snprintf(buf, cap, "psys");
	else if (die >= 0)
		snprintf(buf, cap, "%s_%d_die_%d", pre, socket, die);
	else
		snprintf(buf, cap, "%s_%d", pre, socket);
}

int wp_domain_contains(const struct wp_domain_info *outer, const struct wp_domain_info *inner)
{
	if (!outer || !inner || outer == inner)
		return 0;
	switch (outer->kind) {
	case WP_KIND_SYSTEM:
		/* A meter at the machine's power input sees everything inside. */
		return inner->kind != WP_KIND_SYSTEM;
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
