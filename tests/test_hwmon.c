/*
 * test_hwmon.c - the hwmon source on fake /sys/class/hwmon trees: amd_energy
 * sockets and cores (NUMA nodes included), ACPI power meters integrated from
 * power with the trapezoid checked against read times, labels and names, GPU
 * chips left out, both attribute layouts, bad and vanishing files,
 * permission fixes, totals, and the preference of powercap.  The two
 * contract fixtures (contract.h) sit at the end.
 *
 * Trees are written by hand: <root>/class/hwmon/hwmonN/... as plain
 * directories, or as symlinks into <root>/devices/ as the kernel makes them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "contract.h"
#include "core/internal.h"
#include "sim.h"
#include "test.h"

/* Rewrites <root>/<rel> in place, so that an open reader keeps the same file. */
static void set_file(const char *root, const char *rel, const char *text)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", root, rel);
	test_rewrite(path, text);
}

static struct wp_host *open_sources(const char *root, const char *sources)
{
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = root,
		                .sources = sources, .flags = WP_OPEN_NO_CROSSCHECK };
	struct wp_host *h = NULL;
	ASSERT_EQ(wp_host_open(&h, &o), 0);
	return h;
}

static struct wp_host *open_host(const char *root)
{
	return open_sources(root, "hwmon");
}

static size_t count_notes(const struct wp_host *h, enum wp_note_level l, const char *text)
{
	size_t k = 0;
	for (size_t i = 0; i < wp_host_note_count(h); i++) {
		const struct wp_source_note *n = wp_host_note(h, i);
		k += n->level == l && strstr(n->message, text);
	}
	return k;
}

static const struct wp_domain_info *domain(const struct wp_host *h, const char *name)
{
	size_t i;
	if (wp_host_find_domain(h, name, &i) < 0) {
		for (size_t k = 0; k < wp_host_domain_count(h); k++)
			fprintf(stderr, "  domain: %s\n", wp_host_domain(h, k)->name);
		for (size_t k = 0; k < wp_host_note_count(h); k++)
			fprintf(stderr, "  note: %s\n", wp_host_note(h, k)->message);
		TEST_FAIL_("no domain '%s'", name);
	}
	return wp_host_domain(h, i);
}

static void ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	if (n < t || strcmp(s + n - t, tail) != 0)
		TEST_FAIL_("'%s' should end with '%s'", s, tail);
}

/* amd_energy as the driver lays it out: cores first, then sockets. */
static void amd_energy(const char *root, int hw, int cores, int sockets, uint64_t uj)
{
	char rel[128];
	snprintf(rel, sizeof rel, "class/hwmon/hwmon%d/name", hw);
	test_putf(root, rel, "amd_energy\n");
	for (int i = 0; i < cores + sockets; i++) {
		snprintf(rel, sizeof rel, "class/hwmon/hwmon%d/energy%d_label", hw, i + 1);
		if (i < cores)
			test_putf(root, rel, "Ecore%03d\n", i);
		else
			test_putf(root, rel, "Esocket%d\n", i - cores);
		snprintf(rel, sizeof rel, "class/hwmon/hwmon%d/energy%d_input", hw, i + 1);
		test_putf(root, rel, "%" PRIu64 "\n", uj + (uint64_t)i);
	}
}

/* An ACPI power meter as acpi_power_meter.c registers it: everything,
 * `name` included, under hwmonN/device/. */
static void power_meter(const char *root, int hw, uint64_t uw)
{
	char rel[128];
	snprintf(rel, sizeof rel, "class/hwmon/hwmon%d/device/name", hw);
	test_putf(root, rel, "power_meter\n");
	snprintf(rel, sizeof rel, "class/hwmon/hwmon%d/device/power1_average", hw);
	test_putf(root, rel, "%" PRIu64 "\n", uw);
	snprintf(rel, sizeof rel, "class/hwmon/hwmon%d/device/power1_average_interval", hw);
	test_putf(root, rel, "1000\n");
	snprintf(rel, sizeof rel, "class/hwmon/hwmon%d/device/power1_is_battery", hw);
	test_putf(root, rel, "0\n");
}

/* A snapshot with the clock read just before and after: every domain was
 * read in between. */
struct timed {
	struct wp_snapshot *s;
	uint64_t before, after;
};

static void take(struct wp_meter *m, struct timed *t)
{
	t->before = wp_now_ns();
	ASSERT_EQ(wp_meter_snapshot(m, t->s), 0);
	t->after = wp_now_ns();
}

/*
 * The energy of domain i from a to b, when the power read at a was wa and
 * the one read at b was wb, must be the trapezoid (wa + wb) / 2 x the time
 * between the two reads, which lies within what the clock brackets; 1 uJ on
 * each side for the counter's truncation.
 */
