/* XXH3-64 checksums (libxxhash), used by every nc file format. */
#ifndef NC_HASH_H
#define NC_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

static inline uint64_t nc_hash64(const void *data, size_t n)
{
	return XXH3_64bits(data, n);
}

/* Streaming form for data written in pieces. */
struct nc_hasher {
	XXH3_state_t *st;
};

void nc_hasher_init(struct nc_hasher *h);
void nc_hasher_update(struct nc_hasher *h, const void *data, size_t n);
uint64_t nc_hasher_digest(const struct nc_hasher *h);
void nc_hasher_free(struct nc_hasher *h);

#endif
