/* The op interface (lib/ops.h) on a CUDA GPU, checked op by op against
 * the CPU ops (tests/gpu/test_ops_cuda.c). Two tables: nc_ops_cuda, all
 * fp32 (matrix products through cuBLAS SGEMM, no TF32), and
 * nc_ops_cuda_bf16, the same but for matrix products with bf16 operands
 * (GemmEx, fp32 accumulation) and attention on tensor cores
 * (kernels/attention_flash.cu; cuBLAS's batched products,
 * kernels/attention_gemm.cu, for other head sizes), and activations kept for backward
 * in bf16 (gpt.c packs them). The fp32 table's attention is
 * flash-style tiles (kernels/attention.cu); every other op is a simple
 * kernel. Deterministic: no atomics, every sum in a
 * fixed order.
 *
 * Status: compiled in every build and linked into nc-train and nc-sample;
 * checked on the CUDA emulator (tests/emu, `make test-emu`), not yet run
 * on a real GPU. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

extern "C" {
#include "../lib/ops.h"
#include "ops_cuda.h"
}
#include "cuda_common.h"

/* ---- checking ---- */

void nc_cuda_check(cudaError_t e, const char *what, const char *file, int line)
{
	if (e == cudaSuccess)
		return;
	fprintf(stderr, "nc: CUDA: %s: %s (%s:%d)\n", what, cudaGetErrorString(e), file, line);
	exit(1);
}

void nc_cuda_blas_check(cublasStatus_t s, const char *what, const char *file, int line)
{
	if (s == CUBLAS_STATUS_SUCCESS)
		return;
	fprintf(stderr, "nc: cuBLAS: %s: status %d (%s:%d)\n", what, (int)s, file, line);
	exit(1);
}

static cublasHandle_t blas;

cublasHandle_t nc_cuda_blas(void)
{
	return blas;
}

/* ---- memory ---- */

void *nc_cuda_alloc(size_t bytes)
{
	void *p = NULL;
	cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
	if (e == cudaErrorMemoryAllocation) {
		size_t avail = 0, total = 0;
		cudaGetLastError();
		cudaMemGetInfo(&avail, &total);
		fprintf(stderr, "nc: the GPU is out of memory: %.3f GB more wanted, %.3f of its %.3f GB free "
			"(a smaller --device-batch-size or --depth needs less)\n", bytes / 1e9, avail / 1e9, total / 1e9);
		exit(1);
	}
	CUDA_CHECK(e);
	CUDA_CHECK(cudaMemset(p, 0, bytes ? bytes : 1));
	return p;
}

void nc_cuda_free(void *p)
{
	if (p)
		CUDA_CHECK(cudaFree(p));
}

/* On the ops' stream, in order with the kernels (and recordable) */
static void cu_zero(float *x, size_t n)
{
	CUDA_CHECK(cudaMemsetAsync(x, 0, n * sizeof *x, NC_STREAM));
}

static void cu_copy(float *dst, const float *src, size_t n)
{
	CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof *dst, cudaMemcpyDeviceToDevice, NC_STREAM));
}

