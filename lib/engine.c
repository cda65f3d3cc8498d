#include "engine.h"
#include "calc.h"
#include "cli.h"
#include "err.h"
#include "mem.h"
#include "rng.h"
#include "timer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- sampling ---- */

/* Order of candidates: larger logit first, then smaller id. */
static int before(const float *z, int a, int b)
{
	return z[a] > z[b] || (z[a] == z[b] && a < b);
}

/* Keep the k best ids in heap[0..k) (a min-heap under "before"). */
static void sift_down(int *heap, int k, int i, const float *z)
{
	for (;;) {
		int l = 2 * i + 1, r = l + 1, w = i;
		if (l < k && before(z, heap[w], heap[l]))
			w = l;
		if (r < k && before(z, heap[w], heap[r]))
			w = r;
		if (w == i)
			return;
		int t = heap[i];
		heap[i] = heap[w];
		heap[w] = t;
		i = w;
	}
}

static int top_k_ids(const float *z, int V, int k, int *ids)
{
	for (int i = 0; i < k; i++)
		ids[i] = i;
	for (int i = k / 2 - 1; i >= 0; i--)
		sift_down(ids, k, i, z);
	for (int i = k; i < V; i++)
		if (before(z, i, ids[0])) {
			ids[0] = i;
			sift_down(ids, k, 0, z);
		}
	/* best first: heap sort in place (the worst goes to the end) */
	for (int n = k; n > 1; n--) {
		int t = ids[0];
		ids[0] = ids[n - 1];
		ids[n - 1] = t;
		sift_down(ids, n - 1, 0, z);
	}
	/* now worst first; reverse */
	for (int i = 0, j = k - 1; i < j; i++, j--) {
		int t = ids[i];
		ids[i] = ids[j];
		ids[j] = t;
	}
	return k;
}

uint32_t nc_sample_token(const float *z, int V, double temperature, int top_k, double u,
			 int *scratch)
{
	if (temperature <= 0) {
		int best = 0;
		for (int i = 1; i < V; i++)
			if (z[i] > z[best])
				best = i;
		return (uint32_t)best;
	}
	int k = top_k > 0 && top_k < V ? top_k : V;
	const int *ids = NULL;
	if (k < V)
		ids = scratch, top_k_ids(z, V, k, scratch);
	double mx = -INFINITY, sum = 0;
	for (int i = 0; i < k; i++)
		mx = fmax(mx, z[ids ? ids[i] : i]);
	for (int i = 0; i < k; i++)
		sum += exp((z[ids ? ids[i] : i] - mx) / temperature);
	double target = u * sum, acc = 0;
	for (int i = 0; i < k; i++) {
		acc += exp((z[ids ? ids[i] : i] - mx) / temperature);
		if (acc > target)
			return (uint32_t)(ids ? ids[i] : i);
	}
	return (uint32_t)(ids ? ids[k - 1] : k - 1);   /* u*sum rounded up to the total */
}

/* Append b[0..n) to a NUL-terminated string grown as needed. */
static void put(char **out, size_t *len, size_t *cap, const void *b, size_t n)
{
	nc_xgrow(out, cap, *len + n + 1, 1);
	memcpy(*out + *len, b, n);
	*len += n;
	(*out)[*len] = 0;
}

void nc_token_text(const struct nc_tokenizer *t, struct nc_utf8_stream *u, uint32_t token, char **out,
		   size_t *len, size_t *cap)
{
	size_t n;
	const unsigned char *b = nc_tok_decode1(t, token, &n);
	if (!b)
		return;
	if (token >= t->n_tokens)
		nc_utf8_flush(u, out, len, cap);   /* a special token's name */
	nc_utf8_feed(u, b, n, out, len, cap);
}

/* ---- the engine ---- */

