/* Prompts as nanochat builds them (spec §5.2, §5.5), from one line of
 * input: a base model's <|bos|> and text; a chat model's rendered
 * conversation ending in <|assistant_start|>; or token ids given as they
 * are. Shared by the tools that run a model on prompts. */
#ifndef NC_PROMPT_H
#define NC_PROMPT_H

#include "tokenizer.h"

enum {
	NC_PROMPT_TOKENS = 1,   /* the line is decimal token ids */
	NC_PROMPT_CHAT = 2,     /* a user turn (or conversation) to answer */
	NC_PROMPT_JSON = 4,     /* a line starting with '{' is a JSON object:
				 * "prompt" (text), or with CHAT "messages" */
};

/* The ids of the prompt in line, per flags; shown receives the prompt's
 * text for output (a new string, also on error). where names the line in
 * messages. */
int nc_prompt_ids(const struct nc_tokenizer *t, const char *line, int flags, const char *where,
		  struct nc_ids *ids, char **shown);

#endif