static void cu_upload(void *dst, const void *src, size_t bytes)
{
	CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

static void cu_download(void *dst, const void *src, size_t bytes)
{
	CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

float *nc_cuda_scratch(float **buf, size_t *cap, size_t n)
{
	if (n > *cap) {
		nc_cuda_free(*buf);
		*buf = (float *)nc_cuda_alloc(n * sizeof(float));
		*cap = n;
	}
	return *buf;
}

/* ---- elementwise ---- */

__global__ void k_add(float *y, const float *x, size_t n)
{
	size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
	if (i < n)
		y[i] += x[i];
}

static void cu_add(float *y, const float *x, size_t n)
{
	if (!n)
		return;
	k_add<<<blocks(n, 256), 256>>>(y, x, n);
	CUDA_CHECK_LAUNCH();
}

__global__ void k_relu2(float *y, const float *x, size_t n)
{
	size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
	if (i < n)
		y[i] = x[i] > 0 ? x[i] * x[i] : 0;
}

__global__ void k_relu2_backward(float *dx, const float *dy, const float *x, size_t n)
{
	size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
	if (i < n)
		dx[i] += x[i] > 0 ? 2 * x[i] * dy[i] : 0;
}

static void cu_relu2(float *y, const float *x, size_t n)
{
	if (!n)
		return;
	k_relu2<<<blocks(n, 256), 256>>>(y, x, n);
	CUDA_CHECK_LAUNCH();
}

static void cu_relu2_backward(float *dx, const float *dy, const float *x, size_t n)
{
	if (!n)
		return;
	k_relu2_backward<<<blocks(n, 256), 256>>>(dx, dy, x, n);
	CUDA_CHECK_LAUNCH();
}

__global__ void k_softcap(float *z, size_t n, float cap)
{
	size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
	if (i < n)
		z[i] = cap * tanhf(z[i] / cap);
}

static void cu_softcap(float *z, size_t n, float cap)
{
	if (!n)
		return;
	k_softcap<<<blocks(n, 256), 256>>>(z, n, cap);
	CUDA_CHECK_LAUNCH();
}

/* ---- matrix products (row-major, as lib/ops.h; cuBLAS is column-major:
 * a row-major (r x c) matrix is the column-major (c x r) transpose) ---- */

static void cu_matmul(float *y, const float *x, const float *w, int M, int N, int K, int acc)
{
	/* y^T (N x M) = W (N x K) x^T (K x M) */
	float one = 1, beta = acc ? 1.0f : 0.0f;
	CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, w, K, x, K, &beta, y,
				 N));
}

static void cu_matmul_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
			       int M, int N, int K)
{
	float one = 1;
	/* dx^T (K x M) += W^T (K x N) dy^T (N x M) */
	if (dx)
		CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, K, M, N, &one, w, K, dy, N,
					 &one, dx, K));
	/* dW^T (K x N) += x^T (K x M) dy (M x N) */
	if (dw)
		CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, K, N, M, &one, x, K, dy, N,
					 &one, dw, K));
}

/* ---- embedding ---- */

__global__ void k_embedding(float *out, const int32_t *idx, const float *wte, int n, int C)
{
	size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
	if (i < (size_t)n * C)
		out[i] = wte[(size_t)idx[i / C] * C + i % C];
}

/* One thread per column, tokens in order: repeated ids add up in the same
 * order every time. */
__global__ void k_embedding_backward(float *dwte, const float *dout, const int32_t *idx, int n, int C)
{
	int c = blockIdx.x * blockDim.x + threadIdx.x;
	if (c >= C)
		return;
	for (int i = 0; i < n; i++)
		dwte[(size_t)idx[i] * C + c] += dout[(size_t)i * C + c];
}

static void cu_embedding(float *out, const int32_t *idx, const float *wte, int n, int C)
{
	if (n <= 0)
		return;
	k_embedding<<<blocks((size_t)n * C, 256), 256>>>(out, idx, wte, n, C);
	CUDA_CHECK_LAUNCH();
}

static void cu_embedding_backward(float *dwte, const float *dout, const int32_t *idx, int n, int C)
{
	if (n <= 0)
		return;
	k_embedding_backward<<<blocks((size_t)C, 128), 128>>>(dwte, dout, idx, n, C);
	CUDA_CHECK_LAUNCH();
}

/* ---- RMSNorm: one block per row ---- */

__global__ void k_rmsnorm(float *out, float *rstd, const float *x, int C, float eps)
{
	__shared__ float red[32];
	const float *xi = x + (size_t)blockIdx.x * C;
	float ss = 0;
	for (int c = threadIdx.x; c < C; c += blockDim.x)
		ss += xi[c] * xi[c];
	ss = block_sum(ss, red);
	float r = 1.0f / sqrtf(ss / C + eps);
	if (threadIdx.x == 0)
		rstd[blockIdx.x] = r;
	for (int c = threadIdx.x; c < C; c += blockDim.x)
		out[(size_t)blockIdx.x * C + c] = xi[c] * r;
}

