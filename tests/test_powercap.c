/*
 * test_powercap.c - discovery of RAPL zones in simulated powercap trees:
 * sockets by name, sub-zones, MMIO duplicates, psys, skipped zones, missing
 * trees and permission failures with their fixes.
 */
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/internal.h"
#include "sim.h"
#include "test.h"

static struct wp_host *open_host(const char *root)
{
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = root };
	struct wp_host *h = NULL;
	ASSERT_EQ(wp_host_open(&h, &o), 0);
	return h;
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

TEST(powercap_discovers_sockets_by_name)
{
	struct sim s;
	sim_create(&s, sim_server, sim_server_count);
	struct wp_host *h = open_host(s.root);

	static const char *const order[] = { "package_0", "package_1", "core_0",
		                             "core_1",    "dram_0",    "dram_1" };
	ASSERT_EQ(wp_host_domain_count(h), 6);
	for (size_t i = 0; i < 6; i++)
		ASSERT_STR(wp_host_domain(h, i)->name, order[i]);
	/* package-0 lives at directory index 1, package-1 at index 0. */
	ends_with(domain(h, "package_0")->path, "/class/powercap/intel-rapl:1/energy_uj");
	ends_with(domain(h, "package_1")->path, "/class/powercap/intel-rapl:0/energy_uj");
	ends_with(domain(h, "core_0")->path, "/class/powercap/intel-rapl:1:0/energy_uj");
	ends_with(domain(h, "dram_1")->path, "/class/powercap/intel-rapl:0:1/energy_uj");
	ASSERT_EQ(domain(h, "core_1")->socket, 1);
	ASSERT_EQ(domain(h, "core_1")->die, -1);
	ASSERT_EQ(domain(h, "core_1")->kind, WP_KIND_CORE);
	ASSERT_EQ(domain(h, "dram_0")->kind, WP_KIND_DRAM);
	ASSERT_EQ(domain(h, "package_0")->kind, WP_KIND_PACKAGE);
	for (size_t i = 0; i < 6; i++) {
		const struct wp_domain_info *d = wp_host_domain(h, i);
		ASSERT_STR(d->source, "powercap");
		ASSERT_STR(d->unit, "J");
		ASSERT_EQ(d->estimated, 0);
		ASSERT_NEAR(d->joules_per_count, 1e-6, 0);
	}
	ASSERT_U64(domain(h, "dram_0")->counter_max, ==, 65712999613u);
	ASSERT(test_find_note(h, NULL, WP_NOTE_FOUND, "6 domains from 7 zones"));
	ASSERT_EQ(wp_host_find_domain(h, "package_2", NULL), WP_ENODOMAIN);
	wp_host_close(h);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(powercap_skips_mmio_duplicate)
{
	struct sim s;
	sim_create(&s, sim_server, sim_server_count);
	struct wp_host *h = open_host(s.root);
	const struct wp_source_note *n =
		test_find_note(h, NULL, WP_NOTE_SKIPPED, "zone 'intel-rapl-mmio:0' skipped");
	ASSERT(n);
	ASSERT_HAS(n->message, "duplicates package_0");
	ASSERT_LACKS(domain(h, "package_0")->path, "mmio");
	wp_host_close(h);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(powercap_uses_mmio_without_msr_zone)
{
	static const struct sim_zone zones[] = {
		{ "intel-rapl-mmio:0", "package-0", 262143328850, 15, 0, 0, 28000000, 0 },
	};
	struct sim s;
	sim_create(&s, zones, 1);
	struct wp_host *h = open_host(s.root);
	ASSERT_EQ(wp_host_domain_count(h), 1);
	ends_with(domain(h, "package_0")->path, "/intel-rapl-mmio:0/energy_uj");
	wp_host_close(h);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(powercap_psys_and_orphans)
{
	static const struct sim_zone zones[] = {
		{ "intel-rapl:0", "package-0", 262143328850, 15, 0, 0, 0, 0 },
		{ "intel-rapl:1", "psys", 262143328850, 25, 0, 0, 0, 0 },
		{ "intel-rapl:2", "dram", 262143328850, 2, 0, 0, 0, 0 },
		{ "intel-rapl:3", "gizmo", 262143328850, 2, 0, 0, 0, 0 },
	};
	struct sim s;
	sim_create(&s, zones, 4);
	struct wp_host *h = open_host(s.root);
	ASSERT_EQ(wp_host_domain_count(h), 2);
	ASSERT_EQ(domain(h, "psys")->socket, -1);
	ASSERT_EQ(domain(h, "psys")->kind, WP_KIND_PSYS);
	ASSERT(test_find_note(h, NULL, WP_NOTE_SKIPPED, "zone 'intel-rapl:2' (dram) skipped: it lies under "
	                                     "no package zone"));
	ASSERT(test_find_note(h, NULL, WP_NOTE_SKIPPED, "unknown zone name 'gizmo'"));
	/* Containment: psys holds the package; the package holds its cores. */
	ASSERT(wp_domain_contains(domain(h, "psys"), domain(h, "package_0")));
	ASSERT(!wp_domain_contains(domain(h, "package_0"), domain(h, "psys")));
	wp_host_close(h);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(powercap_multi_die_packages)
{
	static const struct sim_zone zones[] = {
		{ "intel-rapl:0", "package-0-die-1", 262143328850, 15, 0, 0, 0, 0 },
		{ "intel-rapl:0:0", "core", 262143328850, 5, 0, 0, 0, 0 },
		{ "intel-rapl:1", "package-0-die-0", 262143328850, 15, 0, 0, 0, 0 },
		{ "intel-rapl:1:0", "core", 262143328850, 5, 0, 0, 0, 0 },
		{ "intel-rapl:2", "package-0-die-x", 262143328850, 15, 0, 0, 0, 0 },
	};
	struct sim s;
	sim_create(&s, zones, 5);
	struct wp_host *h = open_host(s.root);
	static const char *const order[] = { "package_0_die_0", "package_0_die_1",
		                             "core_0_die_0", "core_0_die_1" };
	ASSERT_EQ(wp_host_domain_count(h), 4);
	for (size_t i = 0; i < 4; i++)
		ASSERT_STR(wp_host_domain(h, i)->name, order[i]);
	ends_with(domain(h, "core_0_die_1")->path, "/intel-rapl:0:0/energy_uj");
	ASSERT_EQ(domain(h, "core_0_die_1")->socket, 0);
	ASSERT_EQ(domain(h, "core_0_die_1")->die, 1);
	ASSERT(wp_domain_contains(domain(h, "package_0_die_1"), domain(h, "core_0_die_1")));
	ASSERT(!wp_domain_contains(domain(h, "package_0_die_0"), domain(h, "core_0_die_1")));
	ASSERT(test_find_note(h, NULL, WP_NOTE_SKIPPED, "unknown zone name 'package-0-die-x'"));
	wp_host_close(h);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(powercap_wrap_time_from_constraints)
{
	static const struct sim_zone zones[] = {
		/* 150 W declared: assumed peak 300 W. */
		{ "intel-rapl:0", "package-0", 262143328850, 15, 0, 0, 150000000, 0 },
		/* nothing declared: assumed peak 1000 W. */
		{ "intel-rapl:0:0", "dram", 65712999613, 2, 0, 0, 0, 0 },
	};
	struct sim s;
	sim_create(&s, zones, 2);
	struct wp_host *h = open_host(s.root);
	const struct wp_domain_info *p = domain(h, "package_0"), *d = domain(h, "dram_0");
	ASSERT_NEAR(p->peak_power_w, 300, 1e-9);
	ASSERT_NEAR((double)p->min_wrap_ns, 262143328851.0 / 1e6 / 300 * 1e9, 1e3);
	ASSERT_NEAR(d->peak_power_w, 1000, 1e-9);
	ASSERT_NEAR((double)d->min_wrap_ns, 65712999614.0 / 1e6 / 1000 * 1e9, 1e3);
	wp_host_close(h);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(powercap_missing_tree)
{
	char dir[512], sub[600];
	test_tmpdir(dir, sizeof dir);
	struct wp_host *h = open_host(dir);
	ASSERT_EQ(wp_host_domain_count(h), 0);
	/* Not just "cannot open": the perf source, probed first, says that too. */
	const struct wp_source_note *n = test_find_note(h, NULL, WP_NOTE_UNAVAILABLE, "/class/powercap': ");
	ASSERT(n);
	ASSERT_EQ(n->error, -ENOENT);
	ASSERT_STR(n->source, "powercap");
	ASSERT_HAS(n->fix, "modprobe intel_rapl_msr");
	wp_host_close(h);

	/* The class exists but holds no RAPL zone (a VM). */
	snprintf(sub, sizeof sub, "%s/class", dir);
	mkdir(sub, 0755);
	snprintf(sub, sizeof sub, "%s/class/powercap", dir);
	mkdir(sub, 0755);
	h = open_host(dir);
	n = test_find_note(h, NULL, WP_NOTE_UNAVAILABLE, "no RAPL zone under");
	ASSERT(n);
	ASSERT_EQ(n->error, WP_ENOSOURCE);
	ASSERT_HAS(n->fix, "Virtual machines");
	wp_host_close(h);
	test_rmtree(dir);
	return TEST_OK;
}

/* Checks, as the current user, what a host says of unreadable counters. */
static int check_denied(const char *root)
{
	struct wp_host *h = open_host(root);
	ASSERT_EQ(wp_host_domain_count(h), 0);
	const struct wp_source_note *n =
		test_find_note(h, NULL, WP_NOTE_SKIPPED, "zone 'intel-rapl:0' (package-0) skipped: cannot read");
	ASSERT(n);
	ASSERT_EQ(n->error, -EACCES);
	ASSERT_HAS(n->message, "Permission denied");
	ASSERT_HAS(n->fix, "Linux 5.10");
	ASSERT_HAS(n->fix, "chmod o+r /sys/class/powercap/intel-rapl*/energy_uj");
	ASSERT_HAS(n->fix, "SUBSYSTEM==\"powercap\"");
	ASSERT_HAS(n->fix, "/etc/sysfs.conf");
	n = test_find_note(h, NULL, WP_NOTE_UNAVAILABLE, "none could be read: permission denied");
	ASSERT(n);
	ASSERT_EQ(n->error, -EACCES);
	wp_host_close(h);
	return TEST_OK;
}

TEST(powercap_permission_denied)
{
	static const struct sim_zone zones[] = {
		{ "intel-rapl:0", "package-0", 262143328850, 15, 0, 0, 0, 0 },
		{ "intel-rapl:0:0", "core", 262143328850, 5, 0, 0, 0, 0 },
	};
	struct sim s;
	char path[1024];
	sim_create(&s, zones, 2);
	/* Linux 5.10+: energy_uj is 0400 root. */
	for (size_t z = 0; z < 2; z++) {
		sim_path(&s, z, "energy_uj", path, sizeof path);
		ASSERT_EQ(chmod(path, 0400), 0);
	}
	int rc = test_denied_as_nobody(check_denied, s.root);
	sim_destroy(&s);
	return rc;
}

TEST(powercap_bad_files)
{
	static const struct sim_zone zones[] = {
		{ "intel-rapl:0", "package-0", 262143328850, 15, 0, 0, 0, 0 },
		{ "intel-rapl:1", "package-1", 0 /* no range file */, 15, 0, 0, 0, 0 },
		{ "intel-rapl:2", "package-2", 262143328850, 15, 0, 0, 0, 0 },
		{ "intel-rapl:3", "package-3", 262143328850, 15, 0, 0, 0, 0 },
	};
	struct sim s;
	sim_create(&s, zones, 4);
	sim_write_file(&s, 0, "energy_uj", "not a number\n");
	sim_write_file(&s, 1, "energy_uj", "100\n");
	sim_write_file(&s, 2, "max_energy_range_uj", "0\n");
	struct wp_host *h = open_host(s.root);
	ASSERT_EQ(wp_host_domain_count(h), 1);
	ASSERT_STR(wp_host_domain(h, 0)->name, "package_3");
	const struct wp_source_note *n = test_find_note(h, NULL, WP_NOTE_SKIPPED, "'intel-rapl:0'");
	ASSERT(n);
	ASSERT_EQ(n->error, WP_EPARSE);
	ASSERT_HAS(n->message, "file does not hold a number");
	n = test_find_note(h, NULL, WP_NOTE_SKIPPED, "'intel-rapl:1'");
	ASSERT(n);
	ASSERT_EQ(n->error, -ENOENT);
	ASSERT_HAS(n->message, "wrap range");
	n = test_find_note(h, NULL, WP_NOTE_SKIPPED, "'intel-rapl:2'");
	ASSERT(n);
	ASSERT_EQ(n->error, WP_ERANGE);
	wp_host_close(h);
	sim_destroy(&s);
	return TEST_OK;
}

TEST(powercap_sysfs_root_option_and_env)
{
	struct sim s;
	char empty[512], longroot[3000];
	sim_create(&s, sim_server, sim_server_count);
	test_tmpdir(empty, sizeof empty);
	struct wp_host *h;

	setenv("WATTPROF_SYSFS_ROOT", s.root, 1);
	ASSERT_EQ(wp_host_open(&h, NULL), 0);
	ASSERT_EQ(wp_host_domain_count(h), 6);
	ASSERT_STR(wp_host_sysfs_root(h), s.root);
	wp_host_close(h);
	/* The option wins over the environment. */
	h = open_host(empty);
	ASSERT_EQ(wp_host_domain_count(h), 0);
	wp_host_close(h);
	memset(longroot, 'a', sizeof longroot - 1);
	longroot[0] = '/';
	longroot[sizeof longroot - 1] = '\0';
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = longroot };
	ASSERT_EQ(wp_host_open(&h, &o), -ENAMETOOLONG);
	unsetenv("WATTPROF_SYSFS_ROOT");
	test_rmtree(empty);
	sim_destroy(&s);
	return TEST_OK;
}
