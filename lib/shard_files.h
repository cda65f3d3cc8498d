/* The work of nc-shard's modes over whole inputs: documents out as JSONL,
 * and documents into fixed-size token shards with a validation split. */
#ifndef NC_SHARD_JOBS_H
#define NC_SHARD_JOBS_H

#include <stdint.h>

#include "reader.h"
#include "tokenizer.h"

struct nc_docs_stats {
	uint64_t docs, chars, replaced;   /* replaced: invalid UTF-8 bytes */
};

/* Write the documents of the files as a document stream (one {"text": ...}
 * line each) to out_path, cropped and limited as tokenizer training is.
 * Bytes that are not UTF-8 become U+FFFD, as JSON needs. */
int nc_docs_jsonl(char **files, int nfiles, const struct nc_doc_opts *o, uint64_t max_chars,
		  uint64_t doc_cap, const char *out_path, struct nc_docs_stats *st);

struct nc_tokens_opts {
	struct nc_doc_opts docs;
	const char *dir;          /* output directory */
	uint64_t shard_tokens;    /* tokens per shard (the last may hold fewer) */
	uint64_t val_docs;        /* 0: the last file is the validation split */
};

struct nc_tokens_stats {
	uint64_t docs, bytes, train_tokens, val_tokens;
	int train_shards, val_shards, skipped;
};

/* Encode the documents (BOS before each) into DIR/train_NNNNN.bin and
 * DIR/val_NNNNN.bin, printing each shard's path on stdout when complete.
 * A shard already present, intact and identical to the one this run makes
 * is kept as it is (not rewritten); shards numbered past the end of this
 * run are removed. */
int nc_tokens_files(const struct nc_tokenizer *t, char **files, int nfiles,
		    const struct nc_tokens_opts *o, struct nc_tokens_stats *st);

struct nc_chat_opts {
	struct nc_doc_opts docs;
	size_t max_tokens;        /* per conversation (nanochat: 2048) */
	int mode;                 /* NC_CHAT_SHARD, NC_CHAT_IDS or NC_CHAT_SHOW */
	int color;                /* for NC_CHAT_SHOW */
};

enum { NC_CHAT_SHARD, NC_CHAT_IDS, NC_CHAT_SHOW };

struct nc_chat_stats {
	uint64_t conversations, tokens, supervised;
};

/* Render conversations (objects with "messages", bare arrays of messages,
 * or GSM8K rows with "question" and "answer") as nanochat does, into one
 * shard with a loss mask at out_path, or as "id/mask" lines, or for a
 * human to read. */
int nc_chat_files(const struct nc_tokenizer *t, char **files, int nfiles, const char *out_path,
		  const struct nc_chat_opts *o, struct nc_chat_stats *st);

#endif