__global__ void k_rmsnorm_backward(float *dx, const float *dout, const float *out, const float *rstd, int C)
{
	__shared__ float red[32];
	size_t row = (size_t)blockIdx.x * C;
	float dot = 0;
	for (int c = threadIdx.x; c < C; c += blockDim.x)
		dot += dout[row + c] * out[row + c];
	dot = block_sum(dot, red) / C;
	float r = rstd[blockIdx.x];
	for (int c = threadIdx.x; c < C; c += blockDim.x)
		dx[row + c] += r * (dout[row + c] - out[row + c] * dot);
}

static unsigned row_threads(int C)
{
	return C >= 1024 ? 1024 : C >= 256 ? 256 : 32 * ((C + 31) / 32);
}

static void cu_rmsnorm(float *out, float *rstd, const float *x, int n, int C, float eps)
{
	if (n <= 0)
		return;
	k_rmsnorm<<<n, row_threads(C)>>>(out, rstd, x, C, eps);
	CUDA_CHECK_LAUNCH();
}

static void cu_rmsnorm_backward(float *dx, const float *dout, const float *out, const float *rstd,
				int n, int C)
{
	if (n <= 0)
		return;
	k_rmsnorm_backward<<<n, row_threads(C)>>>(dx, dout, out, rstd, C);
	CUDA_CHECK_LAUNCH();
}

/* ---- rotary ---- */

/* positions *at + t (at NULL: t) */
__global__ void k_rotary(float *x, const float *cos, const float *sin, int B, int T, int H, int D,
			 int inverse, const int *at)
{
	int half = D / 2;
	size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
	if (i >= (size_t)B * T * H * half)
		return;
	int k = (int)(i % half);
	size_t row = i / half;              /* (b, t, h) */
	int t = (int)(row / H % T) + (at ? *at : 0);
	float *v = x + row * D;
	float c = cos[(size_t)t * half + k], s = sin[(size_t)t * half + k];
	if (inverse)
		s = -s;
	float x1 = v[k], x2 = v[k + half];
	v[k] = x1 * c + x2 * s;
	v[k + half] = -x1 * s + x2 * c;
}

static void cu_rotary(float *x, const float *cos, const float *sin, int B, int T, int H, int D,
		      int inverse)
{
	if (T <= 0 || D < 2 || B <= 0 || H <= 0)
		return;
	k_rotary<<<blocks((size_t)B * T * H * (D / 2), 256), 256>>>(x, cos, sin, B, T, H, D, inverse, nullptr);
	CUDA_CHECK_LAUNCH();
}

static void cu_rotary_at(float *x, const float *cos, const float *sin, int B, int T, int H, int D,
			 const int *pos)
{
	if (T <= 0 || D < 2 || B <= 0 || H <= 0)
		return;
	k_rotary<<<blocks((size_t)B * T * H * (D / 2), 256), 256>>>(x, cos, sin, B, T, H, D, 0, pos);
	CUDA_CHECK_LAUNCH();
}


/* ---- softcapped cross-entropy: one block per row ---- */

__global__ void k_softcap_xent(float *logits, float *loss, const int32_t *targets, int V, float cap,
			       float grad_scale)
{
	__shared__ float red[32];
	float *z = logits + (size_t)blockIdx.x * V;
	float mx = -INFINITY;
	for (int j = threadIdx.x; j < V; j += blockDim.x) {
		z[j] = cap * tanhf(z[j] / cap);
		mx = fmaxf(mx, z[j]);
	}
	mx = block_max(mx, red);
	float sum = 0;
	for (int j = threadIdx.x; j < V; j += blockDim.x)
		sum += expf(z[j] - mx);
	sum = block_sum(sum, red);
	float lse = mx + logf(sum);
	int tg = targets[blockIdx.x];
	__syncthreads();   /* every thread has read z[tg] below before it changes */
	float zt = tg >= 0 ? z[tg] : 0;
	if (threadIdx.x == 0)
		loss[blockIdx.x] = tg >= 0 ? lse - zt : 0;
	__syncthreads();
	if (grad_scale == 0)
		return;
	for (int j = threadIdx.x; j < V; j += blockDim.x) {
		float c = z[j], g = tg >= 0 ? expf(c - lse) - (j == tg) : 0;
		z[j] = grad_scale * g * (1 - (c / cap) * (c / cap));
	}
}

