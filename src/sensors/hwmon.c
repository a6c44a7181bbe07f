/*
 * hwmon.c - energy counters and power meters of Linux's hwmon class.
 *
 * Layout read (kernel Documentation/hwmon/sysfs-interface.rst):
 *
 *   <root>/class/hwmon/hwmonN           a symlink into /sys/devices (a plain
 *                                       directory in fake trees)
 *     name                              the chip: "amd_energy", "power_meter"
 *     energyK_input   energyK_label     cumulative energy, microjoules
 *     powerK_average  powerK_label      average power, microwatts
 *     powerK_input                      instantaneous power, microwatts
 *     powerK_cap, powerK_max, powerK_crit   limits, microwatts
 *
 * Drivers registered the old way (hwmon_device_register() with the
 * attributes on the parent device, as acpi_power_meter.c still does) keep
 * `name` and every attribute under hwmonN/device/ instead; libsensors reads
 * both places, and so does this file: the chip's own directory when it holds
 * a meter, else device/.
 *
 * What becomes a domain:
 *
 *   amd_energy   (AMD's RAPL MSRs; Documentation/hwmon/amd_energy.rst)
 *                "Esocket<k>" -> package_<socket>, read as an energy counter.
 *                "Ecore<nnn>" counters lie inside their package and are left
 *                out with one note.
 *   power_meter  (ACPI 4.0 power meter; Documentation/hwmon/
 *                acpi_power_meter.rst) -> system, system_1, ...: the
 *                machine's input, of kind WP_KIND_SYSTEM.
 *   amdgpu       left to the amdgpu source (amdgpu.c), which knows the card
 *                behind the chip.
 *   radeon nouveau i915 xe    GPU chips too, left out: no source reads them
 *                yet, and counted as hwmon_* they would pass for sensors of
 *                unknown coverage when they are a GPU's.
 *   anything else with energy or power -> hwmon_<chip>_<label>, of kind
 *                WP_KIND_OTHER: shown, never added to a total, because what
 *                such a sensor covers is unknown.
 *
 * An energy counter is read as is.  A power reading becomes energy here:
 * every read of the domain pread()s the power file and feeds the reading to
 * a wp__integrator (trapezoidal rule) kept in the domain's priv; the
 * integral in microjoules is the domain's counter, and the domain says
 * `integrated`.  powerK_average is preferred to powerK_input: an average over
 * the meter's own interval misses less between two reads than a spot value.
 * Such an integral is only as good as its readings: the ACPI meter averages
 * over power1_average_interval (ms) and acpi_power_meter.c re-evaluates _PMM
 * at most once per the firmware's sampling time, so the figure lags the load
 * by about one interval and cannot see changes shorter than it; reading more
 * often than the meter updates adds nothing.
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

#define SOURCE "hwmon"

extern const struct wp_sensor_ops wp__sensor_hwmon;

/* GPU chips: not read here.  The amdgpu source reads amdgpu's, with its
 * own notion of the card; no source reads the others yet. */
static const char *const GPU_CHIPS[] = { "amdgpu", "radeon", "nouveau", "i915", "xe" };

/*
 * Chips that meter the whole machine.  Only the ACPI power meter is listed:
 * ACPI 4.0 chapter 10.4 meters (as Documentation/hwmon/acpi_power_meter.rst
 * cites them) sit at the platform's power input on the servers that have
 * one.  The driver's measures/ directory links the devices a meter covers;
 * it is not checked here.  BMC drivers such as ibmaem expose several banks
 * whose coverage differs from model to model (Documentation/hwmon/ibmaem.rst),
 * so they stay WP_KIND_OTHER until known.
 */
static const char *const SYSTEM_CHIPS[] = { "power_meter" };

/*
 * Assumed peak power when a channel declares no limit.  A socket: 1000 W, as
 * for powercap (above any CPU sold today).  Anything else may be a whole
 * server: 10 kW covers an 8-GPU machine.  Both only bound the wrap time and
 * the restart check; with 2^64 uJ counters neither is ever close.
 */
#define DEFAULT_PACKAGE_PEAK_W 1000.0
#define DEFAULT_OTHER_PEAK_W 10000.0

static const char NO_METER_FIX[] =
	"no loaded hwmon driver gives energy or power. Servers with an ACPI 4.0 power "
	"meter need 'modprobe acpi_power_meter'; AMD EPYC per-socket energy needs AMD's "
	"amd_energy module (https://github.com/amd/amd_energy; no longer in the kernel). "
	"Virtual machines rarely expose either";

