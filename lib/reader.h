/* Documents of several files (or stdin), read a batch at a time and
 * parsed on all cores, in input order: the front end of nc-bpe train and
 * encode and of nc-shard. */
#ifndef NC_READER_H
#define NC_READER_H

#include <stddef.h>
#include <stdint.h>

#include "docs.h"

struct nc_doc_opts {
	int format;             /* enum nc_docs_format */
	const char *field;      /* JSON field holding the text; NULL: whole records */
	int progress;           /* 1 force, 0 on a terminal, -1 never */
};

/* The texts of one batch: s[i], len[i] (own[i] is freed on release); or,
 * when the reader's field is NULL, the whole records as JSON in obj[i]. */
struct nc_texts {
	const unsigned char **s;
	size_t *len;
	unsigned char **own;
	void **obj;
	size_t n, cap;
	long bad;               /* first failing record, and its message */
	char msg[1024];
};

struct nc_reader {
	char **files;
	int nfiles, next;
	int file;               /* index of the file the current batch is from */
	struct nc_doc_opts o;
	struct nc_docs d;
	int open;
	struct nc_batch b;      /* the raw records of the current batch */
	struct nc_texts x;      /* their texts */
};

/* nfiles == 0 reads stdin. */
void nc_reader_init(struct nc_reader *r, char **files, int nfiles, const struct nc_doc_opts *o);
/* The next batch in r->x (never empty): 1, 0 at the end, -1 on error. */
int nc_reader_next(struct nc_reader *r);
void nc_reader_free(struct nc_reader *r);
void nc_texts_release(struct nc_texts *x);

/* nanochat's tokenizer-training walk (spec §1.3) over one batch: crop each
 * text to doc_cap characters, count them into *chars and *docs, and stop
 * after the document that takes *chars above max_chars. Returns how many
 * texts of the batch to use; *stop is set once the limit is passed. */
size_t nc_texts_crop(struct nc_texts *x, uint64_t doc_cap, uint64_t max_chars, uint64_t *chars,
		     uint64_t *docs, int *stop);

#endif
