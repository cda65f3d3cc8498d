/* The inference engine: cached decode against recomputing the whole
 * sequence, sampling, whole UTF-8 characters, samples sharing a prefill,
 * rows leaving the batch, and the tool-use state machine on a model whose
 * next token is programmed. */
#include "../../lib/engine.h"
#include "../../lib/err.h"
#include "../../lib/rng.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void randomize(struct nc_gpt *m, uint64_t seed, float scale)
{
	struct nc_rng r;
	nc_rng_seed(&r, seed);
	for (size_t i = 0; i < m->nweights; i++)
		m->w[i] = scale * (float)(2 * nc_rng_uniform(&r) - 1);
}

static struct nc_gpt_config config(int vocab, int ctx)
{
	struct nc_gpt_config c = {.n_layer = 2, .n_head = 4, .n_kv_head = 2, .n_embd = 32,
				  .vocab_size = vocab, .sequence_len = ctx, .rope_base = 10000,
				  .softcap = 15, .norm_eps = 1.1920929e-07f};
	return c;
}

/* Logits of the last position of seq[0..n) by the full forward. */
static void full_logits(struct nc_gpt *m, const int32_t *seq, int n, float *out)
{
	int V = m->c.vocab_size;
	float *all = malloc((size_t)n * V * sizeof *all);
	nc_gpt_forward(m, seq, NULL, 1, n, all);
	memcpy(out, all + (size_t)(n - 1) * V, (size_t)V * sizeof *out);
	free(all);
}

static void test_cache_equals_recompute(void)
{
	enum { V = 50, CTX = 48, N = 40, P = 7, B = 3 };
	struct nc_gpt_config c = config(V, CTX);
	struct nc_gpt m;
	nc_gpt_init(&m, &c, &nc_ops_cpu);
	randomize(&m, 1, 0.3f);
	int32_t seq[B][N];
	struct nc_rng r;
	nc_rng_seed(&r, 2);
	for (int b = 0; b < B; b++)
		for (int i = 0; i < N; i++)
			seq[b][i] = (int32_t)nc_rng_below(&r, V);

	/* one row: prefill P tokens, then one token a step */
	struct nc_kv_cache kv;
	CHECK(nc_kv_init(&kv, &m, 1, N) == 0, "a cache of 1 x 40");
	float got[B * V], want[V];
	double worst = 0;
	CHECK(nc_gpt_step(&m, &kv, seq[0], 1, P, got) == 0 && kv.pos == P, "prefill advances the position");
	full_logits(&m, seq[0], P, want);
	worst = fmax(worst, tap_rel_err(got, want, V));
	for (int t = P; t < N; t++) {
		nc_gpt_step(&m, &kv, &seq[0][t], 1, 1, got);
		full_logits(&m, seq[0], t + 1, want);
		worst = fmax(worst, tap_rel_err(got, want, V));
	}
	CHECK(worst < 1e-5, "cached decode gives the full forward's logits at every step");
	CHECK(nc_gpt_step(&m, &kv, seq[0], 1, 1, got) == -1 && strstr(nc_errmsg(), "full"),
	      "a full cache refuses another token");
	nc_kv_free(&kv, &m);

	/* three rows decoding together, after their own prefills */
	nc_kv_init(&kv, &m, B, N);
	int32_t col[B];
	worst = 0;
	for (int b = 0; b < B; b++)
		for (int i = 0; i < P; i++)
			col[b] = seq[b][i];
	{
		int32_t pre[B * P];
		for (int b = 0; b < B; b++)
			memcpy(pre + b * P, seq[b], P * sizeof(int32_t));
		nc_gpt_step(&m, &kv, pre, B, P, got);
	}
	for (int t = P; t < N; t++) {
		for (int b = 0; b < B; b++)
			col[b] = seq[b][t];
		nc_gpt_step(&m, &kv, col, B, 1, got);
		for (int b = 0; b < B; b++) {
			full_logits(&m, seq[b], t + 1, want);
			worst = fmax(worst, tap_rel_err(got + b * V, want, V));
		}
	}
	CHECK(worst < 1e-5, "a batch of rows decodes each row as if alone");

	/* a row copied over another carries on as that row */
	nc_kv_copy_row(&kv, &m, 0, 2);
	kv.pos = N - 1;   /* rewind one position and redo row 2's last token in slot 0 */
	col[0] = seq[2][N - 1];
	nc_gpt_step(&m, &kv, col, 1, 1, got);
	full_logits(&m, seq[2], N, want);
	CHECK(tap_rel_err(got, want, V) < 1e-5, "a copied row continues the sequence it was copied from");
	nc_kv_free(&kv, &m);
	CHECK(nc_kv_init(&kv, &m, 1, CTX + 1) == -1 && strstr(nc_errmsg(), "context"),
	      "a cache longer than the context is refused");
	nc_gpt_free(&m);
}

