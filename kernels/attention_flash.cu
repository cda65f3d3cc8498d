/* Training attention on tensor cores: the bf16 table's attention and
 * attention_backward for head sizes that are a multiple of 16 up to 128
 * (other sizes go through kernels/attention_gemm.cu).
 *
 * The layout of kernels/attention.cu's fp32 flash kernels, with the
 * products in nvcuda::wmma (16x16x16 tiles, bf16 operands, fp32
 * accumulation). A block of 4 warps holds 64 rows (queries; keys in the
 * dk/dv pass) and walks the other side 64 columns at a time; each warp owns
 * 16 of the rows, so that between the block-wide loads of a tile a warp
 * needs nobody else. q, k, v and dout arrive in fp32 (the op interface)
 * and are rounded to bf16 (to nearest even, as lib/bf16.h) on their way
 * into shared memory; so are the probabilities P and dS before their
 * products. Scores, the running maximum and sum, and every accumulator
 * stay fp32.
 *
 * No code here reads or writes fragment elements (the hardware's mapping
 * of a tile onto lanes is left alone): scores go to shared memory for the
 * softmax, and the forward's output, which the online softmax rescales row
 * by row, lives in shared memory too and enters each product as its
 * accumulator. Backward's accumulators (dq; dk and dv) need no rescaling
 * and stay in registers until the end. This is what the CUDA emulator
 * (tests/emu/include/mma.h) can check against the CPU.
 *
 * Forward: a block per (64 queries, head, sequence), over the key tiles up
 * to its last query (tiles above the diagonal are never loaded; inside
 * the diagonal tile a warp multiplies only the 16-key blocks its rows
 * see); keeps the log-sum-exp (B,H,T) for backward.
 * Backward, in two kernels so that every output element has one writer (no
 * atomics, the same bits on every run): dk and dv by key tile, summing
 * over the query heads of the kv head and the query tiles at or after the
 * keys; dq by query tile, over the key tiles up to it. Both recompute P
 * from the scores and the log-sum-exp.
 *
 * Budget at d20 on one H100 (B=32, T=2048, H=Hkv=10, D=128, 20 layers,
 * one 65,536-token micro-step), by arithmetic, not measured yet:
 *   FLOPs, causal: forward's 2 products are 2 x 2 x (T^2/2) D per (b, h),
 *   x B H x 20 layers = 6.9e12; backward's 7 products (dk/dv: S, dP, dV,
 *   dK; dq: S, dP, dQ: the deterministic split recomputes S and dP where
 *   FlashAttention-2's single pass has 5 products with atomic dq) are
 *   2.4e13. The diagonal tiles' masked half adds ~3%.
 *   Memory (fp32 at the op interface, 335 MB a tensor per layer): forward
 *   reads q, k, v and writes out, 1.3 GB per layer; backward reads q, k,
 *   v, dout in both kernels and out for delta, and adds into dq, dk, dv,
 *   5.4 GB: 134 GB per micro-step, ~45 ms at 3.0 TB/s, which the products
 *   can overlap (bf16 tensors between ops would halve it). k and v are
 *   read again by every query tile of their head (16 times on average,
 *   10.7 GB per layer), from L2: the 32 query tiles of a (head, sequence)
 *   are neighbouring blocks, and its k and v are 2 MB. No scores go to
 *   memory.
 *   Rate: WMMA issues mma.sync (not Hopper's wgmma), and this design
 *   stages scores and the forward's output through shared memory with 4
 *   warps a block: expected 150-300 TFLOP/s forward and 100-200
 *   backward, not FlashAttention-2's ~350/~250.
 *   Per micro-step:            forward      backward     together
 *     cuBLAS chunks (review)   61-86 ms     184-245 ms   245-330 ms
 *     these kernels            23-46 ms     120-240 ms   145-285 ms
 *     FA2-class (review)                                  ~75 ms
 *   The sure gains are the 1.3 GB of chunk scratch, the ~37 GB per layer
 *   of score traffic and the 40 synchronous pointer uploads per
 *   micro-step; the FLOP rate decides the rest. If backward is slow on
 *   the GPU, the next steps are a fused single-pass backward (dq by a
 *   deterministic second reduction over key tiles), 128-query tiles with
 *   8 warps, and keeping the forward's output in registers (which needs
 *   the fragments' element mapping, mma.sync in PTX, and an emulator that
 *   knows that mapping).
 * To be checked on the GPU: NC_PROFILE=1 nc-train at d20, device batch
 * 32, gives attention and attention_backward per call (20 of each per
 * micro-step); the estimate above is 1.2-2.3 ms and 6-12 ms per call.
 */
