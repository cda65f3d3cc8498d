/* The CUDA ops against the CPU ops (the reference), op by op on seeded
 * random inputs at several shapes, odd sizes included; then the whole
 * model (forward, loss, backward) and the KV-cache step. fp32 on both
 * sides: tolerances are 1e-5 of the largest value (1e-4 for the sums over
 * whole sequences in attention's backward and the model's gradients).
 * Run by `make test-gpu`; without a CUDA device it says so and skips. */
#include "../../kernels/ops_cuda.h"
#include "../../lib/err.h"
#include "../../lib/gpt.h"
#include "../../lib/optim.h"
#include "../../lib/rng.h"
#include "../unit/tap.h"

#include <stdlib.h>
#include <string.h>

static const struct nc_ops *G;   /* the GPU */
static const struct nc_ops *C = &nc_ops_cpu;
static struct nc_rng rng;

static float *host_rand(size_t n, float scale)
{
	float *x = malloc(n * sizeof *x);
	for (size_t i = 0; i < n; i++)
		x[i] = scale * (float)(2 * nc_rng_uniform(&rng) - 1);
	return x;
}

static float *dev(const float *h, size_t n)
{
	float *d = G->alloc(n * sizeof *d);
	G->upload(d, h, n * sizeof *d);
	return d;
}

static int32_t *dev_i32(const int32_t *h, size_t n)
{
	int32_t *d = G->alloc(n * sizeof *d);
	G->upload(d, h, n * sizeof *d);
	return d;
}

/* Largest difference of device d against host h, relative to h's largest. */
static double diff(const float *d, const float *h, size_t n)
{
	float *back = malloc(n * sizeof *back);
	G->download(back, d, n * sizeof *back);
	double e = tap_rel_err(back, h, n);
	free(back);
	return e;
}

/* whether two device arrays hold the same bits */
static int same_bits(const float *a, const float *b, size_t n)
{
	float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
	G->download(x, a, n * sizeof *x), G->download(y, b, n * sizeof *y);
	int same = memcmp(x, y, n * sizeof *x) == 0;
	free(x), free(y);
	return same;
}

/* tensor-core attention against the fp32 CPU (see test_flash_bf16) */
#define FLASH_TOL_FORWARD 1e-2
#define FLASH_TOL_BACKWARD 1e-2

static void report(const char *what, double e, double tol)
{
	char name[256];
	snprintf(name, sizeof name, "%s (difference %.1e, tolerance %.0e)", what, e, tol);
	CHECK(e <= tol, name);
}

static void test_matmul(int M, int N, int K)
{
	float *x = host_rand((size_t)M * K, 1), *w = host_rand((size_t)N * K, 1);
	float *y = host_rand((size_t)M * N, 1), *dy = host_rand((size_t)M * N, 1);
	float *dx = host_rand((size_t)M * K, 1), *dw = host_rand((size_t)N * K, 1);
	float *gx = dev(x, (size_t)M * K), *gw = dev(w, (size_t)N * K), *gy = dev(y, (size_t)M * N);
	float *gdy = dev(dy, (size_t)M * N), *gdx = dev(dx, (size_t)M * K), *gdw = dev(dw, (size_t)N * K);
	char what[128];
	for (int acc = 0; acc <= 1; acc++) {
		C->matmul(y, x, w, M, N, K, acc);
		G->matmul(gy, gx, gw, M, N, K, acc);
		snprintf(what, sizeof what, "matmul %dx%dx%d%s", M, N, K, acc ? " accumulating" : "");
		report(what, diff(gy, y, (size_t)M * N), 1e-5);
	}
	C->matmul_backward(dx, dw, dy, x, w, M, N, K);
	G->matmul_backward(gdx, gdw, gdy, gx, gw, M, N, K);
	snprintf(what, sizeof what, "matmul backward %dx%dx%d: dx", M, N, K);
	report(what, diff(gdx, dx, (size_t)M * K), 1e-5);
	snprintf(what, sizeof what, "matmul backward %dx%dx%d: dW", M, N, K);
	report(what, diff(gdw, dw, (size_t)N * K), 1e-5);
	float *hs[] = {x, w, y, dy, dx, dw}, *ds[] = {gx, gw, gy, gdy, gdx, gdw};
	for (int i = 0; i < 6; i++)
		free(hs[i]), G->free(ds[i]);
}

/* The bf16 table's products: exactly (to fp32 accumulation) the CPU's
 * products of the operands rounded to bf16, and near the fp32 products. */
