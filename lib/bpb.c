#include "bpb.h"
#include "mem.h"

#include <math.h>

uint32_t *nc_bpb_token_bytes(const struct nc_tokenizer *t)
{
	uint32_t *v = nc_xmalloc((t->vocab_size + 1) * sizeof *v);
	for (uint32_t id = 0; id < t->vocab_size; id++)
		v[id] = nc_tok_bytes_len(t, id);
	return v;
}

void nc_bpb_init(struct nc_bpb *b, const uint32_t *token_bytes, uint32_t vocab_size)
{
	b->token_bytes = token_bytes;
	b->vocab_size = vocab_size;
	b->nats = 0;
	b->bytes = 0;
}

void nc_bpb_add(struct nc_bpb *b, const float *losses, const int32_t *targets, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int32_t y = targets[i];
		uint32_t nb = y >= 0 && (uint32_t)y < b->vocab_size ? b->token_bytes[y] : 0;
		if (nb > 0) {
			b->nats += losses[i];
			b->bytes += nb;
		}
	}
}

double nc_bpb_result(const struct nc_bpb *b)
{
	if (b->bytes == 0)
		return INFINITY;
	return b->nats / (log(2.0) * (double)b->bytes);
}
