/* lib/chat_loader.c on hand-made chat shards: what it refuses (naming the
 * shard), and that a loader set to a saved state goes on as the loader
 * that never stopped. The batches themselves are checked against
 * nanochat's generators in test_chat_ref. */
#include "../../lib/chat_loader.h"
#include "../../lib/err.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FP 0xc0ffeeULL
#define VOCAB 50
#define BOS 49

static char dir[] = "/tmp/nc-chat-loader-XXXXXX";

/* A shard of n tokens (ids[i], mask 1 where i is odd), with or without its
 * mask; returns its path. */
static const char *shard(const char *name, const uint32_t *ids, size_t n, int with_mask, uint64_t fp)
{
	static char path[300];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	uint8_t mask[256];
	for (size_t i = 0; i < n; i++)
		mask[i] = i % 2;
	struct nc_shard_writer w;
	if (nc_shard_create(&w, path, VOCAB, BOS, fp, with_mask) != 0 || nc_shard_put(&w, ids, mask, n) != 0 ||
	    nc_shard_finish(&w) != 0)
		printf("# %s\n", nc_errmsg());
	return path;
}

/* Opening path fails with exactly "path: " + want. */
static int refused(const char *path, int64_t min, const char *want)
{
	struct nc_convos cv;
	char full[512];
	snprintf(full, sizeof full, "%s: %s", path, want);
	if (nc_convos_open(&cv, path, FP, VOCAB, min) == 0) {
		nc_convos_close(&cv);
		printf("# %s opened\n", path);
		return 0;
	}
	if (strcmp(nc_errmsg(), full) != 0)
		printf("# got:  %s\n# want: %s\n", nc_errmsg(), full);
	return strcmp(nc_errmsg(), full) == 0;
}

static void test_refusals(void)
{
	uint32_t good[] = {BOS, 1, 2, 3, BOS, 4, 5};
	CHECK(refused(shard("nomask.bin", good, 7, 0, FP), 1,
		      "has no loss mask: not conversations (nc-shard chat writes them)"),
	      "a shard without a loss mask is refused, naming it");
	CHECK(refused(shard("other.bin", good, 7, 1, FP + 1), 1,
		      "written with another tokenizer (fingerprint 0000000000c0ffef, expected 0000000000c0ffee)"),
	      "a shard of another tokenizer is refused");
	uint32_t nobos[] = {1, BOS, 2, 3};
	CHECK(refused(shard("nobos.bin", nobos, 4, 1, FP), 1, "does not start with BOS (49): not conversations"),
	      "a shard that does not start with BOS is refused");
	uint32_t alone[] = {BOS, 1, 2, BOS, BOS, 3};
	CHECK(refused(shard("alone.bin", alone, 6, 1, FP), 1, "conversation 1 (token 3) is BOS alone"),
	      "a conversation that is BOS alone is refused, with its number and token");
	CHECK(refused(shard("few.bin", good, 7, 1, FP), 3, "2 conversations, fewer than the 3 ranks"),
	      "fewer conversations than ranks are refused");
	struct nc_convos cv;
	int ok = nc_convos_open(&cv, shard("good.bin", good, 7, 1, FP), FP, VOCAB, 2) == 0;
	CHECK(ok && cv.n == 2 && cv.start[1] == 4 && cv.longest == 4,
	      "conversations are the segments that start at each BOS");
	if (ok)
		nc_convos_close(&cv);
}

/* Conversations of 2 to 9 tokens: a mid loader set to the state saved
 * after k batches gives the batches the original gives next, and so does
 * an sft loader moved to the saved position. */