static float *xent_host;
static size_t xent_host_cap;

static double cu_softcap_xent(float *logits, float *loss, const int32_t *targets, int n, int V,
			      float cap, float grad_scale)
{
	if (n <= 0)
		return 0;
	k_softcap_xent<<<n, 256>>>(logits, loss, targets, V, cap, grad_scale);
	CUDA_CHECK_LAUNCH();
	if ((size_t)n > xent_host_cap) {
		free(xent_host);
		xent_host = (float *)malloc((size_t)n * sizeof *xent_host);
		if (!xent_host) {
			fprintf(stderr, "nc: out of memory\n");
			exit(1);
		}
		xent_host_cap = n;
	}
	cu_download(xent_host, loss, (size_t)n * sizeof *xent_host);
	double total = 0;
	for (int i = 0; i < n; i++)
		total += xent_host[i];
	return total;
}

/* ---- the optimizer's steps: bit for bit the CPU ops (lib/ops_cpu_optim.c).
 * The _rn intrinsics keep nvcc from fusing a product into a later sum,
 * which the CPU code does not do; fmaf is fused on both sides. ---- */

__device__ float lerp_f(float a, float b, float w)
{
	return fabsf(w) < 0.5f ? fmaf(w, __fsub_rn(b, a), a) : fmaf(w - 1, __fsub_rn(b, a), b);
}

#define EACH(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
			i += (size_t)gridDim.x * blockDim.x)

static unsigned grid_for(size_t n)
{
	size_t b = blocks(n, 256);
	return (unsigned)(b < 4096 ? (b ? b : 1) : 4096);
}

__global__ void k_scale(float *x, size_t n, float a, int divide)
{
	EACH(i, n) x[i] = divide ? __fdiv_rn(x[i], a) : __fmul_rn(x[i], a);
}

static void cu_scale(float *x, size_t n, float a)
{
	if (!n)
		return;
	k_scale<<<grid_for(n), 256>>>(x, n, a, 0);
	CUDA_CHECK_LAUNCH();
}

static void cu_divide(float *x, size_t n, float d)
{
	if (!n)
		return;
	k_scale<<<grid_for(n), 256>>>(x, n, d, 1);
	CUDA_CHECK_LAUNCH();
}

/* Sum of squares in double, deterministic: each of a fixed number of
 * blocks sums its stride in order and halves its threads' sums in a fixed
 * tree; the host adds the blocks' sums in order. */
#define SUMSQ_BLOCKS 256
__global__ void k_sumsq(const float *x, size_t n, double *part)
{
	__shared__ double t[256];
	double s = 0;
	for (size_t i = blockIdx.x * (size_t)256 + threadIdx.x; i < n; i += (size_t)SUMSQ_BLOCKS * 256)
		s += (double)x[i] * x[i];
	t[threadIdx.x] = s;
	__syncthreads();
	for (int h = 128; h > 0; h >>= 1) {
		if ((int)threadIdx.x < h)
			t[threadIdx.x] += t[threadIdx.x + h];
		__syncthreads();
	}
	if (threadIdx.x == 0)
		part[blockIdx.x] = t[0];
}

static double *sumsq_part;

static double cu_sumsq(const float *x, size_t n)
{
	if (!n)
		return 0;
	if (!sumsq_part)
		sumsq_part = (double *)nc_cuda_alloc(SUMSQ_BLOCKS * sizeof(double));
	k_sumsq<<<SUMSQ_BLOCKS, 256>>>(x, n, sumsq_part);
	CUDA_CHECK_LAUNCH();
	double h[SUMSQ_BLOCKS], s = 0;
	cu_download(h, sumsq_part, sizeof h);
	for (int i = 0; i < SUMSQ_BLOCKS; i++)
		s += h[i];
	return s;
}

