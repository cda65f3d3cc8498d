#include "bpe_files.h"
#include "bpe_train.h"
#include "docs.h"
#include "ids.h"
#include "reader.h"
#include "err.h"
#include "mem.h"
#include "progress.h"
#include "shard.h"
#include "timer.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

int nc_bpe_train_files(struct nc_tokenizer *t, char **files, int nfiles,
		       const struct nc_bpe_train_opts *o, struct nc_bpe_train_stats *st)
{
	struct nc_splitter sp;
	memset(st, 0, sizeof *st);
	if (nc_splitter_for(o->pattern, &sp) != 0)
		return nc_fail("unsupported split pattern: %s", o->pattern);
	if (o->vocab_size < 256 + NC_N_SPECIAL)
		return nc_fail("vocabulary size %llu is too small: it must hold the 256 bytes and %d special tokens (at least %d)",
			       (unsigned long long)o->vocab_size, NC_N_SPECIAL, 256 + NC_N_SPECIAL);
	int nth = omp_get_max_threads();
	struct nc_chunk_counts counts;
	nc_counts_init(&counts, &sp, nth);
	struct nc_reader rd;
	nc_reader_init(&rd, files, nfiles, &o->docs);
	struct nc_texts *x = &rd.x;
	struct nc_progress pb;
	nc_progress_start(&pb, "counting", "B", 0, o->docs.progress);
	double t0 = nc_now();
	int rc;
	uint64_t bytes = 0;
	while ((rc = nc_reader_next(&rd)) > 0) {
		int stop = 0;
		size_t use = nc_texts_crop(x, o->doc_cap, o->max_chars, &st->chars, &st->docs, &stop);
		#pragma omp parallel for schedule(dynamic, 16)
		for (size_t i = 0; i < use; i++)
			nc_counts_add(&counts, omp_get_thread_num(), x->s[i], x->len[i]);
		bytes += rd.b.len;
		nc_progress_update(&pb, bytes);
		if (stop) {
			rc = 0;
			break;
		}
	}
	nc_reader_free(&rd);
	nc_progress_end(&pb, bytes);
	if (rc == 0 && st->chars == 0)
		rc = nc_fail("no text to train on: the input is empty");
	if (rc != 0) {
		nc_counts_free(&counts);
		return -1;
	}
	nc_counts_merge(&counts);
	st->unique_chunks = counts.maps[0].len;
	st->count_s = nc_now() - t0;

	t0 = nc_now();
	size_t want = o->vocab_size - 256 - NC_N_SPECIAL;
	struct nc_merge *merges = nc_xmalloc((want + 1) * sizeof *merges);
	size_t got = nc_bpe_learn(&counts, want, merges, o->docs.progress);
	st->merges = got;
	st->merge_s = nc_now() - t0;
	nc_counts_free(&counts);

	rc = nc_tok_from_merges(t, o->pattern, merges, got, NC_N_SPECIAL, nc_special_names);
	free(merges);
	return rc;
}

/* ---- encoding ---- */

void nc_batch_encoder_init(struct nc_batch_encoder *e)
{
	memset(e, 0, sizeof *e);
	e->nthreads = omp_get_max_threads();
	e->caches = nc_xmalloc(e->nthreads * sizeof *e->caches);
	for (int i = 0; i < e->nthreads; i++)
		nc_enc_cache_init(&e->caches[i]);
}

void nc_batch_encode(struct nc_batch_encoder *e, const struct nc_tokenizer *t,
		     const struct nc_texts *x, uint32_t bos)
{
	if (x->n > e->cap) {
		e->docs = nc_xrealloc(e->docs, x->n * sizeof *e->docs);
		memset(e->docs + e->cap, 0, (x->n - e->cap) * sizeof *e->docs);
		e->cap = x->n;
	}
	struct nc_ids *docs = e->docs;
	#pragma omp parallel for schedule(dynamic, 16)
	for (size_t i = 0; i < x->n; i++) {
		docs[i].n = 0;
		if (bos != UINT32_MAX)
			nc_ids_push(&docs[i], bos);
		nc_encode(t, &e->caches[omp_get_thread_num()], x->s[i], x->len[i], &docs[i]);
	}
}

void nc_batch_encoder_free(struct nc_batch_encoder *e)
{
	for (size_t i = 0; i < e->cap; i++)
		nc_ids_free(&e->docs[i]);
	free(e->docs);
	for (int i = 0; i < e->nthreads; i++)
		nc_enc_cache_free(&e->caches[i]);
	free(e->caches);
	memset(e, 0, sizeof *e);
}

int nc_encode_files(const struct nc_tokenizer *t, char **files, int nfiles, const char *out_path,
		    const struct nc_encode_opts *o, struct nc_encode_stats *st)
{
	memset(st, 0, sizeof *st);
	uint32_t bos = nc_tok_special(t, "<|bos|>");
	if (o->bos && bos == UINT32_MAX)
		return nc_fail("the tokenizer has no <|bos|> token");
	struct nc_shard_writer w;
	struct nc_out text_out;
	if (o->ids_text ? nc_out_open(&text_out, out_path)
			: nc_shard_create(&w, out_path, t->vocab_size, bos == UINT32_MAX ? 0 : bos,
					  t->fingerprint, 0))
		return -1;
	struct nc_batch_encoder enc;
	nc_batch_encoder_init(&enc);
	struct nc_ids *docs;
	struct nc_reader rd;
	nc_reader_init(&rd, files, nfiles, &o->docs);
	struct nc_texts *x = &rd.x;
	struct nc_progress pb;
	nc_progress_start(&pb, "encoding", "B", 0, o->docs.progress);
	int rc;
	while ((rc = nc_reader_next(&rd)) > 0) {
		nc_batch_encode(&enc, t, x, o->bos ? bos : UINT32_MAX);
		docs = enc.docs;
		for (size_t i = 0; i < x->n && rc > 0; i++) {
			st->docs++;
			st->bytes += x->len[i];
			st->tokens += docs[i].n;
			if ((o->ids_text ? nc_ids_write_line(&text_out, docs[i].v, NULL, docs[i].n)
					 : nc_shard_put(&w, docs[i].v, NULL, docs[i].n)) != 0)
				rc = -1;
		}
		nc_progress_update(&pb, st->bytes);
		if (rc < 0)
			break;
	}
	nc_reader_free(&rd);
	nc_progress_end(&pb, st->bytes);
	nc_batch_encoder_free(&enc);
	if (o->ids_text) {
		if (rc == 0)
			return nc_out_commit(&text_out);
		nc_out_abort(&text_out);
		return -1;
	}
	if (rc != 0) {
		nc_shard_abort(&w);
		return -1;
	}
	return nc_shard_finish(&w);
}

int nc_read_joined(const char *path, const struct nc_doc_opts *o, unsigned char **text, size_t *len)
{
	char *one[] = {(char *)path};
	struct nc_reader rd;
	nc_reader_init(&rd, one, 1, o);
	unsigned char *out = nc_xmalloc(1);
	size_t n = 0, cap = 1;
	int rc, first = 1;
	while ((rc = nc_reader_next(&rd)) > 0) {
		for (size_t i = 0; i < rd.x.n; i++) {
			nc_xgrow(&out, &cap, n + rd.x.len[i] + 2, 1);
			if (!first)
				out[n++] = '\n';
			first = 0;
			memcpy(out + n, rd.x.s[i], rd.x.len[i]);
			n += rd.x.len[i];
		}
	}
	nc_reader_free(&rd);
	if (rc != 0) {
		free(out);
		return -1;
	}
	*text = out;
	*len = n;
	return 0;
}
