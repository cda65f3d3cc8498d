/* The GPT over the CPU ops: sizing from depth, parameter names, gradients
 * of the whole model against finite differences, and a tiny model that
 * learns one batch by heart. */
#include "../../lib/err.h"
#include "../../lib/gpt.h"
#include "../../lib/rng.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../../lib/optim.h"

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

/* The loss with ignored targets in runs (the lm_head then runs on the
 * other rows only) against the softcapped logits of every row, taken by
 * this test into the mean cross-entropy over the targets kept; the token
 * losses are 0 where the target is ignored. */
static void test_loss_from_logits(void)
{
	struct nc_gpt_config c = tiny();
	struct nc_gpt m;
	nc_gpt_init(&m, &c, &nc_ops_cpu);
	randomize(&m, 11, 0.5f);
	m.xent_rows = 3;   /* runs that start and end inside a chunk */
	int32_t idx[16], tg[16];
	for (int i = 0; i < 16; i++) {
		idx[i] = (i * 5 + 4) % 13;
		tg[i] = (i >= 2 && i < 6) || i == 9 || i >= 14 ? -1 : (i * 7 + 2) % 13;
	}
	float logits[16 * 13];
	nc_gpt_forward(&m, idx, NULL, 2, 8, logits);
	double want = 0, n = 0;
	float tok[16];
	for (int i = 0; i < 16; i++) {
		tok[i] = 0;
		if (tg[i] < 0)
			continue;
		double mx = -INFINITY, sum = 0;
		for (int v = 0; v < 13; v++)
			mx = fmax(mx, logits[i * 13 + v]);
		for (int v = 0; v < 13; v++)
			sum += exp(logits[i * 13 + v] - mx);
		tok[i] = (float)(mx + log(sum) - logits[i * 13 + tg[i]]);
		want += tok[i];
		n++;
	}
	want /= n;
	double got = nc_gpt_forward(&m, idx, tg, 2, 8, NULL);
	CHECK(fabs(got - want) <= 1e-5 * want, "the loss over runs of kept targets is the mean cross-entropy of the logits");
	const float *tl = nc_gpt_token_losses(&m);
	int zero = 1;
	for (int i = 0; i < 16; i++)
		zero &= tg[i] >= 0 || tl[i] == 0;
	CHECK(zero && tap_rel_err(tl, tok, 16) < 1e-5, "token losses: each kept target's, 0 where ignored");
	memset(m.g, 0, m.nweights * sizeof *m.g);
	got = nc_gpt_forward_backward(&m, idx, tg, 2, 8);
	CHECK(fabs(got - want) <= 1e-5 * want && tap_rel_err(nc_gpt_token_losses(&m), tok, 16) < 1e-5,
	      "forward_backward's loss and token losses too");
	nc_gpt_free(&m);
}

/* sft's batches packed (nc_gpt_forward_backward_packed): rows at their
 * own lengths end to end give the loss and gradients of the same rows
 * right-padded with ignored targets (the padding's inputs arbitrary). The
 * rows here are long enough (20) for the CPU's sgemm attention. */
enum { PB = 4, PC = 20 };

static void padded_batch(int32_t *idx, int32_t *tg)
{
	for (int i = 0; i < PB * PC; i++) {
		int r = i / PC, t = i % PC;
		idx[i] = (i * 7 + 1) % 13;
		tg[i] = (i * 3 + 2) % 13;
		if (r == 0 && t >= 3 && t < 7)
			tg[i] = -1;                       /* full length, a prompt inside */
		if (r == 1 && (t < 4 || t >= 11))
			tg[i] = -1, idx[i] = t >= 11 ? 12 : idx[i];   /* 11 tokens, then padding */
		if (r == 2)
			tg[i] = -1;                       /* nothing to learn: left out */
		if (r == 3 && t >= 14)
			tg[i] = -1;                       /* a last prompt (t 14..16), then padding */
		if (r == 3 && t >= 17)
			idx[i] = 12;
	}
}

