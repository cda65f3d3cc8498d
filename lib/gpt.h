/* nanochat's GPT (spec §2), written once over the op interface: sizes from
 * depth, parameters under nanochat's state_dict names, initialization,
 * forward with the loss, and backward. */
#ifndef NC_GPT_H
#define NC_GPT_H

#include <stddef.h>
#include <stdint.h>

#include "ops.h"

struct nc_gpt_config {
	int n_layer, n_head, n_kv_head, n_embd;
	int vocab_size, sequence_len;
	float rope_base;      /* 10,000 (spec §2.3) */
	float softcap;        /* 15 (spec §2.2) */
	float norm_eps;       /* F.rms_norm's default: the dtype's epsilon */
};

/* nanochat's sizing (spec §2.1): width 64*depth, heads of 128. Returns -1
 * if the width does not split into whole heads. */
int nc_gpt_config_from_depth(struct nc_gpt_config *c, int depth, int vocab_size, int sequence_len);
/* Checks a configuration; -1 with a message if it is impossible. */
int nc_gpt_config_check(const struct nc_gpt_config *c);

struct nc_param {
	char name[64];        /* nanochat's state_dict name */
	int rows, cols;       /* (out, in) for matrices; (V, C) for wte */
	size_t offset;        /* in floats, into the parameter buffer */
};

struct nc_gpt_acts;

struct nc_gpt {
	struct nc_gpt_config c;
	const struct nc_ops *ops;
	int nparams;
	struct nc_param *params;
	size_t nweights;      /* floats in w (and g) */
	float *w, *g;         /* parameters and their gradients (ops memory) */
	int B, T;             /* shape the activations are sized for */
	/* Rows of logits the loss holds at a time (0: as many as fit in
	 * 128 MiB), so that no (B*T, V) logits tensor exists in training. Set
	 * before the first forward. */
	int xent_rows;
	struct nc_gpt_acts *a;
};

int nc_gpt_init(struct nc_gpt *m, const struct nc_gpt_config *c, const struct nc_ops *ops);
void nc_gpt_free(struct nc_gpt *m);
const struct nc_param *nc_gpt_param(const struct nc_gpt *m, const char *name);
/* nanochat's initialization (spec §2.4), from a seeded generator. */
void nc_gpt_init_weights(struct nc_gpt *m, uint64_t seed);

/* Forward on idx (B, T). With targets, returns the mean cross-entropy over
 * targets >= 0; without, leaves the softcapped logits (B*T, V) in logits
 * (ops memory, if given) and returns 0. */
double nc_gpt_forward(struct nc_gpt *m, const int32_t *idx, const int32_t *targets, int B, int T,
		      float *logits);
/* Forward and backward on idx (B, T) and targets: returns the mean
 * cross-entropy, as nc_gpt_forward, and adds its gradients into m->g.
 * The lm_head's gradient is taken a chunk of rows at a time while the
 * chunk's logits are at hand. */
double nc_gpt_forward_backward(struct nc_gpt *m, const int32_t *idx, const int32_t *targets, int B,
			       int T);
/* The same on a packed batch: n sequences of len[i] tokens (each >= 0)
 * end to end in idx and targets. The result is that of the batch of the
 * n sequences right-padded to the longest with targets -1, computed
 * without the padding (causal attention: the padding changes nothing
 * before it): the mean over all targets >= 0, its gradient. Each sequence
 * takes positions from 0. An empty batch does nothing and returns 0. */
double nc_gpt_forward_packed(struct nc_gpt *m, const int32_t *idx, const int32_t *targets,
			     const int *len, int n);
double nc_gpt_forward_backward_packed(struct nc_gpt *m, const int32_t *idx, const int32_t *targets,
				      const int *len, int n);
/* Allocate the training activations for (B, T) now rather than at the
 * first forward, so that a run too large for its device stops at once.
 * Later batches of at most B*T rows and T positions use them as they are
 * (a larger one allocates anew). */
void nc_gpt_reserve(struct nc_gpt *m, int B, int T);
/* Per-token losses (nats) of the last forward with targets: B*T values,
 * 0 where the target was ignored. Host memory on the CPU. */
const float *nc_gpt_token_losses(const struct nc_gpt *m);
/* ---- inference ----
 * A KV cache of B rows that share one position count (spec §5.1): for
 * each layer, k and v of (B, Tmax, Hkv, D). Rows 0..n-1 are the live
 * ones: a step runs on the first n rows only. */
struct nc_infer_acts;

struct nc_kv_cache {
	int L, B, Tmax, KV;   /* layers, rows, positions, floats per position */
	int pos;              /* positions filled in every row */
	int *at;              /* pos in ops memory, for the ops of a step */
	float *k, *v;         /* (L, B, Tmax, KV), ops memory */
	float *cos, *sin;     /* rotary tables for positions 0..Tmax-1, ops memory */
	struct nc_infer_acts *a;
	/* Decode steps (one token a row) recorded where the ops can record
	 * (CUDA graphs), one recording per row count, made at the second
	 * step of that count and replayed from then on. no_record (set by
	 * nc_kv_init from NC_NO_GRAPHS=1) runs every step op by op. */
	void **rec;
	int *seen;
	long replays;
	int no_record;
};

/* A cache for B rows of up to Tmax positions; -1 if Tmax exceeds the
 * model's context. */
int nc_kv_init(struct nc_kv_cache *kv, const struct nc_gpt *m, int B, int Tmax);
void nc_kv_free(struct nc_kv_cache *kv, const struct nc_gpt *m);
/* Copy row src's filled positions over row dst (every layer). */
void nc_kv_copy_row(struct nc_kv_cache *kv, const struct nc_gpt *m, int dst, int src);

/* Run tokens idx (B rows of T, host memory) at positions pos..pos+T-1 of
 * the cache's first B rows, store their keys and values, and advance pos
 * by T. logits (host, B x V) receives the softcapped logits of each row's
 * last position. -1 if the cache has no room. */
int nc_gpt_step(struct nc_gpt *m, struct nc_kv_cache *kv, const int32_t *idx, int B, int T,
		float *logits);

/* FLOPs per token (spec §2.5) at context T. */
double nc_gpt_flops_per_token(const struct nc_gpt *m, int T);

#endif
