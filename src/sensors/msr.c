/*
 * msr.c - RAPL energy counters read straight from the CPU's model-specific
 * registers, where neither perf nor powercap gives them (an old kernel, no
 * RAPL driver, msr-safe clusters).
 *
 * Devices, one per logical CPU; a register is read with
 * pread(fd, &u64, 8, register): the file offset is the register's address.
 *
 *   <dev>/cpu/N/msr       Linux's msr driver (arch/x86/kernel/msr.c).  Opening
 *                         it needs read permission on the node (root, mode
 *                         0600, by default) and CAP_SYS_RAWIO, which msr_open()
 *                         checks (EPERM without it).  Kernel lockdown blocks
 *                         MSR writes only, never these reads.
 *   <dev>/cpu/N/msr_safe  LLNL's msr-safe module (github.com/LLNL/msr-safe),
 *                         tried when msr is absent or denied: file permissions
 *                         only, but a read of a register missing from the
 *                         allowlist (/dev/cpu/msr_allowlist) fails with EACCES.
 *
 * Registers (Intel SDM vol. 3B, "Power and Thermal Management", RAPL
 * section; AMD Processor Programming Reference for family 17h, MSRC001_0299
 * to MSRC001_029B; the addresses Linux uses in arch/x86/include/asm/msr-index.h):
 *
 *   Intel  0x606 MSR_RAPL_POWER_UNIT    bits 3:0 power unit (1/2^PU W),
 *                                       bits 12:8 energy unit (1/2^ESU J)
 *          0x610 MSR_PKG_POWER_LIMIT    PL1 bits 14:0, PL2 bits 46:32
 *          0x611 MSR_PKG_ENERGY_STATUS  package_N
 *          0x614 MSR_PKG_POWER_INFO     thermal spec power bits 14:0,
 *                                       maximum power bits 46:32
 *          0x619 MSR_DRAM_ENERGY_STATUS dram_N (servers)
 *          0x639 MSR_PP0_ENERGY_STATUS  core_N
 *          0x641 MSR_PP1_ENERGY_STATUS  uncore_N (client parts: the GPU)
 *          0x64D MSR_PLATFORM_ENERGY_STATUS  psys (Skylake and later)
 *   AMD    0xC0010299 units (same layout as 0x606), 0xC001029B package_N;
 *          0xC001029A counts one core and is left out (see probe()).
 *
 * Every energy status register counts in bits 31:0 (the rest is reserved,
 * and some AMD parts fill it): the counter is masked to 32 bits and wraps at
 * 2^32, so counter_max is 0xFFFFFFFF.
 *
 * Scope (arch/x86/events/rapl.c, rapl_pkg_pmu_is_pkg_scope()): AMD and
 * Hygon count per package; Intel per die, which only matters on multi-die
 * packages (Cascade Lake-AP), named package_N_die_M as powercap does.  One
 * online CPU is read per package (per die).
 *
 * Layout of this file: registers, the unit table, reading a register,
 * choosing one CPU per package, the notes' fixes, probe, the ops.
 */

/* AMD's registers lie above 2^31: pread offsets must be 64-bit everywhere.
 * No struct shared with other files holds an off_t. */
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/internal.h"

#define SOURCE "msr"

extern const struct wp_sensor_ops wp__sensor_msr;

#define MSR_RAPL_POWER_UNIT 0x606u
#define MSR_PKG_POWER_LIMIT 0x610u
#define MSR_PKG_ENERGY_STATUS 0x611u
#define MSR_PKG_POWER_INFO 0x614u
#define MSR_DRAM_ENERGY_STATUS 0x619u
#define MSR_PP0_ENERGY_STATUS 0x639u
#define MSR_PP1_ENERGY_STATUS 0x641u
#define MSR_PLATFORM_ENERGY_STATUS 0x64Du
#define MSR_AMD_RAPL_POWER_UNIT 0xC0010299u
#define MSR_AMD_CORE_ENERGY_STATUS 0xC001029Au
#define MSR_AMD_PKG_ENERGY_STATUS 0xC001029Bu

#define COUNTER_MAX 0xFFFFFFFFu