static void test_matmul_bf16(int M, int N, int K)
{
	const struct nc_ops *Bf = nc_ops_cuda_bf16();
	size_t nx = (size_t)M * K, nw = (size_t)N * K, ny = (size_t)M * N;
	float *x = host_rand(nx, 1), *w = host_rand(nw, 1), *dy = host_rand(ny, 1);
	float *xr = malloc(nx * sizeof *xr), *wr = malloc(nw * sizeof *wr), *dyr = malloc(ny * sizeof *dyr);
	memcpy(xr, x, nx * sizeof *x), memcpy(wr, w, nw * sizeof *w), memcpy(dyr, dy, ny * sizeof *dy);
	C->round_bf16(xr, nx), C->round_bf16(wr, nw), C->round_bf16(dyr, ny);
	float *y = calloc(ny, sizeof *y), *y32 = calloc(ny, sizeof *y32);
	float *dx = calloc(nx, sizeof *dx), *dw = calloc(nw, sizeof *dw);
	float *gx = dev(x, nx), *gw = dev(w, nw), *gdy = dev(dy, ny), *gy = dev(y, ny);
	float *gdx = dev(dx, nx), *gdw = dev(dw, nw);
	char what[128];
	C->matmul(y, xr, wr, M, N, K, 0);
	C->matmul(y32, x, w, M, N, K, 0);
	Bf->matmul(gy, gx, gw, M, N, K, 0);
	snprintf(what, sizeof what, "bf16 matmul %dx%dx%d: the product of bf16 operands", M, N, K);
	report(what, diff(gy, y, ny), 1e-5);
	snprintf(what, sizeof what, "bf16 matmul %dx%dx%d: near the fp32 product", M, N, K);
	report(what, diff(gy, y32, ny), 1e-2);
	C->matmul_backward(dx, dw, dyr, xr, wr, M, N, K);
	Bf->matmul_backward(gdx, gdw, gdy, gx, gw, M, N, K);
	snprintf(what, sizeof what, "bf16 matmul backward %dx%dx%d: dx and dW", M, N, K);
	report(what, fmax(diff(gdx, dx, nx), diff(gdw, dw, nw)), 1e-5);
	float *hs[] = {x, w, dy, xr, wr, dyr, y, y32, dx, dw}, *ds[] = {gx, gw, gdy, gy, gdx, gdw};
	for (int i = 0; i < 10; i++)
		free(hs[i]);
	for (int i = 0; i < 6; i++)
		G->free(ds[i]);
}

static void test_rows(int n, int Cw)
{
	size_t N = (size_t)n * Cw;
	float *x = host_rand(N, 2), *out = malloc(N * sizeof *out), *r = malloc(n * sizeof *r);
	float *gx = dev(x, N), *gout = G->alloc(N * sizeof *out), *gr = G->alloc(n * sizeof *r);
	char what[128];
	C->rmsnorm(out, r, x, n, Cw, 1.1920929e-07f);
	G->rmsnorm(gout, gr, gx, n, Cw, 1.1920929e-07f);
	snprintf(what, sizeof what, "rmsnorm %d rows of %d", n, Cw);
	report(what, fmax(diff(gout, out, N), diff(gr, r, n)), 1e-5);
	float *dout = host_rand(N, 1), *dx = host_rand(N, 1);
	float *gdout = dev(dout, N), *gdx = dev(dx, N);
	C->rmsnorm_backward(dx, dout, out, r, n, Cw);
	G->rmsnorm_backward(gdx, gdout, gout, gr, n, Cw);
	snprintf(what, sizeof what, "rmsnorm backward %d rows of %d", n, Cw);
	report(what, diff(gdx, dx, N), 1e-5);

	/* elementwise ops on the same buffers */
	C->relu2(out, x, N);
	G->relu2(gout, gx, N);
	report("relu2", diff(gout, out, N), 1e-6);
	C->relu2_backward(dx, dout, x, N);
	G->relu2_backward(gdx, gdout, gx, N);
	report("relu2 backward", diff(gdx, dx, N), 1e-6);
	C->add(dx, x, N);
	G->add(gdx, gx, N);
	report("add", diff(gdx, dx, N), 1e-6);
	float *z = host_rand(N, 40), *gz = dev(z, N);
	C->softcap(z, N, 15);
	G->softcap(gz, N, 15);
	report("softcap", diff(gz, z, N), 1e-6);
	float *hs[] = {x, out, r, dout, dx, z}, *ds[] = {gx, gout, gr, gdout, gdx, gz};
	for (int i = 0; i < 6; i++)
		free(hs[i]), G->free(ds[i]);
}

