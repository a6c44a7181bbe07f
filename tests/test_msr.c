/*
 * test_msr.c - the MSR source on fake machines: /proc/cpuinfo, the sysfs CPU
 * topology and /dev/cpu/N/msr as sparse files holding each register's
 * 8 bytes at offset = register number.  The unit table against canned unit
 * registers, 32-bit wraps, AMD and Hygon, one CPU per package or die,
 * msr-safe, missing and forbidden devices with their fixes, registers the
 * CPU lacks, and powercap's precedence.  Also msr's contract fixture.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "contract.h"
#include "sim.h"
#include "test.h"

#define UNIT_REG 0x606u
#define PKG_LIMIT 0x610u
#define PKG 0x611u
#define PKG_INFO 0x614u
#define DRAM 0x619u
#define PP0 0x639u
#define PP1 0x641u
#define PSYS 0x64Du
#define AMD_UNIT 0xC0010299u
#define AMD_PKG 0xC001029Bu

/* MSR_RAPL_POWER_UNIT as most parts read it: PU 3 (1/8 W), ESU 14
 * (61.035 uJ), TU 10; and with ESU 16 (15.26 uJ), as AMD parts read. */
#define UNIT_ESU14 0xA0E03u
#define UNIT_ESU16 0xA1003u
#define J14 (1.0 / 16384)
#define J16 (1.0 / 65536)

/* ------------------------------------------------------------ the fakes */

struct fake {
	char root[512];
	char sys[600], proc[600], dev[600];
};

/* Writes one register into a device file (created sparse if need be). */
static void put_reg(const char *path, uint32_t reg, uint64_t value)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	if (fd < 0)
		TEST_FAIL_("open '%s': %s", path, strerror(errno));
	if (pwrite(fd, &value, sizeof value, (off_t)reg) != (ssize_t)sizeof value)
		TEST_FAIL_("pwrite '%s' at 0x%x: %s", path, reg, strerror(errno));
	close(fd);
}

static void write_cpuinfo(const char *proc, const char *vendor, unsigned family, unsigned model)
{
	char path[700];
	snprintf(path, sizeof path, "%s/cpuinfo", proc);
	test_spitf(path,
	           "processor\t: 0\nvendor_id\t: %s\ncpu family\t: %u\nmodel\t\t: %u\n"
	           "model name\t: Test CPU\n\nprocessor\t: 1\nvendor_id\t: %s\n\n",
	           vendor, family, model, vendor);
}

/* cpuN sits in package `package`, die `die` (-1: no die_id file). */
static void write_topology(const char *sys, int cpu, int package, int die)
{
	char dir[800], path[900];
	snprintf(dir, sizeof dir, "%s/devices/system/cpu/cpu%d/topology", sys, cpu);
	test_mkdirs(dir);
	snprintf(path, sizeof path, "%s/physical_package_id", dir);
	test_spitf(path, "%d\n", package);
	if (die >= 0) {
		snprintf(path, sizeof path, "%s/die_id", dir);
		test_spitf(path, "%d\n", die);
	}
}

static void write_online(const char *sys, const char *online)
{
	char path[800];
	snprintf(path, sizeof path, "%s/devices/system/cpu", sys);
	test_mkdirs(path);
	snprintf(path, sizeof path, "%s/devices/system/cpu/online", sys);
	test_spitf(path, "%s\n", online);
}

/* A machine of that CPU with the online CPUs `online`; topology and
 * devices are the test's to add. */
static void fake_init(struct fake *f, const char *vendor, unsigned family, unsigned model,
                      const char *online)
{
	test_tmpdir(f->root, sizeof f->root);
	snprintf(f->sys, sizeof f->sys, "%s/sys", f->root);
	snprintf(f->proc, sizeof f->proc, "%s/proc", f->root);
	snprintf(f->dev, sizeof f->dev, "%s/dev", f->root);
	test_mkdirs(f->sys);
	test_mkdirs(f->proc);
	test_mkdirs(f->dev);
	write_cpuinfo(f->proc, vendor, family, model);
	write_online(f->sys, online);
}

/* <dev>/cpu/N/<file> ("msr", "msr_safe"), its folder created. */
static void dev_path(const struct fake *f, int cpu, const char *file, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/cpu/%d", f->dev, cpu);
	test_mkdirs(buf);
	snprintf(buf, cap, "%s/cpu/%d/%s", f->dev, cpu, file);
}

static void fake_reg(const struct fake *f, int cpu, uint32_t reg, uint64_t value)
{
	char path[700];
	dev_path(f, cpu, "msr", path, sizeof path);
	put_reg(path, reg, value);
}

/* An Intel CPU's unit and every domain register, each counting. */
static void intel_regs(const struct fake *f, int cpu, uint64_t unit)
{
	fake_reg(f, cpu, UNIT_REG, unit);
	fake_reg(f, cpu, PKG, 0x1000 + (uint64_t)cpu);
	fake_reg(f, cpu, PP0, 0x2000 + (uint64_t)cpu);
	fake_reg(f, cpu, PP1, 0x3000 + (uint64_t)cpu);
	fake_reg(f, cpu, DRAM, 0x4000 + (uint64_t)cpu);
	fake_reg(f, cpu, PSYS, 0x5000 + (uint64_t)cpu);
}