/* As powercap.c: 1000 W is above any socket, DRAM set or platform sold
 * today, and PL2 lets a package draw about twice its declared power. */
#define DEFAULT_PEAK_W 1000.0
#define PEAK_MARGIN 2.0

/* --------------------------------------------------------- the unit table */

/*
 * Where a RAPL domain does not count in MSR_RAPL_POWER_UNIT's energy unit:
 * joules per count for DRAM and psys, by vendor, family and model; 0 means
 * "the unit register's".  Every other CPU uses the unit register throughout.
 *
 * Sources:
 *  [L] Linux drivers/powercap/intel_rapl_common.c: rapl_ids[] maps the model
 *      to rapl_defaults_hsw_server (.dram_domain_energy_unit = 15300 nJ) or
 *      rapl_defaults_spr_server (.psys_domain_energy_unit = 1 J).
 *  [P] Linux arch/x86/events/rapl.c: rapl_model_match[] maps the model to
 *      model_hsx / model_knl (RAPL_UNIT_QUIRK_INTEL_HSW: DRAM 2^-16 J) or
 *      model_spr (RAPL_UNIT_QUIRK_INTEL_SPR: psys 2^0 J).
 *  [D] Intel Xeon E5-1600/2600 v3 datasheet vol. 2 (330784-001, Sept. 2014),
 *      cited by [P]: the DRAM domain counts in a fixed 15.3 uJ.
 *  [S] Intel SDM vol. 4, table 2-52 (4th and 5th generation Xeon Scalable):
 *      MSR 619h bits 31:0 "Energy in 61 micro-joules".
 *
 * Where they disagree:
 *  - 15.3 uJ is [D]'s and [L]'s figure; [P] uses 2^-16 J = 15.2588 uJ, 0.27%
 *    less.  We keep 15.3 uJ so that msr and powercap agree on one machine.
 *  - Broadwell-DE (0x56) has the fixed DRAM unit in [P] but not in [L]
 *    (rapl_defaults_core there).  We follow [P] and the issue.
 *  - Sapphire and Emerald Rapids: [S] gives DRAM a fixed 61 uJ (2^-14 J);
 *    Linux reads the unit register instead (commit "perf/x86/rapl: Use
 *    standard Energy Unit for SPR Dram RAPL domain", 2022), which reads 61 uJ
 *    (ESU 14) on these parts.  We follow [S].
 *  - Granite Rapids (0xAD, 0xAE) is in neither Linux table (its kernel
 *    driver reads RAPL through TPMI); the 61 uJ DRAM and 1 J psys units are
 *    the issue's, by analogy with Sapphire Rapids.  PAPI's Granite Rapids
 *    support (icl-utk-edu/papi pull request 635) shows DRAM counts of
 *    61.035 uJ.  Not checked on hardware.
 */
#define UNIT_15_3_UJ 15.3e-6
#define UNIT_61_UJ (1.0 / 16384) /* 2^-14 J = 61.035 uJ */

struct unit_quirk {
	const char *vendor;
	unsigned family, model;
	const char *name;
	double dram_j; /* 0: the unit register's */
	double psys_j; /* 0: the unit register's */
};