#include <math.h>

#include <cuda_bf16.h>
#include <mma.h>

#include "cuda_common.h"

using namespace nvcuda;

#define FB_ROWS 64                    /* rows of a block, columns of a tile */
#define FB_WARPS 4                    /* each owns 16 rows */
#define FB_THREADS (32 * FB_WARPS)
#define FB_SLD (FB_ROWS + 4)          /* stride of fp32 score tiles */
#define FB_PLD (FB_ROWS + 8)          /* stride of bf16 probability tiles */
#define FB_FULL 0xffffffffu

typedef __nv_bfloat16 bf16;
typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> frag_a;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> frag_b;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> frag_bt;
typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> frag_c;

static __device__ __forceinline__ bf16 to_bf16(float x)
{
	return __ushort_as_bfloat16((unsigned short)(__float_as_uint(bf16_round(x)) >> 16));
}

/* Rows r0.. of a matrix (n rows, stride floats apart, D wide) as bf16 into
 * a 64-row tile of stride ld; rows past n are zeros. */
static __device__ void load_bf16_tile(bf16 *tile, const float *src, size_t stride, int r0, int n,
				      int D, int ld)
{
	for (int i = threadIdx.x; i < FB_ROWS * D; i += blockDim.x) {
		int r = i / D, d = i % D;
		tile[r * ld + d] = to_bf16(r0 + r < n ? src[(size_t)(r0 + r) * stride + d] : 0.0f);
	}
}

/* C (16 x 16 blocks cn0..cn1 of a warp's 16 rows, fp32, stride ldc) =
 * A (16 x D, row-major at a) times B^T, B's 16-row blocks at b (rows of
 * stride ld): the scores of the warp's rows against a tile's rows. */
static __device__ void rows_times_rows(float *c, int ldc, const bf16 *a, const bf16 *b, int ld,
				       int cn0, int cn1, int D)
{
	for (int n = cn0; n < cn1; n++) {
		frag_c acc;
		wmma::fill_fragment(acc, 0.0f);
		for (int kk = 0; kk < D / 16; kk++) {
			frag_a fa;
			frag_bt fb;
			wmma::load_matrix_sync(fa, a + 16 * kk, ld);
			wmma::load_matrix_sync(fb, b + (size_t)16 * n * ld + 16 * kk, ld);
			wmma::mma_sync(acc, fa, fb, acc);
		}
		wmma::store_matrix_sync(c + 16 * n, acc, ldc, wmma::mem_row_major);
	}
}

/* acc[f] (the warp's 16 rows x dimensions 16f..16f+15) += P (16 x 16
 * blocks k0..k1 at p, stride FB_PLD) times M (the tile's rows, stride ld) */
template <int MAXF>
static __device__ void add_probs_times_rows(frag_c *acc, const bf16 *p, const bf16 *m, int ld, int k0,
					    int k1, int D)
{
#pragma unroll
	for (int f = 0; f < MAXF; f++) {
		if (f >= D / 16)
			break;
		for (int n = k0; n < k1; n++) {
			frag_a fa;
			frag_b fb;
			wmma::load_matrix_sync(fa, p + 16 * n, FB_PLD);
			wmma::load_matrix_sync(fb, m + (size_t)16 * n * ld + 16 * f, ld);
			wmma::mma_sync(acc[f], fa, fb, acc[f]);
		}
	}
}

