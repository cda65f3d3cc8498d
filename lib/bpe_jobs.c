#include "bpe_jobs.h"
#include "bpe_train.h"
#include "docs.h"
#include "err.h"
#include "mem.h"
#include "progress.h"
#include "shard.h"
#include "timer.h"
#include "unicode.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_BYTES (32u << 20)

/* The parsed texts of one batch. */
struct texts {
	const unsigned char **s;
	size_t *len;
	unsigned char **own;
	size_t n, cap;
	/* first failing record and its message */
	long bad;
	char msg[1024];
};

static void texts_fit(struct texts *x, size_t n)
{
	if (n > x->cap) {
		x->cap = n;
		x->s = xrealloc(x->s, n * sizeof *x->s);
		x->len = xrealloc(x->len, n * sizeof *x->len);
		x->own = xrealloc(x->own, n * sizeof *x->own);
	}
	x->n = n;
	x->bad = -1;
}

static void texts_release(struct texts *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->own[i]);
	x->n = 0;
}

static void texts_free(struct texts *x)
{
	texts_release(x);
	free(x->s);
	free(x->len);
	free(x->own);
}

/* Parse every record of b in parallel. Returns -1 naming the first bad
 * record. */
static int parse_batch(const struct nc_batch *b, const char *field, struct texts *x)
{
	texts_fit(x, b->n);
	#pragma omp parallel for schedule(dynamic, 64)
	for (size_t i = 0; i < b->n; i++) {
		if (nc_rec_text(b, &b->recs[i], field, &x->s[i], &x->len[i], &x->own[i]) != 0) {
			#pragma omp critical
			if (x->bad < 0 || (long)i < x->bad) {
				x->bad = (long)i;
				snprintf(x->msg, sizeof x->msg, "%s", nc_errmsg());
			}
		}
	}
	if (x->bad >= 0) {
		texts_release(x);
		return nc_fail("%s", x->msg);
	}
	return 0;
}

int nc_train_files(struct nc_tokenizer *t, char **files, int nfiles, const struct nc_train_opts *o,
		   struct nc_train_stats *st)
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
	struct nc_batch b = {0};
	struct texts x = {0};
	struct nc_progress pb;
	nc_progress_start(&pb, "counting", "B", 0, o->docs.progress > 0);
	if (o->docs.progress < 0)
		pb.enabled = 0;
	double t0 = nc_now();
	int rc = 0, stop = 0;
	uint64_t bytes = 0;
	static char *stdin_only[] = {NULL};
	if (nfiles == 0) {
		files = stdin_only;
		nfiles = 1;
	}
	for (int f = 0; f < nfiles && !stop && rc == 0; f++) {
		struct nc_docs d;
		if (nc_docs_open(&d, files[f], o->docs.format) != 0) {
			rc = -1;
			break;
		}
		for (;;) {
			nc_batch_reset(&b);
			long got = nc_docs_read(&d, &b, BATCH_BYTES);
			if (got <= 0) {
				rc = (int)(got < 0 ? -1 : 0);
				break;
			}
			if (parse_batch(&b, o->docs.field, &x) != 0) {
				rc = -1;
				break;
			}
			/* Crop to doc_cap characters; find where max_chars stops us. */
			#pragma omp parallel for schedule(dynamic, 64)
			for (size_t i = 0; i < x.n; i++)
				x.len[i] = nc_utf8_prefix(x.s[i], x.len[i], o->doc_cap);
			size_t use = x.n;
			for (size_t i = 0; i < x.n; i++) {
				st->chars += nc_utf8_count(x.s[i], x.len[i]);
				st->docs++;
				if (st->chars > o->max_chars) {
					use = i + 1;
					stop = 1;
					break;
				}
			}
			#pragma omp parallel for schedule(dynamic, 16)
			for (size_t i = 0; i < use; i++)
				nc_counts_add(&counts, omp_get_thread_num(), x.s[i], x.len[i]);
			texts_release(&x);
			bytes += b.len;
			nc_progress_update(&pb, bytes);
			if (stop)
				break;
		}
		nc_docs_close(&d);
	}
	nc_batch_free(&b);
	texts_free(&x);
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
	struct nc_merge *merges = xmalloc((want + 1) * sizeof *merges);
	size_t got = nc_bpe_learn(&counts, want, merges, o->docs.progress);
	st->merges = got;
	st->merge_s = nc_now() - t0;
	nc_counts_free(&counts);

	/* Token bytes from the merges: token 256+i = left bytes + right bytes. */
	uint32_t n_tokens = 256 + (uint32_t)got;
	unsigned char **bytes_of = xmalloc(n_tokens * sizeof *bytes_of);
	uint32_t *lens = xmalloc(n_tokens * sizeof *lens);
	for (uint32_t i = 0; i < 256; i++) {
		bytes_of[i] = xmalloc(1);
		bytes_of[i][0] = (unsigned char)i;
		lens[i] = 1;
	}
	for (size_t i = 0; i < got; i++) {
		uint32_t l = merges[i].left, r = merges[i].right, z = 256 + (uint32_t)i;
		lens[z] = lens[l] + lens[r];
		bytes_of[z] = xmalloc(lens[z]);
		memcpy(bytes_of[z], bytes_of[l], lens[l]);
		memcpy(bytes_of[z] + lens[l], bytes_of[r], lens[r]);
	}
	rc = nc_tok_build(t, o->pattern, n_tokens, (const unsigned char *const *)bytes_of, lens,
			  NC_N_SPECIAL, nc_special_names, NULL);
	for (uint32_t i = 0; i < n_tokens; i++)
		free(bytes_of[i]);
	free(bytes_of);
	free(lens);
	free(merges);
	return rc;
}

