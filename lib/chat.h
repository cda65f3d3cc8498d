/* Chat rendering: conversations become token ids and a loss mask exactly as
 * nanochat's render_conversation and render_for_completion make them (spec
 * §1.8), and GSM8K answers become tool-call parts as tasks/gsm8k.py makes
 * them (spec §1.9). */
#ifndef NC_CHAT_H
#define NC_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tokenizer.h"

/* render_conversation's default max_tokens; also the length that
 * render_for_completion cuts to before it appends <|assistant_start|>. */
#define NC_CHAT_MAX_TOKENS 2048

/* A growable byte array (one mask byte per token). */
struct nc_bytes {
	uint8_t *v;
	size_t n, cap;
};
void nc_bytes_push(struct nc_bytes *a, uint8_t b);
void nc_bytes_free(struct nc_bytes *a);

/* Render a conversation: a jansson object with "messages" (array of {role,
 * content}) or a bare array of messages. Content is a string, or for
 * assistant turns an array of parts {"type": "text"|"python"|
 * "python_output", "text": ...}. A leading system message is merged into
 * the first user message as system + "\n\n" + user. Roles must then
 * alternate user, assistant, ... starting with user. Appends ids and a mask
 * byte per id (1 = supervised), truncated to max_tokens; mask may be NULL.
 * where names the file:line for messages. On error nothing is appended. */
int nc_chat_render(const struct nc_tokenizer *t, json_t *conv, size_t max_tokens, const char *where,
		   struct nc_ids *ids, struct nc_bytes *mask);

/* render_for_completion: everything but the last (assistant) message,
 * rendered and cut to NC_CHAT_MAX_TOKENS, then <|assistant_start|>. */
int nc_chat_render_prompt(const struct nc_tokenizer *t, json_t *conv, const char *where,
			  struct nc_ids *ids);

/* GSM8K: an answer with <<expr=result>> markers becomes an array of parts:
 * text, python (expr = the text before the LAST '=' inside the marker),
 * python_output (result), text, ...; the markers are dropped. Empty text
 * parts are kept, as tasks/gsm8k.py keeps them. Returns a new json array,
 * or NULL (with a message) if the answer is not UTF-8. */
json_t *nc_gsm8k_parts(const char *answer, size_t len);

#endif
