/* The CPU ops, written once over a real type: included by lib/ops_cpu.c
 * with REAL = float (the reference implementation) and by the unit tests
 * with REAL = double (for finite-difference gradient checks). The includer
 * defines REAL, OP(name) (the function name for this type) and GEMM (a
 * cblas gemm for REAL, or leaves it undefined for plain loops). */
#include <string.h>
#include <tgmath.h>   /* exp, log, tanh, sqrt in the precision of REAL */

/* e^x and tanh in the loss: the includer may give versions that vectorize
 * (lib/fastmath.h for float), and ROW_TARGET the targets to build the
 * loss's row loop for. */
#ifndef FEXP
#define FEXP exp
#define FTANH tanh
#endif
#ifndef ROW_TARGET
#define ROW_TARGET
#endif

/* Below these many elements an op runs on one thread: starting the team
 * costs more than it saves, and far more when the cores are busy (a
 * thread that is not scheduled holds up every barrier). */
#define PAR_CHEAP ((size_t)1 << 16)     /* a few flops an element */
#define PAR_DEAR  ((size_t)1 << 12)     /* exp, tanh */

/* y[M,N] (=|+=) x[M,K] W[N,K]^T */
__attribute__((unused)) static void OP(matmul)(REAL *y, const REAL *x, const REAL *w, int M, int N, int K, int acc)
{
#ifdef GEMM
	GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, x, K, w, K, acc ? 1 : 0, y, N);
#else
	#pragma omp parallel for
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++) {
			REAL s = 0;
			for (int k = 0; k < K; k++)
				s += x[(size_t)i * K + k] * w[(size_t)j * K + k];
			y[(size_t)i * N + j] = acc ? y[(size_t)i * N + j] + s : s;
		}
#endif
}

__attribute__((unused)) static void OP(matmul_backward)(REAL *dx, REAL *dw, const REAL *dy, const REAL *x, const REAL *w,
				int M, int N, int K)
{
#ifdef GEMM
	if (dx)
		GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1, dy, N, w, K, 1, dx, K);
	if (dw)
		GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1, dy, N, x, K, 1, dw, K);
#else
	if (dx) {
		#pragma omp parallel for
		for (int i = 0; i < M; i++)
			for (int j = 0; j < N; j++)
				for (int k = 0; k < K; k++)
					dx[(size_t)i * K + k] += dy[(size_t)i * N + j] * w[(size_t)j * K + k];
	}
	if (dw) {
		#pragma omp parallel for
		for (int j = 0; j < N; j++)
			for (int i = 0; i < M; i++)
				for (int k = 0; k < K; k++)
					dw[(size_t)j * K + k] += dy[(size_t)i * N + j] * x[(size_t)i * K + k];
	}
#endif
}

static void OP(embedding)(REAL *out, const int32_t *idx, const REAL *wte, int n, int C)
{
	#pragma omp parallel for if ((size_t)n * C >= PAR_CHEAP)
	for (int i = 0; i < n; i++)
		memcpy(out + (size_t)i * C, wte + (size_t)idx[i] * C, C * sizeof(REAL));
}

static void OP(embedding_backward)(REAL *dwte, const REAL *dout, const int32_t *idx, int n, int C)
{
	/* Rows may repeat: accumulate serially over tokens, in parallel over C. */
	for (int i = 0; i < n; i++) {
		REAL *d = dwte + (size_t)idx[i] * C;
		const REAL *g = dout + (size_t)i * C;
		for (int c = 0; c < C; c++)
			d[c] += g[c];
	}
}

static void OP(rmsnorm)(REAL *out, REAL *rstd, const REAL *x, int n, int C, REAL eps)
{
	#pragma omp parallel for if ((size_t)n * C >= PAR_CHEAP)
	for (int i = 0; i < n; i++) {
		const REAL *xi = x + (size_t)i * C;
		REAL ss = 0;
		for (int c = 0; c < C; c++)
			ss += xi[c] * xi[c];
		REAL r = 1 / sqrt(ss / C + eps);
		rstd[i] = r;
		for (int c = 0; c < C; c++)
			out[(size_t)i * C + c] = xi[c] * r;
	}
}

/* y = x r: dx = r (dy - y mean(dy y)) */
static void OP(rmsnorm_backward)(REAL *dx, const REAL *dout, const REAL *out, const REAL *rstd,
				 int n, int C)
{
	#pragma omp parallel for if ((size_t)n * C >= PAR_CHEAP)
	for (int i = 0; i < n; i++) {
		const REAL *dy = dout + (size_t)i * C, *y = out + (size_t)i * C;
		REAL dot = 0;
		for (int c = 0; c < C; c++)
			dot += dy[c] * y[c];
		dot /= C;
		for (int c = 0; c < C; c++)
			dx[(size_t)i * C + c] += rstd[i] * (dy[c] - y[c] * dot);
	}
}

