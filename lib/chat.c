#include "chat.h"
#include "err.h"
#include "mem.h"

#include <stdlib.h>
#include <string.h>

void nc_bytes_push(struct nc_bytes *a, uint8_t b)
{
	if (a->n == a->cap)
		nc_xgrow(&a->v, &a->cap, a->n + 1, sizeof *a->v);
	a->v[a->n++] = b;
}

void nc_bytes_free(struct nc_bytes *a)
{
	free(a->v);
	memset(a, 0, sizeof *a);
}

/* Indexes into nc_special_names, which is in nanochat's order. */
enum { BOS, USER_START, USER_END, ASSISTANT_START, ASSISTANT_END, PYTHON_START, PYTHON_END,
       OUTPUT_START, OUTPUT_END };

/* Where one render writes, and with what. */
struct out {
	const struct nc_tokenizer *t;
	const char *where;
	uint32_t special[NC_N_SPECIAL];
	struct nc_ids *ids;
	struct nc_bytes *mask;
};

static int find_specials(struct out *o)
{
	for (int i = 0; i < NC_N_SPECIAL; i++) {
		o->special[i] = nc_tok_special(o->t, nc_special_names[i]);
		if (o->special[i] == UINT32_MAX)
			return nc_fail("%s: the tokenizer has no %s token (chat needs nanochat's special tokens)",
				       o->where, nc_special_names[i]);
	}
	return 0;
}

static void emit(struct out *o, int special, uint8_t m)
{
	nc_ids_push(o->ids, o->special[special]);
	if (o->mask)
		nc_bytes_push(o->mask, m);
}

/* Each text segment is encoded on its own: no merge crosses a special. */
static void emit_text(struct out *o, const char *s, size_t n, uint8_t m)
{
	size_t from = o->ids->n;
	nc_encode(o->t, NULL, (const unsigned char *)s, n, o->ids);
	for (; o->mask && from < o->ids->n; from++)
		nc_bytes_push(o->mask, m);
}

static void emit_string(struct out *o, json_t *s, uint8_t m)
{
	emit_text(o, json_string_value(s), json_string_length(s), m);
}

static const char *role_of(json_t *msgs, size_t i)
{
	json_t *m = json_array_get(msgs, i);
	return json_string_value(json_object_get(m, "role"));
}

static json_t *content_of(json_t *msgs, size_t i)
{
	return json_object_get(json_array_get(msgs, i), "content");
}

/* Messages are numbered from 1, as the file shows them. */
static int check_roles(const char *where, json_t *msgs, size_t n)
{
	if (n == 0)
		return nc_fail("%s: the conversation has no messages", where);
	for (size_t i = 0; i < n; i++)
		if (!json_is_object(json_array_get(msgs, i)) || !role_of(msgs, i))
			return nc_fail("%s: message %zu is not an object with a \"role\" string", where, i + 1);
	size_t first = 0;
	if (strcmp(role_of(msgs, 0), "system") == 0) {
		if (n < 2 || strcmp(role_of(msgs, 1), "user") != 0)
			return nc_fail("%s: the system message must be followed by a user message", where);
		first = 1;
	}
	for (size_t i = first; i < n; i++) {
		const char *want = (i - first) % 2 == 0 ? "user" : "assistant";
		const char *role = role_of(msgs, i);
		if (strcmp(role, "system") == 0)
			return nc_fail("%s: message %zu: a system message may only come first", where, i + 1);
		if (strcmp(role, want) != 0)
			return nc_fail("%s: message %zu is from \"%s\" but should be from \"%s\"", where, i + 1,
				       role, want);
	}
	return 0;
}

static int emit_user(struct out *o, json_t *content, size_t i)
{
	if (!json_is_string(content))
		return nc_fail("%s: message %zu: user content must be a string", o->where, i + 1);
	emit(o, USER_START, 0);
	emit_string(o, content, 0);
	emit(o, USER_END, 0);
	return 0;
}

