/* libFuzzer target: any bytes given as a token shard are loaded whole
 * (nc_shard_load) and read in order by the streaming reader (nc_shard_open,
 * nc_shard_read in small steps) without a crash, leak or read out of
 * bounds; both readers agree on whether the shard is good and on its ids
 * (but for a streamed shard with a mask, which only nc_shard_load reads).
 * Each input is checked as it is and as a header and payload given a
 * right trailer (a checksum a mutation breaks would stop nearly every
 * input before the ids are read). Built and run by tests/fuzz/run.sh. */
#include "../../lib/hash.h"
#include "../../lib/le.h"
#include "../../lib/shard.h"
#include "fuzz.h"

static void check(const unsigned char *data, size_t size)
{
	const char *path = fuzz_path(data, size);
	struct nc_shard s;
	int loaded = nc_shard_load(&s, path) == 0;

	struct nc_shard_reader r;
	int streamed = 0;
	uint64_t n = 0;
	if (nc_shard_open(&r, path) == 0) {
		uint32_t ids[7];
		long got;
		while ((got = nc_shard_read(&r, ids, 7)) > 0) {
			for (long i = 0; i < got; i++)
				if (loaded && (n + i >= s.n || ids[i] != s.ids[n + i]))
					abort();    /* the two readers disagree */
			n += (uint64_t)got;
		}
		streamed = got == 0;
		nc_shard_close(&r);
	}
	if (loaded) {
		/* A streamed shard (count unknown in the header) with a mask is
		 * refused by the streaming reader by design: it must be loaded. */
		static const unsigned char streamed_count[8] = {255, 255, 255, 255, 255, 255, 255, 255};
		int mask_refused = s.mask && memcmp(data + 16, streamed_count, 8) == 0;
		if ((!streamed && !mask_refused) || (streamed && n != s.n))
			abort();
		nc_shard_free(&s);
	}
}

/* data[0..size) as a header and payload, given the trailer its version
 * asks for (count, payload size, checksum; the header's count too unless
 * it says streamed), so that what follows the checksum is fuzzed as well. */
static void check_repaired(const unsigned char *data, size_t size)
{
	if (size < NC_SHARD_HEADER)
		return;
	uint32_t version = le32(data + 8) == 1 ? 1 : 2, width = le32(data + 12);
	if (width != 2 && width != 4)
		return;
	uint64_t per = width + (le32(data + 32) & NC_SHARD_HAS_MASK ? 1 : 0);
	uint64_t n = (size - NC_SHARD_HEADER) / per, payload = n * per;
	unsigned char *f = malloc(NC_SHARD_HEADER + payload + NC_SHARD_TRAILER);
	memcpy(f, data, NC_SHARD_HEADER + payload);
	memcpy(f, NC_SHARD_MAGIC, 8);
	put_le32(f + 8, version);
	if (le64(f + 16) != NC_SHARD_STREAMED)
		put_le64(f + 16, n);
	struct nc_hasher hs;
	nc_hasher_init(&hs);
	if (version == 2) {
		unsigned char h[NC_SHARD_HEADER];
		memcpy(h, f, NC_SHARD_HEADER);
		memset(h + 16, 0, 8);
		nc_hasher_update(&hs, h, NC_SHARD_HEADER);
	}
	nc_hasher_update(&hs, f + NC_SHARD_HEADER, payload);
	unsigned char *t = f + NC_SHARD_HEADER + payload;
	memcpy(t, NC_SHARD_END, 8);
	put_le64(t + 8, n);
	put_le64(t + 16, payload);
	put_le64(t + 24, nc_hasher_digest(&hs));
	nc_hasher_free(&hs);
	check(f, NC_SHARD_HEADER + payload + NC_SHARD_TRAILER);
	free(f);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	check(data, size);
	check_repaired(data, size);
	return 0;
}