__global__ void k_transpose(float *dst, const float *src, int rows, int cols)
{
	__shared__ float tile[32][33];
	int c = blockIdx.x * 32 + threadIdx.x, r0 = blockIdx.y * 32;
	for (int k = threadIdx.y; k < 32; k += blockDim.y)
		if (r0 + k < rows && c < cols)
			tile[k][threadIdx.x] = src[(size_t)(r0 + k) * cols + c];
	__syncthreads();
	int r = r0 + threadIdx.x, c0 = blockIdx.x * 32;
	for (int k = threadIdx.y; k < 32; k += blockDim.y)
		if (c0 + k < cols && r < rows)
			dst[(size_t)(c0 + k) * rows + r] = tile[threadIdx.x][k];
}

static void cu_transpose(float *dst, const float *src, int rows, int cols)
{
	if (rows <= 0 || cols <= 0)
		return;
	dim3 grid((cols + 31) / 32, (rows + 31) / 32);
	k_transpose<<<grid, dim3(32, 8)>>>(dst, src, rows, cols);
	CUDA_CHECK_LAUNCH();
}

__global__ void k_to_bf16(uint16_t *dst, const float *src, size_t n)
{
	EACH(i, n) dst[i] = (uint16_t)(__float_as_uint(bf16_round(src[i])) >> 16);
}

__global__ void k_kv_store(float *cache, const float *x, int B, int T, int KV, int Tmax, const int *pos)
{
	EACH(i, (size_t)B * T * KV) {
		size_t row = i / KV;   /* (b, t) */
		int b = (int)(row / T), t = (int)(row % T);
		cache[((size_t)b * Tmax + *pos + t) * KV + i % KV] = x[i];
	}
}

static void cu_kv_store(float *cache, const float *x, int B, int T, int KV, int Tmax, const int *pos)
{
	size_t n = (size_t)B * T * KV;
	if (!n)
		return;
	k_kv_store<<<grid_for(n), 256>>>(cache, x, B, T, KV, Tmax, pos);
	CUDA_CHECK_LAUNCH();
}

__global__ void k_from_bf16(float *dst, const uint16_t *src, size_t n)
{
	EACH(i, n) dst[i] = __uint_as_float((unsigned)src[i] << 16);
}

static void cu_pack_bf16(uint16_t *dst, const float *src, size_t n)
{
	if (!n)
		return;
	k_to_bf16<<<grid_for(n), 256>>>(dst, src, n);
	CUDA_CHECK_LAUNCH();
}

static void cu_unpack_bf16(float *dst, const uint16_t *src, size_t n)
{
	if (!n)
		return;
	k_from_bf16<<<grid_for(n), 256>>>(dst, src, n);
	CUDA_CHECK_LAUNCH();
}

__global__ void k_round_bf16(float *x, size_t n)
{
	EACH(i, n) x[i] = bf16_round(x[i]);
}

static void cu_round_bf16(float *x, size_t n)
{
	if (!n)
		return;
	k_round_bf16<<<grid_for(n), 256>>>(x, n);
	CUDA_CHECK_LAUNCH();
}

__global__ void k_scale_to(float *y, float a, const float *x, size_t n, int bf16)
{
	EACH(i, n) {
		float v = __fmul_rn(a, x[i]);
		y[i] = bf16 ? bf16_round(v) : v;
	}
}

static void cu_scale_to(float *y, float a, const float *x, size_t n, int bf16)
{
	if (!n)
		return;
	k_scale_to<<<grid_for(n), 256>>>(y, a, x, n, bf16);
	CUDA_CHECK_LAUNCH();
}

__global__ void k_axpby(float *y, float a, const float *x, float b, size_t n, int bf16)
{
	EACH(i, n) {
		float ax = __fmul_rn(a, x[i]), by = __fmul_rn(b, y[i]);
		if (bf16)
			ax = bf16_round(ax), by = bf16_round(by);
		float v = __fadd_rn(ax, by);
		y[i] = bf16 ? bf16_round(v) : v;
	}
}

static void cu_axpby(float *y, float a, const float *x, float b, size_t n, int bf16)
{
	if (!n)
		return;
	k_axpby<<<grid_for(n), 256>>>(y, a, x, b, n, bf16);
	CUDA_CHECK_LAUNCH();
}

__global__ void k_divide_round(float *x, size_t n, float d, int bf16)
{
	EACH(i, n) {
		float v = __fdiv_rn(x[i], d);
		x[i] = bf16 ? bf16_round(v) : v;
	}
}

