/*
 * mpi_app.c - an MPI program for the MPI tests (tests/test_mpi.c) that knows
 * nothing of wattprof: each rank adds JOULES to its node's simulated package
 * counter (<WATTPROF_SYSFS_ROOT>/class/powercap/intel-rapl:0/energy_uj,
 * under an flock: the ranks of a node share it), so that a node's energy
 * is what its ranks added, whoever measures it.
 *
 *   mpi_app JOULES            add, then MPI_Finalize
 *   mpi_app JOULES abort      add, wait 2.5 s (the nodes store their
 *                             samples), then rank 0 calls MPI_Abort
 */
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static int add(double joules)
{
	const char *root = getenv("WATTPROF_SYSFS_ROOT");
	char path[4096], text[64];
	int fd, n;

	if (!root)
		return -1;
	snprintf(path, sizeof path, "%s/class/powercap/intel-rapl:0/energy_uj", root);
	if ((fd = open(path, O_RDWR)) < 0 || flock(fd, LOCK_EX) < 0)
		return -1;
	n = (int)pread(fd, text, sizeof text - 1, 0);
	if (n <= 0) {
		close(fd);
		return -1;
	}
	text[n] = '\0';
	uint64_t uj = strtoull(text, NULL, 10) + (uint64_t)llround(joules * 1e6);
	n = snprintf(text, sizeof text, "%" PRIu64 "\n", uj);
	int ok = pwrite(fd, text, (size_t)n, 0) == n; /* never shorter: no truncation */
	close(fd); /* releases the lock */
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	int rank;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	if (argc < 2 || add(atof(argv[1])) < 0) {
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