static const struct unit_quirk unit_quirks[] = {
	/* [L] [P] [D] */
	{ "GenuineIntel", 6, 0x3F, "Haswell-EP", UNIT_15_3_UJ, 0 },
	/* [L] [P] */
	{ "GenuineIntel", 6, 0x4F, "Broadwell-EP", UNIT_15_3_UJ, 0 },
	/* [P] (not [L]: see above) */
	{ "GenuineIntel", 6, 0x56, "Broadwell-DE", UNIT_15_3_UJ, 0 },
	/* [L] [P]; Cascade Lake and Cooper Lake share the model */
	{ "GenuineIntel", 6, 0x55, "Skylake-SP", UNIT_15_3_UJ, 0 },
	/* [L] [P] */
	{ "GenuineIntel", 6, 0x6A, "Ice Lake-SP", UNIT_15_3_UJ, 0 },
	{ "GenuineIntel", 6, 0x6C, "Ice Lake-D", UNIT_15_3_UJ, 0 },
	/* [L] [P] (model_knl) */
	{ "GenuineIntel", 6, 0x57, "Knights Landing", UNIT_15_3_UJ, 0 },
	{ "GenuineIntel", 6, 0x85, "Knights Mill", UNIT_15_3_UJ, 0 },
	/* DRAM [S]; psys [L] [P] */
	{ "GenuineIntel", 6, 0x8F, "Sapphire Rapids", UNIT_61_UJ, 1.0 },
	{ "GenuineIntel", 6, 0xCF, "Emerald Rapids", UNIT_61_UJ, 1.0 },
	/* the figures (see above) */
	{ "GenuineIntel", 6, 0xAD, "Granite Rapids-X", UNIT_61_UJ, 1.0 },
	{ "GenuineIntel", 6, 0xAE, "Granite Rapids-D", UNIT_61_UJ, 1.0 },
};

static const struct unit_quirk *find_quirk(const struct wp__cpuid *id)
{
	for (size_t i = 0; i < sizeof unit_quirks / sizeof *unit_quirks; i++) {
		const struct unit_quirk *q = &unit_quirks[i];
		if (strcmp(q->vendor, id->vendor) == 0 && q->family == id->family &&
		    q->model == id->model)
			return q;
	}
	return NULL;
}

/* ------------------------------------------------------------ the vendors */

struct reg_domain {
	uint32_t reg;
	const char *reg_name;
	enum wp_domain_kind kind;
};

static const struct reg_domain intel_domains[] = {
	{ MSR_PKG_ENERGY_STATUS, "MSR_PKG_ENERGY_STATUS", WP_KIND_PACKAGE },
	{ MSR_PP0_ENERGY_STATUS, "MSR_PP0_ENERGY_STATUS", WP_KIND_CORE },
	{ MSR_PP1_ENERGY_STATUS, "MSR_PP1_ENERGY_STATUS", WP_KIND_UNCORE },
	{ MSR_DRAM_ENERGY_STATUS, "MSR_DRAM_ENERGY_STATUS", WP_KIND_DRAM },
	{ MSR_PLATFORM_ENERGY_STATUS, "MSR_PLATFORM_ENERGY_STATUS", WP_KIND_PSYS },
};

static const struct reg_domain amd_domains[] = {
	{ MSR_AMD_PKG_ENERGY_STATUS, "MSR_AMD_PKG_ENERGY_STATUS", WP_KIND_PACKAGE },
};

struct vendor {
	uint32_t unit_reg;
	const char *unit_reg_name;
	const struct reg_domain *domains;
	size_t ndomains;
	int die_scope;  /* counters per die (Intel), not per package (AMD) */
	int power_info; /* MSR_PKG_POWER_INFO and MSR_PKG_POWER_LIMIT exist */
	const char *allowlist; /* every register read, for msr-safe's allowlist */
};

static const struct vendor intel = {
	.unit_reg = MSR_RAPL_POWER_UNIT,
	.unit_reg_name = "MSR_RAPL_POWER_UNIT",
	.domains = intel_domains,
	.ndomains = sizeof intel_domains / sizeof *intel_domains,
	.die_scope = 1,
	.power_info = 1,
	.allowlist = "0x606 0x610 0x611 0x614 0x619 0x639 0x641 0x64D",
};

static const struct vendor amd = {
	.unit_reg = MSR_AMD_RAPL_POWER_UNIT,
	.unit_reg_name = "MSR_AMD_RAPL_POWER_UNIT",
	.domains = amd_domains,
	.ndomains = sizeof amd_domains / sizeof *amd_domains,
	.die_scope = 0,
	.power_info = 0,
	.allowlist = "0xC0010299 0xC001029B",
};

/*
 * The register set of this CPU, or NULL with the reason in why.  RAPL MSRs
 * exist on Intel family 6 since Sandy Bridge (a model without them fails
 * the unit register's read), on AMD since family 17h (Zen) and on Hygon's
 * family 18h (Linux's rapl_ids[] and rapl_model_match[] match the same).
 */
