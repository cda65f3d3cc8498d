/* The CPU ops in fp32: the reference the CUDA ops are checked against.
 * OpenMP across cores; matrix products through BLAS sgemm when nc is built
 * with one (NC_BLAS), else plain loops. */
#include "ops.h"
#include "ops_cpu_optim.h"
#include "fastmath.h"
#include "mem.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef NC_BLAS
#include <cblas.h>
#define GEMM cblas_sgemm
#endif
#define REAL float
#define OP(name) cpu_##name
#define FEXP nc_expf
#define FTANH nc_tanhf
/* The hot loops are built twice, for AVX2 and for any x86-64, and the
 * loader runs the one the CPU has (GCC's target_clones). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif
#define ROW_TARGET CLONES
#include "ops_cpu_impl.h"

const char *nc_cpu_blas_better_core(void)
{
#if defined(NC_BLAS) && defined(__x86_64__) && defined(__GNUC__)
	const char *now = openblas_get_corename();
	if (!now || strcasecmp(now, "prescott") != 0)
		return NULL;
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
	    __builtin_cpu_supports("avx512cd"))
		return "SkylakeX";
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return "Haswell";
#endif
	return NULL;
}

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

/* A few rows of x (decoding: one per sequence) against W: the threads split
 * W's rows, so that every weight is read from memory once and used for all
 * rows of x while it is in cache. sgemm instead splits x's rows and packs
 * the whole of W on every call, which costs 3x at one row. Every row's sum
 * runs in the same order however many rows there are, so a sequence's
 * logits do not depend on the batch it decodes in. */
#define FEW_ROWS 16

typedef float v8f __attribute__((vector_size(32)));

/* (vectors go through memory, never by value: no ABI that differs between
 * the clones below) */
#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v8f))

static inline float dot_finish(const v8f *sv, const float *x, const float *w, int k0, int K)
{
	const float *s = (const float *)sv;
	float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
	for (int k = k0; k < K; k++)
		t += x[k] * w[k];
	return t;
}

/* x . w over K, eight lanes at a time (inlined into each clone below) */
static inline __attribute__((always_inline)) float dot8(const float *x, const float *w, int K)
{
	int K8 = K & ~7;
	v8f s = {0};
	for (int k = 0; k < K8; k += 8) {
		v8f a, b;
		LOAD8(a, x + k);
		LOAD8(b, w + k);
		s += a * b;
	}
	return dot_finish(&s, x, w, K8, K);
}

/* a . b[i] for four vectors b[i] at once: four sums in flight instead of
 * one chain of dependent adds, each summed exactly as dot8 sums it (so
 * a result does not depend on which others it was computed with). */
static inline __attribute__((always_inline)) void dot8x4(float t[4], const float *a,
							  const float *const b[4], int K)
{
	int K8 = K & ~7;
	v8f s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
	for (int k = 0; k < K8; k += 8) {
		v8f av, b0, b1, b2, b3;
		LOAD8(av, a + k);
		LOAD8(b0, b[0] + k);
		LOAD8(b1, b[1] + k);
		LOAD8(b2, b[2] + k);
		LOAD8(b3, b[3] + k);
		s0 += b0 * av;
		s1 += b1 * av;
		s2 += b2 * av;
		s3 += b3 * av;
	}
	t[0] = dot_finish(&s0, b[0], a, K8, K);
	t[1] = dot_finish(&s1, b[1], a, K8, K);
	t[2] = dot_finish(&s2, b[2], a, K8, K);
	t[3] = dot_finish(&s3, b[3], a, K8, K);
}

/* W's rows n0..n1-1 against x's M rows. Four x rows at a time share each
 * weight row loaded; the rows left over (all of them at batch 1) take
 * four weight rows at a time. Either way each output is dot8's sum, so
 * the results do not depend on M. */