/* The system message (1) and the first user message (2) as one user turn. */
static int emit_system_user(struct out *o, json_t *msgs)
{
	json_t *sys = content_of(msgs, 0), *user = content_of(msgs, 1);
	if (!json_is_string(sys))
		return nc_fail("%s: message 1: system content must be a string", o->where);
	if (!json_is_string(user))
		return nc_fail("%s: message 2: user content must be a string", o->where);
	size_t ls = json_string_length(sys), lu = json_string_length(user);
	char *s = nc_xmalloc(ls + 2 + lu + 1);
	memcpy(s, json_string_value(sys), ls);
	memcpy(s + ls, "\n\n", 2);
	memcpy(s + ls + 2, json_string_value(user), lu);
	emit(o, USER_START, 0);
	emit_text(o, s, ls + 2 + lu, 0);
	emit(o, USER_END, 0);
	free(s);
	return 0;
}

/* Tool calls are supervised; tool output comes from the engine, so not. */
static int emit_part(struct out *o, json_t *part, size_t i, size_t k)
{
	const char *type = json_string_value(json_object_get(part, "type"));
	json_t *text = json_object_get(part, "text");
	if (!type || !json_is_string(text))
		return nc_fail("%s: message %zu, part %zu: a part needs \"type\" and \"text\" strings",
			       o->where, i + 1, k + 1);
	if (strcmp(type, "text") == 0) {
		emit_string(o, text, 1);
	} else if (strcmp(type, "python") == 0) {
		emit(o, PYTHON_START, 1);
		emit_string(o, text, 1);
		emit(o, PYTHON_END, 1);
	} else if (strcmp(type, "python_output") == 0) {
		emit(o, OUTPUT_START, 0);
		emit_string(o, text, 0);
		emit(o, OUTPUT_END, 0);
	} else {
		return nc_fail("%s: message %zu, part %zu: unknown part type \"%s\"", o->where, i + 1,
			       k + 1, type);
	}
	return 0;
}

static int emit_assistant(struct out *o, json_t *content, size_t i)
{
	emit(o, ASSISTANT_START, 0);
	if (json_is_string(content)) {
		emit_string(o, content, 1);
	} else if (json_is_array(content)) {
		for (size_t k = 0; k < json_array_size(content); k++)
			if (emit_part(o, json_array_get(content, k), i, k) != 0)
				return -1;
	} else {
		return nc_fail("%s: message %zu: assistant content must be a string or an array of parts",
			       o->where, i + 1);
	}
	emit(o, ASSISTANT_END, 1);
	return 0;
}

