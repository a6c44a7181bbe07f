/*
 * test_perf.c - the perf source on fake power PMU trees, with a fake kernel
 * behind wp__perf_sys (src/sensors/perf.h): discovery and naming, the
 * attributes asked of perf_event_open, energy from canned counts, bad files,
 * refusals and their fixes, preference over powercap and the host's
 * cross-check of the two.  Also the perf fixture of the contract.
 *
 * The fake kernel hands out fds of ordinary files, one per (config, CPU),
 * in which the test writes the 8-byte count; or, in "live" mode, answers
 * every read with watts x (now - t0) / scale so that counters advance while
 * the host cross-checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "contract.h"
#include "core/internal.h"
#include "sensors/perf.h"
#include "sim.h"
#include "test.h"

/* 2^-32 J, as arch/x86/events/rapl.c writes it. */
#define SCALE_TEXT "2.3283064365386962890625e-10"
#define SCALE 0x1p-32

/* ---------------------------------------------------------- fake kernel */

#define FAKE_MAX 64

struct fake_call {
	uint32_t type, size;
	uint64_t config, sample_period;
	int exclude_any;
	int cpu;
};

static struct {
	char dir[700]; /* where the count files live */
	struct fake_call calls[FAKE_MAX];
	size_t ncalls;
	int open_err;         /* every open fails with this when nonzero */
	int fail_config[256]; /* opens of that config fail with this when nonzero */
	int read_err;         /* every read fails with this when nonzero */
	int live;             /* reads give watts x (now - t0) / SCALE */
	double watts;
	uint64_t t0_ns;
} fake;

static void count_path(char *buf, size_t cap, uint64_t config, int cpu)
{
	snprintf(buf, cap, "%s/count-%" PRIu64 "-cpu%d", fake.dir, config, cpu);
}

static int fake_open(const struct perf_event_attr *attr, int cpu)
{
	char path[800];
	struct stat st;

	if (fake.ncalls == FAKE_MAX)
		TEST_FAIL_("more than %d perf_event_open calls", FAKE_MAX);
	fake.calls[fake.ncalls++] = (struct fake_call){
		.type = attr->type,
		.size = attr->size,
		.config = attr->config,
		.sample_period = attr->sample_period,
		.exclude_any = attr->exclude_user || attr->exclude_kernel || attr->exclude_hv ||
		               attr->exclude_idle || attr->disabled,
		.cpu = cpu,
	};
	if (fake.open_err)
		return fake.open_err;
	if (attr->config < 256 && fake.fail_config[attr->config])
		return fake.fail_config[attr->config];
	count_path(path, sizeof path, attr->config, cpu);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		TEST_FAIL_("open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) == 0 && st.st_size < 8) {
		uint64_t zero = 0;
		if (pwrite(fd, &zero, 8, 0) != 8)
			TEST_FAIL_("write '%s': %s", path, strerror(errno));
	}
	return fd;
}

static int fake_read(int fd, uint64_t *count)
{
	uint64_t v;
	if (fake.read_err)
		return fake.read_err;
	if (fake.live) {
		*count = (uint64_t)(fake.watts * (double)(wp_now_ns() - fake.t0_ns) / 1e9 / SCALE);
		return 0;
	}
	if (pread(fd, &v, 8, 0) != 8)
		return -EIO;
	*count = v;
	return 0;
}

static const struct wp__perf_sys fake_sys = { .open = fake_open, .read = fake_read };

/* Puts the fake kernel in place, its count files under `dir` (created). */
static void fake_install(const char *dir)
{
	memset(&fake, 0, sizeof fake);
	snprintf(fake.dir, sizeof fake.dir, "%s", dir);
	test_mkdirs(fake.dir);
	wp__perf_sys = &fake_sys;
}

static void fake_remove(void)
{
	wp__perf_sys = &wp__perf_sys_default;
}

/* Sets the count that event `config` on `cpu` reads. */
static void fake_set(uint64_t config, int cpu, uint64_t count)
{
	char path[800];
	count_path(path, sizeof path, config, cpu);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	if (fd < 0 || pwrite(fd, &count, 8, 0) != 8)
		TEST_FAIL_("write '%s': %s", path, strerror(errno));
	close(fd);
}

/* Calls made for `config`; *cpu (may be NULL) is the last one's CPU. */
static int fake_calls_for(uint64_t config, int *cpu)
{
	int n = 0;
	for (size_t i = 0; i < fake.ncalls; i++) {
		if (fake.calls[i].config == config) {
			n++;
			if (cpu)
				*cpu = fake.calls[i].cpu;
		}
	}
	return n;
}

/* ------------------------------------------------------------ fake trees */

struct pmu_event {
	const char *name;   /* "energy-pkg" */
	const char *config; /* contents of the event file; NULL: no file */
	const char *scale;  /* NULL: no .scale */
	const char *unit;   /* NULL: no .unit */
};

/* A test's fake machine: <root>/sys, <root>/proc, <root>/dev, <root>/fds. */
struct tree {
	char root[512];
	char sys[600], proc[600], dev[600], fds[600], pmu[800];
};

