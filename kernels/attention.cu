/* Causal attention on the GPU: lib/ops.h's attention ops, in fp32 (the
 * bf16 table trains through cuBLAS instead: kernels/attention_gemm.cu).
 *
 * Training runs flash-style tiles, so that the T x T scores never exist
 * in memory. A block holds 32 rows (queries; keys in the dk/dv pass) in
 * shared memory and walks the other side 32 columns at a time. Forward
 * keeps a running maximum and sum per query and leaves only the
 * log-sum-exp (B,H,T) for backward. Four threads share a row: each owns
 * every fourth column of the score tile and every fourth dimension of the
 * row's output, which stays in registers.
 *
 * Backward recomputes the scores twice: once by key tile for dk and dv
 * (summing, inside the block, over the query heads that share a kv head)
 * and once by query tile for dq. Every output element then has one
 * writer: no atomics, the same bits on every run.
 *
 * Inference against a KV cache (few queries, a long cache) keeps one
 * block per query with its scores in shared memory. */
#include <math.h>

#include "cuda_common.h"

#define TILE 32                        /* rows of a block, columns of a tile */
#define ROW_THREADS 4                  /* threads that share a row */
#define TILE_THREADS (TILE * ROW_THREADS)
#define COLS_PER_THREAD (TILE / ROW_THREADS)
#define FULL 0xffffffffu

/* Rows r0.. of a matrix (n rows, stride floats apart, D wide) into a
 * TILE x (D + 1) shared tile (the +1 keeps rows in different banks);
 * rows past n are zeros. */
__device__ void load_tile(float *tile, const float *src, size_t stride, int r0, int n, int D)
{
	int ld = D + 1;
	for (int i = threadIdx.x; i < TILE * D; i += blockDim.x) {
		int r = i / D, d = i % D;
		tile[r * ld + d] = r0 + r < n ? src[(size_t)(r0 + r) * stride + d] : 0.0f;
	}
}

__device__ float dot_rows(const float *a, const float *b, int D)
{
	float s = 0;
	for (int d = 0; d < D; d++)
		s += a[d] * b[d];
	return s;
}

/* across the four threads of a row (neighbouring lanes of one warp) */
__device__ float row_max(float v)
{
	v = fmaxf(v, __shfl_xor_sync(FULL, v, 1));
	return fmaxf(v, __shfl_xor_sync(FULL, v, 2));
}

__device__ float row_sum(float v)
{
	v += __shfl_xor_sync(FULL, v, 1);
	return v + __shfl_xor_sync(FULL, v, 2);
}

/* acc[i] (dimension c + 4i of the thread's row) += sum over the tile's
 * columns j of w[j] * m[j][d] */
template <int DPT>
__device__ void add_weighted_rows(float *acc, const float *w, const float *m, int c, int D)
{
#pragma unroll
	for (int i = 0; i < DPT; i++) {
		int d = c + ROW_THREADS * i;
		if (d < D) {
			float a = 0;
			for (int j = 0; j < TILE; j++)
				a += w[j] * m[j * (D + 1) + d];
			acc[i] += a;
		}
	}
}

/* dst[c + 4i] += acc[i]: a thread's dimensions of a row */
template <int DPT>
__device__ void add_row(float *dst, const float *acc, int c, int D)
{
#pragma unroll
	for (int i = 0; i < DPT; i++)
		if (c + ROW_THREADS * i < D)
			dst[c + ROW_THREADS * i] += acc[i];
}

/* ---- forward: a block per (32 queries, head, sequence) ---- */