static void OP(rotary)(REAL *x, const float *cos, const float *sin, int B, int T, int H, int D,
		       int inverse)
{
	int half = D / 2;
	#pragma omp parallel for collapse(2) if ((size_t)B * T * H * D >= PAR_CHEAP)
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++) {
			const float *c = cos + (size_t)t * half, *s = sin + (size_t)t * half;
			for (int h = 0; h < H; h++) {
				REAL *v = x + (((size_t)b * T + t) * H + h) * D;
				for (int i = 0; i < half; i++) {
					REAL x1 = v[i], x2 = v[i + half], sn = inverse ? -s[i] : s[i];
					v[i] = x1 * c[i] + x2 * sn;
					v[i + half] = -x1 * sn + x2 * c[i];
				}
			}
		}
}

/* One query row against keys 0..t: scores into p (t+1), softmax in place;
 * returns the log-sum-exp of the scaled scores. */
static REAL OP(attn_row)(REAL *p, const REAL *q, const REAL *k, int t, size_t kstride, int D,
			 REAL scale)
{
	REAL mx = -INFINITY;
	for (int j = 0; j <= t; j++) {
		const REAL *kj = k + (size_t)j * kstride;
		REAL s = 0;
		#pragma omp simd reduction(+ : s)
		for (int d = 0; d < D; d++)
			s += q[d] * kj[d];
		p[j] = s * scale;
		if (p[j] > mx)
			mx = p[j];
	}
	REAL sum = 0;
	for (int j = 0; j <= t; j++) {
		p[j] = exp(p[j] - mx);
		sum += p[j];
	}
	for (int j = 0; j <= t; j++)
		p[j] /= sum;
	return mx + log(sum);
}

/* Queries q (B,Tq,H,D) at positions pos..pos+Tq-1 against keys and values
 * of Tmax positions per row (row b at k + b*Tmax*Hkv*D); query t sees
 * positions 0..pos+t. lse (B,H,Tq), if given, keeps each softmax's
 * log-sum-exp. Training's attention is the case pos 0, Tq = Tmax = T. */
static void OP(attend)(REAL *out, REAL *lse, const REAL *q, const REAL *k, const REAL *v, int B,
		       int Tq, int H, int Hkv, int D, int pos, int Tmax)
{
	REAL scale = 1 / sqrt((REAL)D);
	int group = H / Hkv;
	size_t kvs = (size_t)Hkv * D;
	#pragma omp parallel if ((size_t)B * H * Tq * (pos + Tq) * D >= PAR_CHEAP)
	{
		REAL *p = malloc((size_t)(pos + Tq) * sizeof *p);
		#pragma omp for collapse(3)
		for (int b = 0; b < B; b++)
			for (int h = 0; h < H; h++)
				for (int t = 0; t < Tq; t++) {
					int hk = h / group, last = pos + t;
					const REAL *qt = q + (((size_t)b * Tq + t) * H + h) * D;
					const REAL *kb = k + (size_t)b * Tmax * kvs + (size_t)hk * D;
					const REAL *vb = v + (size_t)b * Tmax * kvs + (size_t)hk * D;
					REAL l = OP(attn_row)(p, qt, kb, last, kvs, D, scale);
					if (lse)
						lse[((size_t)b * H + h) * Tq + t] = l;
					REAL *o = out + (((size_t)b * Tq + t) * H + h) * D;
					for (int d = 0; d < D; d++)
						o[d] = 0;
					for (int j = 0; j <= last; j++) {
						const REAL *vj = vb + (size_t)j * kvs;
						REAL pj = p[j];
						#pragma omp simd
						for (int d = 0; d < D; d++)
							o[d] += pj * vj[d];
					}
				}
		free(p);
	}
}

static void OP(attention)(REAL *out, REAL *lse, const REAL *q, const REAL *k, const REAL *v, int B,
			  int T, int H, int Hkv, int D)
{
	OP(attend)(out, lse, q, k, v, B, T, H, Hkv, D, 0, T);
}

__attribute__((unused)) static void OP(attention_cached)(REAL *out, const REAL *q, const REAL *k,
							 const REAL *v, int B, int Tq, int H,
							 int Hkv, int D, const int *pos, int Tmax)
{
	OP(attend)(out, NULL, q, k, v, B, Tq, H, Hkv, D, *pos, Tmax);
}

