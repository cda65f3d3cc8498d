/* Unit tests of the pretraining loader and bits per byte. The shards hold
 * the stream 0, 1, 2, ... so that every batch can be checked by value. */
#include "../../lib/err.h"
#include "../../lib/loader.h"
#include "../../lib/mem.h"
#include "../../lib/shard.h"
#include "../../lib/tokenizer.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FP 0x1234abcdULL
#define VOCAB 1000
#define ROWS 2
#define COLS 8
#define BT (ROWS * COLS)

static char dir[] = "/tmp/nc-loader-XXXXXX";

/* DIR/NAME holding tokens first .. first+n-1. */
static void write_shard(const char *name, uint32_t first, uint32_t n, uint64_t fp, int masked)
{
	char path[256];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	uint32_t *ids = nc_xmalloc((n + 1) * sizeof *ids);
	for (uint32_t i = 0; i < n; i++)
		ids[i] = (first + i) % VOCAB;
	struct nc_shard_writer w;
	if (nc_shard_create(&w, path, VOCAB, VOCAB - 1, fp, masked) != 0 ||
	    nc_shard_put(&w, ids, NULL, n) != 0 || nc_shard_finish(&w) != 0)
		printf("# %s\n", nc_errmsg());
	free(ids);
}

/* The loader copies its configuration, so one static one will do. */
static const struct nc_loader_cfg *cfg(int rank, int world)
{
	static struct nc_loader_cfg c;
	c = (struct nc_loader_cfg){.B = ROWS, .T = COLS, .rank = rank, .world = world, .fingerprint = FP};
	return &c;
}

/* Is (in, tg) window k of the stream: the BT+1 tokens from k*(BT+1)?
 * Windows do not share tokens, as nanochat pops BT+1 tokens a batch. */
static int is_window(const int32_t *in, const int32_t *tg, int64_t k)
{
	for (int i = 0; i < BT; i++)
		if (in[i] != (k * (BT + 1) + i) % VOCAB || tg[i] != (k * (BT + 1) + i + 1) % VOCAB)
			return 0;
	return 1;
}

static int shards_held(const struct nc_loader *ld)
{
	int k = 0;
	for (int i = 0; i < ld->n; i++)
		k += ld->held[i].ids != NULL;
	return k;
}

/* Stream of 250 tokens in shards of 100, 100, 50: 14 windows of 17. */
static void test_windows(void)
{
	struct nc_loader ld;
	int32_t in[BT], tg[BT];
	CHECK(nc_loader_open_dir(&ld, dir, "train", cfg(0, 1)) == 0 && ld.n == 3 && ld.windows == 14,
	      "a directory's train shards open as one stream of whole windows");
	int ok = 1, bounded = 1;
	for (int s = 0; s < 14; s++) {
		ok &= nc_loader_next(&ld, in, tg) == 1 && is_window(in, tg, s) && ld.cur.epoch == (s + 1) / 14;
		bounded &= shards_held(&ld) <= 2;
	}
	CHECK(ok, "one rank reads consecutive windows, targets shifted by one, across shard boundaries");
	CHECK(bounded, "only the shards under the window are held");
	CHECK(nc_loader_next(&ld, in, tg) == 1 && is_window(in, tg, 0) && ld.cur.epoch == 1 &&
	      ld.cur.steps == 15, "after the last whole window the stream starts again in a new epoch");
	CHECK(shards_held(&ld) == 1 && ld.held[0].ids, "going back to the start frees the last shards");
	nc_loader_close(&ld);

	struct nc_loader r0, r1;
	nc_loader_open_dir(&r0, dir, "train", cfg(0, 2));
	nc_loader_open_dir(&r1, dir, "train", cfg(1, 2));
	int32_t in1[BT], tg1[BT];
	int strided = 1, seen[14] = {0};
	for (int s = 0; s < 20; s++) {
		strided &= nc_loader_next(&r0, in, tg) == 1 && is_window(in, tg, (2 * s) % 14);
		strided &= nc_loader_next(&r1, in1, tg1) == 1 && is_window(in1, tg1, (2 * s + 1) % 14);
		if (s < 7) {
			seen[in[0] / (BT + 1)]++;
			seen[in1[0] / (BT + 1)]++;
		}
	}
	CHECK(strided, "two ranks take windows s*W+r, modulo the windows in an epoch");
	int once = 1;
	for (int k = 0; k < 14; k++)
		once &= seen[k] == 1;
	CHECK(once, "the two ranks' windows of one epoch do not overlap");
	CHECK(r0.cur.epoch == 2 && r1.cur.epoch == 2 && r0.cur.steps == 20 &&
	      memcmp(&r0.cur, &r1.cur, sizeof r0.cur) == 0, "both ranks keep the same cursor and count epochs");
	nc_loader_close(&r0);
	nc_loader_close(&r1);
}

