/*
 * estimate.c - CPU energy estimated from utilisation, for machines with no
 * energy counter at all (VMs, containers, CI runners).
 *
 * Model, per socket (docs/ESTIMATE.md gives its known error):
 *
 *     P(t) = TDP x (IDLE_FRACTION + (1 - IDLE_FRACTION) x u(t))
 *
 * where u is the share of the socket's logical CPUs that were busy.  Its
 * integral is kept in closed form, so no sampling is needed for accuracy:
 *
 *     E(t) = TDP x IDLE_FRACTION x (t - t0)
 *          + TDP x (1 - IDLE_FRACTION) x busy_seconds(t) / cpus
 *
 * busy_seconds comes from the per-CPU lines of /proc/stat (proc(5)): user +
 * nice + system + irq + softirq, in USER_HZ ticks.  iowait and idle are idle;
 * steal is time the hypervisor gave to someone else, so not ours; guest time
 * is already inside user.  Each CPU's ticks are accumulated as deltas, so a
 * CPU going offline (its line vanishes) takes nothing back.
 *
 * The TDP per socket comes from, in order: the caller (wp_options.tdp_w,
 * $WATTPROF_TDP_W, `--tdp`), the table below keyed by the model name in
 * /proc/cpuinfo, or PER_CORE_W per physical core of the socket.
 *
 * Every domain it gives is marked estimated; host.c probes it only when no
 * real source gives anything, or when asked for by name.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/internal.h"

#define SOURCE "estimate"

extern const struct wp_sensor_ops wp__sensor_estimate;

/*
 * Share of the TDP drawn when idle.  SPECpower-derived figures per vCPU, as
 * Cloud Carbon Footprint tabulates them (ccf-coefficients: min/max watts of
 * 0.64/4.05 for Skylake, 0.64/3.80 for Cascade Lake, 0.71/3.54 for
 * Broadwell, 0.45/1.87 for EPYC Milan), put idle at 16% to 24% of full load;
 * 20% is their middle.
 */
#define IDLE_FRACTION 0.20
/*
 * TDP per physical core when the model is unknown: the median of the table
 * below (Xeon 8380: 270 W / 40 cores = 6.8; EPYC 7763: 280 / 64 = 4.4;
 * i7-1165G7: 28 / 4 = 7; E5-2680 v4: 120 / 14 = 8.6; i7-12700: 65 / 12 =
 * 5.4) is about 6 W.
 */
#define PER_CORE_W 6.0

/*
 * Thermal design power per socket, from the vendors' specification pages
 * (Intel ARK, ark.intel.com; AMD's product pages, amd.com/en/products),
 * matched against /proc/cpuinfo's "model name" as a whole word sequence.
 * Longer keys first where one is a prefix of another.
 */
