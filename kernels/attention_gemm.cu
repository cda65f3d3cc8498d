/* Training attention through cuBLAS, so that its products run on tensor
 * cores: the bf16 table's attention and attention_backward.
 *
 * Queries go CHUNK at a time. For a chunk [q0, q1) and the keys [0, q1)
 * it may see, one batched GEMM over (sequence, head) makes the scores, a
 * kernel masks them and takes the softmax (keeping the log-sum-exp), and a
 * second GEMM multiplies by V. Only a chunk's rows of scores exist at
 * once (B*H*CHUNK*T floats), never the whole T x T.
 *
 * Backward, per chunk: P again from the scores and the log-sum-exp;
 * dV += P^T dO; dP = dO V^T; dS = P (dP - delta) in place of P;
 * dQ += scale dS K; dK += scale dS^T Q. Query heads that share a kv head
 * add into the same dK and dV, so those products go one head of the group
 * at a time. No atomics: the same bits on every run.
 *
 * With bf16, Q, K, V, dO, P and dS enter the products as bf16 and every
 * product accumulates and writes fp32; without, all is fp32 (tests). */
#include <math.h>

#include <vector>

#include "cuda_common.h"

#define CHUNK 256

/* ---- the row kernels: a block per (chunk row, sequence x head) ---- */

static __device__ void put(void *p, size_t i, float x, int bf16)
{
	if (!bf16) {
		((float *)p)[i] = x;
		return;
	}
	((uint16_t *)p)[i] = (uint16_t)(__float_as_uint(bf16_round(x)) >> 16);
}

static __device__ float get(const void *p, size_t i, int bf16)
{
	return bf16 ? __uint_as_float((unsigned)((const uint16_t *)p)[i] << 16) : ((const float *)p)[i];
}

/* Row r of item i's scores S (rows x Lk): mask keys after q0 + r, softmax
 * into P (zeros where masked); lse of the row into lse (B,H,T). */
__global__ void k_chunk_softmax(void *P, float *lse, const float *S, int rows, int Lk, int q0, int T,
				int bf16)
{
	__shared__ float red[32];
	int r = blockIdx.x;
	size_t item = blockIdx.y, at = (item * rows + r) * (size_t)Lk;
	int last = q0 + r;   /* keys 0..last */
	float mx = -INFINITY;
	for (int j = threadIdx.x; j <= last; j += blockDim.x)
		mx = fmaxf(mx, S[at + j]);
	mx = block_max(mx, red);
	float sum = 0;
	for (int j = threadIdx.x; j <= last; j += blockDim.x)
		sum += expf(S[at + j] - mx);
	sum = block_sum(sum, red);
	for (int j = threadIdx.x; j < Lk; j += blockDim.x)
		put(P, at + j, j <= last ? expf(S[at + j] - mx) / sum : 0.0f, bf16);
	if (threadIdx.x == 0)
		lse[item * T + q0 + r] = mx + logf(sum);
}

/* Backward: P = exp(S - lse) where not masked, else 0 */
__global__ void k_chunk_probs(void *P, const float *lse, const float *S, int rows, int Lk, int q0,
			      int T, int bf16)
{
	int r = blockIdx.x;
	size_t item = blockIdx.y, at = (item * rows + r) * (size_t)Lk;
	int last = q0 + r;
	float l = lse[item * T + q0 + r];
	for (int j = threadIdx.x; j < Lk; j += blockDim.x)
		put(P, at + j, j <= last ? expf(S[at + j] - l) : 0.0f, bf16);
}

/* dS = P (dP - delta), over P in place */
__global__ void k_chunk_dscores(void *P, const float *dP, const float *delta, int rows, int Lk, int q0,
				int T, int bf16)
{
	int r = blockIdx.x;
	size_t item = blockIdx.y, at = (item * rows + r) * (size_t)Lk;
	float dl = delta[item * T + q0 + r];
	for (int j = threadIdx.x; j < Lk; j += blockDim.x)
		put(P, at + j, get(P, at + j, bf16) * (dP[at + j] - dl), bf16);
}

