/*
 * test_mpi.c - MPI jobs measured once per node (libwattprof-mpi, `wattprof
 * exec`), with Open MPI's mpirun on this machine as two simulated nodes:
 * each node's ranks are given their own WATTPROF_NODE_NAME and simulated
 * powercap tree, and each rank adds a known energy to its node's counter
 * (tests/helpers/mpi_app.c).  The job's run must hold each node's energy
 * once, whatever its number of ranks, and the job total their sum; a job
 * that aborts must leave each node's run, with what it measured, marked
 * unfinished.  A program that marks regions on its ranks
 * (tests/helpers/mpi_regions.c) must get each region once, with each node's
 * energy in it and each rank's time, whether the library attaches it or it
 * attaches itself, and a node's energy read between samples must follow
 * the counters.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"
#include "test.h"

#if !defined WATTPROF_MPILIB || !defined WATTPROF_MPIAPP || !defined WATTPROF_MPIREGIONS
#error "WATTPROF_MPILIB must name libwattprof-mpi.so (empty without MPI), WATTPROF_MPIAPP and WATTPROF_MPIREGIONS the test programs"
#endif

static const struct sim_zone PACKAGE[] = {
	{ "intel-rapl:0", "package-0", 262143328850, 0, 0, 1, 0, 1000 },
};

struct job {
	char dir[512];
	struct sim a, b;
};

static int need_mpi(void)
{
	char *out = NULL;
	if (WATTPROF_SANITIZED)
		SKIP_BECAUSE("a sanitized build: libwattprof-mpi is built and tested in the plain "
		             "build (a sanitizer's runtime cannot be preloaded into an MPI program "
		             "built without it)");
	if (!WATTPROF_MPILIB[0])
		SKIP_BECAUSE("no MPI compiler was found at build time: install openmpi-bin and "
		             "libopenmpi-dev (.ci/run does), then make");
	int rc = test_shell("/tmp", &out, "command -v mpirun");
	free(out);
	if (rc != 0)
		SKIP_BECAUSE("mpirun is not installed (openmpi-bin)");
	return 0;
}

/* Runs a job: ppn ranks of cmd_a on node a, ppn of cmd_b on node b; env:
 * more -x settings for the ranks.  Returns mpirun's status; *out (may be
 * NULL) gets what it printed. */
static int run_cmd(struct job *j, int ppn, const char *cmd_a, const char *cmd_b,
                   const char *env, int quiet, char **out)
{
	char *text = NULL;
	int rc = test_shell(
		j->dir, &text,
		"cd '%s' && OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
		"WATTPROF_DATABASE='%s/job.db' WATTPROF_MPI_DIR='%s/mpi' WATTPROF_MPI_LIB='%s' "
		"timeout 120 mpirun --oversubscribe "
		"-np %d %s -x WATTPROF_NODE_NAME=node-a -x WATTPROF_SYSFS_ROOT='%s' %s : "
		"-np %d %s -x WATTPROF_NODE_NAME=node-b -x WATTPROF_SYSFS_ROOT='%s' %s",
		j->dir, j->dir, j->dir, WATTPROF_MPILIB, ppn, env, j->a.root, cmd_a, ppn, env,
		j->b.root, cmd_b);
	if (rc != 0 && !quiet)
		fprintf(stderr, "  mpirun said:\n%s\n", text ? text : "");
	if (out)
		*out = text;
	else
		free(text);
	return rc;
}

/* mpi_app under `wattprof exec`: its ranks on node a add ja joules each,
 * those on b jb; extra: more mpi_app arguments. */
static int run_job(struct job *j, int ppn, double ja, double jb, const char *extra,
                   const char *env)
{
	char a[1200], b[1200];
	snprintf(a, sizeof a, "%s exec %s %g %s", WATTPROF_BIN, WATTPROF_MPIAPP, ja, extra);
	snprintf(b, sizeof b, "%s exec %s %g %s", WATTPROF_BIN, WATTPROF_MPIAPP, jb, extra);
	return run_cmd(j, ppn, a, b, env, strstr(extra, "abort") != NULL, NULL);
}

static void job_open(struct job *j)
{
	test_tmpdir(j->dir, sizeof j->dir);
	sim_create(&j->a, PACKAGE, 1);
	sim_create(&j->b, PACKAGE, 1);
}

