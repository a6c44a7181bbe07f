/*
 * test_limits.c - power limits (wp_power_limits, wp_power_limit_set,
 * wp_power_limit_check) on the fake NVML and a simulated powercap tree
 * with constraint files, and the power-cap profiler's model
 * (wp_cap_model_fit) against workloads whose optimum is known in closed
 * form.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim.h"
#include "test.h"

/* sim_server, with a short-term constraint on package-0 (intel-rapl:1). */
static void open_tree(struct sim *s, struct wp_host **h)
{
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .flags = WP_OPEN_NO_CROSSCHECK };
	sim_create(s, sim_server, sim_server_count);
	sim_write_file(s, 3, "constraint_0_time_window_us", "999424\n");
	sim_write_file(s, 3, "constraint_1_name", "short_term\n");
	sim_write_file(s, 3, "constraint_1_power_limit_uw", "112500000\n");
	sim_write_file(s, 3, "constraint_1_time_window_us", "2440\n");
	o.sysfs_root = s->root;
	ASSERT_EQ(wp_host_open(h, &o), 0);
}

static const struct wp_power_limit *find(const struct wp_power_limit *l, size_t n,
                                         const char *dev, const char *c)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i].device, dev) && !strcmp(l[i].constraint, c))
			return &l[i];
	TEST_FAIL_("no limit %s %s", dev, c);
}

static double limit_now(struct wp_host *h, const char *dev, const char *c)
{
	struct wp_power_limit *l;
	size_t n;
	ASSERT_EQ(wp_power_limits(h, &l, &n), 0);
	double w = find(l, n, dev, c)->power_w;
	wp_power_limits_free(l, n);
	return w;
}

TEST(limits_of_gpus_and_packages)
{
	struct sim s;
	struct wp_host *h;
	struct wp_power_limit *l;
	size_t n;

	setenv("FAKE_NVML", "gpus=2;limit_w.1=300;min_limit_w.1=150;max_limit_w.1=400;"
	                    "default_limit_w.1=350", 1);
	open_tree(&s, &h);
	ASSERT_EQ(wp_power_limits(h, &l, &n), 0);
	/* Two GPUs, package_0's two constraints, package_1's one; not the MMIO copy. */
	ASSERT_EQ(n, 5);
	const char *order[][2] = { { "nvidia_gpu_0", "power" }, { "nvidia_gpu_1", "power" },
		                   { "package_0", "long_term" }, { "package_0", "short_term" },
		                   { "package_1", "long_term" } };
	for (size_t i = 0; i < n; i++) {
		ASSERT_STR(l[i].device, order[i][0]);
		ASSERT_STR(l[i].constraint, order[i][1]);
	}
	ASSERT_EQ(l[0].kind, WP_LIMIT_GPU);
	ASSERT_EQ(l[0].index, 0);
	ASSERT_NEAR(l[0].power_w, 700, 0);
	ASSERT_NEAR(l[0].default_w, 700, 0);
	ASSERT_NEAR(l[0].min_w, 200, 0);
	ASSERT_HAS(l[0].id, "GPU-5a5a0000");
	ASSERT(isnan(l[0].time_window_s));
	ASSERT_NEAR(l[1].power_w, 300, 0);
	ASSERT_NEAR(l[1].default_w, 350, 0);
	ASSERT_NEAR(l[1].min_w, 150, 0);
	ASSERT_NEAR(l[1].max_w, 400, 0);
	/* package-0 is intel-rapl:1 (named out of directory order). */
	ASSERT_EQ(l[2].kind, WP_LIMIT_PACKAGE);
	ASSERT_EQ(l[2].index, 0);
	ASSERT_NEAR(l[2].power_w, 75, 0);
	ASSERT_NEAR(l[2].max_w, 150, 0);
	ASSERT(isnan(l[2].default_w));
	ASSERT(isnan(l[2].min_w));
	ASSERT_NEAR(l[2].time_window_s, 0.999424, 1e-12);
	ASSERT_HAS(l[2].id, "intel-rapl:1");
	ASSERT_EQ(l[3].constraint_id, 1);
	ASSERT_NEAR(l[3].power_w, 112.5, 0);
	ASSERT(isnan(l[3].max_w));
	ASSERT_NEAR(l[3].time_window_s, 0.00244, 1e-12);
	ASSERT_HAS(l[4].id, "intel-rapl:0");
	wp_power_limits_free(l, n);
	wp_host_close(h);
	sim_destroy(&s);
	unsetenv("FAKE_NVML");
	return 0;
}

