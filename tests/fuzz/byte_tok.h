/* The tokenizer of the chat and prompt fuzz targets: the 256 bytes and
 * nanochat's special tokens, built once. */
#ifndef NC_FUZZ_BYTE_TOK_H
#define NC_FUZZ_BYTE_TOK_H

#include <stdlib.h>

#include "../../lib/ids.h"
#include "../../lib/tokenizer.h"

static const struct nc_tokenizer *byte_tokenizer(void)
{
	static struct nc_tokenizer tok;
	if (tok.vocab_size)
		return &tok;
	static unsigned char b[256];
	const unsigned char *bytes[256];
	uint32_t lens[256];
	for (int i = 0; i < 256; i++) {
		b[i] = (unsigned char)i;
		bytes[i] = b + i;
		lens[i] = 1;
	}
	if (nc_tok_build(&tok, "nanochat", 256, bytes, lens, NC_N_SPECIAL, nc_special_names, NULL) != 0)
		abort();
	return &tok;
}

/* Abort unless every id is in t's vocabulary. */
static void check_ids(const struct nc_tokenizer *t, const struct nc_ids *ids)
{
	for (size_t i = 0; i < ids->n; i++)
		if (ids->v[i] >= t->vocab_size)
			abort();
}

#endif