static void test_embedding(int n, int V, int Cw)
{
	int32_t *idx = malloc(n * sizeof *idx);
	for (int i = 0; i < n; i++)
		idx[i] = (int32_t)nc_rng_below(&rng, (uint64_t)(V / 3 + 1));   /* repeats */
	float *wte = host_rand((size_t)V * Cw, 1), *out = malloc((size_t)n * Cw * sizeof *out);
	float *dout = host_rand((size_t)n * Cw, 1), *dwte = host_rand((size_t)V * Cw, 1);
	int32_t *gidx = dev_i32(idx, n);
	float *gwte = dev(wte, (size_t)V * Cw), *gout = G->alloc((size_t)n * Cw * sizeof *out);
	float *gdout = dev(dout, (size_t)n * Cw), *gdwte = dev(dwte, (size_t)V * Cw);
	C->embedding(out, idx, wte, n, Cw);
	G->embedding(gout, gidx, gwte, n, Cw);
	report("embedding", diff(gout, out, (size_t)n * Cw), 0);
	C->embedding_backward(dwte, dout, idx, n, Cw);
	G->embedding_backward(gdwte, gdout, gidx, n, Cw);
	report("embedding backward with repeated ids", diff(gdwte, dwte, (size_t)V * Cw), 1e-6);
	free(idx), free(wte), free(out), free(dout), free(dwte);
	G->free(gidx), G->free(gwte), G->free(gout), G->free(gdout), G->free(gdwte);
}

static void test_rotary(int B, int T, int H, int D, int t0)
{
	size_t n = (size_t)B * T * H * D;
	float *x = host_rand(n, 1), *gx = dev(x, n);
	float *cs = malloc((size_t)T * D / 2 * sizeof *cs), *sn = malloc((size_t)T * D / 2 * sizeof *sn);
	nc_rotary_tables(cs, sn, T, D, t0, 10000);
	float *gcs = dev(cs, (size_t)T * D / 2), *gsn = dev(sn, (size_t)T * D / 2);
	for (int inv = 0; inv <= 1; inv++) {
		C->rotary(x, cs, sn, B, T, H, D, inv);
		G->rotary(gx, gcs, gsn, B, T, H, D, inv);
		report(inv ? "rotary inverse" : "rotary", diff(gx, x, n), 1e-6);
	}
	free(x), free(cs), free(sn);
	G->free(gx), G->free(gcs), G->free(gsn);

	/* inference: tables from position 0, the position t0 in device memory */
	size_t nt = (size_t)(t0 + T) * D / 2;
	x = host_rand(n, 1), gx = dev(x, n);
	cs = malloc(nt * sizeof *cs), sn = malloc(nt * sizeof *sn);
	nc_rotary_tables(cs, sn, t0 + T, D, 0, 10000);
	gcs = dev(cs, nt), gsn = dev(sn, nt);
	int *gpos = G->alloc(sizeof *gpos);
	G->upload(gpos, &t0, sizeof t0);
	C->rotary_at(x, cs, sn, B, T, H, D, &t0);
	G->rotary_at(gx, gcs, gsn, B, T, H, D, gpos);
	report("rotary at a position in device memory", diff(gx, x, n), 1e-6);
	/* and (B, T, H*D) rows into a cache of t0 + T + 2 positions at t0 */
	int Tmax = t0 + T + 2;
	size_t nc = (size_t)B * Tmax * H * D;
	float *cache = host_rand(nc, 1), *gcache = dev(cache, nc);
	C->kv_store(cache, x, B, T, H * D, Tmax, &t0);
	G->kv_store(gcache, gx, B, T, H * D, Tmax, gpos);
	report("KV cache store at a position in device memory", diff(gcache, cache, nc), 0);
	free(x), free(cs), free(sn), free(cache);
	G->free(gx), G->free(gcs), G->free(gsn), G->free(gpos), G->free(gcache);
}

