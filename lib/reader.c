/* Reading the texts of documents from several files, a batch at a time,
 * parsing each batch on all cores. */
#include "reader.h"
#include "err.h"
#include "mem.h"
#include "unicode.h"

#include <jansson.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_BYTES (32u << 20)

static void texts_fit(struct nc_texts *x, size_t n)
{
	if (n > x->cap) {
		x->cap = n;
		x->s = nc_xrealloc(x->s, n * sizeof *x->s);
		x->len = nc_xrealloc(x->len, n * sizeof *x->len);
		x->own = nc_xrealloc(x->own, n * sizeof *x->own);
		x->obj = nc_xrealloc(x->obj, n * sizeof *x->obj);
	}
	x->n = n;
	x->bad = -1;
}

void nc_texts_release(struct nc_texts *x)
{
	for (size_t i = 0; i < x->n; i++) {
		free(x->own[i]);
		if (x->obj[i])
			json_decref(x->obj[i]);
	}
	x->n = 0;
}

static void texts_free(struct nc_texts *x)
{
	nc_texts_release(x);
	free(x->s);
	free(x->len);
	free(x->own);
	free(x->obj);
}

/* Parse every record of b in parallel. Returns -1 naming the first bad
 * record. */
static int parse_batch(const struct nc_batch *b, const char *field, struct nc_texts *x)
{
	texts_fit(x, b->n);
	#pragma omp parallel for schedule(dynamic, 64)
	for (size_t i = 0; i < b->n; i++) {
		int rc;
		x->obj[i] = NULL;
		x->own[i] = NULL;
		x->len[i] = 0;
		if (field)
			rc = nc_rec_text(b, &b->recs[i], field, &x->s[i], &x->len[i], &x->own[i]);
		else
			rc = nc_rec_json(b, &b->recs[i], &x->obj[i]);
		if (rc != 0) {
			#pragma omp critical
			if (x->bad < 0 || (long)i < x->bad) {
				x->bad = (long)i;
				snprintf(x->msg, sizeof x->msg, "%s", nc_errmsg());
			}
		}
	}
	if (x->bad >= 0) {
		nc_texts_release(x);
		return nc_fail("%s", x->msg);
	}
	return 0;
}

static char *stdin_only[] = {NULL};

void nc_reader_init(struct nc_reader *r, char **files, int nfiles, const struct nc_doc_opts *o)
{
	memset(r, 0, sizeof *r);
	r->files = nfiles ? files : stdin_only;
	r->nfiles = nfiles ? nfiles : 1;
	r->o = *o;
}

/* The next batch of parsed documents in r->x: 1, 0 at the end, -1. */
int nc_reader_next(struct nc_reader *r)
{
	nc_texts_release(&r->x);
	for (;;) {
		if (!r->open) {
			if (r->next == r->nfiles)
				return 0;
			if (nc_docs_open(&r->d, r->files[r->next++], r->o.format, r->o.field) != 0)
				return -1;
			r->open = 1;
		}
		nc_batch_reset(&r->b);
		long got = nc_docs_read(&r->d, &r->b, BATCH_BYTES);
		if (got < 0)
			return -1;
		if (got == 0) {
			nc_docs_close(&r->d);
			r->open = 0;
			continue;
		}
		r->file = r->next - 1;
		return parse_batch(&r->b, r->o.field, &r->x) == 0 ? 1 : -1;
	}
}

void nc_reader_free(struct nc_reader *r)
{
	if (r->open)
		nc_docs_close(&r->d);
	nc_batch_free(&r->b);
	texts_free(&r->x);
}


size_t nc_texts_crop(struct nc_texts *x, uint64_t doc_cap, uint64_t max_chars, uint64_t *chars,
		     uint64_t *docs, int *stop)
{
	#pragma omp parallel for schedule(dynamic, 64)
	for (size_t i = 0; i < x->n; i++)
		x->len[i] = nc_utf8_prefix(x->s[i], x->len[i], doc_cap);
	for (size_t i = 0; i < x->n; i++) {
		*chars += nc_utf8_count(x->s[i], x->len[i]);
		(*docs)++;
		if (*chars > max_chars) {
			*stop = 1;
			return i + 1;
		}
	}
	return x->n;
}