/*
 * AMD's registers sit one byte apart, so in a file their bytes overlap: the
 * unit register (0xC0010299) reads its own two low bytes, then the package
 * counter's (0xC001029B).  A package counter whose low byte is the unit's
 * third byte (0x0A in 0xA1003) keeps both right; it reads (high << 8) | 0x0A.
 * The core register (0xC001029A), never used, reads whatever lies between.
 */
static uint64_t amd_regs(const struct fake *f, int cpu, uint64_t unit, uint64_t high)
{
	uint64_t pkg = high << 8 | ((unit >> 16) & 0xFF);
	fake_reg(f, cpu, AMD_UNIT, unit);
	fake_reg(f, cpu, AMD_PKG, pkg);
	return pkg;
}

static struct wp_host *fake_open(const struct fake *f, const char *sources)
{
	struct wp_options o = { .version = WP_OPTIONS_VERSION,
		                .sysfs_root = f->sys,
		                .proc_root = f->proc,
		                .dev_root = f->dev,
		                .sources = sources };
	struct wp_host *h = NULL;
	ASSERT_EQ(wp_host_open(&h, &o), 0);
	return h;
}

static void dump_notes(const struct wp_host *h)
{
	for (size_t i = 0; i < wp_host_note_count(h); i++)
		fprintf(stderr, "  note: %s %d: %s\n", wp_host_note(h, i)->source,
		        (int)wp_host_note(h, i)->level, wp_host_note(h, i)->message);
}

