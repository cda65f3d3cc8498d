#include "gpt.h"
#include "err.h"
#include "mem.h"
#include "rng.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nc_gpt_config_check(const struct nc_gpt_config *c)
{
	if (c->n_layer < 1 || c->n_embd < 1 || c->vocab_size < 1 || c->sequence_len < 1)
		return nc_fail("impossible model: layers %d, width %d, vocabulary %d, context %d",
			       c->n_layer, c->n_embd, c->vocab_size, c->sequence_len);
	if (c->n_head < 1 || c->n_embd % c->n_head)
		return nc_fail("width %d does not split into %d heads", c->n_embd, c->n_head);
	if (c->n_kv_head < 1 || c->n_head % c->n_kv_head)
		return nc_fail("%d query heads do not share %d kv heads evenly", c->n_head, c->n_kv_head);
	if ((c->n_embd / c->n_head) % 2)
		return nc_fail("head size %d is odd: rotary needs pairs", c->n_embd / c->n_head);
	return 0;
}

int nc_gpt_config_from_depth(struct nc_gpt_config *c, int depth, int vocab_size, int sequence_len)
{
	memset(c, 0, sizeof *c);
	c->n_layer = depth;
	c->n_embd = 64 * depth;                 /* aspect ratio 64 */
	c->n_head = (c->n_embd + 127) / 128;    /* heads of 128 */
	if (c->n_head < 1)
		c->n_head = 1;
	c->n_kv_head = c->n_head;
	c->vocab_size = vocab_size;
	c->sequence_len = sequence_len;
	c->rope_base = 10000.0f;
	c->softcap = 15.0f;
	c->norm_eps = FLT_EPSILON;
	/* say which depth made the impossible shape: the user chose only that */
	if (nc_gpt_config_check(c) != 0)
		return nc_fail("depth %d: %s", depth, nc_errmsg());
	return 0;
}

/* ---- parameters ---- */

static void add_param(struct nc_gpt *m, const char *name, int rows, int cols)
{
	struct nc_param *p = &m->params[m->nparams++];
	snprintf(p->name, sizeof p->name, "%s", name);
	p->rows = rows;
	p->cols = cols;
	p->offset = m->nweights;
	m->nweights += (size_t)rows * cols;
}

const struct nc_param *nc_gpt_param(const struct nc_gpt *m, const char *name)
{
	for (int i = 0; i < m->nparams; i++)
		if (strcmp(m->params[i].name, name) == 0)
			return &m->params[i];
	return NULL;
}

/* Per-layer parameter order, as nanochat's state_dict lists them. */
enum { P_Q, P_K, P_V, P_O, P_FC, P_PROJ, P_PER_LAYER };

static float *W(const struct nc_gpt *m, int layer, int which)
{
	return m->w + m->params[1 + layer * P_PER_LAYER + which].offset;
}

static float *G(const struct nc_gpt *m, int layer, int which)
{
	return m->g + m->params[1 + layer * P_PER_LAYER + which].offset;
}

int nc_gpt_init(struct nc_gpt *m, const struct nc_gpt_config *c, const struct nc_ops *ops)
{
	memset(m, 0, sizeof *m);
	if (nc_gpt_config_check(c) != 0)
		return -1;
	int head = c->n_embd / c->n_head;
	if (ops->max_head_dim > 0 && head > ops->max_head_dim)
		return nc_fail("head size %d: the %s ops take heads of at most %d", head, ops->name,
			       ops->max_head_dim);
	m->c = *c;
	m->ops = ops;
	int C = c->n_embd, D = C / c->n_head, kv = c->n_kv_head * D;
	m->params = nc_xcalloc(2 + (size_t)c->n_layer * P_PER_LAYER, sizeof *m->params);
	add_param(m, "transformer.wte.weight", c->vocab_size, C);
	for (int l = 0; l < c->n_layer; l++) {
		char name[64];
		static const char *const part[] = {"attn.c_q", "attn.c_k", "attn.c_v", "attn.c_proj",
						   "mlp.c_fc", "mlp.c_proj"};
		int rows[] = {C, kv, kv, C, 4 * C, C}, cols[] = {C, C, C, C, C, 4 * C};
		for (int k = 0; k < P_PER_LAYER; k++) {
			snprintf(name, sizeof name, "transformer.h.%d.%s.weight", l, part[k]);
			add_param(m, name, rows[k], cols[k]);
		}
	}
	add_param(m, "lm_head.weight", c->vocab_size, C);
	m->w = ops->alloc(m->nweights * sizeof(float));
	m->g = ops->alloc(m->nweights * sizeof(float));
	return 0;
}