static void tree_init(struct tree *t, const char *sys_root)
{
	memset(t, 0, sizeof *t);
	test_tmpdir(t->root, sizeof t->root);
	if (sys_root)
		snprintf(t->sys, sizeof t->sys, "%s", sys_root);
	else
		snprintf(t->sys, sizeof t->sys, "%s/sys", t->root);
	snprintf(t->proc, sizeof t->proc, "%s/proc", t->root);
	snprintf(t->dev, sizeof t->dev, "%s/dev", t->root);
	snprintf(t->fds, sizeof t->fds, "%s/fds", t->root);
	snprintf(t->pmu, sizeof t->pmu, "%s/bus/event_source/devices/power", t->sys);
	test_mkdirs(t->sys);
	test_mkdirs(t->dev);
	char kern[700];
	snprintf(kern, sizeof kern, "%s/sys/kernel", t->proc);
	test_mkdirs(kern);
	fake_install(t->fds);
}

static void tree_free(struct tree *t)
{
	fake_remove();
	test_rmtree(t->root);
}

static void pmu_file(const struct tree *t, const char *file, const char *text)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", t->pmu, file);
	test_spitf(path, "%s\n", text);
}

/* The PMU directory: type, cpumask (either may be NULL) and events. */
static void make_pmu(const struct tree *t, const char *type, const char *cpumask,
                     const struct pmu_event *ev, size_t n)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/events", t->pmu);
	test_mkdirs(path);
	if (type)
		pmu_file(t, "type", type);
	if (cpumask)
		pmu_file(t, "cpumask", cpumask);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, "events/%s", ev[i].name);
		if (ev[i].config)
			pmu_file(t, path, ev[i].config);
		snprintf(path, sizeof path, "events/%s.scale", ev[i].name);
		if (ev[i].scale)
			pmu_file(t, path, ev[i].scale);
		snprintf(path, sizeof path, "events/%s.unit", ev[i].name);
		if (ev[i].unit)
			pmu_file(t, path, ev[i].unit);
	}
}

/* CPU `cpu` on package `pkg`, die `die` (no die_id file when die < 0). */
static void make_cpu(const struct tree *t, int cpu, int pkg, int die)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/topology", t->sys, cpu);
	test_mkdirs(path);
	snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/topology/physical_package_id",
	         t->sys, cpu);
	test_spitf(path, "%d\n", pkg);
	if (die >= 0) {
		snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/topology/die_id", t->sys,
		         cpu);
		test_spitf(path, "%d\n", die);
	}
}

static void make_paranoid(const struct tree *t, const char *value)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/sys/kernel/perf_event_paranoid", t->proc);
	test_spitf(path, "%s\n", value);
}

/* What a server's rapl driver shows: package, DRAM, cores; and psys. */
static const struct pmu_event server_events[] = {
	{ "energy-cores", "event=0x01", SCALE_TEXT, "Joules" },
	{ "energy-pkg", "event=0x02", SCALE_TEXT, "Joules" },
	{ "energy-ram", "event=0x03", SCALE_TEXT, "Joules" },
	{ "energy-psys", "event=0x05", SCALE_TEXT, "Joules" },
};
#define SERVER_EVENTS (sizeof server_events / sizeof *server_events)

/* Two sockets: CPU 0 on package 0, CPU 8 on package 1. */
static void make_server(const struct tree *t)
{
	make_pmu(t, "23", "0,8", server_events, SERVER_EVENTS);
	make_cpu(t, 0, 0, 0);
	make_cpu(t, 8, 1, 0);
	make_paranoid(t, "0");
}

static struct wp_host *open_host(const struct tree *t, const char *sources)
{
	struct wp_options o = {
		.version = WP_OPTIONS_VERSION,
		.sysfs_root = t->sys,
		.proc_root = t->proc,
		.dev_root = t->dev,
		.sources = sources,
	};
	struct wp_host *h = NULL;
	ASSERT_EQ(wp_host_open(&h, &o), 0);
	return h;
}

/* ------------------------------------------------------------- look-ups */

static const struct wp_source_note *must_note(const struct wp_host *h, const char *source,
                                              enum wp_note_level l, const char *text)
{
	const struct wp_source_note *n = test_find_note(h, source, l, text);
	if (!n) {
		for (size_t i = 0; i < wp_host_note_count(h); i++)
			fprintf(stderr, "  note: %s %d: %s\n", wp_host_note(h, i)->source,
			        wp_host_note(h, i)->level, wp_host_note(h, i)->message);
		TEST_FAIL_("no %s note of level %d containing \"%s\"", source, l, text);
	}
	return n;
}

static size_t count_notes(const struct wp_host *h, const char *source, enum wp_note_level l)
{
	size_t n = 0;
	for (size_t i = 0; i < wp_host_note_count(h); i++)
		n += wp_host_note(h, i)->level == l && strcmp(wp_host_note(h, i)->source, source) == 0;
	return n;
}