static const struct wp_domain_info *domain(const struct wp_host *h, const char *name)
{
	size_t i;
	if (wp_host_find_domain(h, name, &i) < 0) {
		dump_notes(h);
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

/* 2^32 counts at peak_w, in ns. */
static double wrap_ns(double jpc, double peak_w)
{
	return 4294967296.0 * jpc / peak_w * 1e9;
}

/* ---------------------------------------------------------------- tests */

TEST(msr_unit_table)
{
	static const struct {
		const char *vendor;
		unsigned family, model;
		uint64_t unit;
		double pkg_j, dram_j, psys_j; /* dram_j, psys_j 0: no such domain */
	} rows[] = {
		/* A client part: everything in the unit register's unit. */
		{ "GenuineIntel", 6, 0x8C, UNIT_ESU14, J14, J14, J14 },
		/* DRAM at 15.3 uJ whatever the unit register says. */
		{ "GenuineIntel", 6, 0x3F, UNIT_ESU14, J14, 15.3e-6, J14 },
		{ "GenuineIntel", 6, 0x3F, UNIT_ESU16, J16, 15.3e-6, J16 },
		{ "GenuineIntel", 6, 0x4F, UNIT_ESU14, J14, 15.3e-6, J14 },
		{ "GenuineIntel", 6, 0x56, UNIT_ESU14, J14, 15.3e-6, J14 },
		{ "GenuineIntel", 6, 0x55, UNIT_ESU14, J14, 15.3e-6, J14 },
		{ "GenuineIntel", 6, 0x6A, UNIT_ESU14, J14, 15.3e-6, J14 },
		{ "GenuineIntel", 6, 0x6C, UNIT_ESU14, J14, 15.3e-6, J14 },
		{ "GenuineIntel", 6, 0x57, UNIT_ESU14, J14, 15.3e-6, J14 },
		{ "GenuineIntel", 6, 0x85, UNIT_ESU14, J14, 15.3e-6, J14 },
		/* DRAM at 61 uJ and psys at 1 J whatever the unit register says. */
		{ "GenuineIntel", 6, 0x8F, UNIT_ESU14, J14, J14, 1.0 },
		{ "GenuineIntel", 6, 0x8F, UNIT_ESU16, J16, J14, 1.0 },
		{ "GenuineIntel", 6, 0xCF, UNIT_ESU14, J14, J14, 1.0 },
		{ "GenuineIntel", 6, 0xAD, UNIT_ESU16, J16, J14, 1.0 },
		{ "GenuineIntel", 6, 0xAE, UNIT_ESU14, J14, J14, 1.0 },
		/* The key is vendor, family and model: not model alone. */
		{ "GenuineIntel", 15, 0x3F, UNIT_ESU14, J14, J14, J14 },
		/* ESU in bits 12:8: 0x1F00 masks it, PU and TU play no part. */
		{ "GenuineIntel", 6, 0x8C, 0xFFFFE0FFu, 1.0, 1.0, 1.0 },
		{ "AuthenticAMD", 0x17, 0x31, UNIT_ESU16, J16, 0, 0 },
		{ "AuthenticAMD", 0x19, 0x01, UNIT_ESU16, J16, 0, 0 },
		{ "HygonGenuine", 0x18, 0x00, UNIT_ESU16, J16, 0, 0 },
	};
	for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
		struct fake f;
		fprintf(stderr, "  row %zu: %s family %u model 0x%x unit 0x%" PRIx64 "\n", r,
		        rows[r].vendor, rows[r].family, rows[r].model, rows[r].unit);
		fake_init(&f, rows[r].vendor, rows[r].family, rows[r].model, "0");
		write_topology(f.sys, 0, 0, -1);
		if (strcmp(rows[r].vendor, "GenuineIntel") == 0) {
			intel_regs(&f, 0, rows[r].unit);
		} else {
			amd_regs(&f, 0, rows[r].unit, 77);
		}
		struct wp_host *h = fake_open(&f, "msr");
		ASSERT_NEAR(domain(h, "package_0")->joules_per_count, rows[r].pkg_j, 0);
		if (rows[r].dram_j > 0)
			ASSERT_NEAR(domain(h, "dram_0")->joules_per_count, rows[r].dram_j, 0);
		else
			ASSERT_EQ(wp_host_find_domain(h, "dram_0", NULL), WP_ENODOMAIN);
		if (rows[r].psys_j > 0)
			ASSERT_NEAR(domain(h, "psys")->joules_per_count, rows[r].psys_j, 0);
		else
			ASSERT_EQ(wp_host_find_domain(h, "psys", NULL), WP_ENODOMAIN);
		wp_host_close(h);
		test_rmtree(f.root);
	}
	/* 0xA0E03: ESU 14, 61.035 uJ. */
	ASSERT_NEAR(J14 * 1e6, 61.03515625, 0);
	return TEST_OK;
}

TEST(msr_intel_client_domains)
{
	struct fake f;
	fake_init(&f, "GenuineIntel", 6, 0x8C, "0-1");
	write_topology(f.sys, 0, 0, -1);
	write_topology(f.sys, 1, 0, -1);
	/* cpu1 has no device: one CPU per package is read. */
	fake_reg(&f, 0, UNIT_REG, UNIT_ESU14);
	/*
	 * In a file, 0x610 (PKG_POWER_LIMIT), 0x611 (PKG_ENERGY_STATUS) and
	 * 0x614 (PKG_POWER_INFO) share bytes.  These eight bytes from 0x610 make
	 * PL1 0 and PL2 28 W (bytes 0x614-0x615, also the thermal spec power:
	 * 224 in 1/8 W), and the package counter 0xE0001000.  PL2 and the
	 * thermal spec power cannot differ in such a file.
	 */
	fake_reg(&f, 0, PKG_LIMIT, 0x000000E000100000u);
	fake_reg(&f, 0, PP0, 0x100);
	fake_reg(&f, 0, PP1, 0x50);
	fake_reg(&f, 0, PSYS, 0x999); /* DRAM (0x619) is a hole: reads 0 */
	struct wp_host *h = fake_open(&f, "msr");

	static const char *const order[] = { "package_0", "core_0", "uncore_0", "psys" };
	static const enum wp_domain_kind kinds[] = { WP_KIND_PACKAGE, WP_KIND_CORE,
		                                     WP_KIND_UNCORE, WP_KIND_PSYS };
	ASSERT_EQ(wp_host_domain_count(h), 4);
	for (size_t i = 0; i < 4; i++) {
		const struct wp_domain_info *d = wp_host_domain(h, i);
		ASSERT_STR(d->name, order[i]);
		ASSERT_EQ(d->kind, kinds[i]);
		ASSERT_STR(d->source, "msr");
		ASSERT_STR(d->unit, "J");
		ends_with(d->path, "/dev/cpu/0/msr");
		ASSERT_U64(d->counter_max, ==, 0xFFFFFFFFu);
		ASSERT_NEAR(d->joules_per_count, J14, 0);
		ASSERT_EQ(d->estimated, 0);
		ASSERT_EQ(d->integrated, 0);
		ASSERT_EQ(d->die, -1);
		ASSERT_EQ(d->socket, kinds[i] == WP_KIND_PSYS ? -1 : 0);
	}
	/* Peak: twice the 28 W declared, for the package and what is inside. */
	const struct wp_domain_info *p = domain(h, "package_0");
	ASSERT_NEAR(p->peak_power_w, 56, 1e-9);
	ASSERT_NEAR(domain(h, "uncore_0")->peak_power_w, 56, 1e-9);
	ASSERT_NEAR((double)p->min_wrap_ns, wrap_ns(J14, 56), 1e3);
	/* 61 uJ counts wrap in about 4.4 min at 1000 W. */
	ASSERT_NEAR(domain(h, "psys")->peak_power_w, 1000, 1e-9);
	ASSERT_NEAR((double)domain(h, "psys")->min_wrap_ns, 262.144e9, 1e3);
	ASSERT(wp_domain_contains(p, domain(h, "core_0")));
	ASSERT(wp_domain_contains(domain(h, "psys"), p));
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	struct wp_snapshot *snap = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_snapshot(m, snap), 0);
	ASSERT_U64(wp_snapshot_raw(snap, 0), ==, 0xE0001000u);
	ASSERT_U64(wp_snapshot_raw(snap, 2), ==, 0x50u);
	wp_snapshot_free(snap);
	wp_meter_close(m);

	const struct wp_source_note *n =
		test_find_note(h, NULL, WP_NOTE_SKIPPED, "dram_0 skipped: MSR_DRAM_ENERGY_STATUS (0x619) "
		                              "reads 0 on cpu 0");
	ASSERT(n);
	ASSERT_STR(n->source, "msr");
	n = test_find_note(h, NULL, WP_NOTE_FOUND, "4 domains on 1 package through msr");
	ASSERT(n);
	ASSERT_HAS(n->message, "GenuineIntel family 6h model 8Ch");
	ends_with(n->path, "/dev/cpu");
	wp_host_close(h);

	/* A PL1 of 64 W (bytes 0x610-0x611: 0x200 in 1/8 W) above the 28 W
	 * thermal spec power: the peak follows the largest declared figure. */
	fake_reg(&f, 0, PKG_LIMIT, 0x000000E000100200u);
	h = fake_open(&f, "msr");
	ASSERT_NEAR(domain(h, "package_0")->peak_power_w, 128, 1e-9);
	ASSERT_NEAR((double)domain(h, "core_0")->min_wrap_ns, wrap_ns(J14, 128), 1e3);
	wp_host_close(h);
	test_rmtree(f.root);
	return TEST_OK;
}