/* ---- batched products ---- */

/* The pointer arrays of one call's GEMMs, built on the host and sent to
 * the device once; a batch is three arrays (A, B, C) of n pointers. */
struct batches {
	std::vector<const void *> p;
	size_t add(size_t n)
	{
		size_t at = p.size();
		p.resize(at + 3 * n);
		return at;
	}
};

static float *ptr_buf;
static size_t ptr_cap;

static void **send(const batches &bt)
{
	size_t floats = (bt.p.size() * sizeof(void *) + sizeof(float) - 1) / sizeof(float);
	void **d = (void **)nc_cuda_scratch(&ptr_buf, &ptr_cap, floats ? floats : 1);
	CUDA_CHECK(cudaMemcpy(d, bt.p.data(), bt.p.size() * sizeof(void *), cudaMemcpyHostToDevice));
	return d;
}

/* C (m x n, column-major, fp32) = alpha op(A) op(B) + beta C for count
 * items: their A pointers at dev + at, B's stride further, C's 2 stride */
static void gemm_batch(void **dev, size_t at, size_t stride, int count, cublasOperation_t ta,
		       cublasOperation_t tb, int m, int n, int k, float alpha, int lda, int ldb, float beta,
		       int ldc, int bf16)
{
	cudaDataType_t t = bf16 ? CUDA_R_16BF : CUDA_R_32F;
	CUBLAS_CHECK(cublasGemmBatchedEx(nc_cuda_blas(), ta, tb, m, n, k, &alpha,
					 (const void *const *)dev + at, t, lda,
					 (const void *const *)dev + at + stride, t, ldb, &beta,
					 dev + at + 2 * stride, CUDA_R_32F, ldc, count,
					 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

/* the operands: element offsets into q (B,T,H,D), k/v (B,T,Hkv,D), the
 * chunk buffers (item, rows, Lk); es the operand element size */
struct shape {
	int B, T, H, Hkv, D, es;
	size_t qrow(int b, int t, int h) const { return (((size_t)b * T + t) * H + h) * D; }
	size_t kvrow(int b, int t, int hk) const { return (((size_t)b * T + t) * Hkv + hk) * D; }
};

static const void *at_bytes(const void *p, size_t elems, int es)
{
	return (const char *)p + elems * es;
}

static float *s_buf, *p_buf, *delta_buf, *bq, *bk, *bv, *bg;
static size_t s_cap, p_cap, delta_cap, bq_cap, bk_cap, bv_cap, bg_cap;

/* the operands as the products take them: bf16 copies, or the fp32 inputs */
static const void *operand(const float *x, size_t n, float **buf, size_t *cap, int bf16)
{
	return bf16 ? (const void *)nc_cuda_bf16(x, n, buf, cap) : (const void *)x;
}

extern "C" void nc_cuda_attention_gemm(float *out, float *lse, const float *q, const float *k, const float *v,
			  int B, int T, int H, int Hkv, int D, int bf16)
{
	if (B <= 0 || T <= 0)
		return;
	shape s = {B, T, H, Hkv, D, bf16 ? 2 : 4};
	int G = H / Hkv, items = B * H, rows = T < CHUNK ? T : CHUNK;
	size_t nq = (size_t)B * T * H * D, nk = (size_t)B * T * Hkv * D;
	const void *Q = operand(q, nq, &bq, &bq_cap, bf16), *K = operand(k, nk, &bk, &bk_cap, bf16);
	const void *V = operand(v, nk, &bv, &bv_cap, bf16);
	float *S = nc_cuda_scratch(&s_buf, &s_cap, (size_t)items * rows * T);
	void *P = nc_cuda_scratch(&p_buf, &p_cap, (size_t)items * rows * T);
	float scale = 1.0f / sqrtf((float)D);

	batches bt;
	std::vector<size_t> sc, ov;   /* per chunk: the batches' places */
	for (int q0 = 0; q0 < T; q0 += CHUNK) {
		int n = (T - q0 < CHUNK ? T - q0 : CHUNK), Lk = q0 + n;
		size_t a = bt.add(items), o = bt.add(items);
		for (int b = 0; b < B; b++)
			for (int h = 0; h < H; h++) {
				size_t i = (size_t)b * H + h, chunk = i * n * (size_t)Lk;
				bt.p[a + i] = at_bytes(K, s.kvrow(b, 0, h / G), s.es);
				bt.p[a + items + i] = at_bytes(Q, s.qrow(b, q0, h), s.es);
				bt.p[a + 2 * items + i] = S + chunk;
				bt.p[o + i] = at_bytes(V, s.kvrow(b, 0, h / G), s.es);
				bt.p[o + items + i] = at_bytes(P, chunk, s.es);
				bt.p[o + 2 * items + i] = out + s.qrow(b, q0, h);
			}
		sc.push_back(a);
		ov.push_back(o);
	}
	void **dev = send(bt);
	for (int q0 = 0, c = 0; q0 < T; q0 += CHUNK, c++) {
		int n = (T - q0 < CHUNK ? T - q0 : CHUNK), Lk = q0 + n;
		/* S^T (Lk x n) = K (Lk x D) Q^T: column-major views of row-major data */
		gemm_batch(dev, sc[c], items, items, CUBLAS_OP_T, CUBLAS_OP_N, Lk, n, D, scale, Hkv * D,
			   H * D, 0, Lk, bf16);
		k_chunk_softmax<<<dim3(n, items), 256>>>(P, lse, S, n, Lk, q0, T, bf16);
		CUDA_CHECK_LAUNCH();
		/* O^T (D x n) = V^T (D x Lk) P^T (Lk x n) */
		gemm_batch(dev, ov[c], items, items, CUBLAS_OP_N, CUBLAS_OP_N, D, n, Lk, 1, Hkv * D, Lk, 0,
			   H * D, bf16);
	}
}

extern "C" void nc_cuda_attention_gemm_backward(float *dq, float *dk, float *dv, const float *dout,
				   const float *out, const float *lse, const float *q, const float *k,
				   const float *v, int B, int T, int H, int Hkv, int D, int bf16)
{
	if (B <= 0 || T <= 0)
		return;
	shape s = {B, T, H, Hkv, D, bf16 ? 2 : 4};
	int G = H / Hkv, items = B * H, kitems = B * Hkv, rows = T < CHUNK ? T : CHUNK;
	size_t nq = (size_t)B * T * H * D, nk = (size_t)B * T * Hkv * D;
	const void *Q = operand(q, nq, &bq, &bq_cap, bf16), *K = operand(k, nk, &bk, &bk_cap, bf16);
	const void *V = operand(v, nk, &bv, &bv_cap, bf16), *dO = operand(dout, nq, &bg, &bg_cap, bf16);
	float *S = nc_cuda_scratch(&s_buf, &s_cap, (size_t)items * rows * T);
	void *P = nc_cuda_scratch(&p_buf, &p_cap, (size_t)items * rows * T);
	float *delta = nc_cuda_scratch(&delta_buf, &delta_cap, (size_t)items * T);
	float scale = 1.0f / sqrtf((float)D);
	nc_cuda_attention_delta(delta, dout, out, B, T, H, D);

	/* per chunk: scores, dP and dQ over every (b, h); dV and dK per head
	 * of a group over every (b, kv head) */
	struct places { size_t sc, dp, dq, dv, dk; };
	batches bt;
	std::vector<places> pl;
	for (int q0 = 0; q0 < T; q0 += CHUNK) {
		int n = (T - q0 < CHUNK ? T - q0 : CHUNK), Lk = q0 + n;
		places c = {bt.add(items), bt.add(items), bt.add(items), bt.add((size_t)G * kitems),
			    bt.add((size_t)G * kitems)};
		for (int b = 0; b < B; b++)
			for (int h = 0; h < H; h++) {
				size_t i = (size_t)b * H + h, chunk = i * n * (size_t)Lk;
				const void *Kb = at_bytes(K, s.kvrow(b, 0, h / G), s.es);
				const void *Vb = at_bytes(V, s.kvrow(b, 0, h / G), s.es);
				const void *Qc = at_bytes(Q, s.qrow(b, q0, h), s.es);
				const void *Gc = at_bytes(dO, s.qrow(b, q0, h), s.es);
				const void *Pc = at_bytes(P, chunk, s.es);
				const void *trio[5][3] = {
					{Kb, Qc, S + chunk},                 /* S^T = K Q^T */
					{Vb, Gc, S + chunk},                 /* dP^T = V dO^T */
					{Kb, Pc, dq + s.qrow(b, q0, h)},     /* dQ^T += K^T dS^T */
					{Gc, Pc, dv + s.kvrow(b, 0, h / G)}, /* dV^T += dO^T P */
					{Qc, Pc, dk + s.kvrow(b, 0, h / G)}, /* dK^T += Q^T dS */
				};
				/* kv products: batch g (the head's place in its
				 * group) holds items (b, kv head) */
				size_t kj = (size_t)(h % G) * kitems + (size_t)b * Hkv + h / G;
				size_t base[5] = {c.sc, c.dp, c.dq, c.dv, c.dk};
				for (int w = 0; w < 5; w++) {
					size_t j = w < 3 ? i : kj, cnt = w < 3 ? items : (size_t)G * kitems;
					for (int x = 0; x < 3; x++)
						bt.p[base[w] + x * cnt + j] = trio[w][x];
				}
			}
		pl.push_back(c);
	}
	void **dev = send(bt);
	size_t kc = (size_t)G * kitems;
	for (int q0 = 0, ci = 0; q0 < T; q0 += CHUNK, ci++) {
		int n = (T - q0 < CHUNK ? T - q0 : CHUNK), Lk = q0 + n;
		const places &c = pl[ci];
		/* S^T (Lk x n) = K Q^T, then P */
		gemm_batch(dev, c.sc, items, items, CUBLAS_OP_T, CUBLAS_OP_N, Lk, n, D, scale, Hkv * D,
			   H * D, 0, Lk, bf16);
		k_chunk_probs<<<dim3(n, items), 256>>>(P, lse, S, n, Lk, q0, T, bf16);
		CUDA_CHECK_LAUNCH();
		/* dV^T (D x Lk) += dO^T (D x n) P (n x Lk), one head of each group at a time */
		for (int g = 0; g < G; g++)
			gemm_batch(dev, c.dv + (size_t)g * kitems, kc, kitems, CUBLAS_OP_N, CUBLAS_OP_T, D, Lk,
				   n, 1, H * D, Lk, 1, Hkv * D, bf16);
		/* dP^T (Lk x n) = V dO^T, then dS over P */
		gemm_batch(dev, c.dp, items, items, CUBLAS_OP_T, CUBLAS_OP_N, Lk, n, D, 1, Hkv * D, H * D,
			   0, Lk, bf16);
		k_chunk_dscores<<<dim3(n, items), 256>>>(P, S, delta, n, Lk, q0, T, bf16);
		CUDA_CHECK_LAUNCH();
		/* dQ^T (D x n) += scale K^T dS^T */
		gemm_batch(dev, c.dq, items, items, CUBLAS_OP_N, CUBLAS_OP_N, D, n, Lk, scale, Hkv * D, Lk,
			   1, H * D, bf16);
		/* dK^T (D x Lk) += scale Q^T dS, one head of each group at a time */
		for (int g = 0; g < G; g++)
			gemm_batch(dev, c.dk + (size_t)g * kitems, kc, kitems, CUBLAS_OP_N, CUBLAS_OP_T, D, Lk,
				   n, scale, H * D, Lk, 1, Hkv * D, bf16);
	}
}
