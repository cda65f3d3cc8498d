#include "shard_files.h"
#include "bpe_files.h"
#include "chat.h"
#include "err.h"
#include "file.h"
#include "ids.h"
#include "logfmt.h"
#include "mem.h"
#include "progress.h"
#include "shard.h"
#include "unicode.h"

#include <errno.h>
#include <jansson.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- documents as JSONL ---- */

/* Append s as a JSON string; returns the number of invalid bytes replaced. */
static size_t json_quote(const unsigned char *s, size_t n, unsigned char **out, size_t *len,
			 size_t *cap)
{
	size_t bad = 0;
	nc_xgrow(out, cap, *len + 6 * n + 3, 1);
	unsigned char *o = *out + *len;
	*o++ = '"';
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		if (c >= 0x80) {
			uint32_t cp;
			size_t k = nc_utf8_next(s + i, n - i, &cp, NULL);
			if (cp == UINT32_MAX) {
				memcpy(o, "\xef\xbf\xbd", 3);
				o += 3;
				bad += k;
			} else {
				memcpy(o, s + i, k);
				o += k;
			}
			i += k;
			continue;
		}
		i++;
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = c;
		} else if (c == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else if (c == '\t') {
			*o++ = '\\';
			*o++ = 't';
		} else if (c == '\r') {
			*o++ = '\\';
			*o++ = 'r';
		} else if (c < 0x20 || c == 0x7f) {
			o += sprintf((char *)o, "\\u%04x", c);
		} else {
			*o++ = c;
		}
	}
	*o++ = '"';
	*len = o - *out;
	return bad;
}

int nc_docs_jsonl(char **files, int nfiles, const struct nc_doc_opts *o, uint64_t max_chars,
		  uint64_t doc_cap, const char *out_path, struct nc_docs_stats *st)
{
	memset(st, 0, sizeof *st);
	struct nc_out out;
	if (nc_out_open(&out, out_path) != 0)
		return -1;
	struct nc_reader rd;
	nc_reader_init(&rd, files, nfiles, o);
	unsigned char *line = NULL;
	size_t cap = 0;
	int rc, stop = 0;
	while (!stop && (rc = nc_reader_next(&rd)) > 0) {
		size_t use = nc_texts_crop(&rd.x, doc_cap, max_chars, &st->chars, &st->docs, &stop);
		for (size_t i = 0; i < use && rc > 0; i++) {
			size_t len = 8;
			nc_xgrow(&line, &cap, len, 1);
			memcpy(line, "{\"text\":", 8);
			st->replaced += json_quote(rd.x.s[i], rd.x.len[i], &line, &len, &cap);
			nc_xgrow(&line, &cap, len + 2, 1);
			line[len++] = '}';
			line[len++] = '\n';
			if (nc_out_write(&out, line, len) != 0)
				rc = -1;
		}
		if (rc < 0)
			break;
	}
	if (stop)
		rc = 0;
	nc_reader_free(&rd);
	free(line);
	if (rc != 0) {
		nc_out_abort(&out);
		return -1;
	}
	return nc_out_commit(&out);
}

/* ---- token shards ---- */

/* mkdir -p */
static int make_dirs(const char *dir)
{
	char *p = nc_xstrdup(dir);
	int rc = 0;
	for (char *s = p + 1; rc == 0; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = 0;
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			rc = -1;
		*s = c;
		if (!c)
			break;
	}
	free(p);
	return rc;
}

/* A numbered series of fixed-size shards: DIR/PREFIX_NNNNN.bin. */
struct series {
	const struct nc_tokenizer *t;
	const char *dir, *prefix;
	uint64_t per;
	int index;              /* number of the shard being filled */
	int open;
	uint64_t filled;        /* tokens in the shard being filled */
	uint64_t total;         /* tokens in all shards of the series */
	struct nc_shard_writer w;
	char path[4096];
	int *skipped;
};

static void series_path(struct series *s)
{
	snprintf(s->path, sizeof s->path, "%s/%s_%05d.bin", s->dir, s->prefix, s->index);
}

/* Is the shard at path already exactly what w holds (same header, same
 * tokens by checksum, and intact)? Then it is kept as it is. */