static void cu_normalize(float *x, size_t n, float eps, int bf16)
{
	if (!n)
		return;
	float norm = nc_ns_norm(cu_sumsq(x, n), eps, bf16);
	k_divide_round<<<grid_for(n), 256>>>(x, n, norm, bf16);
	CUDA_CHECK_LAUNCH();
}

__global__ void k_fma_into(float *y, float a, const float *x, size_t n)
{
	EACH(i, n) y[i] = fmaf(a, x[i], y[i]);
}

static void cu_fma_into(float *y, float a, const float *x, size_t n)
{
	if (!n)
		return;
	k_fma_into<<<grid_for(n), 256>>>(y, a, x, n);
	CUDA_CHECK_LAUNCH();
}

__global__ void k_momentum(float *out, const float *g, float *buf, size_t n, float w, float mu,
			   int nesterov)
{
	EACH(i, n) {
		float b = lerp_f(buf[i], g[i], w);
		buf[i] = b;
		out[i] = nesterov ? lerp_f(g[i], b, mu) : b;
	}
}

static void cu_momentum(float *out, const float *g, float *buf, size_t n, double mu, int nesterov)
{
	if (!n)
		return;
	k_momentum<<<grid_for(n), 256>>>(out, g, buf, n, (float)(1 - mu), (float)mu, nesterov);
	CUDA_CHECK_LAUNCH();
}

__global__ void k_adamw(float *p, const float *g, float *m, float *v, size_t n, nc_adamw_args a)
{
	EACH(i, n) {
		float gi = g[i], pi = a.decay_on ? __fmul_rn(p[i], a.decay) : p[i];
		float mi = lerp_f(m[i], gi, a.w1);
		float vi = fmaf(__fmul_rn(a.w2, gi), gi, __fmul_rn(v[i], a.b2));
		m[i] = mi;
		v[i] = vi;
		float den = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), a.bc2_sqrt), a.eps);
		p[i] = __fsub_rn(pi, __fdiv_rn(__fmul_rn(a.step, mi), den));
	}
}

static void cu_adamw(float *p, const float *g, float *m, float *v, size_t n, const struct nc_adamw_args *a)
{
	if (!n)
		return;
	k_adamw<<<grid_for(n), 256>>>(p, g, m, v, n, *a);
	CUDA_CHECK_LAUNCH();
}

/* ---- matrix products in bf16 (as nanochat's autocast): each operand
 * rounded to bf16 (to nearest even) on its way in, products accumulated
 * and written in fp32 by cuBLAS's tensor-core GEMM ---- */

static float *bf_x, *bf_w, *bf_dy;
static size_t bf_x_cap, bf_w_cap, bf_dy_cap;

/* src (n floats) as bf16 in a scratch buffer */
const uint16_t *nc_cuda_bf16(const float *src, size_t n, float **buf, size_t *cap)
{
	uint16_t *dst = (uint16_t *)nc_cuda_scratch(buf, cap, (n + 1) / 2);
	if (n) {
		k_to_bf16<<<grid_for(n), 256>>>(dst, src, n);
		CUDA_CHECK_LAUNCH();
	}
	return dst;
}

/* C (m x n, column-major, fp32) = op(A) op(B) + beta C with bf16 A and B */
static void gemm_bf16(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
		      const uint16_t *a, int lda, const uint16_t *b, int ldb, float beta, float *c, int ldc)
{
	float one = 1;
	CUBLAS_CHECK(cublasGemmEx(blas, ta, tb, m, n, k, &one, a, CUDA_R_16BF, lda, b, CUDA_R_16BF,
				  ldb, &beta, c, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F,
				  CUBLAS_GEMM_DEFAULT));
}

static void cu_matmul_bf16(float *y, const float *x, const float *w, int M, int N, int K, int acc)
{
	const uint16_t *xb = nc_cuda_bf16(x, (size_t)M * K, &bf_x, &bf_x_cap);
	const uint16_t *wb = nc_cuda_bf16(w, (size_t)N * K, &bf_w, &bf_w_cap);
	gemm_bf16(CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, wb, K, xb, K, acc ? 1.0f : 0.0f, y, N);
}