static const struct wp_domain_info *domain(const struct wp_host *h, const char *name)
{
	size_t i;
	if (wp_host_find_domain(h, name, &i) < 0)
		TEST_FAIL_("no domain '%s'", name);
	return wp_host_domain(h, i);
}

static void ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	if (n < t || strcmp(s + n - t, tail) != 0)
		TEST_FAIL_("'%s' should end with '%s'", s, tail);
}

/* ---------------------------------------------------------------- tests */

TEST(perf_discovers_two_sockets)
{
	struct tree t;
	tree_init(&t, NULL);
	make_server(&t);
	struct wp_host *h = open_host(&t, "perf");

	static const char *const order[] = { "package_0", "package_1", "core_0", "core_1",
		                             "dram_0",    "dram_1",    "psys" };
	ASSERT_EQ(wp_host_domain_count(h), 7);
	for (size_t i = 0; i < 7; i++) {
		const struct wp_domain_info *d = wp_host_domain(h, i);
		ASSERT_STR(d->name, order[i]);
		ASSERT_STR(d->source, "perf");
		ASSERT_STR(d->unit, "J");
		ASSERT_EQ(d->estimated, 0);
		ASSERT_EQ(d->integrated, 0);
		ASSERT_EQ(d->die, -1);
		ASSERT_U64(d->counter_max, ==, UINT64_MAX);
		/* The text is 2^-32 exactly; parsing must not lose a bit. */
		ASSERT(d->joules_per_count == SCALE);
		ASSERT_NEAR(d->peak_power_w, 1000, 0);
		/* 2^64 counts of 2^-32 J at 1000 W: 2^32 / 1000 s. */
		ASSERT_U64(d->min_wrap_ns, ==, 4294967296000000u);
	}
	ASSERT_EQ(domain(h, "package_0")->socket, 0);
	ASSERT_EQ(domain(h, "package_1")->socket, 1);
	ASSERT_EQ(domain(h, "dram_1")->socket, 1);
	ASSERT_EQ(domain(h, "core_0")->kind, WP_KIND_CORE);
	ASSERT_EQ(domain(h, "dram_0")->kind, WP_KIND_DRAM);
	ASSERT_EQ(domain(h, "package_1")->kind, WP_KIND_PACKAGE);
	ASSERT_EQ(domain(h, "psys")->kind, WP_KIND_PSYS);
	ASSERT_EQ(domain(h, "psys")->socket, -1);
	ends_with(domain(h, "package_1")->path, "/bus/event_source/devices/power/events/energy-pkg");
	ends_with(domain(h, "dram_0")->path, "/bus/event_source/devices/power/events/energy-ram");
	ends_with(domain(h, "psys")->path, "/bus/event_source/devices/power/events/energy-psys");
	ASSERT(wp_domain_contains(domain(h, "package_1"), domain(h, "core_1")));
	ASSERT(!wp_domain_contains(domain(h, "package_0"), domain(h, "core_1")));
	ASSERT(wp_domain_contains(domain(h, "psys"), domain(h, "dram_1")));
	const struct wp_source_note *n =
		must_note(h, "perf", WP_NOTE_FOUND, "7 domains from the power PMU (type 23)");
	ASSERT_STR(n->path, t.pmu);
	ASSERT_EQ(count_notes(h, "perf", WP_NOTE_SKIPPED), 0);
	wp_host_close(h);
	tree_free(&t);
	return TEST_OK;
}

TEST(perf_open_attributes)
{
	struct tree t;
	tree_init(&t, NULL);
	make_server(&t);
	struct wp_host *h = open_host(&t, "perf");
	int cpu = -1;

	/* Three socket events on two CPUs, psys once. */
	ASSERT_EQ(fake.ncalls, 7);
	for (size_t i = 0; i < fake.ncalls; i++) {
		ASSERT_EQ(fake.calls[i].type, 23);
		ASSERT_EQ(fake.calls[i].size, sizeof(struct perf_event_attr));
		ASSERT_U64(fake.calls[i].sample_period, ==, 0);
		ASSERT_EQ(fake.calls[i].exclude_any, 0);
		ASSERT(fake.calls[i].cpu == 0 || fake.calls[i].cpu == 8);
	}
	ASSERT_EQ(fake_calls_for(2, &cpu), 2);
	ASSERT_EQ(fake_calls_for(1, NULL), 2);
	ASSERT_EQ(fake_calls_for(3, NULL), 2);
	ASSERT_EQ(fake_calls_for(5, &cpu), 1);
	ASSERT_EQ(cpu, 0); /* psys on the mask's first CPU */
	ASSERT_EQ(fake_calls_for(4, NULL), 0);
	/* Each CPU gets each socket event once. */
	int on8 = 0;
	for (size_t i = 0; i < fake.ncalls; i++)
		on8 += fake.calls[i].cpu == 8;
	ASSERT_EQ(on8, 3);
	wp_host_close(h);

	/* Decimal codes and spaces are understood too. */
	pmu_file(&t, "events/energy-pkg", "event=2");
	pmu_file(&t, "events/energy-ram", " event=0x3 ");
	fake.ncalls = 0;
	h = open_host(&t, "perf");
	ASSERT_EQ(wp_host_domain_count(h), 7);
	ASSERT_EQ(fake_calls_for(2, NULL), 2);
	ASSERT_EQ(fake_calls_for(3, NULL), 2);
	wp_host_close(h);
	tree_free(&t);
	return TEST_OK;
}