static void test_sampling(void)
{
	float z[6] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f, 0.0f};
	int scratch[6];
	CHECK(nc_sample_token(z, 6, 0, 0, 0.9, scratch) == 1, "temperature 0 takes the first largest logit");
	CHECK(nc_sample_token(z, 6, 1.0, 1, 0.99, scratch) == 1, "top-k 1 is greedy");
	/* the draw follows softmax(z / T) over the top k: count over an even
	 * grid of u */
	for (int k = 0; k <= 3; k += 3) {
		double T = 0.7, p[6] = {0}, sum = 0;
		int kk = k ? k : 6, order[6] = {1, 3, 4, 0, 5, 2};
		for (int i = 0; i < kk; i++)
			sum += p[order[i]] = exp(z[order[i]] / T);
		int count[6] = {0}, n = 200000;
		for (int i = 0; i < n; i++)
			count[nc_sample_token(z, 6, T, k, (i + 0.5) / n, scratch)]++;
		double err = 0;
		for (int i = 0; i < 6; i++)
			err = fmax(err, fabs((double)count[i] / n - p[i] / sum));
		CHECK(err < 1e-4, k ? "top-k 3 samples softmax over the three largest" :
			     "sampling follows softmax(logits / temperature)");
	}
}

/* Whether s[0..n) is whole UTF-8 characters (nothing cut short). */
static int complete_utf8(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t need = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
		if (i + need > n)
			return 0;
		i += need;
	}
	return 1;
}

/* Python's bytes.decode("utf-8", "replace") of each input (checked with
 * python3 when the table was written). */
static void test_utf8(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"h\xc3\xa9llo", "h\xc3\xa9llo"},
		{"\xe2\x82\xac", "\xe2\x82\xac"},
		{"\xf0\x9f\x98\x80!", "\xf0\x9f\x98\x80!"},
		{"a\x80" "b", "a\xef\xbf\xbd" "b"},
		{"\xe2\x82" "A", "\xef\xbf\xbd" "A"},
		{"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},
		{"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
		{"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
		{"\xe2\x82", "\xef\xbf\xbd"},
	};
	int ok = 1, whole = 1;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct nc_utf8_stream s = {0};
		char *out = NULL;
		size_t len = 0, cap = 0;
		/* one byte at a time, as tokens may split characters */
		for (const char *p = cases[i].in; *p; p++) {
			nc_utf8_feed(&s, (const unsigned char *)p, 1, &out, &len, &cap);
			/* what has come out never ends inside a character */
			if (!complete_utf8(out, len))
				whole = 0;
		}
		nc_utf8_flush(&s, &out, &len, &cap);
		if (len != strlen(cases[i].want) || memcmp(out, cases[i].want, len))
			ok = 0;
		free(out);
	}
	CHECK(ok, "bytes decode as Python's errors='replace' does");
	CHECK(whole, "a character split across tokens comes out whole");
}

/* ---- generation ---- */

static int make_tokenizer(struct nc_tokenizer *t)
{
	return nc_tok_from_merges(t, "nanochat", NULL, 0, NC_N_SPECIAL, nc_special_names);
}

struct capture {
	uint32_t ids[8][512];
	int forced[8][512];
	int n[8];
};

static int capture(void *ctx, int sample, uint32_t token, int forced)
{
	struct capture *c = ctx;
	c->forced[sample][c->n[sample]] = forced;
	c->ids[sample][c->n[sample]++] = token;
	return 0;
}

