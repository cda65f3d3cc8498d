/* nanochat's optimizers (spec §3): AdamW for the embedding and the
 * unembedding, Muon for every matrix of the blocks, the schedules of
 * base_train (spec §3.5) and clipping by total gradient norm.
 *
 * The optimizer runs where the model is: its state lives in the memory of
 * the model's ops (a GPU's, or the host's), and every step of it, Newton–
 * Schulz's matrix products included, goes through those ops. */
#ifndef NC_OPTIM_H
#define NC_OPTIM_H

#include <stddef.h>

#include "gpt.h"

/* Names and defaults as in nanochat's base_train (spec §3.1, §3.5). */
struct nc_optim_config {
	double embedding_lr;    /* AdamW on wte, times (n_embd/768)^-0.5 */
	double unembedding_lr;  /* AdamW on lm_head, times the same */
	double matrix_lr;       /* Muon on every block matrix */
	double weight_decay;    /* AdamW only, decoupled */
	double grad_clip;       /* max total norm; 0 turns clipping off */
	double adam_beta1, adam_beta2, adam_eps;
	double warmup_ratio, warmdown_ratio, final_lr_frac;
	int muon_nesterov;      /* 1 in nanochat */
	int muon_bf16;          /* round Newton–Schulz to bf16 after each op, as nanochat does */
};

void nc_optim_defaults(struct nc_optim_config *c);

enum { NC_OPTIM_ADAMW, NC_OPTIM_MUON };

/* One parameter's place in the optimizer: its group and its state. */
struct nc_optim_slot {
	int param;              /* index into m->params */
	int kind;               /* NC_OPTIM_ADAMW or NC_OPTIM_MUON */
	double lr;              /* before the schedule's multiplier */
	float *m, *v;           /* AdamW: first and second moments; Muon: m is the momentum buffer, v NULL */
	int owner;              /* Muon: the rank that steps it (m NULL elsewhere); AdamW: -1 */
};

struct nc_optim {
	struct nc_optim_config c;
	const struct nc_ops *ops;   /* the model's at init: state, work and steps */
	int n;                  /* slots, in the model's parameter order */
	struct nc_optim_slot *s;
	long step;              /* AdamW steps taken: t of the bias corrections; checkpoint it */
	float *state;           /* every m, v and buffer, zero at the start */
	size_t nstate;
	float *work;            /* Newton–Schulz's work space, for the largest matrix */
	int rank, world;        /* this rank's shard of the state (spec §3.4); 0 of 1 */
};

/* Sorts the model's parameters into nanochat's groups: wte and lm_head to
 * AdamW, every transformer.h.* matrix to Muon. -1 on a parameter it does
 * not know. */
int nc_optim_init(struct nc_optim *o, const struct nc_gpt *m, const struct nc_optim_config *c);
/* The same for rank of world, keeping only this rank's state as nanochat's
 * DistAdamW and DistMuon do (spec §3.4). With world > 1 AdamW steps with
 * DistAdamW's formula, as nanochat's setup_optimizers picks DistAdamW
 * whenever it runs over several ranks: p -= lr sqrt(bc2)/bc1 m / (sqrt(v)
 * + eps), where torch's AdamW (one rank) has p -= lr/bc1 m / (sqrt(v) /
 * sqrt(bc2) + eps). It keeps AdamW's moments for rows
 * [rank, rank + 1) x rows/world of each parameter (-1 unless rows divide
 * by world), Muon's buffer only for the matrices the rank owns: Muon's
 * parameters in order, in blocks of world, base + r owned by rank r.
 * Step it with nc_optim_step_dist (optim_dist.h), with host memory (the
 * collectives of lib/comm.c read and write host buffers). */
int nc_optim_init_sharded(struct nc_optim *o, const struct nc_gpt *m, const struct nc_optim_config *c,
			  int rank, int world);
void nc_optim_free(struct nc_optim *o);

/* The learning-rate multiplier at step (0-based) of total (spec §3.5). */
double nc_lr_multiplier(const struct nc_optim_config *c, long step, long total);
/* Muon's momentum at step: 0.85 to 0.95 over the first 300 steps. */
double nc_muon_momentum(long step);
/* Scales every gradient so that their total norm is at most max_norm, as
 * torch's clip_grad_norm_ does (max_norm <= 0 only measures). Returns the
 * norm before clipping. */
double nc_clip_grad_norm(struct nc_gpt *m, double max_norm);

/* One step of AdamW and then Muon (nanochat's order), with every learning
 * rate times lr_mult and Muon's momentum given. The gradients are left as
 * they were. */
void nc_optim_step(struct nc_optim *o, struct nc_gpt *m, double lr_mult, double momentum);

/* The pieces of a step, for the sharded one: AdamW on n floats p with
 * gradient g and slot s's moments (at step o->step); Muon on slot s's whole
 * matrix with gradient g (which may be o->work). */
void nc_optim_adamw(const struct nc_optim *o, const struct nc_optim_slot *s, float *p, const float *g,
		    size_t n, double lr);
void nc_optim_muon(struct nc_optim *o, struct nc_gpt *m, const struct nc_optim_slot *s,
		   const float *g, double lr, double mu);

/* Newton–Schulz, 5 steps, in place on x (rows, cols): nanochat's
 * zeropower_via_newtonschulz5 (spec §3.2). work holds
 * nc_newton_schulz5_work(rows, cols) floats. bf16 as muon_bf16. */
size_t nc_newton_schulz5_work(int rows, int cols);
void nc_newton_schulz5(const struct nc_ops *ops, float *x, int rows, int cols, int bf16, float *work);

/* The state as named tensors, for checkpoints. For i in [0, count):
 * "adam.m.<param>", "adam.v.<param>" for AdamW's parameters and
 * "muon.buf.<param>" for Muon's, in the model's parameter order, each
 * shaped like its parameter (sharded: this rank's AdamW rows, and only the
 * Muon buffers it owns). data points into o->state: a writer reads it,
 * a loader fills it. The step count is o->step, saved beside them. */
struct nc_optim_tensor {
	char name[80];
	float *data;
	int rows, cols;
};

int nc_optim_state_count(const struct nc_optim *o);
void nc_optim_state_tensor(const struct nc_optim *o, const struct nc_gpt *m, int i,
			   struct nc_optim_tensor *t);

#endif
