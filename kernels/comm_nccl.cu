/* The collectives of a run over several GPUs (spec §3.4, DESIGN §5), the
 * CUDA ops' reduce_scatter_avg, all_gather, reduce_avg and bcast: the ranks
 * meet through MPI (lib/comm.c), and what the optimizer exchanges,
 * gradients and parameters, moves GPU to GPU through NCCL on the stream the
 * ops run on, never through host memory. One communicator per process,
 * over every rank of the run; each rank on its own GPU.
 *
 * Built without nccl.h (NC_NO_NCCL), nc_cuda_have_nccl says so and the
 * ranks step a host copy of the model over MPI instead (lib/train.c). */
#include <cuda_runtime.h>
#include <string.h>

#include "cuda_common.h"

extern "C" {
#include "../lib/err.h"
#include "../lib/ops.h"
#include "ops_cuda.h"
}

#ifndef NC_NO_NCCL
#include <nccl.h>

static ncclComm_t comm;
static int rank_, world_;

static int nccl_check(ncclResult_t r, const char *what)
{
	if (r == ncclSuccess)
		return 0;
	return nc_fail("NCCL %s (rank %d of %d): %s%s%s", what, rank_, world_, ncclGetErrorString(r),
		       ncclGetLastError(comm) && *ncclGetLastError(comm) ? ": " : "",
		       ncclGetLastError(comm) ? ncclGetLastError(comm) : "");
}

/* The ops' stream, so that a collective starts after the kernels before
 * it and the kernels after it wait for it. */
#define STREAM NC_STREAM

static int reduce_scatter_avg(const float *send, float *recv, size_t n)
{
	return nccl_check(ncclReduceScatter(send, recv, n, ncclFloat, ncclAvg, comm, STREAM),
			  "reduce-scatter");
}

static int all_gather(float *x, size_t n)
{
	/* in place: this rank's n floats already sit at rank * n */
	return nccl_check(ncclAllGather(x + (size_t)rank_ * n, x, n, ncclFloat, comm, STREAM),
			  "all-gather");
}

static int reduce_avg(const float *send, float *recv, size_t n, int root)
{
	return nccl_check(ncclReduce(send, recv, n, ncclFloat, ncclAvg, root, comm, STREAM), "reduce");
}

static int bcast(float *x, size_t n, int root)
{
	return nccl_check(ncclBroadcast(x, x, n, ncclFloat, root, comm, STREAM), "broadcast");
}

extern "C" int nc_cuda_have_nccl(void)
{
	return 1;
}

extern "C" int nc_cuda_nccl_id(void *id)
{
	static_assert(sizeof(ncclUniqueId) == NC_NCCL_ID_BYTES, "NCCL's unique id changed size");
	ncclUniqueId u;
	if (nccl_check(ncclGetUniqueId(&u), "unique id") != 0)
		return -1;
	memcpy(id, &u, sizeof u);
	return 0;
}

extern "C" int nc_cuda_nccl_init(const void *id, int rank, int world)
{
	if (comm)
		return 0;
	int n = nc_cuda_devices();
	if (nc_cuda_local_rank() >= n)
		return nc_fail("rank %d is local rank %d, but this node has %d GPU%s: start one rank per GPU",
			       rank, nc_cuda_local_rank(), n, n == 1 ? "" : "s");
	rank_ = rank, world_ = world;
	ncclUniqueId u;
	memcpy(&u, id, sizeof u);
	if (nccl_check(ncclCommInitRank(&comm, world, u, rank), "init") != 0)
		return -1;
	struct nc_ops c = {};
	c.reduce_scatter_avg = reduce_scatter_avg;
	c.all_gather = all_gather;
	c.reduce_avg = reduce_avg;
	c.bcast = bcast;
	nc_cuda_set_collectives(&c);
	return 0;
}

#else

extern "C" int nc_cuda_have_nccl(void)
{
	return 0;
}

extern "C" int nc_cuda_nccl_id(void *id)
{
	return nc_fail("several ranks on GPUs need NCCL, and nc was built without it (install "
		       "NCCL's development files and rebuild)");
}

extern "C" int nc_cuda_nccl_init(const void *id, int rank, int world)
{
	return nc_cuda_nccl_id(NULL);
}

#endif
