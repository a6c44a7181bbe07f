/*
 * mpi_bench.c - what regions across ranks cost (docs/MPI.md), run by
 * bench/bench.c under mpirun when libwattprof-mpi is built: every rank
 * marks N regions "step" (wp_mpi_begin/wp_mpi_end), timed; then
 * wp_mpi_finish, timed: the gathers, the node's energy in each region read
 * from its samples, and the job's run with N regions of every rank's time
 * stored.  Rank 0 prints rows of docs/BENCHMARKS.md's table.
 *
 *   WATTPROF_MPI_AUTO=no mpirun -np P mpi_bench N
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "wattprof/wattprof_mpi.h"

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int rank, size;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	long n = argc > 1 ? atol(argv[1]) : 10000;
	if (n <= 0 || wp_mpi_attach(MPI_COMM_WORLD) != 0) {
		fprintf(stderr, "mpi_bench: cannot attach (set WATTPROF_MPI_AUTO=no), or N <= 0\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	double t0 = now_s();
	for (long i = 0; i < n; i++)
		if (wp_mpi_begin("step") != 0 || wp_mpi_end() != 0)
			MPI_Abort(MPI_COMM_WORLD, 3);
	double pair = (now_s() - t0) / (double)n, worst;
	MPI_Reduce(&pair, &worst, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
	MPI_Barrier(MPI_COMM_WORLD);
	t0 = now_s();
	long long id = 0;
	int rc = wp_mpi_finish(&id);
	double fin = now_s() - t0;
	if (rank == 0) {
		printf("| MPI region: wp_mpi_begin/wp_mpi_end pair | %.0f ns | slowest of %d ranks, "
		       "%ld pairs each | |\n",
		       worst * 1e9, size, n);
		printf("| MPI: wp_mpi_finish with %ld regions on each of %d ranks | %.2f s | gathers, "
		       "each region's energy from the node's samples, the job's run stored%s | |\n",
		       n, size, fin, rc == 0 && id > 0 ? "" : " (FAILED: see the .errors file)");
	}
	MPI_Finalize();
	return 0;
}
