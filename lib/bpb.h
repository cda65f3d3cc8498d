/* Bits per byte (spec §6.1): the loss measured against the text's bytes,
 * so that models with different tokenizers compare. nc-train reports it on
 * the validation split; it belongs to evaluation. */
#ifndef NC_BPB_H
#define NC_BPB_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* Nats summed over targets that stand for bytes, over the bytes they stand
 * for. Special tokens have 0 bytes and so drop out of both sums, as do
 * ignored targets (negative). To combine ranks, sum nats and bytes over
 * them. */
struct nc_bpb {
	const uint32_t *token_bytes;    /* bytes of each id; 0 for specials */
	uint32_t vocab_size;
	double nats;
	uint64_t bytes;
};

/* token_bytes[id] for every id: the raw byte length (spec §1.6, HEAD's
 * definition), 0 for special tokens. Free with free(). */
uint32_t *nc_bpb_token_bytes(const struct nc_tokenizer *t);
void nc_bpb_init(struct nc_bpb *b, const uint32_t *token_bytes, uint32_t vocab_size);
/* Add n per-token losses (nats) and their targets. */
void nc_bpb_add(struct nc_bpb *b, const float *losses, const int32_t *targets, size_t n);
/* INFINITY when no bytes were seen. */
double nc_bpb_result(const struct nc_bpb *b);

struct nc_gpt;
struct nc_loader;
/* One evaluation pass of the loader (eval_tokens of it, 0: the whole
 * split; nc_loader_eval_begin) through the model, this rank's batches
 * added into b; sum b's nats and bytes over the ranks for the whole.
 * Returns the steps taken, or -1 when a shard fails its checks. In
 * lib/bpb_eval.c. */
int64_t nc_bpb_evaluate(struct nc_bpb *b, struct nc_gpt *m, struct nc_loader *ld,
			uint64_t eval_tokens);

#endif
