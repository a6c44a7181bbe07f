/*
 * perf.c - RAPL energy counters through the perf_event "power" PMU.
 *
 * The kernel's RAPL perf driver (arch/x86/events/rapl.c, built from
 * CONFIG_PERF_EVENTS_INTEL_RAPL; Intel since Sandy Bridge, AMD Zen since
 * Linux 5.8) registers a PMU named "power".  What is read
 * (Documentation/ABI/testing/sysfs-bus-event_source-devices-events):
 *
 *   <sysfs>/bus/event_source/devices/power/type        "23": attr.type
 *                                         /cpumask     "0,28": one CPU per
 *                                            package (per die on Intel parts
 *                                            with several dies per package)
 *                                         /events/energy-pkg        "event=0x02"
 *                                                 energy-pkg.scale  "2.3283064365386962890625e-10"
 *                                                 energy-pkg.unit   "Joules"
 *                                         and energy-cores, -gpu, -ram, -psys
 *   <proc>/sys/kernel/perf_event_paranoid   read only to explain a refusal
 *
 * Each event is opened once per CPU of the mask as a system-wide counter
 * (pid -1, cpu c) and read with read(): a u64 count that the driver keeps
 * in 2^-32 J steps (the .scale) from the moment the event was opened, folding
 * the 32-bit MSR's wraps in with a timer.  The count is 64 bits wide: it
 * wraps only after 2^32 J (about 50 days at 1000 W), which the meter handles
 * as it does any counter_max, so nothing here deals with wraps.  The read is
 * one system call on the fd, safe from any thread.
 *
 * Domains are named as the powercap source names them (package_N, core_N,
 * uncore_N, dram_N, psys; package_N_die_M on multi-die parts) so that the
 * host keeps one of each and can cross-check the two.
 *
 * Permission: opening a CPU-wide event takes kernel.perf_event_paranoid <= 0
 * or CAP_PERFMON (Linux 5.8+; CAP_SYS_ADMIN before).  Sources:
 * Documentation/admin-guide/perf-security.rst and
 * Documentation/admin-guide/sysctl/kernel.rst (perf_event_paranoid), and
 * perf_allow_cpu() in include/linux/perf_event.h.
 *
 * The two system calls go through wp__perf_sys (perf.h) so that tests can
 * stand in for the kernel.
 *
 * In this file: the system calls; the event table and the parsing of an
 * event's files; the CPUs of the mask and their sockets; the fix for a
 * refused open; the probe, which ends with one note summing up; the ops.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../core/internal.h"
#include "perf.h"

#define SOURCE "perf"

extern const struct wp_sensor_ops wp__sensor_perf;

/* ------------------------------------------------------ the system calls */

