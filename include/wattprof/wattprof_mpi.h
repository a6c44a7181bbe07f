/*
 * wattprof_mpi.h - MPI jobs measured once per node (docs/MPI.md).
 *
 * libwattprof-mpi.so, preloaded into every rank (`mpirun ... wattprof exec
 * ./app`), does this itself through the PMPI profiling interface: its
 * MPI_Init and MPI_Init_thread call the real ones and then wp_mpi_attach
 * (MPI_COMM_WORLD); its MPI_Finalize calls wp_mpi_finish first (a second
 * attach returns -EALREADY, a finish without one -EINVAL: both harmless).
 * A program that links libwattprof-mpi is measured the same way, with no
 * call.  To attach to another communicator itself, it sets
 * WATTPROF_MPI_AUTO=no, and calls the two.
 *
 * Each rank's node is its host name, or WATTPROF_NODE_NAME where set (nodes
 * whose host names are not unique; several simulated nodes on one machine).
 * Ranks are grouped by node (MPI_Comm_split_type with MPI_COMM_TYPE_SHARED,
 * then by that name); the lowest rank of each node measures the node's
 * domains (its host's, with the WATTPROF_* settings of that rank), storing
 * its samples as it goes in a database on the node (WATTPROF_MPI_DIR, else
 * ./wattprof_results/mpi/), so that a job that aborts loses nothing measured
 * until then: its runs stay there, marked unfinished.  At wp_mpi_finish,
 * every node's figures go to rank 0, which stores one run for the job
 * (WATTPROF_DATABASE, else ./wattprof_results/wattprof.db): one domain per
 * node and domain ("<node>/package_0"), the job's total counting each node
 * once, the job's ranks per node and Slurm's job id, step and node list in
 * its tags.
 *
 * Regions marked on the ranks (wp_mpi_begin ... wp_mpi_end, below) are
 * reported once for the job, with each rank's time and each node's energy.
 *
 * Nothing here prints or exits: what fails is written to
 * <WATTPROF_MPI_DIR>/<job>.errors, and the program goes on unmeasured.
 */
#ifndef WATTPROF_WATTPROF_MPI_H
#define WATTPROF_WATTPROF_MPI_H

#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Starts measuring: a collective call on comm (every rank, after MPI_Init).
 * Returns 0 once the rank is attached, which it then stays until
 * wp_mpi_finish, which every rank must call: even where its node could not
 * be measured (written to the errors file, and a warning of the job's
 * report).  -EALREADY when attached already, -EIO when comm cannot be
 * duplicated.
 */
int wp_mpi_attach(MPI_Comm comm);
/*
 * Ends it: collective on the communicator given to wp_mpi_attach, before
 * MPI_Finalize.  Rank 0 stores the job's run; *id (may be NULL) gets its
 * id there, 0 elsewhere.  Returns 0 or a negative errno: -EINVAL when not
 * attached; -ESHUTDOWN when MPI was finalized already (no job run: each
 * node's own run is ended and kept on the node).
 */
int wp_mpi_finish(long long *id);
/*
 * wp_mpi_attach for a Fortran handle (a Fortran program's integer
 * communicator, or mpi4py's comm.py2f()).
 */
int wp_mpi_attach_f(MPI_Fint comm);
/* 1 between wp_mpi_attach and wp_mpi_finish, else 0 (any thread). */
int wp_mpi_attached(void);

/*
 * Regions across ranks, as a meter's (begin "load", record "train", end):
 * not collective, each rank marks its own.  At wp_mpi_finish, the k-th
 * region of a tag on every rank that ran it is one region of the job: from
 * the first rank's start to the last one's end, each rank's own time, and
 * each node's energy from the first of its ranks' start to the last one's
 * end (docs/MPI.md).  One region at a time per rank (any thread); begin
 * while one is open, or record/end while none is, or any of them while
 * not attached, returns WP_ESTATE; a tag of 64 bytes or more
 * -ENAMETOOLONG.  A region still open at the end is left out, with a
 * warning in the job's report.
 */
int wp_mpi_begin(const char *tag);
int wp_mpi_record(const char *tag);
int wp_mpi_end(void);

#ifdef __cplusplus
}
#endif
#endif /* WATTPROF_WATTPROF_MPI_H */