static const struct vendor *vendor_of(const struct wp__cpuid *id, char *why, size_t cap)
{
	if (strcmp(id->vendor, "GenuineIntel") == 0) {
		if (id->family >= 6)
			return &intel;
		snprintf(why, cap, "Intel family %u has no RAPL registers (they start in "
		         "family 6, with Sandy Bridge)", id->family);
	} else if (strcmp(id->vendor, "AuthenticAMD") == 0) {
		if (id->family >= 0x17)
			return &amd;
		snprintf(why, cap, "AMD family %xh has no RAPL registers (they start in "
		         "family 17h, with Zen)", id->family);
	} else if (strcmp(id->vendor, "HygonGenuine") == 0) {
		if (id->family >= 0x18)
			return &amd;
		snprintf(why, cap, "Hygon family %xh has no RAPL registers known to wattprof",
		         id->family);
	} else {
		snprintf(why, cap, "CPU vendor '%s' has no RAPL registers known to wattprof",
		         id->vendor);
	}
	return NULL;
}

/* ------------------------------------------------------ reading registers */

/*
 * Reads one register: 0 or a negative errno.  The msr driver answers EIO
 * for a register the CPU lacks; a read past the end of a regular file (a
 * test's stand-in for the device) is taken as the same.
 */
static int read_reg(int fd, uint32_t reg, uint64_t *out)
{
	uint64_t v;
	ssize_t n;

	do
		n = pread(fd, &v, sizeof v, (off_t)reg);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n != (ssize_t)sizeof v)
		return -EIO;
	*out = v;
	return 0;
}

/*
 * The largest power the package declares, in W, 0 when none: thermal spec
 * and maximum power (MSR_PKG_POWER_INFO), PL1 and PL2 (MSR_PKG_POWER_LIMIT),
 * all in the unit register's power unit (Intel SDM vol. 3B, "Package RAPL
 * Domain"; the same masks as intel_rapl_common.c's POWER_INFO_* and
 * POWER_LIMIT*_MASK).  PL2 matters on laptops, whose short-term limit can be
 * four times the thermal design power.
 */
static double declared_power_w(int fd, uint64_t unit)
{
	double w = ldexp(1.0, -(int)(unit & 0xF));
	double best = 0;
	uint64_t v;

	if (read_reg(fd, MSR_PKG_POWER_INFO, &v) == 0) {
		best = fmax(best, (double)(v & 0x7FFF) * w);
		best = fmax(best, (double)((v >> 32) & 0x7FFF) * w);
	}
	if (read_reg(fd, MSR_PKG_POWER_LIMIT, &v) == 0) {
		best = fmax(best, (double)(v & 0x7FFF) * w);
		best = fmax(best, (double)((v >> 32) & 0x7FFF) * w);
	}
	return best;
}

/* ------------------------------------------------- one CPU per package */

/* Where the counters of one package (or die) are read. */
struct place {
	int cpu;
	int package;
	int die; /* -1 on single-die packages and where counters are per package */
};

static int place_order(const void *pa, const void *pb)
{
	const struct place *a = pa, *b = pb;
	if (a->package != b->package)
		return a->package < b->package ? -1 : 1;
	return a->die < b->die ? -1 : a->die > b->die;
}

/*
 * The first online CPU of every package (of every die, with die_scope), in
 * package order.  Returns the count, or a negative errno with *bad_cpu the
 * CPU whose topology could not be read (-1: the online list).
 */
