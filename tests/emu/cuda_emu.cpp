/* The CUDA emulator's runtime: the fiber scheduler behind kernel launches,
 * device memory, and cuBLAS as plain loops. See cuda_emu.h. */
#include "cuda_emu.h"

#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <ucontext.h>

#include <map>
#include <vector>

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;
char *emu_dyn_smem;

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "cuda-emu: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/* ---- the scheduler ---- */

enum fstate { READY, WAIT_BLOCK, WAIT_WARP, DONE };

struct fiber {
	ucontext_t uc;
	fstate st;
	char *stack;
};

static const size_t STACK = 256 * 1024;
static std::vector<fiber> fibers;
static ucontext_t sched;
static int cur = -1, nthreads;
static const std::function<void()> *body;
static uint64_t slots[32][32];   /* per warp, per lane: shuffle exchange */
static cudaError_t last_error;
static std::map<const void *, int> smem_allowed;

static void entry(void)
{
	(*body)();
	fibers[cur].st = DONE;   /* uc_link returns to the scheduler */
}

static void wait_as(fstate s)
{
	if (cur < 0)
		die("a barrier called outside a kernel");
	fibers[cur].st = s;
	swapcontext(&fibers[cur].uc, &sched);
}

void __syncthreads(void)
{
	wait_as(WAIT_BLOCK);
}

void __syncwarp(unsigned)
{
	wait_as(WAIT_WARP);
}

uint64_t emu_shfl(uint64_t v, int mode, int arg, int width)
{
	int lane = cur % 32, w = cur / 32, base = lane & ~(width - 1), src = lane;
	slots[w][lane] = v;
	wait_as(WAIT_WARP);
	switch (mode) {
	case 0: src = base + (arg & (width - 1)); break;
	case 1: src = lane + arg < base + width ? lane + arg : lane; break;
	case 2: src = lane - arg >= base ? lane - arg : lane; break;
	case 3: src = (lane ^ arg) < base + width ? lane ^ arg : lane; break;
	}
	if (w * 32 + src >= nthreads || fibers[w * 32 + src].st == DONE)
		die("block (%u,%u,%u) thread %d: a shuffle reads lane %d, which has no live thread",
		    blockIdx.x, blockIdx.y, blockIdx.z, cur, src);
	uint64_t r = slots[w][src];
	wait_as(WAIT_WARP);
	return r;
}

unsigned __ballot_sync(unsigned, int pred)
{
	int lane = cur % 32, w = cur / 32;
	slots[w][lane] = pred != 0;
	wait_as(WAIT_WARP);
	unsigned m = 0;
	for (int l = 0; l < 32 && w * 32 + l < nthreads; l++)
		if (fibers[w * 32 + l].st != DONE && slots[w][l])
			m |= 1u << l;
	wait_as(WAIT_WARP);
	return m;
}

static void set_thread(int t)
{
	threadIdx.x = t % blockDim.x;
	threadIdx.y = t / blockDim.x % blockDim.y;
	threadIdx.z = t / (blockDim.x * blockDim.y);
}

static void run_block(size_t smem, std::vector<char> &dyn)
{
	if (smem) {
		memset(dyn.data(), 0xff, smem);   /* NaNs: shared memory starts undefined */
		emu_dyn_smem = dyn.data();
	}
	for (int t = 0; t < nthreads; t++) {
		fiber &f = fibers[t];
		getcontext(&f.uc);
		f.uc.uc_stack.ss_sp = f.stack;
		f.uc.uc_stack.ss_size = STACK;
		f.uc.uc_link = &sched;
		makecontext(&f.uc, entry, 0);
		f.st = READY;
	}
	/* Each warp runs on its own until the block barrier, so that a warp
	 * that writes shared memory before the others have read it (a missing
	 * __syncthreads) changes the result. Odd blocks take the warps and
	 * lanes in the opposite order. */
	int nw = (nthreads + 31) / 32, rev = (int)((blockIdx.x + blockIdx.y + blockIdx.z) & 1);
	for (;;) {
		int progressed = 0;
		for (int wi = 0; wi < nw; wi++) {
			int w = rev ? nw - 1 - wi : wi, lo = w * 32;
			int hi = lo + 32 < nthreads ? lo + 32 : nthreads;
			for (;;) {
				for (int i = 0; i < hi - lo; i++) {
					int t = rev ? hi - 1 - i : lo + i;
					if (fibers[t].st == READY) {
						cur = t;
						set_thread(t);
						swapcontext(&sched, &fibers[t].uc);
						progressed = 1;
					}
				}
				int wl = 0, at_warp = 0;
				for (int t = lo; t < hi; t++) {
					wl += fibers[t].st != DONE;
					at_warp += fibers[t].st == WAIT_WARP;
				}
				if (!wl || at_warp != wl)
					break;
				for (int t = lo; t < hi; t++)
					if (fibers[t].st == WAIT_WARP)
						fibers[t].st = READY;
			}
		}
		cur = -1;
		int live = 0, at_block = 0;
		for (int t = 0; t < nthreads; t++) {
			live += fibers[t].st != DONE;
			at_block += fibers[t].st == WAIT_BLOCK;
		}
		if (!live)
			return;
		if (at_block == live) {
			for (int t = 0; t < nthreads; t++)
				if (fibers[t].st == WAIT_BLOCK)
					fibers[t].st = READY;
			continue;
		}
		if (!progressed) {
			fprintf(stderr, "cuda-emu: deadlock in block (%u,%u,%u): threads wait at different "
				"barriers (0 ready, 1 block, 2 warp, 3 done):", blockIdx.x, blockIdx.y, blockIdx.z);
			for (int t = 0; t < nthreads; t++)
				fprintf(stderr, " %d", (int)fibers[t].st);
			fprintf(stderr, "\n");
			abort();
		}
	}
}