template <int DPT>   /* output dimensions per thread: D <= 4 DPT */
__global__ void __launch_bounds__(TILE_THREADS)
k_flash_forward(float *out, float *lse, const float *q, const float *k, const float *v, int T, int H,
		int Hkv, int D)
{
	extern __shared__ float sm[];
	int ld = D + 1, pl = TILE + 1;
	float *sq = sm, *sk = sq + TILE * ld, *sv = sk + TILE * ld, *sp = sv + TILE * ld;
	int t0 = blockIdx.x * TILE, h = blockIdx.y, b = blockIdx.z, hk = h / (H / Hkv);
	int r = threadIdx.x / ROW_THREADS, c = threadIdx.x % ROW_THREADS, t = t0 + r;
	size_t qs = (size_t)H * D, kvs = (size_t)Hkv * D;
	const float *kb = k + (size_t)b * T * kvs + (size_t)hk * D;
	const float *vb = v + (size_t)b * T * kvs + (size_t)hk * D;
	float scale = 1.0f / sqrtf((float)D), m = -INFINITY, l = 0, acc[DPT];
#pragma unroll
	for (int i = 0; i < DPT; i++)
		acc[i] = 0;
	load_tile(sq, q + (size_t)b * T * qs + (size_t)h * D, qs, t0, T, D);
	int last = (T < t0 + TILE ? T : t0 + TILE) - 1;
	for (int j0 = 0; j0 <= last; j0 += TILE) {
		__syncthreads();   /* the last tile is read (and sq is in) */
		load_tile(sk, kb, kvs, j0, T, D);
		load_tile(sv, vb, kvs, j0, T, D);
		__syncthreads();
		float s[COLS_PER_THREAD], mx = -INFINITY;
		for (int i = 0; i < COLS_PER_THREAD; i++) {
			int j = c + ROW_THREADS * i;
			s[i] = j0 + j <= t && t < T ? dot_rows(sq + r * ld, sk + j * ld, D) * scale
						    : -INFINITY;
			mx = fmaxf(mx, s[i]);
		}
		float mnew = fmaxf(m, row_max(mx));
		float base = mnew == -INFINITY ? 0 : mnew;   /* rows past T see no scores */
		float corr = expf(m - base), sum = 0;
		for (int i = 0; i < COLS_PER_THREAD; i++) {
			float p = expf(s[i] - base);
			sp[r * pl + c + ROW_THREADS * i] = p;
			sum += p;
		}
		l = l * corr + row_sum(sum);
		m = mnew;
#pragma unroll
		for (int i = 0; i < DPT; i++)
			acc[i] *= corr;
		__syncthreads();
		add_weighted_rows<DPT>(acc, sp + r * pl, sv, c, D);
	}
	if (t >= T)
		return;
	float *o = out + ((size_t)b * T + t) * qs + (size_t)h * D;
#pragma unroll
	for (int i = 0; i < DPT; i++)
		if (c + ROW_THREADS * i < D)
			o[c + ROW_THREADS * i] = acc[i] / l;
	if (c == 0)
		lse[((size_t)b * H + h) * T + t] = m + logf(l);
}

/* ---- backward ---- */

/* delta = rowsum(dout * out) per (b, h, t): a warp per row */
__global__ void k_attention_delta(float *delta, const float *dout, const float *out, int T, int H,
				  int D, size_t rows)
{
	size_t i = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32;   /* (b, t, h) */
	int lane = threadIdx.x % 32;
	if (i >= rows)
		return;   /* the whole warp */
	float s = 0;
	for (int d = lane; d < D; d += 32)
		s += dout[i * D + d] * out[i * D + d];
	for (int o = 16; o > 0; o >>= 1)
		s += __shfl_xor_sync(FULL, s, o);
	int h = (int)(i % H), t = (int)(i / H % T);
	size_t b = i / H / T;
	if (lane == 0)
		delta[(b * H + h) * T + t] = s;
}

void nc_cuda_attention_delta(float *delta, const float *dout, const float *out, int B, int T, int H,
			   int D)
{
	size_t rows = (size_t)B * T * H;
	k_attention_delta<<<blocks(rows * 32, 256), 256>>>(delta, dout, out, T, H, D, rows);
	CUDA_CHECK_LAUNCH();
}

/* dk, dv: a block per (32 keys, kv head, sequence), over the query heads
 * of the kv head and the queries at or after each key */
template <int DPT>
__global__ void __launch_bounds__(TILE_THREADS)
k_flash_dkv(float *dk, float *dv, const float *dout, const float *lse, const float *delta,
	    const float *q, const float *k, const float *v, int T, int H, int Hkv, int D)
{
	extern __shared__ float sm[];
	int ld = D + 1, pl = TILE + 1;
	float *sk = sm, *sv = sk + TILE * ld, *sq = sv + TILE * ld, *sdo = sq + TILE * ld;
	float *sp = sdo + TILE * ld, *sds = sp + TILE * pl, *sl = sds + TILE * pl, *sd = sl + TILE;
	int j0 = blockIdx.x * TILE, hk = blockIdx.y, b = blockIdx.z, group = H / Hkv;
	int r = threadIdx.x / ROW_THREADS, c = threadIdx.x % ROW_THREADS, j = j0 + r;
	size_t qs = (size_t)H * D, kvs = (size_t)Hkv * D;
	float scale = 1.0f / sqrtf((float)D), ak[DPT], av[DPT];
#pragma unroll
	for (int i = 0; i < DPT; i++)
		ak[i] = av[i] = 0;
	load_tile(sk, k + (size_t)b * T * kvs + (size_t)hk * D, kvs, j0, T, D);
	load_tile(sv, v + (size_t)b * T * kvs + (size_t)hk * D, kvs, j0, T, D);
	for (int h = hk * group; h < (hk + 1) * group; h++) {
		const float *qb = q + (size_t)b * T * qs + (size_t)h * D;
		const float *gb = dout + (size_t)b * T * qs + (size_t)h * D;
		const float *lb = lse + ((size_t)b * H + h) * T, *db = delta + ((size_t)b * H + h) * T;
		for (int t0 = j0; t0 < T; t0 += TILE) {
			__syncthreads();
			load_tile(sq, qb, qs, t0, T, D);
			load_tile(sdo, gb, qs, t0, T, D);
			if (threadIdx.x < TILE) {
				int t = t0 + threadIdx.x;
				sl[threadIdx.x] = t < T ? lb[t] : 0;
				sd[threadIdx.x] = t < T ? db[t] : 0;
			}
			__syncthreads();
			for (int i = 0; i < COLS_PER_THREAD; i++) {
				int u = c + ROW_THREADS * i, t = t0 + u;
				float p = 0, ds = 0;
				if (t >= j && t < T) {
					p = expf(dot_rows(sk + r * ld, sq + u * ld, D) * scale - sl[u]);
					float dp = dot_rows(sv + r * ld, sdo + u * ld, D);
					ds = p * (dp - sd[u]) * scale;
				}
				sp[r * pl + u] = p;
				sds[r * pl + u] = ds;
			}
			__syncthreads();
			add_weighted_rows<DPT>(av, sp + r * pl, sdo, c, D);
			add_weighted_rows<DPT>(ak, sds + r * pl, sq, c, D);
		}
	}
	if (j >= T)
		return;
	size_t o = ((size_t)b * T + j) * kvs + (size_t)hk * D;
	add_row<DPT>(dk + o, ak, c, D);
	add_row<DPT>(dv + o, av, c, D);
}

