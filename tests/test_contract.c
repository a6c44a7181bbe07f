/*
 * test_contract.c - one contract, run against every source (contract.h):
 * the domain's description, energy against a known truth, wraps, and a
 * sensor that vanishes mid-run.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "contract.h"
#include "sim.h"
#include "test.h"

static const struct contract_source *const sources[] = {
	&contract_perf,
	&contract_powercap,
	&contract_msr,
	&contract_hwmon_energy,
	&contract_hwmon_power,
	&contract_amdgpu_power,
	&contract_amdgpu_energy,
	&contract_estimate,
	&contract_nvml_counter,
	&contract_nvml_power,
};

static void env_init(struct contract_env *env, const struct contract_source *cs)
{
	memset(env, 0, sizeof *env);
	test_tmpdir(env->root, sizeof env->root);
	snprintf(env->sys, sizeof env->sys, "%s/sys", env->root);
	snprintf(env->proc, sizeof env->proc, "%s/proc", env->root);
	snprintf(env->dev, sizeof env->dev, "%s/dev", env->root);
	test_mkdirs(env->sys);
	test_mkdirs(env->proc);
	test_mkdirs(env->dev);
	env->opts.version = WP_OPTIONS_VERSION;
	env->opts.sysfs_root = env->sys;
	env->opts.proc_root = env->proc;
	env->opts.dev_root = env->dev;
	env->opts.sources = cs->source;
	env->watts = 37.5;
	env->t0_ns = wp_now_ns();
}

static void check_info(const struct contract_source *cs, const struct wp_domain_info *d)
{
	struct stat st;
	ASSERT_STR(d->name, cs->domain);
	ASSERT_STR(d->source, cs->source);
	ASSERT_STR(d->unit, "J");
	ASSERT(d->path && *d->path);
	ASSERT_EQ(stat(d->path, &st), 0); /* names a real file or device */
	ASSERT_EQ(d->estimated, cs->estimated);
	ASSERT_EQ(d->integrated, cs->integrated);
	ASSERT(d->kind >= WP_KIND_PACKAGE && d->kind <= WP_KIND_GPU);
	ASSERT(d->method && *d->method);
	/* A GPU's integral says how often its power changes, so that the
	 * sampler can follow (a power meter may not know: 0). */
	ASSERT(!d->integrated || d->kind != WP_KIND_GPU || d->update_ns > 0);
	ASSERT(d->counter_max > 0);
	ASSERT(d->joules_per_count > 0 && d->joules_per_count < 1);
	ASSERT(d->peak_power_w > 0);
	ASSERT(d->min_wrap_ns > 0);
	/* Two reads per shortest wrap is what the sampler guarantees. */
	ASSERT(d->min_wrap_ns >= 1000000);
}

static void run_contract(const struct contract_source *cs)
{
	struct contract_env env;
	struct wp_host *host;
	struct wp_meter *meter;
	const char *name = cs->domain;
	size_t idx;

	fprintf(stderr, "  contract: %s\n", cs->source);
	env_init(&env, cs);
	cs->setup(&env);
	ASSERT_EQ(wp_host_open(&host, &env.opts), 0);
	if (wp_host_find_domain(host, cs->domain, &idx) < 0) {
		for (size_t i = 0; i < wp_host_note_count(host); i++)
			fprintf(stderr, "  note: %s: %s\n", wp_host_note(host, i)->source,
			        wp_host_note(host, i)->message);
		TEST_FAIL_("%s: no domain %s", cs->source, cs->domain);
	}
	/* Only the source asked for answers. */
	for (size_t i = 0; i < wp_host_domain_count(host); i++)
		ASSERT_STR(wp_host_domain(host, i)->source, cs->source);
	check_info(cs, wp_host_domain(host, idx));

	ASSERT_EQ(wp_meter_open(&meter, host, &name, 1, NULL), 0);
	ASSERT_EQ(wp_meter_domain_status(meter, 0, NULL, NULL), 0);
	struct wp_snapshot *first = wp_snapshot_new(meter), *last = wp_snapshot_new(meter),
	                   *after = wp_snapshot_new(meter);
	uint64_t t_first = wp_now_ns();
	cs->tick(&env, t_first);
	wp_meter_snapshot(meter, first);
	uint64_t prev_raw = wp_snapshot_raw(first, 0), t_last = t_first;
	int wrapped = 0;
	while (t_last - t_first < 300000000) {
		test_sleep_ms(5);
		t_last = wp_now_ns();
		cs->tick(&env, t_last);
		wp_meter_snapshot(meter, last);
		wrapped |= wp_snapshot_raw(last, 0) < prev_raw;
		prev_raw = wp_snapshot_raw(last, 0);
	}
	double j = -1, truth = env.watts * (double)(t_last - t_first) / 1e9;
	ASSERT_EQ(wp_energy_between(meter, first, last, 0, &j), 0);
	ASSERT_REL(j, truth, cs->rel_tol);
	ASSERT_EQ(wrapped, cs->wraps);

	/* The sensor goes: the domain is lost, and what was measured stays. */
	cs->vanish(&env);
	wp_meter_snapshot(meter, after);
	ASSERT(wp_meter_domain_status(meter, 0, NULL, NULL) < 0);
	double kept = -1;
	ASSERT_EQ(wp_energy_between(meter, first, after, 0, &kept), WP_ELOST);
	ASSERT_NEAR(kept, j, 1e-9);

	wp_snapshot_free(first);
	wp_snapshot_free(last);
	wp_snapshot_free(after);
	wp_meter_close(meter);
	wp_host_close(host);
	if (cs->teardown)
		cs->teardown(&env);
	test_rmtree(env.root);
}

TEST(contract_every_source)
{
	for (size_t i = 0; i < sizeof sources / sizeof *sources; i++)
		run_contract(sources[i]);
	return TEST_OK;
}

/* --------------------------------------------- powercap's fixture */

/* A package whose counter wraps every 40 ms at the contract's power. */
static void pc_setup(struct contract_env *env)
{
	struct sim *s = calloc(1, sizeof *s);
	const struct sim_zone zone = { "intel-rapl:0", "package-0", 1500000, 0, 0, 1, 0, 0 };
	sim_create(s, &zone, 1);
	/* sim_create made its own tree: use it as the sysfs root. */
	snprintf(env->sys, sizeof env->sys, "%s", s->root);
	env->opts.sysfs_root = env->sys;
	env->priv = s;
	sim_set(s, 0, 1500000 - 1000000); /* 1 J (27 ms) before the wrap */
}

static void pc_tick(struct contract_env *env, uint64_t now_ns)
{
	struct sim *s = env->priv;
	sim_set(s, 0, 500000 + (uint64_t)(env->watts * (double)(now_ns - env->t0_ns) / 1e3));
}

static void pc_vanish(struct contract_env *env)
{
	sim_write_file(env->priv, 0, "energy_uj", "");
}

static void pc_teardown(struct contract_env *env)
{
	sim_destroy(env->priv);
	free(env->priv);
}

const struct contract_source contract_powercap = {
	.source = "powercap",
	.domain = "package_0",
	.wraps = 1,
	.rel_tol = 0.01,
	.setup = pc_setup,
	.tick = pc_tick,
	.vanish = pc_vanish,
	.teardown = pc_teardown,
};