TEST(msr_energy_exact_across_wrap)
{
	struct fake f;
	char path[700];
	fake_init(&f, "GenuineIntel", 6, 0x8C, "0");
	write_topology(f.sys, 0, 0, -1);
	fake_reg(&f, 0, UNIT_REG, UNIT_ESU14);
	fake_reg(&f, 0, PKG, 5);
	dev_path(&f, 0, "msr", path, sizeof path);
	struct wp_host *h = fake_open(&f, "msr");
	const char *name = "package_0";
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, &name, 1, NULL), 0);
	struct wp_snapshot *a = wp_snapshot_new(m), *b = wp_snapshot_new(m);

	/* Bits 63:32 are reserved: whatever they hold is masked off. */
	put_reg(path, PKG, 0xABCD1234FFFFFF00u);
	ASSERT_EQ(wp_meter_snapshot(m, a), 0);
	ASSERT_U64(wp_snapshot_raw(a, 0), ==, 0xFFFFFF00u);
	test_sleep_ms(10); /* long enough for a wrap to be possible */
	put_reg(path, PKG, 0x8000000000000100u);
	ASSERT_EQ(wp_meter_snapshot(m, b), 0);
	ASSERT_U64(wp_snapshot_raw(b, 0), ==, 0x100u);

	/* It wraps at 2^32, not 2^32 - 1: 0x100 + 0x100 counts. */
	double j = -1;
	ASSERT_EQ(wp_energy_between(m, a, b, 0, &j), 0);
	ASSERT_NEAR(j, 0x200 * J14, 0);
	uint64_t bad = 99;
	ASSERT_EQ(wp_meter_domain_status(m, 0, NULL, &bad), 0);
	ASSERT_U64(bad, ==, 0);
	wp_snapshot_free(a);
	wp_snapshot_free(b);
	wp_meter_close(m);
	wp_host_close(h);
	test_rmtree(f.root);
	return TEST_OK;
}

TEST(msr_amd_and_hygon)
{
	static const struct {
		const char *vendor;
		unsigned family, model;
	} cpus[] = {
		{ "AuthenticAMD", 0x17, 0x31 }, /* Zen 2 (Rome) */
		{ "AuthenticAMD", 0x19, 0x11 }, /* Zen 4 (Genoa) */
		{ "AuthenticAMD", 0x1A, 0x02 }, /* Zen 5 */
		{ "HygonGenuine", 0x18, 0x00 }, /* Dhyana */
	};
	for (size_t c = 0; c < sizeof cpus / sizeof *cpus; c++) {
		struct fake f;
		char want[64];
		fprintf(stderr, "  %s family %xh\n", cpus[c].vendor, cpus[c].family);
		fake_init(&f, cpus[c].vendor, cpus[c].family, cpus[c].model, "0-1");
		/* Two dies (CCDs) in one package: AMD counts per package. */
		write_topology(f.sys, 0, 0, 0);
		write_topology(f.sys, 1, 0, 1);
		/* Bits 63:32 of the counter set, to be masked off. */
		uint64_t pkg = amd_regs(&f, 0, UNIT_ESU16, 0xDEAD0000BEEF00u);
		ASSERT_U64(pkg, ==, 0xDEAD0000BEEF000Au);
		/* Intel's registers are not AMD's. */
		fake_reg(&f, 0, UNIT_REG, UNIT_ESU14);
		fake_reg(&f, 0, PKG, 1);
		fake_reg(&f, 0, PP0, 1);
		struct wp_host *h = fake_open(&f, "msr");
		ASSERT_EQ(wp_host_domain_count(h), 1);
		const struct wp_domain_info *d = domain(h, "package_0");
		ASSERT_EQ(d->die, -1);
		ASSERT_NEAR(d->joules_per_count, J16, 0);
		ASSERT_U64(d->counter_max, ==, 0xFFFFFFFFu);
		/* No power info on AMD: 1000 W assumed, 15.3 uJ counts wrap in
		 * about 65 s. */
		ASSERT_NEAR(d->peak_power_w, 1000, 0);
		ASSERT_NEAR((double)d->min_wrap_ns, 65.536e9, 1e3);
		ends_with(d->path, "/dev/cpu/0/msr");
		const struct wp_source_note *n =
			test_find_note(h, NULL, WP_NOTE_SKIPPED, "core energy skipped");
		ASSERT(n);
		ASSERT_HAS(n->message, "0xC001029A");
		ASSERT_HAS(n->message, "cannot be unwrapped");
		snprintf(want, sizeof want, "%s family %xh", cpus[c].vendor, cpus[c].family);
		n = test_find_note(h, NULL, WP_NOTE_FOUND, "1 domain on 1 package through msr");
		ASSERT(n);
		ASSERT_HAS(n->message, want);

		struct wp_meter *m;
		struct wp_snapshot *s;
		ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
		s = wp_snapshot_new(m);
		ASSERT_EQ(wp_meter_snapshot(m, s), 0);
		ASSERT_U64(wp_snapshot_raw(s, 0), ==, 0xBEEF000Au); /* from 0xC001029B */
		wp_snapshot_free(s);
		wp_meter_close(m);
		wp_host_close(h);
		test_rmtree(f.root);
	}
	return TEST_OK;
}