void nc_gpt_init_weights(struct nc_gpt *m, uint64_t seed)
{
	/* Linear: N(0, s), s = 1/sqrt(in) * min(1, sqrt(out/in)); the two
	 * c_proj and lm_head start at zero; wte N(0, 1) (spec §2.4). */
	struct nc_rng r;
	nc_rng_seed(&r, seed);
	float *host = nc_xmalloc(m->nweights * sizeof *host);
	for (int i = 0; i < m->nparams; i++) {
		const struct nc_param *p = &m->params[i];
		float *w = host + p->offset;
		size_t n = (size_t)p->rows * p->cols;
		int zero = strstr(p->name, "c_proj") || strcmp(p->name, "lm_head.weight") == 0;
		double s = i == 0 ? 1.0 : 1.0 / sqrt(p->cols) * fmin(1.0, sqrt((double)p->rows / p->cols));
		for (size_t k = 0; k < n; k++) {
			if (zero) {
				w[k] = 0;
				continue;
			}
			/* Box-Muller */
			double u1 = nc_rng_uniform(&r), u2 = nc_rng_uniform(&r);
			w[k] = (float)(s * sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2));
		}
	}
	m->ops->upload(m->w, host, m->nweights * sizeof *host);
	free(host);
}

double nc_gpt_flops_per_token(const struct nc_gpt *m, int T)
{
	const struct nc_gpt_config *c = &m->c;
	double n = (double)m->nweights - (double)c->vocab_size * c->n_embd;   /* all but wte */
	int D = c->n_embd / c->n_head;
	return 6 * n + 12.0 * c->n_layer * c->n_head * D * T;
}

/* ---- activations ---- */

/* What a layer keeps for backward. The kept tensors are fp32, or bf16 when
 * the ops keep bf16 (ops->keep_bf16): then forward works in fp32 buffers
 * shared by the layers (struct nc_gpt_acts' f32_*) and packs what it keeps,
 * and backward unpacks it into the same buffers. */
struct layer_acts {
	void *xin, *q, *k, *v;       /* residual in; q and k after rotary and QK norm; v */
	void *att, *xmid, *u;        /* attention out; residual mid; MLP pre-activation */
	float *r1, *rq, *rk, *r2;    /* the norms' scales (always fp32) */
	float *lse;
};

struct nc_gpt_acts {
	const struct nc_ops *ops;
	float *emb, *x0, *r0;        /* embedding, its norm (the stream start), scales */
	struct layer_acts *l;
	float *xL, *xf, *rf;         /* stream end, final norm, scales */
	float *logits, *loss;        /* logits: xent_rows rows at a time */
	int xent_rows;
	size_t cap_n;                /* rows (B*T) and positions (T) the buffers hold */
	int cap_t;
	/* The sequences of the batch in hand: m->B of m->T each, or (packed,
	 * nseq > 0) nseq sequences of seq_len[] tokens end to end, m->B = 1
	 * and m->T their sum. Host memory. */
	int nseq;
	int *seq_len;
	size_t seq_cap;
	int32_t *idx, *targets;
	float *cos, *sin;
	/* The norms before attention and the MLP, and relu^2, are not kept
	 * per layer but made again in backward (cheap, and bit for bit the
	 * same from fp32 kept tensors): hs holds a norm, du (backward scratch)
	 * relu^2's output. */
	float *hs;
	/* with bf16 kept activations: a layer's tensors in fp32 */
	float *f32_xin, *f32_q, *f32_k, *f32_v, *f32_att, *f32_xmid, *f32_u;
	/* backward scratch */
	float *dx, *dxmid, *dh, *dq, *dk, *dv, *dqr, *dkr, *datt, *da, *du, *dxf;
};

/* n floats of ops memory, zeroed */
static float *floats(const struct nc_ops *o, size_t n)
{
	return o->alloc(n * sizeof(float));
}

/* n kept values: 2 or 4 bytes each */
static void *kept_values(const struct nc_ops *o, size_t n)
{
	return o->alloc(n * (o->keep_bf16 ? sizeof(uint16_t) : sizeof(float)));
}

/* A kept tensor in fp32: itself, or the shared fp32 buffer when kept in
 * bf16 (its contents as unkeep() left them, or for forward to fill). */
static float *fp32_view(const struct nc_gpt_acts *a, void *kept, float *f32)
{
	return a->ops->keep_bf16 ? f32 : kept;
}

/* After forward made x (fp32, at fp32_view(kept)): keep it. */
static void keep(const struct nc_gpt_acts *a, void *kept, const float *x, size_t n)
{
	if (a->ops->keep_bf16)
		a->ops->pack_bf16(kept, x, n);
}

/* Before backward reads a kept tensor: back in fp32, in f32 if kept as bf16. */
static float *unkeep(const struct nc_gpt_acts *a, void *kept, float *f32, size_t n)
{
	if (!a->ops->keep_bf16)
		return kept;
	a->ops->unpack_bf16(f32, kept, n);
	return f32;
}

/* Rotary tables for positions 0..T-1 in ops memory, made once. */
static void rotary_tables(const struct nc_ops *o, float **cos, float **sin, int T, int D, float base)
{
	size_t n = (size_t)T * (D / 2);
	float *hc = nc_xmalloc(n * sizeof *hc), *hs = nc_xmalloc(n * sizeof *hs);
	nc_rotary_tables(hc, hs, T, D, 0, base);
	*cos = floats(o, n);
	*sin = floats(o, n);
	o->upload(*cos, hc, n * sizeof *hc);
	o->upload(*sin, hs, n * sizeof *hs);
	free(hc);
	free(hs);
}