/* dst rows (the warp's 16, those below n) += the 16 x D accumulators,
 * through the warp's staging rows in shared memory (stride D + 4) */
template <int MAXF>
static __device__ void add_rows_out(float *dst, size_t stride, int row0, int n, const frag_c *acc,
				    float *stage, int D)
{
	int ld = D + 4, lane = threadIdx.x % 32;
#pragma unroll
	for (int f = 0; f < MAXF; f++)
		if (f < D / 16)
			wmma::store_matrix_sync(stage + 16 * f, acc[f], ld, wmma::mem_row_major);
	__syncwarp();
	for (int i = lane; i < 16 * D; i += 32) {
		int r = i / D, d = i % D;
		if (row0 + r < n)
			dst[(size_t)(row0 + r) * stride + d] += stage[r * ld + d];
	}
	__syncwarp();
}

/* Shared memory, carved in 128-byte aligned pieces. */
struct carve {
	unsigned char *at;
	template <class T> __device__ T *take(size_t n)
	{
		T *p = (T *)at;
		at += (n * sizeof(T) + 127) / 128 * 128;
		return p;
	}
};

static size_t piece(size_t bytes)
{
	return (bytes + 127) / 128 * 128;
}

/* ---- forward: a block per (64 queries, head, sequence) ---- */

template <int MAXF>
__global__ void __launch_bounds__(FB_THREADS)
k_flash_bf16_forward(float *out, float *lse, const float *q, const float *k, const float *v, int T,
		     int H, int Hkv, int D)
{
	extern __shared__ __align__(128) unsigned char fb_smem[];
	int ld = D + 8, ldo = D + 4;
	carve cv = {fb_smem};
	bf16 *sq = cv.take<bf16>((size_t)FB_ROWS * ld), *sk = cv.take<bf16>((size_t)FB_ROWS * ld);
	bf16 *sv = cv.take<bf16>((size_t)FB_ROWS * ld);
	float *ss = cv.take<float>(FB_ROWS * FB_SLD);
	bf16 *sp = cv.take<bf16>(FB_ROWS * FB_PLD);
	float *so = cv.take<float>((size_t)FB_ROWS * ldo), *sl = cv.take<float>(FB_ROWS);
	int t0 = blockIdx.x * FB_ROWS, h = blockIdx.y, b = blockIdx.z, hk = h / (H / Hkv);
	int warp = threadIdx.x / 32, lane = threadIdx.x % 32, r0 = 16 * warp;
	int row = r0 + lane / 2, half = lane % 2, t = t0 + row;   /* two lanes a row */
	size_t qs = (size_t)H * D, kvs = (size_t)Hkv * D;
	const float *kb = k + (size_t)b * T * kvs + (size_t)hk * D;
	const float *vb = v + (size_t)b * T * kvs + (size_t)hk * D;
	float scale = 1.0f / sqrtf((float)D), m = -INFINITY, l = 0;
	load_bf16_tile(sq, q + (size_t)b * T * qs + (size_t)h * D, qs, t0, T, D, ld);
	for (int i = threadIdx.x; i < FB_ROWS * ldo; i += blockDim.x)
		so[i] = 0;
	int last = (T < t0 + FB_ROWS ? T : t0 + FB_ROWS) - 1;
	for (int j0 = 0; j0 <= last; j0 += FB_ROWS) {
		__syncthreads();   /* the last tile is read (and sq, so are in) */
		load_bf16_tile(sk, kb, kvs, j0, T, D, ld);
		load_bf16_tile(sv, vb, kvs, j0, T, D, ld);
		__syncthreads();
		/* the 16-key blocks the warp's rows see: none past its last row */
		int hi = t0 + r0 + 15 < last ? t0 + r0 + 15 : last;
		int nb = t0 + r0 >= T ? 0 : (hi - j0) / 16 + 1;
		nb = nb < FB_ROWS / 16 ? nb : FB_ROWS / 16;
		if (nb <= 0)
			continue;
		rows_times_rows(ss + r0 * FB_SLD, FB_SLD, sq + r0 * ld, sk, ld, 0, nb, D);
		__syncwarp();
		float s[FB_ROWS / 2], mx = -INFINITY;
		for (int i = 0; i < FB_ROWS / 2; i++) {
			int j = half * (FB_ROWS / 2) + i;
			s[i] = j < 16 * nb && j0 + j <= t && t < T ? ss[row * FB_SLD + j] * scale
								    : -INFINITY;
			mx = fmaxf(mx, s[i]);
		}
		float mnew = fmaxf(m, fmaxf(mx, __shfl_xor_sync(FB_FULL, mx, 1)));
		float base = mnew == -INFINITY ? 0 : mnew;   /* rows past T see no scores */
		float corr = expf(m - base), sum = 0;
		for (int i = 0; i < FB_ROWS / 2; i++) {
			int j = half * (FB_ROWS / 2) + i;
			float p = expf(s[i] - base);
			if (j < 16 * nb)
				sp[row * FB_PLD + j] = to_bf16(p);
			sum += p;
		}
		l = l * corr + sum + __shfl_xor_sync(FB_FULL, sum, 1);
		m = mnew;
		for (int d = half; d < D; d += 2)
			so[row * ldo + d] *= corr;
		__syncwarp();
		frag_c acc[MAXF];
#pragma unroll
		for (int f = 0; f < MAXF; f++)
			if (f < D / 16)
				wmma::load_matrix_sync(acc[f], so + r0 * ldo + 16 * f, ldo, wmma::mem_row_major);
		add_probs_times_rows<MAXF>(acc, sp + r0 * FB_PLD, sv, ld, 0, nb, D);
#pragma unroll
		for (int f = 0; f < MAXF; f++)
			if (f < D / 16)
				wmma::store_matrix_sync(so + r0 * ldo + 16 * f, acc[f], ldo, wmma::mem_row_major);
	}
	if (half == 0)
		sl[row] = l;
	if (half == 0 && t < T)
		lse[((size_t)b * H + h) * T + t] = m + logf(l);
	__syncwarp();
	float *ob = out + (size_t)b * T * qs + (size_t)h * D;
	for (int i = lane; i < 16 * D; i += 32) {
		int r = r0 + i / D, d = i % D;
		if (t0 + r < T)
			ob[(size_t)(t0 + r) * qs + d] = so[r * ldo + d] / sl[r];
	}
}

