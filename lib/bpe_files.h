/* The work of nc-bpe's subcommands over whole inputs: reading documents in
 * batches and running each batch on all cores, in input order. */
#ifndef NC_BPE_JOBS_H
#define NC_BPE_JOBS_H

#include <stdint.h>
#include <stdio.h>

#include "reader.h"
#include "tokenizer.h"

struct nc_bpe_train_opts {
	struct nc_doc_opts docs;
	const char *pattern;
	uint64_t vocab_size;    /* including the special tokens */
	uint64_t max_chars, doc_cap;
};

struct nc_bpe_train_stats {
	uint64_t docs, chars, unique_chunks, merges;
	double count_s, merge_s;
};

/* Train a tokenizer on the documents of the files (NULL or "-" = stdin). */
int nc_bpe_train_files(struct nc_tokenizer *t, char **files, int nfiles,
		       const struct nc_bpe_train_opts *o, struct nc_bpe_train_stats *st);

struct nc_encode_opts {
	struct nc_doc_opts docs;
	int bos;                /* BOS before each document */
	int ids_text;           /* decimal ids, one line per document */
};

struct nc_encode_stats {
	uint64_t docs, bytes, tokens;
};

/* Encode the documents of the files to a shard at out_path (or stdout),
 * or as decimal ids to out. */
int nc_encode_files(const struct nc_tokenizer *t, char **files, int nfiles, const char *out_path,
		    const struct nc_encode_opts *o, struct nc_encode_stats *st);

/* Encoding batches of texts on all cores: a chunk cache per OpenMP thread
 * and an id array per text of the batch, kept from batch to batch. */
struct nc_batch_encoder {
	struct nc_enc_cache *caches;
	int nthreads;
	struct nc_ids *docs;      /* docs[i]: the ids of text i of the last batch */
	size_t cap;
};

void nc_batch_encoder_init(struct nc_batch_encoder *e);
/* Encode every text of x into e->docs[i], BOS first unless bos is
 * UINT32_MAX. */
void nc_batch_encode(struct nc_batch_encoder *e, const struct nc_tokenizer *t,
		     const struct nc_texts *x, uint32_t bos);
void nc_batch_encoder_free(struct nc_batch_encoder *e);

/* All the documents of one file joined with "\n" (as tok_eval joins). */
int nc_read_joined(const char *path, const struct nc_doc_opts *o, unsigned char **text,
		   size_t *len);

#endif
