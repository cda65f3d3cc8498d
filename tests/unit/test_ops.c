/* The CPU ops: every backward against central finite differences of its
 * forward, in double precision (the same source compiled for double), and
 * the fp32 ops used by nc against the double ones. */
#include "../../lib/ops.h"
#include "../../lib/rng.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef NC_BLAS
#include <cblas.h>
#define GEMM cblas_dgemm
#endif
#define REAL double
#define OP(name) dbl_##name
#include "../../lib/ops_cpu_impl.h"

static struct nc_rng rng;

static double *rnd(size_t n, double scale)
{
	double *x = malloc(n * sizeof *x);
	for (size_t i = 0; i < n; i++)
		x[i] = scale * (2 * nc_rng_uniform(&rng) - 1);
	return x;
}

static double dot(const double *a, const double *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

/* A scalar loss L(x) = sum g . f(x) for the op under test. */
typedef double (*loss_fn)(void *ctx);

/* Largest relative difference between analytic grad[i] and the central
 * difference of L in x[i], over a sample of positions. */
static double fd_check(loss_fn L, void *ctx, double *x, const double *grad, size_t n)
{
	double worst = 0, h = 1e-5;
	size_t step = n > 64 ? n / 64 : 1;
	for (size_t i = 0; i < n; i += step) {
		double keep = x[i];
		x[i] = keep + h;
		double up = L(ctx);
		x[i] = keep - h;
		double down = L(ctx);
		x[i] = keep;
		double num = (up - down) / (2 * h);
		/* relative, with a floor: central differences of a sum of many
		 * terms carry ~1e-9 of rounding noise */
		double err = fabs(num - grad[i]) / (fabs(num) + fabs(grad[i]) + 1e-3);
		if (err > worst)
			worst = err;
		if (getenv("FD_DEBUG") && err > 1e-7)
			printf("# at %zu: numeric %.10g analytic %.10g\n", i, num, grad[i]);
	}
	return worst;
}

/* ---- matmul ---- */
struct mm { double *x, *w, *g, *y; int M, N, K; };
static double mm_loss(void *c)
{
	struct mm *m = c;
	dbl_matmul(m->y, m->x, m->w, m->M, m->N, m->K, 0);
	return dot(m->g, m->y, (size_t)m->M * m->N);
}

static void test_matmul(void)
{
	struct mm m = {0, 0, 0, 0, 5, 7, 6};
	m.x = rnd(30, 1), m.w = rnd(42, 1), m.g = rnd(35, 1), m.y = rnd(35, 1);
	double *dx = calloc(30, sizeof *dx), *dw = calloc(42, sizeof *dw);
	dbl_matmul_backward(dx, dw, m.g, m.x, m.w, m.M, m.N, m.K);
	CHECK(fd_check(mm_loss, &m, m.x, dx, 30) < 1e-7, "matmul: dx matches finite differences");
	CHECK(fd_check(mm_loss, &m, m.w, dw, 42) < 1e-7, "matmul: dW matches finite differences");
	float xf[30], wf[42], yf[35];
	for (int i = 0; i < 30; i++) xf[i] = (float)m.x[i];
	for (int i = 0; i < 42; i++) wf[i] = (float)m.w[i];
	nc_ops_cpu.matmul(yf, xf, wf, 5, 7, 6, 0);
	mm_loss(&m);
	double e = 0;
	for (int i = 0; i < 35; i++) e = fmax(e, fabs(yf[i] - m.y[i]));
	CHECK(e < 1e-5, "matmul: fp32 ops agree with double");
	free(m.x), free(m.w), free(m.g), free(m.y), free(dx), free(dw);
}

/* Decoding multiplies a few rows at a time, in whatever batch the rows
 * are in: a row's products must come out the same bit for bit at every
 * batch size, or a sequence's samples would depend on its neighbours.
 * Sizes with tails: N not a multiple of 4, K not a multiple of 8; M up to
 * the few-rows limit and past it (sgemm, checked against double). */
static void test_matmul_rows(void)
{
	enum { MX = 20, N = 37, K = 45 };
	float *x = malloc(MX * K * sizeof *x), *w = malloc(N * K * sizeof *w);
	float *y = malloc(MX * N * sizeof *y), *y1 = malloc(N * sizeof *y1);
	for (int i = 0; i < MX * K; i++) x[i] = (float)(2 * nc_rng_uniform(&rng) - 1);
	for (int i = 0; i < N * K; i++) w[i] = (float)(2 * nc_rng_uniform(&rng) - 1);
	int same = 1;
	double far = 0;
	for (int M = 1; M <= MX; M++) {
		nc_ops_cpu.matmul(y, x, w, M, N, K, 0);
		for (int m = 0; m < M; m++) {
			if (M <= 16) {
				nc_ops_cpu.matmul(y1, x + (size_t)m * K, w, 1, N, K, 0);
				same &= !memcmp(y1, y + (size_t)m * N, N * sizeof *y1);
			}
			for (int n = 0; n < N; n++) {
				double s = 0;
				for (int k = 0; k < K; k++)
					s += (double)x[m * K + k] * w[n * K + k];
				far = fmax(far, fabs(y[m * N + n] - s));
			}
		}
	}
	CHECK(same, "matmul: a row's products are the same bit for bit in a batch of 1..16 rows");
	CHECK(far < 1e-5, "matmul: 1..20 rows of odd sizes agree with double");
	free(x), free(w), free(y), free(y1);
}

/* ---- embedding ---- */
struct emb { double *wte, *g, *out; int32_t idx[6]; };
static double emb_loss(void *c)
{
	struct emb *e = c;
	dbl_embedding(e->out, e->idx, e->wte, 6, 4);
	return dot(e->g, e->out, 24);
}

static void test_embedding(void)
{
	struct emb e = {rnd(20, 1), rnd(24, 1), rnd(24, 1), {1, 3, 1, 0, 4, 3}};
	double *d = calloc(20, sizeof *d);
	dbl_embedding_backward(d, e.g, e.idx, 6, 4);
	CHECK(fd_check(emb_loss, &e, e.wte, d, 20) < 1e-7, "embedding: repeated ids accumulate gradients");
	free(e.wte), free(e.g), free(e.out), free(d);
}

/* ---- rmsnorm ---- */
struct rms { double *x, *g, *out, rstd[4]; };
static double rms_loss(void *c)
{
	struct rms *r = c;
	dbl_rmsnorm(r->out, r->rstd, r->x, 4, 16, 1.1920929e-07);
	return dot(r->g, r->out, 64);
}

static void test_rmsnorm(void)
{
	struct rms r = {rnd(64, 2), rnd(64, 1), rnd(64, 1), {0}};
	rms_loss(&r);
	double *dx = calloc(64, sizeof *dx);
	dbl_rmsnorm_backward(dx, r.g, r.out, r.rstd, 4, 16);
	CHECK(fd_check(rms_loss, &r, r.x, dx, 64) < 1e-6, "rmsnorm: dx matches finite differences");
	double ms = 0;
	for (int c = 0; c < 16; c++) ms += r.out[c] * r.out[c];
	CHECK(fabs(ms / 16 - 1) < 1e-5, "rmsnorm: rows come out with unit mean square");
	free(r.x), free(r.g), free(r.out), free(dx);
}

/* ---- rotary ---- */
struct rot { double *x, *g, *y; float cos[3 * 4], sin[3 * 4]; };
static double rot_loss(void *c)
{
	struct rot *r = c;
	memcpy(r->y, r->x, 2 * 3 * 2 * 8 * sizeof(double));
	dbl_rotary(r->y, r->cos, r->sin, 2, 3, 2, 8, 0);
	return dot(r->g, r->y, 96);
}

static void test_rotary(void)
{
	struct rot r = {rnd(96, 1), rnd(96, 1), rnd(96, 1), {0}, {0}};
	nc_rotary_tables(r.cos, r.sin, 3, 8, 5, 10000.0f);
	double *dx = malloc(96 * sizeof *dx);
	memcpy(dx, r.g, sizeof(double) * 96);
	dbl_rotary(dx, r.cos, r.sin, 2, 3, 2, 8, 1);
	CHECK(fd_check(rot_loss, &r, r.x, dx, 96) < 1e-7, "rotary: the inverse rotation is the backward");
	/* nanochat's sign: y1 = x1 cos + x2 sin at position 5, pair (0, 4) */
	double x1 = r.x[0], x2 = r.x[4];
	rot_loss(&r);
	double a = 5.0;  /* inv_freq[0] = 1 */
	CHECK(fabs(r.y[0] - (x1 * cos(a) + x2 * sin(a))) < 1e-6 &&
	      fabs(r.y[4] - (-x1 * sin(a) + x2 * cos(a))) < 1e-6, "rotary: half-split pairs, nanochat's sign");
	free(r.x), free(r.g), free(r.y), free(dx);
}

/* ---- attention (GQA: 4 query heads on 2 kv heads) ---- */
enum { AB = 2, AT = 5, AH = 4, AHK = 2, AD = 3 };
struct att { double *q, *k, *v, *g, *out, lse[AB * AH * AT]; };
static double att_loss(void *c)
{
	struct att *a = c;
	dbl_attention(a->out, a->lse, a->q, a->k, a->v, AB, AT, AH, AHK, AD);
	return dot(a->g, a->out, AB * AT * AH * AD);
}

static void test_attention(void)
{
	size_t nq = AB * AT * AH * AD, nk = AB * AT * AHK * AD;
	struct att a = {rnd(nq, 1), rnd(nk, 1), rnd(nk, 1), rnd(nq, 1), rnd(nq, 1), {0}};
	att_loss(&a);
	double *dq = calloc(nq, sizeof *dq), *dk = calloc(nk, sizeof *dk), *dv = calloc(nk, sizeof *dv);
	dbl_attention_backward(dq, dk, dv, a.g, a.out, a.lse, a.q, a.k, a.v, AB, AT, AH, AHK, AD);
	CHECK(fd_check(att_loss, &a, a.q, dq, nq) < 1e-6, "attention: dq matches finite differences");
	CHECK(fd_check(att_loss, &a, a.k, dk, nk) < 1e-6, "attention: dk (shared kv heads) matches finite differences");
	CHECK(fd_check(att_loss, &a, a.v, dv, nk) < 1e-6, "attention: dv matches finite differences");
	/* causality: the first position sees only itself */
	int ok = 1;
	for (int d = 0; d < AD; d++)
		ok &= fabs(a.out[d] - a.v[d]) < 1e-12;
	CHECK(ok, "attention: the first position attends to itself only");
	free(a.q), free(a.k), free(a.v), free(a.g), free(a.out), free(dq), free(dk), free(dv);
}

/* nc's fp32 attention (sgemm for many queries, loops for few) against
 * the double loops: forward, log-sum-exp, backward, and queries against a
 * KV cache, at sizes on both sides of the switch. */
static float *to_f(const double *x, size_t n)
{
	float *f = malloc(n * sizeof *f);
	for (size_t i = 0; i < n; i++)
		f[i] = (float)x[i];
	return f;
}

static double err_fd(const float *f, const double *d, size_t n)
{
	double e = 0, m = 0;
	for (size_t i = 0; i < n; i++) {
		e = fmax(e, fabs(f[i] - d[i]));
		m = fmax(m, fabs(d[i]));
	}
	return e / (m > 0 ? m : 1);
}

static void test_attention_fp32(int B, int T, int H, int Hkv, int D)
{
	size_t nq = (size_t)B * T * H * D, nk = (size_t)B * T * Hkv * D, nl = (size_t)B * H * T;
	double *q = rnd(nq, 1), *k = rnd(nk, 1), *v = rnd(nk, 1), *g = rnd(nq, 1);
	double *out = calloc(nq, sizeof *out), *lse = calloc(nl, sizeof *lse);
	double *dq = calloc(nq, sizeof *dq), *dk = calloc(nk, sizeof *dk), *dv = calloc(nk, sizeof *dv);
	float *fq = to_f(q, nq), *fk = to_f(k, nk), *fv = to_f(v, nk), *fg = to_f(g, nq);
	float *fout = calloc(nq, sizeof *fout), *flse = calloc(nl, sizeof *flse);
	float *fdq = calloc(nq, sizeof *fdq), *fdk = calloc(nk, sizeof *fdk), *fdv = calloc(nk, sizeof *fdv);
	dbl_attention(out, lse, q, k, v, B, T, H, Hkv, D);
	nc_ops_cpu.attention(fout, flse, fq, fk, fv, B, T, H, Hkv, D);
	dbl_attention_backward(dq, dk, dv, g, out, lse, q, k, v, B, T, H, Hkv, D);
	nc_ops_cpu.attention_backward(fdq, fdk, fdv, fg, fout, flse, fq, fk, fv, B, T, H, Hkv, D);
	char what[160];
	snprintf(what, sizeof what, "fp32 attention, T %d: out and log-sum-exp equal the double loops", T);
	CHECK(err_fd(fout, out, nq) < 1e-5 && err_fd(flse, lse, nl) < 1e-5, what);
	snprintf(what, sizeof what, "fp32 attention backward, T %d: dq, dk, dv equal the double loops", T);
	CHECK(err_fd(fdq, dq, nq) < 1e-4 && err_fd(fdk, dk, nk) < 1e-4 && err_fd(fdv, dv, nk) < 1e-4, what);
	/* the last Tq queries against a cache holding all T positions */
	int Tq = T / 2, pos = T - Tq;
	float *oc = calloc((size_t)B * Tq * H * D, sizeof *oc);
	float *qc = malloc((size_t)B * Tq * H * D * sizeof *qc);
	for (int b = 0; b < B; b++)
		memcpy(qc + (size_t)b * Tq * H * D, fq + ((size_t)b * T + pos) * H * D, (size_t)Tq * H * D * sizeof *qc);
	nc_ops_cpu.attention_cached(oc, qc, fk, fv, B, Tq, H, Hkv, D, &pos, T);
	double e = 0;
	for (int b = 0; b < B; b++)
		e = fmax(e, err_fd(oc + (size_t)b * Tq * H * D, out + ((size_t)b * T + pos) * H * D, (size_t)Tq * H * D));
	snprintf(what, sizeof what, "fp32 attention against a KV cache, %d queries after %d: the same rows", Tq, pos);
	CHECK(e < 1e-5, what);
	double *ds[] = {q, k, v, g, out, lse, dq, dk, dv};
	float *fs[] = {fq, fk, fv, fg, fout, flse, fdq, fdk, fdv, oc, qc};
	for (size_t i = 0; i < 9; i++)
		free(ds[i]);
	for (size_t i = 0; i < 11; i++)
		free(fs[i]);
}

/* ---- relu^2 ---- */
struct r2 { double *x, *g, *y; };
static double r2_loss(void *c)
{
	struct r2 *r = c;
	dbl_relu2(r->y, r->x, 40);
	return dot(r->g, r->y, 40);
}

static void test_relu2(void)
{
	struct r2 r = {rnd(40, 1), rnd(40, 1), rnd(40, 1)};
	for (int i = 0; i < 40; i++)
		if (fabs(r.x[i]) < 1e-3)
			r.x[i] = 0.5;   /* keep away from the kink */
	double *dx = calloc(40, sizeof *dx);
	dbl_relu2_backward(dx, r.g, r.x, 40);
	CHECK(fd_check(r2_loss, &r, r.x, dx, 40) < 1e-7, "relu2: dx matches finite differences");
	free(r.x), free(r.g), free(r.y), free(dx);
}

/* ---- softcapped cross-entropy ---- */
struct xe { double *z, *work, loss[4]; int32_t t[4]; };
static double xe_loss(void *c)
{
	struct xe *x = c;
	memcpy(x->work, x->z, 4 * 9 * sizeof(double));
	return dbl_softcap_xent(x->work, x->loss, x->t, 4, 9, 15, 0) / 3;
}

static void test_softcap_xent(void)
{
	struct xe x = {rnd(36, 20), rnd(36, 1), {0}, {2, -1, 8, 0}};
	double *g = malloc(36 * sizeof *g);
	memcpy(g, x.z, sizeof(double) * 36);
	dbl_softcap_xent(g, x.loss, x.t, 4, 9, 15, 1.0 / 3);
	CHECK(fd_check(xe_loss, &x, x.z, g, 36) < 1e-6, "softcap cross-entropy: dlogits matches finite differences");
	int ignored = 1;
	for (int j = 0; j < 9; j++)
		ignored &= g[9 + j] == 0;
	CHECK(ignored && x.loss[1] == 0, "softcap cross-entropy: target -1 is ignored");
	double c = 15 * tanh(x.z[0] / 15), w = x.z[0];
	xe_loss(&x);
	dbl_softcap(&w, 1, 15);
	CHECK(fabs(x.work[0] - c) < 1e-12 && fabs(w - c) < 1e-12, "softcap: 15 tanh(z / 15)");
	free(x.z), free(x.work), free(g);
}

int main(void)
{
	nc_rng_seed(&rng, 7);
	test_matmul();
	test_matmul_rows();
	test_embedding();
	test_rmsnorm();
	test_rotary();
	test_attention();
	test_attention_fp32(2, 9, 4, 2, 8);
	test_attention_fp32(2, 40, 4, 2, 16);
	test_attention_fp32(1, 70, 2, 1, 32);
	test_relu2();
	test_softcap_xent();
	return TAP_DONE();
}
