/* CORE's prompts, token spans and scoring (spec §6.2, nanochat's
 * core_eval.py). */
#include "core_eval.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mem.h"
#include "pyrand.h"

#define SHUFFLE_SEED 1337   /* base_eval.py: random.Random(1337).shuffle(data) */
#define FEWSHOT_SEED 1234   /* core_eval.py: random.Random(1234 + idx) */

/* ---- text ---- */

struct text {
	char *s;
	size_t n, cap;
};

static void put(struct text *t, const char *s, size_t n)
{
	nc_xgrow(&t->s, &t->cap, t->n + n + 1, 1);
	memcpy(t->s + t->n, s, n);
	t->n += n;
	t->s[t->n] = 0;
}

static void puts_(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

/* Python's str.isspace for one code point (what str.strip and Jinja's
 * trim remove). */
static int py_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
	       c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
	       c == 0x202f || c == 0x205f || c == 0x3000;
}

/* The code point starting at s[i] (n bytes left) and its length; a byte
 * that starts no valid sequence counts as itself (never a space). */
static uint32_t utf8_at(const unsigned char *s, size_t n, size_t *len)
{
	if (s[0] < 0x80 || n < 2) {
		*len = 1;
		return s[0] < 0x80 ? s[0] : 0xfffd;
	}
	int k = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	if ((size_t)k > n) {
		*len = 1;
		return 0xfffd;
	}
	uint32_t c = s[0] & (0x7f >> k);
	for (int i = 1; i < k; i++)
		c = c << 6 | (s[i] & 0x3f);
	*len = (size_t)k;
	return c;
}

/* str.strip(): [*b, *e) of s[0..n) without leading and trailing spaces. */
static void py_strip(const char *s, size_t n, size_t *b, size_t *e)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, len;
	while (i < n && py_space(utf8_at(u + i, n - i, &len)))
		i += len;
	size_t j = n;
	while (j > i) {
		size_t k = j - 1;
		while (k > i && (u[k] & 0xc0) == 0x80)
			k--;
		if (!py_space(utf8_at(u + k, j - k, &len)) || k + len != j)
			break;
		j = k;
	}
	*b = i;
	*e = j;
}

static void put_trimmed(struct text *t, const char *s)
{
	size_t b, e;
	py_strip(s, strlen(s), &b, &e);
	put(t, s + b, e - b);
}

/* ---- rendering (core_eval.py's templates) ---- */

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static const char *str_at(json_t *o, const char *key, size_t i)
{
	return json_string_value(json_array_get(json_object_get(o, key), i));
}

static size_t gold_of(json_t *o)
{
	return (size_t)json_integer_value(json_object_get(o, "gold"));
}

/* One few-shot example as its template renders it, then a blank line. */
static void put_shot(struct text *t, const struct nc_core_task *k, json_t *o)
{
	if (k->type == NC_CORE_MC) {
		puts_(t, str(o, "query"));
		puts_(t, k->delim);
		puts_(t, str_at(o, "choices", gold_of(o)));
	} else if (k->type == NC_CORE_SCHEMA) {
		puts_(t, str_at(o, "context_options", gold_of(o)));
		puts_(t, k->delim);
		puts_(t, str(o, "continuation"));
	} else {
		put_trimmed(t, str(o, "context"));
		puts_(t, k->delim);
		puts_(t, str(o, "continuation"));
	}
	puts_(t, "\n\n");
}

void nc_core_shuffle(void *items, size_t n, size_t elem)
{
	struct nc_pyrand r;
	nc_pyrand_seed(&r, SHUFFLE_SEED);
	nc_pyrand_shuffle(&r, items, n, elem);
}

int nc_core_fewshot(size_t n, size_t idx, int k, size_t *out)
{
	if (k < 0 || n == 0 || (size_t)k > n - 1)
		return nc_fail("%d few-shot examples from %zu others", k, n ? n - 1 : 0);
	struct nc_pyrand r;
	nc_pyrand_seed(&r, FEWSHOT_SEED + (uint64_t)idx);
	if (nc_pyrand_sample(&r, n - 1, (size_t)k, out) != 0)
		return -1;
	for (int i = 0; i < k; i++)
		out[i] += out[i] >= idx;   /* indices of the list without idx */
	return 0;
}

/* The few-shot examples of idx, rendered. */
static int fewshot(const struct nc_core_task *k, const struct nc_core_data *d, size_t idx,
		   struct text *t)
{
	if (k->shots <= 0)
		return 0;
	size_t *pick = nc_xmalloc((size_t)k->shots * sizeof *pick);
	int rc = nc_core_fewshot(d->n, idx, k->shots, pick);
	for (int i = 0; rc == 0 && i < k->shots; i++)
		put_shot(t, k, d->obj[pick[i]]);
	free(pick);
	return rc;
}

static void add_prompt(struct nc_core_prompts *p, struct text *t)
{
	p->s = nc_xrealloc(p->s, (size_t)(p->n + 1) * sizeof *p->s);
	p->len = nc_xrealloc(p->len, (size_t)(p->n + 1) * sizeof *p->len);
	p->s[p->n] = t->s ? t->s : nc_xstrdup("");
	p->len[p->n] = t->n;
	p->n++;
	*t = (struct text){0};
}

