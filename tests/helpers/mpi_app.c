/*
 * mpi_app.c - an MPI program for the MPI tests (tests/test_mpi.c) that knows
 * nothing of wattprof: each rank adds JOULES to its node's simulated package
 * counter (mpi_app_add.h), so that a node's energy is what its ranks added,
 * whoever measures it.
 *
 *   mpi_app JOULES            add, then MPI_Finalize
 *   mpi_app JOULES abort      add, wait 2.5 s (the nodes store their
 *                             samples), then rank 0 calls MPI_Abort
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpi_app_add.h"

int main(int argc, char **argv)
{
	int rank;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	if (argc < 2 || mpi_app_add(atof(argv[1])) < 0) {
		fprintf(stderr, "mpi_app: rank %d cannot add energy\n", rank);
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	if (argc > 2 && strcmp(argv[2], "abort") == 0) {
		sleep(2);
		usleep(500000);
		if (rank == 0)
			MPI_Abort(MPI_COMM_WORLD, 3);
		sleep(30); /* the others wait to be killed */
	}
	MPI_Finalize();
	return 0;
}
