/* Training a byte-level BPE exactly as rustbpe does (spec §1.4): count the
 * pattern's chunks over the corpus, then merge the most frequent adjacent
 * pair, ties to the smallest (left, right), until the vocabulary is full. */
#ifndef NC_BPE_TRAIN_H
#define NC_BPE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "hmap.h"
#include "pretok.h"
#include "tokenizer.h"

/* Chunk counts, one table per thread, merged at the end. */
struct nc_chunk_counts {
	struct nc_splitter sp;
	struct nc_strmap *maps;
	int nmaps;
};

void nc_counts_init(struct nc_chunk_counts *c, const struct nc_splitter *sp, int nthreads);
/* Split text and count its chunks into the table of thread `tid`. */
void nc_counts_add(struct nc_chunk_counts *c, int tid, const unsigned char *s, size_t n);
/* Fold all thread tables into maps[0]. */
void nc_counts_merge(struct nc_chunk_counts *c);
void nc_counts_free(struct nc_chunk_counts *c);

/* Learn up to n_merges merges from maps[0] of the counts. Token 256+i is
 * merges[i]. Returns the number learned (fewer when no pair is left).
 * progress: 1 draw a progress line on stderr, 0 only on a terminal, -1 never. */
size_t nc_bpe_learn(const struct nc_chunk_counts *c, size_t n_merges, struct nc_merge *merges,
		    int progress);

#endif
