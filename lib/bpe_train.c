#include "bpe_train.h"
#include "hash.h"
#include "mem.h"
#include "progress.h"

#include <stdlib.h>
#include <string.h>

/* ---- counting ---- */

void nc_counts_init(struct nc_chunk_counts *c, const struct nc_splitter *sp, int nthreads)
{
	c->sp = *sp;
	c->nmaps = nthreads > 0 ? nthreads : 1;
	c->maps = nc_xcalloc(c->nmaps, sizeof *c->maps);
	for (int i = 0; i < c->nmaps; i++)
		nc_strmap_init(&c->maps[i], 1 << 16);
}

void nc_counts_add(struct nc_chunk_counts *c, int tid, const unsigned char *s, size_t n)
{
	struct nc_strmap *m = &c->maps[tid];
	size_t pos = 0;
	while (pos < n) {
		size_t end = nc_split_next(&c->sp, s, n, pos);
		int added;
		nc_strmap_put(m, s + pos, (uint32_t)(end - pos), nc_hash64(s + pos, end - pos), &added)->val++;
		pos = end;
	}
}

void nc_counts_merge(struct nc_chunk_counts *c)
{
	struct nc_strmap *dst = &c->maps[0];
	for (int t = 1; t < c->nmaps; t++) {
		struct nc_strmap *src = &c->maps[t];
		for (size_t i = 0; i < src->cap; i++) {
			struct nc_strmap_entry *e = &src->e[i];
			if (!e->used)
				continue;
			int added;
			nc_strmap_put(dst, nc_strmap_key(src, e), e->len, e->hash, &added)->val += e->val;
		}
		nc_strmap_free(src);
		nc_strmap_init(src, 16);
	}
}

void nc_counts_free(struct nc_chunk_counts *c)
{
	for (int i = 0; i < c->nmaps; i++)
		nc_strmap_free(&c->maps[i]);
	free(c->maps);
	memset(c, 0, sizeof *c);
}

/* ---- merging ---- */

/* A pair's state: its count over the corpus and the words that may hold it
 * (possibly stale or repeated; a merge that finds nothing costs nothing). */
struct pair {
	uint32_t left, right;
	int64_t count;
	uint32_t *words;
	uint32_t nwords, cap;
	uint32_t touched;   /* merge number that last raised this count */
};

struct job {
	int64_t count;
	uint32_t left, right, pair;
};

struct trainer {
	uint32_t *tok;      /* all words' tokens */
	uint64_t *start;
	uint32_t *len;
	int64_t *count;
	uint32_t *stamp;    /* merge number that last visited the word */
	size_t nwords;
	struct nc_u64map index;  /* (left << 32 | right) -> pair number */
	struct pair *pairs;
	size_t npairs, pcap;
	struct job *heap;
	size_t nheap, hcap;
	uint32_t *fresh;    /* pairs raised during the current merge */
	size_t nfresh, fcap;
};

/* Higher count first; among equal counts the smaller (left, right). */
static inline int job_before(const struct job *a, const struct job *b)
{
	if (a->count != b->count)
		return a->count > b->count;
	if (a->left != b->left)
		return a->left < b->left;
	return a->right < b->right;
}

static void heap_push(struct trainer *t, struct job j)
{
	nc_xgrow(&t->heap, &t->hcap, t->nheap + 1, sizeof *t->heap);
	size_t i = t->nheap++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!job_before(&j, &t->heap[p]))
			break;
		t->heap[i] = t->heap[p];
		i = p;
	}
	t->heap[i] = j;
}

static struct job heap_pop(struct trainer *t)
{
	struct job top = t->heap[0], last = t->heap[--t->nheap];
	size_t i = 0, n = t->nheap;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && job_before(&t->heap[c + 1], &t->heap[c]))
			c++;
		if (!job_before(&t->heap[c], &last))
			break;
		t->heap[i] = t->heap[c];
		i = c;
	}
	if (n)
		t->heap[i] = last;
	return top;
}

static uint32_t pair_of(struct trainer *t, uint32_t l, uint32_t r)
{
	uint32_t *slot = nc_u64map_slot(&t->index, (uint64_t)l << 32 | r);
	if (*slot == NC_MISSING) {
		nc_xgrow(&t->pairs, &t->pcap, t->npairs + 1, sizeof *t->pairs);
		memset(&t->pairs[t->npairs], 0, sizeof t->pairs[0]);
		t->pairs[t->npairs].left = l;
		t->pairs[t->npairs].right = r;
		t->pairs[t->npairs].touched = UINT32_MAX;
		*slot = (uint32_t)t->npairs++;
	}
	return *slot;
}

static void pair_add_word(struct pair *p, uint32_t w)
{
	if (p->nwords && p->words[p->nwords - 1] == w)
		return;
	if (p->nwords == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 4;
		p->words = nc_xrealloc(p->words, p->cap * sizeof *p->words);
	}
	p->words[p->nwords++] = w;
}

/* Add delta * (word count) to pair (l, r); a rise records the word. */
static void bump(struct trainer *t, uint32_t l, uint32_t r, int delta, uint32_t w, uint32_t merge_no)
{
	uint32_t pi = pair_of(t, l, r);
	struct pair *p = &t->pairs[pi];
	p->count += delta * t->count[w];
	if (delta > 0) {
		pair_add_word(p, w);
		if (p->touched != merge_no) {
			p->touched = merge_no;
			nc_xgrow(&t->fresh, &t->fcap, t->nfresh + 1, sizeof *t->fresh);
			t->fresh[t->nfresh++] = pi;
		}
	}
}