static void render_options(const struct nc_core_task *k, json_t *o, const struct text *shots,
			   struct nc_core_prompts *p)
{
	const char *list = k->type == NC_CORE_MC ? "choices" : "context_options";
	size_t n = json_array_size(json_object_get(o, list));
	for (size_t i = 0; i < n; i++) {
		struct text t = {0};
		put(&t, shots->s ? shots->s : "", shots->n);
		if (k->type == NC_CORE_MC) {
			puts_(&t, str(o, "query"));
			puts_(&t, k->delim);
			puts_(&t, str_at(o, "choices", i));
		} else {
			puts_(&t, str_at(o, "context_options", i));
			puts_(&t, k->delim);
			puts_(&t, str(o, "continuation"));
		}
		add_prompt(p, &t);
	}
}

/* Without the continuation the whole prompt is strip()ped (a space
 * delimiter at its end goes); with it, nothing is. */
static void render_lm(const struct nc_core_task *k, json_t *o, const struct text *shots,
		      struct nc_core_prompts *p)
{
	struct text with = {0}, without = {0};
	put(&with, shots->s ? shots->s : "", shots->n);
	put_trimmed(&with, str(o, "context"));
	puts_(&with, k->delim);
	size_t b, e;
	py_strip(with.s, with.n, &b, &e);
	put(&without, with.s + b, e - b);
	puts_(&with, str(o, "continuation"));
	add_prompt(p, &without);
	add_prompt(p, &with);
}

int nc_core_render(const struct nc_core_task *k, const struct nc_core_data *d, size_t idx,
		   struct nc_core_prompts *p)
{
	memset(p, 0, sizeof *p);
	struct text shots = {0};
	if (fewshot(k, d, idx, &shots) != 0)
		return -1;
	if (k->type == NC_CORE_LM)
		render_lm(k, d->obj[idx], &shots, p);
	else
		render_options(k, d->obj[idx], &shots, p);
	free(shots.s);
	return 0;
}

void nc_core_prompts_free(struct nc_core_prompts *p)
{
	for (int i = 0; i < p->n; i++)
		free(p->s[i]);
	free(p->s);
	free(p->len);
	memset(p, 0, sizeof *p);
}

int nc_core_gold(const struct nc_core_task *t, const struct nc_core_data *d, size_t idx)
{
	return t->type == NC_CORE_LM ? -1 : (int)gold_of(d->obj[idx]);
}

/* ---- token spans (batch_sequences_*) ---- */

/* Length of the common prefix (dir 1) or suffix (dir -1) of all. */
static int common_length(const struct nc_core_seqs *q, int dir)
{
	size_t min = q->tok[0].n;
	for (int i = 1; i < q->n; i++)
		if (q->tok[i].n < min)
			min = q->tok[i].n;
	for (size_t i = 0; i < min; i++) {
		size_t at0 = dir > 0 ? i : q->tok[0].n - 1 - i;
		for (int s = 1; s < q->n; s++) {
			size_t at = dir > 0 ? i : q->tok[s].n - 1 - i;
			if (q->tok[s].v[at] != q->tok[0].v[at0])
				return (int)i;
		}
	}
	return (int)min;
}

static int lm_spans(struct nc_core_seqs *q, const char *where)
{
	const struct nc_ids *wo = &q->tok[0], *w = &q->tok[1];
	if (wo->n >= w->n || memcmp(wo->v, w->v, wo->n * sizeof *wo->v) != 0)
		return nc_fail("%s: the prompt without the continuation is not a token prefix of the prompt with it",
			       where);
	q->start[0] = (int)wo->n;
	q->end[0] = (int)w->n;
	nc_ids_free(&q->tok[0]);
	q->tok[0] = q->tok[1];
	q->tok[1] = (struct nc_ids){0};
	q->n = 1;
	return 0;
}

int nc_core_tokenize(const struct nc_core_task *t, const struct nc_tokenizer *tok,
		     const struct nc_core_prompts *p, const char *where, struct nc_core_seqs *q)
{
	uint32_t bos = nc_tok_special(tok, "<|bos|>");
	if (bos == UINT32_MAX)
		return nc_fail("%s: the tokenizer has no <|bos|>", where);
	q->n = p->n;
	q->tok = nc_xcalloc((size_t)p->n, sizeof *q->tok);
	q->start = nc_xcalloc((size_t)p->n, sizeof *q->start);
	q->end = nc_xcalloc((size_t)p->n, sizeof *q->end);
	for (int i = 0; i < p->n; i++) {
		nc_ids_push(&q->tok[i], bos);
		nc_encode(tok, NULL, (const unsigned char *)p->s[i], p->len[i], &q->tok[i]);
		q->end[i] = (int)q->tok[i].n;
	}
	if (t->type == NC_CORE_LM)
		return lm_spans(q, where);
	int common = common_length(q, t->type == NC_CORE_MC ? 1 : -1);
	for (int i = 0; i < q->n; i++) {
		q->start[i] = t->type == NC_CORE_MC ? common : q->end[i] - common;
		if (q->start[i] < 1)   /* two options with the same tokens */
			return nc_fail("%s: options %d and another have the same tokens", where, i);
	}
	return 0;
}

