/*
 * test_mpi.c - MPI jobs measured once per node (libwattprof-mpi, `wattprof
 * exec`), with Open MPI's mpirun on this machine as two simulated nodes:
 * each node's ranks are given their own WATTPROF_NODE_NAME and simulated
 * powercap tree, and each rank adds a known energy to its node's counter
 * (tests/helpers/mpi_app.c).  The job's run must hold each node's energy
 * once, whatever its number of ranks, and the job total their sum; a job
 * that aborts must leave each node's run, with what it measured, marked
 * unfinished.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"
#include "test.h"

#ifndef WATTPROF_MPILIB
#error "WATTPROF_MPILIB must name libwattprof-mpi.so, or be empty without MPI"
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

/* Runs the job: ppn ranks on node a adding ja joules each, ppn on b adding
 * jb; extra: more mpi_app arguments; env: more -x settings for the ranks.
 * Returns mpirun's status. */
static int run_job(struct job *j, int ppn, double ja, double jb, const char *extra,
                   const char *env)
{
	char *out = NULL;
	int rc = test_shell(
		j->dir, &out,
		"cd '%s' && OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
		"WATTPROF_DATABASE='%s/job.db' WATTPROF_MPI_DIR='%s/mpi' WATTPROF_MPI_LIB='%s' "
		"timeout 120 mpirun --oversubscribe "
		"-np %d %s -x WATTPROF_NODE_NAME=node-a -x WATTPROF_SYSFS_ROOT='%s' %s exec %s %g %s : "
		"-np %d %s -x WATTPROF_NODE_NAME=node-b -x WATTPROF_SYSFS_ROOT='%s' %s exec %s %g %s",
		j->dir, j->dir, j->dir, WATTPROF_MPILIB, ppn, env, j->a.root, WATTPROF_BIN,
		WATTPROF_MPIAPP, ja, extra, ppn, env, j->b.root, WATTPROF_BIN, WATTPROF_MPIAPP, jb,
		extra);
	if (rc != 0 && !strstr(extra, "abort"))
		fprintf(stderr, "  mpirun said:\n%s\n", out ? out : "");
	free(out);
	return rc;
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