static const struct tdp_row {
	const char *key;
	double tdp_w;
} TDP_TABLE[] = {
	/* Intel Xeon Scalable: Skylake-SP, Cascade Lake, Ice Lake, Sapphire
	 * and Emerald Rapids */
	{ "Platinum 8592+", 350 },
	{ "Platinum 8480+", 350 },
	{ "Platinum 8470", 350 },
	{ "Gold 6430", 270 },
	{ "Platinum 8380", 270 },
	{ "Platinum 8358", 250 },
	{ "Gold 6338", 205 },
	{ "Platinum 8280", 205 },
	{ "Platinum 8260", 165 },
	{ "Gold 6248", 150 },
	{ "Gold 6230", 125 },
	{ "Gold 5218", 125 },
	{ "Silver 4214", 85 },
	{ "Silver 4210", 85 },
	{ "Platinum 8180", 205 },
	{ "Gold 6148", 150 },
	{ "Gold 6130", 125 },
	/* Intel Xeon E5 v3/v4 */
	{ "E5-2699 v4", 145 },
	{ "E5-2690 v4", 135 },
	{ "E5-2680 v4", 120 },
	{ "E5-2650 v4", 105 },
	{ "E5-2630 v4", 85 },
	{ "E5-2699 v3", 145 },
	{ "E5-2680 v3", 120 },
	{ "E5-2670 v3", 120 },
	{ "E5-2660 v3", 105 },
	/* AMD EPYC: Naples, Rome, Milan, Genoa */
	{ "EPYC 7601", 180 },
	{ "EPYC 7551", 180 },
	{ "EPYC 7742", 225 },
	{ "EPYC 7702", 200 },
	{ "EPYC 7402", 180 },
	{ "EPYC 7302", 155 },
	{ "EPYC 7282", 120 },
	{ "EPYC 7763", 280 },
	{ "EPYC 7713", 225 },
	{ "EPYC 7543", 225 },
	{ "EPYC 7513", 200 },
	{ "EPYC 7453", 225 },
	{ "EPYC 7313", 155 },
	{ "EPYC 9654", 360 },
	{ "EPYC 9554", 360 },
	{ "EPYC 9454", 290 },
	{ "EPYC 9354", 280 },
	{ "EPYC 9124", 200 },
	/* Desktops and laptops */
	{ "i9-13900K", 125 },
	{ "i7-13700K", 125 },
	{ "i9-12900K", 125 },
	{ "i7-12700K", 125 },
	{ "i5-12600K", 125 },
	{ "i7-12700", 65 },
	{ "i5-12400", 65 },
	{ "i9-9900K", 95 },
	{ "i7-8700K", 95 },
	{ "i7-8700", 65 },
	{ "i7-10700", 65 },
	{ "i5-10400", 65 },
	{ "i7-1165G7", 28 },
	{ "i7-1185G7", 28 },
	{ "i5-1135G7", 28 },
	{ "i7-1260P", 28 },
	{ "i7-1280P", 28 },
	{ "i7-10510U", 15 },
	{ "i7-8650U", 15 },
	{ "i7-8550U", 15 },
	{ "i5-8250U", 15 },
	{ "Ryzen 9 7950X", 170 },
	{ "Ryzen 7 7700X", 105 },
	{ "Ryzen 9 5950X", 105 },
	{ "Ryzen 9 5900X", 105 },
	{ "Ryzen 7 5800X", 105 },
	{ "Ryzen 5 5600X", 65 },
	{ "Threadripper 3990X", 280 },
	{ "Threadripper PRO 5995WX", 280 },
};

static int word_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '+' || c == '-';
}

/* The table's TDP for a model name, or 0.  *key names the row matched. */
static double table_tdp(const char *model_name, const char **key)
{
	for (size_t i = 0; i < sizeof TDP_TABLE / sizeof *TDP_TABLE; i++) {
		const char *k = TDP_TABLE[i].key;
		size_t n = strlen(k);
		for (const char *p = strstr(model_name, k); p; p = strstr(p + 1, k)) {
			if ((p == model_name || !word_char(p[-1])) && !word_char(p[n])) {
				*key = k;
				return TDP_TABLE[i].tdp_w;
			}
		}
	}
	return 0;
}

/* One socket's state: its CPUs and their busy ticks seen so far. */
struct est {
	pthread_mutex_t lock;
	char *stat_path;
	double tdp_w;
	uint64_t t0_ns;
	double ticks_per_s;
	size_t ncpu;
	int *cpus;
	uint64_t *last_busy; /* per CPU; UINT64_MAX before the first read */
	uint64_t busy_ticks; /* accumulated over every CPU */
};

static void est_free(struct est *e)
{
	if (!e)
		return;
	pthread_mutex_destroy(&e->lock);
	free(e->stat_path);
	free(e->cpus);
	free(e->last_busy);
	free(e);
}

/*
 * Reads /proc/stat and hands each "cpuN" line's busy ticks to `e`.  Returns
 * 0, a negative errno, or WP_EPARSE when none of the socket's CPUs appears.
 */
static int read_stat(struct est *e)
{
	char buf[1 << 16];
	size_t len = 0;
	ssize_t n;
	int fd = open(e->stat_path, O_RDONLY | O_CLOEXEC), seen = 0;

	if (fd < 0)
		return -errno;
	while (len < sizeof buf - 1 &&
	       ((n = read(fd, buf + len, sizeof buf - 1 - len)) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0)
			len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	for (char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		unsigned long long v[8] = { 0 };
		int cpu, got;
		if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9')
			continue;
		got = sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1],
		             &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
		if (got < 8)
			continue; /* user nice system idle iowait irq softirq at least */
		/* user + nice + system + irq + softirq */
		uint64_t busy = v[0] + v[1] + v[2] + v[5] + v[6];
		for (size_t i = 0; i < e->ncpu; i++) {
			if (e->cpus[i] != cpu)
				continue;
			seen = 1;
			if (e->last_busy[i] != UINT64_MAX && busy >= e->last_busy[i])
				e->busy_ticks += busy - e->last_busy[i];
			e->last_busy[i] = busy;
		}
	}
	return seen ? 0 : WP_EPARSE;
}

