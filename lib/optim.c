#include "optim.h"
#include "err.h"
#include "mem.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Newton–Schulz (spec §3.2: nanochat/muon.py zeropower_via_newtonschulz5). */
#define NS_STEPS 5
#define NS_A 3.4445
#define NS_B (-4.7750)
#define NS_C 2.0315
#define NS_NORM_EPS 1e-7

/* Momentum warm-up and AdamW's width scaling (spec §3.5, §3.1). */
#define MUON_MOMENTUM_START 0.85
#define MUON_MOMENTUM_END 0.95
#define MUON_MOMENTUM_STEPS 300
#define ADAM_LR_REF_WIDTH 768.0

/* torch's clip_grad_norm_ divides by norm + this. */
#define CLIP_EPS 1e-6

void nc_optim_defaults(struct nc_optim_config *c)
{
	*c = (struct nc_optim_config){
		.embedding_lr = 0.2, .unembedding_lr = 0.004, .matrix_lr = 0.02,   /* §3.1 */
		.weight_decay = 0.0, .grad_clip = 1.0,                              /* §3.1, §3.5 */
		.adam_beta1 = 0.8, .adam_beta2 = 0.95, .adam_eps = 1e-10,           /* §3.1 */
		.warmup_ratio = 0.0, .warmdown_ratio = 0.2, .final_lr_frac = 0.0,   /* §3.5 */
		.adam_dist_eps = 0, .muon_nesterov = 1, .muon_bf16 = 0,
	};
}

/* ---- groups and state ---- */

static int slot_kind(const char *name)
{
	if (strcmp(name, "transformer.wte.weight") == 0 || strcmp(name, "lm_head.weight") == 0)
		return NC_OPTIM_ADAMW;
	if (strncmp(name, "transformer.h.", 14) == 0)
		return NC_OPTIM_MUON;
	return -1;
}

static double slot_lr(const struct nc_optim_config *c, const struct nc_gpt *m, const char *name)
{
	double scale = pow(m->c.n_embd / ADAM_LR_REF_WIDTH, -0.5);
	if (strcmp(name, "transformer.wte.weight") == 0)
		return c->embedding_lr * scale;
	if (strcmp(name, "lm_head.weight") == 0)
		return c->unembedding_lr * scale;
	return c->matrix_lr;
}

/* This rank's share of slot s's state, in floats per moment: AdamW keeps
 * rows/world rows, Muon a whole buffer on the owner only (spec §3.4). */
static size_t slot_share(const struct nc_optim *o, const struct nc_optim_slot *s, const struct nc_param *p)
{
	size_t n = (size_t)p->rows * p->cols;
	if (s->kind == NC_OPTIM_ADAMW)
		return n / o->world;
	return s->owner == o->rank ? n : 0;
}

static int sort_slots(struct nc_optim *o, const struct nc_gpt *m, size_t *work)
{
	int muons = 0;
	for (int i = 0; i < o->n; i++) {
		const struct nc_param *p = &m->params[i];
		size_t n = (size_t)p->rows * p->cols;
		struct nc_optim_slot *s = &o->s[i];
		s->param = i;
		s->kind = slot_kind(p->name);
		if (s->kind < 0)
			return nc_fail("optimizer: no group for parameter %s", p->name);
		if (s->kind == NC_OPTIM_ADAMW && p->rows % o->world)
			return nc_fail("optimizer: %s has %d rows, which do not split over %d ranks",
				       p->name, p->rows, o->world);
		/* Muon's parameters in blocks of world: rank r owns base + r */
		s->owner = s->kind == NC_OPTIM_MUON ? muons++ % o->world : -1;
		s->lr = slot_lr(&o->c, m, p->name);
		size_t share = slot_share(o, s, p);
		o->nstate += s->kind == NC_OPTIM_ADAMW ? 2 * share : share;
		/* Muon's input beside Newton–Schulz's own space; a sharded AdamW
		 * step's averaged gradient rows */
		size_t need = s->kind == NC_OPTIM_MUON ? n + nc_newton_schulz5_work(p->rows, p->cols)
						       : o->world > 1 ? share : 0;
		if (need > *work)
			*work = need;
	}
	return 0;
}