TEST(limits_set_and_refused)
{
	struct sim s;
	struct wp_host *h;
	char path[1024];

	setenv("FAKE_NVML", "gpus=2;limit_w.1=300;min_limit_w.1=150;max_limit_w.1=400", 1);
	open_tree(&s, &h);
	ASSERT_EQ(wp_power_limit_set(h, "nvidia_gpu_1", NULL, 250.5), 0);
	ASSERT_NEAR(limit_now(h, "nvidia_gpu_1", "power"), 250.5, 0);
	ASSERT_EQ(wp_power_limit_set(h, "nvidia_gpu_1", NULL, 100), -ERANGE);
	ASSERT_EQ(wp_power_limit_set(h, "nvidia_gpu_1", "power", 401), -ERANGE);
	ASSERT_EQ(wp_power_limit_set(h, "nvidia_gpu_1", NULL, NAN), -ERANGE);
	ASSERT_NEAR(limit_now(h, "nvidia_gpu_1", "power"), 250.5, 0);
	ASSERT_EQ(wp_power_limit_set(h, "nvidia_gpu_1", "long_term", 300), -ENOENT);
	ASSERT_EQ(wp_power_limit_set(h, "nvidia_gpu_9", NULL, 300), -ENOENT);
	/* RAPL: the long-term constraint unless named, in microwatts. */
	ASSERT_EQ(wp_power_limit_set(h, "package_0", NULL, 60.25), 0);
	sim_path(&s, 3, "constraint_0_power_limit_uw", path, sizeof path);
	char *text = test_slurp(path);
	ASSERT_STR(text, "60250000\n");
	free(text);
	ASSERT_EQ(wp_power_limit_set(h, "package_0", "short_term", 100), 0);
	ASSERT_NEAR(limit_now(h, "package_0", "short_term"), 100, 0);
	ASSERT_NEAR(limit_now(h, "package_0", "long_term"), 60.25, 0);
	ASSERT_EQ(wp_power_limit_set(h, "package_0", "peak_power", 100), -ENOENT);
	ASSERT_EQ(wp_power_limit_set(h, "package_7", NULL, 100), -ENOENT);
	ASSERT_EQ(wp_power_limit_set(h, "package_0", NULL, 0), -ERANGE);
	ASSERT_EQ(wp_power_limit_set(h, "package_0", NULL, -5), -ERANGE);
	ASSERT_EQ(wp_power_limit_check(h, "package_1", NULL), 0);
	ASSERT_EQ(wp_power_limit_check(h, "nvidia_gpu_0", NULL), 0);
	ASSERT_NEAR(limit_now(h, "nvidia_gpu_0", "power"), 700, 0); /* unchanged */
	wp_host_close(h);
	/* Not root for NVML: refused, and nothing changes. */
	setenv("FAKE_NVML", "gpus=2;root=0", 1);
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = s.root,
		                .flags = WP_OPEN_NO_CROSSCHECK };
	ASSERT_EQ(wp_host_open(&h, &o), 0);
	ASSERT_EQ(wp_power_limit_check(h, "nvidia_gpu_0", NULL), -EACCES);
	ASSERT_EQ(wp_power_limit_set(h, "nvidia_gpu_0", NULL, 500), -EACCES);
	ASSERT_NEAR(limit_now(h, "nvidia_gpu_0", "power"), 700, 0);
	wp_host_close(h);
	sim_destroy(&s);
	unsetenv("FAKE_NVML");
	return 0;
}

/* As uid 65534: the constraint files are root's, writable by root only. */
static int check_denied(const char *root)
{
	struct wp_options o = { .version = WP_OPTIONS_VERSION, .sysfs_root = root,
		                .flags = WP_OPEN_NO_CROSSCHECK };
	struct wp_host *h;
	if (wp_host_open(&h, &o) < 0)
		return 3;
	int rc = wp_power_limit_check(h, "package_0", NULL);
	int rc2 = wp_power_limit_set(h, "package_0", NULL, 10);
	wp_host_close(h);
	return (rc == -EACCES || rc == -EPERM) && rc2 == rc ? 0 : 1;
}

TEST(limits_rapl_needs_write_access)
{
	struct sim s;
	char path[1024];

	unsetenv("FAKE_NVML");
	sim_create(&s, sim_server, sim_server_count);
	sim_path(&s, 3, "constraint_0_power_limit_uw", path, sizeof path);
	ASSERT_EQ(chmod(path, 0644), 0);
	int rc = test_denied_as_nobody(check_denied, s.root);
	char *text = test_slurp(path);
	ASSERT_STR(text, "75000000\n"); /* untouched */
	free(text);
	sim_destroy(&s);
	return rc;
}