static void test_attention(int B, int T, int H, int Hkv, int D)
{
	size_t nq = (size_t)B * T * H * D, nk = (size_t)B * T * Hkv * D, nl = (size_t)B * H * T;
	float *q = host_rand(nq, 1), *k = host_rand(nk, 1), *v = host_rand(nk, 1);
	float *out = malloc(nq * sizeof *out), *lse = malloc(nl * sizeof *lse);
	float *gq = dev(q, nq), *gk = dev(k, nk), *gv = dev(v, nk);
	float *gout = G->alloc(nq * sizeof *out), *glse = G->alloc(nl * sizeof *lse);
	char what[128];
	C->attention(out, lse, q, k, v, B, T, H, Hkv, D);
	G->attention(gout, glse, gq, gk, gv, B, T, H, Hkv, D);
	snprintf(what, sizeof what, "attention B%d T%d H%d/%d D%d", B, T, H, Hkv, D);
	report(what, fmax(diff(gout, out, nq), diff(glse, lse, nl)), 1e-5);

	float *dout = host_rand(nq, 1), *dq = host_rand(nq, 1), *dk = host_rand(nk, 1), *dv = host_rand(nk, 1);
	/* the gradients' starting values, kept for the cuBLAS attention below */
	float *dq0 = malloc(nq * sizeof *dq0), *dk0 = malloc(nk * sizeof *dk0), *dv0 = malloc(nk * sizeof *dv0);
	memcpy(dq0, dq, nq * sizeof *dq), memcpy(dk0, dk, nk * sizeof *dk), memcpy(dv0, dv, nk * sizeof *dv);
	float *gdout = dev(dout, nq), *gdq = dev(dq, nq), *gdk = dev(dk, nk), *gdv = dev(dv, nk);
	C->attention_backward(dq, dk, dv, dout, out, lse, q, k, v, B, T, H, Hkv, D);
	G->attention_backward(gdq, gdk, gdv, gdout, gout, glse, gq, gk, gv, B, T, H, Hkv, D);
	snprintf(what, sizeof what, "attention backward B%d T%d H%d/%d D%d", B, T, H, Hkv, D);
	report(what, fmax(diff(gdq, dq, nq), fmax(diff(gdk, dk, nk), diff(gdv, dv, nk))), 1e-4);

	/* the bf16 table's attention (cuBLAS, queries a chunk at a time): in
	 * fp32 products the CPU's to 1e-5, in bf16 near it */
	for (int bf = 0; bf <= 1; bf++) {
		float *go2 = G->alloc(nq * sizeof *out), *gl2 = G->alloc(nl * sizeof *lse);
		float *gdq2 = dev(dq0, nq), *gdk2 = dev(dk0, nk), *gdv2 = dev(dv0, nk);
		nc_cuda_attention_gemm(go2, gl2, gq, gk, gv, B, T, H, Hkv, D, bf);
		snprintf(what, sizeof what, "attention through cuBLAS, %s products, B%d T%d H%d/%d D%d",
			 bf ? "bf16" : "fp32", B, T, H, Hkv, D);
		report(what, fmax(diff(go2, out, nq), diff(gl2, lse, nl)), bf ? 2e-2 : 1e-5);
		nc_cuda_attention_gemm_backward(gdq2, gdk2, gdv2, gdout, go2, gl2, gq, gk, gv, B, T, H,
						Hkv, D, bf);
		snprintf(what, sizeof what, "attention backward through cuBLAS, %s products, B%d T%d H%d/%d D%d",
			 bf ? "bf16" : "fp32", B, T, H, Hkv, D);
		report(what, fmax(diff(gdq2, dq, nq), fmax(diff(gdk2, dk, nk), diff(gdv2, dv, nk))),
		       bf ? 5e-2 : 1e-4);
		G->free(go2), G->free(gl2), G->free(gdq2), G->free(gdk2), G->free(gdv2);
	}

	/* the last 3 queries against a cache of T positions, 3 of them new */
	int Tq = T >= 4 ? 3 : 1, pos = T - Tq;
	size_t nqc = (size_t)B * Tq * H * D;
	float *qc = host_rand(nqc, 1), *oc = malloc(nqc * sizeof *oc);
	float *gqc = dev(qc, nqc), *goc = G->alloc(nqc * sizeof *oc);
	int *gpos = G->alloc(sizeof *gpos);   /* the position lives in device memory */
	G->upload(gpos, &pos, sizeof pos);
	C->attention_cached(oc, qc, k, v, B, Tq, H, Hkv, D, &pos, T);
	G->attention_cached(goc, gqc, gk, gv, B, Tq, H, Hkv, D, gpos, T);
	G->free(gpos);
	snprintf(what, sizeof what, "attention against a KV cache: %d queries after %d", Tq, pos);
	report(what, diff(goc, oc, nqc), 1e-5);
	float *hs[] = {q, k, v, out, lse, dout, dq, dk, dv, qc, oc};
	float *ds[] = {gq, gk, gv, gout, glse, gdout, gdq, gdk, gdv, gqc, goc};
	for (int i = 0; i < 11; i++)
		free(hs[i]), G->free(ds[i]);
	free(dq0), free(dk0), free(dv0);
}

/* The bf16 table's tensor-core flash attention (bf16 operands, fp32
 * accumulation) against the CPU's fp32 attention: q, k, v, dout, P and dS
 * rounded to bf16 (2^-9 relative each) put the difference at 2-3e-3 of the
 * largest value; the tolerance is 1e-2, below the cuBLAS bf16 path's 2e-2
 * and 5e-2. Backward
 * adds to the gradients' starting values, and runs to the same bits twice. */
