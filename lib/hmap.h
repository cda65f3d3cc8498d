/* Open-addressing hash tables: u64 keys to u32 values, and byte strings to
 * u64 values (keys copied into an arena). Used by BPE training (chunk
 * counts, pair tables) and encoding (token lookup, caches). */
#ifndef NC_HMAP_H
#define NC_HMAP_H

#include <stddef.h>
#include <stdint.h>

#define NC_MISSING UINT32_MAX

struct nc_u64map {
	uint64_t *keys;
	uint32_t *vals;      /* NC_MISSING marks an empty slot */
	size_t cap, len;     /* cap is a power of two */
};

void nc_u64map_init(struct nc_u64map *m, size_t expect);
void nc_u64map_free(struct nc_u64map *m);
/* The slot's value pointer for key, inserting NC_MISSING if absent. */
uint32_t *nc_u64map_slot(struct nc_u64map *m, uint64_t key);
uint32_t nc_u64map_get(const struct nc_u64map *m, uint64_t key);

struct nc_strmap_entry {
	uint64_t hash;
	uint64_t off;        /* key bytes in the arena */
	uint32_t len;
	uint32_t used;
	uint64_t val;
};

struct nc_strmap {
	struct nc_strmap_entry *e;
	size_t cap, len;
	unsigned char *arena;
	size_t arena_len, arena_cap;
};

void nc_strmap_init(struct nc_strmap *m, size_t expect);
void nc_strmap_free(struct nc_strmap *m);
void nc_strmap_clear(struct nc_strmap *m);
/* Entry for key (hash h = nc_hash64(key)), inserted with val 0 if absent;
 * *added tells which. */
struct nc_strmap_entry *nc_strmap_put(struct nc_strmap *m, const void *key, uint32_t len,
				   uint64_t h, int *added);
struct nc_strmap_entry *nc_strmap_get(const struct nc_strmap *m, const void *key, uint32_t len,
				   uint64_t h);
static inline const unsigned char *nc_strmap_key(const struct nc_strmap *m,
					      const struct nc_strmap_entry *e)
{
	return m->arena + e->off;
}

#endif
