/* What the CUDA sources (the .cu files in kernels/) share: call checking, launch
 * sizes, device memory, block reductions, and the ops that live in their
 * own files. C++ for nvcc (and the emulator, tests/emu); not for lib/. */
#ifndef NC_CUDA_COMMON_H
#define NC_CUDA_COMMON_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* The stream every op runs on: the per-thread default stream (the kernels
 * are built with --default-stream per-thread, so a plain launch goes
 * there too), which, unlike the legacy one, can be recorded as a graph. */
#define NC_STREAM cudaStreamPerThread

/* Every CUDA call is checked; a failure names the call and ends the
 * process (it is a broken device or driver, not bad input). */
void nc_cuda_check(cudaError_t e, const char *what, const char *file, int line);
#define CUDA_CHECK(x) nc_cuda_check((x), #x, __FILE__, __LINE__)
/* after a kernel launch: the launch itself (configuration) */
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())
void nc_cuda_blas_check(cublasStatus_t s, const char *what, const char *file, int line);
#define CUBLAS_CHECK(x) nc_cuda_blas_check((x), #x, __FILE__, __LINE__)
cublasHandle_t nc_cuda_blas(void);   /* the process's cuBLAS handle */

/* The flash attention kernels' largest head size (4 threads a row, up to
 * 32 dimensions each): the fp32 table's max_head_dim. */
#define NC_CUDA_MAX_HEAD_DIM 128

static inline unsigned blocks(size_t n, unsigned per)
{
	return (unsigned)((n + per - 1) / per);
}

void *nc_cuda_alloc(size_t bytes);   /* zeroed */
void nc_cuda_free(void *p);
/* A device buffer of at least n floats, kept between calls and grown. */
float *nc_cuda_scratch(float **buf, size_t *cap, size_t n);
/* src (n floats, device) rounded to bf16 (raw bits) in such a buffer */
const uint16_t *nc_cuda_bf16(const float *src, size_t n, float **buf, size_t *cap);

/* to bf16 and back, to nearest even (NaNs stay NaN): mirrors nc_bf16_round
 * of lib/bf16.h, which device code cannot call */
static __device__ __forceinline__ float bf16_round(float x)
{
	unsigned u = __float_as_uint(x);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		u = (u >> 16 | 0x40) << 16;
	else
		u = (u + 0x7fffu + ((u >> 16) & 1)) >> 16 << 16;
	return __uint_as_float(u);
}

/* Sum and maximum over a block (blockDim.x a multiple of 32, at most
 * 1024), in the same order in every thread; shared holds 32 floats. */
static __device__ __forceinline__ float block_sum(float v, float *shared)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_down_sync(0xffffffffu, v, o);
	int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
	__syncthreads();
	if (lane == 0)
		shared[warp] = v;
	__syncthreads();
	float t = 0;
	for (int i = 0; i < nw; i++)
		t += shared[i];
	return t;
}

static __device__ __forceinline__ float block_max(float v, float *shared)
{
	for (int o = 16; o > 0; o >>= 1)
		v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
	int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
	__syncthreads();
	if (lane == 0)
		shared[warp] = v;
	__syncthreads();
	float t = -INFINITY;
	for (int i = 0; i < nw; i++)
		t = fmaxf(t, shared[i]);
	return t;
}

/* kernels/attention.cu: the attention ops of lib/ops.h */
void nc_cuda_attention(float *out, float *lse, const float *q, const float *k, const float *v, int B,
		     int T, int H, int Hkv, int D);
void nc_cuda_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
			      const float *lse, const float *q, const float *k, const float *v, int B,
			      int T, int H, int Hkv, int D);
/* attention backward's delta = rowsum(dout * out) per (b, h, t), (B,H,T) */
void nc_cuda_attention_delta(float *delta, const float *dout, const float *out, int B, int T, int H,
			   int D);
/* Training attention through cuBLAS, a chunk of queries at a time (the
 * bf16 table's; bf16 0 runs the same in fp32 products, for tests, which
 * call them through ops_cuda.h: hence C linkage). */
extern "C" void nc_cuda_attention_gemm(float *out, float *lse, const float *q, const float *k,
				       const float *v, int B, int T, int H, int Hkv, int D, int bf16);
extern "C" void nc_cuda_attention_gemm_backward(float *dq, float *dk, float *dv, const float *dout,
						const float *out, const float *lse, const float *q,
						const float *k, const float *v, int B, int T, int H, int Hkv,
						int D, int bf16);
/* Training attention on tensor cores (kernels/attention_flash.cu), the
 * bf16 table's for head sizes it takes: a multiple of 16 up to this. -1
 * (nothing done) for other head sizes. C linkage for the tests. */
#define NC_CUDA_FLASH_BF16_MAX_HEAD_DIM 128
extern "C" int nc_cuda_flash_bf16_takes(int D);
extern "C" int nc_cuda_attention_flash_bf16(float *out, float *lse, const float *q, const float *k,
					    const float *v, int B, int T, int H, int Hkv, int D);
extern "C" int nc_cuda_attention_flash_bf16_backward(float *dq, float *dk, float *dv, const float *dout,
						     const float *out, const float *lse, const float *q,
						     const float *k, const float *v, int B, int T, int H,
						     int Hkv, int D);
/* The collectives of kernels/comm_nccl.cu into the op tables (their other
 * entries are ignored). */
struct nc_ops;
void nc_cuda_set_collectives(const struct nc_ops *c);
/* NC_PROFILE=1 (kernels/profile.cu): every entry of table t (which: 0 the
 * fp32 table, 1 the bf16 one) timed by CUDA events, a per-op table on
 * stderr at exit; entries wrapped already are left as they are. Nothing
 * without NC_PROFILE=1. */
int nc_cuda_profiling(void);
void nc_cuda_profile(struct nc_ops *t, int which);

void nc_cuda_attention_cached(float *out, const float *q, const float *k, const float *v, int B,
			    int Tq, int H, int Hkv, int D, const int *pos, int Tmax);

#endif