static void acts_free(struct nc_gpt *m)
{
	struct nc_gpt_acts *a = m->a;
	if (!a)
		return;
	const struct nc_ops *o = a->ops;
	float **all[] = {&a->emb, &a->x0, &a->r0, &a->xL, &a->xf, &a->rf, &a->logits, &a->loss, &a->hs,
			 &a->f32_xin, &a->f32_q, &a->f32_k, &a->f32_v, &a->f32_att, &a->f32_xmid,
			 &a->f32_u,
			 &a->dx, &a->dxmid, &a->dh, &a->dq, &a->dk, &a->dv, &a->dqr, &a->dkr, &a->datt,
			 &a->da, &a->du, &a->dxf};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		o->free(*all[i]);
	for (int i = 0; i < m->c.n_layer; i++) {
		struct layer_acts *l = &a->l[i];
		void *lp[] = {l->xin, l->r1, l->q, l->k, l->v, l->rq, l->rk, l->att, l->lse,
			      l->xmid, l->r2, l->u};
		for (size_t k = 0; k < sizeof lp / sizeof lp[0]; k++)
			o->free(lp[k]);
	}
	o->free(a->idx);
	o->free(a->targets);
	o->free(a->cos);
	o->free(a->sin);
	free(a->seq_len);
	free(a->l);
	free(a);
	m->a = NULL;
}

/* Buffers for N token rows in sequences of at most T positions. */
static void acts_fit_rows(struct nc_gpt *m, size_t N, int T)
{
	/* A batch no larger than the buffers uses their front: every op takes
	 * its shape from B and T, and a rotary table's rows do not depend on
	 * how many there are. So batches of varying width (sft's) allocate
	 * once, at the largest, and compute as they would in buffers of their
	 * own size. */
	if (m->a && N <= m->a->cap_n && T <= m->a->cap_t)
		return;
	acts_free(m);
	const struct nc_ops *o = m->ops;
	const struct nc_gpt_config *c = &m->c;
	size_t C = c->n_embd, H = c->n_head, D = C / H, KV = c->n_kv_head * D;
	struct nc_gpt_acts *a = nc_xcalloc(1, sizeof *a);
	a->ops = o;
	a->emb = floats(o, N * C), a->x0 = floats(o, N * C), a->r0 = floats(o, N);
	a->xL = floats(o, N * C), a->xf = floats(o, N * C), a->rf = floats(o, N);
	size_t R = m->xent_rows > 0 ? (size_t)m->xent_rows : ((size_t)128 << 20) / 4 / c->vocab_size;
	R = R < 1 ? 1 : R > N ? N : R;
	a->xent_rows = (int)R;
	a->logits = floats(o, R * c->vocab_size), a->loss = floats(o, N);
	a->hs = floats(o, N * C);
	if (o->keep_bf16) {
		a->f32_xin = floats(o, N * C), a->f32_q = floats(o, N * C);
		a->f32_k = floats(o, N * KV), a->f32_v = floats(o, N * KV);
		a->f32_att = floats(o, N * C), a->f32_xmid = floats(o, N * C);
		a->f32_u = floats(o, N * 4 * C);
	}
	a->dx = floats(o, N * C), a->dxmid = floats(o, N * C), a->dh = floats(o, N * C);
	a->dq = floats(o, N * C), a->dk = floats(o, N * KV), a->dv = floats(o, N * KV);
	a->datt = floats(o, N * C);
	a->da = floats(o, N * 4 * C), a->du = floats(o, N * 4 * C), a->dxf = floats(o, N * C);
	a->dqr = floats(o, N * C), a->dkr = floats(o, N * KV);
	a->idx = o->alloc(N * sizeof(int32_t));
	a->targets = o->alloc(N * sizeof(int32_t));
	a->l = nc_xcalloc(c->n_layer, sizeof *a->l);
	for (int i = 0; i < c->n_layer; i++) {
		struct layer_acts *l = &a->l[i];
		l->xin = kept_values(o, N * C), l->r1 = floats(o, N);
		l->q = kept_values(o, N * C);
		l->k = kept_values(o, N * KV), l->v = kept_values(o, N * KV);
		l->rq = floats(o, N * H), l->rk = floats(o, N * c->n_kv_head);
		l->att = kept_values(o, N * C), l->lse = floats(o, N * H);
		l->xmid = kept_values(o, N * C), l->r2 = floats(o, N);
		l->u = kept_values(o, N * 4 * C);
	}
	rotary_tables(o, &a->cos, &a->sin, T, (int)D, c->rope_base);
	a->cap_n = N;
	a->cap_t = T;
	m->a = a;
}

/* A batch of B sequences of T. */
static void acts_fit(struct nc_gpt *m, int B, int T)
{
	acts_fit_rows(m, (size_t)B * T, T);
	m->B = B;
	m->T = T;
	m->a->nseq = 0;
}