static double check_trapezoid(struct wp_meter *m, size_t i, const struct timed *a,
                              const struct timed *b, double wa, double wb)
{
	double j = -1, avg = (wa + wb) / 2;
	ASSERT_EQ(wp_energy_between(m, a->s, b->s, i, &j), 0);
	double lo = avg * (double)(b->before - a->after) / 1e9 - 2e-6;
	double hi = avg * (double)(b->after - a->before) / 1e9 + 2e-6;
	if (!(j >= lo && j <= hi))
		TEST_FAIL_("energy %.9g J outside the trapezoid's [%.9g, %.9g] J "
		           "(%.3g W then %.3g W)",
		           j, lo, hi, wa, wb);
	return j;
}

static size_t meter_index(const struct wp_meter *m, const char *name)
{
	for (size_t i = 0; i < wp_meter_domain_count(m); i++)
		if (strcmp(wp_meter_domain(m, i)->name, name) == 0)
			return i;
	TEST_FAIL_("meter has no domain '%s'", name);
}

TEST(hwmon_amd_energy_sockets_and_cores)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	test_putf(root, "class/hwmon/hwmon0/name", "k10temp\n");
	test_putf(root, "class/hwmon/hwmon0/temp1_input", "41000\n");
	amd_energy(root, 1, 4, 2, 1000000);
	struct wp_host *h = open_host(root);

	ASSERT_EQ(wp_host_domain_count(h), 2);
	ASSERT_STR(wp_host_domain(h, 0)->name, "package_0");
	ASSERT_STR(wp_host_domain(h, 1)->name, "package_1");
	for (int s = 0; s < 2; s++) {
		const struct wp_domain_info *d = wp_host_domain(h, (size_t)s);
		ASSERT_STR(d->source, "hwmon");
		ASSERT_STR(d->unit, "J");
		ASSERT_EQ(d->kind, WP_KIND_PACKAGE);
		ASSERT_EQ(d->socket, s);
		ASSERT_EQ(d->die, -1);
		ASSERT_EQ(d->integrated, 0);
		ASSERT_EQ(d->estimated, 0);
		ASSERT_U64(d->counter_max, ==, UINT64_MAX);
		ASSERT_NEAR(d->joules_per_count, 1e-6, 0);
		ASSERT_NEAR(d->peak_power_w, 1000, 0);
		/* 2^64 uJ at 1000 W is 585 years: clamped to 2^62 ns. */
		ASSERT_U64(d->min_wrap_ns, ==, (uint64_t)1 << 62);
	}
	ends_with(domain(h, "package_0")->path, "/class/hwmon/hwmon1/energy5_input");
	ends_with(domain(h, "package_1")->path, "/class/hwmon/hwmon1/energy6_input");
	const struct wp_source_note *n =
		test_find_note(h, NULL, WP_NOTE_SKIPPED, "4 per-core counters of chip 'hwmon1'");
	ASSERT(n);
	ASSERT_HAS(n->message, "inside its package");
	ASSERT_EQ(count_notes(h, WP_NOTE_SKIPPED, "per-core"), 1);
	ASSERT(test_find_note(h, NULL, WP_NOTE_FOUND, "2 domains from 1 chip (0 integrated from power)"));

	/* Energy is the counter's difference, to the microjoule. */
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	wp_meter_snapshot(m, a);
	ASSERT_U64(wp_snapshot_raw(a, 0), ==, 1000004);
	set_file(root, "class/hwmon/hwmon1/energy5_input", "3500004\n");
	set_file(root, "class/hwmon/hwmon1/energy6_input", "1234567891\n");
	wp_meter_snapshot(m, b);
	double j0 = -1, j1 = -1;
	ASSERT_EQ(wp_energy_between(m, a, b, 0, &j0), 0);
	ASSERT_EQ(wp_energy_between(m, a, b, 1, &j1), 0);
	ASSERT_NEAR(j0, 2.5, 1e-12);
	ASSERT_NEAR(j1, (1234567891.0 - 1000005.0) / 1e6, 1e-9);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

