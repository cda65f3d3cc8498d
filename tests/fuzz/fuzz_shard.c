/* libFuzzer target: any bytes given as a token shard are loaded whole
 * (nc_shard_load) and read in order by the streaming reader (nc_shard_open,
 * nc_shard_read in small steps) without a crash, leak or read out of
 * bounds; both readers agree on whether the shard is good and on its ids
 * (but for a streamed shard with a mask, which only nc_shard_load reads).
 * Built and run by tests/fuzz/run.sh. */
#include "../../lib/shard.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
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
	return 0;
}
