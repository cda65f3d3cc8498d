/* The data loaders of the chat stages (spec §4.4, §4.5), over a chat shard
 * (nc-shard chat): tokens and a loss mask, each conversation starting with
 * BOS, already cut to render_conversation's 2048 tokens. Conversation i of
 * the mixture is the shard's i-th BOS-started segment.
 *
 * mid (mid_train.py's mid_data_generator): rank r renders conversations
 * r, r+W, ... into a token buffer, the mask thrown away, and pops B*T+1
 * tokens a batch; past the last conversation the cursor wraps (cursor -=
 * N, so the next pass starts elsewhere) and last_step is set.
 *
 * sft (chat_sft.py's sft_data_generator): rank r takes conversations r,
 * r+W, ... (each pass starting again at r), B of them a batch, each row
 * right-padded with the pad id; targets are -1 where mask[1:] is 0 and on
 * the padding; the batch has max(len) - 1 columns. A batch may take rows
 * from two passes, as the generator's list carries over. */
#ifndef NC_CHAT_LOADER_H
#define NC_CHAT_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "shard.h"

struct nc_convos {
	char *path;
	struct nc_shard s;      /* ids and mask, checked */
	int64_t n;              /* conversations */
	uint64_t *start;        /* token offset of each, start[n] = s.n */
	uint64_t longest;       /* tokens of the longest */
};

/* Open a chat shard: refused (naming it) without a loss mask, written with
 * another tokenizer (fingerprint) or vocabulary, not starting with BOS, or
 * holding fewer than min_convos conversations. */
int nc_convos_open(struct nc_convos *cv, const char *path, uint64_t fingerprint, uint32_t vocab_size,
		   int64_t min_convos);
void nc_convos_close(struct nc_convos *cv);

/* ---- mid ---- */

struct nc_mid_loader {
	const struct nc_convos *cv;
	int B, T, rank, world;
	int64_t cursor;         /* the next conversation this rank renders */
	uint32_t *buf;          /* rendered tokens not yet popped */
	size_t nbuf, cap;
	int last_step;          /* the cursor has wrapped */
	double approx_progress; /* cursor / N after the last batch */
};

/* Where a mid loader stands: its cursor, the tokens in its buffer (the
 * tail of what it rendered, so they need not be saved) and its flag. */
struct nc_mid_state {
	int64_t cursor, buffered;
	int last_step;
};

void nc_mid_loader_init(struct nc_mid_loader *ml, const struct nc_convos *cv, int B, int T, int rank,
			int world);
void nc_mid_loader_free(struct nc_mid_loader *ml);
/* The next B*T inputs and targets (always one: the stream wraps). */
void nc_mid_loader_next(struct nc_mid_loader *ml, int32_t *inputs, int32_t *targets);
void nc_mid_loader_get(const struct nc_mid_loader *ml, struct nc_mid_state *st);
/* Continue from a state (its buffer rebuilt from the conversations before
 * the cursor); refused when the state cannot be this loader's. */
int nc_mid_loader_set(struct nc_mid_loader *ml, const struct nc_mid_state *st);

/* ---- sft ---- */

struct nc_sft_loader {
	const struct nc_convos *cv;
	int B, rank, world;
	int32_t pad;            /* <|assistant_end|> */
	int64_t next;           /* the next conversation this rank takes */
	int64_t passes;         /* times its stride was started again */
};

void nc_sft_loader_init(struct nc_sft_loader *sl, const struct nc_convos *cv, int B, int rank, int world,
			int32_t pad);
/* The most columns a batch can have: inputs and targets hold B times it. */
int nc_sft_max_cols(const struct nc_sft_loader *sl);
/* The next batch: B rows of *ncols inputs and targets. */
void nc_sft_loader_next(struct nc_sft_loader *sl, int32_t *inputs, int32_t *targets, int *ncols);
/* Continue at conversation next (one of this rank's). */
int nc_sft_loader_seek(struct nc_sft_loader *sl, int64_t next);
/* A batch of B rows of C (as nc_sft_loader_next makes it) packed in place
 * for nc_gpt_forward_backward_packed: each row cut after its last target
 * that is not ignored, a row without one left out, the rows moved end to
 * end. What is cut (the padding, a last prompt) trains nothing and, the
 * model being causal, changes nothing before it. len[] (B entries) gets
 * the kept rows' lengths; returns how many rows are kept. */
int nc_sft_pack(int32_t *inputs, int32_t *targets, int B, int C, int *len);

#endif