/* ---- backward ---- */

/* dk, dv: a block per (64 keys, kv head, sequence); a warp's 16 keys
 * against the query heads of the kv head and the queries at or after
 * them. S^T = K Q^T and dP^T = V dO^T by key row. */
template <int MAXF>
__global__ void __launch_bounds__(FB_THREADS)
k_flash_bf16_dkv(float *dk, float *dv, const float *dout, const float *lse, const float *delta,
		 const float *q, const float *k, const float *v, int T, int H, int Hkv, int D)
{
	extern __shared__ __align__(128) unsigned char fb_smem[];
	int ld = D + 8;
	carve cv = {fb_smem};
	bf16 *sk = cv.take<bf16>((size_t)FB_ROWS * ld), *sv = cv.take<bf16>((size_t)FB_ROWS * ld);
	bf16 *sq = cv.take<bf16>((size_t)FB_ROWS * ld), *sdo = cv.take<bf16>((size_t)FB_ROWS * ld);
	float *sst = cv.take<float>(FB_ROWS * FB_SLD), *sdpt = cv.take<float>(FB_ROWS * FB_SLD);
	bf16 *spt = cv.take<bf16>(FB_ROWS * FB_PLD), *sdst = cv.take<bf16>(FB_ROWS * FB_PLD);
	float *sl = cv.take<float>(FB_ROWS), *sd = cv.take<float>(FB_ROWS);
	int j0 = blockIdx.x * FB_ROWS, hk = blockIdx.y, b = blockIdx.z, group = H / Hkv;
	int warp = threadIdx.x / 32, lane = threadIdx.x % 32, r0 = 16 * warp;
	int row = r0 + lane / 2, half = lane % 2, j = j0 + row;
	size_t qs = (size_t)H * D, kvs = (size_t)Hkv * D;
	float scale = 1.0f / sqrtf((float)D);
	frag_c ak[MAXF], av[MAXF];
#pragma unroll
	for (int f = 0; f < MAXF; f++)
		wmma::fill_fragment(ak[f], 0.0f), wmma::fill_fragment(av[f], 0.0f);
	load_bf16_tile(sk, k + (size_t)b * T * kvs + (size_t)hk * D, kvs, j0, T, D, ld);
	load_bf16_tile(sv, v + (size_t)b * T * kvs + (size_t)hk * D, kvs, j0, T, D, ld);
	for (int h = hk * group; h < (hk + 1) * group; h++) {
		const float *qb = q + (size_t)b * T * qs + (size_t)h * D;
		const float *gb = dout + (size_t)b * T * qs + (size_t)h * D;
		const float *lb = lse + ((size_t)b * H + h) * T, *db = delta + ((size_t)b * H + h) * T;
		for (int t0 = j0; t0 < T; t0 += FB_ROWS) {
			__syncthreads();
			load_bf16_tile(sq, qb, qs, t0, T, D, ld);
			load_bf16_tile(sdo, gb, qs, t0, T, D, ld);
			if (threadIdx.x < FB_ROWS) {
				int u = t0 + threadIdx.x;
				sl[threadIdx.x] = u < T ? lb[u] : 0;
				sd[threadIdx.x] = u < T ? db[u] : 0;
			}
			__syncthreads();
			/* the 16-query blocks that hold a query at or after the
			 * warp's first key, and before T */
			int lo = j0 + r0 > t0 ? (j0 + r0 - t0) / 16 : 0;
			int hi = (T - t0 + 15) / 16;
			hi = hi < FB_ROWS / 16 ? hi : FB_ROWS / 16;
			if (j0 + r0 >= T || lo >= hi)
				continue;
			rows_times_rows(sst + r0 * FB_SLD, FB_SLD, sk + r0 * ld, sq, ld, lo, hi, D);
			rows_times_rows(sdpt + r0 * FB_SLD, FB_SLD, sv + r0 * ld, sdo, ld, lo, hi, D);
			__syncwarp();
			for (int i = 0; i < FB_ROWS / 2; i++) {
				int u = half * (FB_ROWS / 2) + i, t = t0 + u;
				if (u < 16 * lo || u >= 16 * hi)
					continue;
				float p = 0, ds = 0;
				if (t >= j && t < T) {
					p = expf(sst[row * FB_SLD + u] * scale - sl[u]);
					ds = p * (sdpt[row * FB_SLD + u] - sd[u]) * scale;
				}
				spt[row * FB_PLD + u] = to_bf16(p);
				sdst[row * FB_PLD + u] = to_bf16(ds);
			}
			__syncwarp();
			add_probs_times_rows<MAXF>(av, spt + r0 * FB_PLD, sdo, ld, lo, hi, D);
			add_probs_times_rows<MAXF>(ak, sdst + r0 * FB_PLD, sq, ld, lo, hi, D);
		}
	}
	__syncthreads();   /* every warp is done with sq and sdo: they stage the results */
	float *stage = (float *)sq + (size_t)r0 * (D + 4);
	size_t o = (size_t)b * T * kvs + (size_t)hk * D;
	add_rows_out<MAXF>(dk + o, kvs, j0 + r0, T, ak, stage, D);
	add_rows_out<MAXF>(dv + o, kvs, j0 + r0, T, av, stage, D);
}