TEST(msr_unknown_or_old_cpu)
{
	static const struct {
		const char *vendor;
		unsigned family;
		const char *why;
	} cpus[] = {
		{ "AuthenticAMD", 0x15, "AMD family 15h has no RAPL registers (they start in "
		                        "family 17h, with Zen)" },
		{ "HygonGenuine", 0x17, "Hygon family 17h" },
		{ "GenuineIntel", 5, "Intel family 5 has no RAPL registers" },
		{ "CentaurHauls", 6, "CPU vendor 'CentaurHauls' has no RAPL registers" },
	};
	for (size_t c = 0; c < sizeof cpus / sizeof *cpus; c++) {
		struct fake f;
		fake_init(&f, cpus[c].vendor, cpus[c].family, 1, "0");
		write_topology(f.sys, 0, 0, -1);
		intel_regs(&f, 0, UNIT_ESU14);
		amd_regs(&f, 0, UNIT_ESU16, 1);
		struct wp_host *h = fake_open(&f, "msr");
		ASSERT_EQ(wp_host_domain_count(h), 0);
		const struct wp_source_note *n = test_find_note(h, NULL, WP_NOTE_UNAVAILABLE, cpus[c].why);
		if (!n)
			dump_notes(h);
		ASSERT(n);
		ASSERT_STR(n->source, "msr");
		ASSERT_EQ(n->error, WP_ENOSOURCE);
		wp_host_close(h);
		test_rmtree(f.root);
	}

	/* No cpuinfo: the vendor is unknown. */
	struct fake f;
	char path[700];
	fake_init(&f, "GenuineIntel", 6, 0x8C, "0");
	snprintf(path, sizeof path, "%s/cpuinfo", f.proc);
	ASSERT_EQ(unlink(path), 0);
	struct wp_host *h = fake_open(&f, "msr");
	const struct wp_source_note *n =
		test_find_note(h, NULL, WP_NOTE_UNAVAILABLE, "cannot tell the CPU's vendor and model");
	ASSERT(n);
	ASSERT_EQ(n->error, -ENOENT);
	ASSERT_STR(n->path, path);
	wp_host_close(h);
	test_rmtree(f.root);
	return TEST_OK;
}

TEST(msr_one_cpu_per_socket)
{
	struct fake f;
	fake_init(&f, "GenuineIntel", 6, 0x55, "0-3");
	/* Sockets by physical_package_id, not by CPU order; die_id 0 on a
	 * single-die package names nothing. */
	write_topology(f.sys, 0, 1, 0);
	write_topology(f.sys, 1, 1, 0);
	write_topology(f.sys, 2, 0, 0);
	write_topology(f.sys, 3, 0, 0);
	intel_regs(&f, 0, UNIT_ESU14);
	intel_regs(&f, 2, UNIT_ESU14);
	/* A server has no PP1: 0x641 reads 0. */
	fake_reg(&f, 0, PP1, 0);
	fake_reg(&f, 2, PP1, 0);
	struct wp_host *h = fake_open(&f, "msr");

	static const char *const order[] = { "package_0", "package_1", "core_0", "core_1",
		                             "dram_0",    "dram_1",    "psys" };
	ASSERT_EQ(wp_host_domain_count(h), 7);
	for (size_t i = 0; i < 7; i++)
		ASSERT_STR(wp_host_domain(h, i)->name, order[i]);
	ends_with(domain(h, "package_0")->path, "/dev/cpu/2/msr");
	ends_with(domain(h, "package_1")->path, "/dev/cpu/0/msr");
	ends_with(domain(h, "dram_1")->path, "/dev/cpu/0/msr");
	ASSERT_EQ(domain(h, "core_1")->socket, 1);
	ASSERT_EQ(domain(h, "core_1")->die, -1);
	ASSERT_NEAR(domain(h, "dram_0")->joules_per_count, 15.3e-6, 0);
	ASSERT_NEAR(domain(h, "dram_1")->joules_per_count, 15.3e-6, 0);
	ASSERT_NEAR((double)domain(h, "dram_1")->min_wrap_ns, wrap_ns(15.3e-6, 1000), 1e3);
	/* psys once, from the first package. */
	ends_with(domain(h, "psys")->path, "/dev/cpu/2/msr");
	ASSERT_EQ(domain(h, "psys")->socket, -1);
	ASSERT(test_find_note(h, NULL, WP_NOTE_SKIPPED, "uncore_0 skipped"));
	ASSERT(test_find_note(h, NULL, WP_NOTE_SKIPPED, "uncore_1 skipped"));
	const struct wp_source_note *n =
		test_find_note(h, NULL, WP_NOTE_FOUND, "7 domains on 2 packages through msr");
	ASSERT(n);
	ASSERT_HAS(n->message, "Skylake-SP");

	/* The counters read are cpu2's and cpu0's. */
	struct wp_meter *m;
	ASSERT_EQ(wp_meter_open(&m, h, NULL, 0, NULL), 0);
	struct wp_snapshot *s = wp_snapshot_new(m);
	ASSERT_EQ(wp_meter_snapshot(m, s), 0);
	ASSERT_U64(wp_snapshot_raw(s, 0), ==, 0x1002); /* package_0 */
	ASSERT_U64(wp_snapshot_raw(s, 1), ==, 0x1000); /* package_1 */
	ASSERT_U64(wp_snapshot_raw(s, 6), ==, 0x5002); /* psys */
	wp_snapshot_free(s);
	wp_meter_close(m);
	wp_host_close(h);

	/* A device missing on the second package: that package is skipped. */
	char path[700];
	dev_path(&f, 0, "msr", path, sizeof path);
	ASSERT_EQ(unlink(path), 0);
	h = fake_open(&f, "msr");
	ASSERT_EQ(wp_host_domain_count(h), 4);
	n = test_find_note(h, NULL, WP_NOTE_SKIPPED, "package 1 skipped: cannot open");
	ASSERT(n);
	ASSERT_EQ(n->error, -ENOENT);
	ASSERT(test_find_note(h, NULL, WP_NOTE_FOUND, "4 domains on 1 package through msr"));
	wp_host_close(h);
	test_rmtree(f.root);
	return TEST_OK;
}