static int unchanged(const char *path, struct nc_shard_writer *w)
{
	struct nc_shard old;
	if (access(path, F_OK) != 0 || nc_shard_load(&old, path) != 0)
		return 0;
	int same = old.n == w->n && !old.mask && old.info.width == w->info.width &&
		   old.info.vocab_size == w->info.vocab_size && old.info.bos == w->info.bos &&
		   old.info.fingerprint == w->info.fingerprint &&
		   old.digest == nc_hasher_digest(&w->h);
	nc_shard_free(&old);
	return same;
}

static int series_open(struct series *s)
{
	series_path(s);
	s->filled = 0;
	s->open = 1;
	uint32_t bos = nc_tok_special(s->t, "<|bos|>");
	return nc_shard_create(&s->w, s->path, s->t->vocab_size, bos, s->t->fingerprint, 0);
}

static int series_close(struct series *s)
{
	if (!s->open)
		return 0;
	s->open = 0;
	if (unchanged(s->path, &s->w)) {
		nc_shard_abort(&s->w);
		(*s->skipped)++;
	} else if (nc_shard_finish(&s->w) != 0) {
		return -1;
	}
	printf("%s\n", s->path);
	fflush(stdout);
	s->index++;
	return 0;
}

static int series_put(struct series *s, const uint32_t *ids, size_t n)
{
	while (n > 0) {
		if (!s->open && series_open(s) != 0)
			return -1;
		size_t k = s->per - s->filled < n ? (size_t)(s->per - s->filled) : n;
		if (nc_shard_put(&s->w, ids, NULL, k) != 0)
			return -1;
		s->filled += k;
		s->total += k;
		ids += k;
		n -= k;
		if (s->filled == s->per && series_close(s) != 0)
			return -1;
	}
	return 0;
}

static void series_abort(struct series *s)
{
	if (s->open)
		nc_shard_abort(&s->w);
	s->open = 0;
}

/* Shards numbered past the end of this run are left from an earlier run on
 * other input: remove them so that DIR/train_*.bin is this run alone. */
static void remove_stale(struct series *s)
{
	for (int k = s->index;; k++) {
		char path[sizeof s->path];
		snprintf(path, sizeof path, "%s/%s_%05d.bin", s->dir, s->prefix, k);
		if (unlink(path) != 0)
			break;
	}
}

/* The last val_docs documents, held back until the end. */
struct holdback {
	struct nc_ids *ring;
	size_t cap, head, n;
};

static int hold(struct holdback *h, struct nc_ids *doc, struct series *train)
{
	if (h->cap == 0)
		return series_put(train, doc->v, doc->n);
	struct nc_ids *slot = &h->ring[(h->head + h->n) % h->cap];
	if (h->n == h->cap) {
		/* The oldest held document goes to train; its slot takes this one. */
		slot = &h->ring[h->head];
		if (series_put(train, slot->v, slot->n) != 0)
			return -1;
		h->head = (h->head + 1) % h->cap;
		h->n--;
	}
	slot->n = 0;
	for (size_t i = 0; i < doc->n; i++)
		nc_ids_push(slot, doc->v[i]);
	h->n++;
	return 0;
}

static int release(struct holdback *h, struct series *val)
{
	for (size_t k = 0; k < h->n; k++) {
		struct nc_ids *d = &h->ring[(h->head + k) % h->cap];
		if (series_put(val, d->v, d->n) != 0)
			return -1;
	}
	return 0;
}