void nc_core_seqs_free(struct nc_core_seqs *q)
{
	for (int i = 0; i < q->n; i++)
		nc_ids_free(&q->tok[i]);
	free(q->tok);
	free(q->start);
	free(q->end);
	memset(q, 0, sizeof *q);
}

/* ---- scoring (forward_model, evaluate_example) ---- */

/* The sequences right-padded with pad into (B, T) inputs; targets are the
 * inputs shifted left, the last column ignored. */
static int pad_batch(const struct nc_core_seqs *q, uint32_t pad, int32_t **idx, int32_t **tgt)
{
	size_t T = 0;
	for (int i = 0; i < q->n; i++)
		if (q->tok[i].n > T)
			T = q->tok[i].n;
	*idx = nc_xmalloc((size_t)q->n * T * sizeof **idx);
	*tgt = nc_xmalloc((size_t)q->n * T * sizeof **tgt);
	for (int i = 0; i < q->n; i++) {
		int32_t *row = *idx + (size_t)i * T;
		for (size_t t = 0; t < T; t++)
			row[t] = (int32_t)(t < q->tok[i].n ? q->tok[i].v[t] : pad);
		for (size_t t = 0; t < T; t++)
			(*tgt)[(size_t)i * T + t] = t + 1 < T ? row[t + 1] : -1;
	}
	return (int)T;
}

static const float *host_losses(struct nc_gpt *m, size_t n, float **buf)
{
	const float *l = nc_gpt_token_losses(m);
	if (m->ops->host_memory)
		return l;
	*buf = nc_xmalloc(n * sizeof **buf);
	m->ops->download(*buf, l, n * sizeof **buf);
	return *buf;
}

/* The option whose span has the lowest mean loss; Python's min() and
 * list.index(): the first of equals, and a NaN mean (an empty span) only
 * wins when it comes first. */
static int lowest_mean(const struct nc_core_seqs *q, const float *loss, int T)
{
	int best = 0;
	double best_mean = 0;
	for (int i = 0; i < q->n; i++) {
		double sum = 0;
		for (int t = q->start[i] - 1; t < q->end[i] - 1; t++)
			sum += loss[(size_t)i * T + t];
		double mean = sum / (q->end[i] - q->start[i]);
		if (i == 0 || mean < best_mean) {
			best = i;
			best_mean = mean;
		}
	}
	return best;
}

/* 1 when the argmax of every position before a span token is that
 * token (the first of equal logits, as torch.argmax). */
static int greedy_match(const float *logits, const int32_t *row, int start, int end, int V)
{
	for (int t = start - 1; t < end - 1; t++) {
		const float *l = logits + (size_t)t * V;
		int best = 0;
		for (int v = 1; v < V; v++)
			if (l[v] > l[best])
				best = v;
		if (best != row[t + 1])
			return 0;
	}
	return 1;
}

static int score_lm(struct nc_gpt *m, const struct nc_core_seqs *q, const int32_t *idx, int T,
		    int *pred)
{
	size_t n = (size_t)T * m->c.vocab_size;
	float *dev = m->ops->alloc(n * sizeof *dev);
	if (!dev)
		return nc_fail("out of memory for %d x %d logits", T, m->c.vocab_size);
	nc_gpt_forward(m, idx, NULL, 1, T, dev);
	float *host = dev;
	if (!m->ops->host_memory) {
		host = nc_xmalloc(n * sizeof *host);
		m->ops->download(host, dev, n * sizeof *host);
	}
	*pred = greedy_match(host, idx, q->start[0], q->end[0], m->c.vocab_size);
	if (host != dev)
		free(host);
	m->ops->free(dev);
	return 0;
}

int nc_core_score(struct nc_gpt *m, int type, const struct nc_core_seqs *q, uint32_t pad, int gold,
		  int *pred, int *correct)
{
	int32_t *idx, *tgt;
	int T = pad_batch(q, pad, &idx, &tgt);
	for (int i = 0; i < q->n * T; i++)
		if (idx[i] < 0 || idx[i] >= m->c.vocab_size) {
			free(idx);
			free(tgt);
			return nc_fail("token %d is outside the model's vocabulary of %d", idx[i],
				       m->c.vocab_size);
		}
	int rc = 0;
	if (type == NC_CORE_LM) {
		rc = score_lm(m, q, idx, T, pred);
		*correct = *pred;
	} else {
		float *buf = NULL;
		nc_gpt_forward(m, idx, tgt, q->n, T, NULL);
		*pred = lowest_mean(q, host_losses(m, (size_t)q->n * T, &buf), T);
		*correct = *pred == gold;
		free(buf);
	}
	free(idx);
	free(tgt);
	return rc;
}

double nc_core_centered(double acc, double baseline_percent)
{
	return (acc - 0.01 * baseline_percent) / (1.0 - 0.01 * baseline_percent);
}
