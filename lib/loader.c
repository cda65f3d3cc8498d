#include "loader.h"
#include "err.h"
#include "mem.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nc_cursor_pack(const struct nc_cursor *c, int64_t w[NC_CURSOR_WORDS])
{
	w[0] = c->epoch;
	w[1] = c->shard;
	w[2] = c->offset;
	w[3] = c->steps;
}

void nc_cursor_unpack(struct nc_cursor *c, const int64_t w[NC_CURSOR_WORDS])
{
	c->epoch = w[0];
	c->shard = w[1];
	c->offset = w[2];
	c->steps = w[3];
}

/* ---- opening ---- */

/* Tokens in a shard whose header has no count (written to a pipe): the
 * only way to know is to read it, which also checks it. */
static int streamed_count(const char *path, uint64_t *count)
{
	struct nc_shard s;
	if (nc_shard_load(&s, path) != 0)
		return -1;
	*count = s.n;
	nc_shard_free(&s);
	return 0;
}

/* The checks that make a shard fit this stream. */
static int check_info(const struct nc_loader *ld, int i, const struct nc_shard_info *in)
{
	const char *p = ld->paths[i];
	if (in->fingerprint != ld->cfg.fingerprint)
		return nc_fail("%s: written with another tokenizer (fingerprint %016llx, expected %016llx)",
			       p, (unsigned long long)in->fingerprint,
			       (unsigned long long)ld->cfg.fingerprint);
	if (ld->cfg.vocab_size && in->vocab_size != ld->cfg.vocab_size)
		return nc_fail("%s: a vocabulary of %u tokens (byte 24), but the tokenizer has %u", p,
			       in->vocab_size, ld->cfg.vocab_size);
	if (in->flags & NC_SHARD_HAS_MASK)
		return nc_fail("%s: has a loss mask (fine-tuning data), not pretraining data", p);
	if (i > 0 && in->vocab_size != ld->vocab_size)
		return nc_fail("%s: vocabulary of %u tokens, but %s has %u", p, in->vocab_size,
			       ld->paths[0], ld->vocab_size);
	return 0;
}

static int read_header(struct nc_loader *ld, int i)
{
	struct nc_shard_reader r;
	if (nc_shard_open(&r, ld->paths[i]) != 0)
		return -1;
	struct nc_shard_info in = r.info;
	nc_shard_close(&r);
	if (i == 0) {
		ld->vocab_size = in.vocab_size;
		ld->bos = in.bos;
	}
	if (check_info(ld, i, &in) != 0)
		return -1;
	ld->old_shards += in.version < 2;
	uint64_t count = in.count;
	if (count == NC_SHARD_STREAMED && streamed_count(ld->paths[i], &count) != 0)
		return -1;
	ld->start[i + 1] = ld->start[i] + count;
	return 0;
}

int nc_loader_open(struct nc_loader *ld, char *const *paths, int n, const struct nc_loader_cfg *cfg)
{
	memset(ld, 0, sizeof *ld);
	const struct nc_loader_cfg *c = cfg;
	if (c->B < 1 || c->T < 1 || c->world < 1 || c->rank < 0 || c->rank >= c->world)
		return nc_fail("loader: bad shape B=%d T=%d rank %d of %d", c->B, c->T, c->rank, c->world);
	if (n < 1)
		return nc_fail("loader: no shards");
	ld->cfg = *cfg;
	ld->n = n;
	ld->paths = nc_xmalloc(n * sizeof *ld->paths);
	for (int i = 0; i < n; i++)
		ld->paths[i] = nc_xstrdup(paths[i]);
	ld->start = nc_xcalloc(n + 1, sizeof *ld->start);
	ld->held = nc_xcalloc(n, sizeof *ld->held);
	ld->stop = -1;
	int64_t bt = (int64_t)c->B * c->T;
	ld->buf = nc_xmalloc((bt + 1) * sizeof *ld->buf);
	for (int i = 0; i < n; i++)
		if (read_header(ld, i) != 0) {
			nc_loader_close(ld);
			return -1;
		}
	uint64_t len = ld->start[n];
	if (len < (uint64_t)bt + 1) {
		nc_fail("%s: %llu tokens in %d shard(s), fewer than one batch of B*T+1 = %lld", paths[0],
			(unsigned long long)len, n, (long long)bt + 1);
		nc_loader_close(ld);
		return -1;
	}
	ld->windows = (int64_t)(len / (bt + 1));
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* DIR/SPLIT_*.bin, sorted. */
static int list_split(const char *dir, const char *split, char ***out, int *n)
{
	DIR *d = opendir(dir);
	if (!d)
		return nc_fail_errno("%s", dir);
	size_t plen = strlen(split), cap = 0;
	char **v = NULL;
	int k = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < plen + 5 || strncmp(e->d_name, split, plen) || e->d_name[plen] != '_' ||
		    strcmp(e->d_name + len - 4, ".bin"))
			continue;
		nc_xgrow(&v, &cap, k + 1, sizeof *v);
		v[k] = nc_xmalloc(strlen(dir) + len + 2);
		sprintf(v[k++], "%s/%s", dir, e->d_name);
	}
	closedir(d);
	if (k == 0)
		return nc_fail("%s: no %s_*.bin shards", dir, split);
	qsort(v, k, sizeof *v, by_name);
	*out = v;
	*n = k;
	return 0;
}