/*
 * A workload whose time and power against the cap c are known: the device
 * draws c (its demand D is the top cap), and runs at speed
 * ((c - P0) / (D - P0))^beta.  Then, in closed form (docs/POWERCAP.md),
 * energy is lowest at c = P0 / (1 - beta), EDP at P0 / (1 - 2 beta), ED2P at
 * P0 / (1 - 3 beta), time at D, and cost at (eta P0 + beta (1 - eta) Pmax) /
 * (eta (1 - beta)).
 */
#define P0 180.0
#define BETA 0.2
#define DEMAND 700.0

static double work_time(double c)
{
	return 2.0 / pow((fmin(c, DEMAND) - P0) / (DEMAND - P0), BETA);
}

static void sweep(struct wp_cap_point *pts, double noise)
{
	/* A fixed pattern of +-noise: the same on every run. */
	static const double pattern[8][2] = { { 1, -1 }, { -1, 1 }, { 1, 1 }, { -1, -1 },
		                              { 0.5, -1 }, { -1, 0.5 }, { 1, -0.5 }, { -0.5, 1 } };
	for (int k = 0; k < 8; k++) {
		double c = DEMAND - 70 * k, t = work_time(c);
		pts[k].cap_w = c;
		pts[k].time_s = t * (1 + noise * pattern[k][0]);
		pts[k].energy_j = fmin(c, DEMAND) * t * (1 + noise * pattern[k][1]);
	}
}

TEST(cap_model_finds_known_optima)
{
	const struct {
		enum wp_cap_objective o;
		double optimum;
	} cases[] = {
		{ WP_CAP_ENERGY, P0 / (1 - BETA) },          /* 225 */
		{ WP_CAP_EDP, P0 / (1 - 2 * BETA) },         /* 300 */
		{ WP_CAP_ED2P, P0 / (1 - 3 * BETA) },        /* 450 */
		{ WP_CAP_TIME, DEMAND },
		{ WP_CAP_COST, (0.5 * P0 + BETA * 0.5 * 700) / (0.5 * (1 - BETA)) }, /* 400 */
	};
	struct wp_cap_point pts[8];

	for (double noise = 0; noise <= 0.021; noise += 0.01) {
		sweep(pts, noise);
		for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
			struct wp_cap_model m = { .objective = cases[i].o, .eta = 0.5,
				                  .max_power_w = 700, .default_cap_w = 700 };
			ASSERT_EQ(wp_cap_model_fit(pts, 8, &m), 0);
			if (fabs(m.recommended_cap_w - cases[i].optimum) > 70)
				TEST_FAIL_("%s with %.0f%% noise: recommended %.0f W, optimum %.1f W",
				           wp_cap_objective_name(cases[i].o), noise * 100,
				           m.recommended_cap_w, cases[i].optimum);
			ASSERT(m.recommended_cap_w >= 210 && m.recommended_cap_w <= 700);
			ASSERT_EQ(m.recommended_cap_w, floor(m.recommended_cap_w));
			if (noise == 0) {
				/* The predictions, against the workload's truth. */
				double c = m.recommended_cap_w;
				double e_true = fmin(c, DEMAND) * work_time(c);
				ASSERT_NEAR(m.predicted_time_s, work_time(c), 0.02 * work_time(c));
				ASSERT_NEAR(m.predicted_energy_j, e_true, 0.02 * e_true);
				double slow = work_time(c) / work_time(700) - 1;
				double save = 1 - e_true / (700 * work_time(700));
				ASSERT_NEAR(m.predicted_slowdown, slow, 0.1 * slow + 0.03);
				ASSERT_NEAR(m.predicted_energy_saving, save, 0.1 * save + 0.03);
			}
		}
	}
	/* Energy is saved at the energy optimum, at some cost in time. */
	sweep(pts, 0);
	struct wp_cap_model m = { .objective = WP_CAP_ENERGY, .default_cap_w = 700 };
	ASSERT_EQ(wp_cap_model_fit(pts, 8, &m), 0);
	ASSERT(m.predicted_energy_saving > 0.4 && m.predicted_slowdown > 0.2);
	return 0;
}