static void OP(attention_backward)(REAL *dq, REAL *dk, REAL *dv, const REAL *dout, const REAL *out,
				   const REAL *lse, const REAL *q, const REAL *k, const REAL *v,
				   int B, int T, int H, int Hkv, int D)
{
	REAL scale = 1 / sqrt((REAL)D);
	int group = H / Hkv;
	size_t kvs = (size_t)Hkv * D;
	/* Parallel over (b, kv head): each thread owns the dk, dv rows it
	 * writes, so no two threads add into the same place. */
	#pragma omp parallel
	{
		REAL *p = malloc((size_t)T * sizeof *p);
		#pragma omp for collapse(2)
		for (int b = 0; b < B; b++)
			for (int hk = 0; hk < Hkv; hk++)
				for (int h = hk * group; h < (hk + 1) * group; h++)
					for (int t = 0; t < T; t++) {
						size_t qo = (((size_t)b * T + t) * H + h) * D;
						const REAL *qt = q + qo, *go = dout + qo, *ot = out + qo;
						const REAL *kb = k + ((size_t)b * T * Hkv + hk) * D;
						const REAL *vb = v + ((size_t)b * T * Hkv + hk) * D;
						REAL *dkb = dk + ((size_t)b * T * Hkv + hk) * D;
						REAL *dvb = dv + ((size_t)b * T * Hkv + hk) * D;
						REAL l = lse[((size_t)b * H + h) * T + t], delta = 0;
						#pragma omp simd reduction(+ : delta)
						for (int d = 0; d < D; d++)
							delta += go[d] * ot[d];
						REAL *dqt = dq + qo;
						for (int j = 0; j <= t; j++) {
							const REAL *kj = kb + (size_t)j * kvs, *vj = vb + (size_t)j * kvs;
							REAL *dkj = dkb + (size_t)j * kvs, *dvj = dvb + (size_t)j * kvs;
							REAL s = 0, dp = 0;
							#pragma omp simd reduction(+ : s, dp)
							for (int d = 0; d < D; d++) {
								s += qt[d] * kj[d];
								dp += go[d] * vj[d];
							}
							REAL pj = exp(s * scale - l);
							REAL ds = pj * (dp - delta) * scale;
							#pragma omp simd
							for (int d = 0; d < D; d++) {
								dvj[d] += pj * go[d];
								dkj[d] += ds * qt[d];
								dqt[d] += ds * kj[d];
							}
						}
					}
		free(p);
	}
}

static void OP(relu2)(REAL *y, const REAL *x, size_t n)
{
	#pragma omp parallel for simd if (n >= PAR_CHEAP)
	for (size_t i = 0; i < n; i++)
		y[i] = x[i] > 0 ? x[i] * x[i] : 0;
}

static void OP(relu2_backward)(REAL *dx, const REAL *dy, const REAL *x, size_t n)
{
	#pragma omp parallel for simd if (n >= PAR_CHEAP)
	for (size_t i = 0; i < n; i++)
		dx[i] += x[i] > 0 ? 2 * x[i] * dy[i] : 0;
}

/* One row of the loss: z (V logits) softcapped, its loss against target
 * tg (0 for tg < 0) returned, and with grad_scale != 0 z replaced by
 * grad_scale d loss / d z. */
ROW_TARGET static REAL OP(xent_row)(REAL *z, int V, int tg, REAL cap, REAL grad_scale)
{
	REAL mx = -INFINITY;
	#pragma omp simd reduction(max : mx)
	for (int j = 0; j < V; j++) {
		REAL c = cap * FTANH(z[j] / cap);
		z[j] = c;
		mx = c > mx ? c : mx;
	}
	REAL sum = 0;
	#pragma omp simd reduction(+ : sum)
	for (int j = 0; j < V; j++)
		sum += FEXP(z[j] - mx);
	REAL lse = mx + log(sum), loss = tg >= 0 ? lse - z[tg] : 0;
	if (grad_scale == 0)
		return loss;
	if (tg < 0) {
		for (int j = 0; j < V; j++)
			z[j] = 0;
		return loss;
	}
	/* d/dz of cap*tanh(z/cap) is 1 - (c/cap)^2 */
	#pragma omp simd
	for (int j = 0; j < V; j++) {
		REAL c = z[j], g = FEXP(c - lse) - (j == tg);
		z[j] = grad_scale * g * (1 - (c / cap) * (c / cap));
	}
	return loss;
}

static double OP(softcap_xent)(REAL *logits, REAL *loss, const int32_t *targets, int n, int V,
			       REAL cap, REAL grad_scale)
{
	double total = 0;
	#pragma omp parallel for reduction(+ : total)
	for (int i = 0; i < n; i++) {
		loss[i] = OP(xent_row)(logits + (size_t)i * V, V, targets[i], cap, grad_scale);
		total += loss[i];
	}
	return total;
}

static void OP(softcap)(REAL *z, size_t n, REAL cap)
{
	#pragma omp parallel for simd if (n >= PAR_DEAR)
	for (size_t i = 0; i < n; i++)
		z[i] = cap * FTANH(z[i] / cap);
}
