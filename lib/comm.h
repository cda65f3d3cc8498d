/* The ranks of a run and what they exchange (DESIGN §5): a run of many
 * processes is launched by mpirun and its ranks meet through MPI. Built
 * without MPI, or started alone, the communicator is one rank and every
 * operation is a no-op, so the single-process path never touches MPI.
 *
 * Only lib/comm.c includes mpi.h: what calls these functions links MPI,
 * the rest of libnc.a does not. Counts are elements; every rank must call
 * each collective in the same order with the same counts. */
#ifndef NC_COMM_H
#define NC_COMM_H

#include <stddef.h>

struct nc_ops;

struct nc_comm {
	int rank, world;
	int mpi;                /* 1: MPI_Init was called, finalize must be */
	/* When the model lives on GPUs whose ops carry collectives (NCCL,
	 * lib/ops.h), the tool sets dev to those ops: then the float
	 * collectives below take device memory and run there. NULL: they take
	 * host memory and go through MPI. */
	const struct nc_ops *dev;
};

/* Joins the run: MPI when the launcher says there are several ranks
 * (mpirun's environment), otherwise rank 0 of 1. Fails when launched as
 * one of several ranks by a build without MPI. */
int nc_comm_init(struct nc_comm *c, int *argc, char ***argv);
void nc_comm_finalize(struct nc_comm *c);
/* Ends every rank of the run (after an error on one of them), exit code rc. */
void nc_comm_abort(const struct nc_comm *c, int rc) __attribute__((noreturn));
/* For tools only: print the last error ("prog: message", with "rank N: "
 * before the message when there are several ranks) and end every rank. */
void nc_comm_die_err(const struct nc_comm *c) __attribute__((noreturn));

int nc_comm_barrier(const struct nc_comm *c);
/* x = the sum of x over ranks, in place (host memory, whatever c->dev is). */
int nc_comm_allreduce_sum(const struct nc_comm *c, float *x, size_t n);
int nc_comm_allreduce_sum_d(const struct nc_comm *c, double *x, size_t n);
/* send holds world * n; recv gets the mean over ranks of this rank's n. */
int nc_comm_reduce_scatter_avg(const struct nc_comm *c, const float *send, float *recv, size_t n);
/* x holds world * n, this rank's n at rank * n; afterwards every rank's. */
int nc_comm_all_gather(const struct nc_comm *c, float *x, size_t n);
/* recv (on root only) = the mean over ranks of send. */
int nc_comm_reduce_avg(const struct nc_comm *c, const float *send, float *recv, size_t n, int root);
/* x on every rank = x on root. */
int nc_comm_bcast(const struct nc_comm *c, float *x, size_t n, int root);
/* The same for n bytes of host memory, whatever c->dev is. */
int nc_comm_bcast_bytes(const struct nc_comm *c, void *x, size_t n, int root);

#endif