static void test_generate(void)
{
	struct nc_tokenizer tok;
	CHECK(make_tokenizer(&tok) == 0, "a byte tokenizer with nanochat's specials");
	int V = (int)tok.vocab_size;
	struct nc_gpt_config c = config(V, 256);
	struct nc_gpt m;
	nc_gpt_init(&m, &c, &nc_ops_cpu);
	randomize(&m, 5, 0.4f);
	struct nc_engine e;
	CHECK(nc_engine_init(&e, &m, &tok) == 0, "an engine over the model and tokenizer");
	uint32_t prompt[] = {tok.vocab_size - 9, 'H', 'i', ' ', 't', 'h', 'e', 'r', 'e'};
	static struct capture a, b, one;
	enum nc_finish fa[8], fb[8], f1;

	struct nc_sample_opts o = {.max_tokens = 60, .temperature = 0, .seed = 1, .samples = 1};
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	nc_generate(&e, prompt, 9, &o, capture, &a, fa);
	nc_generate(&e, prompt, 9, &o, capture, &b, fb);
	CHECK(a.n[0] > 0 && a.n[0] == b.n[0] && !memcmp(a.ids[0], b.ids[0], a.n[0] * sizeof(uint32_t)),
	      "greedy output is deterministic");

	/* several samples from one prefill = separate runs with seeds s + i;
	 * with 265 ids and temperature 1.5, some rows meet <|bos|> or
	 * <|assistant_end|> early and leave the batch, others run to the end */
	o = (struct nc_sample_opts){.max_tokens = 150, .temperature = 1.5, .seed = 11, .samples = 6};
	memset(&a, 0, sizeof a);
	CHECK(nc_generate(&e, prompt, 9, &o, capture, &a, fa) == 0, "six samples");
	int same = 1, stops = 0, lengths = 0;
	for (int s = 0; s < 6; s++) {
		struct nc_sample_opts o1 = o;
		o1.samples = 1;
		o1.seed = o.seed + (uint64_t)s;
		memset(&one, 0, sizeof one);
		nc_generate(&e, prompt, 9, &o1, capture, &one, &f1);
		if (one.n[0] != a.n[s] || memcmp(one.ids[0], a.ids[s], a.n[s] * sizeof(uint32_t)) ||
		    f1 != fa[s])
			same = 0;
		stops += fa[s] == NC_FINISH_STOP;
		lengths += fa[s] == NC_FINISH_LENGTH && a.n[s] == 150;
	}
	CHECK(stops > 0 && lengths > 0, "some rows stopped early, others ran to the token limit");
	CHECK(same, "N samples from one prefill equal N separate runs with the same seeds");
	/* later nanochat's behaviour, on purpose: v1 gave every row the one
	 * token drawn after the prefill */
	int firsts_differ = 0;
	for (int s = 1; s < 6; s++)
		firsts_differ |= a.n[s] > 0 && a.n[0] > 0 && a.ids[s][0] != a.ids[0][0];
	CHECK(firsts_differ, "each sample draws its own first token");

	memset(&b, 0, sizeof b);
	nc_generate(&e, prompt, 9, &o, capture, &b, fb);
	CHECK(!memcmp(&a, &b, sizeof a), "the same seed gives the same samples");

	o = (struct nc_sample_opts){.max_tokens = 10, .temperature = 0, .seed = 1, .samples = 1};
	uint32_t longp[256] = {0};
	CHECK(nc_generate(&e, longp, 256, &o, capture, &a, fa) == -1 && strstr(nc_errmsg(), "context"),
	      "a prompt as long as the context is refused");
	uint32_t bad[] = {(uint32_t)V + 3};
	CHECK(nc_generate(&e, bad, 1, &o, capture, &a, fa) == -1 && strstr(nc_errmsg(), "vocabulary"),
	      "a prompt id outside the vocabulary is refused");
	nc_engine_free(&e);
	nc_gpt_free(&m);
	nc_tok_free(&tok);
}

/* A model whose greedy next token is next[current token]: the blocks add
 * nothing (zero output projections), the embedding is one-hot and lm_head
 * maps each one-hot to its successor. */
static void program(struct nc_gpt *m, const uint32_t *next)
{
	int V = m->c.vocab_size, C = m->c.n_embd;
	memset(m->w, 0, m->nweights * sizeof *m->w);
	float *wte = m->w + nc_gpt_param(m, "transformer.wte.weight")->offset;
	float *lm = m->w + nc_gpt_param(m, "lm_head.weight")->offset;
	for (int i = 0; i < V; i++) {
		wte[(size_t)i * C + i] = 1;
		lm[(size_t)next[i] * C + i] = 1;
	}
}