TEST(perf_energy_exact_from_counts)
{
	struct tree t;
	tree_init(&t, NULL);
	make_server(&t);
	struct wp_host *h = open_host(&t, "perf");
	static const char *const names[] = { "package_1", "dram_0", "psys" };
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, names, 3, NULL), 0);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);

	/* Counts past 32 bits: the PMU's counts are 64-bit. */
	const uint64_t c0 = (uint64_t)5 << 40;
	fake_set(2, 8, c0);
	fake_set(3, 0, 7);
	fake_set(5, 0, 0);
	ASSERT_EQ(wp_meter_snapshot(m, a), 0);
	ASSERT_U64(wp_snapshot_raw(a, 0), ==, c0);
	fake_set(2, 8, c0 + ((uint64_t)30 << 32)); /* 30 J */
	fake_set(3, 0, 7 + ((uint64_t)3 << 31));   /* 1.5 J */
	fake_set(5, 0, 123456789);
	ASSERT_EQ(wp_meter_snapshot(m, b), 0);

	double j = -1;
	ASSERT_EQ(wp_energy_between(m, a, b, 0, &j), 0);
	ASSERT_NEAR(j, 30.0, 1e-12);
	ASSERT_EQ(wp_energy_between(m, a, b, 1, &j), 0);
	ASSERT_NEAR(j, 1.5, 1e-12);
	ASSERT_EQ(wp_energy_between(m, a, b, 2, &j), 0);
	ASSERT_NEAR(j, 123456789 * SCALE, 1e-15);
	for (size_t i = 0; i < 3; i++)
		ASSERT_EQ(wp_meter_domain_status(m, i, NULL, NULL), 0);

	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m);
	wp_host_close(h);
	tree_free(&t);
	return TEST_OK;
}

TEST(perf_multi_die_names)
{
	struct tree t;
	tree_init(&t, NULL);
	/* Two packages of two dies, a CPU repeating a die, and a CPU whose
	 * topology is missing. */
	make_pmu(&t, "23", "0,4,8,12,16,20", server_events, 2);
	make_cpu(&t, 0, 0, 0);
	make_cpu(&t, 4, 0, 1);
	make_cpu(&t, 8, 1, 0);
	make_cpu(&t, 12, 1, 1);
	make_cpu(&t, 16, 0, 1);
	make_paranoid(&t, "0");
	struct wp_host *h = open_host(&t, "perf");

	static const char *const order[] = { "package_0_die_0", "package_0_die_1",
		                             "package_1_die_0", "package_1_die_1",
		                             "core_0_die_0",    "core_0_die_1",
		                             "core_1_die_0",    "core_1_die_1" };
	ASSERT_EQ(wp_host_domain_count(h), 8);
	for (size_t i = 0; i < 8; i++)
		ASSERT_STR(wp_host_domain(h, i)->name, order[i]);
	ASSERT_EQ(domain(h, "package_1_die_1")->socket, 1);
	ASSERT_EQ(domain(h, "package_1_die_1")->die, 1);
	ASSERT_EQ(domain(h, "core_0_die_1")->die, 1);
	ASSERT(wp_domain_contains(domain(h, "package_0_die_1"), domain(h, "core_0_die_1")));
	ASSERT(!wp_domain_contains(domain(h, "package_0_die_0"), domain(h, "core_0_die_1")));
	ASSERT(!wp_domain_contains(domain(h, "package_1_die_1"), domain(h, "core_0_die_1")));
	must_note(h, "perf", WP_NOTE_SKIPPED,
	          "CPU 16 of the power PMU's cpumask skipped: it sits on the same package 0 "
	          "(die 1) as CPU 4");
	const struct wp_source_note *n =
		must_note(h, "perf", WP_NOTE_SKIPPED, "CPU 20 of the power PMU's cpumask skipped");
	ASSERT_HAS(n->message, "/devices/system/cpu/cpu20/topology/physical_package_id");
	ASSERT_EQ(n->error, -ENOENT);
	/* No CPU 16 or 20 was opened. */
	for (size_t i = 0; i < fake.ncalls; i++)
		ASSERT(fake.calls[i].cpu != 16 && fake.calls[i].cpu != 20);
	wp_host_close(h);

	/* One die per package: plain names, die -1, even where die_id exists. */
	pmu_file(&t, "cpumask", "0,8");
	h = open_host(&t, "perf");
	ASSERT_EQ(wp_host_domain_count(h), 4);
	ASSERT_EQ(domain(h, "package_1")->die, -1);
	ASSERT_EQ(domain(h, "core_0")->die, -1);
	wp_host_close(h);
	tree_free(&t);
	return TEST_OK;
}