static const char PERM_FIX_GENERIC[] =
	"run as root, or grant read access to the meter files: until the next reboot, "
	"'sudo chmod o+r' on each file named above; for good, a udev rule "
	"'ACTION==\"add\", SUBSYSTEM==\"hwmon\", ATTRS{name}==\"<chip>\", "
	"RUN+=\"/bin/chmod o+r /sys%p/<file>\"' in /etc/udev/rules.d/70-wattprof-hwmon.rules. "
	"amd_energy makes its counters root-only on purpose (a power side channel, "
	"CVE-2020-12912), and some BMC and ACPI meters are root-only too";

struct chip {
	char dir[32];    /* "hwmon3" */
	char name[64];   /* contents of `name` */
	int name_err;
	const char *sub; /* "" or "device/": where the attributes are */
};

/* One energy or power channel of a chip. */
struct channel {
	int power;       /* 0: energyK_input; 1: powerK_* */
	unsigned index;  /* K */
	int has_average; /* powerK_average exists */
};

/* What the probe has seen so far, for the closing note. */
struct tally {
	size_t chips;       /* hwmon chips looked at */
	size_t meter_chips; /* of which had energy or power (GPU chips aside) */
	size_t sensors;     /* their channels */
	size_t gpu_chips;   /* GPU chips with energy or power, left out */
	size_t added, integrated;
	size_t systems;     /* system domains named so far */
	int perm_denied;
};

static int chip_order(const void *pa, const void *pb)
{
	const struct chip *a = pa, *b = pb;
	return strverscmp(a->dir, b->dir);
}

static int channel_order(const void *pa, const void *pb)
{
	const struct channel *a = pa, *b = pb;
	if (a->power != b->power)
		return a->power - b->power;
	return a->index < b->index ? -1 : a->index > b->index;
}

static int in_list(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, list[i]) == 0)
			return 1;
	return 0;
}

/* "<type><K><item>" -> K; -1 when `file` is not of that form. */
static long attr_index(const char *file, const char *type, const char *item)
{
	size_t t = strlen(type), i = strlen(item), n = strlen(file);
	uint64_t k;

	if (n <= t + i || strncmp(file, type, t) != 0 || strcmp(file + n - i, item) != 0)
		return -1;
	if (wp__parse_u64(file + t, n - t - i, &k) < 0 || k > 100000)
		return -1;
	return (long)k;
}

static int add_channel_rec(struct channel **ch, size_t *n, size_t *cap, int power,
                           unsigned index, int average)
{
	for (size_t i = 0; i < *n; i++) {
		if ((*ch)[i].power == power && (*ch)[i].index == index) {
			(*ch)[i].has_average |= average;
			return 0;
		}
	}
	if (wp__grow((void **)ch, cap, *n + 1, sizeof **ch) < 0)
		return -ENOMEM;
	(*ch)[(*n)++] = (struct channel){ .power = power, .index = index, .has_average = average };
	return 0;
}

/*
 * The energy and power channels in directory `dir`, sorted (energy first,
 * then by index).  Returns the count (0 when the directory cannot be read)
 * or -ENOMEM.
 */
static int list_channels(const char *dir, struct channel **out)
{
	struct channel *ch = NULL;
	size_t n = 0, cap = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	*out = NULL;
	if (!d)
		return 0;
	while (rc == 0 && (e = readdir(d))) {
		long k;
		if ((k = attr_index(e->d_name, "energy", "_input")) >= 0)
			rc = add_channel_rec(&ch, &n, &cap, 0, (unsigned)k, 0);
		else if ((k = attr_index(e->d_name, "power", "_average")) >= 0)
			rc = add_channel_rec(&ch, &n, &cap, 1, (unsigned)k, 1);
		else if ((k = attr_index(e->d_name, "power", "_input")) >= 0)
			rc = add_channel_rec(&ch, &n, &cap, 1, (unsigned)k, 0);
	}
	closedir(d);
	if (rc < 0) {
		free(ch);
		return rc;
	}
	if (n > 1)
		qsort(ch, n, sizeof *ch, channel_order);
	*out = ch;
	return (int)n;
}

