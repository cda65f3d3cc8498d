/* The GPT against nanochat's own PyTorch code (tests/fixtures/gpt, made by
 * tests/oracle/nanochat_ref.py from nanochat v1 on the CPU in fp32): the
 * rotary tables, the logits, the loss and every parameter's gradient. */
#include "../../lib/err.h"
#include "../../lib/gpt.h"
#include "../../lib/safetensors.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int meta_int(const struct nc_safetensors *st, const char *key)
{
	const char *v = nc_st_meta(st, key);
	return v ? atoi(v) : -1;
}

static void check_case(const char *path, const char *tag, int grads)
{
	char name[128], what[256];
	struct nc_safetensors st;
	if (nc_st_open(&st, path) != 0) {
		printf("# %s\n", nc_errmsg());
		CHECK(0, "reference file opens");
		return;
	}
	struct nc_gpt_config c = {
		.n_layer = meta_int(&st, "config.n_layer"), .n_head = meta_int(&st, "config.n_head"),
		.n_kv_head = meta_int(&st, "config.n_kv_head"), .n_embd = meta_int(&st, "config.n_embd"),
		.vocab_size = meta_int(&st, "config.vocab_size"),
		.sequence_len = meta_int(&st, "config.sequence_len"), .rope_base = 10000,
		.softcap = 15, .norm_eps = 1.1920928955078125e-07f};
	struct nc_gpt m;
	int ok = nc_gpt_init(&m, &c, &nc_ops_cpu) == 0;
	for (int p = 0; ok && p < m.nparams; p++) {
		int64_t shape[2] = {m.params[p].rows, m.params[p].cols};
		snprintf(name, sizeof name, "param.%s", m.params[p].name);
		ok = nc_st_read_f32(&st, name, 2, shape, m.w + m.params[p].offset) == 0;
	}
	if (!ok)
		printf("# %s\n", nc_errmsg());
	snprintf(what, sizeof what, "%s: nanochat's parameters load by name and shape", tag);
	CHECK(ok, what);
	const struct nc_st_tensor *ti = nc_st_find(&st, "input.idx");
	int B = (int)ti->shape[0], T = (int)ti->shape[1], N = B * T, V = c.vocab_size;
	int64_t bt[2] = {B, T}, btv[3] = {B, T, V}, one[1] = {1};
	int32_t *idx = malloc(N * sizeof *idx), *tg = malloc(N * sizeof *tg);
	float *logits = malloc((size_t)N * V * sizeof *logits), *want = malloc((size_t)N * V * sizeof *want);
	float loss_want;
	nc_st_read_i32(&st, "input.idx", 2, bt, idx);
	nc_st_read_i32(&st, "input.targets", 2, bt, tg);
	nc_st_read_f32(&st, "out.logits", 3, btv, want);
	nc_st_read_f32(&st, "out.loss", 1, one, &loss_want);

	int D = c.n_embd / c.n_head;
	int64_t cs[2] = {c.sequence_len, D / 2};
	float *cw = malloc(cs[0] * cs[1] * sizeof *cw), *sw = malloc(cs[0] * cs[1] * sizeof *sw);
	float *cg = malloc(cs[0] * cs[1] * sizeof *cg), *sg = malloc(cs[0] * cs[1] * sizeof *sg);
	if (nc_st_read_f32(&st, "rotary.cos", 2, cs, cw) == 0 && nc_st_read_f32(&st, "rotary.sin", 2, cs, sw) == 0) {
		nc_rotary_tables(cg, sg, (int)cs[0], D, 0, 10000.0f);
		snprintf(what, sizeof what, "%s: rotary tables equal nanochat's", tag);
		CHECK(tap_rel_err(cg, cw, cs[0] * cs[1]) < 1e-6 && tap_rel_err(sg, sw, cs[0] * cs[1]) < 1e-6, what);
	}

	nc_gpt_forward(&m, idx, NULL, B, T, logits);
	double e = tap_rel_err(logits, want, (size_t)N * V);
	printf("# %s logits: largest difference %.2e of the largest logit\n", tag, e);
	snprintf(what, sizeof what, "%s: logits equal nanochat's to float tolerance", tag);
	CHECK(e < 1e-5, what);

	/* the KV-cache path (nc-sample's): all rows decoding one token a step
	 * after a one-token prefill, and each step's logits against nanochat's
	 * at that position */
	struct nc_kv_cache kv;
	float *step = malloc((size_t)B * V * sizeof *step), *col_want = malloc((size_t)B * V * sizeof *col_want);
	int32_t *col = malloc(B * sizeof *col);
	double ek = 0;
	nc_kv_init(&kv, &m, B, T);
	for (int t = 0; t < T; t++) {
		for (int b = 0; b < B; b++) {
			col[b] = idx[b * T + t];
			memcpy(col_want + (size_t)b * V, want + ((size_t)b * T + t) * V, V * sizeof *want);
		}
		nc_gpt_step(&m, &kv, col, B, 1, step);
		ek = fmax(ek, tap_rel_err(step, col_want, (size_t)B * V));
	}
	nc_kv_free(&kv, &m);
	printf("# %s cached decode logits: largest difference %.2e\n", tag, ek);
	snprintf(what, sizeof what, "%s: KV-cache decode gives nanochat's logits at every position", tag);
	CHECK(ek < 1e-5, what);
	free(step), free(col_want), free(col);
	memset(m.g, 0, m.nweights * sizeof *m.g);
	double loss = grads ? nc_gpt_forward_backward(&m, idx, tg, B, T)
			    : nc_gpt_forward(&m, idx, tg, B, T, NULL);
	printf("# %s loss: nc %.8f nanochat %.8f\n", tag, loss, loss_want);
	snprintf(what, sizeof what, "%s: the loss equals nanochat's", tag);
	CHECK(fabs(loss - loss_want) < 1e-5 * fabs(loss_want), what);
	if (grads) {
		double worst = 0;
		const char *worst_name = "";
		int found = 1;
		for (int p = 0; p < m.nparams; p++) {
			size_t n = (size_t)m.params[p].rows * m.params[p].cols;
			int64_t shape[2] = {m.params[p].rows, m.params[p].cols};
			float *g = malloc(n * sizeof *g);
			snprintf(name, sizeof name, "grad.%s", m.params[p].name);
			if (nc_st_read_f32(&st, name, 2, shape, g) != 0) {
				found = 0;
			} else {
				double r = tap_rel_err(m.g + m.params[p].offset, g, n);
				if (r > worst) {
					worst = r;
					worst_name = m.params[p].name;
				}
			}
			free(g);
		}
		printf("# %s gradients: largest difference %.2e (%s)\n", tag, worst, worst_name);
		snprintf(what, sizeof what, "%s: every parameter's gradient equals nanochat's", tag);
		CHECK(found && worst < 1e-4, what);
	}
	free(idx), free(tg), free(logits), free(want), free(cw), free(sw), free(cg), free(sg);
	nc_gpt_free(&m);
	nc_st_close(&st);
}

int main(void)
{
	check_case("tests/fixtures/gpt/ref_gqa.safetensors", "gqa", 1);
	check_case("tests/fixtures/gpt/ref_mha.safetensors", "mha", 0);
	return TAP_DONE();
}