TEST(perf_bad_event_files)
{
	static const struct pmu_event events[] = {
		{ "energy-pkg", "event=0x02", SCALE_TEXT, "Joules" },
		{ "energy-ram", "event=0x03", "a lot", "Joules" },
		{ "energy-cores", "event=0x01", SCALE_TEXT, "Watts" },
		{ "energy-gpu", "event=0x04,umask=0x1", SCALE_TEXT, "Joules" },
		{ "energy-psys", "event=0x05", SCALE_TEXT, NULL },
	};
	struct tree t;
	tree_init(&t, NULL);
	make_pmu(&t, "23", "0", events, 5);
	make_cpu(&t, 0, 0, -1);
	make_paranoid(&t, "0");
	struct wp_host *h = open_host(&t, "perf");

	ASSERT_EQ(wp_host_domain_count(h), 1);
	ASSERT_STR(wp_host_domain(h, 0)->name, "package_0");
	ASSERT_EQ(wp_host_domain(h, 0)->die, -1); /* no die_id file */
	const struct wp_source_note *n = must_note(h, "perf", WP_NOTE_SKIPPED, "energy-ram skipped");
	ends_with(n->path, "/events/energy-ram.scale");
	ASSERT_HAS(n->message, "/events/energy-ram.scale");
	ASSERT_EQ(n->error, WP_EPARSE);
	n = must_note(h, "perf", WP_NOTE_SKIPPED, "energy-cores skipped");
	ends_with(n->path, "/events/energy-cores.unit");
	ASSERT_HAS(n->message, "its unit is 'Watts', not 'Joules'");
	n = must_note(h, "perf", WP_NOTE_SKIPPED, "energy-gpu skipped");
	ends_with(n->path, "/events/energy-gpu");
	ASSERT_HAS(n->message, "'event=0x04,umask=0x1'");
	ASSERT(n->fix);
	n = must_note(h, "perf", WP_NOTE_SKIPPED, "energy-psys skipped");
	ends_with(n->path, "/events/energy-psys.unit");
	ASSERT_EQ(n->error, -ENOENT);
	must_note(h, "perf", WP_NOTE_FOUND, "1 domain from the power PMU");
	/* Nothing that was skipped was opened. */
	ASSERT_EQ(fake.ncalls, 1);
	wp_host_close(h);

	/* Other event texts that are refused, and scales that are not usable. */
	static const char *const bad_configs[] = { "", "event=", "event=0x100", "config=0x2",
		                                   "event=0x02,event=0x03", "event=2x" };
	for (size_t i = 0; i < sizeof bad_configs / sizeof *bad_configs; i++) {
		pmu_file(&t, "events/energy-pkg", bad_configs[i]);
		h = open_host(&t, "perf");
		ASSERT_EQ(wp_host_domain_count(h), 0);
		n = must_note(h, "perf", WP_NOTE_SKIPPED, "energy-pkg skipped");
		ends_with(n->path, "/events/energy-pkg");
		must_note(h, "perf", WP_NOTE_UNAVAILABLE, "none of the power PMU's 5 events");
		wp_host_close(h);
	}
	pmu_file(&t, "events/energy-pkg", "event=0x02");
	static const char *const bad_scales[] = { "0", "-1e-10", "nan", "1e999", "" };
	for (size_t i = 0; i < sizeof bad_scales / sizeof *bad_scales; i++) {
		pmu_file(&t, "events/energy-pkg.scale", bad_scales[i]);
		h = open_host(&t, "perf");
		ASSERT_EQ(wp_host_domain_count(h), 0);
		n = must_note(h, "perf", WP_NOTE_SKIPPED, "energy-pkg skipped");
		ends_with(n->path, "/events/energy-pkg.scale");
		wp_host_close(h);
	}
	tree_free(&t);
	return TEST_OK;
}

TEST(perf_bad_pmu_files)
{
	struct tree t;
	tree_init(&t, NULL);
	make_pmu(&t, NULL, "0", server_events, SERVER_EVENTS);
	make_cpu(&t, 0, 0, -1);
	make_paranoid(&t, "0");

	/* No type: nothing can be opened. */
	struct wp_host *h = open_host(&t, "perf");
	ASSERT_EQ(wp_host_domain_count(h), 0);
	const struct wp_source_note *n =
		must_note(h, "perf", WP_NOTE_UNAVAILABLE, "cannot read the power PMU's type");
	ends_with(n->path, "/devices/power/type");
	ASSERT_EQ(n->error, -ENOENT);
	ASSERT_EQ(fake.ncalls, 0);
	wp_host_close(h);

	pmu_file(&t, "type", "power");
	h = open_host(&t, "perf");
	n = must_note(h, "perf", WP_NOTE_UNAVAILABLE, "cannot read the power PMU's type");
	ASSERT_EQ(n->error, WP_EPARSE);
	wp_host_close(h);

	pmu_file(&t, "type", "4294967296"); /* attr.type is 32 bits */
	h = open_host(&t, "perf");
	n = must_note(h, "perf", WP_NOTE_UNAVAILABLE, "cannot read the power PMU's type");
	ASSERT_EQ(n->error, WP_ERANGE);
	wp_host_close(h);

	/* A bad or empty cpumask. */
	pmu_file(&t, "type", "23");
	static const char *const masks[] = { "zero", "", "3-1" };
	for (size_t i = 0; i < 3; i++) {
		pmu_file(&t, "cpumask", masks[i]);
		h = open_host(&t, "perf");
		ASSERT_EQ(wp_host_domain_count(h), 0);
		n = must_note(h, "perf", WP_NOTE_UNAVAILABLE, "cannot read the power PMU's CPUs");
		ends_with(n->path, "/devices/power/cpumask");
		ASSERT_EQ(n->error, WP_EPARSE);
		wp_host_close(h);
	}
	ASSERT_EQ(fake.ncalls, 0);
	tree_free(&t);
	return TEST_OK;
}