static int read_energy(const struct wp__domain *d, uint64_t *raw)
{
	struct est *e = d->priv;
	int rc;

	pthread_mutex_lock(&e->lock);
	rc = read_stat(e);
	if (rc == 0) {
		uint64_t now = wp_now_ns();
		double j = e->tdp_w * IDLE_FRACTION * (double)(now - e->t0_ns) / 1e9 +
		           e->tdp_w * (1 - IDLE_FRACTION) * (double)e->busy_ticks /
		                   e->ticks_per_s / (double)e->ncpu;
		*raw = (uint64_t)(j * 1e6);
	}
	pthread_mutex_unlock(&e->lock);
	return rc;
}

/* Distinct core ids among a socket's CPUs: its physical cores. */
static size_t count_cores(const int *core_of, size_t n)
{
	size_t cores = 0;
	for (size_t i = 0; i < n; i++) {
		int dup = 0;
		for (size_t k = 0; k < i && core_of[i] >= 0; k++)
			dup |= core_of[k] == core_of[i];
		cores += !dup;
	}
	return cores;
}

/*
 * The CPUs of every socket: the online CPUs and their topology; where sysfs
 * has no topology (some containers), one socket with every CPU /proc/stat
 * lists.
 */
struct cpu_place {
	int cpu, package, core;
};

static int list_cpus(struct wp_host *host, const char *stat_path, struct cpu_place **out,
                     size_t *count)
{
	int *cpus = NULL;
	int n = wp__online_cpus(host, &cpus);
	struct cpu_place *p;

	if (n <= 0) {
		/* No sysfs: take the cpuN lines of /proc/stat. */
		char line[512];
		FILE *f = fopen(stat_path, "re");
		size_t cap = 0;
		n = 0;
		free(cpus);
		cpus = NULL;
		if (!f)
			return -errno;
		while (fgets(line, sizeof line, f)) {
			int c;
			/* "cpuN ...", not the "cpu  ..." sum line */
			if (line[3] >= '0' && line[3] <= '9' && sscanf(line, "cpu%d ", &c) == 1 &&
			    c >= 0) {
				if (wp__grow((void **)&cpus, &cap, (size_t)n + 1, sizeof *cpus) < 0) {
					fclose(f);
					free(cpus);
					return -ENOMEM;
				}
				cpus[n++] = c;
			}
		}
		fclose(f);
		if (n == 0)
			return WP_EPARSE;
	}
	p = calloc((size_t)n, sizeof *p);
	if (!p) {
		free(cpus);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		int die;
		p[i].cpu = cpus[i];
		if (wp__cpu_topology(host, cpus[i], &p[i].package, &die, &p[i].core) < 0) {
			p[i].package = 0;
			p[i].core = cpus[i]; /* every CPU its own core */
		}
		if (p[i].core < 0)
			p[i].core = cpus[i];
	}
	free(cpus);
	*out = p;
	*count = (size_t)n;
	return 0;
}

static int add_socket(struct wp_host *host, const struct cpu_place *all, size_t n, int pkg,
                      const char *stat_path, double tdp_w, double ticks_per_s)
{
	struct est *e = calloc(1, sizeof *e);
	char name[32];
	int rc;

	if (!e)
		return -ENOMEM;
	pthread_mutex_init(&e->lock, NULL);
	e->cpus = calloc(n, sizeof *e->cpus);
	e->last_busy = calloc(n, sizeof *e->last_busy);
	e->stat_path = strdup(stat_path);
	if (!e->cpus || !e->last_busy || !e->stat_path) {
		est_free(e);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (all[i].package == pkg) {
			e->last_busy[e->ncpu] = UINT64_MAX;
			e->cpus[e->ncpu++] = all[i].cpu;
		}
	}
	e->tdp_w = tdp_w;
	e->ticks_per_s = ticks_per_s;
	e->t0_ns = wp_now_ns();
	rc = read_stat(e); /* the baseline: busy time before now is not ours */
	if (rc < 0) {
		est_free(e);
		return wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, rc, stat_path, NULL,
		                     "socket %d skipped: its CPUs cannot be read in '%s': %s", pkg,
		                     stat_path, wp_strerror(rc));
	}
	snprintf(name, sizeof name, "package_%d", pkg);
	struct wp_domain_info info = {
		.name = name,
		.source = SOURCE,
		.path = stat_path,
		.unit = "J",
		.kind = WP_KIND_PACKAGE,
		.socket = pkg,
		.die = -1,
		.estimated = 1,
		.counter_max = UINT64_MAX,
		.joules_per_count = 1e-6,
		.peak_power_w = tdp_w,
	};
	rc = wp__host_add_domain_priv(host, &wp__sensor_estimate, &info, -1, e);
	if (rc < 0)
		est_free(e);
	return rc;
}

