/* The CPU ops in fp32: the reference the CUDA ops are checked against.
 * OpenMP across cores; matrix products through BLAS sgemm when nc is built
 * with one (NC_BLAS), else plain loops. */
#include "ops.h"
#include "mem.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#ifdef NC_BLAS
#include <cblas.h>
#define GEMM cblas_sgemm
#endif
#define REAL float
#define OP(name) cpu_##name
#include "ops_cpu_impl.h"

#ifdef NC_BLAS
/* BLAS runs one thread per call, and the calls are spread over the OpenMP
 * threads in row blocks: two thread pools (OpenMP's and OpenBLAS's own)
 * spinning on the same cores cost 2x and more on a busy machine. */
static void blas_single_thread(void)
{
	static int done;
	if (!done) {
		openblas_set_num_threads(1);
		done = 1;
	}
}

static void rows_of(int n, int *lo, int *hi)
{
	int nt = omp_get_num_threads(), t = omp_get_thread_num();
	*lo = (int)((long)n * t / nt);
	*hi = (int)((long)n * (t + 1) / nt);
}

static void par_matmul(float *y, const float *x, const float *w, int M, int N, int K, int acc)
{
	blas_single_thread();
	#pragma omp parallel
	{
		int lo, hi;
		rows_of(M, &lo, &hi);
		if (hi > lo)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, hi - lo, N, K, 1,
				    x + (size_t)lo * K, K, w, K, acc ? 1 : 0, y + (size_t)lo * N, N);
	}
}

static void par_matmul_backward(float *dx, float *dw, const float *dy, const float *x,
				const float *w, int M, int N, int K)
{
	blas_single_thread();
	#pragma omp parallel
	{
		int lo, hi;
		if (dx) {
			rows_of(M, &lo, &hi);   /* dx rows lo..hi = dy rows W */
			if (hi > lo)
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, hi - lo, K, N, 1,
					    dy + (size_t)lo * N, N, w, K, 1, dx + (size_t)lo * K, K);
		}
		if (dw) {
			rows_of(N, &lo, &hi);   /* dW rows lo..hi = dy columns^T x */
			if (hi > lo)
				cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, hi - lo, K, M, 1,
					    dy + lo, N, x, K, 1, dw + (size_t)lo * K, K);
		}
	}
}
#endif

static void *cpu_alloc(size_t bytes)
{
	return xcalloc(1, bytes);
}

static void cpu_zero(float *x, size_t n)
{
	memset(x, 0, n * sizeof *x);
}

static void cpu_copy(float *dst, const float *src, size_t n)
{
	memcpy(dst, src, n * sizeof *dst);
}

static void cpu_memcpy(void *dst, const void *src, size_t bytes)
{
	memcpy(dst, src, bytes);
}

static void cpu_add(float *y, const float *x, size_t n)
{
	#pragma omp parallel for
	for (size_t i = 0; i < n; i++)
		y[i] += x[i];
}

static void cpu_rmsnorm_f(float *out, float *rstd, const float *x, int n, int C, float eps)
{
	cpu_rmsnorm(out, rstd, x, n, C, eps);
}

static double cpu_softcap_xent_f(float *logits, float *loss, const int32_t *targets, int n, int V,
				 float cap, float grad_scale)
{
	return cpu_softcap_xent(logits, loss, targets, n, V, cap, grad_scale);
}

static void cpu_softcap_f(float *z, size_t n, float cap)
{
	cpu_softcap(z, n, cap);
}

const struct nc_ops nc_ops_cpu = {
	.name = "cpu",
	.alloc = cpu_alloc,
	.free = free,
	.zero = cpu_zero,
	.copy = cpu_copy,
	.add = cpu_add,
	.upload = cpu_memcpy,
	.download = cpu_memcpy,
#ifdef NC_BLAS
	.matmul = par_matmul,
	.matmul_backward = par_matmul_backward,
#else
	.matmul = cpu_matmul,
	.matmul_backward = cpu_matmul_backward,
#endif
	.embedding = cpu_embedding,
	.embedding_backward = cpu_embedding_backward,
	.rmsnorm = cpu_rmsnorm_f,
	.rmsnorm_backward = cpu_rmsnorm_backward,
	.rotary = cpu_rotary,
	.attention = cpu_attention,
	.attention_backward = cpu_attention_backward,
	.attention_cached = cpu_attention_cached,
	.relu2 = cpu_relu2,
	.relu2_backward = cpu_relu2_backward,
	.softcap_xent = cpu_softcap_xent_f,
	.softcap = cpu_softcap_f,
};

void nc_rotary_tables(float *cos, float *sin, int T, int D, int t0, float base)
{
	int half = D / 2;
	for (int i = 0; i < half; i++) {
		/* as torch computes it in fp32: base ** (arange(0, D, 2) / D) */
		float inv_freq = 1.0f / powf(base, (float)(2 * i) / (float)D);
		for (int t = 0; t < T; t++) {
			float a = (float)(t0 + t) * inv_freq;
			cos[(size_t)t * half + i] = cosf(a);
			sin[(size_t)t * half + i] = sinf(a);
		}
	}
}