/*
 * The socket whose package counter amd_energy shows as "Esocket<k>".  The
 * driver reads the package MSR on the first online CPU of NUMA node k
 * (cpumask_of_node() in amd_energy.c, in-kernel and AMD's current module
 * alike), so k is a socket only with one node per socket.  Node k's CPUs are
 * in <sysfs>/devices/system/node/node<k>/cpulist (Documentation/ABI/stable/
 * sysfs-devices-node); that CPU's physical_package_id is the socket.  Where
 * the node or topology files are missing, node k is taken for socket k.
 * Returns 0, or -ENODEV when node k has no online CPU (the driver then reads
 * nothing sensible), or -ENOMEM.
 */
static int node_socket(const struct wp_host *host, int node, int *socket)
{
	char path[4096], buf[4096];
	int *cpus = NULL, *online = NULL, n, non, cpu = -1, die, core, rc;

	*socket = node;
	snprintf(path, sizeof path, "%s/devices/system/node/node%d/cpulist", host->sysfs_root,
	         node);
	if (wp__read_line(path, buf, sizeof buf) < 0)
		return 0;
	n = wp__parse_cpulist(buf, &cpus);
	if (n == -ENOMEM)
		return -ENOMEM;
	if (n < 0)
		return 0;
	non = wp__online_cpus(host, &online);
	for (int i = 0; i < n && cpu < 0; i++) {
		int on = non < 0; /* without the online list, take the first */
		for (int j = 0; j < non && !on; j++)
			on = online[j] == cpus[i];
		if (on)
			cpu = cpus[i];
	}
	free(cpus);
	free(online);
	if (cpu < 0)
		return -ENODEV;
	rc = wp__cpu_topology(host, cpu, socket, &die, &core);
	if (rc < 0)
		*socket = node;
	return 0;
}

/* "hwmon_ina3221_vdd_in": lower case, anything but [a-z0-9] becomes '_'. */
static void other_name(char *buf, size_t cap, const char *chip, const char *what)
{
	snprintf(buf, cap, "hwmon_%s_%s", chip, what);
	for (char *p = buf; *p; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
		else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			*p = '_';
	}
}

/* Largest declared limit of power channel k, in W; 0 when none. */
static double declared_power_w(const char *dir, unsigned k)
{
	static const char *const items[] = { "cap", "max", "crit" };
	char path[4096];
	double best = 0;
	uint64_t uw;

	for (size_t i = 0; i < sizeof items / sizeof *items; i++) {
		snprintf(path, sizeof path, "%s/power%u_%s", dir, k, items[i]);
		if (wp__read_u64(path, &uw) == 0 && uw / 1e6 > best)
			best = uw / 1e6;
	}
	return best;
}

/*
 * How often a power channel's reading changes, in ns: powerK_average_interval
 * (ms; Documentation/hwmon/sysfs-interface.rst) for an average; else 0,
 * unknown, and the sampler keeps the frequency it was asked for.
 */
static uint64_t update_interval_ns(const char *dir, const struct channel *ch)
{
	char path[4096];
	uint64_t ms;

	if (!ch->power || !ch->has_average)
		return 0;
	snprintf(path, sizeof path, "%s/power%u_average_interval", dir, ch->index);
	if (wp__read_u64(path, &ms) < 0 || ms == 0 || ms > 3600000)
		return 0;
	return ms * 1000000;
}

static int is_perm(int rc)
{
	return rc == -EACCES || rc == -EPERM;
}

/*
 * Opens one channel file and reads it once, or notes why it cannot be used
 * (*fd is then -1).  The fix for a refused file names the file itself.
 * Returns 0 or -ENOMEM.
 */
static int open_channel(struct wp_host *host, struct tally *t, const struct chip *c,
                        const char *path, const char *rel, const char *what, int *fd)
{
	uint64_t v;
	int rc;
	char fix[2048];

	*fd = open(path, O_RDONLY | O_CLOEXEC);
	rc = *fd < 0 ? -errno : wp__pread_u64(*fd, &v);
	if (rc == 0)
		return 0;
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	if (is_perm(rc)) {
		/* amd_energy.c: amd_energy_is_visible() returns 0440 for every
		 * counter; hwmon's own rule is world-readable
		 * (sysfs-interface.rst, "Attribute access"). */
		t->perm_denied = 1;
		snprintf(fix, sizeof fix,
		         "run as root, or grant read access: until the next reboot, "
		         "'sudo chmod o+r %s'; for good, the udev rule 'ACTION==\"add\", "
		         "SUBSYSTEM==\"hwmon\", ATTRS{name}==\"%s\", RUN+=\"/bin/chmod o+r "
		         "/sys%%p/%s\"' in /etc/udev/rules.d/70-wattprof-hwmon.rules. %s",
		         path, c->name, rel,
		         strcmp(c->name, "amd_energy") == 0
		                 ? "amd_energy makes its counters root-only on purpose (mode "
		                   "0440 against a power side channel, CVE-2020-12912): grant "
		                   "it to a group with chgrp and g+r rather than to everyone"
		                 : "Some BMC and ACPI meters are root-only by design; to "
		                   "limit access to a group, use chgrp and g+r instead");
	}
	return wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, rc, path, is_perm(rc) ? fix : NULL,
	                     "%s of chip '%s' (%s) skipped: cannot read '%s': %s", what,
	                     c->dir, c->name, path, wp_strerror(rc));
}