static int probe(struct wp_host *host)
{
	char stat_path[PATH_MAX];
	struct wp__cpuid id;
	struct cpu_place *cpus = NULL;
	size_t n = 0;
	int rc, sockets = 0, max_pkg = -1;
	const char *key = NULL;
	long hz = sysconf(_SC_CLK_TCK);

	snprintf(stat_path, sizeof stat_path, "%s/stat", host->proc_root);
	rc = list_cpus(host, stat_path, &cpus, &n);
	if (rc < 0)
		return rc == -ENOMEM ? rc
		                     : wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, rc,
		                                     stat_path,
		                                     "mount /proc (the estimate reads CPU time "
		                                     "from /proc/stat)",
		                                     "cannot list the CPUs from '%s': %s",
		                                     stat_path, wp_strerror(rc));
	if (wp__read_cpuid(host, &id) < 0)
		snprintf(id.model_name, sizeof id.model_name, "%s", "");
	for (size_t i = 0; i < n; i++)
		if (cpus[i].package > max_pkg)
			max_pkg = cpus[i].package;

	for (int pkg = 0; pkg <= max_pkg && rc >= 0; pkg++) {
		int core_of[4096];
		size_t k = 0;
		for (size_t i = 0; i < n && k < sizeof core_of / sizeof *core_of; i++)
			if (cpus[i].package == pkg)
				core_of[k++] = cpus[i].core;
		if (k == 0)
			continue;
		double tdp = host->tdp_w;
		const char *how = "given";
		if (tdp <= 0 && (tdp = table_tdp(id.model_name, &key)) > 0)
			how = "from the table";
		if (tdp <= 0) {
			tdp = PER_CORE_W * (double)count_cores(core_of, k);
			how = "per core";
		}
		size_t before = host->domain_count;
		rc = add_socket(host, cpus, n, pkg, stat_path, tdp, hz > 0 ? (double)hz : 100.0);
		if (rc < 0)
			break;
		if (host->domain_count == before)
			continue; /* skipped, with a note */
		sockets++;
		if (host->tdp_w > 0)
			rc = wp__host_note(host, SOURCE, WP_NOTE_FOUND, 0, stat_path, NULL,
			                   "package_%d estimated from CPU time: TDP %.0f W (given)",
			                   pkg, tdp);
		else if (key)
			rc = wp__host_note(host, SOURCE, WP_NOTE_FOUND, 0, stat_path,
			                   "give the real TDP with --tdp W (or WATTPROF_TDP_W) if "
			                   "the table is wrong for this part",
			                   "package_%d estimated from CPU time: TDP %.0f W %s "
			                   "('%s' in '%s')",
			                   pkg, tdp, how, key, id.model_name);
		else
			rc = wp__host_note(host, SOURCE, WP_NOTE_FOUND, 0, stat_path,
			                   "give the CPU's TDP with --tdp W (or WATTPROF_TDP_W): "
			                   "the per-core figure can be off by a factor of two",
			                   "package_%d estimated from CPU time: TDP %.0f W, %.0f W "
			                   "per core for %zu core%s (model '%s' is not in the table)",
			                   pkg, tdp, PER_CORE_W, count_cores(core_of, k),
			                   count_cores(core_of, k) == 1 ? "" : "s",
			                   id.model_name[0] ? id.model_name : "unknown");
	}
	free(cpus);
	if (rc >= 0 && sockets == 0)
		rc = wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, WP_ENOSOURCE, stat_path, NULL,
		                   "no CPU could be estimated");
	return rc < 0 ? rc : 0;
}

static void release(struct wp__domain *d)
{
	est_free(d->priv);
	d->priv = NULL;
}

const struct wp_sensor_ops wp__sensor_estimate = {
	.version = 2,
	.name = SOURCE,
	.probe = probe,
	.read = read_energy,
	.release = release,
	.flags = WP__SENSOR_FALLBACK,
};