/* A packed batch: n sequences of len[] tokens end to end. */
static void acts_fit_packed(struct nc_gpt *m, const int *len, int n)
{
	size_t total = 0;
	int longest = 1;
	for (int i = 0; i < n; i++) {
		total += (size_t)len[i];
		longest = len[i] > longest ? len[i] : longest;
	}
	acts_fit_rows(m, total, longest);
	struct nc_gpt_acts *a = m->a;
	nc_xgrow(&a->seq_len, &a->seq_cap, (size_t)n, sizeof *a->seq_len);
	memcpy(a->seq_len, len, (size_t)n * sizeof *len);
	a->nseq = n;
	m->B = 1;
	m->T = (int)total;
}

/* ---- the ops that see sequences: rotary and attention ----
 * A packed batch runs them a sequence at a time, at its own length (its
 * positions from 0); everything else works on token rows and does not
 * care how they are grouped. */

static void rotary_seqs(const struct nc_gpt *m, float *x, int H, int inverse)
{
	const struct nc_gpt_acts *a = m->a;
	int D = m->c.n_embd / m->c.n_head;
	if (a->nseq == 0) {
		m->ops->rotary(x, a->cos, a->sin, m->B, m->T, H, D, inverse);
		return;
	}
	size_t off = 0;
	for (int i = 0; i < a->nseq; i++) {
		m->ops->rotary(x + off * H * D, a->cos, a->sin, 1, a->seq_len[i], H, D, inverse);
		off += (size_t)a->seq_len[i];
	}
}

static void attention_seqs(const struct nc_gpt *m, float *att, float *lse, const float *q,
			   const float *k, const float *v)
{
	const struct nc_gpt_acts *a = m->a;
	int H = m->c.n_head, Hk = m->c.n_kv_head, D = m->c.n_embd / H;
	if (a->nseq == 0) {
		m->ops->attention(att, lse, q, k, v, m->B, m->T, H, Hk, D);
		return;
	}
	size_t off = 0;
	for (int i = 0; i < a->nseq; i++) {
		size_t qo = off * H * D, ko = off * Hk * D;
		m->ops->attention(att + qo, lse + off * H, q + qo, k + ko, v + ko, 1, a->seq_len[i], H, Hk, D);
		off += (size_t)a->seq_len[i];
	}
}

static void attention_backward_seqs(const struct nc_gpt *m, float *dq, float *dk, float *dv,
				    const float *datt, const float *att, const float *lse,
				    const float *q, const float *k, const float *v)
{
	const struct nc_gpt_acts *a = m->a;
	int H = m->c.n_head, Hk = m->c.n_kv_head, D = m->c.n_embd / H;
	if (a->nseq == 0) {
		m->ops->attention_backward(dq, dk, dv, datt, att, lse, q, k, v, m->B, m->T, H, Hk, D);
		return;
	}
	size_t off = 0;
	for (int i = 0; i < a->nseq; i++) {
		size_t qo = off * H * D, ko = off * Hk * D;
		m->ops->attention_backward(dq + qo, dk + ko, dv + ko, datt + qo, att + qo, lse + off * H,
					   q + qo, k + ko, v + ko, 1, a->seq_len[i], H, Hk, D);
		off += (size_t)a->seq_len[i];
	}
}

void nc_gpt_reserve(struct nc_gpt *m, int B, int T)
{
	acts_fit_rows(m, (size_t)B * T, T);
}

void nc_gpt_free(struct nc_gpt *m)
{
	if (!m->ops)
		return;
	acts_free(m);
	m->ops->free(m->w);
	m->ops->free(m->g);
	free(m->params);
	memset(m, 0, sizeof *m);
}

/* ---- forward ---- */

/* From tokens to the final norm (a->xf); with grad, keeping what backward
 * needs (with fp32 kept activations they are kept in any case). */