/* Adds channel `ch` of chip `c` as a domain, or notes why not. */
static int add_channel(struct wp_host *host, struct tally *t, const struct chip *c,
                       const char *dir, const struct channel *ch, size_t *cores)
{
	const char *type = ch->power ? "power" : "energy";
	const char *item = !ch->power ? "input" : ch->has_average ? "average" : "input";
	char path[4096], rel[96], label[64], what[64], name[160];
	enum wp_domain_kind kind = WP_KIND_OTHER;
	int socket = -1, has_label, rc;
	size_t dup;

	snprintf(path, sizeof path, "%s/%s%u_label", dir, type, ch->index);
	has_label = wp__read_line(path, label, sizeof label) == 0 && label[0];
	snprintf(rel, sizeof rel, "%s%s%u_%s", c->sub, type, ch->index, item);
	snprintf(path, sizeof path, "%s/%s%u_%s", dir, type, ch->index, item);
	snprintf(what, sizeof what, "%s%u%s%s%s", type, ch->index, has_label ? " (" : "",
	         has_label ? label : "", has_label ? ")" : "");

	if (strcmp(c->name, "amd_energy") == 0 && !ch->power && has_label) {
		uint64_t k;
		if (strncmp(label, "Ecore", 5) == 0) {
			(*cores)++;
			return 0;
		}
		if (strncmp(label, "Esocket", 7) == 0 &&
		    wp__parse_u64(label + 7, strlen(label + 7), &k) == 0 && k <= 4095) {
			rc = node_socket(host, (int)k, &socket);
			if (rc == -ENOMEM)
				return rc;
			if (rc < 0)
				return wp__host_note(
					host, SOURCE, WP_NOTE_SKIPPED, rc, path, NULL,
					"%s of chip '%s' (%s) skipped: NUMA node %d has no online "
					"CPU, and amd_energy reads the package counter on one of "
					"that node's CPUs",
					what, c->dir, c->name, (int)k);
			kind = WP_KIND_PACKAGE;
			snprintf(name, sizeof name, "package_%d", socket);
		}
	}
	if (kind == WP_KIND_OTHER && in_list(c->name, SYSTEM_CHIPS,
	                                     sizeof SYSTEM_CHIPS / sizeof *SYSTEM_CHIPS)) {
		kind = WP_KIND_SYSTEM;
		if (t->systems == 0)
			snprintf(name, sizeof name, "system");
		else
			snprintf(name, sizeof name, "system_%zu", t->systems);
	}
	if (kind == WP_KIND_OTHER) {
		char chan[32];
		snprintf(chan, sizeof chan, "%s%u", type, ch->index);
		other_name(name, sizeof name, c->name, has_label ? label : chan);
		/* Two chips of one driver (two INA3221s) label alike: the
		 * hwmon directory tells them apart. */
		if (wp_host_find_domain(host, name, &dup) == 0) {
			char both[96];
			snprintf(both, sizeof both, "%s_%s", has_label ? label : chan, c->dir);
			other_name(name, sizeof name, c->name, both);
		}
	}
	/* Only this source's own names collide here; another source's
	 * package_0 is settled by the host, which prefers that source. */
	if (wp_host_find_domain(host, name, &dup) == 0 &&
	    host->domains[dup].ops == &wp__sensor_hwmon)
		return wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, 0, path, NULL,
		                     "%s of chip '%s' (%s) skipped: %s is already read from "
		                     "'%s'%s",
		                     what, c->dir, c->name, name, host->domains[dup].path,
		                     kind == WP_KIND_PACKAGE
		                             ? " (two NUMA nodes on one socket: the driver "
		                               "shows that socket's counter twice)"
		                             : "");

	int fd;
	rc = open_channel(host, t, c, path, rel, what, &fd);
	if (rc < 0 || fd < 0)
		return rc;

	double peak = ch->power ? declared_power_w(dir, ch->index) : 0;
	if (peak <= 0)
		peak = kind == WP_KIND_PACKAGE ? DEFAULT_PACKAGE_PEAK_W : DEFAULT_OTHER_PEAK_W;
	struct wp_domain_info info = {
		.name = name,
		.source = SOURCE,
		.path = path,
		.unit = "J",
		.kind = kind,
		.socket = socket,
		.die = -1,
		.estimated = 0,
		/*
		 * energyK_input is a 64-bit accumulated value: amd_energy adds
		 * its 32-bit MSRs into 64-bit accumulators (a kernel thread
		 * reads them before they wrap) and hwmon prints a long.  So is
		 * our own integral.  A value that falls back anyway (see the
		 * note at read_counter) is taken by the meter for a restart.
		 */
		.counter_max = UINT64_MAX,
		.joules_per_count = 1e-6,
		.peak_power_w = peak,
		.integrated = ch->power,
		.method = !ch->power         ? WP_METHOD_COUNTER
		          : ch->has_average ? WP_METHOD_POWER_AVERAGE
		                            : WP_METHOD_POWER_INSTANT,
		.update_ns = update_interval_ns(dir, ch),
	};

	if (!ch->power) {
		rc = wp__host_add_domain(host, &wp__sensor_hwmon, &info, fd);
	} else {
		struct wp__integrator *ig = malloc(sizeof *ig);
		if (!ig) {
			close(fd);
			return -ENOMEM;
		}
		wp__integrator_init(ig);
		rc = wp__host_add_domain_priv(host, &wp__sensor_hwmon, &info, fd, ig);
		if (rc < 0) {
			wp__integrator_destroy(ig);
			free(ig);
		}
	}
	if (rc < 0)
		return rc;
	t->added++;
	t->integrated += ch->power != 0;
	t->systems += kind == WP_KIND_SYSTEM;
	return 0;
}