int nc_optim_init_sharded(struct nc_optim *o, const struct nc_gpt *m, const struct nc_optim_config *c,
			  int rank, int world)
{
	memset(o, 0, sizeof *o);
	o->c = *c;
	o->rank = rank;
	o->world = world;
	o->n = m->nparams;
	o->s = xcalloc(o->n, sizeof *o->s);
	size_t work = 0;
	if (sort_slots(o, m, &work) != 0) {
		nc_optim_free(o);
		return -1;
	}
	o->state = xcalloc(o->nstate ? o->nstate : 1, sizeof *o->state);
	o->work = work ? xmalloc(work * sizeof *o->work) : NULL;
	float *next = o->state;
	for (int i = 0; i < o->n; i++) {
		size_t share = slot_share(o, &o->s[i], &m->params[i]);
		o->s[i].m = share ? next : NULL;
		next += share;
		if (o->s[i].kind == NC_OPTIM_ADAMW) {
			o->s[i].v = next;
			next += share;
		}
	}
	return 0;
}

int nc_optim_init(struct nc_optim *o, const struct nc_gpt *m, const struct nc_optim_config *c)
{
	return nc_optim_init_sharded(o, m, c, 0, 1);
}

void nc_optim_free(struct nc_optim *o)
{
	free(o->s);
	free(o->state);
	free(o->work);
	memset(o, 0, sizeof *o);
}

/* State tensors of slot s on this rank: AdamW 2, Muon 1 on its owner. */
static int slot_tensors(const struct nc_optim *o, const struct nc_optim_slot *s)
{
	if (s->kind == NC_OPTIM_ADAMW)
		return 2;
	return s->owner == o->rank ? 1 : 0;
}

int nc_optim_state_count(const struct nc_optim *o)
{
	int n = 0;
	for (int i = 0; i < o->n; i++)
		n += slot_tensors(o, &o->s[i]);
	return n;
}

void nc_optim_state_tensor(const struct nc_optim *o, const struct nc_gpt *m, int i,
			   struct nc_optim_tensor *t)
{
	int k = 0;
	while (i >= slot_tensors(o, &o->s[k]))
		i -= slot_tensors(o, &o->s[k++]);
	const struct nc_optim_slot *s = &o->s[k];
	const struct nc_param *p = &m->params[s->param];
	const char *what = s->kind == NC_OPTIM_MUON ? "muon.buf" : i == 0 ? "adam.m" : "adam.v";
	snprintf(t->name, sizeof t->name, "%s.%s", what, p->name);
	t->data = i == 0 ? s->m : s->v;
	t->rows = s->kind == NC_OPTIM_ADAMW ? p->rows / o->world : p->rows;
	t->cols = p->cols;
}

/* ---- schedules and clipping (spec §3.5) ---- */

double nc_lr_multiplier(const struct nc_optim_config *c, long step, long total)
{
	/* Python's round() goes to even on ties, as nearbyint does by default. */
	double warmup = nearbyint(c->warmup_ratio * total);
	double warmdown = nearbyint(c->warmdown_ratio * total);
	if (step < warmup)
		return (step + 1) / warmup;
	if (step <= total - warmdown)
		return 1.0;
	double progress = (total - step) / warmdown;
	return progress + (1 - progress) * c->final_lr_frac;
}

double nc_muon_momentum(long step)
{
	double frac = fmin((double)step / MUON_MOMENTUM_STEPS, 1.0);
	return (1 - frac) * MUON_MOMENTUM_START + frac * MUON_MOMENTUM_END;
}

double nc_clip_grad_norm(struct nc_gpt *m, double max_norm)
{
	double ss = 0;
	#pragma omp parallel for reduction(+ : ss)
	for (size_t i = 0; i < m->nweights; i++)
		ss += (double)m->g[i] * m->g[i];
	double norm = sqrt(ss);
	double coef = max_norm / (norm + CLIP_EPS);
	if (max_norm > 0 && coef < 1) {
		float f = (float)coef;
		#pragma omp parallel for
		for (size_t i = 0; i < m->nweights; i++)
			m->g[i] *= f;
	}
	return norm;
}

/* ---- AdamW (spec §3.1, §3.3) ---- */

/* torch's lerp as its vectorized CPU kernels compute it: one fused
 * multiply-add from whichever end is nearer, a + w (b - a) or
 * b + (w - 1)(b - a). Rounding once matters: the fixture's Nesterov input
 * is matched bit for bit only so, and bf16 Newton–Schulz grows any last-bit
 * difference into visible noise (tests/fixtures/gpt/README.md). */