static void trunk_forward(struct nc_gpt *m, const int32_t *idx, int grad)
{
	struct nc_gpt_acts *a = m->a;
	const struct nc_ops *o = m->ops;
	const struct nc_gpt_config *c = &m->c;
	int N = m->B * m->T, C = c->n_embd, H = c->n_head, Hk = c->n_kv_head, KV = Hk * (C / H);
	size_t NC = (size_t)N * C, NKV = (size_t)N * KV, N4 = (size_t)N * 4 * C;
	float eps = c->norm_eps;

	o->upload(a->idx, idx, (size_t)N * sizeof *idx);
	o->embedding(a->emb, a->idx, m->w + m->params[0].offset, N, C);
	o->rmsnorm(a->x0, a->r0, a->emb, N, C, eps);
	const float *x = a->x0;
	for (int i = 0; i < c->n_layer; i++) {
		struct layer_acts *l = &a->l[i];
		float *xin = fp32_view(a, l->xin, a->f32_xin), *q = fp32_view(a, l->q, a->f32_q);
		float *k = fp32_view(a, l->k, a->f32_k), *v = fp32_view(a, l->v, a->f32_v);
		float *att = fp32_view(a, l->att, a->f32_att), *xmid = fp32_view(a, l->xmid, a->f32_xmid);
		float *u = fp32_view(a, l->u, a->f32_u);
		if (xin != x)
			o->copy(xin, x, NC);
		o->rmsnorm(a->hs, l->r1, xin, N, C, eps);
		o->matmul(q, a->hs, W(m, i, P_Q), N, C, C, 0);
		o->matmul(k, a->hs, W(m, i, P_K), N, KV, C, 0);
		o->matmul(v, a->hs, W(m, i, P_V), N, KV, C, 0);
		rotary_seqs(m, q, H, 0);
		rotary_seqs(m, k, Hk, 0);
		/* QK norm after rotary, in place over each head (spec §2.2) */
		o->rmsnorm(q, l->rq, q, N * H, C / H, eps);
		o->rmsnorm(k, l->rk, k, N * Hk, C / H, eps);
		attention_seqs(m, att, l->lse, q, k, v);
		o->copy(xmid, xin, NC);
		o->matmul(xmid, att, W(m, i, P_O), N, C, C, 1);
		o->rmsnorm(a->hs, l->r2, xmid, N, C, eps);
		o->matmul(u, a->hs, W(m, i, P_FC), N, 4 * C, C, 0);
		o->relu2(a->du, u, N4);
		if (grad) {
			keep(a, l->xin, xin, NC);
			keep(a, l->q, q, NC);
			keep(a, l->k, k, NKV);
			keep(a, l->v, v, NKV);
			keep(a, l->att, att, NC);
			keep(a, l->xmid, xmid, NC);
			keep(a, l->u, u, N4);
		}
		/* the stream on: into the next layer's xin (its fp32 buffer) */
		float *xout = i + 1 < c->n_layer ? fp32_view(a, a->l[i + 1].xin, a->f32_xin) : a->xL;
		o->copy(xout, xmid, NC);
		o->matmul(xout, a->du, W(m, i, P_PROJ), N, C, 4 * C, 1);
		x = xout;
	}
	o->rmsnorm(a->xf, a->rf, a->xL, N, C, eps);
}

/* The losses of token rows r0..r0+n-1, all with targets, through the
 * lm_head a chunk of rows at a time; their sum. With grad_scale != 0, each
 * chunk's logits become their gradient, which goes at once into d xf
 * (a->dxf) and the lm_head's gradient. */
static double head_rows(struct nc_gpt *m, int r0, int n, float grad_scale)
{
	struct nc_gpt_acts *a = m->a;
	const struct nc_ops *o = m->ops;
	const struct nc_gpt_config *c = &m->c;
	int C = c->n_embd, V = c->vocab_size, R = a->xent_rows;
	const struct nc_param *lm = &m->params[m->nparams - 1];
	double sum = 0;
	for (int end = r0 + n; r0 < end; r0 += R) {
		int k = end - r0 < R ? end - r0 : R;
		const float *x = a->xf + (size_t)r0 * C;
		o->matmul(a->logits, x, m->w + lm->offset, k, V, C, 0);
		sum += o->softcap_xent(a->logits, a->loss + r0, a->targets + r0, k, V, c->softcap,
				       grad_scale);
		if (grad_scale != 0)
			o->matmul_backward(a->dxf + (size_t)r0 * C, m->g + lm->offset, a->logits, x,
					   m->w + lm->offset, k, V, C);
	}
	return sum;
}

/* The mean loss over targets >= 0. The lm_head, softcap and cross-entropy
 * run on the rows with a target only, a run of consecutive ones at a time
 * (chat batches ignore their prompts and padding: often half the rows);
 * the others keep a loss of 0 and a gradient of 0, which is what they
 * would get. With every target kept this is one run, chunked as always. */
static double head_loss(struct nc_gpt *m, const int32_t *targets, int grad)
{
	struct nc_gpt_acts *a = m->a;
	const struct nc_ops *o = m->ops;
	int N = m->B * m->T;
	o->upload(a->targets, targets, (size_t)N * sizeof *targets);
	double n_valid = 0, sum = 0;
	for (int i = 0; i < N; i++)
		n_valid += targets[i] >= 0;
	float scale = grad && n_valid > 0 ? (float)(1.0 / n_valid) : 0;
	if (grad)
		o->zero(a->dxf, (size_t)N * m->c.n_embd);
	o->zero(a->loss, (size_t)N);
	for (int r0 = 0; r0 < N;) {
		int end = r0;
		while (end < N && targets[end] >= 0)
			end++;
		if (end > r0)
			sum += head_rows(m, r0, end - r0, scale);
		r0 = end + 1;   /* past the ignored target that ended the run */
	}
	return n_valid > 0 ? sum / n_valid : 0;
}

double nc_gpt_forward(struct nc_gpt *m, const int32_t *idx, const int32_t *targets, int B, int T,
		      float *logits_out)
{
	acts_fit(m, B, T);
	trunk_forward(m, idx, 0);
	if (targets)
		return head_loss(m, targets, 0);
	if (logits_out) {
		const struct nc_gpt_config *c = &m->c;
		size_t N = (size_t)B * T;
		m->ops->matmul(logits_out, m->a->xf, m->w + m->params[m->nparams - 1].offset, (int)N,
			       c->vocab_size, c->n_embd, 0);
		m->ops->softcap(logits_out, N * c->vocab_size, c->softcap);
	}
	return 0;
}