TEST(perf_permission_denied_names_paranoid)
{
	struct tree t;
	tree_init(&t, NULL);
	make_server(&t);
	make_paranoid(&t, "2");
	fake.open_err = -EACCES;
	struct wp_host *h = open_host(&t, "perf");

	ASSERT_EQ(wp_host_domain_count(h), 0);
	/* One refusal says it for every event: no more are tried. */
	ASSERT_EQ(fake.ncalls, 1);
	ASSERT_EQ(count_notes(h, "perf", WP_NOTE_SKIPPED), 0);
	ASSERT_EQ(count_notes(h, "perf", WP_NOTE_UNAVAILABLE), 1);
	const struct wp_source_note *n =
		must_note(h, "perf", WP_NOTE_UNAVAILABLE, "cannot be opened");
	ASSERT_EQ(n->error, -EACCES);
	ASSERT_HAS(n->message, "Permission denied");
	ASSERT_HAS(n->fix, "kernel.perf_event_paranoid <= 0");
	ASSERT_HAS(n->fix, "it is 2 here");
	ASSERT_HAS(n->fix, "/proc/sys/kernel/perf_event_paranoid");
	ASSERT_HAS(n->fix, "sudo sysctl -w kernel.perf_event_paranoid=0");
	ASSERT_HAS(n->fix, "/etc/sysctl.d/");
	ASSERT_HAS(n->fix, "CAP_PERFMON");
	ASSERT_HAS(n->fix, "setcap cap_perfmon+ep");
	ASSERT_HAS(n->fix, "perf-security.rst");
	ASSERT_LACKS(n->fix, "Debian");
	ASSERT_LACKS(n->fix, "seccomp");
	wp_host_close(h);

	/* Debian's level 3: CAP_PERFMON is not enough there. */
	make_paranoid(&t, "3");
	h = open_host(&t, "perf");
	n = must_note(h, "perf", WP_NOTE_UNAVAILABLE, "cannot be opened");
	ASSERT_HAS(n->fix, "it is 3 here");
	ASSERT_HAS(n->fix, "Debian");
	ASSERT_HAS(n->fix, "CAP_SYS_ADMIN");
	wp_host_close(h);

	/* EPERM (seccomp, an LSM); and a /proc that does not tell. */
	char path[1024];
	snprintf(path, sizeof path, "%s/sys/kernel/perf_event_paranoid", t.proc);
	ASSERT_EQ(unlink(path), 0);
	fake.open_err = -EPERM;
	h = open_host(&t, "perf");
	n = must_note(h, "perf", WP_NOTE_UNAVAILABLE, "cannot be opened");
	ASSERT_EQ(n->error, -EPERM);
	ASSERT_HAS(n->fix, "could not be read");
	ASSERT_HAS(n->fix, "seccomp");
	wp_host_close(h);

	/* Refused after some events opened: those stay, the rest is noted. */
	fake.open_err = 0;
	fake.fail_config[3] = -EACCES;
	make_paranoid(&t, "1");
	h = open_host(&t, "perf");
	ASSERT_INT(wp_host_domain_count(h), >, 0);
	n = must_note(h, "perf", WP_NOTE_SKIPPED, "remaining power PMU events skipped");
	ASSERT_HAS(n->fix, "it is 1 here");
	must_note(h, "perf", WP_NOTE_FOUND, "domains from the power PMU");
	wp_host_close(h);
	tree_free(&t);
	return TEST_OK;
}