static void job_close(struct job *j)
{
	sim_destroy(&j->a);
	sim_destroy(&j->b);
	test_rmtree(j->dir);
}

/* The one run of a database, loaded (the test fails unless there is one). */
static struct wp_run *only_run(const char *db, struct wp_store **store)
{
	int64_t *ids;
	size_t n;
	struct wp_run *run;
	ASSERT_EQ(wp_store_open(store, db, 0), 0);
	ASSERT_EQ(wp_store_list(*store, &ids, &n), 0);
	ASSERT_EQ(n, 1);
	ASSERT_EQ(wp_store_load(*store, ids[0], 0, &run), 0);
	free(ids);
	return run;
}

static double domain_j(const struct wp_run *run, const char *name)
{
	for (size_t i = 0; i < run->report.domain_count; i++)
		if (!strcmp(run->report.domains[i].name, name))
			return run->report.domains[i].energy_j;
	TEST_FAIL_("the job's run has no domain %s", name);
}

static int has_tag(const struct wp_run *run, const char *tag)
{
	for (size_t i = 0; i < run->tag_count; i++)
		if (!strcmp(run->tags[i], tag))
			return 1;
	return 0;
}

TEST(mpi_each_node_counted_once)
{
	const int ppns[] = { 1, 2, 4 };
	int rc = need_mpi();
	if (rc)
		return rc;
	for (size_t k = 0; k < 3; k++) {
		struct job j;
		struct wp_store *store;
		char db[700], tag[64];
		int ppn = ppns[k];
		job_open(&j);
		ASSERT_EQ(run_job(&j, ppn, 1.5, 2.5, "", ""), 0);
		snprintf(db, sizeof db, "%s/job.db", j.dir);
		struct wp_run *run = only_run(db, &store);
		/* Each node once: what its ranks added, measured by one of them. */
		ASSERT_NEAR(domain_j(run, "node-a/package_0"), 1.5 * ppn, 1e-6);
		ASSERT_NEAR(domain_j(run, "node-b/package_0"), 2.5 * ppn, 1e-6);
		ASSERT_EQ(run->report.domain_count, 2);
		ASSERT_NEAR(run->report.total_energy_j, 4.0 * ppn, 1e-6);
		ASSERT_STR(run->status, "finished");
		ASSERT(has_tag(run, "mpi_nodes=2"));
		snprintf(tag, sizeof tag, "mpi_ranks=%d", 2 * ppn);
		ASSERT(has_tag(run, tag));
		snprintf(tag, sizeof tag, "mpi_ranks_per_node=node-a:%d,node-b:%d", ppn, ppn);
		ASSERT(has_tag(run, tag));
		wp_run_free(run);
		wp_store_close(store);
		/* Each node's own run, on the node, finished. */
		char *out = NULL;
		ASSERT_EQ(test_shell(j.dir, &out, "ls %s/mpi/*-node-a.db %s/mpi/*-node-b.db", j.dir,
		                     j.dir), 0);
		char node_db[700];
		ASSERT_EQ(sscanf(out, "%699s", node_db), 1);
		free(out);
		run = only_run(node_db, &store);
		ASSERT_STR(run->status, "finished");
		ASSERT_NEAR(run->cpu_j, 1.5 * ppn, 1e-6);
		wp_run_free(run);
		wp_store_close(store);
		job_close(&j);
	}
	return 0;
}

TEST(mpi_aborted_job_keeps_what_nodes_measured)
{
	struct job j;
	struct wp_store *store;
	char *out = NULL, path[700];
	int rc = need_mpi();
	if (rc)
		return rc;
	job_open(&j);
	/* A job under Slurm (the ranks' variables only: mpirun itself would take
	 * it for a Slurm allocation): named by it. */
	ASSERT(run_job(&j, 2, 1.5, 2.5, "abort", "-x SLURM_JOB_ID=4242") != 0);
	snprintf(path, sizeof path, "%s/job.db", j.dir);
	ASSERT(access(path, F_OK) < 0); /* the job never finished */
	const char *nodes[] = { "node-a", "node-b" };
	const double truth[] = { 3.0, 5.0 };
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/mpi/slurm-4242.0-%s.db", j.dir, nodes[i]);
		struct wp_run *run = NULL;
		/* Unfinished once its process is gone (mpirun may still be reaping). */
		for (int tries = 0; tries < 100; tries++) {
			if (run)
				wp_run_free(run), wp_store_close(store);
			run = only_run(path, &store);
			if (!strcmp(run->status, "unfinished"))
				break;
			test_sleep_ms(50);
		}
		ASSERT_STR(run->status, "unfinished");
		/* What was added before the abort, from the samples stored as it went. */
		ASSERT_NEAR(run->cpu_j, truth[i], 1e-6);
		ASSERT(has_tag(run, "mpi_job=slurm-4242.0"));
		wp_run_free(run);
		wp_store_close(store);
	}
	free(out);
	job_close(&j);
	return 0;
}