const float *nc_gpt_token_losses(const struct nc_gpt *m)
{
	return m->a ? m->a->loss : NULL;
}

/* ---- backward ---- */

/* From d xf (head_loss) back to the embedding, added into m->g. */
static void trunk_backward(struct nc_gpt *m)
{
	struct nc_gpt_acts *a = m->a;
	const struct nc_ops *o = m->ops;
	const struct nc_gpt_config *c = &m->c;
	int N = m->B * m->T, C = c->n_embd, H = c->n_head, Hk = c->n_kv_head;
	int D = C / H, KV = Hk * D;
	size_t NC = (size_t)N * C, NKV = (size_t)N * KV, N4 = (size_t)N * 4 * C;

	o->zero(a->dx, NC);
	o->rmsnorm_backward(a->dx, a->dxf, a->xf, a->rf, N, C);
	for (int i = c->n_layer - 1; i >= 0; i--) {
		struct layer_acts *l = &a->l[i];
		const float *u = unkeep(a, l->u, a->f32_u, N4);
		const float *xmid = unkeep(a, l->xmid, a->f32_xmid, NC);
		const float *att = unkeep(a, l->att, a->f32_att, NC), *q = unkeep(a, l->q, a->f32_q, NC);
		const float *k = unkeep(a, l->k, a->f32_k, NKV), *v = unkeep(a, l->v, a->f32_v, NKV);
		const float *xin = unkeep(a, l->xin, a->f32_xin, NC);
		/* MLP: x = xmid + relu2(rmsnorm(xmid) Wfc^T) Wproj^T */
		o->relu2(a->du, u, N4);   /* relu^2 again, for Wproj's gradient */
		o->zero(a->da, N4);
		o->matmul_backward(a->da, G(m, i, P_PROJ), a->dx, a->du, W(m, i, P_PROJ), N, C, 4 * C);
		o->zero(a->du, N4);
		o->relu2_backward(a->du, a->da, u, N4);
		o->zero(a->dh, NC);
		o->rmsnorm(a->hs, l->r2, xmid, N, C, c->norm_eps);   /* the MLP's norm again */
		o->matmul_backward(a->dh, G(m, i, P_FC), a->du, a->hs, W(m, i, P_FC), N, 4 * C, C);
		o->copy(a->dxmid, a->dx, NC);
		o->rmsnorm_backward(a->dxmid, a->dh, a->hs, l->r2, N, C);
		/* attention: xmid = xin + att Wo^T */
		o->zero(a->datt, NC);
		o->matmul_backward(a->datt, G(m, i, P_O), a->dxmid, att, W(m, i, P_O), N, C, C);
		o->zero(a->dq, NC);
		o->zero(a->dk, NKV);
		o->zero(a->dv, NKV);
		attention_backward_seqs(m, a->dq, a->dk, a->dv, a->datt, att, l->lse, q, k, v);
		/* QK norm, then rotary (its inverse is its backward) */
		o->zero(a->dqr, NC);
		o->rmsnorm_backward(a->dqr, a->dq, q, l->rq, N * H, D);
		o->zero(a->dkr, NKV);
		o->rmsnorm_backward(a->dkr, a->dk, k, l->rk, N * Hk, D);
		rotary_seqs(m, a->dqr, H, 1);
		rotary_seqs(m, a->dkr, Hk, 1);
		o->zero(a->dh, NC);
		o->rmsnorm(a->hs, l->r1, xin, N, C, c->norm_eps);   /* attention's norm again */
		o->matmul_backward(a->dh, G(m, i, P_Q), a->dqr, a->hs, W(m, i, P_Q), N, C, C);
		o->matmul_backward(a->dh, G(m, i, P_K), a->dkr, a->hs, W(m, i, P_K), N, KV, C);
		o->matmul_backward(a->dh, G(m, i, P_V), a->dv, a->hs, W(m, i, P_V), N, KV, C);
		o->copy(a->dx, a->dxmid, NC);
		o->rmsnorm_backward(a->dx, a->dh, a->hs, l->r1, N, C);
	}
	o->zero(a->dh, NC);
	o->rmsnorm_backward(a->dh, a->dx, a->x0, a->r0, N, C);
	o->embedding_backward(m->g + m->params[0].offset, a->dh, a->idx, N, C);
}

double nc_gpt_forward_backward(struct nc_gpt *m, const int32_t *idx, const int32_t *targets, int B,
			       int T)
{
	acts_fit(m, B, T);
	trunk_forward(m, idx, 1);
	double loss = head_loss(m, targets, 1);
	trunk_backward(m);
	return loss;
}

static int packed_tokens(const int *len, int n)
{
	int total = 0;
	for (int i = 0; i < n; i++)
		total += len[i];
	return total;
}