/* Shards of 7 tokens and one empty one: every window spans three or four
 * of them. */
static void test_small_shards(void)
{
	char p[12][256];
	char *paths[12];
	uint32_t first = 0;
	for (int i = 0; i < 12; i++) {
		char name[32];
		uint32_t n = i == 5 ? 0 : 7;
		snprintf(name, sizeof name, "tiny_%02d.bin", i);
		write_shard(name, first, n, FP, 0);
		first += n;
		snprintf(p[i], 256, "%s/%s", dir, name);
		paths[i] = p[i];
	}
	struct nc_loader ld;
	int32_t in[BT], tg[BT];
	int ok = nc_loader_open(&ld, paths, 12, cfg(0, 1)) == 0 && ld.windows == 77 / (BT + 1);
	for (int s = 0; s < 10; s++)
		/* 17 tokens touch at most 4 shards of 7, and the empty one among them */
		ok &= nc_loader_next(&ld, in, tg) == 1 && is_window(in, tg, s % 4) && shards_held(&ld) <= 5;
	CHECK(ok, "windows span many small shards and an empty one");
	nc_loader_close(&ld);
}

static void test_resume(void)
{
	struct nc_loader a, b;
	int32_t in[BT], tg[BT], in2[BT], tg2[BT];
	nc_loader_open_dir(&a, dir, "train", cfg(1, 2));
	for (int s = 0; s < 9; s++)
		nc_loader_next(&a, in, tg);
	int64_t w[NC_CURSOR_WORDS];
	nc_cursor_pack(&a.cur, w);
	CHECK(w[0] == 1 && w[3] == 9, "the cursor packs as epoch, shard, offset, steps");
	nc_loader_next(&a, in, tg);
	struct nc_cursor c;
	nc_cursor_unpack(&c, w);
	nc_loader_open_dir(&b, dir, "train", cfg(1, 2));
	CHECK(nc_loader_seek(&b, &c) == 0 && nc_loader_next(&b, in2, tg2) == 1 &&
	      memcmp(in, in2, sizeof in) == 0 && memcmp(tg, tg2, sizeof tg) == 0 &&
	      memcmp(&a.cur, &b.cur, sizeof a.cur) == 0,
	      "a restored cursor gives the identical next batch and cursor");
	c.offset += 1;
	CHECK(nc_loader_seek(&b, &c) == -1 && strstr(nc_errmsg(), "window boundary"),
	      "a cursor off the window boundary is refused");
	c.offset = 100;
	CHECK(nc_loader_seek(&b, &c) == -1 && strstr(nc_errmsg(), "past the end"),
	      "a cursor past its shard is refused");
	nc_loader_close(&a);
	nc_loader_close(&b);
}

