/* Bits per byte of a model over token shards (spec §6.1, nanochat's
 * evaluate_bpb): kept apart from bpb.c so that what only counts bytes
 * does not pull in the model. */
#include "bpb.h"

#include <stdlib.h>

#include "gpt.h"
#include "loader.h"
#include "mem.h"

int64_t nc_bpb_evaluate(struct nc_bpb *b, struct nc_gpt *m, struct nc_loader *ld,
			uint64_t eval_tokens)
{
	int B = ld->cfg.B, T = ld->cfg.T;
	size_t n = (size_t)B * T;
	int32_t *inputs = nc_xmalloc(n * sizeof *inputs), *targets = nc_xmalloc(n * sizeof *targets);
	float *host = m->ops->host_memory ? NULL : nc_xmalloc(n * sizeof *host);
	int64_t steps = nc_loader_eval_begin(ld, eval_tokens), s;
	for (s = 0; s < steps; s++) {
		int got = nc_loader_next(ld, inputs, targets);
		if (got <= 0) {
			s = got < 0 ? -1 : s;
			break;
		}
		nc_gpt_forward(m, inputs, targets, B, T, NULL);
		const float *losses = nc_gpt_token_losses(m);
		if (host) {
			m->ops->download(host, losses, n * sizeof *host);
			losses = host;
		}
		nc_bpb_add(b, losses, targets, n);
	}
	free(inputs);
	free(targets);
	free(host);
	return s;
}
