/* Bits per byte (lib/bpb.h): a case to check by hand, the definition of
 * nanochat's evaluate_bpb computed directly over random batches fed in
 * random pieces (as batches and ranks feed it), and token byte counts. */
#include "../../lib/bpb.h"
#include "../../lib/rng.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>

static void test_by_hand(void)
{
	/* ids 0..3 stand for 1, 2, 3 bytes; id 3 is a special token. */
	uint32_t token_bytes[4] = {1, 2, 3, 0};
	int32_t targets[6] = {0, 1, 3, 2, -1, 2};
	float losses[6] = {0.5f, 1.0f, 9.0f, 2.0f, 7.0f, 0.25f};
	struct nc_bpb b;
	nc_bpb_init(&b, token_bytes, 4);
	CHECK(isinf(nc_bpb_result(&b)), "bpb with no bytes is infinite");
	nc_bpb_add(&b, losses, targets, 4);
	nc_bpb_add(&b, losses + 4, targets + 4, 2);
	/* byte targets 0, 1, 2, 2: nats 0.5 + 1 + 2 + 0.25, bytes 1 + 2 + 3 + 3 */
	CHECK(b.bytes == 9 && fabs(b.nats - 3.75) < 1e-9 && fabs(nc_bpb_result(&b) - 3.75 / (log(2) * 9)) < 1e-12,
	      "bpb sums nats and bytes over byte targets only: specials and ignored targets drop out");

	/* guessing uniformly among 256 byte values costs 8 bits a byte */
	uint32_t one[2] = {1, 1};
	int32_t y[3] = {0, 1, 0};
	float l[3] = {(float)log(256.0), (float)log(256.0), (float)log(256.0)};
	nc_bpb_init(&b, one, 2);
	nc_bpb_add(&b, l, y, 3);
	CHECK(fabs(nc_bpb_result(&b) - 8) < 1e-6, "ln 256 nats on every one-byte token is 8 bits per byte");
}

/* nanochat's evaluate_bpb: num_bytes = token_bytes[y] (0 where y < 0),
 * nats += sum(loss * (num_bytes > 0)), bytes += sum(num_bytes),
 * bpb = nats / (ln 2 * bytes); here in long double, in one pass. */
static double direct_bpb(const float *loss, const int32_t *y, size_t n, const uint32_t *tb)
{
	long double nats = 0, bytes = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t nb = y[i] < 0 ? 0 : tb[y[i]];
		nats += nb > 0 ? (long double)loss[i] : 0;
		bytes += nb;
	}
	return (double)(nats / (logl(2.0L) * bytes));
}

static void test_against_direct(void)
{
	enum { V = 300, N = 20000 };
	struct nc_rng r;
	nc_rng_seed(&r, 11);
	uint32_t tb[V];
	for (int i = 0; i < V; i++)
		tb[i] = i >= V - 9 ? 0 : 1 + (uint32_t)nc_rng_below(&r, 16);   /* the last 9: specials */
	float *loss = malloc(N * sizeof *loss);
	int32_t *y = malloc(N * sizeof *y);
	double worst = 0;
	for (int trial = 0; trial < 20; trial++) {
		for (int i = 0; i < N; i++) {
			loss[i] = (float)nc_rng_below(&r, 1 << 20) / (1 << 16);
			y[i] = nc_rng_below(&r, 20) == 0 ? -1 : (int32_t)nc_rng_below(&r, V);
		}
		struct nc_bpb b;
		nc_bpb_init(&b, tb, V);
		for (size_t at = 0; at < N;) {
			size_t k = 1 + nc_rng_below(&r, 3000);
			k = k > N - at ? N - at : k;
			nc_bpb_add(&b, loss + at, y + at, k);
			at += k;
		}
		double want = direct_bpb(loss, y, N, tb);
		worst = fmax(worst, fabs(nc_bpb_result(&b) - want) / want);
	}
	printf("# largest relative difference from the direct sum: %.3g\n", worst);
	CHECK(worst < 1e-12, "bpb fed in pieces equals nanochat's definition computed directly");
	free(loss);
	free(y);
}

static void test_token_bytes(void)
{
	struct nc_merge m = {'a', 'b'};
	struct nc_tokenizer t;
	nc_tok_from_merges(&t, "nanochat", &m, 1, NC_N_SPECIAL, nc_special_names);
	uint32_t *tb = nc_bpb_token_bytes(&t);
	CHECK(tb['a'] == 1 && tb[256] == 2 && tb[257] == 0 && tb[t.vocab_size - 1] == 0,
	      "token byte counts: raw bytes, 0 for special tokens");
	free(tb);
	nc_tok_free(&t);
}

int main(void)
{
	test_by_hand();
	test_against_direct();
	test_token_bytes();
	return TAP_DONE();
}
