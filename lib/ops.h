/* The op interface: every compute step of the model, forward and backward,
 * behind one table of functions, so that the model (lib/gpt.c) is written
 * once and runs on the CPU (lib/ops_cpu.c) or CUDA (kernels/) below it.
 * This is the one place where behaviour is chosen at run time.
 *
 * Layouts are row-major. Activations of a batch of B sequences of T tokens
 * are (B*T, C). Matrices follow PyTorch's Linear: W is (out, in) and
 * y = x W^T. Backward functions add into gradient buffers (+=) unless
 * said otherwise, so that a residual stream collects its gradients. */
#ifndef NC_OPS_H
#define NC_OPS_H

#include <stddef.h>
#include <stdint.h>

/* One AdamW step's constants, computed on the host (lib/optim.c):
 * p = p * decay (if decay_on); m = lerp(m, g, w1); v = fma(w2 g, g, v b2);
 * p -= step * m / (sqrt(v) / bc2_sqrt + eps). */
struct nc_adamw_args {
	float step, bc2_sqrt, eps, w1, b2, w2, decay;
	int decay_on;
};

struct nc_ops {
	const char *name;
	int host_memory;      /* 1 if the host can read and write ops memory */
	/* The largest head size D its attention ops take (0: any). A model
	 * with larger heads is refused when it is set up (nc_gpt_init), not
	 * midway through a step. */
	int max_head_dim;
	void *(*alloc)(size_t bytes);            /* zeroed */
	void (*free)(void *p);
	void (*zero)(float *x, size_t n);
	void (*copy)(float *dst, const float *src, size_t n);
	void (*add)(float *y, const float *x, size_t n);         /* y += x */
	/* Between host memory and ops memory (a plain copy on the CPU). */
	void (*upload)(void *dst, const void *src, size_t bytes);
	void (*download)(void *dst, const void *src, size_t bytes);

	/* y[M,N] = x[M,K] W[N,K]^T (acc: y +=) */
	void (*matmul)(float *y, const float *x, const float *w, int M, int N, int K, int acc);
	/* dx[M,K] += dy W (if dx); dw[N,K] += dy^T x (if dw) */
	void (*matmul_backward)(float *dx, float *dw, const float *dy, const float *x,
				const float *w, int M, int N, int K);

	/* out[n,C] = wte[idx[n]] */
	void (*embedding)(float *out, const int32_t *idx, const float *wte, int n, int C);
	/* dwte[idx[n]] += dout[n] */
	void (*embedding_backward)(float *dwte, const float *dout, const int32_t *idx, int n, int C);

	/* RMSNorm without gain over rows of C: out = x / sqrt(mean(x^2) + eps);
	 * rstd[n] keeps the scale for backward. */
	void (*rmsnorm)(float *out, float *rstd, const float *x, int n, int C, float eps);
	/* dx += d out / dx . dout, from out and rstd */
	void (*rmsnorm_backward)(float *dx, const float *dout, const float *out, const float *rstd,
				 int n, int C);

	/* Rotary embedding in place on x (B*T rows of H heads of D), position
	 * t0 + t, nanochat's half-split pairing and sign (spec §2.3):
	 * y1 = x1 cos + x2 sin, y2 = -x1 sin + x2 cos. cos and sin are (T, D/2),
	 * in ops memory (made once by the model, not per call).
	 * inverse: the inverse rotation, which is also the backward. */
	void (*rotary)(float *x, const float *cos, const float *sin, int B, int T, int H, int D,
		       int inverse);

	/* Causal attention. q (B,T,H,D), k and v (B,T,Hkv,D), out (B,T,H,D);
	 * head h reads kv head h / (H / Hkv); scale 1/sqrt(D). lse (B,H,T)
	 * keeps the softmax's log-sum-exp for backward. */
	void (*attention)(float *out, float *lse, const float *q, const float *k, const float *v,
			  int B, int T, int H, int Hkv, int D);
	/* dq, dk, dv += ... (dk and dv summed over the heads that share them) */
	void (*attention_backward)(float *dq, float *dk, float *dv, const float *dout,
				   const float *out, const float *lse, const float *q, const float *k,
				   const float *v, int B, int T, int H, int Hkv, int D);

	/* Inference with a KV cache. The position is read from ops memory
	 * (*pos), so that a recorded decode step (record_begin below) replays
	 * at whatever position the cache has reached.
	 * attention_cached: q is (B,Tq,H,D) at positions pos..pos+Tq-1; row
	 * b's cache holds Tmax positions of (Hkv,D) at k + b*Tmax*Hkv*D, the
	 * first pos+Tq of them filled; query t attends to cache positions
	 * 0..pos+t. out (B,Tq,H,D).
	 * rotary_at: rotary (forward) of x (B,T,H,D) at positions pos + t,
	 * from tables (Tmax, D/2) that start at position 0.
	 * kv_store: x (B,T,KV) into the cache (B,Tmax,KV) at positions
	 * pos..pos+T-1 of each row. */
	void (*attention_cached)(float *out, const float *q, const float *k, const float *v, int B,
				 int Tq, int H, int Hkv, int D, const int *pos, int Tmax);
	void (*rotary_at)(float *x, const float *cos, const float *sin, int B, int T, int H, int D,
			  const int *pos);
	void (*kv_store)(float *cache, const float *x, int B, int T, int KV, int Tmax, const int *pos);