CLONES
static void few_rows(float *y, const float *x, const float *w, int M, int N, int K, int acc, int n0,
		     int n1)
{
	int M4 = M & ~3;
	for (int n = n0; n < n1; n += 4) {
		int nb = n1 - n < 4 ? n1 - n : 4;
		const float *wn = w + (size_t)n * K;
		float t[4];
		for (int j = 0; j < nb; j++)
			for (int m = 0; m < M4; m += 4) {
				const float *xs[4] = {x + (size_t)m * K, x + (size_t)(m + 1) * K,
						      x + (size_t)(m + 2) * K, x + (size_t)(m + 3) * K};
				dot8x4(t, wn + (size_t)j * K, xs, K);
				for (int r = 0; r < 4; r++) {
					float *yo = y + (size_t)(m + r) * N + n + j;
					*yo = acc ? *yo + t[r] : t[r];
				}
			}
		for (int m = M4; m < M; m++) {
			const float *xm = x + (size_t)m * K;
			if (nb == 4) {
				const float *ws[4] = {wn, wn + K, wn + 2 * (size_t)K, wn + 3 * (size_t)K};
				dot8x4(t, xm, ws, K);
			} else {
				for (int j = 0; j < nb; j++)
					t[j] = dot8(xm, wn + (size_t)j * K, K);
			}
			for (int j = 0; j < nb; j++) {
				float *yo = y + (size_t)m * N + n + j;
				*yo = acc ? *yo + t[j] : t[j];
			}
		}
	}
}

static void par_matmul(float *y, const float *x, const float *w, int M, int N, int K, int acc)
{
	if (M <= FEW_ROWS) {
		#pragma omp parallel if ((size_t)N * K >= 65536)
		{
			int lo, hi;
			rows_of(N, &lo, &hi);
			few_rows(y, x, w, M, N, K, acc, lo, hi);
		}
		return;
	}
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

/* Attention through sgemm, for many queries at once (training, prefill):
 * per (sequence, head), S = scale Q K^T over every key, the causal softmax
 * row by row, then O = P V. The masked half of S is computed and thrown
 * away, which sgemm's speed pays for many times over. Decoding (a query or
 * a few) keeps the loops in ops_cpu_impl.h. */
#define ATT_GEMM_MIN 16

/* Row t of S (keys 0..Tk-1): causal softmax over keys 0..last in place,
 * zero beyond; returns the log-sum-exp. */
static float softmax_row(float *s, int last, int Tk)
{
	float mx = -INFINITY, sum = 0;
	for (int j = 0; j <= last; j++)
		mx = fmaxf(mx, s[j]);
	#pragma omp simd reduction(+ : sum)
	for (int j = 0; j <= last; j++)
		sum += s[j] = nc_expf(s[j] - mx);
	for (int j = 0; j <= last; j++)
		s[j] /= sum;
	for (int j = last + 1; j < Tk; j++)
		s[j] = 0;
	return mx + logf(sum);
}

static void gemm_attend(float *out, float *lse, const float *q, const float *k, const float *v,
			int B, int Tq, int H, int Hkv, int D, int pos, int Tmax)
{
	blas_single_thread();
	int Tk = pos + Tq, group = H / Hkv;
	int qs = H * D, kvs = Hkv * D;
	float scale = 1 / sqrtf((float)D);
	#pragma omp parallel
	{
		float *S = nc_xmalloc((size_t)Tq * Tk * sizeof *S);
		#pragma omp for collapse(2) schedule(dynamic)
		for (int b = 0; b < B; b++)
			for (int h = 0; h < H; h++) {
				const float *Q = q + (size_t)b * Tq * qs + (size_t)h * D;
				size_t kv0 = (size_t)b * Tmax * kvs + (size_t)(h / group) * D;
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, D, scale, Q, qs,
					    k + kv0, kvs, 0, S, Tk);
				for (int t = 0; t < Tq; t++) {
					float l = softmax_row(S + (size_t)t * Tk, pos + t, Tk);
					if (lse)
						lse[((size_t)b * H + h) * Tq + t] = l;
				}
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, D, Tk, 1, S, Tk,
					    v + kv0, kvs, 0, out + (size_t)b * Tq * qs + (size_t)h * D, qs);
			}
		free(S);
	}
}

static void blas_attention(float *out, float *lse, const float *q, const float *k, const float *v,
			   int B, int T, int H, int Hkv, int D)
{
	if (T < ATT_GEMM_MIN)
		cpu_attention(out, lse, q, k, v, B, T, H, Hkv, D);
	else
		gemm_attend(out, lse, q, k, v, B, T, H, Hkv, D, 0, T);
}