double nc_gpt_forward_packed(struct nc_gpt *m, const int32_t *idx, const int32_t *targets,
			     const int *len, int n)
{
	if (packed_tokens(len, n) == 0)
		return 0;
	acts_fit_packed(m, len, n);
	trunk_forward(m, idx, 0);
	return head_loss(m, targets, 0);
}

double nc_gpt_forward_backward_packed(struct nc_gpt *m, const int32_t *idx, const int32_t *targets,
				      const int *len, int n)
{
	if (packed_tokens(len, n) == 0)
		return 0;
	acts_fit_packed(m, len, n);
	trunk_forward(m, idx, 1);
	double loss = head_loss(m, targets, 1);
	trunk_backward(m);
	return loss;
}

/* ---- inference with a KV cache ---- */

struct nc_infer_acts {
	int N, B;                    /* rows of token activations; batch rows */
	float *x, *h, *q, *k, *v, *att, *u;
	float *rs, *rq, *rk;         /* norm scales (unused after the step) */
	float *xl, *logits;          /* last position of each row; its logits */
	int32_t *idx;
};

/* The recordings read the step's buffers: they go when the buffers do. */
static void forget_records(struct nc_kv_cache *kv, const struct nc_ops *o)
{
	for (int b = 0; b < kv->B; b++) {
		if (kv->rec[b])
			o->forget(kv->rec[b]);
		kv->rec[b] = NULL;
		kv->seen[b] = 0;
	}
}

static void infer_free(const struct nc_ops *o, struct nc_infer_acts *a)
{
	if (!a)
		return;
	float *all[] = {a->x, a->h, a->q, a->k, a->v, a->att, a->u, a->rs, a->rq, a->rk, a->xl,
			a->logits};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		o->free(all[i]);
	o->free(a->idx);
	free(a);
}

/* Scratch for N token rows in B batch rows, grown as needed. */
static struct nc_infer_acts *infer_fit(const struct nc_gpt *m, struct nc_kv_cache *kv, int N, int B)
{
	struct nc_infer_acts *a = kv->a;
	if (a && a->N >= N && a->B >= B)
		return a;
	const struct nc_ops *o = m->ops;
	const struct nc_gpt_config *c = &m->c;
	if (a) {
		N = N > a->N ? N : a->N;
		B = B > a->B ? B : a->B;
		forget_records(kv, o);
	}
	infer_free(o, a);
	size_t C = c->n_embd, H = c->n_head, KV = (size_t)kv->KV, n = (size_t)N;
	a = nc_xcalloc(1, sizeof *a);
	a->N = N;
	a->B = B;
	a->x = floats(o, n * C), a->h = floats(o, n * C), a->q = floats(o, n * C);
	a->k = floats(o, n * KV), a->v = floats(o, n * KV), a->att = floats(o, n * C);
	a->u = floats(o, n * 4 * C);
	a->rs = floats(o, n), a->rq = floats(o, n * H), a->rk = floats(o, n * c->n_kv_head);
	a->xl = floats(o, (size_t)B * C), a->logits = floats(o, (size_t)B * c->vocab_size);
	a->idx = o->alloc(n * sizeof(int32_t));
	kv->a = a;
	return a;
}

int nc_kv_init(struct nc_kv_cache *kv, const struct nc_gpt *m, int B, int Tmax)
{
	memset(kv, 0, sizeof *kv);
	const struct nc_gpt_config *c = &m->c;
	if (B < 1 || Tmax < 1)
		return nc_fail("a KV cache needs rows and positions (%d x %d)", B, Tmax);
	if (Tmax > c->sequence_len)
		return nc_fail("%d positions exceed the model's context of %d", Tmax, c->sequence_len);
	kv->L = c->n_layer;
	kv->B = B;
	kv->Tmax = Tmax;
	kv->KV = c->n_kv_head * (c->n_embd / c->n_head);
	size_t n = (size_t)kv->L * B * Tmax * kv->KV;
	kv->k = floats(m->ops, n);
	kv->v = floats(m->ops, n);
	kv->at = m->ops->alloc(sizeof *kv->at);
	rotary_tables(m->ops, &kv->cos, &kv->sin, Tmax, c->n_embd / c->n_head, c->rope_base);
	kv->rec = nc_xcalloc(B, sizeof *kv->rec);
	kv->seen = nc_xcalloc(B, sizeof *kv->seen);
	const char *e = getenv("NC_NO_GRAPHS");
	kv->no_record = e && *e && strcmp(e, "0") != 0;
	return 0;
}

void nc_kv_free(struct nc_kv_cache *kv, const struct nc_gpt *m)
{
	if (!kv->k)
		return;
	forget_records(kv, m->ops);
	free(kv->rec);
	free(kv->seen);
	m->ops->free(kv->k);
	m->ops->free(kv->v);
	m->ops->free(kv->at);
	m->ops->free(kv->cos);
	m->ops->free(kv->sin);
	infer_free(m->ops, kv->a);
	memset(kv, 0, sizeof *kv);
}

static size_t kv_at(const struct nc_kv_cache *kv, int layer, int row, int t)
{
	return (((size_t)layer * kv->B + row) * kv->Tmax + t) * kv->KV;
}

