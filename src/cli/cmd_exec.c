/*
 * cmd_exec.c - `wattprof exec CMD [ARGS...]`: runs CMD with libwattprof-mpi
 * preloaded, for the ranks of an MPI job (`mpirun -np 8 wattprof exec ./app`,
 * docs/MPI.md).  The library is looked for beside this binary (a build
 * folder), then in ../lib (an installation); WATTPROF_MPI_LIB names another.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define MPI_LIB "libwattprof-mpi.so"

int cmd_exec(int argc, char **argv)
{
	char lib[PATH_MAX], *preload;
	int first = 1;

	if (argc > 1 && !strcmp(argv[1], "--"))
		first = 2;
	else if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		cli_usage("exec");
		return 0;
	}
	if (first >= argc) {
		cli_error("'exec' needs the command to run: wattprof exec ./app [ARGS...]");
		cli_hint("for each rank of an MPI job: mpirun -np 8 wattprof exec ./app");
		return CLI_EXIT_USAGE;
	}
	if (cli_find_file("WATTPROF_MPI_LIB", MPI_LIB, MPI_LIB, lib, sizeof lib) < 0) {
		cli_error("cannot find %s (WATTPROF_MPI_LIB, beside wattprof, or in ../lib)",
		          getenv("WATTPROF_MPI_LIB") && *getenv("WATTPROF_MPI_LIB")
		                  ? getenv("WATTPROF_MPI_LIB") : MPI_LIB);
		cli_hint("it is built when an MPI compiler (mpicc) is found: install Open MPI "
		         "(apt-get install libopenmpi-dev), then make; 'make install' installs it");
		return CLI_EXIT_FAILURE;
	}
	const char *old = getenv("LD_PRELOAD");
	if (old && *old && asprintf(&preload, "%s:%s", lib, old) < 0)
		preload = NULL;
	else if (!(old && *old))
		preload = strdup(lib);
	if (!preload || setenv("LD_PRELOAD", preload, 1) < 0) {
		cli_error("out of memory");
		return CLI_EXIT_FAILURE;
	}
	free(preload);
	execvp(argv[first], argv + first);
	int err = errno;
	cli_error("cannot run '%s': %s", argv[first], strerror(err));
	return err == ENOENT ? 127 : 126;
}