/* One query (decoding) against keys and values 0..last of a cache whose
 * positions are kvs floats apart: the same sums as the loops in
 * ops_cpu_impl.h, in 8-float vectors (AVX2 where the CPU has it). p holds
 * last + 1 scores. */
CLONES
static void attend_one(float *o, float *p, const float *q, const float *k, const float *v, int last,
		       size_t kvs, int D, float scale)
{
	int D8 = D & ~7;
	float mx = -INFINITY, sum = 0;
	int j = 0;
	for (; j + 4 <= last + 1; j += 4) {
		const float *ks[4] = {k + (size_t)j * kvs, k + (size_t)(j + 1) * kvs,
				      k + (size_t)(j + 2) * kvs, k + (size_t)(j + 3) * kvs};
		float t[4];
		dot8x4(t, q, ks, D);
		for (int r = 0; r < 4; r++)
			p[j + r] = t[r] * scale;
	}
	for (; j <= last; j++)
		p[j] = dot8(q, k + (size_t)j * kvs, D) * scale;
	for (j = 0; j <= last; j++)
		mx = fmaxf(mx, p[j]);
	#pragma omp simd reduction(+ : sum)
	for (j = 0; j <= last; j++)
		sum += p[j] = nc_expf(p[j] - mx);
	for (int d = 0; d < D; d++)
		o[d] = 0;
	for (j = 0; j <= last; j++) {
		const float *vj = v + (size_t)j * kvs;
		float pj = p[j] / sum;
		int d = 0;
		for (; d < D8; d += 8) {
			v8f a, b;
			LOAD8(a, o + d);
			LOAD8(b, vj + d);
			a += pj * b;
			memcpy(o + d, &a, sizeof a);
		}
		for (; d < D; d++)
			o[d] += pj * vj[d];
	}
}

static void blas_attention_cached(float *out, const float *q, const float *k, const float *v, int B,
				  int Tq, int H, int Hkv, int D, const int *at, int Tmax)
{
	int pos = *at;
	if (Tq >= ATT_GEMM_MIN) {
		gemm_attend(out, NULL, q, k, v, B, Tq, H, Hkv, D, pos, Tmax);
		return;
	}
	size_t kvs = (size_t)Hkv * D;
	float scale = 1 / sqrtf((float)D);
	int group = H / Hkv;
	#pragma omp parallel if ((size_t)B * H * Tq * (pos + Tq) * D >= ((size_t)1 << 16))
	{
		float *p = nc_xmalloc((size_t)(pos + Tq) * sizeof *p);
		#pragma omp for collapse(3)
		for (int b = 0; b < B; b++)
			for (int h = 0; h < H; h++)
				for (int t = 0; t < Tq; t++) {
					size_t kv0 = (size_t)b * Tmax * kvs + (size_t)(h / group) * D;
					size_t qo = (((size_t)b * Tq + t) * H + h) * D;
					attend_one(out + qo, p, q + qo, k + kv0, v + kv0, pos + t, kvs, D, scale);
				}
		free(p);
	}
}

/* Backward per (sequence, kv head), so that each thread owns the dk and dv
 * rows it adds to, over the query heads sharing them: P again from the
 * saved log-sum-exp, dV += P^T dO, dP = dO V^T, dS = P (dP - rowsum(dO O))
 * scale, dQ += dS K, dK += dS^T Q. */