static int sys_open(const struct perf_event_attr *attr, int cpu)
{
	/* glibc has no wrapper (perf_event_open(2)).  PERF_FLAG_FD_CLOEXEC
	 * needs Linux 3.14, older than any kernel with this PMU on AMD. */
	long fd = syscall(SYS_perf_event_open, attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : (int)fd;
}

static int sys_read(int fd, uint64_t *count)
{
	uint64_t v;
	ssize_t n;

	do
		n = read(fd, &v, sizeof v);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* perf_read() in kernel/events/core.c answers 0 bytes for an event
	 * in error state: it can no longer count. */
	if (n == 0)
		return -ENODEV;
	if (n != (ssize_t)sizeof v)
		return -EIO;
	*count = v;
	return 0;
}

const struct wp__perf_sys wp__perf_sys_default = {
	.open = sys_open,
	.read = sys_read,
};

const struct wp__perf_sys *wp__perf_sys = &wp__perf_sys_default;

/* ------------------------------------------------------------- the events */

static const char NO_PMU_FIX[] =
	"load the kernel's RAPL perf driver ('modprobe rapl'; the module was "
	"intel_rapl_perf before Linux 5.8), built with CONFIG_PERF_EVENTS_INTEL_RAPL. "
	"It serves Intel CPUs from Sandy Bridge on and AMD Zen CPUs from Linux 5.8 on. "
	"Virtual machines and containers rarely expose RAPL: measure on the host instead";

/*
 * Assumed peak power: the PMU declares none.  1000 W, as the powercap
 * source assumes, is above any socket, DRAM set or platform sold today; with
 * 64-bit counts of 2^-32 J the wrap time it gives is still some 50 days.
 */
#define DEFAULT_PEAK_W 1000.0

/* The driver's format for `event` is "config:0-7" (rapl.c, PMU_FORMAT_ATTR). */
#define EVENT_CONFIG_MAX 0xffu

struct event {
	const char *file; /* under events/ */
	enum wp_domain_kind kind; /* names the domain (wp__rapl_domain_name) */
};

/* rapl.c's events, in its order of event codes 1 to 5. */
static const struct event events[] = {
	{ "energy-cores", WP_KIND_CORE },
	{ "energy-pkg", WP_KIND_PACKAGE },
	{ "energy-ram", WP_KIND_DRAM },
	{ "energy-gpu", WP_KIND_UNCORE },
	{ "energy-psys", WP_KIND_PSYS },
};

/* One CPU of the mask and where it sits. */
struct site {
	int cpu;
	int package;
	int die;
};

/*
 * Parses an event's definition, "event=0x02": comma-separated terms, of
 * which only `event` is known (rapl.c declares no other format).  Anything
 * else is refused rather than guessed at.  Returns 0 or WP_EPARSE.
 */
static int parse_config(const char *text, uint64_t *config)
{
	char buf[256], *save = NULL;
	int seen = 0;

	if (strlen(text) >= sizeof buf)
		return WP_EPARSE;
	strcpy(buf, text);
	for (char *term = strtok_r(buf, ",", &save); term; term = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(term, '=');
		uint64_t v;

		while (*term == ' ')
			term++;
		if (!eq || (size_t)(eq - term) != 5 || strncmp(term, "event", 5) != 0 || seen)
			return WP_EPARSE;
		for (char *end = eq + strlen(eq); end > eq + 1 && end[-1] == ' ';)
			*--end = '\0';
		if (wp__parse_uint_any(eq + 1, &v) < 0 || v > EVENT_CONFIG_MAX)
			return WP_EPARSE;
		*config = v;
		seen = 1;
	}
	return seen ? 0 : WP_EPARSE;
}

/*
 * Reads what describes one event: its config, joules per count and unit.
 * Notes the event as skipped, naming the file, when any of them is unusable;
 * *ok is then 0.  Returns 0 or -ENOMEM.
 */
static int read_event(struct wp_host *host, const char *pmu, const struct event *ev,
                      uint64_t *config, double *scale, int *ok)
{
	char path[PATH_MAX], text[256];
	int rc;

	*ok = 0;
	snprintf(path, sizeof path, "%s/events/%s", pmu, ev->file);
	rc = wp__read_line(path, text, sizeof text);
	if (rc == -ENOENT)
		return 0; /* the driver lists only the counters this CPU has */
	if (rc < 0)
		return wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, rc, path, NULL,
		                     "event %s skipped: cannot read '%s': %s", ev->file, path,
		                     wp_strerror(rc));
	if (parse_config(text, config) < 0)
		return wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, WP_EPARSE, path,
		                     "report it: wattprof understands only 'event=0xNN' there",
		                     "event %s skipped: '%s' holds '%s', not 'event=0xNN' with a "
		                     "code up to 0xff",
		                     ev->file, path, text);

	snprintf(path, sizeof path, "%s/events/%s.scale", pmu, ev->file);
	rc = wp__read_line(path, text, sizeof text);
	if (rc == 0)
		rc = wp__parse_double(text, scale);
	if (rc == 0 && !(*scale > 0))
		rc = WP_ERANGE;
	if (rc < 0)
		return wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, rc, path, NULL,
		                     "event %s skipped: cannot take joules per count from '%s': %s",
		                     ev->file, path, wp_strerror(rc));

	/* The unit says what the scale gives; anything but joules would make
	 * every figure wrong. */
	snprintf(path, sizeof path, "%s/events/%s.unit", pmu, ev->file);
	rc = wp__read_line(path, text, sizeof text);
	if (rc < 0)
		return wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, rc, path, NULL,
		                     "event %s skipped: cannot read its unit from '%s': %s",
		                     ev->file, path, wp_strerror(rc));
	if (strcmp(text, "Joules") != 0)
		return wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, WP_EPARSE, path, NULL,
		                     "event %s skipped: '%s' says its unit is '%s', not 'Joules'",
		                     ev->file, path, text);
	*ok = 1;
	return 0;
}

/*
 * The CPUs of the mask with their package and die.  A CPU whose package
 * cannot be read, or that repeats a package and die already seen, is noted
 * and left out.  Returns the count or -ENOMEM.
 */
