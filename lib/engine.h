/* The inference engine (spec §5.1-§5.4): a prompt is prefilled once into a
 * KV cache and shared by N samples, which then decode together, one token
 * per step, each with its own random stream; rows that finish leave the
 * batch. Tool use as nanochat does it: the text between <|python_start|>
 * and <|python_end|> goes to the calculator, and its result is forced back
 * as <|output_start|> ... <|output_end|> tokens. */
#ifndef NC_ENGINE_H
#define NC_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "gpt.h"
#include "tokenizer.h"
#include "unicode.h"   /* nc_utf8_stream: samples come out as whole characters */

struct nc_sample_opts {
	int max_tokens;        /* tokens generated per sample at most */
	double temperature;    /* 0: greedy */
	int top_k;             /* 0: the whole vocabulary */
	uint64_t seed;         /* sample i draws from a generator seeded seed + i */
	int samples;           /* rows sharing the prompt */
};

/* The sampling options the tools share: -n/--max-tokens, -T/--temperature,
 * -k/--top-k and -s/--seed, as nc_getopt returns them (c, optarg). Returns 1
 * when c is one of them (its value checked and set in s: a bad value is a
 * usage error), 0 when it is not. */
int nc_sample_opt(int c, const char *arg, struct nc_sample_opts *s);

enum nc_finish { NC_FINISH_NONE, NC_FINISH_STOP, NC_FINISH_LENGTH };

/* Called for every token a row produces, in order; forced is 1 for tokens
 * the tool forced (mask 0). The terminal token (<|assistant_end|> or
 * <|bos|>) is not passed: the row's finish then becomes NC_FINISH_STOP.
 * A nonzero return stops generation with that value. */
typedef int (*nc_token_fn)(void *ctx, int sample, uint32_t token, int forced);

struct nc_engine {
	struct nc_gpt *m;
	const struct nc_tokenizer *tok;
	uint32_t bos, assistant_end, python_start, python_end, output_start, output_end;
	float *logits;         /* host, rows x V */
	int cap_rows;
	/* timings of the last nc_generate: the prefill (one forward of the
	 * prompt), then the decode steps (a forward of every live row each) */
	double prefill_s, decode_s;
	long prefill_tokens, decode_steps, decode_tokens;
};

/* The tokenizer must fit the model's vocabulary. */
int nc_engine_init(struct nc_engine *e, struct nc_gpt *m, const struct nc_tokenizer *tok);
void nc_engine_free(struct nc_engine *e);

/* Generate o->samples continuations of prompt[0..n). finish (o->samples
 * entries, if given) receives why each stopped. The prompt plus
 * o->max_tokens is cut to the model's context: a row that reaches it stops
 * with NC_FINISH_LENGTH. Returns 0, -1 on error (with a message), or the
 * callback's nonzero value. */
int nc_generate(struct nc_engine *e, const uint32_t *prompt, size_t n,
		const struct nc_sample_opts *o, nc_token_fn fn, void *ctx, enum nc_finish *finish);

/* Append token's text to out (grown as nc_utf8_feed grows it): its bytes
 * through the UTF-8 stream u, so that only whole characters come out; a
 * special token shows its name, after any unfinished character (as
 * U+FFFD), as nanochat's decode([token]) prints it. */
void nc_token_text(const struct nc_tokenizer *t, struct nc_utf8_stream *u, uint32_t token, char **out,
		   size_t *len, size_t *cap);

/* One token from softcapped logits (V of them), as nanochat samples
 * (spec §5.3): argmax at temperature 0, else softmax(logits/temperature)
 * over the top_k largest (all if top_k is 0) and one draw from u in
 * [0, 1). */
uint32_t nc_sample_token(const float *logits, int V, double temperature, int top_k, double u,
			 int *scratch);

#endif
