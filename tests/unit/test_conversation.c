/* A conversation kept as tokens (spec §5.5) on a model whose next token is
 * programmed: what the history holds after a reply with a tool call, text
 * streamed in whole characters, a reply stopped midway, clearing, and a
 * turn too long for the context. */
#include "../../lib/conversation.h"
#include "../../lib/err.h"
#include "../../lib/unicode.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

/* Greedy next token = next[current]: blocks add nothing, the embedding is
 * one-hot and lm_head maps each one-hot to its successor. */
static void program(struct nc_gpt *m, const uint32_t *next)
{
	int V = m->c.vocab_size, C = m->c.n_embd;
	memset(m->w, 0, m->nweights * sizeof *m->w);
	float *wte = m->w + nc_gpt_param(m, "transformer.wte.weight")->offset;
	float *lm = m->w + nc_gpt_param(m, "lm_head.weight")->offset;
	for (int i = 0; i < V; i++) {
		wte[(size_t)i * C + i] = 1;
		lm[(size_t)next[i] * C + i] = 1;
	}
}

struct pieces {
	int n, all_whole, stop_after;
};

static int is_whole_utf8(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t len = c < 0x80 ? 1 : c >> 5 == 6 ? 2 : c >> 4 == 14 ? 3 : c >> 3 == 30 ? 4 : 0;
		if (!len || i + len > n)
			return 0;
		for (size_t j = 1; j < len; j++)
			if (((unsigned char)s[i + j] & 0xC0) != 0x80)
				return 0;
		i += len;
	}
	return 1;
}

static int collect(void *ctx, const char *text, size_t n)
{
	struct pieces *p = ctx;
	p->n++;
	p->all_whole &= is_whole_utf8(text, n);
	return p->stop_after && p->n >= p->stop_after;
}