TEST(cap_model_edges_and_bad_input)
{
	struct wp_cap_point one = { 300, 2, 600 }, two[2] = { { 300, 2, 600 }, { 200, 3, 600 } };
	struct wp_cap_model m = { .objective = WP_CAP_ED2P };
	enum wp_cap_objective o;

	ASSERT_EQ(wp_cap_model_fit(&one, 1, &m), 0);
	ASSERT_NEAR(m.recommended_cap_w, 300, 0);
	ASSERT_NEAR(m.predicted_time_s, 2, 1e-12);
	ASSERT_NEAR(m.predicted_energy_saving, 0, 1e-12);
	/* Two caps: a straight line in log-log, and ED2P favours the faster. */
	ASSERT_EQ(wp_cap_model_fit(two, 2, &m), 0);
	ASSERT_NEAR(m.recommended_cap_w, 300, 0);
	ASSERT_NEAR(wp_cap_model_time(&m, 200), 3, 1e-9);
	ASSERT_NEAR(wp_cap_model_energy(&m, 300), 600, 1e-9);
	m.objective = WP_CAP_ENERGY; /* equal energies: the higher cap */
	ASSERT_EQ(wp_cap_model_fit(two, 2, &m), 0);
	ASSERT_NEAR(m.recommended_cap_w, 300, 0);
	/* Bad points and options. */
	struct wp_cap_point bad = { 300, 0, 600 };
	ASSERT_EQ(wp_cap_model_fit(&bad, 1, &m), -EINVAL);
	bad = (struct wp_cap_point){ 300, 1, NAN };
	ASSERT_EQ(wp_cap_model_fit(&bad, 1, &m), -EINVAL);
	ASSERT_EQ(wp_cap_model_fit(two, 0, &m), -EINVAL);
	m.objective = WP_CAP_COST;
	m.eta = 1.5;
	m.max_power_w = 700;
	ASSERT_EQ(wp_cap_model_fit(two, 2, &m), -EINVAL);
	m.eta = 0.5;
	m.max_power_w = 0;
	ASSERT_EQ(wp_cap_model_fit(two, 2, &m), -EINVAL);
	/* Names and values. */
	ASSERT_EQ(wp_cap_objective_parse("edp", &o), 0);
	ASSERT_EQ(o, WP_CAP_EDP);
	ASSERT_STR(wp_cap_objective_name(WP_CAP_COST), "cost");
	ASSERT_EQ(wp_cap_objective_parse("ED2P", &o), -EINVAL);
	ASSERT_NEAR(wp_cap_objective_value(WP_CAP_ED2P, 0, 0, 10, 3), 90, 0);
	ASSERT_NEAR(wp_cap_objective_value(WP_CAP_COST, 0.25, 400, 100, 2), 25 + 0.75 * 800, 1e-9);
	/* The caps tried. */
	double caps[64];
	ASSERT_EQ(wp_cap_plan(700, 200, 700, 8, caps), 8);
	ASSERT_NEAR(caps[0], 700, 0);
	ASSERT_NEAR(caps[1], 630, 0);
	ASSERT_NEAR(caps[7], 210, 0);
	ASSERT_EQ(wp_cap_plan(700, 300, 600, 3, caps), 3); /* within the range */
	ASSERT_NEAR(caps[0], 600, 0);
	ASSERT_NEAR(caps[1], 450, 0);
	ASSERT_NEAR(caps[2], 300, 0);
	ASSERT_EQ(wp_cap_plan(150, NAN, NAN, 8, caps), 8); /* a package: no bounds */
	ASSERT_NEAR(caps[7], 45, 0);
	ASSERT_EQ(wp_cap_plan(10, 9, 10, 8, caps), 2); /* two whole watts */
	ASSERT_EQ(wp_cap_plan(250.6, 100.4, 250.6, 8, caps), 8); /* never outside the range */
	ASSERT_NEAR(caps[0], 250, 0);
	ASSERT_NEAR(caps[7], 101, 0);
	ASSERT_EQ(wp_cap_plan(700, 200, 700, 1, caps), 1);
	ASSERT_NEAR(caps[0], 700, 0);
	ASSERT_EQ(wp_cap_plan(0, 200, 700, 8, caps), 0);
	ASSERT_EQ(wp_cap_plan(700, 200, 700, 65, caps), 0);
	return 0;
}