/* dq: a block per (32 queries, head, sequence), over the keys up to each */
template <int DPT>
__global__ void __launch_bounds__(TILE_THREADS)
k_flash_dq(float *dq, const float *dout, const float *lse, const float *delta, const float *q,
	   const float *k, const float *v, int T, int H, int Hkv, int D)
{
	extern __shared__ float sm[];
	int ld = D + 1, pl = TILE + 1;
	float *sq = sm, *sdo = sq + TILE * ld, *sk = sdo + TILE * ld, *sv = sk + TILE * ld;
	float *sds = sv + TILE * ld;
	int t0 = blockIdx.x * TILE, h = blockIdx.y, b = blockIdx.z, hk = h / (H / Hkv);
	int r = threadIdx.x / ROW_THREADS, c = threadIdx.x % ROW_THREADS, t = t0 + r;
	size_t qs = (size_t)H * D, kvs = (size_t)Hkv * D, row = ((size_t)b * H + h) * T + t;
	const float *kb = k + (size_t)b * T * kvs + (size_t)hk * D;
	const float *vb = v + (size_t)b * T * kvs + (size_t)hk * D;
	float scale = 1.0f / sqrtf((float)D), acc[DPT];
	float lt = t < T ? lse[row] : 0, dt = t < T ? delta[row] : 0;
#pragma unroll
	for (int i = 0; i < DPT; i++)
		acc[i] = 0;
	load_tile(sq, q + (size_t)b * T * qs + (size_t)h * D, qs, t0, T, D);
	load_tile(sdo, dout + (size_t)b * T * qs + (size_t)h * D, qs, t0, T, D);
	int last = (T < t0 + TILE ? T : t0 + TILE) - 1;
	for (int j0 = 0; j0 <= last; j0 += TILE) {
		__syncthreads();
		load_tile(sk, kb, kvs, j0, T, D);
		load_tile(sv, vb, kvs, j0, T, D);
		__syncthreads();
		for (int i = 0; i < COLS_PER_THREAD; i++) {
			int j = c + ROW_THREADS * i;
			float ds = 0;
			if (j0 + j <= t && t < T) {
				float p = expf(dot_rows(sq + r * ld, sk + j * ld, D) * scale - lt);
				ds = p * (dot_rows(sdo + r * ld, sv + j * ld, D) - dt) * scale;
			}
			sds[r * pl + j] = ds;
		}
		__syncthreads();
		add_weighted_rows<DPT>(acc, sds + r * pl, sk, c, D);
	}
	if (t >= T)
		return;
	add_row<DPT>(dq + ((size_t)b * T + t) * qs + (size_t)h * D, acc, c, D);
}

/* ---- launches ---- */

template <class K> static void allow_shared(K *kernel, size_t bytes)
{
	if (bytes > 48 * 1024)
		CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
						(int)bytes));
}

static size_t tiles_bytes(int D, int tiles, int score_tiles, int vectors)
{
	return ((size_t)tiles * TILE * (D + 1) + (size_t)score_tiles * TILE * (TILE + 1) +
		(size_t)vectors * TILE) * sizeof(float);
}

/* The kernel instance for head size D; D is at most NC_CUDA_MAX_HEAD_DIM,
 * as the op table's max_head_dim tells nc_gpt_init, which refuses larger
 * heads before any step. */