static void test_flash_bf16(int B, int T, int H, int Hkv, int D)
{
	size_t nq = (size_t)B * T * H * D, nk = (size_t)B * T * Hkv * D, nl = (size_t)B * H * T;
	float *q = host_rand(nq, 1), *k = host_rand(nk, 1), *v = host_rand(nk, 1);
	float *out = malloc(nq * sizeof *out), *lse = malloc(nl * sizeof *lse);
	float *gq = dev(q, nq), *gk = dev(k, nk), *gv = dev(v, nk);
	float *gout = G->alloc(nq * sizeof *out), *glse = G->alloc(nl * sizeof *lse);
	char what[160];
	C->attention(out, lse, q, k, v, B, T, H, Hkv, D);
	int rc = nc_cuda_attention_flash_bf16(gout, glse, gq, gk, gv, B, T, H, Hkv, D);
	snprintf(what, sizeof what, "tensor-core attention B%d T%d H%d/%d D%d: out and lse", B, T, H, Hkv, D);
	report(what, rc != 0 ? 1 : fmax(diff(gout, out, nq), diff(glse, lse, nl)), FLASH_TOL_FORWARD);

	float *dout = host_rand(nq, 1), *dq = host_rand(nq, 1), *dk = host_rand(nk, 1), *dv = host_rand(nk, 1);
	float *gdout = dev(dout, nq), *gdq = dev(dq, nq), *gdk = dev(dk, nk), *gdv = dev(dv, nk);
	float *gdq2 = dev(dq, nq), *gdk2 = dev(dk, nk), *gdv2 = dev(dv, nk);
	C->attention_backward(dq, dk, dv, dout, out, lse, q, k, v, B, T, H, Hkv, D);
	rc = nc_cuda_attention_flash_bf16_backward(gdq, gdk, gdv, gdout, gout, glse, gq, gk, gv, B, T, H,
						   Hkv, D);
	snprintf(what, sizeof what, "tensor-core attention backward B%d T%d H%d/%d D%d: dq, dk, dv", B, T,
		 H, Hkv, D);
	report(what, rc != 0 ? 1 : fmax(diff(gdq, dq, nq), fmax(diff(gdk, dk, nk), diff(gdv, dv, nk))),
	       FLASH_TOL_BACKWARD);

	/* the bf16 table runs these kernels: the same bits, twice over */
	const struct nc_ops *Bf = nc_ops_cuda_bf16();
	float *go2 = G->alloc(nq * sizeof *out), *gl2 = G->alloc(nl * sizeof *lse);
	Bf->attention(go2, gl2, gq, gk, gv, B, T, H, Hkv, D);
	Bf->attention_backward(gdq2, gdk2, gdv2, gdout, go2, gl2, gq, gk, gv, B, T, H, Hkv, D);
	int same = same_bits(go2, gout, nq) && same_bits(gl2, glse, nl) && same_bits(gdq2, gdq, nq) &&
		   same_bits(gdk2, gdk, nk) && same_bits(gdv2, gdv, nk);
	snprintf(what, sizeof what, "the bf16 table's attention is the tensor-core one, bit for bit, B%d T%d H%d/%d D%d",
		 B, T, H, Hkv, D);
	CHECK(same, what);
	float *hs[] = {q, k, v, out, lse, dout, dq, dk, dv};
	float *ds[] = {gq, gk, gv, gout, glse, gdout, gdq, gdk, gdv, gdq2, gdk2, gdv2, go2, gl2};
	for (int i = 0; i < 9; i++)
		free(hs[i]);
	for (int i = 0; i < 14; i++)
		G->free(ds[i]);
}

/* Head sizes the tensor-core kernels do not take are refused (-1, nothing
 * written), and the bf16 table sends them through cuBLAS instead. */
static void test_flash_bf16_refuses(void)
{
	int D = 20, B = 1, T = 9, H = 2;
	CHECK(!nc_cuda_flash_bf16_takes(20) && !nc_cuda_flash_bf16_takes(144) &&
	      !nc_cuda_flash_bf16_takes(0) && nc_cuda_flash_bf16_takes(16) &&
	      nc_cuda_flash_bf16_takes(64) && nc_cuda_flash_bf16_takes(128),
	      "tensor-core attention takes head sizes 16, 32, ... 128 only");
	size_t n = (size_t)B * T * H * D, nl = (size_t)B * H * T;
	float *q = host_rand(n, 1), *out = malloc(n * sizeof *out), *lse = malloc(nl * sizeof *lse);
	float *gq = dev(q, n), *go = G->alloc(n * sizeof *out), *gl = G->alloc(nl * sizeof *lse);
	float *go2 = G->alloc(n * sizeof *out), *gl2 = G->alloc(nl * sizeof *lse);
	CHECK(nc_cuda_attention_flash_bf16(go, gl, gq, gq, gq, B, T, H, H, D) == -1 &&
	      nc_cuda_attention_flash_bf16_backward(go, go, go, gq, gq, gl, gq, gq, gq, B, T, H, H, D) == -1 &&
	      same_bits(go, go2, n), "tensor-core attention refuses D=20 and writes nothing");
	nc_ops_cuda_bf16()->attention(go, gl, gq, gq, gq, B, T, H, H, D);
	nc_cuda_attention_gemm(go2, gl2, gq, gq, gq, B, T, H, H, D, 1);
	CHECK(same_bits(go, go2, n) && same_bits(gl, gl2, nl), "the bf16 table sends D=20 through cuBLAS");
	free(q), free(out), free(lse);
	G->free(gq), G->free(go), G->free(gl), G->free(go2), G->free(gl2);
}