/* The job's region i: its tag, its ranks, and each node's energy in it. */
static void check_region(const struct wp_run *run, size_t i, const char *tag, size_t ranks,
                         double ja, double jb)
{
	const struct wp_report *r = &run->report;
	ASSERT(i < r->region_count);
	const struct wp_report_region *g = &r->regions[i];
	ASSERT_STR(g->tag, tag);
	ASSERT_EQ(g->rank_count, ranks);
	for (size_t k = 0; k < r->domain_count; k++) {
		double want = !strcmp(r->domains[k].name, "node-a/package_0") ? ja : jb;
		if (isnan(want)) /* a node whose energy in the regions could not be read */
			ASSERT(isnan(g->energy_j[k]));
		else
			ASSERT_NEAR(g->energy_j[k], want, 1e-6);
	}
	/* The region spans its ranks: from the first start to the last end. */
	double first = INFINITY, last = -INFINITY;
	for (size_t k = 0; k < g->rank_count; k++) {
		const struct wp_report_rank *t = &g->ranks[k];
		if (k)
			ASSERT(t->rank > g->ranks[k - 1].rank);
		ASSERT_STR(t->node, t->rank < (int)ranks / 2 || ranks == 1 ? "node-a" : "node-b");
		ASSERT(t->duration_s >= 0.79 && t->duration_s < 30);
		first = fmin(first, t->start_s);
		last = fmax(last, t->start_s + t->duration_s);
	}
	ASSERT_NEAR(g->start_s, first, 1e-9);
	ASSERT_NEAR(g->duration_s, last - first, 1e-9);
	ASSERT(g->start_s >= 0 && g->start_s + g->duration_s <= r->duration_s + 0.5);
}

/*
 * A program that links libwattprof-mpi and marks regions on every rank
 * (tests/helpers/mpi_regions.c), under Slurm's variables: each region once
 * for the job, each node's energy in it what its ranks added inside it,
 * each rank's time; the job named and tagged after Slurm's job and step.
 */