static int emit_messages(struct out *o, json_t *msgs, size_t n)
{
	size_t i = 0;
	emit(o, BOS, 0);
	if (strcmp(role_of(msgs, 0), "system") == 0) {
		if (emit_system_user(o, msgs) != 0)
			return -1;
		i = 2;
	}
	for (; i < n; i++) {
		json_t *content = content_of(msgs, i);
		int rc = strcmp(role_of(msgs, i), "user") == 0 ? emit_user(o, content, i)
							     : emit_assistant(o, content, i);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static json_t *messages_of(json_t *conv, const char *where)
{
	if (json_is_array(conv))
		return conv;
	if (!json_is_object(conv)) {
		nc_fail("%s: a conversation is an object with \"messages\" or an array of messages", where);
		return NULL;
	}
	json_t *msgs = json_object_get(conv, "messages");
	if (!json_is_array(msgs))
		nc_fail("%s: the conversation has no \"messages\" array", where);
	return json_is_array(msgs) ? msgs : NULL;
}

/* Render the first n messages; on error, take back whatever was appended. */
static int render(struct out *o, json_t *msgs, size_t n, size_t max_tokens)
{
	size_t n0 = o->ids->n, m0 = o->mask ? o->mask->n : 0;
	if (find_specials(o) != 0 || check_roles(o->where, msgs, n) != 0)
		return -1;
	if (emit_messages(o, msgs, n) != 0) {
		o->ids->n = n0;
		if (o->mask)
			o->mask->n = m0;
		return -1;
	}
	if (o->ids->n - n0 > max_tokens) {
		o->ids->n = n0 + max_tokens;
		if (o->mask)
			o->mask->n = m0 + max_tokens;
	}
	return 0;
}

int nc_chat_render(const struct nc_tokenizer *t, json_t *conv, size_t max_tokens, const char *where,
		   struct nc_ids *ids, struct nc_bytes *mask)
{
	struct out o = {.t = t, .where = where ? where : "conversation", .ids = ids, .mask = mask};
	json_t *msgs = messages_of(conv, o.where);
	if (!msgs)
		return -1;
	return render(&o, msgs, json_array_size(msgs), max_tokens);
}

int nc_chat_render_prompt(const struct nc_tokenizer *t, json_t *conv, const char *where,
			  struct nc_ids *ids)
{
	struct out o = {.t = t, .where = where ? where : "conversation", .ids = ids};
	json_t *msgs = messages_of(conv, o.where);
	if (!msgs)
		return -1;
	size_t n = json_array_size(msgs);
	const char *last = n ? json_string_value(json_object_get(json_array_get(msgs, n - 1), "role")) : NULL;
	if (!last || strcmp(last, "assistant") != 0)
		return nc_fail("%s: the last message must be from the assistant", o.where);
	if (render(&o, msgs, n - 1, NC_CHAT_MAX_TOKENS) != 0)
		return -1;
	emit(&o, ASSISTANT_START, 0);
	return 0;
}

/* ---- GSM8K ---- */

/* The next match of the regex <<[^>]+>> at or after from. */
static int find_marker(const char *s, size_t n, size_t from, size_t *start, size_t *end)
{
	for (size_t i = from; i + 1 < n; i++) {
		if (s[i] != '<' || s[i + 1] != '<')
			continue;
		size_t k = i + 2;
		while (k < n && s[k] != '>')
			k++;
		if (k > i + 2 && k + 1 < n && s[k + 1] == '>') {
			*start = i;
			*end = k + 2;
			return 1;
		}
	}
	return 0;
}

static int add_part(json_t *parts, const char *type, const char *s, size_t n)
{
	json_t *text = json_stringn(s, n);
	if (!text)
		return nc_fail("gsm8k answer: not valid UTF-8");
	json_t *part = json_object();
	json_object_set_new(part, "type", json_string(type));
	json_object_set_new(part, "text", text);
	json_array_append_new(parts, part);
	return 0;
}

/* tasks/gsm8k.py tests every piece of re.split for "<<...>>" by its ends,
 * so a text piece that starts with "<<" and ends with ">>" (such as
 * "<<a>b>>", which the regex does not match) is a tool call too. */
static int add_piece(json_t *parts, const char *s, size_t n)
{
	if (n < 4 || memcmp(s, "<<", 2) != 0 || memcmp(s + n - 2, ">>", 2) != 0)
		return add_part(parts, "text", s, n);
	const char *inner = s + 2;
	size_t len = n - 4;
	const char *eq = memrchr(inner, '=', len);
	size_t elen = eq ? (size_t)(eq - inner) : len;
	if (add_part(parts, "python", inner, elen) != 0)
		return -1;
	return eq ? add_part(parts, "python_output", eq + 1, len - elen - 1)
		  : add_part(parts, "python_output", "", 0);
}

json_t *nc_gsm8k_parts(const char *answer, size_t len)
{
	json_t *parts = json_array();
	size_t pos = 0, a, b;
	int rc = 0;
	while (rc == 0 && find_marker(answer, len, pos, &a, &b)) {
		rc = add_piece(parts, answer + pos, a - pos);
		if (rc == 0)
			rc = add_piece(parts, answer + a, b - a);
		pos = b;
	}
	if (rc == 0)
		rc = add_piece(parts, answer + pos, len - pos);
	if (rc != 0) {
		json_decref(parts);
		return NULL;
	}
	return parts;
}