TEST(powercap_state_records)
{
	char dir[512], path[700], got[700];
	struct wp_powercap_record *r;
	size_t n;
	double orig = 0;
	struct wp_power_limit gpu = { .device = "nvidia_gpu_0", .constraint = "power",
		                      .id = "GPU-1", .power_w = 650 };

	test_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/deep/er/state", dir);
	setenv("WATTPROF_POWERCAP_STATE", path, 1);
	ASSERT_STR(wp_powercap_state_path(got, sizeof got), path);
	ASSERT_EQ(wp_powercap_records(&r, &n), 0); /* absent: none */
	ASSERT_EQ(n, 0);
	ASSERT_EQ(wp_powercap_record(&gpu, &orig), 0); /* recorded now */
	ASSERT_NEAR(orig, 650, 0);
	gpu.power_w = 300; /* a second change: the first original stays */
	ASSERT_EQ(wp_powercap_record(&gpu, &orig), 1);
	ASSERT_NEAR(orig, 650, 0);
	/* An id with spaces (a sysfs root in a folder of that name) is whole. */
	struct wp_power_limit pkg = { .device = "package_0", .constraint = "long_term",
		                      .id = "/tmp/sys root/intel-rapl:0", .power_w = 75.5 };
	ASSERT_EQ(wp_powercap_record(&pkg, NULL), 0);
	ASSERT_EQ(wp_powercap_records(&r, &n), 0);
	ASSERT_EQ(n, 2);
	ASSERT_NEAR(wp_powercap_find(r, n, "nvidia_gpu_0", "power", "GPU-1")->original_w, 650, 0);
	ASSERT(wp_powercap_find(r, n, "nvidia_gpu_0", "power", "GPU-2") == NULL); /* another GPU */
	ASSERT_NEAR(wp_powercap_find(r, n, "package_0", "long_term", pkg.id)->original_w, 75.5, 0);
	free(r);
	char *text = test_slurp(path);
	ASSERT_HAS(text, "\nnvidia_gpu_0 power 650000000 GPU-1\n"); /* whole microwatts */
	ASSERT_HAS(text, "\npackage_0 long_term 75500000 /tmp/sys root/intel-rapl:0\n");
	free(text);
	/* Forgetting another GPU's record of that name leaves this one. */
	ASSERT_EQ(wp_powercap_forget("nvidia_gpu_0", "power", "GPU-2"), 0);
	ASSERT_EQ(wp_powercap_records(&r, &n), 0);
	ASSERT_EQ(n, 2);
	free(r);
	ASSERT_EQ(wp_powercap_forget("nvidia_gpu_0", "power", "GPU-1"), 0);
	ASSERT_EQ(wp_powercap_records(&r, &n), 0);
	ASSERT_EQ(n, 1);
	free(r);
	ASSERT_EQ(wp_powercap_forget("package_0", "long_term", NULL), 0);
	ASSERT(access(path, F_OK) < 0); /* nothing left: no file */
	/* Ids the file cannot hold are refused, not cut. */
	char long_id[1100];
	memset(long_id, 'x', sizeof long_id - 1);
	long_id[sizeof long_id - 1] = '\0';
	pkg.id = long_id;
	ASSERT_EQ(wp_powercap_record(&pkg, NULL), -ENAMETOOLONG);
	pkg.id = "a\nb";
	ASSERT_EQ(wp_powercap_record(&pkg, NULL), -EINVAL);
	pkg.id = "x";
	pkg.power_w = 0;
	ASSERT_EQ(wp_powercap_record(&pkg, NULL), -EINVAL);
	/* A damaged file is never written over. */
	test_spit(path, "nvidia_gpu_0 power lots GPU-1\n");
	ASSERT_EQ(wp_powercap_records(&r, &n), WP_EPARSE);
	ASSERT_EQ(wp_powercap_record(&gpu, NULL), WP_EPARSE);
	text = test_slurp(path);
	ASSERT_STR(text, "nvidia_gpu_0 power lots GPU-1\n");
	free(text);
	/* One sweep per device at a time. */
	int l1 = wp_powercap_lock("nvidia_gpu_0");
	ASSERT(l1 >= 0);
	ASSERT_EQ(wp_powercap_lock("nvidia_gpu_0"), -EAGAIN);
	int l2 = wp_powercap_lock("nvidia_gpu_1");
	ASSERT(l2 >= 0);
	wp_powercap_unlock(l1);
	l1 = wp_powercap_lock("nvidia_gpu_0");
	ASSERT(l1 >= 0);
	wp_powercap_unlock(l1);
	wp_powercap_unlock(l2);
	ASSERT_EQ(wp_powercap_lock("../x"), -EINVAL);
	unsetenv("WATTPROF_POWERCAP_STATE");
	test_rmtree(dir);
	return 0;
}