TEST(hwmon_amd_energy_numa_nodes)
{
	char root[512], rel[128];
	test_tmpdir(root, sizeof root);
	/* Two sockets in NPS2: nodes 0 and 1 on socket 0, 2 and 3 on socket
	 * 1; node 4 holds memory only.  The driver shows one "Esocket" per
	 * node, read on that node's first CPU. */
	test_putf(root, "devices/system/cpu/online", "0-7\n");
	for (int cpu = 0; cpu < 8; cpu++) {
		snprintf(rel, sizeof rel,
		         "devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
		test_putf(root, rel, "%d\n", cpu / 4);
	}
	for (int node = 0; node < 4; node++) {
		snprintf(rel, sizeof rel, "devices/system/node/node%d/cpulist", node);
		test_putf(root, rel, "%d-%d\n", 2 * node, 2 * node + 1);
	}
	test_putf(root, "devices/system/node/node4/cpulist", "\n");
	amd_energy(root, 0, 0, 5, 7000000);
	struct wp_host *h = open_host(root);

	ASSERT_EQ(wp_host_domain_count(h), 2);
	ends_with(domain(h, "package_0")->path, "/hwmon0/energy1_input");
	ends_with(domain(h, "package_1")->path, "/hwmon0/energy3_input");
	ASSERT_EQ(domain(h, "package_1")->socket, 1);
	const struct wp_source_note *n = test_find_note(h, NULL, WP_NOTE_SKIPPED, "energy2 (Esocket1)");
	ASSERT(n);
	ASSERT_HAS(n->message, "package_0 is already read from");
	ASSERT_HAS(n->message, "two NUMA nodes on one socket");
	ASSERT(test_find_note(h, NULL, WP_NOTE_SKIPPED, "energy4 (Esocket3)"));
	n = test_find_note(h, NULL, WP_NOTE_SKIPPED, "energy5 (Esocket4)");
	ASSERT(n);
	ASSERT_HAS(n->message, "NUMA node 4 has no online CPU");
	ASSERT_EQ(n->error, -ENODEV);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

TEST(hwmon_power_meter_integrates)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	power_meter(root, 0, 50000000); /* 50 W */
	struct wp_host *h = open_host(root);

	ASSERT_EQ(wp_host_domain_count(h), 1);
	const struct wp_domain_info *d = domain(h, "system");
	ASSERT_EQ(d->kind, WP_KIND_SYSTEM);
	ASSERT_EQ(d->socket, -1);
	ASSERT_EQ(d->die, -1);
	ASSERT_EQ(d->integrated, 1);
	ASSERT_STR(d->method, WP_METHOD_POWER_AVERAGE);
	ASSERT_U64(d->update_ns, ==, 1000000000); /* power1_average_interval */
	ASSERT_EQ(d->estimated, 0);
	ASSERT_U64(d->counter_max, ==, UINT64_MAX);
	ASSERT_NEAR(d->joules_per_count, 1e-6, 0);
	ASSERT_NEAR(d->peak_power_w, 10000, 0); /* no cap declared */
	ends_with(d->path, "/class/hwmon/hwmon0/device/power1_average");
	ASSERT(test_find_note(h, NULL, WP_NOTE_FOUND, "1 domain from 1 chip (1 integrated from power)"));

	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	struct timed t[5];
	for (int i = 0; i < 5; i++)
		t[i].s = wp_snapshot_new(m);
	/* Constant 50 W: 50 W x the time between the reads. */
	take(m, &t[0]);
	test_sleep_ms(40);
	take(m, &t[1]);
	double j = check_trapezoid(m, 0, &t[0], &t[1], 50, 50);
	ASSERT(j > 50 * 0.039);
	/* A ramp, 50 -> 150 -> 0 W: each step adds the mean of its two
	 * readings, not either end (a rectangle would be off by 50%). */
	set_file(root, "class/hwmon/hwmon0/device/power1_average", "150000000\n");
	test_sleep_ms(40);
	take(m, &t[2]);
	check_trapezoid(m, 0, &t[1], &t[2], 50, 150);
	set_file(root, "class/hwmon/hwmon0/device/power1_average", "0\n");
	test_sleep_ms(40);
	take(m, &t[3]);
	check_trapezoid(m, 0, &t[2], &t[3], 150, 0);
	test_sleep_ms(20);
	take(m, &t[4]);
	double idle = -1;
	ASSERT_EQ(wp_energy_between(m, t[3].s, t[4].s, 0, &idle), 0);
	ASSERT_NEAR(idle, 0, 1e-6);
	/* The pieces add up: energy is a counter, not a sum of samples. */
	double all = -1, sum = 0;
	ASSERT_EQ(wp_energy_between(m, t[0].s, t[4].s, 0, &all), 0);
	for (int i = 0; i < 4; i++) {
		double p = -1;
		ASSERT_EQ(wp_energy_between(m, t[i].s, t[i + 1].s, 0, &p), 0);
		sum += p;
	}
	ASSERT_NEAR(all, sum, 1e-9);
	for (int i = 0; i < 5; i++)
		wp_snapshot_free(t[i].s);
	wp_meter_close(m);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

TEST(hwmon_power_average_preferred_and_limits)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	/* A meter of the new layout with both files: the average wins. */
	test_putf(root, "class/hwmon/hwmon0/name", "power_meter\n");
	test_putf(root, "class/hwmon/hwmon0/power1_input", "10000000\n");
	test_putf(root, "class/hwmon/hwmon0/power1_average", "20000000\n");
	test_putf(root, "class/hwmon/hwmon0/power1_cap", "400000000\n");
	test_putf(root, "class/hwmon/hwmon0/power1_crit", "650000000\n");
	/* A second meter: system_1, its peak from power1_max. */
	test_putf(root, "class/hwmon/hwmon1/name", "power_meter\n");
	test_putf(root, "class/hwmon/hwmon1/power1_input", "30000000\n");
	test_putf(root, "class/hwmon/hwmon1/power1_max", "800000000\n");
	struct wp_host *h = open_host(root);

	ASSERT_EQ(wp_host_domain_count(h), 2);
	const struct wp_domain_info *s0 = domain(h, "system"), *s1 = domain(h, "system_1");
	ends_with(s0->path, "/hwmon0/power1_average");
	ends_with(s1->path, "/hwmon1/power1_input");
	ASSERT_NEAR(s0->peak_power_w, 650, 1e-9);
	ASSERT_NEAR(s1->peak_power_w, 800, 1e-9);
	ASSERT_U64(s0->min_wrap_ns, ==, (uint64_t)1 << 62);
	ASSERT_EQ(s1->kind, WP_KIND_SYSTEM);
	ASSERT_EQ(s1->integrated, 1);

	/* The average file is the one read: 20 W, not 10 W. */
	struct wp_meter *m;
	const char *name = "system";
	ASSERT_EQ(wp_meter_open(&m, h, &name, 1, NULL), 0);
	struct timed a = { wp_snapshot_new(m), 0, 0 }, b = { wp_snapshot_new(m), 0, 0 };
	take(m, &a);
	test_sleep_ms(30);
	take(m, &b);
	check_trapezoid(m, 0, &a, &b, 20, 20);
	wp_snapshot_free(a.s);
	wp_snapshot_free(b.s);
	wp_meter_close(m);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

TEST(hwmon_labels_become_names)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	test_putf(root, "class/hwmon/hwmon0/name", "ina3221\n");
	test_putf(root, "class/hwmon/hwmon0/power1_input", "5000000\n");
	test_putf(root, "class/hwmon/hwmon0/power1_label", "VDD_IN\n");
	test_putf(root, "class/hwmon/hwmon0/power2_input", "2000000\n");
	test_putf(root, "class/hwmon/hwmon0/power2_label", "VDD CPU-GPU\n");
	test_putf(root, "class/hwmon/hwmon1/name", "MyChip\n");
	test_putf(root, "class/hwmon/hwmon1/energy1_input", "123\n");
	/* A second chip of the same driver with the same label. */
	test_putf(root, "class/hwmon/hwmon2/name", "ina3221\n");
	test_putf(root, "class/hwmon/hwmon2/power1_input", "1000000\n");
	test_putf(root, "class/hwmon/hwmon2/power1_label", "VDD_IN\n");
	/* amd_energy counters it cannot place are shown, as others. */
	test_putf(root, "class/hwmon/hwmon3/name", "amd_energy\n");
	test_putf(root, "class/hwmon/hwmon3/energy1_input", "5\n");
	struct wp_host *h = open_host(root);

	ASSERT_EQ(wp_host_domain_count(h), 5);
	const struct wp_domain_info *d = domain(h, "hwmon_ina3221_vdd_in");
	ASSERT_EQ(d->kind, WP_KIND_OTHER);
	ASSERT_EQ(d->integrated, 1);
	ASSERT_STR(d->method, WP_METHOD_POWER_INSTANT);
	ASSERT_U64(d->update_ns, ==, 0);
	ASSERT_EQ(d->socket, -1);
	ends_with(d->path, "/hwmon0/power1_input");
	ends_with(domain(h, "hwmon_ina3221_vdd_cpu_gpu")->path, "/hwmon0/power2_input");
	d = domain(h, "hwmon_mychip_energy1");
	ASSERT_EQ(d->kind, WP_KIND_OTHER);
	ASSERT_EQ(d->integrated, 0);
	ASSERT_STR(d->method, WP_METHOD_COUNTER);
	ends_with(domain(h, "hwmon_ina3221_vdd_in_hwmon2")->path, "/hwmon2/power1_input");
	ASSERT_EQ(domain(h, "hwmon_amd_energy_energy1")->kind, WP_KIND_OTHER);
	ASSERT(test_find_note(h, NULL, WP_NOTE_FOUND, "5 domains from 4 chips (3 integrated from power)"));
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

TEST(hwmon_gpu_chips_left_to_gpu_source)
{
	static const char *const gpus[] = { "amdgpu", "radeon", "nouveau", "i915", "xe" };
	char root[512], rel[128];
	test_tmpdir(root, sizeof root);
	for (int i = 0; i < 5; i++) {
		snprintf(rel, sizeof rel, "class/hwmon/hwmon%d/name", i);
		test_putf(root, rel, "%s\n", gpus[i]);
		snprintf(rel, sizeof rel, "class/hwmon/hwmon%d/%s", i,
		         i % 2 ? "energy1_input" : "power1_average");
		test_putf(root, rel, "1000\n");
	}
	struct wp_host *h = open_host(root);
	ASSERT_EQ(wp_host_domain_count(h), 0);
	ASSERT_EQ(count_notes(h, WP_NOTE_SKIPPED, "the amdgpu source reads it"), 1);
	ASSERT(test_find_note(h, "hwmon", WP_NOTE_SKIPPED,
	                      "chip 'hwmon0' (amdgpu) skipped: the amdgpu source reads it"));
	ASSERT_EQ(count_notes(h, WP_NOTE_SKIPPED, "a GPU's, which no source reads yet"), 4);
	ASSERT(test_find_note(h, NULL, WP_NOTE_SKIPPED,
	                      "chip 'hwmon4' (xe) skipped: a GPU's, which no source reads yet"));
	const struct wp_source_note *n = test_find_note(h, NULL, WP_NOTE_UNAVAILABLE, "no energy or power");
	ASSERT(n);
	ASSERT_HAS(n->message, "on 5 hwmon chips (GPU chips are not read here)");
	ASSERT_EQ(n->error, WP_ENOSOURCE);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

TEST(hwmon_symlinks_device_dir_and_chip_order)
{
	char root[512], path[1024];
	test_tmpdir(root, sizeof root);
	/* As the kernel does it: class/hwmon/hwmonN links into devices/. */
	test_putf(root, "devices/LNXSYSTM:00/ACPI000D:00/name", "power_meter\n");
	test_putf(root, "devices/LNXSYSTM:00/ACPI000D:00/power1_average", "7000000\n");
	test_mkdirs(strcat(strcpy(path, root), "/devices/LNXSYSTM:00/ACPI000D:00/hwmon/hwmon10"));
	if (symlink("../..", strcat(strcpy(path, root),
	                            "/devices/LNXSYSTM:00/ACPI000D:00/hwmon/hwmon10/device")) < 0)
		TEST_FAIL_("symlink: %s", strerror(errno));
	test_mkdirs(strcat(strcpy(path, root), "/class/hwmon"));
	if (symlink("../../devices/LNXSYSTM:00/ACPI000D:00/hwmon/hwmon10",
	            strcat(strcpy(path, root), "/class/hwmon/hwmon10")) < 0)
		TEST_FAIL_("symlink: %s", strerror(errno));
	/* hwmon2 sorts before hwmon10 by number, not by strcmp. */
	power_meter(root, 2, 9000000);
	/* A chip with both its own name and a device/ holding unrelated
	 * files: its own directory is read. */
	test_putf(root, "class/hwmon/hwmon3/name", "amd_energy\n");
	test_putf(root, "class/hwmon/hwmon3/energy1_input", "11\n");
	test_putf(root, "class/hwmon/hwmon3/energy1_label", "Esocket0\n");
	test_putf(root, "class/hwmon/hwmon3/device/modalias", "platform:amd_energy\n");
	struct wp_host *h = open_host(root);

	ASSERT_EQ(wp_host_domain_count(h), 3);
	ends_with(domain(h, "system")->path, "/class/hwmon/hwmon2/device/power1_average");
	ends_with(domain(h, "system_1")->path, "/class/hwmon/hwmon10/device/power1_average");
	ends_with(domain(h, "package_0")->path, "/class/hwmon/hwmon3/energy1_input");
	struct wp_meter *m;
	const char *name = "system_1";
	ASSERT_EQ(wp_meter_open(&m, h, &name, 1, NULL), 0);
	struct timed a = { wp_snapshot_new(m), 0, 0 }, b = { wp_snapshot_new(m), 0, 0 };
	take(m, &a);
	test_sleep_ms(20);
	take(m, &b);
	check_trapezoid(m, 0, &a, &b, 7, 7);
	wp_snapshot_free(a.s);
	wp_snapshot_free(b.s);
	wp_meter_close(m);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

TEST(hwmon_bad_files)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	power_meter(root, 0, 0);
	set_file(root, "class/hwmon/hwmon0/device/power1_average", "not a number\n");
	amd_energy(root, 1, 0, 2, 0);
	set_file(root, "class/hwmon/hwmon1/energy1_input", "99999999999999999999999\n");
	/* A meter without a name. */
	test_putf(root, "class/hwmon/hwmon2/power1_input", "1000\n");
	struct wp_host *h = open_host(root);

	ASSERT_EQ(wp_host_domain_count(h), 1);
	ASSERT_STR(wp_host_domain(h, 0)->name, "package_1");
	const struct wp_source_note *n = test_find_note(h, NULL, WP_NOTE_SKIPPED, "power1 of chip 'hwmon0'");
	ASSERT(n);
	ASSERT_EQ(n->error, WP_EPARSE);
	ASSERT_HAS(n->message, "/class/hwmon/hwmon0/device/power1_average'");
	ASSERT_HAS(n->message, "file does not hold a number");
	ends_with(n->path, "/hwmon0/device/power1_average");
	n = test_find_note(h, NULL, WP_NOTE_SKIPPED, "energy1 (Esocket0) of chip 'hwmon1'");
	ASSERT(n);
	ASSERT_EQ(n->error, WP_ERANGE);
	ASSERT_HAS(n->message, "/class/hwmon/hwmon1/energy1_input'");
	n = test_find_note(h, NULL, WP_NOTE_SKIPPED, "chip 'hwmon2' skipped: cannot read its name");
	ASSERT(n);
	ASSERT_EQ(n->error, -ENOENT);
	ASSERT(test_find_note(h, NULL, WP_NOTE_FOUND, "1 domain from 3 chips"));
	wp_host_close(h);

	/* Nothing usable at all: one summary. */
	set_file(root, "class/hwmon/hwmon1/energy2_input", "-5\n");
	h = open_host(root);
	ASSERT_EQ(wp_host_domain_count(h), 0);
	n = test_find_note(h, NULL, WP_NOTE_UNAVAILABLE, "4 energy or power sensors found on 3 chips but "
	                                      "none could be used");
	ASSERT(n);
	ASSERT_EQ(n->error, WP_ENOSOURCE);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

TEST(hwmon_vanishing_sensor_keeps_energy)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	power_meter(root, 0, 80000000);
	amd_energy(root, 1, 0, 1, 1000000);
	struct wp_host *h = open_host(root);
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	size_t sys = meter_index(m, "system"), pkg = meter_index(m, "package_0");
	struct timed a = { wp_snapshot_new(m), 0, 0 }, b = { wp_snapshot_new(m), 0, 0 },
	             c = { wp_snapshot_new(m), 0, 0 };
	take(m, &a);
	test_sleep_ms(30);
	set_file(root, "class/hwmon/hwmon1/energy1_input", "3000000\n");
	take(m, &b);
	double sys_j = check_trapezoid(m, sys, &a, &b, 80, 80), pkg_j = -1;
	ASSERT_EQ(wp_energy_between(m, a.s, b.s, pkg, &pkg_j), 0);
	ASSERT_NEAR(pkg_j, 2, 1e-12);

	/* Both files emptied: the domains are lost, what was measured stays. */
	set_file(root, "class/hwmon/hwmon0/device/power1_average", "");
	set_file(root, "class/hwmon/hwmon1/energy1_input", "");
	test_sleep_ms(10);
	take(m, &c);
	ASSERT_EQ(wp_meter_domain_status(m, sys, NULL, NULL), WP_EPARSE);
	ASSERT_EQ(wp_meter_domain_status(m, pkg, NULL, NULL), WP_EPARSE);
	double kept = -1;
	ASSERT_EQ(wp_energy_between(m, a.s, c.s, sys, &kept), WP_ELOST);
	ASSERT_NEAR(kept, sys_j, 1e-9);
	ASSERT_EQ(wp_energy_between(m, a.s, c.s, pkg, &kept), WP_ELOST);
	ASSERT_NEAR(kept, 2, 1e-12);
	wp_snapshot_free(a.s);
	wp_snapshot_free(b.s);
	wp_snapshot_free(c.s);
	wp_meter_close(m);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

/* Checks, as the current user, what a host says of root-only meters. */
static int check_denied(const char *root)
{
	struct wp_host *h = open_host(root);
	ASSERT_EQ(wp_host_domain_count(h), 0);
	const struct wp_source_note *n =
		test_find_note(h, NULL, WP_NOTE_SKIPPED, "energy1 (Esocket0) of chip 'hwmon1' (amd_energy) "
		                              "skipped: cannot read");
	ASSERT(n);
	ASSERT_EQ(n->error, -EACCES);
	ASSERT_HAS(n->message, "Permission denied");
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "'sudo chmod o+r %s/class/hwmon/hwmon1/energy1_input'", root);
	ASSERT_HAS(n->fix, cmd);
	ASSERT_HAS(n->fix, "ATTRS{name}==\"amd_energy\"");
	ASSERT_HAS(n->fix, "RUN+=\"/bin/chmod o+r /sys%p/energy1_input\"");
	ASSERT_HAS(n->fix, "/etc/udev/rules.d/");
	ASSERT_HAS(n->fix, "CVE-2020-12912");
	n = test_find_note(h, NULL, WP_NOTE_SKIPPED, "power1 of chip 'hwmon0' (power_meter)");
	ASSERT(n);
	ASSERT_EQ(n->error, -EACCES);
	ASSERT_HAS(n->fix, "/sys%p/device/power1_average");
	ASSERT_HAS(n->fix, "root-only by design");
	n = test_find_note(h, NULL, WP_NOTE_UNAVAILABLE, "none could be used: permission denied");
	ASSERT(n);
	ASSERT_EQ(n->error, -EACCES);
	ASSERT_HAS(n->fix, "udev rule");
	wp_host_close(h);
	return TEST_OK;
}

TEST(hwmon_permission_denied)
{
	char root[512], path[1024];
	test_tmpdir(root, sizeof root);
	power_meter(root, 0, 1000000);
	amd_energy(root, 1, 0, 1, 5);
	/* amd_energy's own mode is 0440 root:root; 0400 for the test. */
	snprintf(path, sizeof path, "%s/class/hwmon/hwmon1/energy1_input", root);
	ASSERT_EQ(chmod(path, 0400), 0);
	snprintf(path, sizeof path, "%s/class/hwmon/hwmon0/device/power1_average", root);
	ASSERT_EQ(chmod(path, 0400), 0);
	int rc = test_denied_as_nobody(check_denied, root);
	test_rmtree(root);
	return rc;
}

TEST(hwmon_system_total_and_other)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	power_meter(root, 0, 200000000);
	amd_energy(root, 1, 0, 2, 1000000);
	test_putf(root, "class/hwmon/hwmon2/name", "ina3221\n");
	test_putf(root, "class/hwmon/hwmon2/power1_input", "5000000\n");
	struct wp_host *h = open_host(root);
	ASSERT_EQ(wp_host_domain_count(h), 4);
	const struct wp_domain_info *sys = domain(h, "system"), *p0 = domain(h, "package_0"),
	                            *other = domain(h, "hwmon_ina3221_power1");
	ASSERT(wp_domain_contains(sys, p0));
	ASSERT(wp_domain_contains(sys, domain(h, "package_1")));
	ASSERT(wp_domain_contains(sys, other));
	ASSERT(!wp_domain_contains(p0, sys));
	ASSERT(!wp_domain_contains(other, p0));

	/* Everything: only the machine's meter counts. */
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);
	wp_meter_snapshot(m, a);
	test_sleep_ms(30);
	set_file(root, "class/hwmon/hwmon1/energy1_input", "2000000\n");
	set_file(root, "class/hwmon/hwmon1/energy2_input", "3000001\n");
	wp_meter_snapshot(m, b);
	struct wp_report r;
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, m, a, b), 0);
	ASSERT_EQ(r.domain_count, 4);
	double sys_j = -1;
	for (size_t i = 0; i < r.domain_count; i++) {
		const struct wp_report_domain *d = &r.domains[i];
		ASSERT_STR(d->source, "hwmon");
		ASSERT_EQ(d->in_total, strcmp(d->name, "system") == 0);
		ASSERT_EQ(d->integrated, strcmp(d->name, "system") == 0 ||
		                                 strcmp(d->name, "hwmon_ina3221_power1") == 0);
		if (strcmp(d->name, "system") == 0)
			sys_j = d->energy_j;
	}
	ASSERT(sys_j > 200 * 0.029);
	ASSERT_NEAR(r.total_energy_j, sys_j, 0);
	wp_report_free(&r);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m);

	/* Without the machine's meter: the packages count, the other never. */
	static const char *const names[] = { "package_0", "package_1", "hwmon_ina3221_power1" };
	ASSERT_EQ(wp_meter_open(&m, h, names, 3, NULL), 0);
	a = wp_snapshot_new(m);
	b = wp_snapshot_new(m);
	wp_meter_snapshot(m, a);
	test_sleep_ms(20);
	set_file(root, "class/hwmon/hwmon1/energy1_input", "2500000\n");
	set_file(root, "class/hwmon/hwmon1/energy2_input", "4000001\n");
	wp_meter_snapshot(m, b);
	wp_report_init(&r);
	ASSERT_EQ(wp_report_measure(&r, m, a, b), 0);
	ASSERT_EQ(r.domains[2].in_total, 0);
	ASSERT(r.domains[2].energy_j > 0);
	ASSERT_NEAR(r.total_energy_j, 1.5, 1e-12);
	wp_report_free(&r);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

