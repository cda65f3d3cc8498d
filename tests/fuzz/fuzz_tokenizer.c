/* libFuzzer target: any bytes given to nc_tok_load as a tokenizer file are
 * loaded without a crash, leak or read out of bounds; a tokenizer that
 * loads decodes each of its ids and encodes a text, and every id the
 * encoder gives decodes. Each input is loaded twice: as it is (the checks
 * of magic, length and checksum), and as a header and body with the length
 * and checksum made right, so that the body's parser sees what mutations
 * make of it (a checksum a mutation breaks would stop nearly every input
 * before it). Built and run by tests/fuzz/run.sh. */
#include "../../lib/hash.h"
#include "../../lib/ids.h"
#include "../../lib/le.h"
#include "../../lib/tokenizer.h"
#include "fuzz.h"

static void load(const unsigned char *data, size_t size)
{
	struct nc_tokenizer t;
	if (nc_tok_load(&t, fuzz_path(data, size)) != 0)
		return;
	for (uint32_t id = 0; id < t.vocab_size && id < 4096; id++) {
		size_t len;
		(void)nc_tok_decode1(&t, id, &len);
		(void)nc_tok_bytes_len(&t, id);
	}
	static const char text[] = "Hello world, 123 times! <|bos|> \xc3\xa9t\xc3\xa9\n\n";
	struct nc_ids ids = {0};
	nc_encode(&t, NULL, (const unsigned char *)text, sizeof text - 1, &ids);
	for (size_t i = 0; i < ids.n; i++) {
		size_t len;
		if (!nc_tok_decode1(&t, ids.v[i], &len))
			abort();    /* the encoder gave an id outside the vocabulary */
	}
	nc_ids_free(&ids);
	nc_tok_free(&t);
}

/* data[0..size) as header and body: the body length set and the checksum
 * appended. */
static void load_repaired(const unsigned char *data, size_t size)
{
	if (size < NC_TOK_HEADER)
		return;
	unsigned char *f = malloc(size + 8);
	memcpy(f, data, size);
	memcpy(f, NC_TOK_MAGIC, 8);
	put_le64(f + 24, size - NC_TOK_HEADER);
	put_le64(f + size, nc_hash64(f, size));
	load(f, size + 8);
	free(f);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	load(data, size);
	load_repaired(data, size);
	return 0;
}
