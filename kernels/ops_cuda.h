/* The CUDA ops (kernels/ops_cuda.cu): a plain C header, no CUDA types. */
#ifndef NC_OPS_CUDA_H
#define NC_OPS_CUDA_H

#include "../lib/ops.h"

/* How many CUDA devices this process can use (0 without a driver). */
int nc_cuda_devices(void);
/* The op table on device 0, set up on first use; NULL without a device. */
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

#endif