TEST(hwmon_powercap_preferred_unless_named)
{
	static const struct sim_zone zones[] = {
		{ "intel-rapl:0", "package-0", 262143328850, 15, 0, 0, 0, 0 },
	};
	struct sim s;
	sim_create(&s, zones, 1);
	amd_energy(s.root, 0, 2, 1, 1000000);
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = s.root };
	struct wp_host *h = NULL;
	ASSERT_EQ(wp_host_open(&h, &o), 0);
	ASSERT_EQ(wp_host_domain_count(h), 1);
	ASSERT_STR(domain(h, "package_0")->source, "powercap");
	const struct wp_source_note *n =
		test_find_note(h, NULL, WP_NOTE_SKIPPED, "package_0 skipped: powercap gives it too");
	ASSERT(n);
	ASSERT_STR(n->source, "hwmon");
	ends_with(n->path, "/class/hwmon/hwmon0/energy3_input");
	wp_host_close(h);

	/* Named, hwmon alone answers. */
	h = open_sources(s.root, "hwmon");
	ASSERT_EQ(wp_host_domain_count(h), 1);
	ASSERT_STR(domain(h, "package_0")->source, "hwmon");
	/* Every other source says it was not tried. */
	size_t not_tried = 0;
	for (size_t i = 0; i < wp_host_note_count(h); i++) {
		const struct wp_source_note *t = wp_host_note(h, i);
		if (strstr(t->message, "not tried: sources limited to 'hwmon'")) {
			ASSERT(strcmp(t->source, "hwmon") != 0);
			not_tried++;
		}
	}
	size_t sources = 0;
	while (wp_source_name(sources))
		sources++;
	ASSERT_EQ(not_tried, sources - 1); /* perf, powercap, msr, nvml, amdgpu, estimate */
	wp_host_close(h);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(hwmon_missing_tree_and_no_meters)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	struct wp_host *h = open_host(root);
	const struct wp_source_note *n = test_find_note(h, NULL, WP_NOTE_UNAVAILABLE, "cannot open");
	ASSERT(n);
	ASSERT_STR(n->source, "hwmon");
	ASSERT_EQ(n->error, -ENOENT);
	ASSERT_HAS(n->fix, "modprobe acpi_power_meter");
	ASSERT_HAS(n->fix, "amd_energy");
	wp_host_close(h);

	/* Chips, but only temperatures and fans. */
	test_putf(root, "class/hwmon/hwmon0/name", "coretemp\n");
	test_putf(root, "class/hwmon/hwmon0/temp1_input", "40000\n");
	test_putf(root, "class/hwmon/hwmon1/name", "nct6775\n");
	test_putf(root, "class/hwmon/hwmon1/fan1_input", "900\n");
	test_putf(root, "class/hwmon/hwmon1/device/name", "nct6775\n");
	h = open_host(root);
	ASSERT_EQ(wp_host_domain_count(h), 0);
	n = test_find_note(h, NULL, WP_NOTE_UNAVAILABLE, "no energy or power sensor on 2 hwmon chips");
	ASSERT(n);
	ASSERT_EQ(n->error, WP_ENOSOURCE);
	ASSERT_HAS(n->fix, "acpi_power_meter");
	/* That one note, and nothing per chip. */
	size_t mine = 0;
	for (size_t i = 0; i < wp_host_note_count(h); i++)
		mine += strcmp(wp_host_note(h, i)->source, "hwmon") == 0;
	ASSERT_EQ(mine, 1);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