TEST(perf_open_errors_skip_events)
{
	struct tree t;
	tree_init(&t, NULL);
	make_server(&t);
	fake.fail_config[1] = -EINVAL;
	fake.fail_config[3] = -ENODEV;
	fake.fail_config[5] = -EOPNOTSUPP;
	struct wp_host *h = open_host(&t, "perf");

	ASSERT_EQ(wp_host_domain_count(h), 2);
	ASSERT(wp_host_find_domain(h, "package_0", NULL) == 0);
	ASSERT(wp_host_find_domain(h, "package_1", NULL) == 0);
	const struct wp_source_note *n =
		must_note(h, "perf", WP_NOTE_SKIPPED, "event energy-ram on CPU 8 skipped");
	ASSERT_EQ(n->error, -ENODEV);
	ends_with(n->path, "/events/energy-ram");
	n = must_note(h, "perf", WP_NOTE_SKIPPED, "event energy-cores on CPU 0 skipped");
	ASSERT_EQ(n->error, -EINVAL);
	n = must_note(h, "perf", WP_NOTE_SKIPPED, "event energy-psys on CPU 0 skipped");
	ASSERT_EQ(n->error, -EOPNOTSUPP);
	/* 2 CPUs x (cores, ram) + psys */
	ASSERT_EQ(count_notes(h, "perf", WP_NOTE_SKIPPED), 5);
	must_note(h, "perf", WP_NOTE_FOUND, "2 domains from the power PMU (type 23)");
	wp_host_close(h);

	/* Every open fails: one note that sums it up. */
	fake.fail_config[2] = -ENOENT;
	h = open_host(&t, "perf");
	ASSERT_EQ(wp_host_domain_count(h), 0);
	n = must_note(h, "perf", WP_NOTE_UNAVAILABLE, "none of the power PMU's 4 events");
	ASSERT(n->fix);
	ASSERT_EQ(count_notes(h, "perf", WP_NOTE_FOUND), 0);
	wp_host_close(h);
	tree_free(&t);
	return TEST_OK;
}

TEST(perf_missing_pmu)
{
	struct tree t;
	tree_init(&t, NULL);
	struct wp_host *h = open_host(&t, "perf");
	ASSERT_EQ(wp_host_domain_count(h), 0);
	const struct wp_source_note *n = must_note(h, "perf", WP_NOTE_UNAVAILABLE, "no power PMU");
	ASSERT_EQ(n->error, -ENOENT);
	ASSERT_STR(n->path, t.pmu);
	ASSERT_HAS(n->fix, "CONFIG_PERF_EVENTS_INTEL_RAPL");
	ASSERT_HAS(n->fix, "AMD");
	ASSERT_HAS(n->fix, "Linux 5.8");
	ASSERT_HAS(n->fix, "Virtual machines");
	ASSERT_EQ(fake.ncalls, 0);
	wp_host_close(h);

	/* The driver is there but offers no energy event (a VM). */
	make_pmu(&t, "23", "0", NULL, 0);
	make_cpu(&t, 0, 0, -1);
	h = open_host(&t, "perf");
	ASSERT_EQ(wp_host_domain_count(h), 0);
	n = must_note(h, "perf", WP_NOTE_UNAVAILABLE, "no energy event under");
	ASSERT_EQ(n->error, WP_ENOSOURCE);
	ASSERT_HAS(n->fix, "measure on the host");
	wp_host_close(h);
	tree_free(&t);
	return TEST_OK;
}

/* A powercap package-0 and dram zone, and the power PMU without energy-ram. */
static void make_both(struct sim *s, struct tree *t, double pc_watts)
{
	const struct sim_zone zones[] = {
		{ "intel-rapl:0", "package-0", 262143328850, pc_watts, 0, 0, 0, 0 },
		{ "intel-rapl:0:0", "dram", 65712999613, 5, 0, 0, 0, 0 },
	};
	sim_create(s, zones, 2);
	tree_init(t, s->root);
	make_pmu(t, "23", "0", server_events, 2); /* cores, pkg */
	make_cpu(t, 0, 0, 0);
	make_paranoid(t, "0");
}

TEST(perf_preferred_over_powercap)
{
	struct sim s;
	struct tree t;
	make_both(&s, &t, 50);
	struct wp_host *h = open_host(&t, NULL);

	ASSERT_STR(domain(h, "package_0")->source, "perf");
	ASSERT_STR(domain(h, "core_0")->source, "perf");
	/* What perf lacks, powercap still gives. */
	ASSERT_STR(domain(h, "dram_0")->source, "powercap");
	ASSERT_EQ(wp_host_domain_count(h), 3);
	const struct wp_source_note *n = must_note(
		h, "powercap", WP_NOTE_SKIPPED, "package_0 skipped: perf gives it too and is preferred");
	ends_with(n->path, "/intel-rapl:0/energy_uj");
	wp_host_close(h);

	/* Naming powercap forces it. */
	h = open_host(&t, "powercap");
	ASSERT_STR(domain(h, "package_0")->source, "powercap");
	must_note(h, "perf", WP_NOTE_UNAVAILABLE, "not tried: sources limited to 'powercap'");
	wp_host_close(h);

	/* Named first, powercap is preferred over perf. */
	h = open_host(&t, "powercap,perf");
	ASSERT_STR(domain(h, "package_0")->source, "powercap");
	ASSERT_STR(domain(h, "core_0")->source, "perf");
	must_note(h, "perf", WP_NOTE_SKIPPED, "package_0 skipped: powercap gives it too");
	wp_host_close(h);
	tree_free(&t);
	sim_destroy(&s);
	return TEST_OK;
}

/*
 * Opens a host on perf (live at perf_w) and powercap (a thread at pc_w) and
 * returns how many cross-check warnings it gave.
 */
