#include "prompt.h"
#include "chat.h"
#include "err.h"
#include "ids.h"
#include "mem.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Ids given as tokens, made a user turn to be answered:
 * <|bos|><|user_start|> ids <|user_end|><|assistant_start|>. */
static int wrap_user_turn(const struct nc_tokenizer *t, struct nc_ids *ids, const char *where)
{
	static const char *const names[] = {"<|bos|>", "<|user_start|>", "<|user_end|>",
					    "<|assistant_start|>"};
	uint32_t sp[4];
	for (int i = 0; i < 4; i++)
		if ((sp[i] = nc_tok_special(t, names[i])) == UINT32_MAX)
			return nc_fail("%s: a chat prompt needs the special token %s, which the tokenizer lacks",
				       where, names[i]);
	struct nc_ids w = {0};
	nc_ids_push(&w, sp[0]);
	nc_ids_push(&w, sp[1]);
	for (size_t i = 0; i < ids->n; i++)
		nc_ids_push(&w, ids->v[i]);
	nc_ids_push(&w, sp[2]);
	nc_ids_push(&w, sp[3]);
	nc_ids_free(ids);
	*ids = w;
	return 0;
}

int nc_prompt_ids(const struct nc_tokenizer *t, const char *line, int flags, const char *where,
		  struct nc_ids *ids, char **shown)
{
	int chat = flags & NC_PROMPT_CHAT;
	ids->n = 0;
	*shown = nc_xstrdup(line);
	if (flags & NC_PROMPT_TOKENS) {
		if (nc_ids_parse_line(line, strlen(line), t->vocab_size, where, ids) != 0)
			return -1;
		if (ids->n == 0)
			return nc_fail("%s: no token ids", where);
		if (chat)
			return wrap_user_turn(t, ids, where);
		return 0;
	}
	json_t *conv = NULL;
	const char *text = line;
	json_t *root = NULL;
	if (line[0] == '{' && (flags & NC_PROMPT_JSON)) {
		json_error_t je;
		root = json_loads(line, 0, &je);
		if (!root)
			return nc_fail("%s: malformed JSON at column %d: %s", where, je.column, je.text);
		json_t *pr = json_object_get(root, "prompt"), *msgs = json_object_get(root, "messages");
		if (json_is_string(pr)) {
			text = json_string_value(pr);
		} else if (json_is_array(msgs) && chat) {
			conv = json_deep_copy(msgs);
		} else {
			json_decref(root);
			return nc_fail("%s: a JSON prompt needs a \"prompt\" string%s", where,
				       chat ? " or \"messages\"" : "");
		}
		free(*shown);
		*shown = nc_xstrdup(text == line ? "" : text);
	}
	int rc = 0;
	if (chat) {
		if (!conv) {
			conv = json_array();
			json_array_append_new(conv, json_pack("{s:s,s:s}", "role", "user", "content", text));
		}
		/* the turn to complete */
		json_array_append_new(conv, json_pack("{s:s,s:s}", "role", "assistant", "content", ""));
		rc = nc_chat_render_prompt(t, conv, where, ids);
		json_decref(conv);
	} else {
		uint32_t bos = nc_tok_special(t, "<|bos|>");
		if (bos != UINT32_MAX)
			nc_ids_push(ids, bos);
		nc_encode(t, NULL, (const unsigned char *)text, strlen(text), ids);
	}
	json_decref(root);
	return rc;
}