/* The sampler thread and the caller read one integrated domain together. */
TEST(hwmon_sampler_integrates_power)
{
	char root[512];
	test_tmpdir(root, sizeof root);
	power_meter(root, 0, 120000000);
	amd_energy(root, 1, 0, 1, 1000);
	struct wp_host *h = open_host(root);
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	size_t sys = meter_index(m, "system");
	struct timed a = { wp_snapshot_new(m), 0, 0 }, b = { wp_snapshot_new(m), 0, 0 };
	struct wp_snapshot *mid = wp_snapshot_new(m);
	struct wp_sampler_options so = { .version = WP_SAMPLER_OPTIONS_VERSION, .freq_hz = 2000 };
	take(m, &a);
	ASSERT_EQ(wp_meter_start_sampler(m, &so), 0);
	for (int i = 0; i < 20; i++) {
		test_sleep_ms(5);
		ASSERT_EQ(wp_meter_snapshot(m, mid), 0);
	}
	ASSERT_EQ(wp_meter_stop_sampler(m), 0);
	take(m, &b);
	check_trapezoid(m, sys, &a, &b, 120, 120);
	struct wp_sampler_stats st;
	ASSERT_EQ(wp_meter_sampler_stats(m, &st), 0);
	ASSERT(st.samples > 10);
	wp_snapshot_free(a.s);
	wp_snapshot_free(b.s);
	wp_snapshot_free(mid);
	wp_meter_close(m);
	wp_host_close(h);
	test_rmtree(root);
	return TEST_OK;
}