static int map_sites(struct wp_host *host, const int *cpus, int ncpus, struct site *sites)
{
	int n = 0, rc;

	for (int i = 0; i < ncpus; i++) {
		int pkg, die, core, dup = -1;

		rc = wp__cpu_topology(host, cpus[i], &pkg, &die, &core);
		if (rc < 0) {
			rc = wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, rc, NULL, NULL,
			                   "CPU %d of the power PMU's cpumask skipped: cannot read "
			                   "its package from '%s/devices/system/cpu/cpu%d/topology/"
			                   "physical_package_id': %s",
			                   cpus[i], host->sysfs_root, cpus[i], wp_strerror(rc));
			if (rc == -ENOMEM)
				return rc;
			continue;
		}
		for (int k = 0; k < n; k++)
			if (sites[k].package == pkg && sites[k].die == die)
				dup = k;
		if (dup >= 0) {
			if ((rc = wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, 0, NULL, NULL,
			                        "CPU %d of the power PMU's cpumask skipped: it sits on "
			                        "the same package %d (die %d) as CPU %d",
			                        cpus[i], pkg, die, sites[dup].cpu)) < 0)
				return rc;
			continue;
		}
		sites[n++] = (struct site){ .cpu = cpus[i], .package = pkg, .die = die };
	}
	return n;
}

/* Why perf_event_open refused an event, in words, for the errors it documents. */
static const char *refusal(int err)
{
	switch (err) {
	case -ENOENT:
		return "the kernel knows no PMU of that type, or not this event";
	case -EINVAL:
		return "the kernel does not support this event here";
	case -ENODEV:
		return "the CPU is offline or the PMU does not cover it";
	case -EOPNOTSUPP:
		return "the PMU does not offer this kind of counting";
	default:
		return "the kernel refused it";
	}
}

/* The paranoid level, or INT_MIN when it cannot be read. */
static int read_paranoid(const struct wp_host *host, char *path, size_t cap)
{
	char text[32], *end;
	long v;

	snprintf(path, cap, "%s/sys/kernel/perf_event_paranoid", host->proc_root);
	if (wp__read_line(path, text, sizeof text) < 0)
		return INT_MIN;
	errno = 0;
	v = strtol(text, &end, 10);
	if (end == text || *end || errno || v < INT_MIN + 1 || v > INT_MAX)
		return INT_MIN;
	return (int)v;
}

/*
 * The fix for a refused open, naming the paranoid level read.  Malloc'ed;
 * NULL when out of memory.
 */
static char *permission_fix(const struct wp_host *host, int err)
{
	char path[PATH_MAX], level[160];
	int p = read_paranoid(host, path, sizeof path);
	const char *distro = "";

	if (p == INT_MIN)
		snprintf(level, sizeof level, "it could not be read from '%s'", path);
	else
		snprintf(level, sizeof level, "it is %d here ('%s')", p, path);
	/*
	 * Mainline stops at 2.  Debian's and Ubuntu's kernels carry a patch
	 * ("security,perf: Allow further restriction of perf_event_open",
	 * CONFIG_SECURITY_PERF_EVENTS_RESTRICT) under which a higher level
	 * refuses perf_event_open to anyone without CAP_SYS_ADMIN: from 3 on
	 * Debian, from 4 on recent Ubuntu.
	 */
	if (p != INT_MIN && p > 2)
		distro = " A level above 2 comes from a distribution patch (Debian from 3, "
		         "recent Ubuntu from 4) that refuses perf events to anyone without "
		         "CAP_SYS_ADMIN, so there CAP_PERFMON alone is not enough: lower the level "
		         "or run as root.";
	return wp__strdupf(
		"system-wide CPU events such as RAPL's need kernel.perf_event_paranoid <= 0 or "
		"CAP_PERFMON; %s. Lower it until the next reboot with 'sudo sysctl -w "
		"kernel.perf_event_paranoid=0', and for good with the line "
		"'kernel.perf_event_paranoid = 0' in /etc/sysctl.d/99-wattprof.conf; or give "
		"the program CAP_PERFMON (Linux 5.8+): 'sudo setcap cap_perfmon+ep $(command -v "
		"wattprof)' (or '38+ep' where setcap does not know the name cap_perfmon).%s%s "
		"See the kernel's Documentation/admin-guide/perf-security.rst",
		level, distro,
		err == -EPERM ? " An EPERM can also come from a container's seccomp filter or an "
		                "LSM policy, which no sysctl changes."
		              : "");
}

