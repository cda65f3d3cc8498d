/* NCCL under the CUDA emulator: the ranks of an emulated run are processes
 * started by mpirun, and their "device memory" is their own (guarded) host
 * memory, so each collective is the MPI call of the same meaning on it.
 * What it checks is how nc calls NCCL: every rank got rank 0's id, the
 * ranks sit on different devices, buffers are device memory of the right
 * sizes, in-place forms are the ones NCCL defines, float data, sum or
 * average. Nothing about NCCL's speed or its streams. */
#include "include/nccl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifdef NC_MPI
#include <mpi.h>
#endif

struct emu_nccl {
	int rank, world;
};

static char last[512];

static ncclResult_t fail(ncclResult_t r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last, sizeof last, fmt, ap);
	va_end(ap);
	return r;
}

const char *ncclGetErrorString(ncclResult_t r)
{
	switch (r) {
	case ncclSuccess: return "no error";
	case ncclSystemError: return "unhandled system error";
	case ncclInvalidArgument: return "invalid argument";
	case ncclInvalidUsage: return "invalid usage";
	default: return "internal error";
	}
}

const char *ncclGetLastError(ncclComm_t)
{
	return last;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm)
{
	delete comm;
	return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *id)
{
	memset(id, 0, sizeof *id);
	snprintf(id->internal, sizeof id->internal, "cuda-emu nccl id %ld.%ld", (long)getpid(), (long)time(NULL));
	return ncclSuccess;
}

#ifdef NC_MPI

static ncclResult_t mpi(int rc, const char *what)
{
	return rc == MPI_SUCCESS ? ncclSuccess : fail(ncclSystemError, "MPI %s failed", what);
}

ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank)
{
	int up = 0, size = 0, me = 0;
	MPI_Initialized(&up);
	if (!up)
		return fail(ncclSystemError, "emulated NCCL: MPI is not running (start the ranks with mpirun)");
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	MPI_Comm_rank(MPI_COMM_WORLD, &me);
	if (size != nranks || me != rank)
		return fail(ncclInvalidArgument, "rank %d of %d, but MPI says rank %d of %d", rank, nranks, me, size);
	/* rank 0's id must have reached every rank, or NCCL would wait forever */
	ncclUniqueId first = id;
	if (mpi(MPI_Bcast(&first, sizeof first, MPI_BYTE, 0, MPI_COMM_WORLD), "broadcast") != ncclSuccess)
		return ncclSystemError;
	if (!id.internal[0] || memcmp(&first, &id, sizeof id))
		return fail(ncclInvalidUsage, "rank %d's unique id is not rank 0's", rank);
	/* the ranks are on one node: NCCL refuses two on one device */
	int dev = 0;
	cudaGetDevice(&dev);
	int *all = (int *)calloc((size_t)size, sizeof *all);
	MPI_Allgather(&dev, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD);
	for (int i = 0; i < size; i++)
		if (i != rank && all[i] == dev) {
			free(all);
			return fail(ncclInvalidUsage, "Duplicate GPU detected: rank %d and rank %d both on device %d",
				    rank, i, dev);
		}
	free(all);
	*comm = new emu_nccl{rank, nranks};
	return ncclSuccess;
}

static ncclResult_t args(ncclComm_t comm, ncclDataType_t t, ncclRedOp_t op)
{
	if (!comm)
		return fail(ncclInvalidArgument, "no communicator");
	if (t != ncclFloat)
		return fail(ncclInvalidArgument, "the emulator has float data only");
	if (op != ncclSum && op != ncclAvg)
		return fail(ncclInvalidArgument, "the emulator sums and averages only");
	return ncclSuccess;
}

static void average(float *x, size_t n, ncclRedOp_t op, int world)
{
	if (op == ncclAvg)
		for (size_t i = 0; i < n; i++)
			x[i] /= (float)world;
}

static int count(size_t n)
{
	if (n > (size_t)1 << 30)
		abort();   /* the emulator runs tiny models */
	return (int)n;
}

/* Buffers opened for the length of one collective. */
struct opened {
	const void *a, *b;
	size_t na, nb;
	opened(const void *a_, size_t na_, const void *b_, size_t nb_, const char *what)
		: a(a_), b(b_), na(na_), nb(nb_)
	{
		emu_device_open(a, na, 1, what);
		emu_device_open(b, nb, 1, what);
	}
	~opened()
	{
		emu_device_open(a, na, 0, "");
		emu_device_open(b, nb, 0, "");
	}
};

