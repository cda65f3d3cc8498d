#include "comm.h"
#include "err.h"
#include "ops.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef NC_MPI
#include <mpi.h>
#endif

/* The number of ranks the launcher started, from its environment (Open MPI,
 * then MPICH/PMI), so that a plain `nc-train` never initializes MPI. */
static int launched_world(void)
{
	const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		const char *v = getenv(vars[i]);
		if (v && atoi(v) > 0)
			return atoi(v);
	}
	return 1;
}

#ifdef NC_MPI

/* MPI counts are int: larger buffers go in pieces. */
#define PIECE ((size_t)1 << 30)

static int check(int rc, const char *what)
{
	if (rc == MPI_SUCCESS)
		return 0;
	char s[MPI_MAX_ERROR_STRING];
	int n = 0;
	MPI_Error_string(rc, s, &n);
	return nc_fail("MPI %s: %.*s", what, n, s);
}

int nc_comm_init(struct nc_comm *c, int *argc, char ***argv)
{
	*c = (struct nc_comm){.rank = 0, .world = 1};
	if (launched_world() <= 1)
		return 0;
	if (check(MPI_Init(argc, argv), "init") != 0)
		return -1;
	c->mpi = 1;
	MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
	MPI_Comm_size(MPI_COMM_WORLD, &c->world);
	return 0;
}

void nc_comm_finalize(struct nc_comm *c)
{
	if (c->mpi)
		MPI_Finalize();
	c->mpi = 0;
}

void nc_comm_abort(const struct nc_comm *c, int rc)
{
	if (c->mpi)
		MPI_Abort(MPI_COMM_WORLD, rc);
	exit(rc);
}

int nc_comm_barrier(const struct nc_comm *c)
{
	return c->world > 1 ? check(MPI_Barrier(MPI_COMM_WORLD), "barrier") : 0;
}

static int allreduce(const struct nc_comm *c, void *x, size_t n, size_t size, MPI_Datatype t)
{
	if (c->world == 1)
		return 0;
	for (size_t i = 0; i < n; i += PIECE) {
		int k = (int)(n - i < PIECE ? n - i : PIECE);
		if (check(MPI_Allreduce(MPI_IN_PLACE, (char *)x + i * size, k, t, MPI_SUM, MPI_COMM_WORLD),
			  "allreduce") != 0)
			return -1;
	}
	return 0;
}

int nc_comm_allreduce_sum(const struct nc_comm *c, float *x, size_t n)
{
	return allreduce(c, x, n, sizeof *x, MPI_FLOAT);
}

int nc_comm_allreduce_sum_d(const struct nc_comm *c, double *x, size_t n)
{
	return allreduce(c, x, n, sizeof *x, MPI_DOUBLE);
}

static void divide(float *x, size_t n, int world)
{
	float w = (float)world;
	for (size_t i = 0; i < n; i++)
		x[i] /= w;
}

/* The float collectives below go to c->dev's when it is set (their
 * buffers are then device memory: NCCL's, lib/ops.h). */
int nc_comm_reduce_scatter_avg(const struct nc_comm *c, const float *send, float *recv, size_t n)
{
	if (c->dev && c->world > 1)
		return c->dev->reduce_scatter_avg(send, recv, n);
	if (c->world == 1) {
		for (size_t i = 0; i < n; i++)
			recv[i] = send[i];
		return 0;
	}
	if (n > INT_MAX)
		return nc_fail("reduce-scatter: %zu floats a rank is more than MPI can count", n);
	if (check(MPI_Reduce_scatter_block(send, recv, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
		  "reduce-scatter") != 0)
		return -1;
	divide(recv, n, c->world);
	return 0;
}

int nc_comm_all_gather(const struct nc_comm *c, float *x, size_t n)
{
	if (c->world == 1)
		return 0;
	if (c->dev)
		return c->dev->all_gather(x, n);
	if (n > INT_MAX)
		return nc_fail("all-gather: %zu floats a rank is more than MPI can count", n);
	return check(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, (int)n, MPI_FLOAT,
				   MPI_COMM_WORLD), "all-gather");
}

int nc_comm_reduce_avg(const struct nc_comm *c, const float *send, float *recv, size_t n, int root)
{
	if (c->dev && c->world > 1)
		return c->dev->reduce_avg(send, recv, n, root);
	if (c->world == 1) {
		for (size_t i = 0; i < n; i++)
			recv[i] = send[i];
		return 0;
	}
	for (size_t i = 0; i < n; i += PIECE) {
		int k = (int)(n - i < PIECE ? n - i : PIECE);
		if (check(MPI_Reduce(send + i, c->rank == root ? recv + i : NULL, k, MPI_FLOAT, MPI_SUM,
				     root, MPI_COMM_WORLD), "reduce") != 0)
			return -1;
	}
	if (c->rank == root)
		divide(recv, n, c->world);
	return 0;
}

static int bcast(const struct nc_comm *c, void *x, size_t n, size_t size, MPI_Datatype t, int root)
{
	for (size_t i = 0; i < n; i += PIECE) {
		int k = (int)(n - i < PIECE ? n - i : PIECE);
		if (check(MPI_Bcast((char *)x + i * size, k, t, root, MPI_COMM_WORLD), "broadcast") != 0)
			return -1;
	}
	return 0;
}

int nc_comm_bcast(const struct nc_comm *c, float *x, size_t n, int root)
{
	if (c->world == 1)
		return 0;
	if (c->dev)
		return c->dev->bcast(x, n, root);
	return bcast(c, x, n, sizeof *x, MPI_FLOAT, root);
}

int nc_comm_bcast_bytes(const struct nc_comm *c, void *x, size_t n, int root)
{
	return c->world == 1 ? 0 : bcast(c, x, n, 1, MPI_BYTE, root);
}

#else /* one process: every collective is the identity */

int nc_comm_init(struct nc_comm *c, int *argc, char ***argv)
{
	*c = (struct nc_comm){.rank = 0, .world = 1};
	if (launched_world() > 1)
		return nc_fail("launched as one of %d ranks, but built without MPI (install "
			       "libopenmpi-dev and rebuild)", launched_world());
	return 0;
}

void nc_comm_finalize(struct nc_comm *c) {}

void nc_comm_abort(const struct nc_comm *c, int rc)
{
	exit(rc);
}

int nc_comm_barrier(const struct nc_comm *c) { return 0; }
int nc_comm_allreduce_sum(const struct nc_comm *c, float *x, size_t n) { return 0; }
int nc_comm_allreduce_sum_d(const struct nc_comm *c, double *x, size_t n) { return 0; }
int nc_comm_all_gather(const struct nc_comm *c, float *x, size_t n) { return 0; }
int nc_comm_bcast(const struct nc_comm *c, float *x, size_t n, int root) { return 0; }
int nc_comm_bcast_bytes(const struct nc_comm *c, void *x, size_t n, int root) { return 0; }

int nc_comm_reduce_scatter_avg(const struct nc_comm *c, const float *send, float *recv, size_t n)
{
	for (size_t i = 0; i < n; i++)
		recv[i] = send[i];
	return 0;
}

int nc_comm_reduce_avg(const struct nc_comm *c, const float *send, float *recv, size_t n, int root)
{
	return nc_comm_reduce_scatter_avg(c, send, recv, n);
}

#endif

void nc_comm_die_err(const struct nc_comm *c)
{
	if (c->world == 1)
		nc_die_err();
	fprintf(stderr, "%s: rank %d: %s\n", nc_prog, c->rank, nc_errmsg());
	nc_comm_abort(c, 1);
}
