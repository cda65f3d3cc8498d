/* libFuzzer target: any bytes given as one chat record (a JSON line of an
 * SFT file) are rendered as a conversation and as a prompt for completion,
 * and as a GSM8K answer, without a crash, leak or read out of bounds; a
 * rendering has one mask byte per id, every id in the vocabulary. The
 * tokenizer is the 256 bytes and nanochat's special tokens. Built and run
 * by tests/fuzz/run.sh. */
#include "../../lib/chat.h"
#include "../../lib/err.h"
#include "../../lib/ids.h"
#include "../../lib/tokenizer.h"
#include "byte_tok.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const struct nc_tokenizer *tok = byte_tokenizer();
	json_t *gsm = nc_gsm8k_parts((const char *)data, size);
	json_decref(gsm);
	json_t *conv = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);
	if (!conv)
		return 0;
	struct nc_ids ids = {0};
	struct nc_bytes mask = {0};
	if (nc_chat_render(tok, conv, 64, "fuzz:1", &ids, &mask) == 0)
		if (mask.n != ids.n)
			abort();
	check_ids(tok, &ids);
	ids.n = 0;
	(void)nc_chat_render_prompt(tok, conv, "fuzz:1", &ids);
	check_ids(tok, &ids);
	nc_ids_free(&ids);
	nc_bytes_free(&mask);
	json_decref(conv);
	return 0;
}
