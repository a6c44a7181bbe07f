/*
 * sim.h - a simulated powercap tree with a known ground truth.
 *
 * sim_create() lays out <root>/devices/virtual/powercap/<type>/<zone>... and
 * <root>/class/powercap/<zone> symlinks, as the kernel does.  Each zone's
 * energy follows a power profile: power_w, plus swing_w for the first half
 * of every period_s and minus swing_w for the second half (a square wave).
 * Its true energy at any time is known in closed form (sim_energy_uj), and
 * the counter file holds that energy modulo (max_range_uj + 1), so it wraps.
 *
 * sim_start() runs a thread that rewrites every counter each tick_ns from
 * the profile at the moment of writing; tests can also drive counters by hand
 * with sim_set().
 */
#ifndef WATTPROF_SIM_H
#define WATTPROF_SIM_H

#include <pthread.h>
#include <stdint.h>

#include "wattprof/wattprof.h"

struct sim_zone {
	const char *dir;       /* "intel-rapl:0", "intel-rapl:0:1", "intel-rapl-mmio:0" */
	const char *name;      /* contents of `name`: "package-0", "core", "psys" */
	uint64_t max_range_uj; /* 0: no max_energy_range_uj file */
	double power_w;
	double swing_w;
	double period_s;
	uint64_t max_power_uw; /* constraint_0_max_power_uw; 0: no constraint */
	uint64_t start_uj;     /* unwrapped energy at t0 */
};

#define SIM_MAX_ZONES 16

struct sim {
	char root[512];
	struct sim_zone zones[SIM_MAX_ZONES];
	size_t count;
	uint64_t t0_ns;
	uint64_t tick_ns;
	pthread_t thread;
	int running;
	int stop; /* set by sim_stop, read by the thread: __atomic */
};

/* Creates the tree under a fresh temporary directory; t0 is now. */
void sim_create(struct sim *s, const struct sim_zone *zones, size_t count);
/* Stops the thread and removes the tree. */
void sim_destroy(struct sim *s);

/* Unwrapped true energy of zone z at CLOCK_MONOTONIC time t_ns, in uJ. */
double sim_energy_uj(const struct sim *s, size_t z, uint64_t t_ns);
/* True energy of zone z between two CLOCK_MONOTONIC times, in J. */
double sim_truth_j(const struct sim *s, size_t z, uint64_t a_ns, uint64_t b_ns);

/* Writes an unwrapped energy into zone z's counter (modulo the range). */
void sim_set(struct sim *s, size_t z, uint64_t unwrapped_uj);
/* Writes raw text into a file of zone z ("energy_uj", "name", ...). */
void sim_write_file(struct sim *s, size_t z, const char *file, const char *text);
/* Path of a file of zone z, through the class/powercap link. */
void sim_path(const struct sim *s, size_t z, const char *file, char *buf, size_t cap);

/* sim_create, then a host on the tree and a meter on all its domains. */
void sim_open(struct sim *s, const struct sim_zone *zones, size_t count, struct wp_host **h,
              struct wp_meter **m);
/* Closes the meter and host and destroys the tree. */
void sim_close(struct sim *s, struct wp_host *h, struct wp_meter *m);

void sim_start(struct sim *s, uint64_t tick_ns);
void sim_stop(struct sim *s);

/* A typical two-socket server: packages, cores and DRAM, named out of
 * directory order (package-1 at intel-rapl:0), plus an MMIO duplicate. */
extern const struct sim_zone sim_server[];
extern const size_t sim_server_count;

#endif
