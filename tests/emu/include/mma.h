/* Stands in for CUDA's <mma.h> under the emulator: the warp matrix
 * operations (nvcuda::wmma) for bf16 operands and fp32 accumulators.
 *
 * A fragment here holds the whole tile in every lane, and offers no
 * element access: the hardware spreads a tile over the lanes in an order
 * of its own, so a kernel that reads or writes fragment elements cannot
 * be checked here, and must not be written. Each operation is warp-wide,
 * as on the GPU: every lane of the warp must call it with the same
 * pointer and stride (the emulator stops the program otherwise), the
 * pointer 32-byte aligned and the stride a multiple of 16 bytes, as the
 * CUDA programming guide requires. The lanes share the work: each
 * computes every 32nd element for the whole warp. */
#ifndef NC_EMU_MMA_H
#define NC_EMU_MMA_H
#include "../cuda_emu.h"
#include "cuda_bf16.h"

/* The warp-wide step (tests/emu/cuda_emu.cpp): every lane publishes what
 * it holds, waits for the whole warp (and checks that every lane of it
 * called the same operation with the same pointer and stride), and gets
 * the 32 lanes' published pointers and its own lane number; after its
 * share of the work it calls emu_warp_op_end, which waits for the warp
 * again. */
struct emu_warp_call {
	const char *op;
	const void *mem;
	unsigned ldm;
	void *frag;      /* this lane's fragment (the destination for loads) */
	const void *a, *b, *c;   /* mma's sources, this lane's */
};
emu_warp_call *const *emu_warp_op_begin(const emu_warp_call *mine, int *lane);
void emu_warp_op_end(void);
void emu_wmma_check(const char *op, const void *mem, unsigned ldm, size_t elem);

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K> struct emu_shape;
template <int M, int N, int K> struct emu_shape<matrix_a, M, N, K> {
	enum { rows = M, cols = K };
};
template <int M, int N, int K> struct emu_shape<matrix_b, M, N, K> {
	enum { rows = K, cols = N };
};
template <int M, int N, int K> struct emu_shape<accumulator, M, N, K> {
	enum { rows = M, cols = N };
};

template <class Use, int M, int N, int K, class T, class Layout = void> class fragment {
public:
	enum { rows = emu_shape<Use, M, N, K>::rows, cols = emu_shape<Use, M, N, K>::cols };
	float emu_v[rows * cols];   /* row-major, the same in every lane */
};

static inline float emu_value(const __nv_bfloat16 &x) { return __bfloat162float(x); }
static inline float emu_value(const float &x) { return x; }

template <class L> struct emu_is_col {
	enum { v = 0 };
};
template <> struct emu_is_col<col_major> {
	enum { v = 1 };
};

/* element (r, c) of a tile at p with stride ldm, in either layout */
template <class S, class F>
static inline void emu_load(F **all, int lane, const S *p, unsigned ldm, int col)
{
	for (int i = lane; i < F::rows * F::cols; i += 32) {
		int r = i / F::cols, c = i % F::cols;
		float x = emu_value(col ? p[(size_t)c * ldm + r] : p[(size_t)r * ldm + c]);
		for (int l = 0; l < 32; l++)
			all[l]->emu_v[i] = x;
	}
}

template <class Use, int M, int N, int K, class T, class L, class S>
static inline void load_matrix_sync(fragment<Use, M, N, K, T, L> &f, const S *p, unsigned ldm)
{
	typedef fragment<Use, M, N, K, T, L> F;
	emu_wmma_check("load_matrix_sync", p, ldm, sizeof(S));
	emu_warp_call me = {"load_matrix_sync", p, ldm, &f, 0, 0, 0};
	int lane;
	emu_warp_call *const *all = emu_warp_op_begin(&me, &lane);
	F *frags[32];
	for (int l = 0; l < 32; l++)
		frags[l] = (F *)all[l]->frag;
	emu_load(frags, lane, p, ldm, emu_is_col<L>::v);
	emu_warp_op_end();
}

template <int M, int N, int K>
static inline void load_matrix_sync(fragment<accumulator, M, N, K, float> &f, const float *p,
				    unsigned ldm, layout_t layout)
{
	typedef fragment<accumulator, M, N, K, float> F;
	emu_wmma_check("load_matrix_sync", p, ldm, sizeof(float));
	emu_warp_call me = {"load_matrix_sync (accumulator)", p, ldm, &f, 0, 0, 0};
	int lane;
	emu_warp_call *const *all = emu_warp_op_begin(&me, &lane);
	F *frags[32];
	for (int l = 0; l < 32; l++)
		frags[l] = (F *)all[l]->frag;
	emu_load(frags, lane, p, ldm, layout == mem_col_major);
	emu_warp_op_end();
}

template <int M, int N, int K>
static inline void store_matrix_sync(float *p, const fragment<accumulator, M, N, K, float> &f,
				     unsigned ldm, layout_t layout)
{
	typedef fragment<accumulator, M, N, K, float> F;
	emu_wmma_check("store_matrix_sync", p, ldm, sizeof(float));
	emu_warp_call me = {"store_matrix_sync", p, ldm, 0, 0, 0, 0};
	int lane;
	emu_warp_op_begin(&me, &lane);
	for (int i = lane; i < F::rows * F::cols; i += 32) {
		int r = i / F::cols, c = i % F::cols;
		p[layout == mem_col_major ? (size_t)c * ldm + r : (size_t)r * ldm + c] = f.emu_v[i];
	}
	emu_warp_op_end();
}

/* not warp-wide on the GPU either: each lane fills its own part */
template <class Use, int M, int N, int K, class T, class L, class V>
static inline void fill_fragment(fragment<Use, M, N, K, T, L> &f, const V &v)
{
	for (int i = 0; i < fragment<Use, M, N, K, T, L>::rows * fragment<Use, M, N, K, T, L>::cols; i++)
		f.emu_v[i] = emu_value(v);
}

/* d = a b + c, products exact (bf16 by bf16), sums in fp32 */
template <int M, int N, int K, class T, class LA, class LB>
static inline void mma_sync(fragment<accumulator, M, N, K, float> &d,
			    const fragment<matrix_a, M, N, K, T, LA> &a,
			    const fragment<matrix_b, M, N, K, T, LB> &b,
			    const fragment<accumulator, M, N, K, float> &c)
{
	typedef fragment<accumulator, M, N, K, float> F;
	emu_warp_call me = {"mma_sync", 0, 0, &d, &a, &b, &c};
	int lane;
	emu_warp_call *const *all = emu_warp_op_begin(&me, &lane);
	/* a lane reads and writes only its own elements: d may be c */
	for (int i = lane; i < M * N; i += 32) {
		int r = i / N, col = i % N;
		float s = c.emu_v[i];
		for (int k = 0; k < K; k++)
			s += a.emu_v[r * K + k] * b.emu_v[k * N + col];
		for (int l = 0; l < 32; l++)
			((F *)all[l]->frag)->emu_v[i] = s;
	}
	emu_warp_op_end();
}

}   // namespace wmma
}   // namespace nvcuda

#endif