int main(void)
{
	nc_prog = "test_conversation";
	struct nc_tokenizer tok;
	nc_tok_from_merges(&tok, "nanochat", NULL, 0, NC_N_SPECIAL, nc_special_names);
	int V = (int)tok.vocab_size;
	struct nc_gpt_config c = {.n_layer = 1, .n_head = 2, .n_kv_head = 2, .n_embd = 272,
				  .vocab_size = V, .sequence_len = 40, .rope_base = 10000,
				  .softcap = 15, .norm_eps = 1.1920929e-07f};
	struct nc_gpt m;
	nc_gpt_init(&m, &c, &nc_ops_cpu);
	struct nc_conversation cv;
	CHECK(nc_conv_init(&cv, &tok) == 0 && cv.ids.n == 1 && cv.ids.v[0] == cv.bos,
	      "a new conversation is <|bos|>");
	uint32_t ps = nc_tok_special(&tok, "<|python_start|>"), pe = nc_tok_special(&tok, "<|python_end|>");
	uint32_t os = nc_tok_special(&tok, "<|output_start|>"), oe = nc_tok_special(&tok, "<|output_end|>");
	uint32_t next[512];
	for (int i = 0; i < V; i++)
		next[i] = 'x';
	/* the reply: python 6*7, then (after the forced 42) "é" in two byte
	 * tokens, then the end */
	next[cv.assistant_start] = ps, next[ps] = '6', next['6'] = '*', next['*'] = '7', next['7'] = pe;
	next[oe] = 0xC3, next[0xC3] = 0xA9, next[0xA9] = cv.assistant_end;
	program(&m, next);
	struct nc_engine e;
	nc_engine_init(&e, &m, &tok);
	struct nc_sample_opts o = {.max_tokens = 20, .temperature = 0, .seed = 42, .samples = 1};
	struct nc_reply r;
	struct pieces p = {0, 1, 0};
	CHECK(nc_conv_reply(&cv, &e, "hi", 2, &o, collect, &p, &r) == 0, "a reply");
	uint32_t want[] = {cv.bos, cv.user_start, 'h', 'i', cv.user_end, cv.assistant_start, ps, '6', '*', '7',
			   pe, os, '4', '2', oe, 0xC3, 0xA9, cv.assistant_end};
	CHECK(cv.ids.n == 18 && !memcmp(cv.ids.v, want, sizeof want),
	      "the history holds the turn and the reply's tokens, tool call and forced output included");
	CHECK(!strcmp(r.text, "<|python_start|>6*7<|python_end|><|output_start|>42<|output_end|>\xc3\xa9") &&
	      r.tokens == 11 && r.finish == NC_FINISH_STOP && !r.stopped,
	      "the reply's text shows the tool call by its tokens' names");
	CHECK(p.all_whole && p.n == 10, "the text streams in whole characters: é once, not byte by byte");
	nc_reply_free(&r);

	/* a second turn reads the first: its prompt ends where the history does */
	size_t before = cv.ids.n;
	CHECK(nc_conv_reply(&cv, &e, "ok", 2, &o, NULL, NULL, &r) == 0 &&
	      cv.ids.n == before + 5 + 11 + 1 && !memcmp(cv.ids.v, want, sizeof want),
	      "a second turn is added after the first");
	nc_reply_free(&r);

	nc_conv_clear(&cv);
	CHECK(cv.ids.n == 1 && cv.ids.v[0] == cv.bos, "clear goes back to <|bos|>");

	/* stopped after its second piece: kept that far, and closed */
	p = (struct pieces){0, 1, 2};
	CHECK(nc_conv_reply(&cv, &e, "hi", 2, &o, collect, &p, &r) == 0 && r.stopped &&
	      !strcmp(r.text, "<|python_start|>6") && cv.ids.n == 6 + 2 + 1 &&
	      cv.ids.v[cv.ids.n - 1] == cv.assistant_end,
	      "a reply the reader stops is kept as far as it went and closed by <|assistant_end|>");
	nc_reply_free(&r);

	/* cut by the token limit: closed as chat_cli closes it */
	nc_conv_clear(&cv);
	o.max_tokens = 3;
	CHECK(nc_conv_reply(&cv, &e, "hi", 2, &o, NULL, NULL, &r) == 0 && r.finish == NC_FINISH_LENGTH &&
	      cv.ids.n == 6 + 3 + 1 && cv.ids.v[cv.ids.n - 1] == cv.assistant_end,
	      "a reply cut by the token limit gets <|assistant_end|> appended");
	nc_reply_free(&r);

	/* "é" cut after its first byte: U+FFFD at the end, as Python decodes */
	nc_conv_clear(&cv);
	next[cv.assistant_start] = 0xC3;
	program(&m, next);
	o.max_tokens = 1;
	p = (struct pieces){0, 1, 0};
	CHECK(nc_conv_reply(&cv, &e, "hi", 2, &o, collect, &p, &r) == 0 && !strcmp(r.text, "\xef\xbf\xbd") &&
	      p.n == 1 && p.all_whole, "an unfinished character at the end comes out as U+FFFD");
	nc_reply_free(&r);

	/* 40 tokens of context: a turn that leaves no room is refused */
	char longmsg[64];
	memset(longmsg, 'a', sizeof longmsg);
	before = cv.ids.n;
	CHECK(nc_conv_reply(&cv, &e, longmsg, 35, &o, NULL, NULL, &r) == -1 && cv.ids.n == before &&
	      strstr(nc_errmsg(), "the conversation is 46 tokens with this turn, the model's context 40"),
	      "a turn too long for the context is refused and the history stays as it was");
	o.samples = 2;
	CHECK(nc_conv_reply(&cv, &e, "hi", 2, &o, NULL, NULL, &r) == -1 && cv.ids.n == before,
	      "more than one sample per reply is refused");
	nc_conv_free(&cv);
	nc_engine_free(&e);
	nc_gpt_free(&m);
	nc_tok_free(&tok);
	return TAP_DONE();
}
