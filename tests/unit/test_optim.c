/* The optimizers against nanochat's own (tests/fixtures/gpt/ref_gqa: one
 * AdamW + Muon step of nanochat v1 on the CPU in fp32, Newton–Schulz in
 * and out), and the schedules, clipping and state naming. */
#include "../../lib/err.h"
#include "../../lib/gpt.h"
#include "../../lib/optim.h"
#include "../../lib/safetensors.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE "tests/fixtures/gpt/ref_gqa.safetensors"

/* ||a - b||_F / ||b||_F */
static double rel_frob(const float *a, const float *b, size_t n)
{
	double d = 0, s = 0;
	for (size_t i = 0; i < n; i++) {
		d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
		s += (double)b[i] * b[i];
	}
	return sqrt(d / s);
}

static float *read2(const struct nc_safetensors *st, const char *prefix, const char *name, int rows,
		    int cols)
{
	char key[160];
	int64_t shape[2] = {rows, cols};
	float *x = malloc((size_t)rows * cols * sizeof *x);
	snprintf(key, sizeof key, "%s%s", prefix, name);
	if (nc_st_read_f32(st, key, 2, shape, x) != 0) {
		printf("# %s\n", nc_errmsg());
		free(x);
		return NULL;
	}
	return x;
}

static int meta_int(const struct nc_safetensors *st, const char *key)
{
	const char *v = nc_st_meta(st, key);
	return v ? atoi(v) : -1;
}

static double meta_double(const struct nc_safetensors *st, const char *key)
{
	const char *v = nc_st_meta(st, key);
	return v ? atof(v) : NAN;
}

/* The fixture's model with its initial parameters and their gradients. */
static int load_model(struct nc_gpt *m, const struct nc_safetensors *st)
{
	struct nc_gpt_config c = {
		.n_layer = meta_int(st, "config.n_layer"), .n_head = meta_int(st, "config.n_head"),
		.n_kv_head = meta_int(st, "config.n_kv_head"), .n_embd = meta_int(st, "config.n_embd"),
		.vocab_size = meta_int(st, "config.vocab_size"),
		.sequence_len = meta_int(st, "config.sequence_len"), .rope_base = 10000,
		.softcap = 15, .norm_eps = 1.1920928955078125e-07f};
	if (nc_gpt_init(m, &c, &nc_ops_cpu) != 0)
		return -1;
	for (int i = 0; i < m->nparams; i++) {
		const struct nc_param *p = &m->params[i];
		float *w = read2(st, "param.", p->name, p->rows, p->cols);
		float *g = read2(st, "grad.", p->name, p->rows, p->cols);
		if (w && g) {
			memcpy(m->w + p->offset, w, (size_t)p->rows * p->cols * sizeof *w);
			memcpy(m->g + p->offset, g, (size_t)p->rows * p->cols * sizeof *g);
		}
		free(w), free(g);
		if (!w || !g)
			return -1;
	}
	return 0;
}

/* (a) Newton–Schulz on nanochat's input: fp32 equals its fp32 run; the
 * bf16 replay is near its bf16 run. */