TEST(mpi_regions_across_ranks)
{
	struct job j;
	struct wp_store *store;
	char cmd_a[1200], cmd_b[1200], db[700];
	const int ppn = 2;
	int rc = need_mpi();
	if (rc)
		return rc;
	job_open(&j);
	snprintf(cmd_a, sizeof cmd_a, "%s 1.5 0.5", WATTPROF_MPIREGIONS);
	snprintf(cmd_b, sizeof cmd_b, "%s 2.5 0.75", WATTPROF_MPIREGIONS);
	ASSERT_EQ(run_cmd(&j, ppn, cmd_a, cmd_b,
	                  "-x WATTPROF_FREQUENCY=20 -x SLURM_JOB_ID=77 -x SLURM_STEP_ID=3 "
	                  "-x SLURM_JOB_NODELIST=node-[a-b]",
	                  0, NULL),
	          0);
	snprintf(db, sizeof db, "%s/job.db", j.dir);
	struct wp_run *run = only_run(db, &store);
	/* The whole job: two rounds of "step" (IN, then 2 IN a rank), "io" on
	 * rank 0 (0.25 J), OUT a rank outside every region. */
	ASSERT_NEAR(domain_j(run, "node-a/package_0"), ppn * (3 * 1.5 + 0.5) + 0.25, 1e-6);
	ASSERT_NEAR(domain_j(run, "node-b/package_0"), ppn * (3 * 2.5 + 0.75), 1e-6);
	ASSERT_EQ(run->report.region_count, 3);
	check_region(run, 0, "step", 2 * ppn, ppn * 1.5, ppn * 2.5);
	check_region(run, 1, "step", 2 * ppn, 2 * ppn * 1.5, 2 * ppn * 2.5);
	check_region(run, 2, "io", 1, 0.25, 0);
	ASSERT_EQ(run->report.warning_count, 0);
	ASSERT(has_tag(run, "mpi_job=slurm-77.3"));
	ASSERT(has_tag(run, "slurm_job_id=77"));
	ASSERT(has_tag(run, "slurm_step_id=3"));
	ASSERT(has_tag(run, "slurm_job_nodelist=node-[a-b]"));
	ASSERT_STR(run->name, "mpi slurm-77.3");
	wp_run_free(run);
	wp_store_close(store);
	/* The report says who was slowest; JSON has every rank. */
	char *out = NULL;
	ASSERT_EQ(test_shell(j.dir, &out, "%s report --db '%s' last", WATTPROF_BIN, db), 0);
	ASSERT_HAS(out, "4 ranks, ");
	ASSERT_HAS(out, "(slowest: rank 3 on node-b)");
	free(out);
	ASSERT_EQ(test_shell(j.dir, &out, "%s report --db '%s' --format json last", WATTPROF_BIN, db),
	          0);
	ASSERT_HAS(out, "\"ranks\": [{\"rank\": 0, \"node\": \"node-a\", \"start_s\": ");
	free(out);
	ASSERT_EQ(test_shell(j.dir, &out, "%s report --db '%s' --format html last", WATTPROF_BIN, db),
	          0);
	ASSERT_HAS(out, "<th>ranks</th>");
	ASSERT_HAS(out, "<td class=\"ranks\">1 rank: rank 0 on node-a</td>");
	free(out);
	/* HDF5: every rank's time, read back by h5py (as test_export.c does). */
	const char *py = NULL, *pys[] = { "python3", "/usr/bin/python3" };
	for (size_t k = 0; k < 2 && !py; k++) {
		if (test_shell(j.dir, &out, "%s -c 'import h5py'", pys[k]) == 0)
			py = pys[k];
		free(out);
	}
	if (py) {
		ASSERT_EQ(test_shell(j.dir, &out,
		                     "cd '%s' && %s export --db '%s' --format hdf5 -o job.h5 last && %s -c '"
		                     "import h5py\n"
		                     "f = h5py.File(\"job.h5\", \"r\")\n"
		                     "rows = f[\"mpi slurm-77.3\"][\"run_1\"][\"regions_ranks\"][()]\n"
		                     "print(len(rows), [(int(r[\"region\"]), int(r[\"rank\"]), "
		                     "r[\"node\"].decode()) for r in rows][-2:])'",
		                     j.dir, WATTPROF_BIN, db, py),
		          0);
		ASSERT_HAS(out, "9 [(1, 3, 'node-b'), (2, 0, 'node-a')]");
		free(out);
	}
	job_close(&j);
	if (!py)
		SKIP_BECAUSE("every other check passed; the HDF5 export could not be read back: no "
		             "python3 with h5py (python3-h5py)");
	return 0;
}

static int has_warning(const struct wp_run *run, const char *text)
{
	for (size_t i = 0; i < run->report.warning_count; i++)
		if (strstr(run->report.warnings[i], text))
			return 1;
	return 0;
}

/*
 * A program that attaches itself (WATTPROF_MPI_AUTO=no): wp_mpi_finish
 * gives rank 0 the job's run id, and MPI_Finalize then stores nothing more.
 * Its second "step" follows the first by wp_mpi_record, rank 1 leaves a
 * region open, and node b cannot keep samples (TMPDIR names no folder):
 * the job is stored all the same, node b's energy in the regions null and
 * said so, the region left open left out and said so.
 */
