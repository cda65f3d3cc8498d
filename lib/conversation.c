#include "conversation.h"
#include "err.h"
#include "mem.h"
#include "unicode.h"

#include <stdlib.h>
#include <string.h>

void nc_reply_free(struct nc_reply *r)
{
	free(r->text);
	memset(r, 0, sizeof *r);
}

int nc_conv_init(struct nc_conversation *c, const struct nc_tokenizer *t)
{
	static const char *const names[] = {"<|bos|>", "<|user_start|>", "<|user_end|>",
					    "<|assistant_start|>", "<|assistant_end|>"};
	uint32_t id[5];
	memset(c, 0, sizeof *c);
	for (int i = 0; i < 5; i++)
		if ((id[i] = nc_tok_special(t, names[i])) == UINT32_MAX)
			return nc_fail("a chat needs the special token %s, which the tokenizer lacks", names[i]);
	c->tok = t;
	c->bos = id[0], c->user_start = id[1], c->user_end = id[2];
	c->assistant_start = id[3], c->assistant_end = id[4];
	nc_ids_push(&c->ids, c->bos);
	return 0;
}

void nc_conv_clear(struct nc_conversation *c)
{
	c->ids.n = 0;
	nc_ids_push(&c->ids, c->bos);
}

void nc_conv_free(struct nc_conversation *c)
{
	nc_ids_free(&c->ids);
	memset(c, 0, sizeof *c);
}

struct streaming {
	struct nc_conversation *c;
	struct nc_reply *r;
	struct nc_utf8_stream u;
	nc_text_fn fn;
	void *ctx;
};

/* The bytes of an unfinished character wait in u for the next token: a
 * piece never ends inside a character. */
static int on_token(void *ctx, int sample, uint32_t token, int forced)
{
	struct streaming *s = ctx;
	size_t before = s->r->len;
	nc_ids_push(&s->c->ids, token);
	s->r->tokens++;
	nc_token_text(s->c->tok, &s->u, token, &s->r->text, &s->r->len, &s->r->cap);
	if (s->fn && s->r->len > before && s->fn(s->ctx, s->r->text + before, s->r->len - before)) {
		s->r->stopped = 1;
		return 1;
	}
	return 0;
}

int nc_conv_reply(struct nc_conversation *c, struct nc_engine *e, const char *text, size_t len,
		  const struct nc_sample_opts *o, nc_text_fn fn, void *ctx, struct nc_reply *r)
{
	size_t was = c->ids.n;
	memset(r, 0, sizeof *r);
	if (o->samples != 1)
		return nc_fail("a conversation takes one sample per reply, not %d", o->samples);
	nc_ids_push(&c->ids, c->user_start);
	nc_encode(c->tok, NULL, (const unsigned char *)text, len, &c->ids);
	nc_ids_push(&c->ids, c->user_end);
	nc_ids_push(&c->ids, c->assistant_start);
	int ctxlen = e->m->c.sequence_len;
	if (c->ids.n >= (size_t)ctxlen) {
		size_t n = c->ids.n;
		c->ids.n = was;
		return nc_fail("the conversation is %zu tokens with this turn, the model's context %d", n,
			       ctxlen);
	}
	/* ids grows (and may move) while the engine runs: it gets a copy */
	struct nc_ids prompt = {0};
	for (size_t i = 0; i < c->ids.n; i++)
		nc_ids_push(&prompt, c->ids.v[i]);
	struct streaming s = {c, r, {{0}, 0}, fn, ctx};
	int rc = nc_generate(e, prompt.v, prompt.n, o, on_token, &s, &r->finish);
	nc_ids_free(&prompt);
	if (rc < 0) {
		c->ids.n = was;
		nc_reply_free(r);
		return -1;
	}
	size_t before = r->len;
	nc_utf8_flush(&s.u, &r->text, &r->len, &r->cap);
	if (fn && r->len > before && !r->stopped)
		fn(ctx, r->text + before, r->len - before);
	/* chat_cli closes a reply the token limit cut (and here also one the
	 * reader stopped); a reply ended by <|bos|> is closed the same way */
	nc_ids_push(&c->ids, c->assistant_end);
	if (!r->text) {
		r->text = nc_xstrdup("");
		r->cap = 1;
	}
	return 0;
}