/* ------------------------------------------------ contract fixtures */

static void he_tick(struct contract_env *env, uint64_t now_ns)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%" PRIu64 "\n",
	         (uint64_t)(env->watts * (double)(now_ns - env->t0_ns) / 1e3));
	set_file(env->sys, "class/hwmon/hwmon0/energy1_input", buf);
}

/* amd_energy's socket counter: uJ since t0. */
static void he_setup(struct contract_env *env)
{
	test_putf(env->sys, "class/hwmon/hwmon0/name", "amd_energy\n");
	test_putf(env->sys, "class/hwmon/hwmon0/energy1_label", "Esocket0\n");
	test_putf(env->sys, "class/hwmon/hwmon0/energy1_input", "0\n");
	he_tick(env, wp_now_ns());
}

static void he_vanish(struct contract_env *env)
{
	set_file(env->sys, "class/hwmon/hwmon0/energy1_input", "");
}

const struct contract_source contract_hwmon_energy = {
	.source = "hwmon",
	.domain = "package_0",
	.wraps = 0,
	.rel_tol = 0.01,
	.setup = he_setup,
	.tick = he_tick,
	.vanish = he_vanish,
};

/* An ACPI power meter showing the contract's constant power. */
static void hp_setup(struct contract_env *env)
{
	power_meter(env->sys, 0, (uint64_t)(env->watts * 1e6));
}

static void hp_tick(struct contract_env *env, uint64_t now_ns)
{
	char buf[32];
	(void)now_ns;
	snprintf(buf, sizeof buf, "%" PRIu64 "\n", (uint64_t)(env->watts * 1e6));
	set_file(env->sys, "class/hwmon/hwmon0/device/power1_average", buf);
}

static void hp_vanish(struct contract_env *env)
{
	set_file(env->sys, "class/hwmon/hwmon0/device/power1_average", "");
}

const struct contract_source contract_hwmon_power = {
	.source = "hwmon",
	.domain = "system",
	.integrated = 1,
	.wraps = 0,
	.rel_tol = 0.01,
	.setup = hp_setup,
	.tick = hp_tick,
	.vanish = hp_vanish,
};
