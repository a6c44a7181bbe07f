/*
 * mpi_regions.c - an MPI program for the MPI tests (tests/test_mpi.c) that
 * links libwattprof-mpi and marks regions across its ranks (wp_mpi_begin,
 * wp_mpi_end).  Each rank adds energy to its node's simulated package
 * counter as mpi_app.c does (mpi_app_add.h), at known places:
 *
 *   twice: region "step" (every rank): IN x (round + 1) joules, in its middle
 *   region "io" (rank 0 only): 0.25 J
 *   outside every region: OUT joules
 *
 * Each addition is GAP_MS away from every region's edge, so that the node's
 * samples (20 a second in the tests) see it inside or outside; rank r
 * stays in "step" r x 50 ms longer than rank 0, so that ranks' times differ.
 *
 *   mpi_regions IN OUT          measured by the library's MPI_Init
 *   mpi_regions IN OUT manual   with WATTPROF_MPI_AUTO=no: calls wp_mpi_attach
 *                               and wp_mpi_finish itself (rank 0 prints
 *                               "job run ID"), goes from the first "step"
 *                               to the second with wp_mpi_record, checks
 *                               the calls' refusals, and rank 1 leaves a
 *                               region open at the end
 *   mpi_regions 0 0 hold        only region "hold", 500 ms long, adding
 *                               nothing (the test drives the counters)
 */
#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wattprof/wattprof.h" /* WP_ESTATE */
#include "wattprof/wattprof_mpi.h"
#include "mpi_app_add.h"

#define GAP_MS 400

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, ms % 1000 * 1000000L };
	while (nanosleep(&t, &t) != 0)
		;
}

static void must(int rc, const char *what, int rank)
{
	if (rc != 0) {
		fprintf(stderr, "mpi_regions: rank %d: %s returned %d\n", rank, what, rc);
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
}

int main(int argc, char **argv)
{
	int rank;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	if (argc < 3) {
		fprintf(stderr, "usage: mpi_regions IN OUT [manual]\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	double in = atof(argv[1]), out = atof(argv[2]);
	int manual = argc > 3 && !strcmp(argv[3], "manual");
	if (manual)
		must(wp_mpi_attach(MPI_COMM_WORLD), "wp_mpi_attach", rank);
	else /* attached by MPI_Init already */
		must(wp_mpi_attach(MPI_COMM_WORLD) == -EALREADY ? 0 : -1, "a second attach", rank);
	must(wp_mpi_end() == WP_ESTATE ? 0 : -1, "wp_mpi_end with no region", rank);
	if (argc > 3 && !strcmp(argv[3], "hold")) {
		MPI_Barrier(MPI_COMM_WORLD);
		must(wp_mpi_begin("hold"), "wp_mpi_begin", rank);
		sleep_ms(500);
		must(wp_mpi_end(), "wp_mpi_end", rank);
		MPI_Barrier(MPI_COMM_WORLD);
		MPI_Finalize();
		return 0;
	}
	for (int round = 0; round < 2; round++) {
		if (manual && round == 1) { /* ends the first, begins the second */
			must(wp_mpi_record("step"), "wp_mpi_record", rank);
			MPI_Barrier(MPI_COMM_WORLD);
		} else {
			MPI_Barrier(MPI_COMM_WORLD);
			must(wp_mpi_begin("step"), "wp_mpi_begin", rank);
		}
		if (manual && round == 0) {
			must(wp_mpi_begin("again") == WP_ESTATE ? 0 : -1, "a second wp_mpi_begin", rank);
			must(wp_mpi_record("1234567890123456789012345678901234567890123456789012345678901"
			                   "234") == -ENAMETOOLONG
			             ? 0
			             : -1,
			     "a tag of 64 bytes", rank);
		}
		sleep_ms(GAP_MS);
		must(mpi_app_add(in * (round + 1)), "adding energy", rank);
		sleep_ms(GAP_MS + 50L * rank);
		if (!manual || round == 1)
			must(wp_mpi_end(), "wp_mpi_end", rank);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0) {
		must(wp_mpi_begin("io"), "wp_mpi_begin", rank);
		sleep_ms(GAP_MS);
		must(mpi_app_add(0.25), "adding energy", rank);
		sleep_ms(GAP_MS);
		must(wp_mpi_end(), "wp_mpi_end", rank);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	sleep_ms(GAP_MS);
	must(mpi_app_add(out), "adding energy", rank);
	if (manual) {
		long long id = -1;
		if (rank == 1) /* never ended: left out, with a warning */
			must(wp_mpi_begin("left open"), "wp_mpi_begin", rank);
		must(wp_mpi_finish(&id), "wp_mpi_finish", rank);
		if (rank == 0)
			printf("job run %lld\n", id);
		else if (id != 0)
			must(-1, "a run id off rank 0", rank);
	}
	MPI_Finalize();
	return 0;
}