static void test_resume(void)
{
	uint32_t ids[200];
	size_t n = 0;
	for (int c = 0; n < 180; c++) {
		ids[n++] = BOS;
		for (int j = 0; j < 1 + (c * 7) % 8; j++)
			ids[n++] = (uint32_t)(c + j) % BOS;
	}
	struct nc_convos cv;
	if (nc_convos_open(&cv, shard("many.bin", ids, n, 1, FP), FP, VOCAB, 2) != 0) {
		printf("# %s\n", nc_errmsg());
		CHECK(0, "the shard opens");
		return;
	}
	int32_t a[2][25] = {{0}}, b[2][25] = {{0}};
	int same = 1, restored = 1;
	for (int rank = 0; rank < 2; rank++)
		for (int k = 0; k < 12; k++) {
			struct nc_mid_loader run, again;
			struct nc_mid_state st;
			nc_mid_loader_init(&run, &cv, 3, 8, rank, 2);
			nc_mid_loader_init(&again, &cv, 3, 8, rank, 2);
			for (int i = 0; i < k; i++)
				nc_mid_loader_next(&run, a[0], a[1]);
			nc_mid_loader_get(&run, &st);
			restored &= nc_mid_loader_set(&again, &st) == 0;
			for (int i = 0; i < 6; i++) {
				nc_mid_loader_next(&run, a[0], a[1]);
				nc_mid_loader_next(&again, b[0], b[1]);
				same &= !memcmp(a, b, sizeof a) && run.last_step == again.last_step;
			}
			nc_mid_loader_free(&run);
			nc_mid_loader_free(&again);
		}
	CHECK(restored && same, "a mid loader set to a saved state (buffer rebuilt from the conversations) goes on "
	      "as the one that never stopped, across the wrap, on either rank");
	struct nc_mid_loader ml;
	nc_mid_loader_init(&ml, &cv, 3, 8, 0, 2);
	struct nc_mid_state bad = {cv.n, 0, 0};
	CHECK(nc_mid_loader_set(&ml, &bad) != 0, "a mid state past the last conversation is refused");
	nc_mid_loader_free(&ml);
	struct nc_sft_loader run, again;
	int C1, C2;
	nc_sft_loader_init(&run, &cv, 3, 1, 2, 0);
	nc_sft_loader_init(&again, &cv, 3, 1, 2, 0);
	for (int i = 0; i < 5; i++)
		nc_sft_loader_next(&run, a[0], a[1], &C1);
	same = nc_sft_loader_seek(&again, run.next) == 0;
	int32_t x[3 * 9], y[3 * 9], u[3 * 9], v[3 * 9];
	for (int i = 0; i < 8; i++) {
		nc_sft_loader_next(&run, x, y, &C1);
		nc_sft_loader_next(&again, u, v, &C2);
		same &= C1 == C2 && !memcmp(x, u, 3 * C1 * sizeof *x) && !memcmp(y, v, 3 * C1 * sizeof *y);
	}
	CHECK(same, "an sft loader moved to a saved position gives the same batches");
	CHECK(nc_sft_loader_seek(&again, 2) != 0, "a position that is not one of the rank's is refused");
	nc_convos_close(&cv);
}

/* nc_sft_pack: each row cut after its last kept target, a row with none
 * left out, the rest moved end to end in place. */
static void test_pack(void)
{
	/* 3 rows of 5: inputs 10*row + t; targets kept where the table says */
	static const int keep[3][5] = {{0, 1, 1, 0, 0}, {0, 0, 0, 0, 0}, {1, 0, 1, 1, 1}};
	int32_t in[15], tg[15];
	for (int r = 0; r < 3; r++)
		for (int t = 0; t < 5; t++) {
			in[r * 5 + t] = 10 * r + t;
			tg[r * 5 + t] = keep[r][t] ? 100 + 10 * r + t : -1;
		}
	int len[3] = {-1, -1, -1};
	int n = nc_sft_pack(in, tg, 3, 5, len);
	static const int32_t want_in[] = {0, 1, 2, 20, 21, 22, 23, 24};
	static const int32_t want_tg[] = {-1, 101, 102, 120, -1, 122, 123, 124};
	CHECK(n == 2 && len[0] == 3 && len[1] == 5, "rows cut after their last kept target (3, 5); the row without one left out");
	CHECK(memcmp(in, want_in, sizeof want_in) == 0 && memcmp(tg, want_tg, sizeof want_tg) == 0,
	      "the kept rows' inputs and targets end to end, ignored targets inside a row kept");
	for (int t = 0; t < 5; t++)
		tg[t] = -1;
	CHECK(nc_sft_pack(in, tg, 1, 5, len) == 0, "a batch without a kept target packs to nothing");
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror(dir);
		return 1;
	}
	test_refusals();
	test_resume();
	test_pack();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return TAP_DONE();
}