int nc_engine_init(struct nc_engine *e, struct nc_gpt *m, const struct nc_tokenizer *tok)
{
	memset(e, 0, sizeof *e);
	if (tok->vocab_size > (uint32_t)m->c.vocab_size)
		return nc_fail("the tokenizer's %u ids do not fit the model's vocabulary of %d",
			       tok->vocab_size, m->c.vocab_size);
	e->m = m;
	e->tok = tok;
	e->bos = nc_tok_special(tok, "<|bos|>");
	e->assistant_end = nc_tok_special(tok, "<|assistant_end|>");
	e->python_start = nc_tok_special(tok, "<|python_start|>");
	e->python_end = nc_tok_special(tok, "<|python_end|>");
	e->output_start = nc_tok_special(tok, "<|output_start|>");
	e->output_end = nc_tok_special(tok, "<|output_end|>");
	return 0;
}

void nc_engine_free(struct nc_engine *e)
{
	free(e->logits);
	memset(e, 0, sizeof *e);
}

/* One sample's state (spec §5.4). */
struct row {
	struct nc_rng rng;
	int ntok, in_python, done;
	struct nc_ids expr;     /* tokens inside <|python_start|> ... */
	struct nc_ids forced;   /* queued tool output */
	size_t forced_at;
};

/* The calculator's answer to the expression tokens, queued as forced
 * tokens; nothing is queued when the calculator refuses. */
static void run_tool(const struct nc_engine *e, struct row *r)
{
	size_t n = 0, cap = 64;
	char *text = nc_xmalloc(cap);
	for (size_t i = 0; i < r->expr.n; i++) {
		size_t len;
		const unsigned char *b = nc_tok_decode1(e->tok, r->expr.v[i], &len);
		if (!b)
			continue;
		put(&text, &n, &cap, b, len);
	}
	char result[128];
	if (nc_calc(text, n, result, sizeof result) == 0 && e->output_start != UINT32_MAX &&
	    e->output_end != UINT32_MAX) {
		r->forced.n = r->forced_at = 0;
		nc_ids_push(&r->forced, e->output_start);
		nc_encode(e->tok, NULL, (const unsigned char *)result, strlen(result), &r->forced);
		nc_ids_push(&r->forced, e->output_end);
	}
	free(text);
}

static void tool_state(const struct nc_engine *e, struct row *r, uint32_t t)
{
	if (t == e->python_start) {
		r->in_python = 1;
		r->expr.n = 0;
	} else if (t == e->python_end && r->in_python) {
		r->in_python = 0;
		if (r->expr.n > 0)
			run_tool(e, r);
		r->expr.n = 0;
	} else if (r->in_python) {
		nc_ids_push(&r->expr, t);
	}
}

static void fit_logits(struct nc_engine *e, int rows)
{
	if (rows <= e->cap_rows)
		return;
	free(e->logits);
	e->logits = nc_xmalloc((size_t)rows * e->m->c.vocab_size * sizeof *e->logits);
	e->cap_rows = rows;
}