/* dq: a block per (64 queries, head, sequence), over the keys up to each;
 * dS = P (dP - delta) scale, dq += dS K */
template <int MAXF>
__global__ void __launch_bounds__(FB_THREADS)
k_flash_bf16_dq(float *dq, const float *dout, const float *lse, const float *delta, const float *q,
		const float *k, const float *v, int T, int H, int Hkv, int D)
{
	extern __shared__ __align__(128) unsigned char fb_smem[];
	int ld = D + 8;
	carve cv = {fb_smem};
	bf16 *sq = cv.take<bf16>((size_t)FB_ROWS * ld), *sdo = cv.take<bf16>((size_t)FB_ROWS * ld);
	bf16 *sk = cv.take<bf16>((size_t)FB_ROWS * ld), *sv = cv.take<bf16>((size_t)FB_ROWS * ld);
	float *ss = cv.take<float>(FB_ROWS * FB_SLD), *sdp = cv.take<float>(FB_ROWS * FB_SLD);
	bf16 *sds = cv.take<bf16>(FB_ROWS * FB_PLD);
	int t0 = blockIdx.x * FB_ROWS, h = blockIdx.y, b = blockIdx.z, hk = h / (H / Hkv);
	int warp = threadIdx.x / 32, lane = threadIdx.x % 32, r0 = 16 * warp;
	int row = r0 + lane / 2, half = lane % 2, t = t0 + row;
	size_t qs = (size_t)H * D, kvs = (size_t)Hkv * D, at = ((size_t)b * H + h) * T + t;
	const float *kb = k + (size_t)b * T * kvs + (size_t)hk * D;
	const float *vb = v + (size_t)b * T * kvs + (size_t)hk * D;
	float scale = 1.0f / sqrtf((float)D);
	float lt = t < T ? lse[at] : 0, dt = t < T ? delta[at] : 0;
	frag_c acc[MAXF];
#pragma unroll
	for (int f = 0; f < MAXF; f++)
		wmma::fill_fragment(acc[f], 0.0f);
	load_bf16_tile(sq, q + (size_t)b * T * qs + (size_t)h * D, qs, t0, T, D, ld);
	load_bf16_tile(sdo, dout + (size_t)b * T * qs + (size_t)h * D, qs, t0, T, D, ld);
	int last = (T < t0 + FB_ROWS ? T : t0 + FB_ROWS) - 1;
	for (int j0 = 0; j0 <= last; j0 += FB_ROWS) {
		__syncthreads();
		load_bf16_tile(sk, kb, kvs, j0, T, D, ld);
		load_bf16_tile(sv, vb, kvs, j0, T, D, ld);
		__syncthreads();
		int hi = t0 + r0 + 15 < last ? t0 + r0 + 15 : last;
		int nb = t0 + r0 >= T ? 0 : (hi - j0) / 16 + 1;
		nb = nb < FB_ROWS / 16 ? nb : FB_ROWS / 16;
		if (nb <= 0)
			continue;
		rows_times_rows(ss + r0 * FB_SLD, FB_SLD, sq + r0 * ld, sk, ld, 0, nb, D);
		rows_times_rows(sdp + r0 * FB_SLD, FB_SLD, sdo + r0 * ld, sv, ld, 0, nb, D);
		__syncwarp();
		for (int i = 0; i < FB_ROWS / 2; i++) {
			int jj = half * (FB_ROWS / 2) + i;
			if (jj >= 16 * nb)
				break;
			float ds = 0;
			if (j0 + jj <= t && t < T) {
				float p = expf(ss[row * FB_SLD + jj] * scale - lt);
				ds = p * (sdp[row * FB_SLD + jj] - dt) * scale;
			}
			sds[row * FB_PLD + jj] = to_bf16(ds);
		}
		__syncwarp();
		add_probs_times_rows<MAXF>(acc, sds + r0 * FB_PLD, sk, ld, 0, nb, D);
	}
	__syncthreads();   /* every warp is done with ss and sdp: they stage the result */
	float *stage = ss + (size_t)r0 * (D + 4);
	add_rows_out<MAXF>(dq + (size_t)b * T * qs + (size_t)h * D, qs, t0 + r0, T, acc, stage, D);
}