static int choose_places(const struct wp_host *host, int die_scope, struct place **out,
                         int *bad_cpu)
{
	struct place *places = NULL;
	size_t n = 0, cap = 0;
	int *cpus, ncpus;

	*out = NULL;
	*bad_cpu = -1;
	ncpus = wp__online_cpus(host, &cpus);
	if (ncpus < 0)
		return ncpus;
	for (int i = 0; i < ncpus; i++) {
		int package, die, core, seen = 0;
		int rc = wp__cpu_topology(host, cpus[i], &package, &die, &core);
		if (rc < 0) {
			*bad_cpu = cpus[i];
			free(cpus);
			free(places);
			return rc;
		}
		if (!die_scope)
			die = -1;
		for (size_t k = 0; k < n && !seen; k++)
			seen = places[k].package == package && places[k].die == die;
		if (seen)
			continue;
		if (wp__grow((void **)&places, &cap, n + 1, sizeof *places) < 0) {
			free(cpus);
			free(places);
			return -ENOMEM;
		}
		places[n++] = (struct place){ .cpu = cpus[i], .package = package, .die = die };
	}
	free(cpus);
	/* A package with one die is named package_N, not package_N_die_0. */
	for (size_t i = 0; i < n; i++) {
		int dies = 0;
		for (size_t k = 0; k < n; k++)
			dies += places[k].package == places[i].package;
		if (dies == 1)
			places[i].die = -1;
	}
	if (n > 1)
		qsort(places, n, sizeof *places, place_order);
	*out = places;
	return (int)n;
}

/* -------------------------------------------------------------- the fixes */

static const char NO_DRIVER_FIX[] =
	"load the msr driver: 'sudo modprobe msr' (at every boot: "
	"'echo msr | sudo tee /etc/modules-load.d/msr.conf'), or install LLNL's "
	"msr-safe module (https://github.com/LLNL/msr-safe), which gives users "
	"/dev/cpu/N/msr_safe without root. Virtual machines rarely pass RAPL "
	"registers through: measure on the host instead";

/* For EACCES and EPERM on open: both are needed, so the fix names both. */
static void perm_fix(char *buf, size_t cap, const struct vendor *v)
{
	snprintf(buf, cap,
	         "the msr driver opens /dev/cpu/N/msr only for a process with read "
	         "permission on the file (root only by default) and the CAP_SYS_RAWIO "
	         "capability. Run as root, or grant both: 'sudo setcap cap_sys_rawio+ep "
	         "\"$(command -v wattprof)\"' (or the program that links libwattprof) and "
	         "'sudo chmod o+r /dev/cpu/*/msr' until the next reboot; for good, the udev "
	         "rule 'SUBSYSTEM==\"msr\", MODE=\"0444\"' in "
	         "/etc/udev/rules.d/70-wattprof-msr.rules (or GROUP=\"msr\", MODE=\"0440\" "
	         "for one group). A container needs both too (docker run --cap-add "
	         "SYS_RAWIO --device /dev/cpu/0/msr ...). Without CAP_SYS_RAWIO, LLNL's "
	         "msr-safe gives /dev/cpu/N/msr_safe to users with file permission, for the "
	         "registers in /dev/cpu/msr_allowlist; wattprof reads %s. Easier: the "
	         "powercap source ('sudo modprobe intel_rapl_msr')",
	         v->allowlist);
}

/* For EACCES on a read through msr-safe: the register is not allowlisted. */
static void allowlist_fix(char *buf, size_t cap, const struct vendor *v, uint32_t reg)
{
	snprintf(buf, cap,
	         "msr-safe reads only the registers in its allowlist: add the line "
	         "'0x%08X 0x0000000000000000' (read-only) to the list written to "
	         "/dev/cpu/msr_allowlist. Writing a list replaces the previous one: "
	         "include every register wattprof reads, %s",
	         reg, v->allowlist);
}

static int is_perm(int err)
{
	return err == -EACCES || err == -EPERM;
}

/* ------------------------------------------------------------------ probe */

struct msr_priv {
	uint32_t reg;
};

/* Per probe: what the notes and the closing summary need. */
struct scan {
	const struct vendor *v;
	const struct unit_quirk *quirk;
	int psys_tried; /* psys is read once, on the first package */
	int read_denied; /* some register read failed with EACCES (msr-safe) */
};

