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
	/* no merges: the 256 single bytes, then the special tokens */
	if (nc_tok_from_merges(&tok, "nanochat", NULL, 0, NC_N_SPECIAL, nc_special_names) != 0)
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