/* The split's shards against the manifest: the same names, in order, with
 * the same token counts; their checksums are compared as they load. */
static int match_manifest(struct nc_loader *ld, const char *dir, const char *split)
{
	struct nc_manifest_entry *e;
	int n, k = 0, rc = 0;
	if (nc_manifest_read(dir, &e, &n) != 0)
		return nc_fail("%s: no manifest (nc-shard tokens writes it last, so a set without one may be "
			       "cut short; nc-shard manifest %s writes one for a set you trust)", dir, dir);
	size_t plen = strlen(split);
	ld->digest = nc_xcalloc((size_t)ld->n, sizeof *ld->digest);
	for (int i = 0; i < n && rc == 0; i++) {
		if (strncmp(e[i].name, split, plen) != 0 || e[i].name[plen] != '_')
			continue;
		const char *have = k < ld->n ? strrchr(ld->paths[k], '/') + 1 : NULL;
		uint64_t count = have ? ld->start[k + 1] - ld->start[k] : 0;
		if (!have || strcmp(have, e[i].name) != 0)
			rc = nc_fail("%s/%s: in the manifest but not in the directory: the set is not whole", dir,
				     e[i].name);
		else if (count != e[i].tokens)
			rc = nc_fail("%s: %llu tokens, the manifest says %llu", ld->paths[k],
				     (unsigned long long)count, (unsigned long long)e[i].tokens);
		else
			ld->digest[k++] = e[i].digest;
	}
	if (rc == 0 && k < ld->n)
		rc = nc_fail("%s: not in the manifest (%s/%s)", ld->paths[k], dir, NC_MANIFEST_NAME);
	free(e);
	return rc;
}