TEST(msr_multi_die_packages)
{
	struct fake f;
	fake_init(&f, "GenuineIntel", 6, 0x55, "0-3"); /* Cascade Lake-AP */
	write_topology(f.sys, 0, 0, 0);
	write_topology(f.sys, 1, 0, 0);
	write_topology(f.sys, 2, 0, 1);
	write_topology(f.sys, 3, 0, 1);
	fake_reg(&f, 0, UNIT_REG, UNIT_ESU14);
	fake_reg(&f, 0, PKG, 10);
	fake_reg(&f, 0, PP0, 11);
	fake_reg(&f, 2, UNIT_REG, UNIT_ESU14);
	fake_reg(&f, 2, PKG, 20);
	fake_reg(&f, 2, PP0, 21);
	struct wp_host *h = fake_open(&f, "msr");
	static const char *const order[] = { "package_0_die_0", "package_0_die_1",
		                             "core_0_die_0", "core_0_die_1" };
	ASSERT_EQ(wp_host_domain_count(h), 4);
	for (size_t i = 0; i < 4; i++)
		ASSERT_STR(wp_host_domain(h, i)->name, order[i]);
	ends_with(domain(h, "package_0_die_1")->path, "/dev/cpu/2/msr");
	ASSERT_EQ(domain(h, "core_0_die_1")->socket, 0);
	ASSERT_EQ(domain(h, "core_0_die_1")->die, 1);
	ASSERT(wp_domain_contains(domain(h, "package_0_die_1"), domain(h, "core_0_die_1")));
	ASSERT(!wp_domain_contains(domain(h, "package_0_die_0"), domain(h, "core_0_die_1")));
	ASSERT(test_find_note(h, NULL, WP_NOTE_FOUND, "4 domains on 2 dies through msr"));
	wp_host_close(h);
	test_rmtree(f.root);
	return TEST_OK;
}

TEST(msr_safe_fallback)
{
	struct fake f;
	char path[700];
	fake_init(&f, "GenuineIntel", 6, 0x8F, "0");
	write_topology(f.sys, 0, 0, -1);
	dev_path(&f, 0, "msr_safe", path, sizeof path);
	put_reg(path, UNIT_REG, UNIT_ESU14);
	put_reg(path, PKG, 42);
	put_reg(path, DRAM, 43);
	struct wp_host *h = fake_open(&f, "msr");
	ASSERT_EQ(wp_host_domain_count(h), 2);
	ends_with(domain(h, "package_0")->path, "/dev/cpu/0/msr_safe");
	ASSERT_NEAR(domain(h, "dram_0")->joules_per_count, J14, 0);
	ASSERT(test_find_note(h, NULL, WP_NOTE_FOUND, "2 domains on 1 package through msr_safe"));
	/* psys lies past the end of the file: skipped, as the CPU lacks it. */
	const struct wp_source_note *n = test_find_note(h, NULL, WP_NOTE_SKIPPED, "psys skipped");
	ASSERT(n);
	ASSERT_EQ(n->error, -EIO);
	ASSERT_HAS(n->message, "the CPU has no such register");
	wp_host_close(h);

	/* With both, msr is read. */
	intel_regs(&f, 0, UNIT_ESU14);
	h = fake_open(&f, "msr");
	ends_with(domain(h, "package_0")->path, "/dev/cpu/0/msr");
	wp_host_close(h);
	test_rmtree(f.root);
	return TEST_OK;
}

TEST(msr_missing_device)
{
	struct fake f;
	char path[700];
	fake_init(&f, "GenuineIntel", 6, 0x8C, "0");
	write_topology(f.sys, 0, 0, -1);
	struct wp_host *h = fake_open(&f, "msr");
	ASSERT_EQ(wp_host_domain_count(h), 0);
	const struct wp_source_note *n = test_find_note(h, NULL, WP_NOTE_UNAVAILABLE, "cannot open");
	ASSERT(n);
	ASSERT_STR(n->source, "msr");
	ASSERT_EQ(n->error, -ENOENT);
	ASSERT_HAS(n->message, "/dev/cpu/0/msr': No such file or directory");
	ASSERT_HAS(n->message, "; msr-safe is not installed");
	ASSERT_HAS(n->fix, "sudo modprobe msr");
	ASSERT_HAS(n->fix, "msr-safe");
	ASSERT_HAS(n->fix, "Virtual machines");
	ends_with(n->path, "/dev/cpu/0/msr");
	/* One note says it all: no other from msr. */
	size_t count = 0;
	for (size_t i = 0; i < wp_host_note_count(h); i++)
		count += strcmp(wp_host_note(h, i)->source, "msr") == 0;
	ASSERT_EQ(count, 1);
	wp_host_close(h);

	/* Without the online CPU list, no CPU can be chosen. */
	snprintf(path, sizeof path, "%s/devices/system/cpu/online", f.sys);
	ASSERT_EQ(unlink(path), 0);
	h = fake_open(&f, "msr");
	n = test_find_note(h, NULL, WP_NOTE_UNAVAILABLE, "cannot tell which CPU to read");
	ASSERT(n);
	ASSERT_EQ(n->error, -ENOENT);
	ASSERT_STR(n->path, path);
	wp_host_close(h);
	test_rmtree(f.root);
	return TEST_OK;
}