/* ---- launches ---- */

static size_t tile_bytes(int D)
{
	return piece((size_t)FB_ROWS * (D + 8) * sizeof(bf16));
}

static size_t forward_bytes(int D)
{
	return 3 * tile_bytes(D) + piece(FB_ROWS * FB_SLD * 4) + piece(FB_ROWS * FB_PLD * 2) +
	       piece((size_t)FB_ROWS * (D + 4) * 4) + piece(FB_ROWS * 4);
}

static size_t dkv_bytes(int D)
{
	return 4 * tile_bytes(D) + 2 * piece(FB_ROWS * FB_SLD * 4) + 2 * piece(FB_ROWS * FB_PLD * 2) +
	       2 * piece(FB_ROWS * 4);
}

static size_t dq_bytes(int D)
{
	return 4 * tile_bytes(D) + 2 * piece(FB_ROWS * FB_SLD * 4) + piece(FB_ROWS * FB_PLD * 2);
}

template <class K> static void allow(K *kernel, size_t bytes)
{
	if (bytes > 48 * 1024)
		CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
						(int)bytes));
}

template <int MAXF>
static void flash_forward(float *out, float *lse, const float *q, const float *k, const float *v,
			  int B, int T, int H, int Hkv, int D)
{
	size_t smem = forward_bytes(D);
	allow(k_flash_bf16_forward<MAXF>, smem);
	k_flash_bf16_forward<MAXF><<<dim3(blocks(T, FB_ROWS), H, B), FB_THREADS, smem>>>(
		out, lse, q, k, v, T, H, Hkv, D);
	CUDA_CHECK_LAUNCH();
}

