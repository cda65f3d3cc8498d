#include "hash.h"
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>

void nc_hasher_init(struct nc_hasher *h)
{
	h->st = XXH3_createState();
	if (!h->st) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	XXH3_64bits_reset(h->st);
}

void nc_hasher_update(struct nc_hasher *h, const void *data, size_t n)
{
	XXH3_64bits_update(h->st, data, n);
}

uint64_t nc_hasher_digest(const struct nc_hasher *h)
{
	return XXH3_64bits_digest(h->st);
}

void nc_hasher_free(struct nc_hasher *h)
{
	XXH3_freeState(h->st);
	h->st = NULL;
}
