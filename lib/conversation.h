/* A chat kept as tokens, as nanochat's chat_cli keeps it (spec §5.5):
 * <|bos|>, then for every turn <|user_start|> text <|user_end|>
 * <|assistant_start|> and the reply's tokens as the engine produced them
 * (tool calls and the outputs forced back included), closed by
 * <|assistant_end|> also when the reply was cut short. Nothing is
 * re-encoded, so the model reads its own earlier replies token for token.
 * Shared by the terminal chat and the server. */
#ifndef NC_CONVERSATION_H
#define NC_CONVERSATION_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "ids.h"
#include "tokenizer.h"

struct nc_conversation {
	const struct nc_tokenizer *tok;
	struct nc_ids ids;
	uint32_t bos, user_start, user_end, assistant_start, assistant_end;
};

/* Called with the reply's text as it is generated, in pieces of whole UTF-8
 * characters (a special token, such as a tool call's <|python_start|>,
 * shows its name). A nonzero return stops the reply there. */
typedef int (*nc_text_fn)(void *ctx, const char *text, size_t n);

/* One reply: its text (NUL-terminated), its tokens, and why it ended. */
struct nc_reply {
	char *text;
	size_t len, cap;
	size_t tokens;
	enum nc_finish finish;
	int stopped;            /* the text callback stopped it */
};
void nc_reply_free(struct nc_reply *r);

/* An empty conversation (<|bos|>); fails when the tokenizer lacks one of
 * the chat's special tokens. */
int nc_conv_init(struct nc_conversation *c, const struct nc_tokenizer *t);
/* Back to <|bos|>. */
void nc_conv_clear(struct nc_conversation *c);
void nc_conv_free(struct nc_conversation *c);

/* Add the user's turn text[0..len), generate the assistant's reply with
 * options o (o->samples must be 1), streaming its text to fn (may be
 * NULL), and add the reply. A reply stopped by fn is kept as far as it
 * went. Returns 0, or -1 with a message and the conversation as it was
 * (when the turn leaves the model's context no room, say). */
int nc_conv_reply(struct nc_conversation *c, struct nc_engine *e, const char *text, size_t len,
		  const struct nc_sample_opts *o, nc_text_fn fn, void *ctx, struct nc_reply *r);

#endif