static void test_tool_use(void)
{
	struct nc_tokenizer tok;
	make_tokenizer(&tok);
	int V = (int)tok.vocab_size;
	struct nc_gpt_config c = config(V, 64);
	c.n_embd = 272, c.n_head = 2, c.n_kv_head = 2;   /* room for one-hot ids */
	struct nc_gpt m;
	nc_gpt_init(&m, &c, &nc_ops_cpu);
	uint32_t next[512];
	uint32_t ps = nc_tok_special(&tok, "<|python_start|>"), pe = nc_tok_special(&tok, "<|python_end|>");
	uint32_t os = nc_tok_special(&tok, "<|output_start|>"), oe = nc_tok_special(&tok, "<|output_end|>");
	uint32_t ae = nc_tok_special(&tok, "<|assistant_end|>");
	for (int i = 0; i < V; i++)
		next[i] = 'x';
	/* "=" -> python "6*7" -> end; after the forced output, the reply ends */
	next['='] = ps, next[ps] = '6', next['6'] = '*', next['*'] = '7', next['7'] = pe;
	next[pe] = 'z', next[oe] = ae;
	/* "é" in two byte tokens */
	next['e'] = 0xC3, next[0xC3] = 0xA9, next[0xA9] = ae;
	program(&m, next);
	struct nc_engine e;
	nc_engine_init(&e, &m, &tok);
	struct nc_sample_opts o = {.max_tokens = 20, .temperature = 0, .seed = 1, .samples = 2};
	static struct capture a;
	enum nc_finish f[2];
	uint32_t prompt[] = {'=', '='};
	memset(&a, 0, sizeof a);
	nc_generate(&e, prompt, 2, &o, capture, &a, f);
	uint32_t want[] = {ps, '6', '*', '7', pe, os, '4', '2', oe};
	int wforced[] = {0, 0, 0, 0, 0, 1, 1, 1, 1};
	CHECK(a.n[0] == 9 && !memcmp(a.ids[0], want, sizeof want) && !memcmp(a.forced[0], wforced, sizeof wforced) &&
	      f[0] == NC_FINISH_STOP, "python 6*7 gets <|output_start|>42<|output_end|> forced back, then the reply ends");
	CHECK(a.n[1] == 9 && !memcmp(a.ids[1], want, sizeof want), "every row runs its own tool calls");

	/* the calculator refuses: nothing is forced */
	next['6'] = 'a', next['a'] = '(', next['('] = pe, next[pe] = ae;
	program(&m, next);
	o.samples = 1;
	memset(&a, 0, sizeof a);
	nc_generate(&e, prompt, 2, &o, capture, &a, f);
	uint32_t want2[] = {ps, '6', 'a', '(', pe};
	CHECK(a.n[0] == 5 && !memcmp(a.ids[0], want2, sizeof want2) && f[0] == NC_FINISH_STOP,
	      "an expression the calculator refuses forces nothing");

	/* 'x' follows 'x' forever: the context bounds generation */
	o.max_tokens = 1000;
	uint32_t xp[] = {'x', 'x', 'x'};
	memset(&a, 0, sizeof a);
	nc_generate(&e, xp, 3, &o, capture, &a, f);
	CHECK(f[0] == NC_FINISH_LENGTH && a.n[0] == 64 - 3 + 1,
	      "a row that fills the context stops there, with its last prediction");

	uint32_t ep[] = {'e'};
	memset(&a, 0, sizeof a);
	nc_generate(&e, ep, 1, &o, capture, &a, f);
	struct nc_utf8_stream s = {0};
	char *out = NULL;
	size_t len = 0, cap = 0, after_first = 0;
	for (int i = 0; i < a.n[0]; i++) {
		size_t n;
		const unsigned char *bytes = nc_tok_decode1(&tok, a.ids[0][i], &n);
		nc_utf8_feed(&s, bytes, n, &out, &len, &cap);
		if (i == 0)
			after_first = len;
	}
	CHECK(a.n[0] == 2 && after_first == 0 && len == 2 && !memcmp(out, "\xc3\xa9", 2),
	      "a character split over two tokens comes out once, whole");
	free(out);
	nc_engine_free(&e);
	nc_gpt_free(&m);
	nc_tok_free(&tok);
}

int main(void)
{
	nc_prog = "test_engine";
	test_cache_equals_recompute();
	test_sampling();
	test_utf8();
	test_generate();
	test_tool_use();
	return TAP_DONE();
}