/* Adds the domain of register rd on place p, or notes why not. */
static int add_domain(struct wp_host *host, struct scan *s, const struct place *p, int fd,
                      const char *path, const struct reg_domain *rd, uint64_t unit,
                      double package_peak_w)
{
	char name[48], fix[1024];
	uint64_t raw;
	int rc;

	wp__rapl_domain_name(name, sizeof name, rd->kind, p->package, p->die);
	rc = read_reg(fd, rd->reg, &raw);
	if (rc < 0) {
		const char *why = rc == -EIO ? ": the CPU has no such register" : "";
		if (rc == -EACCES) {
			s->read_denied = 1;
			allowlist_fix(fix, sizeof fix, s->v, rd->reg);
		}
		return wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, rc, path,
		                     rc == -EACCES ? fix : NULL,
		                     "%s skipped: cannot read %s (0x%X) on cpu %d: %s%s", name,
		                     rd->reg_name, rd->reg, p->cpu, wp_strerror(rc), why);
	}
	/* Linux's rapl_check_domain() also takes a counter at 0 for a domain
	 * the CPU does not count. */
	if ((raw & COUNTER_MAX) == 0)
		return wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, -ENODEV, path, NULL,
		                     "%s skipped: %s (0x%X) reads 0 on cpu %d: this CPU does "
		                     "not count it",
		                     name, rd->reg_name, rd->reg, p->cpu);

	/* Intel SDM: joules per count = 1 / 2^ESU, ESU in bits 12:8. */
	double jpc = ldexp(1.0, -(int)((unit >> 8) & 0x1F));
	if (rd->kind == WP_KIND_DRAM && s->quirk && s->quirk->dram_j > 0)
		jpc = s->quirk->dram_j;
	if (rd->kind == WP_KIND_PSYS && s->quirk && s->quirk->psys_j > 0)
		jpc = s->quirk->psys_j;
	/* Cores and uncore draw from the package; DRAM and the platform do
	 * not, and declare nothing we read. */
	double peak = rd->kind == WP_KIND_PACKAGE || rd->kind == WP_KIND_CORE ||
	                              rd->kind == WP_KIND_UNCORE
	                      ? package_peak_w
	                      : DEFAULT_PEAK_W;
	struct wp_domain_info info = {
		.name = name,
		.source = SOURCE,
		.path = path,
		.unit = "J",
		.kind = rd->kind,
		.socket = rd->kind == WP_KIND_PSYS ? -1 : p->package,
		.die = rd->kind == WP_KIND_PSYS ? -1 : p->die,
		.counter_max = COUNTER_MAX,
		.joules_per_count = jpc,
		.peak_power_w = peak,
	};

	struct msr_priv *priv = malloc(sizeof *priv);
	if (!priv)
		return -ENOMEM;
	priv->reg = rd->reg;
	/* Each domain owns its descriptor, so that release() is per domain. */
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0) {
		int err = -errno;
		free(priv);
		return wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, err, path, NULL,
		                     "%s skipped: cannot duplicate the descriptor of '%s': %s",
		                     name, path, wp_strerror(err));
	}
	rc = wp__host_add_domain_priv(host, &wp__sensor_msr, &info, dfd, priv);
	if (rc < 0)
		free(priv);
	return rc;
}

/* Reads the units of place p and adds its domains. */
static int add_place(struct wp_host *host, struct scan *s, const struct place *p, int fd,
                     const char *path)
{
	char fix[1024];
	uint64_t unit;
	int rc = read_reg(fd, s->v->unit_reg, &unit);

	if (rc == 0 && unit == 0)
		rc = -ENODEV; /* a hypervisor that answers unknown MSRs with 0 */
	if (rc < 0) {
		char where[48];
		if (p->die >= 0)
			snprintf(where, sizeof where, "package %d die %d", p->package, p->die);
		else
			snprintf(where, sizeof where, "package %d", p->package);
		if (rc == -ENODEV)
			return wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, rc, path, NULL,
			                     "%s skipped: %s (0x%X) reads 0 on cpu %d: no RAPL "
			                     "here (a virtual machine?)",
			                     where, s->v->unit_reg_name, s->v->unit_reg, p->cpu);
		if (rc == -EACCES) {
			s->read_denied = 1;
			allowlist_fix(fix, sizeof fix, s->v, s->v->unit_reg);
		}
		return wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, rc, path,
		                     rc == -EACCES ? fix : NULL,
		                     "%s skipped: cannot read %s (0x%X) on cpu %d: %s%s", where,
		                     s->v->unit_reg_name, s->v->unit_reg, p->cpu, wp_strerror(rc),
		                     rc == -EIO ? ": the CPU has no such register" : "");
	}
	double peak = s->v->power_info ? declared_power_w(fd, unit) * PEAK_MARGIN : 0;
	if (peak <= 0)
		peak = DEFAULT_PEAK_W;
	for (size_t i = 0; i < s->v->ndomains && rc == 0; i++) {
		const struct reg_domain *rd = &s->v->domains[i];
		if (rd->kind == WP_KIND_PSYS) {
			if (s->psys_tried)
				continue;
			s->psys_tried = 1;
		}
		rc = add_domain(host, s, p, fd, path, rd, unit, peak);
	}
	return rc;
}