ncclResult_t ncclReduceScatter(const void *send, void *recv, size_t n, ncclDataType_t t, ncclRedOp_t op,
			       ncclComm_t comm, cudaStream_t)
{
	if (args(comm, t, op) != ncclSuccess)
		return ncclInvalidArgument;
	size_t b = n * sizeof(float);
	opened o(send, b * comm->world, recv, b, "ncclReduceScatter");
	if ((const char *)recv < (const char *)send + b * comm->world && (const char *)recv + b > (const char *)send)
		return fail(ncclInvalidArgument, "reduce-scatter: the buffers overlap (the emulator does not "
			    "do it in place)");
	if (mpi(MPI_Reduce_scatter_block(send, recv, count(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
		"reduce-scatter") != ncclSuccess)
		return ncclSystemError;
	average((float *)recv, n, op, comm->world);
	return ncclSuccess;
}

ncclResult_t ncclAllGather(const void *send, void *recv, size_t n, ncclDataType_t t, ncclComm_t comm,
			   cudaStream_t)
{
	if (args(comm, t, ncclSum) != ncclSuccess)
		return ncclInvalidArgument;
	size_t b = n * sizeof(float);
	opened o(send, b, recv, b * comm->world, "ncclAllGather");
	char *mine = (char *)recv + b * comm->rank;
	if (send != mine && (const char *)send < (char *)recv + b * comm->world &&
	    (const char *)send + b > (char *)recv)
		return fail(ncclInvalidArgument, "all-gather: buffers overlap, not in place");
	if (send != mine)
		memcpy(mine, send, b);
	return mpi(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, recv, count(n), MPI_FLOAT, MPI_COMM_WORLD),
		   "all-gather");
}

ncclResult_t ncclReduce(const void *send, void *recv, size_t n, ncclDataType_t t, ncclRedOp_t op, int root,
			ncclComm_t comm, cudaStream_t)
{
	if (args(comm, t, op) != ncclSuccess)
		return ncclInvalidArgument;
	if (root < 0 || root >= comm->world)
		return fail(ncclInvalidArgument, "reduce: root %d of %d ranks", root, comm->world);
	size_t b = n * sizeof(float);
	int me = comm->rank == root;
	opened o(send, b, recv, me ? b : 0, "ncclReduce");
	const void *in = me && send == recv ? MPI_IN_PLACE : send;
	if (mpi(MPI_Reduce(in, me ? recv : NULL, count(n), MPI_FLOAT, MPI_SUM, root, MPI_COMM_WORLD), "reduce") !=
	    ncclSuccess)
		return ncclSystemError;
	if (me)
		average((float *)recv, n, op, comm->world);
	return ncclSuccess;
}

ncclResult_t ncclBroadcast(const void *send, void *recv, size_t n, ncclDataType_t t, int root, ncclComm_t comm,
			   cudaStream_t)
{
	if (args(comm, t, ncclSum) != ncclSuccess)
		return ncclInvalidArgument;
	if (root < 0 || root >= comm->world)
		return fail(ncclInvalidArgument, "broadcast: root %d of %d ranks", root, comm->world);
	size_t b = n * sizeof(float);
	int me = comm->rank == root;
	opened o(me ? send : NULL, me ? b : 0, recv, b, "ncclBroadcast");
	if (me && send != recv)
		memmove(recv, send, b);
	return mpi(MPI_Bcast(recv, count(n), MPI_FLOAT, root, MPI_COMM_WORLD), "broadcast");
}

#else /* no MPI: no ranks to meet */

ncclResult_t ncclCommInitRank(ncclComm_t *, int, ncclUniqueId, int)
{
	return fail(ncclSystemError, "emulated NCCL: built without MPI");
}
ncclResult_t ncclReduceScatter(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t)
{
	return ncclInvalidUsage;
}
ncclResult_t ncclAllGather(const void *, void *, size_t, ncclDataType_t, ncclComm_t, cudaStream_t)
{
	return ncclInvalidUsage;
}
ncclResult_t ncclReduce(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, int, ncclComm_t, cudaStream_t)
{
	return ncclInvalidUsage;
}
ncclResult_t ncclBroadcast(const void *, void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t)
{
	return ncclInvalidUsage;
}

#endif