cudaError_t emu_set_smem(const void *kernel, int bytes)
{
	if (bytes < 0 || bytes > 227 * 1024)
		return last_error = cudaErrorInvalidValue;
	smem_allowed[kernel] = bytes;
	return cudaSuccess;
}

void emu_run(const void *kernel, dim3 grid, dim3 block, size_t smem, const std::function<void()> &fn)
{
	size_t nt = (size_t)block.x * block.y * block.z;
	if (!nt || nt > 1024 || block.z > 64 || !grid.x || !grid.y || !grid.z || grid.y > 65535 ||
	    grid.z > 65535 || grid.x > 0x7fffffffu) {
		last_error = cudaErrorInvalidConfiguration;
		return;
	}
	if (smem > 48 * 1024 && (!smem_allowed.count(kernel) || (size_t)smem_allowed[kernel] < smem)) {
		last_error = cudaErrorInvalidValue;
		return;
	}
	nthreads = (int)nt;
	while (fibers.size() < nt) {
		fibers.push_back(fiber());
		fibers.back().stack = (char *)malloc(STACK);
	}
	static std::vector<char> dyn;
	if (dyn.size() < smem)
		dyn.resize(smem);
	blockDim = block;
	gridDim = grid;
	body = &fn;
	for (unsigned z = 0; z < grid.z; z++)
		for (unsigned y = 0; y < grid.y; y++)
			for (unsigned x = 0; x < grid.x; x++) {
				blockIdx.x = x, blockIdx.y = y, blockIdx.z = z;
				run_block(smem, dyn);
			}
	emu_dyn_smem = NULL;
}

/* ---- memory ---- */

static std::map<const char *, size_t> allocs;

/* Whether [p, p+n) lies in one device allocation. */
static bool on_device(const void *p, size_t n)
{
	auto it = allocs.upper_bound((const char *)p);
	if (it == allocs.begin())
		return false;
	--it;
	return (const char *)p + n <= it->first + it->second;
}

static void need_device(const void *p, size_t n, const char *what)
{
	if (n && !on_device(p, n))
		die("%s: %zu bytes at %p are not inside one device allocation", what, n, p);
}

cudaError_t cudaMalloc(void **p, size_t bytes)
{
	char *m = (char *)malloc(bytes ? bytes : 1);
	if (!m)
		return last_error = cudaErrorMemoryAllocation;
	memset(m, 0xff, bytes);   /* NaNs: device memory starts undefined */
	allocs[m] = bytes;
	*p = m;
	return cudaSuccess;
}

cudaError_t cudaFree(void *p)
{
	if (!p)
		return cudaSuccess;
	auto it = allocs.find((const char *)p);
	if (it == allocs.end())
		die("cudaFree(%p): not a device allocation", p);
	allocs.erase(it);
	free(p);
	return cudaSuccess;
}

cudaError_t cudaMallocHost(void **p, size_t bytes)
{
	*p = malloc(bytes ? bytes : 1);
	return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t cudaFreeHost(void *p)
{
	free(p);
	return cudaSuccess;
}

cudaError_t cudaMemset(void *p, int v, size_t bytes)
{
	need_device(p, bytes, "cudaMemset");
	memset(p, v, bytes);
	return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int v, size_t bytes, cudaStream_t)
{
	return cudaMemset(p, v, bytes);
}

cudaError_t cudaMemcpy(void *d, const void *s, size_t bytes, cudaMemcpyKind k)
{
	if (k == cudaMemcpyHostToDevice || k == cudaMemcpyDeviceToDevice)
		need_device(d, bytes, "cudaMemcpy destination");
	if (k == cudaMemcpyDeviceToHost || k == cudaMemcpyDeviceToDevice)
		need_device(s, bytes, "cudaMemcpy source");
	if (k == cudaMemcpyHostToDevice && on_device(s, 1))
		die("cudaMemcpy host to device: the source %p is device memory", s);
	if (k == cudaMemcpyDeviceToHost && on_device(d, 1))
		die("cudaMemcpy device to host: the destination %p is device memory", d);
	memmove(d, s, bytes);
	return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t bytes, cudaMemcpyKind k, cudaStream_t)
{
	return cudaMemcpy(d, s, bytes, k);
}

/* ---- device, errors, streams, events ---- */

cudaError_t cudaGetDeviceCount(int *n)
{
	*n = 1;
	return cudaSuccess;
}

cudaError_t cudaSetDevice(int d)
{
	return d == 0 ? cudaSuccess : (last_error = cudaErrorInvalidValue);
}

cudaError_t cudaGetDevice(int *d)
{
	*d = 0;
	return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int)
{
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "cuda-emu");
	p->totalGlobalMem = (size_t)8 << 30;
	p->multiProcessorCount = 4;
	p->major = 9;
	p->sharedMemPerBlockOptin = 227 * 1024;
	return cudaSuccess;
}