static inline float lerp(float a, float b, float w)
{
	return fabsf(w) < 0.5f ? fmaf(w, b - a, a) : fmaf(w - 1, b - a, b);
}

/* As torch's fused AdamW computes it on the CPU, in float, bit for bit
 * (checked over several steps against torch 2.15): with bias corrections
 * bc1 = 1 - b1^t and bc2 = 1 - b2^t, p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps).
 * adam_dist_eps gives v1 DistAdamW's p -= lr sqrt(bc2)/bc1 * m / (sqrt(v) + eps):
 * eps is then in effect eps/sqrt(bc2), larger in the first steps. */
static void adamw_update(const struct nc_optim_config *c, float *p, const float *g, float *mo,
			 float *v, size_t n, double lr, long t)
{
	double bc1 = 1 - pow(c->adam_beta1, (double)t), bc2 = 1 - pow(c->adam_beta2, (double)t);
	float step = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2), eps = (float)c->adam_eps;
	float w1 = (float)(1 - c->adam_beta1), b2 = (float)c->adam_beta2, w2 = (float)(1 - c->adam_beta2);
	float decay = (float)(1 - lr * c->weight_decay);
	if (c->adam_dist_eps) {
		step = (float)(lr * sqrt(bc2) / bc1);
		bc2_sqrt = 1;
	}
	#pragma omp parallel for
	for (size_t i = 0; i < n; i++) {
		float gi = g[i], pi = c->weight_decay != 0 ? p[i] * decay : p[i];
		mo[i] = lerp(mo[i], gi, w1);
		v[i] = fmaf(w2 * gi, gi, v[i] * b2);    /* torch's addcmul, fused */
		p[i] = pi - step * mo[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
	}
}

void nc_optim_adamw(const struct nc_optim *o, const struct nc_optim_slot *s, float *p, const float *g,
		    size_t n, double lr)
{
	adamw_update(&o->c, p, g, s->m, s->v, n, lr, o->step);
}

/* ---- Muon (spec §3.2) ---- */

/* Each of nanochat's bf16 ops rounds its result to bf16 (to nearest, ties
 * to even); muon_bf16 replays that so that a run can be compared with
 * nanochat's own. It only rounds: products still run in fp32, so it makes
 * nothing faster, and costs a pass over each intermediate (small beside the
 * products). */
static inline float bf16_round(float x)
{
	return nc_bf16_to_f32(nc_f32_to_bf16(x));
}

static void round_all(float *x, size_t n, int bf16)
{
	if (!bf16)
		return;
	#pragma omp parallel for
	for (size_t i = 0; i < n; i++)
		x[i] = bf16_round(x[i]);
}

static void transpose(float *dst, const float *src, int rows, int cols)
{
	#pragma omp parallel for
	for (int i = 0; i < rows; i++)
		for (int j = 0; j < cols; j++)
			dst[(size_t)j * rows + i] = src[(size_t)i * cols + j];
}

/* y = a x, rounded as torch does */
static void scale(float *y, float a, const float *x, size_t n, int bf16)
{
	#pragma omp parallel for
	for (size_t i = 0; i < n; i++)
		y[i] = bf16 ? bf16_round(a * x[i]) : a * x[i];
}

/* y = a x + b y, elementwise, each product and the sum rounded as torch does */
static void axpby(float *y, float a, const float *x, float b, size_t n, int bf16)
{
	#pragma omp parallel for
	for (size_t i = 0; i < n; i++) {
		float ax = a * x[i], by = b * y[i];
		if (bf16)
			ax = bf16_round(ax), by = bf16_round(by);
		y[i] = bf16 ? bf16_round(ax + by) : ax + by;
	}
}