static void test_xent(int n, int V)
{
	size_t N = (size_t)n * V;
	float *z = host_rand(N, 30), *loss = malloc(n * sizeof *loss);
	int32_t *tg = malloc(n * sizeof *tg);
	for (int i = 0; i < n; i++)
		tg[i] = i % 4 == 3 ? -1 : (int32_t)nc_rng_below(&rng, V);
	float *gz = dev(z, N), *gloss = G->alloc(n * sizeof *loss);
	int32_t *gtg = dev_i32(tg, n);
	double sc = C->softcap_xent(z, loss, tg, n, V, 15, 0.01f);
	double sg = G->softcap_xent(gz, gloss, gtg, n, V, 15, 0.01f);
	char what[128];
	snprintf(what, sizeof what, "softcapped cross-entropy %d x %d: the summed loss", n, V);
	report(what, fabs(sc - sg) / fabs(sc), 1e-5);
	report("softcapped cross-entropy: per-token losses", diff(gloss, loss, n), 1e-5);
	report("softcapped cross-entropy: the logits' gradient", diff(gz, z, N), 1e-5);
	free(z), free(loss), free(tg);
	G->free(gz), G->free(gloss), G->free(gtg);
}

/* The optimizer's ops: elementwise ones bit for bit (tolerance 0), sums
 * to the last bits of a double. */
static void test_optim_ops(size_t n, int rows, int cols)
{
	float *x = host_rand(n, 2), *y = host_rand(n, 2), *z = host_rand(n, 1), *w = host_rand(n, 1);
	float *gx = dev(x, n), *gy = dev(y, n), *gz = dev(z, n), *gw = dev(w, n);
	char what[128];
	double a = C->sumsq(x, n), b = G->sumsq(gx, n);
	snprintf(what, sizeof what, "sum of squares of %zu", n);
	report(what, fabs(a - b) / a, 1e-12);
	C->scale(x, n, 0.37f), G->scale(gx, n, 0.37f);
	report("scale", diff(gx, x, n), 0);
	C->divide(x, n, 3), G->divide(gx, n, 3);
	report("divide", diff(gx, x, n), 0);
	for (int bf16 = 0; bf16 <= 1; bf16++) {
		C->scale_to(y, 2.0315f, x, n, bf16), G->scale_to(gy, 2.0315f, gx, n, bf16);
		report(bf16 ? "scale_to, bf16" : "scale_to", diff(gy, y, n), 0);
		C->axpby(y, -4.775f, z, 1.1f, n, bf16), G->axpby(gy, -4.775f, gz, 1.1f, n, bf16);
		report(bf16 ? "axpby, bf16" : "axpby", diff(gy, y, n), 0);
		C->normalize(y, n, 1e-7f, bf16), G->normalize(gy, n, 1e-7f, bf16);
		report(bf16 ? "normalize, bf16" : "normalize", diff(gy, y, n), 1e-7);
	}
	C->round_bf16(z, n), G->round_bf16(gz, n);
	report("round to bf16", diff(gz, z, n), 0);
	/* kept activations: packed to bf16 bits and widened back */
	uint16_t *pk = malloc(n * sizeof *pk), *gpk = G->alloc(n * sizeof *pk), *back = malloc(n * sizeof *pk);
	C->pack_bf16(pk, x, n), G->pack_bf16(gpk, gx, n);
	G->download(back, gpk, n * sizeof *back);
	report("pack to bf16 bits", memcmp(back, pk, n * sizeof *pk) != 0, 0);
	C->unpack_bf16(z, pk, n), G->unpack_bf16(gz, gpk, n);
	report("unpack bf16 bits", diff(gz, z, n), 0);
	free(pk), free(back), G->free(gpk);
	C->fma_into(w, -0.02f, x, n), G->fma_into(gw, -0.02f, gx, n);
	report("fma_into", diff(gw, w, n), 0);
	for (int nest = 0; nest <= 1; nest++) {
		C->momentum(y, x, z, n, 0.93, nest), G->momentum(gy, gx, gz, n, 0.93, nest);
		report(nest ? "Nesterov momentum" : "momentum", fmax(diff(gy, y, n), diff(gz, z, n)), 0);
	}
	/* AdamW: three steps on moments that start at zero */
	float *m = calloc(n, sizeof *m), *v = calloc(n, sizeof *v);
	float *gm = G->alloc(n * sizeof *m), *gv = G->alloc(n * sizeof *v);
	for (int t = 1; t <= 3; t++) {
		struct nc_adamw_args ad = {.step = 0.004f / (1 - powf(0.8f, t)), .bc2_sqrt = sqrtf(1 - powf(0.95f, t)),
					   .eps = 1e-10f, .w1 = 0.2f, .b2 = 0.95f, .w2 = 0.05f,
					   .decay = 0.99f, .decay_on = t != 2};
		C->adamw(w, x, m, v, n, &ad), G->adamw(gw, gx, gm, gv, n, &ad);
	}
	report("AdamW, 3 steps: parameters and moments",
	       fmax(diff(gw, w, n), fmax(diff(gm, m, n), diff(gv, v, n))), 0);
	/* transpose and Newton-Schulz on a (rows, cols) matrix */
	size_t rc = (size_t)rows * cols;
	float *mx = host_rand(rc, 1), *mt = malloc(rc * sizeof *mt), *gmx = dev(mx, rc), *gmt = G->alloc(rc * sizeof *mt);
	C->transpose(mt, mx, rows, cols), G->transpose(gmt, gmx, rows, cols);
	snprintf(what, sizeof what, "transpose %dx%d", rows, cols);
	report(what, diff(gmt, mt, rc), 0);
	size_t nw = nc_newton_schulz5_work(rows, cols);
	float *work = malloc(nw * sizeof *work), *gwork = G->alloc(nw * sizeof *work);
	for (int bf16 = 0; bf16 <= 1; bf16++) {
		float *hx = host_rand(rc, 1), *gxx = dev(hx, rc);
		nc_newton_schulz5(C, hx, rows, cols, bf16, work);
		nc_newton_schulz5(G, gxx, rows, cols, bf16, gwork);
		snprintf(what, sizeof what, "Newton-Schulz %dx%d%s", rows, cols, bf16 ? ", bf16" : "");
		/* bf16 rounding turns the products' last-bit differences into
		 * differences of a bf16 step */
		report(what, diff(gxx, hx, rc), bf16 ? 2e-2 : 1e-5);
		free(hx);
		G->free(gxx);
	}
	float *hs[] = {x, y, z, w, m, v, mx, mt, work}, *ds[] = {gx, gy, gz, gw, gm, gv, gmx, gmt, gwork};
	for (int i = 0; i < 9; i++)
		free(hs[i]), G->free(ds[i]);
}