#define BY_HEAD(D, f, ...) \
	((D) <= 32 ? f<8>(__VA_ARGS__) : (D) <= 64 ? f<16>(__VA_ARGS__) : f<32>(__VA_ARGS__))

template <int DPT>
static void flash_forward(float *out, float *lse, const float *q, const float *k, const float *v,
			  int B, int T, int H, int Hkv, int D)
{
	size_t smem = tiles_bytes(D, 3, 1, 0);
	allow_shared(k_flash_forward<DPT>, smem);
	dim3 grid(blocks(T, TILE), H, B);
	k_flash_forward<DPT><<<grid, TILE_THREADS, smem>>>(out, lse, q, k, v, T, H, Hkv, D);
	CUDA_CHECK_LAUNCH();
}

template <int DPT>
static void flash_backward(float *dq, float *dk, float *dv, const float *dout, const float *lse,
			   const float *delta, const float *q, const float *k, const float *v, int B,
			   int T, int H, int Hkv, int D)
{
	size_t smem = tiles_bytes(D, 4, 2, 2);
	allow_shared(k_flash_dkv<DPT>, smem);
	k_flash_dkv<DPT><<<dim3(blocks(T, TILE), Hkv, B), TILE_THREADS, smem>>>(
		dk, dv, dout, lse, delta, q, k, v, T, H, Hkv, D);
	CUDA_CHECK_LAUNCH();
	smem = tiles_bytes(D, 4, 1, 0);
	allow_shared(k_flash_dq<DPT>, smem);
	k_flash_dq<DPT><<<dim3(blocks(T, TILE), H, B), TILE_THREADS, smem>>>(dq, dout, lse, delta, q,
									   k, v, T, H, Hkv, D);
	CUDA_CHECK_LAUNCH();
}

void nc_cuda_attention(float *out, float *lse, const float *q, const float *k, const float *v, int B,
		     int T, int H, int Hkv, int D)
{
	if (B <= 0 || T <= 0)
		return;
	BY_HEAD(D, flash_forward, out, lse, q, k, v, B, T, H, Hkv, D);
}

static float *att_delta;
static size_t att_delta_cap;

void nc_cuda_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
			      const float *lse, const float *q, const float *k, const float *v, int B,
			      int T, int H, int Hkv, int D)
{
	if (B <= 0 || T <= 0)
		return;
	float *delta = nc_cuda_scratch(&att_delta, &att_delta_cap, (size_t)B * T * H);
	nc_cuda_attention_delta(delta, dout, out, B, T, H, D);
	BY_HEAD(D, flash_backward, dq, dk, dv, dout, lse, delta, q, k, v, B, T, H, Hkv, D);
}

/* ---- inference: one block per query, its scores in shared memory ---- */

__global__ void k_attend_cached(float *out, const float *q, const float *k, const float *v, int Tq,
				int H, int Hkv, int D, const int *at, int Tmax)
{
	extern __shared__ float p[];        /* Tmax scores, then 32 for reductions */
	int t = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
	int hk = h / (H / Hkv), last = *at + t;
	float *red = p + Tmax;
	size_t kvs = (size_t)Hkv * D;
	const float *qt = q + (((size_t)b * Tq + t) * H + h) * D;
	const float *kb = k + (size_t)b * Tmax * kvs + (size_t)hk * D;
	const float *vb = v + (size_t)b * Tmax * kvs + (size_t)hk * D;
	float scale = 1.0f / sqrtf((float)D), mx = -INFINITY;
	for (int j = threadIdx.x; j <= last; j += blockDim.x) {
		p[j] = dot_rows(qt, kb + (size_t)j * kvs, D) * scale;
		mx = fmaxf(mx, p[j]);
	}
	mx = block_max(mx, red);
	float sum = 0;
	for (int j = threadIdx.x; j <= last; j += blockDim.x) {
		p[j] = expf(p[j] - mx);
		sum += p[j];
	}
	sum = block_sum(sum, red);
	__syncthreads();
	float *o = out + (((size_t)b * Tq + t) * H + h) * D;
	for (int d = threadIdx.x; d < D; d += blockDim.x) {
		float acc = 0;
		for (int j = 0; j <= last; j++)
			acc += p[j] * vb[(size_t)j * kvs + d];
		o[d] = acc / sum;
	}
}

void nc_cuda_attention_cached(float *out, const float *q, const float *k, const float *v, int B,
			    int Tq, int H, int Hkv, int D, const int *pos, int Tmax)
{
	if (B <= 0 || Tq <= 0)
		return;
	/* the position is on the device: room for the whole cache's scores */
	size_t shared = ((size_t)Tmax + 32) * sizeof(float);
	allow_shared(k_attend_cached, shared);
	k_attend_cached<<<dim3(Tq, H, B), 128, shared>>>(out, q, k, v, Tq, H, Hkv, D, pos, Tmax);
	CUDA_CHECK_LAUNCH();
}