static void normalize(float *x, size_t n, int bf16)
{
	double ss = 0;
	#pragma omp parallel for reduction(+ : ss)
	for (size_t i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	float norm = (float)sqrt(ss);
	if (bf16)
		norm = bf16_round(bf16_round(norm) + (float)NS_NORM_EPS);
	else
		norm += (float)NS_NORM_EPS;
	#pragma omp parallel for
	for (size_t i = 0; i < n; i++)
		x[i] = bf16 ? bf16_round(x[i] / norm) : x[i] / norm;
}

size_t nc_newton_schulz5_work(int rows, int cols)
{
	size_t r = rows < cols ? rows : cols, c = rows < cols ? cols : rows;
	return 3 * r * c + 4 * r * r;
}

/* One iteration on X (r, c), r <= c: A = X X^T; B = b A + (c A) A;
 * X = a X + B X, in nanochat's order of operations. */
static void ns_iteration(const struct nc_ops *ops, float *X, int r, int c, int bf16, float *w)
{
	size_t rc = (size_t)r * c, rr = (size_t)r * r;
	float *XT = w, *BX = XT + rc, *A = BX + rc, *AT = A + rr, *cA = AT + rr, *B = cA + rr;
	ops->matmul(A, X, X, r, r, c, 0);
	round_all(A, rr, bf16);
	transpose(AT, A, r, r);
	scale(cA, (float)NS_C, A, rr, bf16);
	ops->matmul(B, cA, AT, r, r, r, 0);             /* (c A) A */
	round_all(B, rr, bf16);
	axpby(B, (float)NS_B, A, 1, rr, bf16);
	transpose(XT, X, r, c);
	ops->matmul(BX, B, XT, r, c, r, 0);             /* B X */
	round_all(BX, rc, bf16);
	axpby(X, 1, BX, (float)NS_A, rc, bf16);
}

/* Works on the wide orientation (rows <= cols), so that X X^T is the
 * smaller product; tall matrices are transposed in and back out. */
void nc_newton_schulz5(const struct nc_ops *ops, float *x, int rows, int cols, int bf16, float *work)
{
	size_t n = (size_t)rows * cols;
	int tall = rows > cols, r = tall ? cols : rows, c = tall ? rows : cols;
	float *X = work, *w = work + n;
	if (tall)
		transpose(X, x, rows, cols);
	else
		memcpy(X, x, n * sizeof *x);
	round_all(X, n, bf16);
	normalize(X, n, bf16);
	for (int k = 0; k < NS_STEPS; k++)
		ns_iteration(ops, X, r, c, bf16, w);
	if (tall)
		transpose(x, X, r, c);
	else
		memcpy(x, X, n * sizeof *x);
}

/* buf = lerp(buf, g, 1 - mu); g' = lerp(g, buf, mu) (Nesterov) or buf,
 * into out: nanochat does this in the gradient itself; nc leaves it be. */
static void muon_momentum(float *out, const float *g, float *buf, size_t n, double mu, int nesterov)
{
	float w = (float)(1 - mu), muf = (float)mu;
	#pragma omp parallel for
	for (size_t i = 0; i < n; i++) {
		buf[i] = lerp(buf[i], g[i], w);
		out[i] = nesterov ? lerp(g[i], buf[i], muf) : buf[i];
	}
}

void nc_optim_muon(struct nc_optim *o, struct nc_gpt *m, const struct nc_optim_slot *s,
		   const float *g, double lr, double mu)
{
	const struct nc_param *p = &m->params[s->param];
	size_t n = (size_t)p->rows * p->cols;
	float *x = o->work, *w = o->work + n;
	muon_momentum(x, g, s->m, n, mu, o->c.muon_nesterov);
	nc_newton_schulz5(m->ops, x, p->rows, p->cols, o->c.muon_bf16, w);
	/* Tall matrices (c_fc, rows/cols = 4) take a larger step (spec §3.2). */
	float a = (float)(lr * sqrt(fmax(1.0, (double)p->rows / p->cols)));
	float *pw = m->w + p->offset;
	#pragma omp parallel for
	for (size_t i = 0; i < n; i++)
		pw[i] = fmaf(-a, x[i], pw[i]);          /* torch's add with alpha, fused */
}

void nc_optim_step(struct nc_optim *o, struct nc_gpt *m, double lr_mult, double momentum)
{
	o->step++;
	for (int i = 0; i < o->n; i++) {
		const struct nc_optim_slot *s = &o->s[i];
		const struct nc_param *p = &m->params[s->param];
		if (s->kind == NC_OPTIM_ADAMW)
			adamw_update(&o->c, m->w + p->offset, m->g + p->offset, s->m, s->v,
				     (size_t)p->rows * p->cols, s->lr * lr_mult, o->step);
	}
	for (int i = 0; i < o->n; i++)
		if (o->s[i].kind == NC_OPTIM_MUON)
			nc_optim_muon(o, m, &o->s[i], m->g + m->params[o->s[i].param].offset,
				      o->s[i].lr * lr_mult, momentum);
}