static int probe_chip(struct wp_host *host, struct tally *t, const char *base,
                      struct chip *c)
{
	char cdir[4096], dir[4096], path[4096];
	struct channel *ch = NULL;
	size_t cores = 0;
	int n, rc = 0;

	snprintf(cdir, sizeof cdir, "%s/%s", base, c->dir);
	snprintf(path, sizeof path, "%s/name", cdir);
	c->name_err = wp__read_line(path, c->name, sizeof c->name);
	if (c->name_err < 0) {
		snprintf(path, sizeof path, "%s/device/name", cdir);
		c->name_err = wp__read_line(path, c->name, sizeof c->name);
	}
	c->sub = "";
	snprintf(dir, sizeof dir, "%s", cdir);
	n = list_channels(dir, &ch);
	if (n == 0) {
		c->sub = "device/";
		snprintf(dir, sizeof dir, "%s/device", cdir);
		n = list_channels(dir, &ch);
	}
	if (n <= 0)
		return n; /* no meter here: nothing to say (or -ENOMEM) */

	if (c->name_err == 0 &&
	    in_list(c->name, GPU_CHIPS, sizeof GPU_CHIPS / sizeof *GPU_CHIPS)) {
		t->gpu_chips++;
		rc = wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, 0, cdir, NULL,
		                   strcmp(c->name, "amdgpu") == 0
		                           ? "chip '%s' (%s) skipped: the amdgpu source reads it"
		                           : "chip '%s' (%s) skipped: a GPU's, which no "
		                             "source reads yet",
		                   c->dir, c->name);
		goto out;
	}
	t->meter_chips++;
	t->sensors += (size_t)n;
	if (c->name_err < 0) {
		rc = wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, c->name_err, cdir, NULL,
		                   "chip '%s' skipped: cannot read its name: %s", c->dir,
		                   wp_strerror(c->name_err));
		goto out;
	}
	for (int i = 0; i < n && rc == 0; i++)
		rc = add_channel(host, t, c, dir, &ch[i], &cores);
	if (rc == 0 && cores > 0)
		rc = wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, 0, dir, NULL,
		                   "%zu per-core counter%s of chip '%s' (amd_energy, "
		                   "Ecore...) left out: each core lies inside its package, "
		                   "which is measured whole",
		                   cores, cores == 1 ? "" : "s", c->dir);
out:
	free(ch);
	return rc;
}