	/* y = relu(x)^2 ; dx += 2 relu(x) dy */
	void (*relu2)(float *y, const float *x, size_t n);
	void (*relu2_backward)(float *dx, const float *dy, const float *x, size_t n);

	/* Softcapped cross-entropy over rows of V logits: c = cap*tanh(z/cap),
	 * loss[i] = logsumexp(c) - c[target[i]] (0 where target < 0). With
	 * grad_scale != 0 the logits are overwritten by d(grad_scale * sum of
	 * losses)/dz. Returns the sum of the losses. */
	double (*softcap_xent)(float *logits, float *loss, const int32_t *targets, int n, int V,
			       float cap, float grad_scale);
	/* Softcap only (inference): logits = cap*tanh(logits/cap). */
	void (*softcap)(float *logits, size_t n, float cap);

	/* The optimizer's steps (lib/optim.c), so that it runs where the
	 * weights are. Rounded exactly as the CPU ops, which match torch bit
	 * for bit (lerp and the update as fused multiply-adds, IEEE division
	 * and square root). bf16: round each result to bf16, as nanochat's
	 * bf16 Newton–Schulz does. */
	void (*scale)(float *x, size_t n, float a);                      /* x *= a */
	void (*divide)(float *x, size_t n, float d);                     /* x /= d */
	double (*sumsq)(const float *x, size_t n);                       /* sum of x^2, in double */
	void (*transpose)(float *dst, const float *src, int rows, int cols);
	void (*scale_to)(float *y, float a, const float *x, size_t n, int bf16);   /* y = a x */
	/* y = a x + b y, each product and the sum rounded when bf16 */
	void (*axpby)(float *y, float a, const float *x, float b, size_t n, int bf16);
	void (*round_bf16)(float *x, size_t n);
	/* x /= sqrt(sum x^2) + eps (bf16: the norm and the sum rounded too) */
	void (*normalize)(float *x, size_t n, float eps, int bf16);
	void (*fma_into)(float *y, float a, const float *x, size_t n);  /* y = fma(a, x, y) */
	/* Muon's momentum: buf = lerp(buf, g, 1 - mu); out = lerp(g, buf, mu)
	 * with nesterov, else buf. */
	void (*momentum)(float *out, const float *g, float *buf, size_t n, double mu, int nesterov);
	void (*adamw)(float *p, const float *g, float *m, float *v, size_t n,
		      const struct nc_adamw_args *a);

	/* Activations the model keeps from forward for backward: keep_bf16
	 * says this table keeps them as bf16, half the memory, as nanochat's
	 * autocast keeps its bf16 tensors (the forward itself stays fp32).
	 * pack_bf16 rounds n floats to bf16 bits (to nearest even, NaNs stay
	 * NaN), unpack_bf16 widens them back exactly. */
	int keep_bf16;
	void (*pack_bf16)(uint16_t *dst, const float *src, size_t n);
	void (*unpack_bf16)(float *dst, const uint16_t *src, size_t n);

	/* Recording (CUDA graphs; NULL where launches cost nothing, the CPU):
	 * between record_begin and record_end the ops are recorded, not run,
	 * and replay runs the recording again, reading whatever the memory
	 * holds then. Nothing may be allocated, uploaded or downloaded while
	 * recording. The model records decode steps (nc_gpt_step). */
	void (*record_begin)(void);
	void *(*record_end)(void);
	void (*replay)(void *rec);
	void (*forget)(void *rec);

	/* Bytes of device memory in use (all processes'), NULL where ops
	 * memory is the host's. */
	size_t (*mem_in_use)(void);

	/* Collectives between the ranks of a run, over ops memory (NCCL on
	 * GPUs, once nc_cuda_nccl_init has run; NULL on the CPU, whose ranks
	 * use MPI on host memory). Meanings as lib/comm.h's of the same names,
	 * which call these when the run's nc_comm has this table as dev. */
	int (*reduce_scatter_avg)(const float *send, float *recv, size_t n);
	int (*all_gather)(float *x, size_t n);
	int (*reduce_avg)(const float *send, float *recv, size_t n, int root);
	int (*bcast)(float *x, size_t n, int root);
};

extern const struct nc_ops nc_ops_cpu;

/* OpenBLAS chooses its kernels by CPU model as it loads; a model newer than
 * the library (or renamed by a hypervisor) can get its generic SSE3 ones
 * ("Prescott"), about 3x slower than the AVX-512 ones. When that happened
 * on a CPU that has AVX-512 or AVX2, the name of the kernels to ask for
 * with OPENBLAS_CORETYPE ("SkylakeX", "Haswell"), which OpenBLAS reads only
 * as it loads: a tool must start again to use them. NULL otherwise, and in
 * a build without BLAS. */
const char *nc_cpu_blas_better_core(void);

/* Rotary tables as nanochat computes them in fp32: inv_freq[i] =
 * 1/base^(2i/D), angle t*inv_freq[i] for t in [t0, t0+T); cos and sin are
 * (T, D/2). Host memory (the model uploads them to ops memory). */
void nc_rotary_tables(float *cos, float *sin, int T, int D, int t0, float base);

/* Newton–Schulz's norm from the sum of squares: sqrt + eps, rounded as
 * nanochat's bf16 when bf16. Every table's normalize uses it, so that the
 * CPU and CUDA ops round alike (lib/ops_cpu_optim.c). */
float nc_ns_norm(double sumsq, float eps, int bf16);

#endif