int nc_tokens_files(const struct nc_tokenizer *t, char **files, int nfiles,
		    const struct nc_tokens_opts *o, struct nc_tokens_stats *st)
{
	memset(st, 0, sizeof *st);
	uint32_t bos = nc_tok_special(t, "<|bos|>");
	if (bos == UINT32_MAX)
		return nc_fail("the tokenizer has no <|bos|> token");
	if (make_dirs(o->dir) != 0)
		return nc_fail_errno("%s: cannot create the directory", o->dir);
	/* a set being written has no manifest: it comes back, new, at the end */
	char manifest[4200];
	snprintf(manifest, sizeof manifest, "%s/%s", o->dir, NC_MANIFEST_NAME);
	if (unlink(manifest) != 0 && errno != ENOENT)
		return nc_fail_errno("%s: cannot remove", manifest);
	struct series train = {.t = t, .dir = o->dir, .prefix = "train", .per = o->shard_tokens,
			       .skipped = &st->skipped};
	struct series val = train;
	val.prefix = "val";
	struct holdback hb = {0};
	if (o->val_docs) {
		hb.cap = o->val_docs;
		hb.ring = nc_xcalloc(hb.cap, sizeof *hb.ring);
	}
	int val_file = o->val_docs == 0 && nfiles > 1 ? nfiles - 1 : -1;
	struct nc_batch_encoder enc;
	nc_batch_encoder_init(&enc);
	struct nc_ids *docs;
	struct nc_reader rd;
	nc_reader_init(&rd, files, nfiles, &o->docs);
	struct nc_progress pb;
	nc_progress_start(&pb, "tokenizing", "B", 0, o->docs.progress);
	int rc;
	while ((rc = nc_reader_next(&rd)) > 0) {
		struct nc_texts *x = &rd.x;
		nc_batch_encode(&enc, t, x, bos);
		docs = enc.docs;
		int to_val = rd.file == val_file;
		for (size_t i = 0; i < x->n && rc > 0; i++) {
			st->docs++;
			st->bytes += x->len[i];
			if (to_val ? series_put(&val, docs[i].v, docs[i].n) : hold(&hb, &docs[i], &train))
				rc = -1;
		}
		nc_progress_update(&pb, st->bytes);
		if (rc < 0)
			break;
	}
	nc_reader_free(&rd);
	nc_progress_end(&pb, st->bytes);
	if (rc == 0 && hb.cap)
		rc = release(&hb, &val);
	if (rc == 0 && st->docs == 0)
		rc = nc_fail("no documents in the input");
	if (rc == 0)
		rc = series_close(&train) == 0 && series_close(&val) == 0 ? 0 : -1;
	if (rc == 0) {
		remove_stale(&train);
		remove_stale(&val);
		rc = nc_manifest_write(o->dir);
	}
	if (rc != 0) {
		series_abort(&train);
		series_abort(&val);
	}
	st->train_shards = train.index;
	st->val_shards = val.index;
	st->train_tokens = train.total;
	st->val_tokens = val.total;
	nc_batch_encoder_free(&enc);
	for (size_t i = 0; i < hb.cap; i++)
		nc_ids_free(&hb.ring[i]);
	free(hb.ring);
	return rc;
}

/* ---- conversations ---- */

/* A GSM8K row becomes a conversation whose answer is tool-call parts. */
static json_t *as_conversation(json_t *rec)
{
	json_t *q = json_object_get(rec, "question"), *a = json_object_get(rec, "answer");
	if (!json_is_object(rec) || json_object_get(rec, "messages") || !json_is_string(q) ||
	    !json_is_string(a))
		return json_incref(rec);
	json_t *parts = nc_gsm8k_parts(json_string_value(a), json_string_length(a));
	if (!parts)
		return json_incref(rec);
	return json_pack("{s:[{s:s,s:O},{s:s,s:o}]}", "messages", "role", "user", "content", q, "role",
			 "assistant", "content", parts);
}

struct rendered {
	struct nc_ids ids;
	struct nc_bytes mask;
};

static int render_batch(const struct nc_tokenizer *t, const struct nc_reader *rd, size_t max_tokens,
			struct rendered *out)
{
	long bad = -1;
	char msg[1024] = "";
	#pragma omp parallel for schedule(dynamic, 16)
	for (size_t i = 0; i < rd->x.n; i++) {
		const struct nc_rec *r = &rd->b.recs[i];
		char where[600];
		nc_rec_where(&rd->b, r, where, sizeof where);
		out[i].ids.n = out[i].mask.n = 0;
		json_t *conv = as_conversation(rd->x.obj[i]);
		if (nc_chat_render(t, conv, max_tokens, where, &out[i].ids, &out[i].mask) != 0) {
			#pragma omp critical
			if (bad < 0 || (long)i < bad) {
				bad = (long)i;
				snprintf(msg, sizeof msg, "%s", nc_errmsg());
			}
		}
		json_decref(conv);
	}
	return bad < 0 ? 0 : nc_fail("%s", msg);
}