/* As the current user: the device is denied; with `safe`, msr_safe works. */
static int check_denied(const struct fake *f, int safe)
{
	struct wp_host *h = fake_open(f, "msr");
	if (safe) {
		ASSERT_EQ(wp_host_domain_count(h), 1);
		ends_with(domain(h, "package_0")->path, "/dev/cpu/0/msr_safe");
		wp_host_close(h);
		return TEST_OK;
	}
	ASSERT_EQ(wp_host_domain_count(h), 0);
	const struct wp_source_note *n = test_find_note(h, NULL, WP_NOTE_UNAVAILABLE, "cannot open");
	ASSERT(n);
	ASSERT_EQ(n->error, -EACCES);
	ASSERT_HAS(n->message, "Permission denied");
	ASSERT_HAS(n->fix, "CAP_SYS_RAWIO");
	ASSERT_HAS(n->fix, "setcap cap_sys_rawio+ep");
	ASSERT_HAS(n->fix, "chmod o+r /dev/cpu/*/msr");
	ASSERT_HAS(n->fix, "SUBSYSTEM==\"msr\", MODE=\"0444\"");
	ASSERT_HAS(n->fix, "/dev/cpu/msr_allowlist");
	ASSERT_HAS(n->fix, "0x606 0x610 0x611 0x614 0x619 0x639 0x641 0x64D");
	wp_host_close(h);
	return TEST_OK;
}

/* Runs check_denied as 'nobody' when root (root reads anything). */
static int denied_as_nobody(const struct fake *f, int safe)
{
	if (geteuid() != 0)
		return check_denied(f, safe);
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(TEST_SKIP);
		_exit(check_denied(f, safe));
	}
	int st;
	waitpid(pid, &st, 0);
	ASSERT(WIFEXITED(st));
	return WEXITSTATUS(st);
}

TEST(msr_permission_denied)
{
	struct fake f;
	char path[700];
	fake_init(&f, "GenuineIntel", 6, 0x8C, "0");
	write_topology(f.sys, 0, 0, -1);
	intel_regs(&f, 0, UNIT_ESU14);
	/* The real node is root's, mode 0600; an owner who is not root is
	 * only denied by mode 0. */
	dev_path(&f, 0, "msr", path, sizeof path);
	ASSERT_EQ(chmod(path, geteuid() == 0 ? 0600 : 0), 0);
	int rc = denied_as_nobody(&f, 0);
	if (rc == TEST_OK) {
		/* msr-safe, readable by its users, is used instead. */
		dev_path(&f, 0, "msr_safe", path, sizeof path);
		put_reg(path, UNIT_REG, UNIT_ESU14);
		put_reg(path, PKG, 9);
		rc = denied_as_nobody(&f, 1);
	}
	test_rmtree(f.root);
	if (rc == TEST_SKIP)
		SKIP_BECAUSE("running as root and cannot switch to uid 65534 to be denied");
	return rc;
}

TEST(msr_unreadable_registers_skipped)
{
	struct fake f;
	char path[700];
	fake_init(&f, "GenuineIntel", 6, 0x8C, "0");
	write_topology(f.sys, 0, 0, -1);
	/* The file ends after PP0: PP1 and psys read short, as the driver's
	 * EIO for a register the CPU lacks; DRAM is a hole and reads 0. */
	fake_reg(&f, 0, UNIT_REG, UNIT_ESU14);
	fake_reg(&f, 0, PKG, 1);
	fake_reg(&f, 0, PP0, 2);
	struct wp_host *h = fake_open(&f, "msr");
	ASSERT_EQ(wp_host_domain_count(h), 2);
	domain(h, "package_0");
	domain(h, "core_0");
	const struct wp_source_note *n = test_find_note(h, NULL, WP_NOTE_SKIPPED, "uncore_0 skipped");
	ASSERT(n);
	ASSERT_EQ(n->error, -EIO);
	ASSERT_HAS(n->message, "cannot read MSR_PP1_ENERGY_STATUS (0x641) on cpu 0");
	ASSERT_HAS(n->message, "the CPU has no such register");
	n = test_find_note(h, NULL, WP_NOTE_SKIPPED, "psys skipped");
	ASSERT(n);
	ASSERT_EQ(n->error, -EIO);
	n = test_find_note(h, NULL, WP_NOTE_SKIPPED, "dram_0 skipped");
	ASSERT(n);
	ASSERT_EQ(n->error, -ENODEV);
	ASSERT_HAS(n->message, "reads 0");
	wp_host_close(h);

	/* A unit register at 0 (a hypervisor's answer): no RAPL at all. */
	fake_reg(&f, 0, UNIT_REG, 0);
	h = fake_open(&f, "msr");
	ASSERT_EQ(wp_host_domain_count(h), 0);
	n = test_find_note(h, NULL, WP_NOTE_SKIPPED, "package 0 skipped: MSR_RAPL_POWER_UNIT (0x606) "
	                                  "reads 0 on cpu 0: no RAPL here");
	ASSERT(n);
	n = test_find_note(h, NULL, WP_NOTE_UNAVAILABLE, "no RAPL register could be read");
	ASSERT(n);
	ASSERT_EQ(n->error, WP_ENOSOURCE);
	wp_host_close(h);

	/* A unit register the CPU lacks. */
	dev_path(&f, 0, "msr", path, sizeof path);
	ASSERT_EQ(truncate(path, 0x600), 0);
	h = fake_open(&f, "msr");
	ASSERT_EQ(wp_host_domain_count(h), 0);
	n = test_find_note(h, NULL, WP_NOTE_SKIPPED, "package 0 skipped: cannot read MSR_RAPL_POWER_UNIT");
	ASSERT(n);
	ASSERT_EQ(n->error, -EIO);
	ASSERT(test_find_note(h, NULL, WP_NOTE_UNAVAILABLE, "no RAPL register could be read"));
	wp_host_close(h);
	test_rmtree(f.root);
	return TEST_OK;
}