cudaError_t cudaGetLastError(void)
{
	cudaError_t e = last_error;
	last_error = cudaSuccess;
	return e;
}

cudaError_t cudaPeekAtLastError(void)
{
	return last_error;
}

const char *cudaGetErrorString(cudaError_t e)
{
	switch (e) {
	case cudaSuccess: return "no error";
	case cudaErrorInvalidValue: return "invalid argument";
	case cudaErrorMemoryAllocation: return "out of memory";
	case cudaErrorInvalidConfiguration: return "invalid configuration argument";
	case cudaErrorNoDevice: return "no CUDA-capable device is detected";
	}
	return "unknown error";
}

cudaError_t cudaDeviceSynchronize(void)
{
	return cudaSuccess;
}

struct emu_stream {
	int unused;
};
struct emu_event {
	double t;
};

cudaError_t cudaStreamCreate(cudaStream_t *s)
{
	*s = new emu_stream();
	return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s)
{
	delete s;
	return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t)
{
	return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *e)
{
	*e = new emu_event();
	return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t e)
{
	delete e;
	return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	e->t = ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
	return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t)
{
	return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b)
{
	*ms = (float)(b->t - a->t);
	return cudaSuccess;
}

/* ---- cuBLAS ---- */

struct emu_blas {
	int math;
};

cublasStatus_t cublasCreate(cublasHandle_t *h)
{
	*h = new emu_blas();
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t h)
{
	delete h;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m)
{
	h->math = m;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t)
{
	return CUBLAS_STATUS_SUCCESS;
}

static double load(const void *p, cudaDataType t, size_t i)
{
	return t == CUDA_R_16BF ? __bfloat162float(((const __nv_bfloat16 *)p)[i]) : ((const float *)p)[i];
}

static size_t type_size(cudaDataType t)
{
	return t == CUDA_R_16BF ? 2 : 4;
}

/* C (m x n, column-major) = alpha op(A) op(B) + beta C, in double; C is
 * not read when beta is 0, as cuBLAS. */
static cublasStatus_t gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha,
			   const void *A, cudaDataType at, int lda, const void *B, cudaDataType bt, int ldb,
			   float beta, void *C, cudaDataType ct, int ldc)
{
	if (m < 0 || n < 0 || k < 0 || lda < (ta ? k : m) || ldb < (tb ? n : k) || ldc < m || lda < 1 ||
	    ldb < 1 || ldc < 1)
		return CUBLAS_STATUS_INVALID_VALUE;
	if (!m || !n)
		return CUBLAS_STATUS_SUCCESS;
	int acols = ta ? m : k, bcols = tb ? k : n;
	if (k) {
		need_device(A, ((size_t)lda * (acols - 1) + (ta ? k : m)) * type_size(at), "cuBLAS A");
		need_device(B, ((size_t)ldb * (bcols - 1) + (tb ? n : k)) * type_size(bt), "cuBLAS B");
	}
	need_device(C, ((size_t)ldc * (n - 1) + m) * type_size(ct), "cuBLAS C");
	for (int j = 0; j < n; j++)
		for (int i = 0; i < m; i++) {
			double s = 0;
			for (int l = 0; l < k; l++) {
				double a = ta ? load(A, at, l + (size_t)i * lda) : load(A, at, i + (size_t)l * lda);
				double b = tb ? load(B, bt, j + (size_t)l * ldb) : load(B, bt, l + (size_t)j * ldb);
				s += a * b;
			}
			size_t o = i + (size_t)j * ldc;
			double r = alpha * s + (beta != 0 ? beta * load(C, ct, o) : 0);
			if (ct == CUDA_R_16BF)
				((__nv_bfloat16 *)C)[o] = __float2bfloat16((float)r);
			else
				((float *)C)[o] = (float)r;
		}
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
			   int k, const float *alpha, const float *A, int lda, const float *B, int ldb,
			   const float *beta, float *C, int ldc)
{
	return gemm(ta, tb, m, n, k, *alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, *beta, C, CUDA_R_32F,
		    ldc);
}

cublasStatus_t cublasGemmEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
			    int k, const void *alpha, const void *A, cudaDataType at, int lda,
			    const void *B, cudaDataType bt, int ldb, const void *beta, void *C,
			    cudaDataType ct, int ldc, cublasComputeType_t ctype, cublasGemmAlgo_t)
{
	if (ctype != CUBLAS_COMPUTE_32F)
		return CUBLAS_STATUS_NOT_SUPPORTED;
	return gemm(ta, tb, m, n, k, *(const float *)alpha, A, at, lda, B, bt, ldb, *(const float *)beta, C,
		    ct, ldc);
}