/* A domain for event `ev` on `site`, read through `fd`. */
static int add_domain(struct wp_host *host, const struct event *ev, const struct site *site,
                      int multi_die, const char *path, double scale, int fd)
{
	char name[64];
	int socket = ev->kind == WP_KIND_PSYS ? -1 : site->package;
	int die = ev->kind == WP_KIND_PSYS || !multi_die ? -1 : site->die;

	wp__rapl_domain_name(name, sizeof name, ev->kind, socket, die);

	struct wp_domain_info info = {
		.name = name,
		.source = SOURCE,
		.path = path,
		.unit = "J",
		.kind = ev->kind,
		.socket = socket,
		.die = die,
		.estimated = 0,
		.integrated = 0,
		.counter_max = UINT64_MAX,
		.joules_per_count = scale,
		.peak_power_w = DEFAULT_PEAK_W,
	};
	return wp__host_add_domain(host, &wp__sensor_perf, &info, fd);
}

/* State of one probe, shared by the functions below. */
struct probe_state {
	char pmu[PATH_MAX];
	uint32_t type;
	struct site *sites;
	int nsites;
	int first_cpu; /* the mask's first CPU: where psys is opened */
	int multi_die;
	int denied; /* the error of a refused open: EACCES or EPERM */
	int last_err;
};

/*
 * Opens event `ev` on every site it applies to.  Sets *stop when a refusal
 * means that no other event will open either.  Returns 0 or -ENOMEM.
 */
static int open_event(struct wp_host *host, struct probe_state *st, const struct event *ev,
                      int *stop)
{
	char path[PATH_MAX];
	uint64_t config = 0;
	double scale = 0;
	int ok, rc;

	*stop = 0;
	if ((rc = read_event(host, st->pmu, ev, &config, &scale, &ok)) < 0 || !ok)
		return rc;
	snprintf(path, sizeof path, "%s/events/%s", st->pmu, ev->file);

	/* psys covers the platform, not a socket: one counter, on the first
	 * CPU of the mask. */
	struct site psys_site = { .cpu = st->first_cpu, .package = -1, .die = -1 };
	const struct site *sites = ev->kind == WP_KIND_PSYS ? &psys_site : st->sites;
	int n = ev->kind == WP_KIND_PSYS ? 1 : st->nsites;

	for (int i = 0; i < n; i++) {
		/* No sampling, no exclude bits: rapl.c refuses both. */
		struct perf_event_attr attr;
		memset(&attr, 0, sizeof attr);
		attr.type = st->type;
		attr.size = sizeof attr;
		attr.config = config;

		int fd = wp__perf_sys->open(&attr, sites[i].cpu);
		if (fd == -EACCES || fd == -EPERM) {
			/* The paranoid check is the same for every event: one
			 * refusal says it for all of them. */
			st->denied = fd;
			*stop = 1;
			return 0;
		}
		if (fd < 0) {
			st->last_err = fd;
			rc = wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, fd, path, NULL,
			                   "event %s on CPU %d skipped: perf_event_open: %s (%s)",
			                   ev->file, sites[i].cpu, wp_strerror(fd), refusal(fd));
			if (rc < 0)
				return rc;
			continue;
		}
		if ((rc = add_domain(host, ev, &sites[i], st->multi_die, path, scale, fd)) < 0)
			return rc;
	}
	return 0;
}