int nc_loader_open_dir(struct nc_loader *ld, const char *dir, const char *split,
		       const struct nc_loader_cfg *cfg)
{
	char **paths = NULL;
	int n = 0;
	memset(ld, 0, sizeof *ld);
	if (list_split(dir, split, &paths, &n) != 0)
		return -1;
	int rc = nc_loader_open(ld, paths, n, cfg);
	for (int i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	if (rc == 0 && (rc = match_manifest(ld, dir, split)) != 0)
		nc_loader_close(ld);
	return rc;
}

void nc_loader_close(struct nc_loader *ld)
{
	for (int i = 0; i < ld->n; i++) {
		if (ld->held && ld->held[i].ids)
			nc_shard_free(&ld->held[i]);
		free(ld->paths[i]);
	}
	free(ld->paths);
	free(ld->digest);
	free(ld->start);
	free(ld->held);
	free(ld->buf);
	memset(ld, 0, sizeof *ld);
}

/* ---- batches ---- */

/* The shard holding stream position pos (< length): the last one starting
 * at or before it, which is never an empty one. */
static int shard_at(const struct nc_loader *ld, uint64_t pos)
{
	int lo = 0, hi = ld->n - 1;
	while (lo < hi) {
		int mid = lo + (hi - lo + 1) / 2;
		if (ld->start[mid] <= pos)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

static int load_shard(struct nc_loader *ld, int i)
{
	struct nc_shard *s = &ld->held[i];
	if (nc_shard_load(s, ld->paths[i]) != 0)
		return -1;
	int rc = check_info(ld, i, &s->info);
	if (rc == 0 && s->n != ld->start[i + 1] - ld->start[i])
		rc = nc_fail("%s: changed since the loader opened it", ld->paths[i]);
	if (rc == 0 && ld->digest && s->digest != ld->digest[i])
		rc = nc_fail("%s: checksum %016llx, the manifest says %016llx: not the shard the set was made "
			     "with", ld->paths[i], (unsigned long long)s->digest,
			     (unsigned long long)ld->digest[i]);
	if (rc != 0) {
		nc_shard_free(s);
		memset(s, 0, sizeof *s);
	}
	return rc;
}

/* Hold exactly shards a..b: free the others first, so that memory stays
 * at what one window needs. */
static int hold(struct nc_loader *ld, int a, int b)
{
	for (int i = 0; i < ld->n; i++)
		if ((i < a || i > b) && ld->held[i].ids) {
			nc_shard_free(&ld->held[i]);
			memset(&ld->held[i], 0, sizeof ld->held[i]);
		}
	for (int i = a; i <= b; i++)
		if (!ld->held[i].ids && load_shard(ld, i) != 0)
			return -1;
	return 0;
}

/* Tokens pos .. pos+len-1 of the stream into ld->buf. */
static int read_span(struct nc_loader *ld, uint64_t pos, uint64_t len)
{
	int a = shard_at(ld, pos), b = shard_at(ld, pos + len - 1);
	if (hold(ld, a, b) != 0)
		return -1;
	uint32_t *o = ld->buf;
	for (int i = a; i <= b && len > 0; i++) {
		uint64_t off = pos - ld->start[i];
		uint64_t k = ld->start[i + 1] - pos;
		if (k > len)
			k = len;
		memcpy(o, ld->held[i].ids + off, k * sizeof *o);
		o += k;
		pos += k;
		len -= k;
	}
	return 0;
}

/* A window is B*T+1 tokens, and windows do not share tokens: nanochat's
 * loader pops B*T+1 tokens for each batch (spec §4.2). */
static uint64_t window_size(const struct nc_loader *ld)
{
	return (uint64_t)ld->cfg.B * ld->cfg.T + 1;
}

/* Number (within its epoch) of the cursor's window. */
static int64_t cursor_window(const struct nc_loader *ld)
{
	return (int64_t)((ld->start[ld->cur.shard] + ld->cur.offset) / window_size(ld));
}

static void set_window(struct nc_loader *ld, int64_t k)
{
	uint64_t pos = (uint64_t)k * window_size(ld);
	int i = shard_at(ld, pos);
	ld->cur.shard = i;
	ld->cur.offset = (int64_t)(pos - ld->start[i]);
}

int nc_loader_next(struct nc_loader *ld, int32_t *inputs, int32_t *targets)
{
	if (ld->stop >= 0 && ld->cur.steps >= ld->stop)
		return 0;
	uint64_t w = window_size(ld), bt = w - 1;
	int64_t k0 = cursor_window(ld);
	int64_t k = (k0 + ld->cfg.rank) % ld->windows;
	if (read_span(ld, (uint64_t)k * w, w) != 0)
		return -1;
	for (uint64_t i = 0; i < bt; i++) {
		inputs[i] = (int32_t)ld->buf[i];
		targets[i] = (int32_t)ld->buf[i + 1];
	}
	/* Window numbers count on across epochs: s*W + r, modulo the windows
	 * in one epoch. */
	k0 += ld->cfg.world;
	ld->cur.epoch += k0 / ld->windows;
	set_window(ld, k0 % ld->windows);
	ld->cur.steps++;
	return 1;
}

int nc_loader_seek(struct nc_loader *ld, const struct nc_cursor *c)
{
	const char *p = ld->paths[0];
	if (c->epoch < 0 || c->steps < 0 || c->shard < 0 || c->shard >= ld->n || c->offset < 0)
		return nc_fail("%s: cursor (epoch %lld, shard %lld, offset %lld, steps %lld) is out of range",
			       p, (long long)c->epoch, (long long)c->shard, (long long)c->offset,
			       (long long)c->steps);
	uint64_t pos = ld->start[c->shard] + (uint64_t)c->offset;
	if ((uint64_t)c->offset >= ld->start[c->shard + 1] - ld->start[c->shard] ||
	    pos / window_size(ld) >= (uint64_t)ld->windows)
		return nc_fail("%s: cursor offset %lld is past the end of shard %lld (%s)", p,
			       (long long)c->offset, (long long)c->shard, ld->paths[c->shard]);
	if (pos % window_size(ld))
		return nc_fail("%s: cursor at token %llu is not on a window boundary of B*T = %llu "
			       "(was the batch size changed?)", p, (unsigned long long)pos,
			       (unsigned long long)window_size(ld));
	ld->cur = *c;
	return 0;
}

int64_t nc_loader_eval_begin(struct nc_loader *ld, uint64_t tokens)
{
	int64_t steps = ld->windows / ld->cfg.world;
	/* nanochat's eval_steps = eval_tokens // (B*T*world): a window's
	 * extra target token is not counted (spec §4.1) */
	uint64_t per_step = (uint64_t)ld->cfg.B * ld->cfg.T * ld->cfg.world;
	if (tokens > 0 && tokens / per_step < (uint64_t)steps)
		steps = (int64_t)(tokens / per_step);
	memset(&ld->cur, 0, sizeof ld->cur);
	ld->stop = steps;
	return steps;
}