static void test_eval(void)
{
	struct nc_loader r0, r1;
	int32_t in[BT], tg[BT];
	nc_loader_open_dir(&r0, dir, "val", cfg(0, 2));
	nc_loader_open_dir(&r1, dir, "val", cfg(1, 2));
	CHECK(nc_loader_eval_begin(&r0, 0) == 2 && nc_loader_eval_begin(&r1, 0) == 2,
	      "the whole val split is as many steps as every rank can take (5 windows, 2 ranks)");
	int ok = 1;
	for (int s = 0; s < 2; s++) {
		ok &= nc_loader_next(&r0, in, tg) == 1 && in[0] == (500 + (2 * s) * (BT + 1)) % VOCAB &&
		      tg[BT - 1] == (500 + (2 * s) * (BT + 1) + BT) % VOCAB;
		ok &= nc_loader_next(&r1, in, tg) == 1 && in[0] == (500 + (2 * s + 1) * (BT + 1)) % VOCAB;
	}
	CHECK(ok && nc_loader_next(&r0, in, tg) == 0 && nc_loader_next(&r1, in, tg) == 0,
	      "val windows are rank-strided and end with the split");
	CHECK(nc_loader_eval_begin(&r0, 40) == 1 && nc_loader_next(&r0, in, tg) == 1 && in[0] == 500 &&
	      nc_loader_next(&r0, in, tg) == 0, "a token budget rewinds and limits the pass");
	/* base_train's eval_steps = eval_tokens // (B*T*world): the windows'
	 * extra target is not in the divisor, so 4*BT tokens are 2 steps of
	 * 2 ranks, where B*T+1 would make them 1 */
	CHECK(nc_loader_eval_begin(&r0, 4 * BT) == 2 && nc_loader_eval_begin(&r0, 4 * BT - 1) == 1,
	      "a budget of n tokens is n / (B*T*ranks) steps, nanochat's eval_steps");
	nc_loader_close(&r0);
	nc_loader_close(&r1);
	struct nc_loader one;
	nc_loader_open_dir(&one, dir, "val", cfg(0, 1));
	CHECK(nc_loader_eval_begin(&one, 3 * BT) == 3 && nc_loader_eval_begin(&one, 3 * BT - 1) == 2 &&
	      nc_loader_eval_begin(&one, 100 * BT) == 5,
	      "one rank: n / (B*T) windows, at most the split's");
	nc_loader_close(&one);
}

static void test_refusals(void)
{
	struct nc_loader ld;
	char p[3][256];
	char *paths[3] = {p[0], p[1], p[2]};
	snprintf(p[0], 256, "%s/train_00000.bin", dir);
	snprintf(p[1], 256, "%s/other.bin", dir);
	write_shard("other.bin", 0, 50, FP + 1, 0);
	CHECK(nc_loader_open(&ld, paths, 2, cfg(0, 1)) == -1 && strstr(nc_errmsg(), "other.bin") &&
	      strstr(nc_errmsg(), "written with another tokenizer"),
	      "a shard of another tokenizer is refused, naming it");
	write_shard("masked.bin", 0, 50, FP, 1);
	snprintf(p[1], 256, "%s/masked.bin", dir);
	CHECK(nc_loader_open(&ld, paths, 2, cfg(0, 1)) == -1 && strstr(nc_errmsg(), "masked.bin") &&
	      strstr(nc_errmsg(), "loss mask"), "a shard with a loss mask is refused for pretraining");
	snprintf(p[1], 256, "%s/small.bin", dir);
	write_shard("small.bin", 0, 10, FP, 0);
	CHECK(nc_loader_open(&ld, paths + 1, 1, cfg(0, 1)) == -1 && strstr(nc_errmsg(), "fewer than one batch"),
	      "a stream shorter than one batch is refused");
	struct nc_shard_writer w;
	snprintf(p[1], 256, "%s/wide.bin", dir);
	nc_shard_create(&w, p[1], 2 * VOCAB, 0, FP, 0);
	nc_shard_finish(&w);
	CHECK(nc_loader_open(&ld, paths, 2, cfg(0, 1)) == -1 && strstr(nc_errmsg(), "wide.bin") &&
	      strstr(nc_errmsg(), "vocabulary of 2000"), "shards of different vocabulary sizes are refused");

	/* A flipped payload byte in the second shard. */
	write_shard("bad.bin", 100, 100, FP, 0);
	snprintf(p[1], 256, "%s/bad.bin", dir);
	FILE *f = fopen(p[1], "r+b");
	fseek(f, NC_SHARD_HEADER + 10, SEEK_SET);
	fputc(0x55, f);
	fclose(f);
	int32_t in[BT], tg[BT];
	int opened = nc_loader_open(&ld, paths, 2, cfg(0, 1)) == 0;
	int first = nc_loader_next(&ld, in, tg);
	for (int s = 1; s < 6; s++)
		nc_loader_next(&ld, in, tg);
	CHECK(opened && first == 1 && nc_loader_next(&ld, in, tg) == -1 && strstr(nc_errmsg(), "bad.bin") &&
	      strstr(nc_errmsg(), "checksum"), "a corrupt shard is refused when a batch reaches it, naming it");
	nc_loader_close(&ld);
	CHECK(nc_loader_open_dir(&ld, dir, "test", cfg(0, 1)) == -1 && strstr(nc_errmsg(), "no test_*.bin"),
	      "a directory without the split's shards is an error");
}