static void cu_matmul_backward_bf16(float *dx, float *dw, const float *dy, const float *x,
				    const float *w, int M, int N, int K)
{
	const uint16_t *dyb = nc_cuda_bf16(dy, (size_t)M * N, &bf_dy, &bf_dy_cap);
	if (dx)
		gemm_bf16(CUBLAS_OP_N, CUBLAS_OP_N, K, M, N, nc_cuda_bf16(w, (size_t)N * K, &bf_w, &bf_w_cap),
			  K, dyb, N, 1, dx, K);
	if (dw)
		gemm_bf16(CUBLAS_OP_N, CUBLAS_OP_T, K, N, M, nc_cuda_bf16(x, (size_t)M * K, &bf_x, &bf_x_cap),
			  K, dyb, N, 1, dw, K);
}

static size_t cu_mem_in_use(void)
{
	size_t avail = 0, total = 0;
	CUDA_CHECK(cudaMemGetInfo(&avail, &total));
	return total - avail;
}

/* ---- recording: CUDA graphs of the ops' stream ---- */

static void cu_record_begin(void)
{
	/* global: any call that cannot be recorded, anywhere, is an error */
	CUDA_CHECK(cudaStreamBeginCapture(NC_STREAM, cudaStreamCaptureModeGlobal));
}

static void *cu_record_end(void)
{
	cudaGraph_t g;
	cudaGraphExec_t e;
	CUDA_CHECK(cudaStreamEndCapture(NC_STREAM, &g));
	CUDA_CHECK(cudaGraphInstantiate(&e, g, 0));
	CUDA_CHECK(cudaGraphDestroy(g));
	return (void *)e;
}

static void cu_replay(void *rec)
{
	CUDA_CHECK(cudaGraphLaunch((cudaGraphExec_t)rec, NC_STREAM));
}

static void cu_forget(void *rec)
{
	if (rec)
		CUDA_CHECK(cudaGraphExecDestroy((cudaGraphExec_t)rec));
}

/* ---- the tables ---- */

/* table_plain: the fp32 table before NC_PROFILE wraps it, which the bf16
 * table starts from */
static struct nc_ops table, table_bf16, table_plain;

extern "C" int nc_cuda_devices(void)
{
	int n = 0;
	if (cudaGetDeviceCount(&n) != cudaSuccess) {
		cudaGetLastError();   /* no driver or no device: not an error here */
		return 0;
	}
	return n;
}

/* The rank's place on its node, as the launcher says (Open MPI, MPICH,
 * Slurm, torchrun's name), 0 without one. */
extern "C" int nc_cuda_local_rank(void)
{
	const char *vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID",
			      "LOCAL_RANK"};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		const char *v = getenv(vars[i]);
		if (v && *v)
			return atoi(v);
	}
	return 0;
}