static int show(struct nc_out *out, const struct nc_tokenizer *t, const struct rendered *r, int color)
{
	struct nc_logfmt l = {0};
	char line[64];
	int rc = 0;
	for (size_t k = 0; k < r->ids.n && rc == 0; k++) {
		size_t len;
		const unsigned char *s = nc_tok_decode1(t, r->ids.v[k], &len);
		if (color) {
			rc = nc_out_write(out, r->mask.v[k] ? "\033[32m" : "\033[31m", 5);
			if (rc == 0)
				rc = nc_out_write(out, s, len);
			if (rc == 0)
				rc = nc_out_write(out, "\033[0m|", 5);
			continue;
		}
		int n = snprintf(line, sizeof line, "%u %u ", r->ids.v[k], r->mask.v[k]);
		char *text = nc_xmalloc(len + 1);
		memcpy(text, s, len);
		text[len] = 0;
		nc_logfmt_str(&l, "t", text);
		free(text);
		rc = nc_out_write(out, line, n);
		if (rc == 0)
			rc = nc_out_write(out, l.buf + 2, l.len - 2);
		if (rc == 0)
			rc = nc_out_write(out, "\n", 1);
		l.len = 0;
	}
	nc_logfmt_free(&l);
	return rc ? rc : nc_out_write(out, "\n", 1);
}

int nc_chat_files(const struct nc_tokenizer *t, char **files, int nfiles, const char *out_path,
		  const struct nc_chat_opts *o, struct nc_chat_stats *st)
{
	memset(st, 0, sizeof *st);
	struct nc_shard_writer w;
	struct nc_out text;
	uint32_t bos = nc_tok_special(t, "<|bos|>");
	if (o->mode == NC_CHAT_SHARD ? nc_shard_create(&w, out_path, t->vocab_size, bos, t->fingerprint, 1)
				     : nc_out_open(&text, out_path))
		return -1;
	struct nc_doc_opts d = o->docs;
	d.field = NULL;
	struct nc_reader rd;
	nc_reader_init(&rd, files, nfiles, &d);
	struct rendered *out = NULL;
	size_t cap = 0;
	int rc;
	while ((rc = nc_reader_next(&rd)) > 0) {
		if (rd.x.n > cap) {
			out = nc_xrealloc(out, rd.x.n * sizeof *out);
			memset(out + cap, 0, (rd.x.n - cap) * sizeof *out);
			cap = rd.x.n;
		}
		if (render_batch(t, &rd, o->max_tokens, out) != 0) {
			rc = -1;
			break;
		}
		for (size_t i = 0; i < rd.x.n && rc > 0; i++) {
			st->conversations++;
			st->tokens += out[i].ids.n;
			for (size_t k = 0; k < out[i].mask.n; k++)
				st->supervised += out[i].mask.v[k];
			if (o->mode == NC_CHAT_SHARD)
				rc = nc_shard_put(&w, out[i].ids.v, out[i].mask.v, out[i].ids.n) ? -1 : 1;
			else if (o->mode == NC_CHAT_IDS)
				rc = nc_ids_write_line(&text, out[i].ids.v, out[i].mask.v, out[i].ids.n) ? -1 : 1;
			else
				rc = show(&text, t, &out[i], o->color) ? -1 : 1;
		}
		if (rc < 0)
			break;
	}
	nc_reader_free(&rd);
	for (size_t i = 0; i < cap; i++) {
		nc_ids_free(&out[i].ids);
		nc_bytes_free(&out[i].mask);
	}
	free(out);
	if (rc == 0 && st->conversations == 0)
		rc = nc_fail("no conversations in the input");
	if (rc != 0) {
		if (o->mode == NC_CHAT_SHARD)
			nc_shard_abort(&w);
		else
			nc_out_abort(&text);
		return -1;
	}
	return o->mode == NC_CHAT_SHARD ? nc_shard_finish(&w) : nc_out_commit(&text);
}