static size_t crosscheck_warnings(double perf_w, double pc_w)
{
	struct sim s;
	struct tree t;
	make_both(&s, &t, pc_w);
	fake.live = 1;
	fake.watts = perf_w;
	fake.t0_ns = wp_now_ns();
	/* Every 0.1 ms: a lag of one tick at each end of the 20 ms window is
	 * 1% at most, well inside the host's 5%. */
	sim_start(&s, 100000);
	test_sleep_ms(2);
	struct wp_host *h = open_host(&t, NULL);
	sim_stop(&s);
	size_t n = count_notes(h, "perf", WP_NOTE_WARNING);
	if (n) {
		const struct wp_source_note *w = must_note(h, "perf", WP_NOTE_WARNING, "package_0");
		fprintf(stderr, "  warning: %s\n", w->message);
		ASSERT_HAS(w->message, "package_0: perf and powercap disagree by");
		ASSERT_HAS(w->message, "perf is used");
	}
	ASSERT_STR(domain(h, "package_0")->source, "perf");
	wp_host_close(h);
	tree_free(&t);
	sim_destroy(&s);
	return n;
}

TEST(perf_crosscheck_warns_on_disagreement)
{
	/* powercap reads 30% less than perf. */
	ASSERT_EQ(crosscheck_warnings(50, 35), 1);
	return TEST_OK;
}

TEST(perf_crosscheck_quiet_when_agreeing)
{
	/* The powercap side lags its thread by up to a tick, and a busy machine
	 * may hold the thread back longer: a real disagreement warns every
	 * time, so one quiet open in three is enough. */
	size_t warned = 0;
	for (int i = 0; i < 3; i++) {
		warned = crosscheck_warnings(50, 50);
		if (warned == 0)
			break;
	}
	ASSERT_EQ(warned, 0);
	return TEST_OK;
}

/* ------------------------------------------------ the contract's fixture */

static void ct_setup(struct contract_env *env)
{
	struct tree *t = calloc(1, sizeof *t);
	char fds[700];

	/* The contract's own tree: <root>/sys and <root>/proc. */
	snprintf(t->root, sizeof t->root, "%s", env->root);
	snprintf(t->sys, sizeof t->sys, "%s", env->sys);
	snprintf(t->proc, sizeof t->proc, "%s", env->proc);
	snprintf(t->pmu, sizeof t->pmu, "%s/bus/event_source/devices/power", t->sys);
	snprintf(fds, sizeof fds, "%s/fds", env->root);
	fake_install(fds);
	make_pmu(t, "23", "0", &server_events[1], 1); /* energy-pkg */
	make_cpu(t, 0, 0, -1);
	env->priv = t;
	/* The count starts at the truth at t0: 0 J. */
	fake_set(2, 0, 0);
}

static void ct_tick(struct contract_env *env, uint64_t now_ns)
{
	fake_set(2, 0, (uint64_t)(env->watts * (double)(now_ns - env->t0_ns) / 1e9 / SCALE));
}

static void ct_vanish(struct contract_env *env)
{
	(void)env;
	fake.read_err = -ENODEV;
}

static void ct_teardown(struct contract_env *env)
{
	fake_remove();
	free(env->priv);
}

const struct contract_source contract_perf = {
	.source = "perf",
	.domain = "package_0",
	.wraps = 0,
	.rel_tol = 0.001,
	.setup = ct_setup,
	.tick = ct_tick,
	.vanish = ct_vanish,
	.teardown = ct_teardown,
};

/* ------------------------------------------------- the real system calls */

TEST(perf_real_syscalls_contract)
{
	char dir[512], path[700];
	uint64_t v = 0, eight = 0x0123456789abcdefu;
	test_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/count", dir);

	/* A read gives the 8 bytes as they are; fewer mean the event is gone
	 * or broken. */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ASSERT(fd >= 0);
	ASSERT_EQ(wp__perf_sys_default.read(fd, &v), -ENODEV); /* empty: EOF */
	ASSERT_EQ(pwrite(fd, &eight, 8, 0), 8);
	ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
	ASSERT_EQ(wp__perf_sys_default.read(fd, &v), 0);
	ASSERT_U64(v, ==, eight);
	ASSERT_EQ(ftruncate(fd, 4), 0);
	ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
	ASSERT_EQ(wp__perf_sys_default.read(fd, &v), -EIO);
	close(fd);
	ASSERT_EQ(wp__perf_sys_default.read(-1, &v), -EBADF);

	/* No PMU has this type: the kernel refuses it (ENOENT; EACCES, EPERM
	 * or ENOSYS where perf events are locked away), as a negative errno. */
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.type = 0x7ffffff0;
	attr.size = sizeof attr;
	int rc = wp__perf_sys_default.open(&attr, 0);
	if (rc >= 0)
		close(rc);
	ASSERT_INT(rc, <, 0);
	ASSERT_INT(rc, >, -4096);
	ASSERT(wp__perf_sys == &wp__perf_sys_default);
	test_rmtree(dir);
	return TEST_OK;
}