static void gemm_attention_backward(float *dq, float *dk, float *dv, const float *dout,
				    const float *out, const float *lse, const float *q, const float *k,
				    const float *v, int B, int T, int H, int Hkv, int D)
{
	blas_single_thread();
	int group = H / Hkv, qs = H * D, kvs = Hkv * D;
	float scale = 1 / sqrtf((float)D);
	#pragma omp parallel
	{
		float *P = nc_xmalloc((size_t)T * T * sizeof *P), *dP = nc_xmalloc((size_t)T * T * sizeof *dP);
		#pragma omp for collapse(2) schedule(dynamic)
		for (int b = 0; b < B; b++)
			for (int hk = 0; hk < Hkv; hk++) {
				size_t kv0 = (size_t)b * T * kvs + (size_t)hk * D;
				for (int h = hk * group; h < (hk + 1) * group; h++) {
					size_t q0 = (size_t)b * T * qs + (size_t)h * D;
					const float *l = lse + ((size_t)b * H + h) * T;
					cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, scale,
						    q + q0, qs, k + kv0, kvs, 0, P, T);
					for (int t = 0; t < T; t++) {
						float *p = P + (size_t)t * T;
						#pragma omp simd
						for (int j = 0; j <= t; j++)
							p[j] = nc_expf(p[j] - l[t]);
						for (int j = t + 1; j < T; j++)
							p[j] = 0;
					}
					cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, 1, P, T,
						    dout + q0, qs, 1, dv + kv0, kvs);
					cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, 1,
						    dout + q0, qs, v + kv0, kvs, 0, dP, T);
					for (int t = 0; t < T; t++) {
						const float *go = dout + q0 + (size_t)t * qs, *o = out + q0 + (size_t)t * qs;
						float delta = 0;
						for (int d = 0; d < D; d++)
							delta += go[d] * o[d];
						float *p = P + (size_t)t * T, *dp = dP + (size_t)t * T;
						for (int j = 0; j <= t; j++)
							dp[j] = p[j] * (dp[j] - delta) * scale;
						for (int j = t + 1; j < T; j++)
							dp[j] = 0;
					}
					cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, 1, dP, T,
						    k + kv0, kvs, 1, dq + q0, qs);
					cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, D, T, 1, dP, T,
						    q + q0, qs, 1, dk + kv0, kvs);
				}
			}
		free(P);
		free(dP);
	}
}

static void blas_attention_backward(float *dq, float *dk, float *dv, const float *dout,
				    const float *out, const float *lse, const float *q, const float *k,
				    const float *v, int B, int T, int H, int Hkv, int D)
{
	if (T < ATT_GEMM_MIN)
		cpu_attention_backward(dq, dk, dv, dout, out, lse, q, k, v, B, T, H, Hkv, D);
	else
		gemm_attention_backward(dq, dk, dv, dout, out, lse, q, k, v, B, T, H, Hkv, D);
}
#endif

static void *cpu_alloc(size_t bytes)
{
	return nc_xcalloc(1, bytes);
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

static void cpu_rotary_at(float *x, const float *cos, const float *sin, int B, int T, int H, int D,
			  const int *pos)
{
	size_t at = (size_t)*pos * (D / 2);
	cpu_rotary(x, cos + at, sin + at, B, T, H, D, 0);
}

static void cpu_kv_store(float *cache, const float *x, int B, int T, int KV, int Tmax, const int *pos)
{
	for (int b = 0; b < B; b++)
		memcpy(cache + ((size_t)b * Tmax + *pos) * KV, x + (size_t)b * T * KV,
		       (size_t)T * KV * sizeof *x);
}

static void cpu_add(float *y, const float *x, size_t n)
{
	#pragma omp parallel for if (n >= ((size_t)1 << 16))
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
	.host_memory = 1,
	.max_head_dim = 0,    /* any head size */
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
	.rotary_at = cpu_rotary_at,
	.kv_store = cpu_kv_store,
#ifdef NC_BLAS
	.attention = blas_attention,
	.attention_backward = blas_attention_backward,
	.attention_cached = blas_attention_cached,
#else
	.attention = cpu_attention,
	.attention_backward = cpu_attention_backward,
	.attention_cached = cpu_attention_cached,
#endif
	.relu2 = cpu_relu2,
	.relu2_backward = cpu_relu2_backward,
	.softcap_xent = cpu_softcap_xent_f,
	.softcap = cpu_softcap_f,
	.scale = nc_cpu_scale,
	.divide = nc_cpu_divide,
	.sumsq = nc_cpu_sumsq,
	.transpose = nc_cpu_transpose,
	.scale_to = nc_cpu_scale_to,
	.axpby = nc_cpu_axpby,
	.round_bf16 = nc_cpu_round_bf16,
	.normalize = nc_cpu_normalize,
	.fma_into = nc_cpu_fma_into,
	.momentum = nc_cpu_momentum,
	.adamw = nc_cpu_adamw,
	.pack_bf16 = nc_cpu_pack_bf16,
	.unpack_bf16 = nc_cpu_unpack_bf16,
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