/* ---- encoding ---- */

static int write_ids_text(struct nc_out *out, const uint32_t *ids, size_t n)
{
	char buf[16];
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(buf, sizeof buf, i ? " %u" : "%u", ids[i]);
		if (nc_out_write(out, buf, k) != 0)
			return -1;
	}
	return nc_out_write(out, "\n", 1);
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
	int nth = omp_get_max_threads();
	struct nc_enc_cache *cache = xmalloc(nth * sizeof *cache);
	for (int i = 0; i < nth; i++)
		nc_enc_cache_init(&cache[i]);
	struct nc_ids *docs = NULL;
	size_t ndocs_cap = 0;
	struct nc_batch b = {0};
	struct texts x = {0};
	struct nc_progress pb;
	nc_progress_start(&pb, "encoding", "B", 0, o->docs.progress > 0);
	if (o->docs.progress < 0)
		pb.enabled = 0;
	int rc = 0;
	static char *stdin_only[] = {NULL};
	if (nfiles == 0) {
		files = stdin_only;
		nfiles = 1;
	}
	for (int f = 0; f < nfiles && rc == 0; f++) {
		struct nc_docs d;
		if (nc_docs_open(&d, files[f], o->docs.format) != 0) {
			rc = -1;
			break;
		}
		for (;;) {
			nc_batch_reset(&b);
			long got = nc_docs_read(&d, &b, BATCH_BYTES);
			if (got <= 0) {
				rc = (int)(got < 0 ? -1 : 0);
				break;
			}
			if (parse_batch(&b, o->docs.field, &x) != 0) {
				rc = -1;
				break;
			}
			if (x.n > ndocs_cap) {
				docs = xrealloc(docs, x.n * sizeof *docs);
				memset(docs + ndocs_cap, 0, (x.n - ndocs_cap) * sizeof *docs);
				ndocs_cap = x.n;
			}
			#pragma omp parallel for schedule(dynamic, 16)
			for (size_t i = 0; i < x.n; i++) {
				docs[i].n = 0;
				if (o->bos)
					nc_ids_push(&docs[i], bos);
				nc_encode(t, &cache[omp_get_thread_num()], x.s[i], x.len[i], &docs[i]);
			}
			for (size_t i = 0; i < x.n && rc == 0; i++) {
				st->docs++;
				st->bytes += x.len[i];
				st->tokens += docs[i].n;
				rc = o->ids_text ? write_ids_text(&text_out, docs[i].v, docs[i].n)
						 : nc_shard_put(&w, docs[i].v, NULL, docs[i].n);
			}
			texts_release(&x);
			nc_progress_update(&pb, st->bytes);
			if (rc != 0)
				break;
		}
		nc_docs_close(&d);
	}
	nc_progress_end(&pb, st->bytes);
	for (size_t i = 0; i < ndocs_cap; i++)
		nc_ids_free(&docs[i]);
	free(docs);
	for (int i = 0; i < nth; i++)
		nc_enc_cache_free(&cache[i]);
	free(cache);
	nc_batch_free(&b);
	texts_free(&x);
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
	struct nc_docs d;
	if (nc_docs_open(&d, path, o->format) != 0)
		return -1;
	struct nc_batch b = {0};
	struct texts x = {0};
	unsigned char *out = NULL;
	size_t n = 0, cap = 0;
	int rc = 0, first = 1;
	for (;;) {
		nc_batch_reset(&b);
		long got = nc_docs_read(&d, &b, BATCH_BYTES);
		if (got <= 0) {
			rc = (int)(got < 0 ? -1 : 0);
			break;
		}
		if (parse_batch(&b, o->field, &x) != 0) {
			rc = -1;
			break;
		}
		for (size_t i = 0; i < x.n; i++) {
			xgrow(&out, &cap, n + x.len[i] + 2, 1);
			if (!first)
				out[n++] = '\n';
			first = 0;
			memcpy(out + n, x.s[i], x.len[i]);
			n += x.len[i];
		}
		texts_release(&x);
	}
	nc_docs_close(&d);
	nc_batch_free(&b);
	texts_free(&x);
	if (rc != 0) {
		free(out);
		return -1;
	}
	*text = out ? out : xmalloc(1);
	*len = n;
	return 0;
}
