/* The CUDA ops (kernels/ops_cuda.cu): a plain C header, no CUDA types. */
#ifndef NC_OPS_CUDA_H
#define NC_OPS_CUDA_H

#include "../lib/ops.h"

/* How many CUDA devices this process can use (0 without a driver). */
int nc_cuda_devices(void);
/* This process's place on its node when a launcher started several
 * (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, SLURM_LOCALID, LOCAL_RANK),
 * else 0. */
int nc_cuda_local_rank(void);
/* The op table, set up on first use on device local rank % devices; NULL
 * without a device. */
const struct nc_ops *nc_ops_cuda(void);
/* The same, with matrix products in bf16 (fp32 accumulation), as
 * nanochat's autocast trains; every other op as nc_ops_cuda's. */
const struct nc_ops *nc_ops_cuda_bf16(void);

/* For tests: the bf16 table's training attention (cuBLAS products, a chunk
 * of queries at a time), with bf16 (1) or fp32 (0) products. */
void nc_cuda_attention_gemm(float *out, float *lse, const float *q, const float *k, const float *v,
			    int B, int T, int H, int Hkv, int D, int bf16);
void nc_cuda_attention_gemm_backward(float *dq, float *dk, float *dv, const float *dout,
				     const float *out, const float *lse, const float *q, const float *k,
				     const float *v, int B, int T, int H, int Hkv, int D, int bf16);

/* For tests: the bf16 table's training attention on tensor cores
 * (flash-style, bf16 operands, fp32 accumulation), for head sizes that are
 * a multiple of 16 up to 128 (nc_cuda_flash_bf16_takes); -1 for others,
 * which the table sends through the cuBLAS products above. */
int nc_cuda_flash_bf16_takes(int D);
int nc_cuda_attention_flash_bf16(float *out, float *lse, const float *q, const float *k,
				 const float *v, int B, int T, int H, int Hkv, int D);
int nc_cuda_attention_flash_bf16_backward(float *dq, float *dk, float *dv, const float *dout,
					  const float *out, const float *lse, const float *q,
					  const float *k, const float *v, int B, int T, int H, int Hkv,
					  int D);

/* Collectives between the GPUs of a run (kernels/comm_nccl.cu), which the
 * tables' reduce_scatter_avg, all_gather, reduce_avg and bcast carry out.
 * Rank 0 makes an id (NC_NCCL_ID_BYTES), every rank gets it (by MPI), then
 * every rank calls nc_cuda_nccl_init after nc_ops_cuda. -1 with a message
 * on failure, and when two ranks of a node would share a GPU. */
#define NC_NCCL_ID_BYTES 128
int nc_cuda_have_nccl(void);   /* 0: built without NCCL */
int nc_cuda_nccl_id(void *id);
int nc_cuda_nccl_init(const void *id, int rank, int world);

#endif