template <int MAXF>
static void flash_backward(float *dq, float *dk, float *dv, const float *dout, const float *lse,
			   const float *delta, const float *q, const float *k, const float *v, int B,
			   int T, int H, int Hkv, int D)
{
	size_t smem = dkv_bytes(D);
	allow(k_flash_bf16_dkv<MAXF>, smem);
	k_flash_bf16_dkv<MAXF><<<dim3(blocks(T, FB_ROWS), Hkv, B), FB_THREADS, smem>>>(
		dk, dv, dout, lse, delta, q, k, v, T, H, Hkv, D);
	CUDA_CHECK_LAUNCH();
	smem = dq_bytes(D);
	allow(k_flash_bf16_dq<MAXF>, smem);
	k_flash_bf16_dq<MAXF><<<dim3(blocks(T, FB_ROWS), H, B), FB_THREADS, smem>>>(
		dq, dout, lse, delta, q, k, v, T, H, Hkv, D);
	CUDA_CHECK_LAUNCH();
}

/* the instance for D: 4 fragments of 16 dimensions up to 64, else 8 */
#define FB_BY_HEAD(D, f, ...) ((D) <= 64 ? f<4>(__VA_ARGS__) : f<8>(__VA_ARGS__))

extern "C" int nc_cuda_flash_bf16_takes(int D)
{
	return D > 0 && D % 16 == 0 && D <= NC_CUDA_FLASH_BF16_MAX_HEAD_DIM;
}

extern "C" int nc_cuda_attention_flash_bf16(float *out, float *lse, const float *q, const float *k,
					    const float *v, int B, int T, int H, int Hkv, int D)
{
	if (!nc_cuda_flash_bf16_takes(D))
		return -1;
	if (B > 0 && T > 0)
		FB_BY_HEAD(D, flash_forward, out, lse, q, k, v, B, T, H, Hkv, D);
	return 0;
}

static float *fb_delta;
static size_t fb_delta_cap;

extern "C" int nc_cuda_attention_flash_bf16_backward(float *dq, float *dk, float *dv, const float *dout,
						     const float *out, const float *lse, const float *q,
						     const float *k, const float *v, int B, int T, int H,
						     int Hkv, int D)
{
	if (!nc_cuda_flash_bf16_takes(D))
		return -1;
	if (B <= 0 || T <= 0)
		return 0;
	float *delta = nc_cuda_scratch(&fb_delta, &fb_delta_cap, (size_t)B * T * H);
	nc_cuda_attention_delta(delta, dout, out, B, T, H, D);
	FB_BY_HEAD(D, flash_backward, dq, dk, dv, dout, lse, delta, q, k, v, B, T, H, Hkv, D);
	return 0;
}