/* Reads type and cpumask, and maps the mask's CPUs; notes why when it cannot. */
static int read_pmu(struct wp_host *host, struct probe_state *st, int *usable)
{
	char path[PATH_MAX], text[8192];
	uint64_t type;
	int *cpus = NULL, ncpus = 0, rc;

	*usable = 0;
	snprintf(path, sizeof path, "%s/type", st->pmu);
	rc = wp__read_u64(path, &type);
	if (rc == 0 && type > UINT32_MAX)
		rc = WP_ERANGE;
	if (rc < 0)
		return wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, rc, path,
		                     "check the kernel's RAPL perf driver: every perf PMU has "
		                     "this file",
		                     "cannot read the power PMU's type from '%s': %s", path,
		                     wp_strerror(rc));
	st->type = (uint32_t)type;

	snprintf(path, sizeof path, "%s/cpumask", st->pmu);
	rc = wp__read_line(path, text, sizeof text);
	if (rc == 0) {
		ncpus = wp__parse_cpulist(text, &cpus);
		rc = ncpus == 0 ? WP_EPARSE : ncpus < 0 ? ncpus : 0;
	}
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0) {
		free(cpus);
		return wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, rc, path,
		                     "check the kernel's RAPL perf driver: it lists one CPU "
		                     "per package there",
		                     "cannot read the power PMU's CPUs from '%s': %s", path,
		                     wp_strerror(rc));
	}
	st->first_cpu = cpus[0];
	st->sites = calloc((size_t)ncpus, sizeof *st->sites);
	if (!st->sites) {
		free(cpus);
		return -ENOMEM;
	}
	rc = map_sites(host, cpus, ncpus, st->sites);
	free(cpus);
	if (rc < 0)
		return rc;
	st->nsites = rc;
	/*
	 * Die names only where a package shows several dies, and then for
	 * every package: the kernel's powercap names zones "package-N-die-M"
	 * on the same condition (intel_rapl_common.c), so both sources name
	 * one counter alike.
	 */
	for (int i = 0; i < st->nsites; i++)
		for (int k = 0; k < i; k++)
			if (st->sites[k].package == st->sites[i].package)
				st->multi_die = 1;
	*usable = 1;
	return 0;
}

static int probe(struct wp_host *host)
{
	struct probe_state st = { .first_cpu = -1 };
	struct stat sb;
	size_t before = host->domain_count, added;
	char path[PATH_MAX], *fix = NULL;
	int rc, usable, stop = 0, known = 0;

	snprintf(st.pmu, sizeof st.pmu, "%s/bus/event_source/devices/power", host->sysfs_root);
	rc = stat(st.pmu, &sb) < 0 ? -errno : !S_ISDIR(sb.st_mode) ? -ENOTDIR : 0;
	if (rc < 0)
		return wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, rc, st.pmu,
		                     rc == -ENOENT ? NO_PMU_FIX : NULL,
		                     "no power PMU: cannot open '%s': %s", st.pmu,
		                     wp_strerror(rc));
	if ((rc = read_pmu(host, &st, &usable)) < 0 || !usable)
		goto out;

	for (size_t e = 0; e < sizeof events / sizeof *events && !stop && rc == 0; e++) {
		snprintf(path, sizeof path, "%s/events/%s", st.pmu, events[e].file);
		known += access(path, F_OK) == 0;
		rc = open_event(host, &st, &events[e], &stop);
	}
	if (rc < 0)
		goto out;

	added = host->domain_count - before;
	if (st.denied) {
		fix = permission_fix(host, st.denied);
		if (!fix) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if (added > 0) {
		if (st.denied)
			rc = wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, st.denied, st.pmu, fix,
			                   "the remaining power PMU events skipped: perf_event_open: %s",
			                   wp_strerror(st.denied));
		if (rc == 0)
			rc = wp__host_note(host, SOURCE, WP_NOTE_FOUND, 0, st.pmu, NULL,
			                   "%zu domain%s from the power PMU (type %u)", added,
			                   added == 1 ? "" : "s", st.type);
	} else if (st.denied) {
		rc = wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, st.denied, st.pmu, fix,
		                   "the power PMU's events cannot be opened: perf_event_open: %s",
		                   wp_strerror(st.denied));
	} else if (known == 0) {
		snprintf(path, sizeof path, "%s/events", st.pmu);
		rc = wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, WP_ENOSOURCE, path,
		                   "this CPU offers no RAPL counter to the driver; virtual "
		                   "machines rarely expose RAPL: measure on the host instead",
		                   "no energy event under '%s'", path);
	} else {
		rc = wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE,
		                   st.last_err ? st.last_err : WP_ENOSOURCE, st.pmu,
		                   "the skipped notes above say why for each event; the powercap "
		                   "and msr sources read the same counters another way",
		                   "none of the power PMU's %d event%s could be used", known,
		                   known == 1 ? "" : "s");
	}
out:
	free(fix);
	free(st.sites);
	return rc;
}

static int read_counter(const struct wp__domain *d, uint64_t *raw)
{
	return wp__perf_sys->read(d->fd, raw);
}

const struct wp_sensor_ops wp__sensor_perf = {
	.version = 2,
	.name = SOURCE,
	.probe = probe,
	.read = read_counter,
};