static void check_ns(const struct nc_safetensors *st, const char *tag, int rows, int cols)
{
	char what[160];
	size_t n = (size_t)rows * cols;
	float *in = read2(st, tag, ".in", rows, cols), *x = malloc(n * sizeof *x);
	float *want = read2(st, tag, ".out_fp32", rows, cols), *want16 = read2(st, tag, ".out", rows, cols);
	float *work = malloc(nc_newton_schulz5_work(rows, cols) * sizeof *work);
	if (!in || !want || !want16) {
		CHECK(0, "Newton–Schulz reference tensors load");
		goto out;
	}
	memcpy(x, in, n * sizeof *x);
	nc_newton_schulz5(&nc_ops_cpu, x, rows, cols, 0, work);
	double e = tap_rel_err(x, want, n);
	printf("# %s (%dx%d) fp32: largest difference %.2e of the largest entry\n", tag, rows, cols, e);
	snprintf(what, sizeof what, "%s: Newton–Schulz in fp32 equals nanochat's fp32 run", tag);
	/* five iterations with coefficients near 5 amplify fp32 rounding of
	 * products summed in another order (BLAS blocks vs torch) to ~1e-5 */
	CHECK(e < 5e-5, what);

	memcpy(x, in, n * sizeof *x);
	nc_newton_schulz5(&nc_ops_cpu, x, rows, cols, 1, work);
	double e16 = tap_rel_err(x, want16, n), f16 = rel_frob(x, want16, n);
	printf("# %s bf16 replay: largest difference %.2e of the largest entry, %.2e in Frobenius norm\n",
	       tag, e16, f16);
	/* nanochat's bf16 run has null-space singular values of 0.1-0.3 from
	 * rounding noise (fixture notes) against ~1 in the row space; a replay
	 * that differs in the last bits grows different noise of that size. */
	snprintf(what, sizeof what, "%s: Newton–Schulz in bf16 is near nanochat's bf16 run", tag);
	CHECK(f16 < 0.5, what);
out:
	free(in), free(x), free(want), free(want16), free(work);
}

/* (b) one step from nanochat's parameters and gradients. */
static void check_step(const struct nc_safetensors *st)
{
	struct nc_gpt m;
	struct nc_optim o;
	struct nc_optim_config c;
	if (load_model(&m, st) != 0) {
		printf("# %s\n", nc_errmsg());
		CHECK(0, "the reference model loads");
		return;
	}
	nc_optim_defaults(&c);
	c.muon_bf16 = 1;
	CHECK(nc_optim_init(&o, &m, &c) == 0, "the optimizer takes every parameter of the model");
	double lr_wte = o.s[0].lr, lr_head = o.s[m.nparams - 1].lr, lr_muon = o.s[1].lr;
	CHECK(fabs(lr_wte - meta_double(st, "lr.wte")) < 1e-15 &&
		      fabs(lr_head - meta_double(st, "lr.lm_head")) < 1e-15 &&
		      lr_muon == meta_double(st, "lr.muon"),
	      "learning rates are nanochat's, scaled by (d_model/768)^-0.5 for AdamW");

	float *w0 = malloc(m.nweights * sizeof *w0);
	memcpy(w0, m.w, m.nweights * sizeof *w0);
	nc_optim_step(&o, &m, 1.0, 0.95);
	double adam = 0, muon = 0;
	const char *muon_worst = "";
	for (int i = 0; i < m.nparams; i++) {
		const struct nc_param *p = &m.params[i];
		size_t n = (size_t)p->rows * p->cols;
		float *want = read2(st, "step1.", p->name, p->rows, p->cols);
		if (!want)
			continue;
		if (o.s[i].kind == NC_OPTIM_ADAMW) {
			adam = fmax(adam, tap_rel_err(m.w + p->offset, want, n));
		} else {
			/* compare the updates, not the parameters they are added to */
			float *du = malloc(n * sizeof *du), *dw = malloc(n * sizeof *dw);
			for (size_t k = 0; k < n; k++) {
				du[k] = m.w[p->offset + k] - w0[p->offset + k];
				dw[k] = want[k] - w0[p->offset + k];
			}
			double e = rel_frob(du, dw, n);
			printf("#   %-40s update differs by %.2e\n", p->name, e);
			if (e > muon)
				muon = e, muon_worst = p->name;
			free(du), free(dw);
		}
		free(want);
	}
	printf("# AdamW (wte, lm_head): largest difference %.2e of the largest entry\n", adam);
	CHECK(adam < 1e-6, "one AdamW step on wte and lm_head equals torch's fused AdamW");
	printf("# Muon with bf16 replay: worst update differs by %.2e in Frobenius norm (%s)\n", muon,
	       muon_worst);
	CHECK(muon < 0.5, "one Muon step with bf16 Newton–Schulz is near nanochat's on every matrix");
	free(w0);
	nc_optim_free(&o);
	nc_gpt_free(&m);
}

