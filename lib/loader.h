/* The pretraining data loader (spec §4.2, over pre-tokenized shards).
 *
 * The token stream is the shards concatenated in order. It is cut into
 * windows of B*T+1 tokens that share none (nanochat pops B*T+1 tokens for
 * each batch): inputs are the first B*T as B rows of T, targets the same
 * shifted by one.
 * At step s, rank r of W takes window number s*W + r, so the ranks of one
 * step read consecutive windows and together cover the stream once per
 * epoch; the stream then starts again (training) or ends (evaluation).
 * Only the shards under the current window are held in memory. */
#ifndef NC_LOADER_H
#define NC_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "shard.h"
#include "tokenizer.h"

struct nc_loader_cfg {
	int B, T;               /* rows per batch, tokens per row */
	int rank, world;
	uint64_t fingerprint;   /* the tokenizer's: shards written with another are refused */
	uint32_t vocab_size;    /* the tokenizer's: so is a shard that says another */
};

/* Where the loader stands: the next step's first window (rank 0's) as a
 * shard and an offset in it, the epoch that window is in, and the steps
 * taken. The same on every rank, so one saved copy resumes them all; a
 * shard and offset rather than a stream position, so it still names the
 * same tokens when shards are added after the last one. */
struct nc_cursor {
	int64_t epoch, shard, offset, steps;
};

#define NC_CURSOR_WORDS 4
void nc_cursor_pack(const struct nc_cursor *c, int64_t w[NC_CURSOR_WORDS]);
void nc_cursor_unpack(struct nc_cursor *c, const int64_t w[NC_CURSOR_WORDS]);

struct nc_loader {
	struct nc_loader_cfg cfg;
	int n;                  /* shards */
	char **paths;
	uint64_t *start;        /* stream position of each shard's first token; start[n] = length */
	struct nc_shard *held;  /* held[i].ids is NULL unless shard i is loaded */
	uint32_t vocab_size, bos;
	int old_shards;         /* of version 1, whose headers the checksum does not cover */
	uint64_t *digest;       /* each shard's checksum as the set's manifest has it, or NULL */
	int64_t windows;        /* whole windows (with their next token) per epoch */
	struct nc_cursor cur;
	int64_t stop;           /* steps after which batches end; -1: loop forever */
	uint32_t *buf;          /* B*T+1 tokens */
};

/* Open over shard files in stream order. Every header is checked now
 * (tokenizer fingerprint, no loss mask, one vocabulary size); each
 * shard's checksum is checked when it is first loaded for a batch. */
int nc_loader_open(struct nc_loader *ld, char *const *paths, int n, const struct nc_loader_cfg *cfg);
/* Open over DIR/SPLIT_*.bin ("train" or "val", as nc-shard tokens writes
 * them), sorted by name. The set must match DIR/manifest, which nc-shard
 * tokens writes last: the same shards, token counts and checksums (so a
 * set cut short, or changed since, is refused). */
int nc_loader_open_dir(struct nc_loader *ld, const char *dir, const char *split,
		       const struct nc_loader_cfg *cfg);
void nc_loader_close(struct nc_loader *ld);

/* This rank's next batch: B*T inputs and B*T targets. Returns 1, 0 when
 * an evaluation pass is over, -1 on error (a shard failing its checks). */
int nc_loader_next(struct nc_loader *ld, int32_t *inputs, int32_t *targets);

/* Continue from a saved cursor. Refused when it is outside the stream or
 * not on a window boundary (the batch size changed). */
int nc_loader_seek(struct nc_loader *ld, const struct nc_cursor *c);

/* Start an evaluation pass: rewind to the stream's start and end after
 * tokens / (B*T*world) steps (nanochat's eval_steps), or the whole split
 * when tokens is 0 (or more than the split holds). Every rank gets the same number of steps, so
 * up to W-1 windows at the end go unread. Returns that number of steps. */
int64_t nc_loader_eval_begin(struct nc_loader *ld, uint64_t tokens);

#endif