extern "C" const struct nc_ops *nc_ops_cuda(void)
{
	if (table.name)
		return &table;
	int n = nc_cuda_devices();
	if (n < 1)
		return NULL;
	/* the ranks of a node each on a GPU of their own, by local rank */
	CUDA_CHECK(cudaSetDevice(nc_cuda_local_rank() % n));
	CUBLAS_CHECK(cublasCreate(&blas));
	CUBLAS_CHECK(cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH));   /* fp32, no TF32 */
	CUBLAS_CHECK(cublasSetStream(blas, NC_STREAM));
	/* a workspace of its own, so that nothing is allocated while a
	 * decode step is recorded (32 MiB, as cuBLAS advises for Hopper) */
	static void *workspace;
	size_t ws = (size_t)32 << 20;
	CUDA_CHECK(cudaMalloc(&workspace, ws));
	CUBLAS_CHECK(cublasSetWorkspace(blas, workspace, ws));
	table.name = "cuda";
	table.max_head_dim = NC_CUDA_MAX_HEAD_DIM;   /* the flash kernels' */
	table.alloc = nc_cuda_alloc;
	table.free = nc_cuda_free;
	table.zero = cu_zero;
	table.copy = cu_copy;
	table.add = cu_add;
	table.upload = cu_upload;
	table.download = cu_download;
	table.matmul = cu_matmul;
	table.matmul_backward = cu_matmul_backward;
	table.embedding = cu_embedding;
	table.embedding_backward = cu_embedding_backward;
	table.rmsnorm = cu_rmsnorm;
	table.rmsnorm_backward = cu_rmsnorm_backward;
	table.rotary = cu_rotary;
	table.rotary_at = cu_rotary_at;
	table.kv_store = cu_kv_store;
	table.attention = nc_cuda_attention;
	table.attention_backward = nc_cuda_attention_backward;
	table.attention_cached = nc_cuda_attention_cached;
	table.relu2 = cu_relu2;
	table.relu2_backward = cu_relu2_backward;
	table.softcap_xent = cu_softcap_xent;
	table.softcap = cu_softcap;
	table.scale = cu_scale;
	table.divide = cu_divide;
	table.sumsq = cu_sumsq;
	table.transpose = cu_transpose;
	table.scale_to = cu_scale_to;
	table.axpby = cu_axpby;
	table.round_bf16 = cu_round_bf16;
	table.normalize = cu_normalize;
	table.fma_into = cu_fma_into;
	table.momentum = cu_momentum;
	table.adamw = cu_adamw;
	table.pack_bf16 = cu_pack_bf16;
	table.unpack_bf16 = cu_unpack_bf16;
	table.record_begin = cu_record_begin;
	table.record_end = cu_record_end;
	table.replay = cu_replay;
	table.forget = cu_forget;
	table.mem_in_use = cu_mem_in_use;
	table_plain = table;
	nc_cuda_profile(&table, 0);
	return &table;
}

/* Tensor-core flash attention for the head sizes it takes, cuBLAS's
 * products a chunk of queries at a time for the others. */
static void cu_attention_bf16(float *out, float *lse, const float *q, const float *k, const float *v,
			      int B, int T, int H, int Hkv, int D)
{
	if (nc_cuda_attention_flash_bf16(out, lse, q, k, v, B, T, H, Hkv, D) != 0)
		nc_cuda_attention_gemm(out, lse, q, k, v, B, T, H, Hkv, D, 1);
}

static void cu_attention_backward_bf16(float *dq, float *dk, float *dv, const float *dout,
				       const float *out, const float *lse, const float *q, const float *k,
				       const float *v, int B, int T, int H, int Hkv, int D)
{
	if (nc_cuda_attention_flash_bf16_backward(dq, dk, dv, dout, out, lse, q, k, v, B, T, H, Hkv, D) != 0)
		nc_cuda_attention_gemm_backward(dq, dk, dv, dout, out, lse, q, k, v, B, T, H, Hkv, D, 1);
}

/* From kernels/comm_nccl.cu once NCCL is up (so that only what trains over
 * ranks links NCCL): its collectives into both tables. */
void nc_cuda_set_collectives(const struct nc_ops *c)
{
	for (struct nc_ops *t : {&table, &table_bf16, &table_plain}) {
		t->reduce_scatter_avg = c->reduce_scatter_avg;
		t->all_gather = c->all_gather;
		t->reduce_avg = c->reduce_avg;
		t->bcast = c->bcast;
	}
	nc_cuda_profile(&table, 0);
	if (table_bf16.name)
		nc_cuda_profile(&table_bf16, 1);
}

extern "C" const struct nc_ops *nc_ops_cuda_bf16(void)
{
	if (table_bf16.name)
		return &table_bf16;
	const struct nc_ops *t = nc_ops_cuda();
	if (!t)
		return NULL;
	table_bf16 = table_plain;
	table_bf16.name = "cuda-bf16";
	table_bf16.matmul = cu_matmul_bf16;
	table_bf16.matmul_backward = cu_matmul_backward_bf16;
	table_bf16.attention = cu_attention_bf16;
	table_bf16.attention_backward = cu_attention_backward_bf16;
	table_bf16.max_head_dim = 0;   /* larger heads go through cuBLAS's products */
	table_bf16.keep_bf16 = 1;   /* activations kept for backward as bf16 */
	nc_cuda_profile(&table_bf16, 1);
	return &table_bf16;
}