/*
 * Opens the device of `cpu`: msr, else msr_safe (absent or denied msr).
 * Returns the fd with its file in `path`, or -1 with both errors.
 */
static int open_device(const struct wp_host *host, int cpu, char *path, size_t cap,
                       int *msr_err, int *safe_err)
{
	static const char *const names[] = { "msr", "msr_safe" };
	int *errs[] = { msr_err, safe_err };

	for (size_t i = 0; i < 2; i++) {
		snprintf(path, cap, "%s/cpu/%d/%s", host->dev_root, cpu, names[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			return fd;
		*errs[i] = -errno;
	}
	return -1;
}

/*
 * Notes why p's device cannot be opened: for the whole source when `first`
 * (no driver, no permission: every CPU alike), else for that package.
 */
static int note_open_failure(struct wp_host *host, const struct scan *s,
                             const struct place *p, int msr_err, int safe_err, int first)
{
	char msr[4096], safe[4096], who[64] = "", fix[2048];
	/* Once msr-safe is installed, its error is the one to fix. */
	int err = safe_err != -ENOENT ? safe_err : msr_err;
	const char *fixp = NULL;

	snprintf(msr, sizeof msr, "%s/cpu/%d/msr", host->dev_root, p->cpu);
	snprintf(safe, sizeof safe, "%s/cpu/%d/msr_safe", host->dev_root, p->cpu);
	if (!first && p->die >= 0)
		snprintf(who, sizeof who, "package %d die %d skipped: ", p->package, p->die);
	else if (!first)
		snprintf(who, sizeof who, "package %d skipped: ", p->package);
	/* ENODEV, ENXIO: a device node left in a static /dev, no driver. */
	if (err == -ENOENT || err == -ENODEV || err == -ENXIO) {
		fixp = NO_DRIVER_FIX;
	} else if (is_perm(err)) {
		perm_fix(fix, sizeof fix, s->v);
		fixp = fix;
	}
	/* msr_open() answers EPERM for a missing capability only. */
	const char *cap_why = msr_err == -EPERM ? " (the process lacks CAP_SYS_RAWIO)" : "";
	enum wp_note_level level = first ? WP_NOTE_UNAVAILABLE : WP_NOTE_SKIPPED;
	if (safe_err == -ENOENT)
		return wp__host_note(host, SOURCE, level, err, msr, fixp,
		                     "%scannot open '%s': %s%s; msr-safe is not installed", who,
		                     msr, wp_strerror(msr_err), cap_why);
	return wp__host_note(host, SOURCE, level, err, safe, fixp,
	                     "%scannot open '%s': %s%s, nor '%s': %s", who, msr,
	                     wp_strerror(msr_err), cap_why, safe, wp_strerror(safe_err));
}

static int probe(struct wp_host *host)
{
	char path[4096], devdir[4096], why[256];
	struct place *places = NULL;
	struct wp__cpuid id;
	struct scan s = { 0 };
	const char *via = "msr";
	int rc, n, bad_cpu, opened = 0;

	snprintf(devdir, sizeof devdir, "%s/cpu", host->dev_root);
	rc = wp__read_cpuid(host, &id);
	if (rc < 0) {
		snprintf(path, sizeof path, "%s/cpuinfo", host->proc_root);
		return wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, rc, path, NULL,
		                     "cannot tell the CPU's vendor and model from '%s': %s",
		                     path, wp_strerror(rc));
	}
	s.v = vendor_of(&id, why, sizeof why);
	if (!s.v)
		return wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, WP_ENOSOURCE, NULL, NULL,
		                     "%s", why);
	s.quirk = find_quirk(&id);

	n = choose_places(host, s.v->die_scope, &places, &bad_cpu);
	if (n == -ENOMEM)
		return n;
	if (n <= 0) {
		if (bad_cpu >= 0)
			snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/topology",
			         host->sysfs_root, bad_cpu);
		else
			snprintf(path, sizeof path, "%s/devices/system/cpu/online",
			         host->sysfs_root);
		return wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE, n < 0 ? n : WP_ENOSOURCE,
		                     path, NULL,
		                     "cannot tell which CPU to read for each package: '%s': %s",
		                     path, n < 0 ? wp_strerror(n) : "no online CPU");
	}

	size_t added_before = host->domain_count;
	rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		int msr_err = 0, safe_err = 0;
		int fd = open_device(host, places[i].cpu, path, sizeof path, &msr_err, &safe_err);
		if (fd < 0) {
			/* The first failure is everyone's (no driver, no
			 * permission): one note for the source, and stop. */
			rc = note_open_failure(host, &s, &places[i], msr_err, safe_err,
			                       opened == 0);
			if (opened == 0)
				goto out;
			continue;
		}
		opened++;
		via = strstr(path, "msr_safe") ? "msr_safe" : "msr";
		rc = add_place(host, &s, &places[i], fd, path);
		close(fd);
	}
	if (rc < 0)
		goto out;

	/*
	 * AMD's core counter (0xC001029A) is per physical core, not per
	 * package: a core_N made of their sum would wrap at each core's own
	 * 2^32 and could not be unwrapped as one counter.
	 */
	if (s.v == &amd && opened > 0)
		rc = wp__host_note(host, SOURCE, WP_NOTE_SKIPPED, 0, devdir, NULL,
		                   "core energy skipped: MSR_AMD_CORE_ENERGY_STATUS (0x%X) counts "
		                   "one core, not a package, and a sum of per-core 32-bit "
		                   "counters cannot be unwrapped as one counter",
		                   MSR_AMD_CORE_ENERGY_STATUS);
	if (rc < 0)
		goto out;

	size_t added = host->domain_count - added_before;
	if (added > 0) {
		int dies = places[n - 1].die >= 0;
		rc = wp__host_note(host, SOURCE, WP_NOTE_FOUND, 0, devdir, NULL,
		                   "%zu domain%s on %d %s%s through %s (%s family %xh model %02Xh%s%s)",
		                   added, added == 1 ? "" : "s", opened, dies ? "die" : "package",
		                   opened == 1 ? "" : "s", via, id.vendor, id.family, id.model,
		                   s.quirk ? ": " : "", s.quirk ? s.quirk->name : "");
	} else {
		char fix[1024];
		if (s.read_denied)
			allowlist_fix(fix, sizeof fix, s.v, s.v->unit_reg);
		rc = wp__host_note(host, SOURCE, WP_NOTE_UNAVAILABLE,
		                   s.read_denied ? -EACCES : WP_ENOSOURCE, devdir,
		                   s.read_denied ? fix : NULL,
		                   "no RAPL register could be read through '%s'", devdir);
	}
out:
	free(places);
	return rc;
}

/* --------------------------------------------------------------- the ops */

static int read_counter(const struct wp__domain *d, uint64_t *raw)
{
	const struct msr_priv *p = d->priv;
	uint64_t v;
	int rc = read_reg(d->fd, p->reg, &v);
	if (rc < 0)
		return rc;
	*raw = v & COUNTER_MAX;
	return 0;
}

static void release(struct wp__domain *d)
{
	free(d->priv);
	d->priv = NULL;
}

const struct wp_sensor_ops wp__sensor_msr = {
	.version = 2,
	.name = SOURCE,
	.probe = probe,
	.read = read_counter,
	.release = release,
	.flags = 0,
};
