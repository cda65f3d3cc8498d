/* libFuzzer target: any bytes given to nc_tok_import_tiktoken as a
 * tiktoken rank file are imported (with and without special tokens)
 * without a crash, leak or read out of bounds -- including past the end of
 * a file mapped without a NUL after it. Built and run by tests/fuzz/run.sh. */
#include "../../lib/tokenizer.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *path = fuzz_path(data, size);
	struct nc_tokenizer t;
	if (nc_tok_import_tiktoken(&t, path, "nanochat", 0, NULL, NULL) == 0)
		nc_tok_free(&t);
	if (nc_tok_import_tiktoken(&t, path, "nanochat", NC_N_SPECIAL, nc_special_names, NULL) == 0)
		nc_tok_free(&t);
	return 0;
}