/* (b) Muon's bookkeeping, exactly: nanochat's step is param - lr*scale*NS(g)
 * with its bf16 NS output, and ours in fp32 is the same with NS in fp32. */
static void check_muon_bookkeeping(const struct nc_safetensors *st, const char *tag)
{
	char key[160], what[200];
	snprintf(key, sizeof key, "%s.param", tag);
	const char *name = nc_st_meta(st, key);
	struct nc_gpt m;
	struct nc_optim o;
	struct nc_optim_config c;
	if (!name || load_model(&m, st) != 0) {
		CHECK(0, "the reference model loads");
		return;
	}
	nc_optim_defaults(&c);
	nc_optim_init(&o, &m, &c);
	const struct nc_param *p = nc_gpt_param(&m, name);
	size_t n = (size_t)p->rows * p->cols;
	double lr = c.matrix_lr * sqrt(fmax(1.0, (double)p->rows / p->cols));
	float *w0 = read2(st, "param.", name, p->rows, p->cols), *w1 = read2(st, "step1.", name, p->rows, p->cols);
	snprintf(key, sizeof key, "%s.out", tag);
	float *ns16 = read2(st, key, "", p->rows, p->cols);
	snprintf(key, sizeof key, "%s.out_fp32", tag);
	float *ns32 = read2(st, key, "", p->rows, p->cols);
	float *want = malloc(n * sizeof *want), *du = malloc(n * sizeof *du), *dw = malloc(n * sizeof *dw);

	for (size_t k = 0; k < n; k++)
		want[k] = w0[k] - (float)lr * ns16[k];
	double e = tap_rel_err(want, w1, n);
	printf("# %s: nanochat's step vs param - lr*scale*ns.out: %.2e\n", name, e);
	snprintf(what, sizeof what, "%s: nanochat's Muon step is param - lr*%g*NS(g)", name,
		 sqrt(fmax(1.0, (double)p->rows / p->cols)));
	CHECK(e < 1e-7, what);

	nc_optim_step(&o, &m, 1.0, 0.95);
	for (size_t k = 0; k < n; k++) {
		du[k] = m.w[p->offset + k] - w0[k];
		dw[k] = -(float)lr * ns32[k];
	}
	e = tap_rel_err(du, dw, n);
	printf("# %s: fp32 step vs -lr*scale*ns.out_fp32: %.2e of the largest update\n", name, e);
	snprintf(what, sizeof what, "%s: the fp32 Muon step is -lr*scale*NS(nesterov(g)) as nanochat's", name);
	CHECK(e < 2e-5, what);
	free(w0), free(w1), free(ns16), free(ns32), free(want), free(du), free(dw);
	nc_optim_free(&o);
	nc_gpt_free(&m);
}

/* (c) schedules */
static void check_schedules(void)
{
	struct nc_optim_config c;
	nc_optim_defaults(&c);
	CHECK(nc_lr_multiplier(&c, 0, 1000) == 1.0 && nc_lr_multiplier(&c, 800, 1000) == 1.0,
	      "the learning rate is constant up to the last 20% of steps");
	CHECK(fabs(nc_lr_multiplier(&c, 900, 1000) - 0.5) < 1e-12 &&
		      fabs(nc_lr_multiplier(&c, 801, 1000) - 0.995) < 1e-12 &&
		      nc_lr_multiplier(&c, 1000, 1000) == 0.0,
	      "then falls linearly to zero at the last step");
	c.final_lr_frac = 0.1;
	CHECK(fabs(nc_lr_multiplier(&c, 1000, 1000) - 0.1) < 1e-12, "final_lr_frac is where it ends");
	c.warmup_ratio = 0.01;
	CHECK(fabs(nc_lr_multiplier(&c, 0, 1000) - 0.1) < 1e-12 && nc_lr_multiplier(&c, 9, 1000) == 1.0,
	      "warm-up rises linearly over warmup_ratio of the steps");
	CHECK(fabs(nc_muon_momentum(0) - 0.85) < 1e-15 && fabs(nc_muon_momentum(150) - 0.90) < 1e-15 &&
		      fabs(nc_muon_momentum(300) - 0.95) < 1e-15 && fabs(nc_muon_momentum(5000) - 0.95) < 1e-15,
	      "Muon's momentum warms up from 0.85 to 0.95 over 300 steps");
}

