/*
 * contract.h - what every source must do, checked the same way for each
 * (tests/test_contract.c), on a fake of that source with a known truth.
 *
 * A source's test file provides one `struct contract_source`: it lays out a
 * fake (sysfs tree, device files, /proc/stat ...) in which one domain draws
 * a constant env->watts from env->t0_ns on, makes the fake show that truth
 * at any moment the contract asks (tick), and can make the sensor vanish.
 * The contract then opens a host with env->opts, checks the domain's info,
 * compares the energy measured over a few hundred ms against watts x time,
 * checks any wrap, and checks that a vanished sensor keeps what was measured.
 */
#ifndef WATTPROF_CONTRACT_H
#define WATTPROF_CONTRACT_H

#include <stdint.h>

#include "wattprof/wattprof.h"

struct contract_env {
	char root[512]; /* a fresh temporary directory; the contract removes it */
	char sys[600], proc[600], dev[600]; /* <root>/sys, /proc, /dev: created empty */
	struct wp_options opts; /* version 2, the three roots above and sources =
	                           the source's name, preset; setup may change it */
	double watts;   /* the power the domain draws */
	uint64_t t0_ns; /* CLOCK_MONOTONIC start of the truth */
	void *priv;     /* the fixture's own state */
};

struct contract_source {
	const char *source; /* the name its domains carry: "perf" */
	const char *domain; /* the domain the fixture drives: "package_0" */
	int estimated;      /* what that domain's info must say */
	int integrated;
	/* The counter wraps within the first 100 ms of the truth. */
	int wraps;
	/* Relative tolerance of the energy over ~300 ms (quantisation of the fake). */
	double rel_tol;
	/* Lays out the fake; the truth at t0 is shown before it returns. */
	void (*setup)(struct contract_env *env);
	/* Makes the fake show the truth at now_ns. */
	void (*tick)(struct contract_env *env, uint64_t now_ns);
	/* Makes the sensor fail from the next read on. */
	void (*vanish)(struct contract_env *env);
	/* Frees priv and anything outside root; may be NULL. */
	void (*teardown)(struct contract_env *env);
};

/* Each source's fixture, defined next to that source's own tests. */
extern const struct contract_source contract_perf;
extern const struct contract_source contract_powercap;
extern const struct contract_source contract_msr;
extern const struct contract_source contract_hwmon_energy;
extern const struct contract_source contract_hwmon_power;
extern const struct contract_source contract_amdgpu_power;
extern const struct contract_source contract_amdgpu_energy;
extern const struct contract_source contract_estimate;
extern const struct contract_source contract_nvml_counter;
extern const struct contract_source contract_nvml_power;

#endif
