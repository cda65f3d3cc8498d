#include "hmap.h"
#include "mem.h"

#include <stdlib.h>
#include <string.h>

static size_t pow2_at_least(size_t n)
{
	size_t c = 16;
	while (c < n)
		c <<= 1;
	return c;
}

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

void nc_u64map_init(struct nc_u64map *m, size_t expect)
{
	m->cap = pow2_at_least(expect * 2);
	m->len = 0;
	m->keys = nc_xmalloc(m->cap * sizeof *m->keys);
	m->vals = nc_xmalloc(m->cap * sizeof *m->vals);
	memset(m->vals, 0xff, m->cap * sizeof *m->vals);
}

void nc_u64map_free(struct nc_u64map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}

static void u64map_grow(struct nc_u64map *m)
{
	struct nc_u64map big;
	nc_u64map_init(&big, m->cap);
	for (size_t i = 0; i < m->cap; i++)
		if (m->vals[i] != NC_MISSING)
			*nc_u64map_slot(&big, m->keys[i]) = m->vals[i];
	nc_u64map_free(m);
	*m = big;
}

uint32_t *nc_u64map_slot(struct nc_u64map *m, uint64_t key)
{
	if ((m->len + 1) * 4 > m->cap * 3)
		u64map_grow(m);
	size_t mask = m->cap - 1, i = mix64(key) & mask;
	while (m->vals[i] != NC_MISSING) {
		if (m->keys[i] == key)
			return &m->vals[i];
		i = (i + 1) & mask;
	}
	/* Caller stores a value; count the slot as used now. */
	m->keys[i] = key;
	m->len++;
	return &m->vals[i];
}

uint32_t nc_u64map_get(const struct nc_u64map *m, uint64_t key)
{
	size_t mask = m->cap - 1, i = mix64(key) & mask;
	while (m->vals[i] != NC_MISSING) {
		if (m->keys[i] == key)
			return m->vals[i];
		i = (i + 1) & mask;
	}
	return NC_MISSING;
}

void nc_strmap_init(struct nc_strmap *m, size_t expect)
{
	memset(m, 0, sizeof *m);
	m->cap = pow2_at_least(expect * 2);
	m->e = nc_xcalloc(m->cap, sizeof *m->e);
}

void nc_strmap_free(struct nc_strmap *m)
{
	free(m->e);
	free(m->arena);
	memset(m, 0, sizeof *m);
}

void nc_strmap_clear(struct nc_strmap *m)
{
	memset(m->e, 0, m->cap * sizeof *m->e);
	m->len = 0;
	m->arena_len = 0;
}

static void strmap_grow(struct nc_strmap *m)
{
	size_t cap = m->cap * 2, mask = cap - 1;
	struct nc_strmap_entry *e = nc_xcalloc(cap, sizeof *e);
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->e[i].used)
			continue;
		size_t j = m->e[i].hash & mask;
		while (e[j].used)
			j = (j + 1) & mask;
		e[j] = m->e[i];
	}
	free(m->e);
	m->e = e;
	m->cap = cap;
}

struct nc_strmap_entry *nc_strmap_get(const struct nc_strmap *m, const void *key, uint32_t len,
				   uint64_t h)
{
	size_t mask = m->cap - 1, i = h & mask;
	while (m->e[i].used) {
		struct nc_strmap_entry *e = &m->e[i];
		if (e->hash == h && e->len == len && memcmp(m->arena + e->off, key, len) == 0)
			return e;
		i = (i + 1) & mask;
	}
	return NULL;
}

struct nc_strmap_entry *nc_strmap_put(struct nc_strmap *m, const void *key, uint32_t len,
				   uint64_t h, int *added)
{
	if ((m->len + 1) * 4 > m->cap * 3)
		strmap_grow(m);
	size_t mask = m->cap - 1, i = h & mask;
	while (m->e[i].used) {
		struct nc_strmap_entry *e = &m->e[i];
		if (e->hash == h && e->len == len && memcmp(m->arena + e->off, key, len) == 0) {
			*added = 0;
			return e;
		}
		i = (i + 1) & mask;
	}
	nc_xgrow(&m->arena, &m->arena_cap, m->arena_len + len, 1);
	memcpy(m->arena + m->arena_len, key, len);
	struct nc_strmap_entry *e = &m->e[i];
	e->hash = h;
	e->off = m->arena_len;
	e->len = len;
	e->used = 1;
	e->val = 0;
	m->arena_len += len;
	m->len++;
	*added = 1;
	return e;
}