/* The fp32 table's flash kernels take heads of at most 128: a model with
 * larger heads is refused when it is set up, with the reason; the bf16
 * table (cuBLAS products) takes it. */
static void test_head_limit(void)
{
	struct nc_gpt_config c = {.n_layer = 1, .n_head = 1, .n_kv_head = 1, .n_embd = 256,
				  .vocab_size = 50, .sequence_len = 8, .rope_base = 10000,
				  .softcap = 15, .norm_eps = 1.1920929e-07f};
	struct nc_gpt m;
	CHECK(G->max_head_dim == 128 && nc_gpt_init(&m, &c, G) == -1 &&
	      strcmp(nc_errmsg(), "head size 256: the cuda ops take heads of at most 128") == 0,
	      "the fp32 CUDA ops refuse heads of 256 at set-up, before any step");
	nc_gpt_free(&m);
	CHECK(nc_gpt_init(&m, &c, nc_ops_cuda_bf16()) == 0, "the bf16 CUDA ops take heads of 256");
	nc_gpt_free(&m);
}

/* The whole model on both devices from the same weights. */
static void test_model(void)
{
	struct nc_gpt_config c = {.n_layer = 2, .n_head = 4, .n_kv_head = 2, .n_embd = 64,
				  .vocab_size = 97, .sequence_len = 24, .rope_base = 10000,
				  .softcap = 15, .norm_eps = 1.1920929e-07f};
	struct nc_gpt mc, mg;
	nc_gpt_init(&mc, &c, C);
	nc_gpt_init(&mg, &c, G);
	mg.xent_rows = 10;   /* the GPU's loss in 8 chunks of rows, the CPU's in one */
	float *w = host_rand(mc.nweights, 0.3f);
	memcpy(mc.w, w, mc.nweights * sizeof *w);
	G->upload(mg.w, w, mg.nweights * sizeof *w);
	int B = 3, T = 24, N = B * T;
	int32_t idx[3 * 24], tg[3 * 24];
	for (int i = 0; i < N; i++) {
		idx[i] = (int32_t)nc_rng_below(&rng, 97);
		tg[i] = i % 7 == 6 ? -1 : (int32_t)nc_rng_below(&rng, 97);
	}
	float *lc = malloc((size_t)N * 97 * sizeof *lc), *lg = G->alloc((size_t)N * 97 * sizeof *lg);
	nc_gpt_forward(&mc, idx, NULL, B, T, lc);
	nc_gpt_forward(&mg, idx, NULL, B, T, lg);
	report("model: logits", diff(lg, lc, (size_t)N * 97), 1e-5);
	double a = nc_gpt_forward_backward(&mc, idx, tg, B, T);
	double b = nc_gpt_forward_backward(&mg, idx, tg, B, T);
	report("model: loss", fabs(a - b) / a, 1e-5);
	report("model: every gradient", diff(mg.g, mc.g, mc.nweights), 1e-4);

	/* with bf16 products (nc-train's default on a GPU): near fp32's */
	struct nc_gpt mb;
	nc_gpt_init(&mb, &c, nc_ops_cuda_bf16());
	G->upload(mb.w, w, mb.nweights * sizeof *w);
	double lb = nc_gpt_forward_backward(&mb, idx, tg, B, T);
	report("model in bf16 (products, kept activations): loss", fabs(lb - a) / a, 1e-2);
	report("model in bf16 (products, kept activations): every gradient", diff(mb.g, mc.g, mc.nweights), 5e-2);
	nc_gpt_free(&mb);

	/* two optimizer steps where each model is, from the CPU's gradients */
	struct nc_optim_config oc;
	nc_optim_defaults(&oc);
	struct nc_optim oc_c, oc_g;
	if (nc_optim_init(&oc_c, &mc, &oc) != 0 || nc_optim_init(&oc_g, &mg, &oc) != 0) {
		CHECK(0, "optimizer init");
		return;
	}
	for (int k = 0; k < 2; k++) {
		G->upload(mg.g, mc.g, mc.nweights * sizeof *mc.g);
		nc_clip_grad_norm(&mc, 0.5), nc_clip_grad_norm(&mg, 0.5);
		nc_optim_step(&oc_c, &mc, 1.0, 0.9);
		nc_optim_step(&oc_g, &mg, 1.0, 0.9);
	}
	report("model: two optimizer steps (AdamW and Muon) on the device", diff(mg.w, mc.w, mc.nweights), 1e-5);
	nc_optim_free(&oc_c);
	nc_optim_free(&oc_g);

	/* KV cache: prefill 10, then one token a step */
	struct nc_kv_cache kc, kg;
	nc_kv_init(&kc, &mc, B, T);
	nc_kv_init(&kg, &mg, B, T);
	float *sc = malloc((size_t)B * 97 * sizeof *sc), *sg = malloc((size_t)B * 97 * sizeof *sg);
	double worst = 0;
	int32_t pre[3 * 10];
	for (int b = 0; b < B; b++)
		memcpy(pre + b * 10, idx + b * T, 10 * sizeof *pre);
	nc_gpt_step(&mc, &kc, pre, B, 10, sc);
	nc_gpt_step(&mg, &kg, pre, B, 10, sg);
	worst = tap_rel_err(sg, sc, (size_t)B * 97);
	/* one token a step: 3 rows, then 2 (a row finished); on the GPU each
	 * row count's second step is recorded as a graph and replayed after */
	for (int t = 10; t < T; t++) {
		int32_t col[3] = {idx[t], idx[T + t], idx[2 * T + t]};
		int rows = t < 17 ? B : 2;
		nc_gpt_step(&mc, &kc, col, rows, 1, sc);
		nc_gpt_step(&mg, &kg, col, rows, 1, sg);
		worst = fmax(worst, tap_rel_err(sg, sc, (size_t)rows * 97));
	}
	report("model: KV-cache steps", worst, 1e-5);
	char what[96];
	snprintf(what, sizeof what, "model: decode steps replayed from graphs (%ld of them)", kg.replays);
	/* per row count: the first step op by op, the second recorded, all but the first replayed */
	CHECK(kg.replays == (getenv("NC_NO_GRAPHS") ? 0 : 12), what);
	nc_kv_free(&kc, &mc);
	nc_kv_free(&kg, &mg);
	free(w), free(lc), free(sc), free(sg);
	G->free(lg);
	nc_gpt_free(&mc);
	nc_gpt_free(&mg);
}