TEST(msr_powercap_preferred)
{
	static const struct sim_zone zones[] = {
		{ "intel-rapl:0", "package-0", 262143328850, 15, 0, 0, 0, 0 },
		{ "intel-rapl:0:0", "core", 262143328850, 5, 0, 0, 0, 0 },
	};
	struct sim s;
	struct fake f;
	sim_create(&s, zones, 2);
	fake_init(&f, "GenuineIntel", 6, 0x8C, "0");
	/* One sysfs tree for both sources: the sim's, with CPUs added. */
	snprintf(f.sys, sizeof f.sys, "%s", s.root);
	write_online(f.sys, "0");
	write_topology(f.sys, 0, 0, -1);
	intel_regs(&f, 0, UNIT_ESU14);
	unsetenv("WATTPROF_SOURCE");

	struct wp_host *h = fake_open(&f, NULL);
	ASSERT_STR(domain(h, "package_0")->source, "powercap");
	ASSERT_STR(domain(h, "core_0")->source, "powercap");
	/* What only msr gives is kept. */
	ASSERT_STR(domain(h, "uncore_0")->source, "msr");
	ASSERT_STR(domain(h, "psys")->source, "msr");
	const struct wp_source_note *n =
		test_find_note(h, NULL, WP_NOTE_SKIPPED, "package_0 skipped: powercap gives it too");
	ASSERT(n);
	ASSERT_STR(n->source, "msr");
	wp_host_close(h);

	/* Named, msr is used alone or first. */
	h = fake_open(&f, "msr");
	ASSERT_STR(domain(h, "package_0")->source, "msr");
	for (size_t i = 0; i < wp_host_domain_count(h); i++)
		ASSERT_STR(wp_host_domain(h, i)->source, "msr");
	wp_host_close(h);
	h = fake_open(&f, "msr,powercap");
	ASSERT_STR(domain(h, "package_0")->source, "msr");
	ASSERT(test_find_note(h, NULL, WP_NOTE_SKIPPED, "package_0 skipped: msr gives it too"));
	wp_host_close(h);
	test_rmtree(f.root);
	sim_destroy(&s);
	return TEST_OK;
}

/* ------------------------------------------------ msr's contract fixture */

/*
 * One Intel client package counting in 61 uJ (ESU 14), started 2 J (53 ms
 * at the contract's 37.5 W) below the 32-bit wrap.  With no power info the
 * peak is 1000 W and the shortest wrap 262 s: min_wrap_ns is well above the
 * contract's 1 ms.
 */
#define CM_START (4294967296ull - 2 * 16384)

static void cm_path(const struct contract_env *env, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/cpu/0/msr", env->dev);
}

static void cm_setup(struct contract_env *env)
{
	char path[700];
	write_cpuinfo(env->proc, "GenuineIntel", 6, 0x8C);
	write_online(env->sys, "0");
	write_topology(env->sys, 0, 0, -1);
	snprintf(path, sizeof path, "%s/cpu/0", env->dev);
	test_mkdirs(path);
	cm_path(env, path, sizeof path);
	put_reg(path, UNIT_REG, UNIT_ESU14);
	put_reg(path, PKG, CM_START);
}

static void cm_tick(struct contract_env *env, uint64_t now_ns)
{
	char path[700];
	double j = env->watts * (double)(now_ns - env->t0_ns) / 1e9;
	cm_path(env, path, sizeof path);
	put_reg(path, PKG, (CM_START + (uint64_t)(j / J14)) & 0xFFFFFFFFu);
}

/* The register can no longer be read: pread returns nothing. */
static void cm_vanish(struct contract_env *env)
{
	char path[700];
	cm_path(env, path, sizeof path);
	if (truncate(path, 0) < 0)
		TEST_FAIL_("truncate '%s': %s", path, strerror(errno));
}

const struct contract_source contract_msr = {
	.source = "msr",
	.domain = "package_0",
	.wraps = 1,
	.rel_tol = 0.01,
	.setup = cm_setup,
	.tick = cm_tick,
	.vanish = cm_vanish,
};
