#include "chat_loader.h"
#include "err.h"
#include "mem.h"

#include <stdlib.h>
#include <string.h>

/* ---- the conversations of a shard ---- */

static int check_header(const char *path, const struct nc_shard_info *in, uint64_t fingerprint,
			uint32_t vocab_size)
{
	if (!(in->flags & NC_SHARD_HAS_MASK))
		return nc_fail("%s: has no loss mask: not conversations (nc-shard chat writes them)", path);
	if (in->fingerprint != fingerprint)
		return nc_fail("%s: written with another tokenizer (fingerprint %016llx, expected %016llx)", path,
			       (unsigned long long)in->fingerprint, (unsigned long long)fingerprint);
	if (in->vocab_size != vocab_size)
		return nc_fail("%s: a vocabulary of %u tokens (byte 24), but the tokenizer has %u", path,
			       in->vocab_size, vocab_size);
	return 0;
}

/* Conversations are the segments that start at each BOS. */
static int split_conversations(struct nc_convos *cv)
{
	const struct nc_shard *s = &cv->s;
	if (s->n == 0 || s->ids[0] != s->info.bos)
		return nc_fail("%s: does not start with BOS (%u): not conversations", cv->path, s->info.bos);
	size_t cap = 0;
	for (uint64_t i = 0; i < s->n; i++)
		if (s->ids[i] == s->info.bos) {
			nc_xgrow(&cv->start, &cap, (size_t)cv->n + 2, sizeof *cv->start);
			cv->start[cv->n++] = i;
		}
	cv->start[cv->n] = s->n;
	for (int64_t k = 0; k < cv->n; k++) {
		uint64_t len = cv->start[k + 1] - cv->start[k];
		if (len < 2)
			return nc_fail("%s: conversation %lld (token %llu) is BOS alone", cv->path, (long long)k,
				       (unsigned long long)cv->start[k]);
		if (len > cv->longest)
			cv->longest = len;
	}
	return 0;
}

int nc_convos_open(struct nc_convos *cv, const char *path, uint64_t fingerprint, uint32_t vocab_size,
		   int64_t min_convos)
{
	memset(cv, 0, sizeof *cv);
	cv->path = nc_xstrdup(path);
	struct nc_shard_reader r;
	int rc = nc_shard_open(&r, path);
	if (rc == 0) {
		rc = check_header(path, &r.info, fingerprint, vocab_size);
		nc_shard_close(&r);
	}
	if (rc == 0)
		rc = nc_shard_load(&cv->s, path);
	if (rc == 0)
		rc = split_conversations(cv);
	if (rc == 0 && cv->n < min_convos)
		rc = nc_fail("%s: %lld conversations, fewer than the %lld ranks", path, (long long)cv->n,
			     (long long)min_convos);
	if (rc != 0)
		nc_convos_close(cv);
	return rc;
}

void nc_convos_close(struct nc_convos *cv)
{
	if (cv->s.ids)
		nc_shard_free(&cv->s);
	free(cv->start);
	free(cv->path);
	memset(cv, 0, sizeof *cv);
}

static uint64_t convo_len(const struct nc_convos *cv, int64_t k)
{
	return cv->start[k + 1] - cv->start[k];
}

/* ---- mid: packed windows ---- */

void nc_mid_loader_init(struct nc_mid_loader *ml, const struct nc_convos *cv, int B, int T, int rank,
			int world)
{
	memset(ml, 0, sizeof *ml);
	ml->cv = cv;
	ml->B = B, ml->T = T, ml->rank = rank, ml->world = world;
	ml->cursor = rank;
}

void nc_mid_loader_free(struct nc_mid_loader *ml)
{
	free(ml->buf);
	ml->buf = NULL;
	ml->nbuf = ml->cap = 0;
}

static void buffer_append(struct nc_mid_loader *ml, const uint32_t *ids, size_t n)
{
	nc_xgrow(&ml->buf, &ml->cap, ml->nbuf + n, sizeof *ml->buf);
	memcpy(ml->buf + ml->nbuf, ids, n * sizeof *ids);
	ml->nbuf += n;
}

void nc_mid_loader_next(struct nc_mid_loader *ml, int32_t *inputs, int32_t *targets)
{
	const struct nc_convos *cv = ml->cv;
	size_t needed = (size_t)ml->B * ml->T + 1;
	while (ml->nbuf < needed) {
		buffer_append(ml, cv->s.ids + cv->start[ml->cursor], convo_len(cv, ml->cursor));
		ml->cursor += ml->world;
		if (ml->cursor >= cv->n) {
			ml->cursor -= cv->n;
			ml->last_step = 1;
		}
	}
	for (size_t i = 0; i + 1 < needed; i++) {
		inputs[i] = (int32_t)ml->buf[i];
		targets[i] = (int32_t)ml->buf[i + 1];
	}
	ml->nbuf -= needed;
	memmove(ml->buf, ml->buf + needed, ml->nbuf * sizeof *ml->buf);
	ml->approx_progress = (double)ml->cursor / (double)cv->n;
}