int main(void)
{
	if (nc_cuda_devices() < 1 || !(G = nc_ops_cuda())) {
		printf("1..0 # SKIP no CUDA device\n");
		return 0;
	}
	nc_rng_seed(&rng, 20261121);
	test_matmul(7, 13, 33);
	test_matmul(64, 96, 128);
	test_matmul(1, 300, 257);
	test_matmul_bf16(7, 13, 33);
	test_matmul_bf16(64, 96, 128);
	test_rows(5, 37);
	test_rows(64, 1280);
	test_embedding(50, 31, 24);
	test_rotary(2, 9, 3, 16, 0);
	test_rotary(1, 1, 4, 128, 700);
	test_attention(2, 17, 4, 2, 32);
	test_attention(1, 64, 2, 2, 128);
	test_attention(3, 5, 6, 1, 8);
	test_attention(1, 100, 6, 2, 64);
	test_attention(2, 33, 3, 3, 20);
	test_attention(1, 300, 2, 1, 8);   /* two chunks of queries in the cuBLAS path */
	test_flash_bf16(1, 256, 4, 4, 128);   /* d20's head size, 4 query tiles */
	test_flash_bf16(1, 128, 10, 10, 128); /* d20's heads */
	test_flash_bf16(2, 100, 4, 2, 64);    /* GQA, T not a multiple of the tile */
	test_flash_bf16(1, 1, 4, 1, 128);     /* one position */
	test_flash_bf16(3, 77, 6, 3, 32);
	test_flash_bf16(1, 17, 2, 2, 16);
	test_flash_bf16_refuses();
	test_xent(9, 77);
	test_xent(4, 4099);
	test_optim_ops(1000, 24, 40);
	test_optim_ops(70001, 96, 32);
	test_model();
	test_head_limit();
	return TAP_DONE();
}