/* Replace the non-overlapping occurrences of (a, b) in word w, left to
 * right, by z, updating the pair counts around each. */
static void merge_word(struct trainer *t, uint32_t w, uint32_t a, uint32_t b, uint32_t z,
		       uint32_t merge_no)
{
	uint32_t *s = t->tok + t->start[w];
	uint32_t n = t->len[w], i = 0, o = 0;
	while (i < n) {
		if (i + 1 < n && s[i] == a && s[i + 1] == b) {
			if (o > 0) {
				bump(t, s[o - 1], a, -1, w, merge_no);
				bump(t, s[o - 1], z, +1, w, merge_no);
			}
			bump(t, a, b, -1, w, merge_no);
			if (i + 2 < n) {
				bump(t, b, s[i + 2], -1, w, merge_no);
				bump(t, z, s[i + 2], +1, w, merge_no);
			}
			s[o++] = z;
			i += 2;
		} else {
			s[o++] = s[i++];
		}
	}
	t->len[w] = o;
}

static void build_words(struct trainer *t, const struct nc_strmap *m)
{
	t->nwords = m->len;
	t->start = nc_xmalloc((t->nwords + 1) * sizeof *t->start);
	t->len = nc_xmalloc((t->nwords + 1) * sizeof *t->len);
	t->count = nc_xmalloc((t->nwords + 1) * sizeof *t->count);
	t->stamp = nc_xmalloc((t->nwords + 1) * sizeof *t->stamp);
	t->tok = nc_xmalloc((m->arena_len + 1) * sizeof *t->tok);
	size_t w = 0, off = 0;
	for (size_t i = 0; i < m->cap; i++) {
		const struct nc_strmap_entry *e = &m->e[i];
		if (!e->used)
			continue;
		const unsigned char *k = nc_strmap_key(m, e);
		t->start[w] = off;
		t->len[w] = e->len;
		t->count[w] = (int64_t)e->val;
		t->stamp[w] = UINT32_MAX;
		for (uint32_t j = 0; j < e->len; j++)
			t->tok[off + j] = k[j];
		off += e->len;
		w++;
	}
}

static void initial_pairs(struct trainer *t)
{
	nc_u64map_init(&t->index, 1 << 16);
	for (size_t w = 0; w < t->nwords; w++) {
		const uint32_t *s = t->tok + t->start[w];
		for (uint32_t i = 0; i + 1 < t->len[w]; i++) {
			uint32_t pi = pair_of(t, s[i], s[i + 1]);
			struct pair *p = &t->pairs[pi];
			p->count += t->count[w];
			pair_add_word(p, (uint32_t)w);
		}
	}
	for (size_t i = 0; i < t->npairs; i++)
		if (t->pairs[i].count > 0)
			heap_push(t, (struct job){t->pairs[i].count, t->pairs[i].left, t->pairs[i].right,
						 (uint32_t)i});
}

static void trainer_free(struct trainer *t)
{
	for (size_t i = 0; i < t->npairs; i++)
		free(t->pairs[i].words);
	free(t->pairs);
	free(t->tok);
	free(t->start);
	free(t->len);
	free(t->count);
	free(t->stamp);
	free(t->heap);
	free(t->fresh);
	nc_u64map_free(&t->index);
}

size_t nc_bpe_learn(const struct nc_chunk_counts *c, size_t n_merges, struct nc_merge *merges,
		    int progress)
{
	struct trainer t;
	memset(&t, 0, sizeof t);
	build_words(&t, &c->maps[0]);
	initial_pairs(&t);

	struct nc_progress pb;
	nc_progress_start(&pb, "merging", "merges", n_merges, progress);
	size_t done = 0;
	while (done < n_merges && t.nheap) {
		struct job j = heap_pop(&t);
		struct pair *p = &t.pairs[j.pair];
		if (j.count != p->count) {
			/* Stale: counts only fall for existing pairs, so
			 * requeue at the current count and look again. */
			if (p->count > 0) {
				j.count = p->count;
				heap_push(&t, j);
			}
			continue;
		}
		uint32_t z = 256 + (uint32_t)done, a = p->left, b = p->right;
		uint32_t merge_no = (uint32_t)done;
		merges[done++] = (struct nc_merge){a, b};
		t.nfresh = 0;
		/* Take the word list: merging may grow the pair table. */
		uint32_t *words = p->words, nw = p->nwords;
		p->words = NULL;
		p->nwords = p->cap = 0;
		for (uint32_t k = 0; k < nw; k++) {
			uint32_t w = words[k];
			if (t.stamp[w] == merge_no)
				continue;
			t.stamp[w] = merge_no;
			merge_word(&t, w, a, b, z, merge_no);
		}
		free(words);
		for (size_t k = 0; k < t.nfresh; k++) {
			struct pair *q = &t.pairs[t.fresh[k]];
			if (q->count > 0)
				heap_push(&t, (struct job){q->count, q->left, q->right, t.fresh[k]});
		}
		nc_progress_update(&pb, done);
	}
	nc_progress_end(&pb, done);
	trainer_free(&t);
	return done;
}