/* (d) clipping */
static void check_clip(void)
{
	struct nc_gpt_config gc;
	struct nc_gpt m;
	nc_gpt_config_from_depth(&gc, 1, 16, 8);
	nc_gpt_init(&m, &gc, &nc_ops_cpu);
	memset(m.g, 0, m.nweights * sizeof *m.g);
	m.g[0] = 3, m.g[m.nweights - 1] = 4;
	double norm = nc_clip_grad_norm(&m, 1.0);
	double after = hypot(m.g[0], m.g[m.nweights - 1]);
	CHECK(fabs(norm - 5) < 1e-12, "clipping returns the norm before it");
	CHECK(fabs(after - 1) < 1e-5 && fabs(m.g[0] / m.g[m.nweights - 1] - 0.75) < 1e-6,
	      "a gradient of norm 5 clipped to 1 has norm 1 and keeps its direction");
	m.g[0] = 0.3f, m.g[m.nweights - 1] = 0.4f;
	nc_clip_grad_norm(&m, 1.0);
	CHECK(m.g[0] == 0.3f && m.g[m.nweights - 1] == 0.4f, "a gradient under the limit is left alone");
	nc_gpt_free(&m);
}

/* (e) state tensors */
static void check_state(void)
{
	struct nc_gpt_config gc;
	struct nc_gpt m;
	struct nc_optim o;
	struct nc_optim_config c;
	struct nc_optim_tensor t;
	nc_gpt_config_from_depth(&gc, 2, 16, 8);
	nc_gpt_init(&m, &gc, &nc_ops_cpu);
	nc_optim_defaults(&c);
	nc_optim_init(&o, &m, &c);
	int n = nc_optim_state_count(&o), ok = n == 4 + 6 * gc.n_layer;
	size_t total = 0;
	for (int i = 0; i < n; i++) {
		nc_optim_state_tensor(&o, &m, i, &t);
		total += (size_t)t.rows * t.cols;
		ok = ok && t.data >= o.state && t.data + (size_t)t.rows * t.cols <= o.state + o.nstate;
	}
	CHECK(ok && total == o.nstate, "the state tensors cover the state once, each inside it");
	nc_optim_state_tensor(&o, &m, 0, &t);
	ok = strcmp(t.name, "adam.m.transformer.wte.weight") == 0 && t.rows == 16 && t.cols == 128;
	nc_optim_state_tensor(&o, &m, 1, &t);
	ok = ok && strcmp(t.name, "adam.v.transformer.wte.weight") == 0;
	nc_optim_state_tensor(&o, &m, 6, &t);
	ok = ok && strcmp(t.name, "muon.buf.transformer.h.0.mlp.c_fc.weight") == 0 && t.rows == 512 &&
	     t.cols == 128;
	nc_optim_state_tensor(&o, &m, n - 1, &t);
	ok = ok && strcmp(t.name, "adam.v.lm_head.weight") == 0 && t.rows == 16;
	CHECK(ok, "state tensors are named adam.m/adam.v/muon.buf.<param> in the model's order");
	nc_optim_free(&o);
	nc_gpt_free(&m);
}

int main(void)
{
	struct nc_safetensors st;
	if (nc_st_open(&st, FIXTURE) != 0) {
		printf("# %s\n", nc_errmsg());
		CHECK(0, "reference file opens");
	} else {
		check_ns(&st, "ns", 256, 64);
		check_ns(&st, "ns_wide", 32, 64);
		check_step(&st);
		check_muon_bookkeeping(&st, "ns");
		check_muon_bookkeeping(&st, "ns_wide");
		nc_st_close(&st);
	}
	check_schedules();
	check_clip();
	check_state();
	return TAP_DONE();
}