static int opens(const char *split)
{
	struct nc_loader ld;
	if (nc_loader_open_dir(&ld, dir, split, cfg(0, 1)) != 0)
		return 0;
	nc_loader_close(&ld);
	return 1;
}

static void move(const char *from, const char *to)
{
	char a[300], b[300];
	snprintf(a, sizeof a, "%s/%s", dir, from);
	snprintf(b, sizeof b, "%s/%s", dir, to);
	rename(a, b);
}

/* A set must be the one its manifest lists: every shard there, no other,
 * each with its token count and checksum. */
static void test_manifest(void)
{
	move("manifest", "manifest.kept");
	CHECK(!opens("train") && strstr(nc_errmsg(), "no manifest") && strstr(nc_errmsg(), "nc-shard manifest"),
	      "a set without a manifest (cut short before it was written) is refused, saying what to do");
	move("manifest.kept", "manifest");
	move("train_00002.bin", "away.bin");
	CHECK(!opens("train") && strstr(nc_errmsg(), "train_00002.bin: in the manifest but not in the directory"),
	      "a shard missing from the set is named");
	move("away.bin", "train_00002.bin");
	write_shard("train_00003.bin", 250, 50, FP, 0);
	CHECK(!opens("train") && strstr(nc_errmsg(), "train_00003.bin: not in the manifest"),
	      "a shard the manifest does not list is named");
	move("train_00003.bin", "extra.bin");
	move("train_00002.bin", "kept.bin");
	write_shard("train_00002.bin", 210, 50, FP, 0);   /* same count, other tokens */
	struct nc_loader ld;
	int32_t in[BT], tg[BT];
	int ok = nc_loader_open_dir(&ld, dir, "train", cfg(0, 1)) == 0;
	int rc = 1;
	for (int i = 0; ok && i < 20 && rc == 1; i++)
		rc = nc_loader_next(&ld, in, tg);
	CHECK(ok && rc == -1 && strstr(nc_errmsg(), "train_00002.bin: checksum") &&
	      strstr(nc_errmsg(), "the manifest says"), "a shard replaced since is refused when it loads");
	if (ok)
		nc_loader_close(&ld);
	move("kept.bin", "train_00002.bin");
	CHECK(opens("train") && opens("val"), "the set as it was opens again");
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	write_shard("train_00000.bin", 0, 100, FP, 0);
	write_shard("train_00001.bin", 100, 100, FP, 0);
	write_shard("train_00002.bin", 200, 50, FP, 0);
	write_shard("val_00000.bin", 500, 90, FP, 0);
	CHECK(nc_manifest_write(dir) == 0, "a manifest of the set");
	test_windows();
	test_small_shards();
	test_resume();
	test_eval();
	test_refusals();
	test_manifest();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	system(cmd);
	return TAP_DONE();
}
