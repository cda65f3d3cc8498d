/* The GPT over the CPU ops: sizing from depth, parameter names, gradients
 * of the whole model against finite differences, and a tiny model that
 * learns one batch by heart. */
#include "../../lib/gpt.h"
#include "../../lib/rng.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_sizing(void)
{
	struct nc_gpt_config c;
	CHECK(nc_gpt_config_from_depth(&c, 20, 65536, 2048) == 0 && c.n_embd == 1280 && c.n_head == 10 &&
	      c.n_kv_head == 10, "depth 20: width 1280, 10 heads of 128 (spec 2.1)");
	struct nc_gpt m;
	nc_gpt_config_from_depth(&c, 4, 65536, 2048);
	/* parameter count without allocating d20: check d4 (spec table) */
	nc_gpt_init(&m, &c, &nc_ops_cpu);
	CHECK(m.nweights == 36700160, "depth 4 has 36,700,160 parameters (spec 2.1)");
	CHECK(fabs(nc_gpt_flops_per_token(&m, 2048) - 1.447e8) / 1.447e8 < 1e-3, "depth 4: 1.447e8 FLOPs per token (spec 2.5)");
	CHECK(nc_gpt_param(&m, "transformer.h.3.mlp.c_proj.weight") &&
	      nc_gpt_param(&m, "transformer.h.3.mlp.c_proj.weight")->rows == 256 &&
	      nc_gpt_param(&m, "transformer.h.3.mlp.c_proj.weight")->cols == 1024 &&
	      nc_gpt_param(&m, "lm_head.weight"), "parameters carry nanochat's names and (out, in) shapes");
	nc_gpt_free(&m);
	c.n_head = 3;
	CHECK(nc_gpt_config_check(&c) == -1, "a width that does not split into heads is refused");
}

static struct nc_gpt_config tiny(void)
{
	struct nc_gpt_config c = {.n_layer = 2, .n_head = 2, .n_kv_head = 1, .n_embd = 16,
				  .vocab_size = 13, .sequence_len = 8, .rope_base = 10000,
				  .softcap = 15, .norm_eps = 1.1920929e-07f};
	return c;
}

static void randomize(struct nc_gpt *m, uint64_t seed, float scale)
{
	struct nc_rng r;
	nc_rng_seed(&r, seed);
	for (size_t i = 0; i < m->nweights; i++)
		m->w[i] = scale * (float)(2 * nc_rng_uniform(&r) - 1);
}

static void test_gradients(void)
{
	struct nc_gpt_config c = tiny();
	struct nc_gpt m;
	nc_gpt_init(&m, &c, &nc_ops_cpu);
	randomize(&m, 3, 0.5f);
	int32_t idx[16], tg[16];
	struct nc_rng r;
	nc_rng_seed(&r, 4);
	for (int i = 0; i < 16; i++) {
		idx[i] = (int32_t)nc_rng_below(&r, 13);
		tg[i] = i % 5 == 3 ? -1 : (int32_t)nc_rng_below(&r, 13);
	}
	memset(m.g, 0, m.nweights * sizeof *m.g);
	nc_gpt_forward_backward(&m, idx, tg, 2, 8);
	int bad = 0, checked = 0;
	for (int p = 0; p < m.nparams; p++) {
		const struct nc_param *q = &m.params[p];
		for (int k = 0; k < 6; k++) {
			size_t at = q->offset + nc_rng_below(&r, (uint64_t)q->rows * q->cols);
			float keep = m.w[at], h = 1e-2f;
			m.w[at] = keep + h;
			double up = nc_gpt_forward(&m, idx, tg, 2, 8, NULL);
			m.w[at] = keep - h;
			double down = nc_gpt_forward(&m, idx, tg, 2, 8, NULL);
			m.w[at] = keep;
			double num = (up - down) / (2 * h), an = m.g[at];
			if (fabs(num - an) > 3e-2 * fmax(fabs(num), fabs(an)) + 5e-4) {
				printf("# %s[%zu]: numeric %g analytic %g\n", q->name, at - q->offset, num, an);
				bad++;
			}
			checked++;
		}
	}
	CHECK(bad == 0, "every parameter's gradient matches finite differences of the loss");
	nc_gpt_free(&m);
}

/* The loss through the lm_head a few rows at a time (3: the last chunk
 * short) equals the loss over all rows at once, with its gradients. */
static void test_chunked_loss(void)
{
	struct nc_gpt_config c = tiny();
	struct nc_gpt whole, chunked;
	nc_gpt_init(&whole, &c, &nc_ops_cpu);
	nc_gpt_init(&chunked, &c, &nc_ops_cpu);
	chunked.xent_rows = 3;
	nc_gpt_init_weights(&whole, 9);
	memcpy(chunked.w, whole.w, whole.nweights * sizeof *whole.w);
	int32_t idx[16], tg[16];
	for (int i = 0; i < 16; i++) {
		idx[i] = (i * 5 + 2) % 13;
		tg[i] = i % 6 == 1 ? -1 : (i * 3 + 1) % 13;
	}
	double a = nc_gpt_forward(&whole, idx, tg, 2, 8, NULL);
	double b = nc_gpt_forward(&chunked, idx, tg, 2, 8, NULL);
	CHECK(fabs(a - b) <= 1e-6 * a, "the loss a few rows at a time equals the loss at once");
	memset(whole.g, 0, whole.nweights * sizeof *whole.g);
	memset(chunked.g, 0, chunked.nweights * sizeof *chunked.g);
	a = nc_gpt_forward_backward(&whole, idx, tg, 2, 8);
	b = nc_gpt_forward_backward(&chunked, idx, tg, 2, 8);
	CHECK(fabs(a - b) <= 1e-6 * a &&
		      tap_rel_err(nc_gpt_token_losses(&chunked), nc_gpt_token_losses(&whole), 16) < 1e-6,
	      "forward_backward's loss and token losses, chunked, equal the whole");
	double e = tap_rel_err(chunked.g, whole.g, whole.nweights);
	printf("# chunked gradients: largest difference %.2e\n", e);
	CHECK(e < 1e-6, "gradients through a chunked lm_head equal the whole");
	nc_gpt_free(&whole);
	nc_gpt_free(&chunked);
}

static void test_overfit(void)
{
	struct nc_gpt_config c = tiny();
	struct nc_gpt m;
	nc_gpt_init(&m, &c, &nc_ops_cpu);
	nc_gpt_init_weights(&m, 1);
	int32_t idx[16], tg[16];
	for (int i = 0; i < 16; i++) {
		idx[i] = (i * 7) % 13;
		tg[i] = (i * 5 + 1) % 13;
	}
	double first = 0, last = 0;
	for (int step = 0; step < 300; step++) {
		memset(m.g, 0, m.nweights * sizeof *m.g);
		double loss = nc_gpt_forward_backward(&m, idx, tg, 2, 8);
		for (size_t i = 0; i < m.nweights; i++)
			m.w[i] -= 0.1f * m.g[i];
		if (step == 0)
			first = loss;
		last = loss;
	}
	printf("# loss %.4f -> %.4f\n", first, last);
	CHECK(fabs(first - log(13)) < 0.05, "a fresh model starts at the uniform loss log(V)");
	CHECK(last < 0.05, "a tiny model learns one batch by heart");
	nc_gpt_free(&m);
}

int main(void)
{
	test_sizing();
	test_gradients();
	test_chunked_loss();
	test_overfit();
	return TAP_DONE();
}