int nc_generate(struct nc_engine *e, const uint32_t *prompt, size_t n,
		const struct nc_sample_opts *o, nc_token_fn fn, void *ctx, enum nc_finish *finish)
{
	struct nc_gpt *m = e->m;
	int V = m->c.vocab_size, S = o->samples, ctxlen = m->c.sequence_len;
	if (n == 0)
		return nc_fail("the prompt is empty");
	if (n >= (size_t)ctxlen)
		return nc_fail("the prompt is %zu tokens: the model's context of %d leaves no room to generate",
			       n, ctxlen);
	if (S < 1)
		return nc_fail("no samples asked for");
	for (size_t i = 0; i < n; i++)
		if (prompt[i] >= (uint32_t)V)
			return nc_fail("prompt token %zu is id %u, outside the vocabulary of %d", i,
				       prompt[i], V);
	for (int s = 0; s < S && finish; s++)
		finish[s] = NC_FINISH_NONE;
	if (o->max_tokens <= 0)
		return 0;
	long tmax = (long)n + o->max_tokens;
	struct nc_kv_cache kv;
	if (nc_kv_init(&kv, m, S, tmax < ctxlen ? (int)tmax : ctxlen) != 0)
		return -1;
	fit_logits(e, S);
	struct row *rows = nc_xcalloc((size_t)S, sizeof *rows);
	int *slot = nc_xmalloc((size_t)S * sizeof *slot);       /* batch row -> sample */
	int32_t *next = nc_xmalloc((size_t)S * sizeof *next);
	int *scratch = nc_xmalloc((size_t)V * sizeof *scratch);
	int32_t *idx = nc_xmalloc(n * sizeof *idx);
	for (size_t i = 0; i < n; i++)
		idx[i] = (int32_t)prompt[i];
	for (int s = 0; s < S; s++) {
		nc_rng_seed(&rows[s].rng, o->seed + (uint64_t)s);
		slot[s] = s;
	}

	/* prefill once, then every row starts from the same cache and logits */
	e->prefill_s = e->decode_s = 0;
	e->prefill_tokens = (long)n;
	e->decode_steps = e->decode_tokens = 0;
	double t0 = nc_now();
	int rc = nc_gpt_step(m, &kv, idx, 1, (int)n, e->logits);
	e->prefill_s = nc_now() - t0;
	for (int s = 1; s < S && rc == 0; s++) {
		nc_kv_copy_row(&kv, m, s, 0);
		memcpy(e->logits + (size_t)s * V, e->logits, (size_t)V * sizeof *e->logits);
	}
	int live = S;
	while (rc == 0 && live > 0) {
		for (int i = 0; i < live && rc == 0; i++) {
			struct row *r = &rows[slot[i]];
			uint32_t t;
			int forced = r->forced_at < r->forced.n;
			if (forced)
				t = r->forced.v[r->forced_at++];
			else
				t = nc_sample_token(e->logits + (size_t)i * V, V, o->temperature, o->top_k,
						    o->temperature > 0 ? nc_rng_uniform(&r->rng) : 0,
						    scratch);
			next[i] = (int32_t)t;
			if (!forced && (t == e->assistant_end || t == e->bos)) {
				r->done = NC_FINISH_STOP;
				continue;
			}
			rc = fn(ctx, slot[i], t, forced);
			tool_state(e, r, t);
			if (++r->ntok >= o->max_tokens)
				r->done = NC_FINISH_LENGTH;
		}
		/* the context is full: whoever is left stops here */
		if (kv.pos >= kv.Tmax)
			for (int i = 0; i < live; i++)
				if (!rows[slot[i]].done)
					rows[slot[i]].done = NC_FINISH_LENGTH;
		/* finished rows leave the batch; the rest close ranks in order */
		int j = 0;
		for (int i = 0; i < live; i++) {
			if (rows[slot[i]].done)
				continue;
			if (j != i) {
				nc_kv_copy_row(&kv, m, j, i);
				next[j] = next[i];
				slot[j] = slot[i];
			}
			j++;
		}
		live = j;
		if (rc == 0 && live > 0) {
			t0 = nc_now();
			if (nc_gpt_step(m, &kv, next, live, 1, e->logits) != 0)
				rc = -1;
			e->decode_s += nc_now() - t0;
			e->decode_steps++;
			e->decode_tokens += live;
		}
	}
	for (int s = 0; s < S; s++) {
		if (finish)
			finish[s] = (enum nc_finish)rows[s].done;
		nc_ids_free(&rows[s].expr);
		nc_ids_free(&rows[s].forced);
	}
	free(rows);
	free(slot);
	free(next);
	free(scratch);
	free(idx);
	nc_kv_free(&kv, m);
	return rc;
}

int nc_sample_opt(int c, const char *arg, struct nc_sample_opts *s)
{
	switch (c) {
	case 'n': s->max_tokens = (int)nc_opt_u64("--max-tokens", arg, 0, 1 << 24); return 1;
	case 'T': s->temperature = nc_opt_real("--temperature", arg, 0, 100); return 1;
	case 'k': s->top_k = (int)nc_opt_u64("--top-k", arg, 0, 1 << 24); return 1;
	case 's': s->seed = nc_opt_u64("--seed", arg, 0, UINT64_MAX / 2); return 1;
	}
	return 0;
}
