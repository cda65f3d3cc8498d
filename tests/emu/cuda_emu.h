/* A small CUDA emulator for checking nc's kernels on a machine without a
 * GPU. Each kernels/NAME.cu is rewritten by tests/emu/cu2cpp.sed (launches and
 * dynamic shared memory only) and compiled by g++ with this header forced
 * in front; tests/emu/include/ stands in for the CUDA headers.
 *
 * How it runs a kernel: the blocks one after another; the threads of a
 * block as fibers on one OS thread, switched at __syncthreads and at warp
 * operations. A barrier opens once every live thread of the block (or lane
 * of the warp) has reached it; if none can open, the threads disagree
 * about barriers and the launch is reported as a deadlock. Memory from
 * cudaMalloc and dynamic shared memory start filled with NaNs, so that a
 * read of something never written shows up. cuBLAS's SGEMM, GemmEx and
 * GemmBatchedEx (bf16 or fp32 operands) are a plain loop in double
 * precision.
 *
 * What it checks is the kernels' logic: indexing, masking, reductions,
 * barriers, host-side sizes. It says nothing about speed, races between
 * blocks, or the memory model; tests/gpu on a real GPU remains the word. */
#ifndef NC_CUDA_EMU_H
#define NC_CUDA_EMU_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <functional>
#include <tuple>
#include <utility>

/* ---- language ---- */

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __shared__ static
#define __constant__ static
#define __launch_bounds__(...)

struct dim3 {
	unsigned x, y, z;
	dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 {
	unsigned x, y, z;
};

/* Set by the scheduler before it resumes a thread. */
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
extern char *emu_dyn_smem;
static const int warpSize = 32;

void __syncthreads(void);
void __syncwarp(unsigned mask = 0xffffffffu);
/* Every lane stores v, then reads lane src's (its own when src is out of
 * range); width as CUDA's. */
uint64_t emu_shfl(uint64_t v, int mode, int arg, int width);   /* idx, down, up, xor */

template <class T> static inline T emu_shfl_t(T v, int mode, int arg, int width)
{
	static_assert(sizeof(T) <= 8, "shuffle of a type over 8 bytes");
	uint64_t b = 0;
	memcpy(&b, &v, sizeof v);
	b = emu_shfl(b, mode, arg, width);
	T r;
	memcpy(&r, &b, sizeof r);
	return r;
}
template <class T> static inline T __shfl_sync(unsigned, T v, int src, int width = 32)
{
	return emu_shfl_t(v, 0, src, width);
}
template <class T> static inline T __shfl_down_sync(unsigned, T v, unsigned d, int width = 32)
{
	return emu_shfl_t(v, 1, (int)d, width);
}
template <class T> static inline T __shfl_up_sync(unsigned, T v, unsigned d, int width = 32)
{
	return emu_shfl_t(v, 2, (int)d, width);
}
template <class T> static inline T __shfl_xor_sync(unsigned, T v, int m, int width = 32)
{
	return emu_shfl_t(v, 3, m, width);
}
unsigned __ballot_sync(unsigned mask, int pred);
static inline int __any_sync(unsigned m, int p) { return __ballot_sync(m, p) != 0; }
static inline int __all_sync(unsigned m, int p)
{
	return __ballot_sync(m, p) == __ballot_sync(m, 1);
}

/* Atomics: one fiber runs at a time, so plain updates are atomic. */
template <class T> static inline T atomicAdd(T *p, T v)
{
	T o = *p;
	*p = o + v;
	return o;
}
static inline float atomicMax(float *p, float v)
{
	float o = *p;
	*p = fmaxf(o, v);
	return o;
}
static inline int atomicMax(int *p, int v)
{
	int o = *p;
	*p = o > v ? o : v;
	return o;
}
static inline unsigned atomicCAS(unsigned *p, unsigned c, unsigned v)
{
	unsigned o = *p;
	if (o == c)
		*p = v;
	return o;
}
static inline void __threadfence(void) {}

template <class T> static inline T __ldg(const T *p) { return *p; }
/* __expf and __logf: glibc declares them already. */
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline float __fdividef(float a, float b) { return a / b; }
/* g++ in ISO mode does not contract a * b + c, so these round as on a GPU */
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fsqrt_rn(float a) { return sqrtf(a); }
static inline float __saturatef(float x) { return x < 0 ? 0 : x > 1 ? 1 : x; }
static inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
static inline unsigned __float_as_uint(float f) { unsigned i; memcpy(&i, &f, 4); return i; }
static inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }

struct float2 {
	float x, y;
};
struct float4 {
	float x, y, z, w;
};
static inline float2 make_float2(float x, float y) { return {x, y}; }
static inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

/* ---- runtime ---- */

typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2,
       cudaErrorNoDevice = 100, cudaErrorInvalidConfiguration = 9 };
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
		      cudaMemcpyDeviceToDevice, cudaMemcpyDefault };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
typedef struct emu_stream *cudaStream_t;   /* launches and copies run at once */
#define cudaStreamPerThread ((cudaStream_t)0x2)

struct cudaDeviceProp {
	char name[256];
	size_t totalGlobalMem;
	int multiProcessorCount, major, minor;
	size_t sharedMemPerBlockOptin;
};

cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaSetDevice(int d);
cudaError_t cudaGetDevice(int *d);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char *cudaGetErrorString(cudaError_t e);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaMemGetInfo(size_t *avail, size_t *total);
cudaError_t cudaMalloc(void **p, size_t bytes);
template <class T> static inline cudaError_t cudaMalloc(T **p, size_t bytes)
{
	return cudaMalloc((void **)p, bytes);
}
cudaError_t cudaFree(void *p);
cudaError_t cudaMallocHost(void **p, size_t bytes);
cudaError_t cudaFreeHost(void *p);
cudaError_t cudaMemset(void *p, int v, size_t bytes);
cudaError_t cudaMemsetAsync(void *p, int v, size_t bytes, cudaStream_t s = 0);
cudaError_t cudaMemcpy(void *d, const void *s, size_t bytes, cudaMemcpyKind k);
cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t bytes, cudaMemcpyKind k,
			    cudaStream_t st = 0);

/* Events: the host's clock when recorded (every launch and copy has run
 * by then), so that elapsed times are the emulator's own. */
typedef struct emu_event *cudaEvent_t;
cudaError_t cudaEventCreate(cudaEvent_t *e);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = 0);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t stop);

/* For the emulated NCCL (tests/emu/nccl_emu.cpp): the allocation holding
 * [p, p+n), which must be device memory, opened to the host or closed. */
void emu_device_open(const void *p, size_t n, int open, const char *what);

/* Dynamic shared memory above 48 KiB must be asked for first, as on a GPU. */
cudaError_t emu_set_smem(const void *kernel, int bytes);
template <class F> static inline cudaError_t cudaFuncSetAttribute(F *k, cudaFuncAttribute, int v)
{
	return emu_set_smem((const void *)k, v);
}

/* Runs body once per thread of every block (see the top of this file). */
void emu_run(const void *kernel, dim3 grid, dim3 block, size_t smem, const std::function<void()> &body);

/* Stream capture: while a stream is captured, launches, async copies and
 * sets, and cuBLAS calls are recorded (their arguments by value) instead
 * of run; a graph launch runs the record. Synchronous copies, sets and
 * allocations while capturing stop the program, as CUDA refuses them. */
bool emu_recording(void);
void emu_record(std::function<void()> f);
enum cudaStreamCaptureMode { cudaStreamCaptureModeGlobal = 0, cudaStreamCaptureModeThreadLocal = 1,
			     cudaStreamCaptureModeRelaxed = 2 };
typedef struct emu_graph *cudaGraph_t;
typedef struct emu_graph *cudaGraphExec_t;
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *e, cudaGraph_t g, unsigned long long flags);
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s);
cudaError_t cudaGraphDestroy(cudaGraph_t g);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e);

struct emu_launch {
	dim3 grid, block;
	size_t smem;
	emu_launch(dim3 g, dim3 b, size_t s = 0, cudaStream_t = 0) : grid(g), block(b), smem(s) {}
	template <class... P, class... A> void operator()(void (*k)(P...), A &&...a)
	{
		std::tuple<P...> args(static_cast<P>(a)...);
		if (emu_recording()) {
			dim3 g = grid, b = block;
			size_t s = smem;
			emu_record([=] {
				std::tuple<P...> c = args;
				emu_run((const void *)k, g, b, s, [&] { std::apply(k, c); });
			});
			return;
		}
		emu_run((const void *)k, grid, block, smem, [&] { std::apply(k, args); });
	}
};
#define EMU_LAUNCH(...) emu_launch(__VA_ARGS__)

/* ---- cuBLAS (the calls nc makes), column-major as cuBLAS ---- */

typedef struct emu_blas *cublasHandle_t;
typedef int cublasStatus_t;
enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7, CUBLAS_STATUS_NOT_SUPPORTED = 15 };
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUBLAS_DEFAULT_MATH = 0, CUBLAS_TF32_TENSOR_OP_MATH = 3 } cublasMath_t;

cublasStatus_t cublasCreate(cublasHandle_t *h);
cublasStatus_t cublasDestroy(cublasHandle_t h);
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m);
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s);
cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *workspace, size_t bytes);
typedef enum { CUDA_R_32F = 0, CUDA_R_16BF = 14 } cudaDataType_t;
typedef enum { CUBLAS_COMPUTE_32F = 68 } cublasComputeType_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;
/* A and B in fp32 or bf16, C fp32, fp32 scalars and compute */
cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
			    int k, const void *alpha, const void *A, cudaDataType_t at, int lda,
			    const void *B, cudaDataType_t bt, int ldb, const void *beta, void *C,
			    cudaDataType_t ct, int ldc, cublasComputeType_t compute, cublasGemmAlgo_t algo);
/* the same over batch arrays of pointers (the arrays in device memory) */
cublasStatus_t cublasGemmBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
				   int n, int k, const void *alpha, const void *const A[], cudaDataType_t at,
				   int lda, const void *const B[], cudaDataType_t bt, int ldb,
				   const void *beta, void *const C[], cudaDataType_t ct, int ldc, int count,
				   cublasComputeType_t compute, cublasGemmAlgo_t algo);
cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
			   int k, const float *alpha, const float *A, int lda, const float *B, int ldb,
			   const float *beta, float *C, int ldc);

#endif
