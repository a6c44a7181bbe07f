/*
 * mpi_app_add.h - how the MPI tests' programs (mpi_app.c, mpi_regions.c)
 * spend energy: mpi_app_add(J) adds J joules to the rank's node's simulated
 * package counter, <WATTPROF_SYSFS_ROOT>/class/powercap/intel-rapl:0/
 * energy_uj, under an flock (the ranks of a node share it).  0, or -1 when
 * the counter cannot be read or written.
 */
#ifndef WATTPROF_TESTS_MPI_APP_ADD_H
#define WATTPROF_TESTS_MPI_APP_ADD_H

#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

static inline int mpi_app_add(double joules)
{
	const char *root = getenv("WATTPROF_SYSFS_ROOT");
	char path[4096], text[64];
	int fd, n;

	if (!root)
		return -1;
	snprintf(path, sizeof path, "%s/class/powercap/intel-rapl:0/energy_uj", root);
	if ((fd = open(path, O_RDWR)) < 0)
		return -1;
	if (flock(fd, LOCK_EX) < 0) {
		close(fd);
		return -1;
	}
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

#endif