static void test_packed(void)
{
	static const int len[] = {20, 11, 14}, from[] = {0, 1, 3};
	struct nc_gpt_config c = tiny();
	struct nc_gpt pad, pk;
	nc_gpt_init(&pad, &c, &nc_ops_cpu);
	nc_gpt_init(&pk, &c, &nc_ops_cpu);
	randomize(&pad, 12, 0.5f);
	memcpy(pk.w, pad.w, pad.nweights * sizeof *pad.w);
	int32_t idx[PB * PC], tg[PB * PC], pidx[PB * PC], ptg[PB * PC];
	padded_batch(idx, tg);
	int at = 0;
	for (int r = 0; r < 3; r++) {
		memcpy(pidx + at, idx + from[r] * PC, len[r] * sizeof *idx);
		memcpy(ptg + at, tg + from[r] * PC, len[r] * sizeof *tg);
		at += len[r];
	}
	double a = nc_gpt_forward_backward(&pad, idx, tg, PB, PC);
	double b = nc_gpt_forward_backward_packed(&pk, pidx, ptg, len, 3);
	printf("# packed: loss %.9f, padded %.9f\n", b, a);
	CHECK(fabs(a - b) <= 1e-6 * a, "a packed batch's loss is the padded batch's");
	const float *ta = nc_gpt_token_losses(&pad), *tb = nc_gpt_token_losses(&pk);
	float want[PB * PC];
	at = 0;
	for (int r = 0; r < 3; r++)
		for (int t = 0; t < len[r]; t++)
			want[at++] = ta[from[r] * PC + t];
	CHECK(tap_rel_err(tb, want, at) < 1e-5, "and each row's token losses, at its own positions");
	double e = tap_rel_err(pk.g, pad.g, pad.nweights);
	printf("# packed gradients: largest difference %.2e\n", e);
	CHECK(e < 1e-5, "and the gradients of every parameter");
	CHECK(nc_gpt_forward_packed(&pk, pidx, ptg, len, 3) == b, "a loss-only packed forward gives the same loss");
	/* reserved at the padded shape, a packed batch uses those buffers */
	struct nc_gpt_acts *kept = pad.a;
	CHECK(nc_gpt_forward_packed(&pad, pidx, ptg, len, 3) == b && pad.a == kept,
	      "after a padded batch of the same rows, a packed one fits its buffers");
	static const int none[] = {0, 0};
	CHECK(nc_gpt_forward_backward_packed(&pk, pidx, ptg, none, 2) == 0, "an empty packed batch is loss 0");
	nc_gpt_free(&pad);
	nc_gpt_free(&pk);
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

/* Activations kept for backward in bf16 (the CUDA bf16 table's choice),
 * here on the CPU ops with keep_bf16 set: forward is untouched, so the
 * loss is the same bit for bit; the gradients move by bf16 rounding only. */
static void test_kept_bf16(void)
{
	struct nc_ops kept = nc_ops_cpu;
	kept.keep_bf16 = 1;
	struct nc_gpt_config c = tiny();
	struct nc_gpt f, h;
	nc_gpt_init(&f, &c, &nc_ops_cpu);
	nc_gpt_init(&h, &c, &kept);
	nc_gpt_init_weights(&f, 5);
	randomize(&f, 6, 0.5f);   /* c_proj and lm_head not zero: every path carries gradient */
	memcpy(h.w, f.w, f.nweights * sizeof *f.w);
	int32_t idx[16], tg[16];
	for (int i = 0; i < 16; i++) {
		idx[i] = (i * 7 + 3) % 13;
		tg[i] = i % 7 == 2 ? -1 : (i * 4 + 1) % 13;
	}
	double a = nc_gpt_forward_backward(&f, idx, tg, 2, 8);
	double b = nc_gpt_forward_backward(&h, idx, tg, 2, 8);
	CHECK(a == b, "keeping activations in bf16 leaves the loss bit for bit");
	double e = tap_rel_err(h.g, f.g, f.nweights);
	printf("# gradients with bf16 kept activations: largest difference %.2e\n", e);
	CHECK(e > 0 && e < 2e-2, "the gradients differ from fp32's by bf16 rounding only (0 < e < 2e-2)");
	CHECK(nc_gpt_forward(&h, idx, tg, 2, 8, NULL) == a, "a loss-only forward gives the same loss");
	nc_gpt_free(&f);
	nc_gpt_free(&h);
}

/* What the model and optimizer allocate, counted on a table whose memory
 * is address space only: d20 at nanochat's device batch 32 x 2048. */
static size_t counted;

static void *count_alloc(size_t bytes)
{
	counted += bytes;
	void *p = mmap(NULL, bytes ? bytes : 1, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void no_free(void *p) {}
static void no_copy(void *dst, const void *src, size_t bytes) {}

static double train_gb(int keep_bf16)
{
	struct nc_ops o = nc_ops_cpu;
	o.alloc = count_alloc, o.free = no_free, o.upload = no_copy, o.keep_bf16 = keep_bf16;
	struct nc_gpt_config c;
	nc_gpt_config_from_depth(&c, 20, 65536, 2048);
	struct nc_gpt m;
	struct nc_optim opt;
	struct nc_optim_config oc;
	nc_optim_defaults(&oc);
	counted = 0;
	nc_gpt_init(&m, &c, &o);
	nc_optim_init(&opt, &m, &oc);
	nc_gpt_reserve(&m, 32, 2048);
	double gb = counted / 1e9;
	/* The counted memory itself is address space only, left mapped; the
	 * host-side tables are the model's and optimizer's to free. */
	nc_optim_free(&opt);
	nc_gpt_free(&m);
	return gb;
}

static void test_d20_memory(void)
{
	double fp32 = train_gb(0), bf16 = train_gb(1);
	printf("# d20, 32 x 2048: model, optimizer and activations %.1f GB kept in fp32, %.1f GB in bf16\n",
	       fp32, bf16);
	/* the CUDA ops add scratch: bf16 operand copies (< 2 GB), a query
	 * chunk's attention scores (< 1.5 GB), cuBLAS's workspace */
	CHECK(bf16 < 70, "d20 at device batch 32 x 2048 allocates under 70 GB with bf16 kept activations");
}

/* An op table that takes heads of at most 64 (as the CUDA fp32 table
 * takes at most 128) refuses a model with heads of 128 at set-up, with
 * the reason, and takes one with heads of 64. */
static void test_head_limit(void)
{
	struct nc_ops small = nc_ops_cpu;
	small.name = "small", small.max_head_dim = 64;
	struct nc_gpt_config c = {.n_layer = 1, .n_embd = 256, .n_head = 2, .n_kv_head = 2,
				  .vocab_size = 50, .sequence_len = 16, .rope_base = 10000.0f};
	struct nc_gpt m;
	CHECK(nc_gpt_init(&m, &c, &small) == -1 &&
	      strcmp(nc_errmsg(), "head size 128: the small ops take heads of at most 64") == 0,
	      "a head size above the ops' max_head_dim is refused at set-up, naming both");
	nc_gpt_free(&m);
	c.n_head = c.n_kv_head = 4;
	CHECK(nc_gpt_init(&m, &c, &small) == 0, "heads of exactly max_head_dim are taken");
	nc_gpt_free(&m);
	c.n_head = c.n_kv_head = 1;
	CHECK(nc_ops_cpu.max_head_dim == 0 && nc_gpt_init(&m, &c, &nc_ops_cpu) == 0,
	      "the CPU ops take any head size (256 here)");
	nc_gpt_free(&m);
}

int main(void)
{
	test_head_limit();
	test_sizing();
	test_gradients();
	test_chunked_loss();
	test_loss_from_logits();
	test_packed();
	test_overfit();
	test_kept_bf16();
	test_d20_memory();
	return TAP_DONE();
}