void nc_mid_loader_get(const struct nc_mid_loader *ml, struct nc_mid_state *st)
{
	st->cursor = ml->cursor;
	st->buffered = (int64_t)ml->nbuf;
	st->last_step = ml->last_step;
}

int nc_mid_loader_set(struct nc_mid_loader *ml, const struct nc_mid_state *st)
{
	const struct nc_convos *cv = ml->cv;
	/* what a buffer can hold: less than a batch plus one conversation */
	int64_t most = (int64_t)ml->B * ml->T + 1 + (int64_t)cv->longest;
	if (st->cursor < 0 || st->cursor >= cv->n || st->buffered < 0 || st->buffered >= most)
		return nc_fail("%s: loader state (cursor %lld, %lld tokens buffered) does not fit %lld "
			       "conversations", cv->path, (long long)st->cursor, (long long)st->buffered,
			       (long long)cv->n);
	/* the buffer is the tail of the conversations before the cursor, in
	 * the order they were rendered: walk back and copy from the end */
	size_t n = (size_t)st->buffered;
	nc_xgrow(&ml->buf, &ml->cap, n ? n : 1, sizeof *ml->buf);
	size_t left = n;
	int64_t k = st->cursor;
	while (left > 0) {
		k -= ml->world;
		if (k < 0)
			k += cv->n;
		uint64_t len = convo_len(cv, k), take = len < left ? len : left;
		memcpy(ml->buf + left - take, cv->s.ids + cv->start[k + 1] - take, take * sizeof *ml->buf);
		left -= take;
	}
	ml->nbuf = n;
	ml->cursor = st->cursor;
	ml->last_step = st->last_step;
	ml->approx_progress = (double)ml->cursor / (double)cv->n;
	return 0;
}

/* ---- sft: one conversation a row ---- */

void nc_sft_loader_init(struct nc_sft_loader *sl, const struct nc_convos *cv, int B, int rank, int world,
			int32_t pad)
{
	memset(sl, 0, sizeof *sl);
	sl->cv = cv;
	sl->B = B, sl->rank = rank, sl->world = world;
	sl->pad = pad;
	sl->next = rank;
}

int nc_sft_max_cols(const struct nc_sft_loader *sl)
{
	return (int)sl->cv->longest - 1;
}

/* This rank's conversation after k: for i in range(rank, N, world), again. */
static int64_t sft_advance(struct nc_sft_loader *sl, int64_t k)
{
	k += sl->world;
	if (k >= sl->cv->n) {
		k = sl->rank;
		sl->passes++;
	}
	return k;
}

/* Row i: inputs ids[:-1], targets ids[1:] with -1 where mask[1:] is 0. */
static void fill_row(const struct nc_convos *cv, int64_t k, int32_t *in, int32_t *tg)
{
	const uint32_t *ids = cv->s.ids + cv->start[k];
	const uint8_t *mask = cv->s.mask + cv->start[k];
	uint64_t n = convo_len(cv, k);
	for (uint64_t j = 0; j + 1 < n; j++) {
		in[j] = (int32_t)ids[j];
		tg[j] = mask[j + 1] ? (int32_t)ids[j + 1] : -1;
	}
}

void nc_sft_loader_next(struct nc_sft_loader *sl, int32_t *inputs, int32_t *targets, int *ncols)
{
	const struct nc_convos *cv = sl->cv;
	int64_t rows[sl->B];
	uint64_t longest = 0;
	for (int i = 0; i < sl->B; i++) {
		rows[i] = sl->next;
		if (convo_len(cv, rows[i]) > longest)
			longest = convo_len(cv, rows[i]);
		sl->next = sft_advance(sl, sl->next);
	}
	int C = (int)longest - 1;
	for (size_t i = 0; i < (size_t)sl->B * C; i++) {
		inputs[i] = sl->pad;
		targets[i] = -1;
	}
	for (int i = 0; i < sl->B; i++)
		fill_row(cv, rows[i], inputs + (size_t)i * C, targets + (size_t)i * C);
	*ncols = C;
}

int nc_sft_loader_seek(struct nc_sft_loader *sl, int64_t next)
{
	if (next < 0 || next >= sl->cv->n || next % sl->world != sl->rank)
		return nc_fail("%s: loader position %lld is not one of rank %d's of %lld conversations",
			       sl->cv->path, (long long)next, sl->rank, (long long)sl->cv->n);
	sl->next = next;
	return 0;
}

int nc_sft_pack(int32_t *inputs, int32_t *targets, int B, int C, int *len)
{
	int kept = 0;
	size_t at = 0;
	for (int i = 0; i < B; i++) {
		const int32_t *tg = targets + (size_t)i * C;
		int n = C;
		while (n > 0 && tg[n - 1] < 0)
			n--;
		if (n == 0)
			continue;
		/* at <= i*C: the move goes down the buffer, never over a row
		 * not yet moved */
		memmove(inputs + at, inputs + (size_t)i * C, (size_t)n * sizeof *inputs);
		memmove(targets + at, targets + (size_t)i * C, (size_t)n * sizeof *targets);
		at += (size_t)n;
		len[kept++] = n;
	}
	return kept;
}
