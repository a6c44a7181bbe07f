/*
 * fakecpu.h - a fake machine's CPUs for the estimate: sysfs topology
 * (devices/system/cpu/online, cpuN/topology/{physical_package_id,core_id}),
 * /proc/cpuinfo and /proc/stat whose per-CPU busy and idle ticks the test
 * sets, so the estimate's truth is known in closed form.
 */
#ifndef WATTPROF_FAKECPU_H
#define WATTPROF_FAKECPU_H

#include <stdint.h>

#define FAKE_MAX_CPUS 64

struct fake_cpus {
	char sys[600], proc[600];
	int ncpu;
	int package[FAKE_MAX_CPUS], core[FAKE_MAX_CPUS];
	int online[FAKE_MAX_CPUS]; /* offline CPUs have no /proc/stat line */
	uint64_t busy[FAKE_MAX_CPUS]; /* written as user ticks */
	uint64_t idle[FAKE_MAX_CPUS];
	uint64_t steal[FAKE_MAX_CPUS];
};

/*
 * Lays out `ncpu` CPUs over `sockets` sockets, `threads` per core, under
 * <sys> and <proc> (created if missing); cpuinfo names `model`.  With
 * topology 0, no sysfs cpu files are written (a container without them).
 * Writes /proc/stat with every counter at 1000.
 */
void fake_cpus_create(struct fake_cpus *f, const char *sys, const char *proc, int ncpu,
                      int sockets, int threads, const char *model, int topology);
/* Rewrites /proc/stat from the arrays. */
void fake_cpus_write_stat(const struct fake_cpus *f);

#endif