void nc_kv_copy_row(struct nc_kv_cache *kv, const struct nc_gpt *m, int dst, int src)
{
	if (dst == src || kv->pos == 0)
		return;
	size_t n = (size_t)kv->pos * kv->KV;
	for (int l = 0; l < kv->L; l++) {
		m->ops->copy(kv->k + kv_at(kv, l, dst, 0), kv->k + kv_at(kv, l, src, 0), n);
		m->ops->copy(kv->v + kv_at(kv, l, dst, 0), kv->v + kv_at(kv, l, src, 0), n);
	}
}

/* A step's ops, from the tokens in a->idx at positions *kv->at on, to
 * the softcapped logits of each row's last position in a->logits: what a
 * decode step records. */
static void step_ops(struct nc_gpt *m, struct nc_kv_cache *kv, struct nc_infer_acts *a, int B, int T)
{
	const struct nc_ops *o = m->ops;
	const struct nc_gpt_config *c = &m->c;
	int N = B * T, C = c->n_embd, H = c->n_head, Hk = c->n_kv_head, D = C / H, KV = kv->KV;
	float eps = c->norm_eps;
	o->embedding(a->h, a->idx, m->w + m->params[0].offset, N, C);
	o->rmsnorm(a->x, a->rs, a->h, N, C, eps);
	for (int i = 0; i < c->n_layer; i++) {
		float *kc = kv->k + kv_at(kv, i, 0, 0), *vc = kv->v + kv_at(kv, i, 0, 0);
		o->rmsnorm(a->h, a->rs, a->x, N, C, eps);
		o->matmul(a->q, a->h, W(m, i, P_Q), N, C, C, 0);
		o->matmul(a->k, a->h, W(m, i, P_K), N, KV, C, 0);
		o->matmul(a->v, a->h, W(m, i, P_V), N, KV, C, 0);
		o->rotary_at(a->q, kv->cos, kv->sin, B, T, H, D, kv->at);
		o->rotary_at(a->k, kv->cos, kv->sin, B, T, Hk, D, kv->at);
		o->rmsnorm(a->q, a->rq, a->q, N * H, D, eps);
		o->rmsnorm(a->k, a->rk, a->k, N * Hk, D, eps);
		o->kv_store(kc, a->k, B, T, KV, kv->Tmax, kv->at);
		o->kv_store(vc, a->v, B, T, KV, kv->Tmax, kv->at);
		o->attention_cached(a->att, a->q, kc, vc, B, T, H, Hk, D, kv->at, kv->Tmax);
		o->matmul(a->x, a->att, W(m, i, P_O), N, C, C, 1);
		o->rmsnorm(a->h, a->rs, a->x, N, C, eps);
		o->matmul(a->u, a->h, W(m, i, P_FC), N, 4 * C, C, 0);
		o->relu2(a->u, a->u, (size_t)N * 4 * C);
		o->matmul(a->x, a->u, W(m, i, P_PROJ), N, C, 4 * C, 1);
	}
	/* only each row's last position goes through the head */
	for (int b = 0; b < B; b++)
		o->copy(a->xl + (size_t)b * C, a->x + ((size_t)b * T + T - 1) * C, (size_t)C);
	o->rmsnorm(a->xl, a->rs, a->xl, B, C, eps);
	o->matmul(a->logits, a->xl, m->w + m->params[m->nparams - 1].offset, B, c->vocab_size, C, 0);
	o->softcap(a->logits, (size_t)B * c->vocab_size, c->softcap);
}

int nc_gpt_step(struct nc_gpt *m, struct nc_kv_cache *kv, const int32_t *idx, int B, int T,
		float *logits)
{
	const struct nc_ops *o = m->ops;
	if (B < 1 || B > kv->B || T < 1)
		return nc_fail("a step of %d x %d tokens does not fit a cache of %d rows", B, T, kv->B);
	if (kv->pos + T > kv->Tmax)
		return nc_fail("the KV cache is full: %d + %d positions exceed %d", kv->pos, T,
			       kv->Tmax);
	struct nc_infer_acts *a = infer_fit(m, kv, B * T, B);
	o->upload(a->idx, idx, (size_t)B * T * sizeof *idx);
	o->upload(kv->at, &kv->pos, sizeof kv->pos);
	/* A decode step of B rows runs op by op the first time (any scratch
	 * the ops grow is grown then), is recorded the second, and replayed. */
	int record = T == 1 && o->record_begin && !kv->no_record;
	if (record && !kv->rec[B - 1] && kv->seen[B - 1]) {
		o->record_begin();
		step_ops(m, kv, a, B, T);
		kv->rec[B - 1] = o->record_end();
	}
	if (record && kv->rec[B - 1]) {
		o->replay(kv->rec[B - 1]);
		kv->replays++;
	} else {
		step_ops(m, kv, a, B, T);
		if (record)
			kv->seen[B - 1] = 1;
	}
	o->download(logits, a->logits, (size_t)B * m->c.vocab_size * sizeof *logits);
	kv->pos += T;
	return 0;
}
