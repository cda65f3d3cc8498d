/* Encoding text to ids: split with the pattern, then merge each chunk's
 * bytes as tiktoken does (always the adjacent pair whose merged token has
 * the lowest rank, leftmost among equals). */
#include "tokenizer.h"
#include "hash.h"
#include "mem.h"

#include <stdlib.h>
#include <string.h>

#define CACHE_MAX_ENTRIES (1u << 20)
#define CACHE_MAX_CHUNK 64      /* longer chunks are rare; not cached */
#define SCAN_MAX 64             /* longer chunks merge through a heap */

static inline uint32_t pair_rank(const struct nc_tokenizer *t, uint32_t a, uint32_t b)
{
	return nc_u64map_get(&t->pair_map, (uint64_t)a << 32 | b);
}

/* Short chunks: scan for the minimum each round, as tiktoken does. */
static void merge_scan(const struct nc_tokenizer *t, uint32_t *ids, size_t m, struct nc_ids *out)
{
	uint32_t rank[SCAN_MAX];
	for (size_t i = 0; i + 1 < m; i++)
		rank[i] = pair_rank(t, ids[i], ids[i + 1]);
	while (m > 1) {
		size_t best = 0;
		for (size_t i = 1; i + 1 < m; i++)
			if (rank[i] < rank[best])
				best = i;
		if (rank[best] == NC_MISSING)
			break;
		ids[best] = rank[best];
		memmove(ids + best + 1, ids + best + 2, (m - best - 2) * sizeof *ids);
		memmove(rank + best, rank + best + 1, (m - best - 2) * sizeof *rank);
		m--;
		if (best > 0)
			rank[best - 1] = pair_rank(t, ids[best - 1], ids[best]);
		if (best + 1 < m)
			rank[best] = pair_rank(t, ids[best], ids[best + 1]);
	}
	for (size_t i = 0; i < m; i++)
		nc_ids_push(out, ids[i]);
}

/* Long chunks: a min-heap of (rank, position) over a linked list, with
 * stale entries skipped when popped. Same result as the scan. */
struct hentry {
	uint32_t rank, pos;
};

static inline int hless(struct hentry a, struct hentry b)
{
	return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void hpush(struct hentry *h, size_t *n, struct hentry e)
{
	size_t i = (*n)++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!hless(e, h[p]))
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = e;
}

static struct hentry hpop(struct hentry *h, size_t *n)
{
	struct hentry top = h[0], last = h[--*n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && hless(h[c + 1], h[c]))
			c++;
		if (!hless(h[c], last))
			break;
		h[i] = h[c];
		i = c;
	}
	if (*n)
		h[i] = last;
	return top;
}

static void merge_heap(const struct nc_tokenizer *t, uint32_t *ids, size_t m, struct nc_ids *out)
{
	uint32_t *next = nc_xmalloc(m * sizeof *next), *prev = nc_xmalloc(m * sizeof *prev);
	struct hentry *h = nc_xmalloc(3 * m * sizeof *h);
	size_t hn = 0;
	for (size_t i = 0; i < m; i++) {
		next[i] = i + 1 < m ? (uint32_t)(i + 1) : UINT32_MAX;
		prev[i] = i ? (uint32_t)(i - 1) : UINT32_MAX;
	}
	for (size_t i = 0; i + 1 < m; i++) {
		uint32_t r = pair_rank(t, ids[i], ids[i + 1]);
		if (r != NC_MISSING)
			hpush(h, &hn, (struct hentry){r, (uint32_t)i});
	}
	while (hn) {
		struct hentry e = hpop(h, &hn);
		uint32_t i = e.pos, j = next[i];
		/* Stale if i was absorbed, has no right neighbour, or the pair
		 * at i changed (a different pair has a different rank). */
		if (ids[i] == UINT32_MAX || j == UINT32_MAX || pair_rank(t, ids[i], ids[j]) != e.rank)
			continue;
		ids[i] = e.rank;
		ids[j] = UINT32_MAX;
		next[i] = next[j];
		if (next[j] != UINT32_MAX)
			prev[next[j]] = i;
		uint32_t r;
		if (prev[i] != UINT32_MAX && (r = pair_rank(t, ids[prev[i]], ids[i])) != NC_MISSING)
			hpush(h, &hn, (struct hentry){r, prev[i]});
		if (next[i] != UINT32_MAX && (r = pair_rank(t, ids[i], ids[next[i]])) != NC_MISSING)
			hpush(h, &hn, (struct hentry){r, i});
	}
	for (uint32_t i = 0; i != UINT32_MAX; i = next[i])
		nc_ids_push(out, ids[i]);
	free(next);
	free(prev);
	free(h);
}

void nc_encode_chunk(const struct nc_tokenizer *t, const unsigned char *s, size_t n,
		     struct nc_ids *out)
{
	if (n == 1) {
		nc_ids_push(out, t->byte_id[s[0]]);
		return;
	}
	struct nc_strmap_entry *e = nc_strmap_get(&t->tok_map, s, (uint32_t)n, nc_hash64(s, n));
	if (e) {
		nc_ids_push(out, (uint32_t)e->val);
		return;
	}
	uint32_t small[SCAN_MAX], *ids = n <= SCAN_MAX ? small : nc_xmalloc(n * sizeof *ids);
	for (size_t i = 0; i < n; i++)
		ids[i] = t->byte_id[s[i]];
	if (n <= SCAN_MAX)
		merge_scan(t, ids, n, out);
	else
		merge_heap(t, ids, n, out);
	if (ids != small)
		free(ids);
}

void nc_enc_cache_init(struct nc_enc_cache *c)
{
	nc_strmap_init(&c->map, 1 << 16);
	memset(&c->ids, 0, sizeof c->ids);
}

void nc_enc_cache_free(struct nc_enc_cache *c)
{
	nc_strmap_free(&c->map);
	nc_ids_free(&c->ids);
}

static void encode_cached(const struct nc_tokenizer *t, struct nc_enc_cache *c,
			  const unsigned char *s, size_t n, struct nc_ids *out)
{
	uint64_t h = nc_hash64(s, n);
	struct nc_strmap_entry *e = nc_strmap_get(&c->map, s, (uint32_t)n, h);
	if (e) {
		size_t off = e->val >> 16, cnt = e->val & 0xffff;
		for (size_t i = 0; i < cnt; i++)
			nc_ids_push(out, c->ids.v[off + i]);
		return;
	}
	size_t before = out->n;
	nc_encode_chunk(t, s, n, out);
	if (c->map.len >= CACHE_MAX_ENTRIES) {
		nc_strmap_clear(&c->map);
		c->ids.n = 0;
	}
	int added;
	e = nc_strmap_put(&c->map, s, (uint32_t)n, h, &added);
	e->val = (uint64_t)c->ids.n << 16 | (out->n - before);
	for (size_t i = before; i < out->n; i++)
		nc_ids_push(&c->ids, out->v[i]);
}

void nc_encode(const struct nc_tokenizer *t, struct nc_enc_cache *c, const unsigned char *s,
	       size_t n, struct nc_ids *out)
{
	size_t pos = 0;
	while (pos < n) {
		size_t end = nc_split_next(&t->sp, s, n, pos);
		size_t len = end - pos;
		if (len == 1)
			nc_ids_push(out, t->byte_id[s[pos]]);
		else if (c && len <= CACHE_MAX_CHUNK)
			encode_cached(t, c, s + pos, len, out);
		else
			nc_encode_chunk(t, s + pos, len, out);
		pos = end;
	}
}