static int probe(struct wp_host *host)
{
	char base[4096];
	struct chip *chips = NULL;
	size_t nchips = 0, cap = 0;
	struct tally t = { 0 };
	int rc = 0;
	DIR *dir;
	struct dirent *e;

	snprintf(base, sizeof base, "%s/class/hwmon", host->sysfs_root);
	dir = opendir(base);
	if (!dir) {
		int err = -errno;
		return wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, err, base,
		                     err == -ENOENT ? NO_METER_FIX : NULL, "cannot open '%s': %s",
		                     base, wp_strerror(err));
	}
	while ((e = readdir(dir))) {
		uint64_t k;
		/* "hwmon<N>": symlinks on a real system, directories in fakes;
		 * opening the path follows either. */
		if (strncmp(e->d_name, "hwmon", 5) != 0 ||
		    wp__parse_u64(e->d_name + 5, strlen(e->d_name + 5), &k) < 0 ||
		    strlen(e->d_name) >= sizeof chips->dir)
			continue;
		rc = wp__grow((void **)&chips, &cap, nchips + 1, sizeof *chips);
		if (rc < 0)
			goto out;
		memset(&chips[nchips], 0, sizeof *chips);
		strcpy(chips[nchips++].dir, e->d_name);
	}
	/* By number, so that system, system_1 ... keep their order. */
	if (nchips > 1)
		qsort(chips, nchips, sizeof *chips, chip_order);
	t.chips = nchips;
	for (size_t i = 0; i < nchips && rc == 0; i++)
		rc = probe_chip(host, &t, base, &chips[i]);
	if (rc < 0)
		goto out;

	if (t.added > 0)
		rc = wp__host_note(host, SOURCE, WP_NOTE_FOUND, 0, base, NULL,
		                   "%zu domain%s from %zu chip%s (%zu integrated from power)",
		                   t.added, t.added == 1 ? "" : "s", t.meter_chips,
		                   t.meter_chips == 1 ? "" : "s", t.integrated);
	else if (t.sensors == 0)
		rc = wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, WP_ENOSOURCE, base,
		                   NO_METER_FIX,
		                   "no energy or power sensor on %zu hwmon chip%s%s", t.chips,
		                   t.chips == 1 ? "" : "s",
		                   t.gpu_chips ? " (GPU chips are not read here)" : "");
	else
		rc = wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE,
		                   t.perm_denied ? -EACCES : WP_ENOSOURCE, base,
		                   t.perm_denied ? PERM_FIX_GENERIC : NULL,
		                   "%zu energy or power sensor%s found on %zu chip%s but none "
		                   "could be used%s",
		                   t.sensors, t.sensors == 1 ? "" : "s", t.meter_chips,
		                   t.meter_chips == 1 ? "" : "s",
		                   t.perm_denied ? ": permission denied" : "");
out:
	free(chips);
	closedir(dir);
	return rc;
}

/*
 * Energy: the file's value.  Power: the integral so far of the readings
 * taken at each call, in uJ.  Thread-safe: pread() keeps no file offset and
 * the integrator has its own lock.
 *
 * amd_energy's value can fall back although the interface calls it
 * cumulative: it is raw * 10^6 / 2^ESU computed in 64 bits, which overflows
 * after 2^64 / 10^6 raw counts (2.8e8 J at the usual ESU of 16, weeks of a
 * busy socket), and AMD's current module masks the MSR to 32 bits without
 * accumulating on CPUs with 64-bit RAPL registers, which falls back every
 * 2^32 raw counts (65 kJ at ESU 16, minutes).  The meter counts nothing for
 * the read that saw the drop and goes on (wp_meter_domain_status's
 * bad_reads): one sampling interval is lost, not 2^64 uJ gained.
 */
static int read_counter(const struct wp__domain *d, uint64_t *raw)
{
	uint64_t v;
	int rc = wp__pread_u64(d->fd, &v);

	if (rc < 0)
		return rc;
	if (!d->priv) {
		*raw = v;
		return 0;
	}
	*raw = wp__integrator_add(d->priv, wp_now_ns(), (double)v / 1e6);
	return 0;
}

static void release(struct wp__domain *d)
{
	if (d->priv) {
		wp__integrator_destroy(d->priv);
		free(d->priv);
		d->priv = NULL;
	}
}

const struct wp_sensor_ops wp__sensor_hwmon = {
	.version = 2,
	.name = SOURCE,
	.probe = probe,
	.read = read_counter,
	.release = release,
	.flags = 0,
};
