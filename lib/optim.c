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
		.muon_nesterov = 1, .muon_bf16 = 0,
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
	o->s = nc_xcalloc(o->n, sizeof *o->s);
	size_t work = 0;
	if (sort_slots(o, m, &work) != 0) {
		nc_optim_free(o);
		return -1;
	}
	/* where the model is: the ops' memory (zeroed) */
	o->ops = m->ops;
	o->state = o->ops->alloc((o->nstate ? o->nstate : 1) * sizeof *o->state);
	o->work = work ? o->ops->alloc(work * sizeof *o->work) : NULL;
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
	if (o->ops) {
		o->ops->free(o->state);
		o->ops->free(o->work);
	}
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
	double norm = sqrt(m->ops->sumsq(m->g, m->nweights));
	double coef = max_norm / (norm + CLIP_EPS);
	if (max_norm > 0 && coef < 1)
		m->ops->scale(m->g, m->nweights, (float)coef);
	return norm;
}

/* ---- AdamW (spec §3.1, §3.3) ---- */

/* One rank: as torch's fused AdamW computes it on the CPU, in float, bit
 * for bit (checked over several steps against torch 2.15): with bias
 * corrections bc1 = 1 - b1^t and bc2 = 1 - b2^t,
 * p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps). Several ranks: nanochat's
 * DistAdamW, p -= lr sqrt(bc2)/bc1 * m / (sqrt(v) + eps), so eps is in
 * effect eps/sqrt(bc2), larger in the first steps (nanochat/adamw.py). */
static void adamw_update(const struct nc_optim *o, float *p, const float *g, float *mo, float *v,
			 size_t n, double lr)
{
	const struct nc_optim_config *c = &o->c;
	long t = o->step;
	double bc1 = 1 - pow(c->adam_beta1, (double)t), bc2 = 1 - pow(c->adam_beta2, (double)t);
	struct nc_adamw_args a = {
		.step = (float)(lr / bc1), .bc2_sqrt = (float)sqrt(bc2), .eps = (float)c->adam_eps,
		.w1 = (float)(1 - c->adam_beta1), .b2 = (float)c->adam_beta2,
		.w2 = (float)(1 - c->adam_beta2), .decay = (float)(1 - lr * c->weight_decay),
		.decay_on = c->weight_decay != 0};
	if (o->world > 1) {
		a.step = (float)(lr * sqrt(bc2) / bc1);
		a.bc2_sqrt = 1;
	}
	o->ops->adamw(p, g, mo, v, n, &a);
}

void nc_optim_adamw(const struct nc_optim *o, const struct nc_optim_slot *s, float *p, const float *g,
		    size_t n, double lr)
{
	adamw_update(o, p, g, s->m, s->v, n, lr);
}

/* ---- Muon (spec §3.2) ---- */

/* Each of nanochat's bf16 ops rounds its result to bf16 (to nearest, ties
 * to even); muon_bf16 replays that (the ops' bf16 flag) so that a run can
 * be compared with nanochat's own. It only rounds: products still run in
 * fp32, so it makes nothing faster. */
static void round_all(const struct nc_ops *ops, float *x, size_t n, int bf16)
{
	if (bf16)
		ops->round_bf16(x, n);
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
	round_all(ops, A, rr, bf16);
	ops->transpose(AT, A, r, r);
	ops->scale_to(cA, (float)NS_C, A, rr, bf16);
	ops->matmul(B, cA, AT, r, r, r, 0);             /* (c A) A */
	round_all(ops, B, rr, bf16);
	ops->axpby(B, (float)NS_B, A, 1, rr, bf16);
	ops->transpose(XT, X, r, c);
	ops->matmul(BX, B, XT, r, c, r, 0);             /* B X */
	round_all(ops, BX, rc, bf16);
	ops->axpby(X, 1, BX, (float)NS_A, rc, bf16);
}

/* Works on the wide orientation (rows <= cols), so that X X^T is the
 * smaller product; tall matrices are transposed in and back out. */
void nc_newton_schulz5(const struct nc_ops *ops, float *x, int rows, int cols, int bf16, float *work)
{
	size_t n = (size_t)rows * cols;
	int tall = rows > cols, r = tall ? cols : rows, c = tall ? rows : cols;
	float *X = work, *w = work + n;
	if (tall)
		ops->transpose(X, x, rows, cols);
	else
		ops->copy(X, x, n);
	round_all(ops, X, n, bf16);
	ops->normalize(X, n, (float)NS_NORM_EPS, bf16);
	for (int k = 0; k < NS_STEPS; k++)
		ns_iteration(ops, X, r, c, bf16, w);
	if (tall)
		ops->transpose(x, X, r, c);
	else
		ops->copy(x, X, n);
}

void nc_optim_muon(struct nc_optim *o, struct nc_gpt *m, const struct nc_optim_slot *s,
		   const float *g, double lr, double mu)
{
	const struct nc_param *p = &m->params[s->param];
	size_t n = (size_t)p->rows * p->cols;
	float *x = o->work, *w = o->work + n;
	/* nanochat does the momentum in the gradient itself; nc leaves it be */
	o->ops->momentum(x, g, s->m, n, mu, o->c.muon_nesterov);
	nc_newton_schulz5(o->ops, x, p->rows, p->cols, o->c.muon_bf16, w);
	/* Tall matrices (c_fc, rows/cols = 4) take a larger step (spec §3.2). */
	float a = (float)(lr * sqrt(fmax(1.0, (double)p->rows / p->cols)));
	o->ops->fma_into(m->w + p->offset, -a, x, n);   /* torch's add with alpha, fused */
}

void nc_optim_step(struct nc_optim *o, struct nc_gpt *m, double lr_mult, double momentum)
{
	o->step++;
	for (int i = 0; i < o->n; i++) {
		const struct nc_optim_slot *s = &o->s[i];
		const struct nc_param *p = &m->params[s->param];
		if (s->kind == NC_OPTIM_ADAMW)
			adamw_update(o, m->w + p->offset, m->g + p->offset, s->m, s->v,
				     (size_t)p->rows * p->cols, s->lr * lr_mult);
	}
	for (int i = 0; i < o->n; i++)
		if (o->s[i].kind == NC_OPTIM_MUON)
			nc_optim_muon(o, m, &o->s[i], m->g + m->params[o->s[i].param].offset,
				      o->s[i].lr * lr_mult, momentum);
}
