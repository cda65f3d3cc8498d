/* libFuzzer target: any line given to nc_prompt_ids, under the flags its
 * first byte selects (token ids, chat, JSON), becomes prompt ids without a
 * crash, leak or read out of bounds; every id is in the vocabulary and the
 * shown text is set, also on error. Built and run by tests/fuzz/run.sh. */
#include "../../lib/prompt.h"
#include "byte_tok.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (size == 0)
		return 0;
	const struct nc_tokenizer *tok = byte_tokenizer();
	int flags = data[0] & (NC_PROMPT_TOKENS | NC_PROMPT_CHAT | NC_PROMPT_JSON);
	char *line = fuzz_string(data + 1, size - 1);
	struct nc_ids ids = {0};
	char *shown = NULL;
	if (nc_prompt_ids(tok, line, flags, "fuzz:1", &ids, &shown) == 0)
		check_ids(tok, &ids);
	if (!shown)
		abort();
	free(shown);
	nc_ids_free(&ids);
	free(line);
	return 0;
}