TEST(mpi_program_attaches_itself)
{
	struct job j;
	struct wp_store *store;
	char cmd_a[1200], cmd_b[1200], db[700], *out = NULL;
	long long id = 0;
	int rc = need_mpi();
	if (rc)
		return rc;
	job_open(&j);
	snprintf(cmd_a, sizeof cmd_a, "%s 1 0.5 manual", WATTPROF_MPIREGIONS);
	snprintf(cmd_b, sizeof cmd_b, "env TMPDIR=/nonexistent %s 2 0.5 manual", WATTPROF_MPIREGIONS);
	ASSERT_EQ(run_cmd(&j, 1, cmd_a, cmd_b, "-x WATTPROF_MPI_AUTO=no -x WATTPROF_FREQUENCY=20",
	                  0, &out),
	          0);
	const char *line = strstr(out, "job run ");
	ASSERT(line != NULL);
	ASSERT_EQ(sscanf(line, "job run %lld", &id), 1);
	free(out);
	snprintf(db, sizeof db, "%s/job.db", j.dir);
	struct wp_run *run = only_run(db, &store);
	ASSERT_EQ(run->id, id);
	ASSERT_NEAR(run->report.total_energy_j, (3 * 1 + 0.5) + 0.25 + (3 * 2 + 0.5), 1e-6);
	ASSERT_EQ(run->report.region_count, 3);
	check_region(run, 0, "step", 2, 1.0, NAN);
	check_region(run, 1, "step", 2, 2 * 1.0, NAN);
	check_region(run, 2, "io", 1, 0.25, NAN);
	ASSERT(has_warning(run, "1 rank had a region open at the end"));
	ASSERT(has_warning(run, "node node-b: its energy in the regions could not be read"));
	wp_run_free(run);
	wp_store_close(store);
	job_close(&j);
	return 0;
}

/*
 * A node's energy in a region is read from its samples between the two
 * around each end: with the counters rising steadily (100 W on node a, 50 W
 * on b, rewritten every millisecond) and 10 samples a second, a 500 ms
 * region must hold power x its time, within the counters' millisecond steps
 * (1%), where the nearest sample alone would be up to 50 ms off (10%).
 */
TEST(mpi_region_energy_interpolated)
{
	static const struct sim_zone A[] = { { "intel-rapl:0", "package-0", 262143328850, 100, 0,
		                               1, 0, 1000 } },
		                     B[] = { { "intel-rapl:0", "package-0", 262143328850, 50, 0, 1,
		                               0, 1000 } };
	struct job j;
	struct wp_store *store;
	char cmd[1200], db[700];
	int rc = need_mpi();
	if (rc)
		return rc;
	test_tmpdir(j.dir, sizeof j.dir);
	sim_create(&j.a, A, 1);
	sim_create(&j.b, B, 1);
	sim_start(&j.a, 1000000);
	sim_start(&j.b, 1000000);
	snprintf(cmd, sizeof cmd, "%s 0 0 hold", WATTPROF_MPIREGIONS);
	ASSERT_EQ(run_cmd(&j, 1, cmd, cmd, "-x WATTPROF_FREQUENCY=10", 0, NULL), 0);
	snprintf(db, sizeof db, "%s/job.db", j.dir);
	struct wp_run *run = only_run(db, &store);
	ASSERT_EQ(run->report.region_count, 1);
	const struct wp_report_region *g = &run->report.regions[0];
	ASSERT_EQ(g->rank_count, 2);
	for (size_t k = 0; k < 2; k++) {
		/* One rank a node: the node's time in the region is the rank's. */
		double watts = k == 0 ? 100 : 50, t = g->ranks[k].duration_s;
		ASSERT(t >= 0.5 && t < 5);
		ASSERT_STR(run->report.domains[k].name, k == 0 ? "node-a/package_0" : "node-b/package_0");
		ASSERT_NEAR(g->energy_j[k], watts * t, 0.01 * watts * t);
	}
	wp_run_free(run);
	wp_store_close(store);
	job_close(&j);
	return 0;
}

TEST(mpi_exec_without_library)
{
	char *out = NULL;
	int rc = test_shell("/tmp", &out, "WATTPROF_MPI_LIB=/nonexistent/libwattprof-mpi.so %s exec true",
	                    WATTPROF_BIN);
	ASSERT_EQ(rc, 125);
	ASSERT_HAS(out, "cannot find /nonexistent/libwattprof-mpi.so");
	free(out);
	rc = test_shell("/tmp", &out, "%s exec", WATTPROF_BIN);
	ASSERT_EQ(rc, 2);
	free(out);
	return 0;
}
