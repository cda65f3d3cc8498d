/* Unit tests of the format layer: token shards (files, pipes, masks,
 * damage), tokenizer files, and the two BPE merge paths agreeing. */
#include "../../lib/bpe_train.h"
#include "../../lib/err.h"
#include "../../lib/hash.h"
#include "../../lib/mem.h"
#include "../../lib/rng.h"
#include "../../lib/shard.h"
#include "../../lib/tokenizer.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/nc-unit-XXXXXX";

static void flip_byte(const char *path, long off)
{
	FILE *f = fopen(path, "r+b");
	fseek(f, off, off < 0 ? SEEK_END : SEEK_SET);
	int c = fgetc(f);
	fseek(f, -1, SEEK_CUR);
	fputc(c ^ 0x55, f);
	fclose(f);
}

/* A whole file in memory, and back. */
static unsigned char *slurp_file(const char *path, long *size)
{
	FILE *f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	*size = ftell(f);
	unsigned char *b = nc_xmalloc(*size);
	fseek(f, 0, SEEK_SET);
	if (fread(b, 1, *size, f) != (size_t)*size)
		abort();
	fclose(f);
	return b;
}

static void spit_file(const char *path, unsigned char *b, long size)
{
	FILE *f = fopen(path, "wb");
	fwrite(b, 1, size, f);
	fclose(f);
	free(b);
}

static void put_u(unsigned char *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (unsigned char)(v >> 8 * i);
}

/* Set a u32 count of a tokenizer file's header and write a checksum that
 * agrees, as a careful forger would. */
static void set_tok_count(const char *path, long off, uint32_t v)
{
	long size;
	unsigned char *b = slurp_file(path, &size);
	put_u(b + off, v, 4);
	put_u(b + size - 8, nc_hash64(b, size - 8), 8);
	spit_file(path, b, size);
}

static void set_u64(const char *path, long off, uint64_t v)
{
	FILE *f = fopen(path, "r+b");
	fseek(f, off, off < 0 ? SEEK_END : SEEK_SET);
	for (int i = 0; i < 8; i++)
		fputc((int)(v >> 8 * i & 0xff), f);
	fclose(f);
}

/* Set a shard's vocabulary size and write a checksum that agrees with
 * version 2's rule (header with its count as zero, then the payload). */
static void set_vocab_forged(const char *path, uint32_t vocab)
{
	long size;
	unsigned char *b = slurp_file(path, &size), count[8];
	put_u(b + 24, vocab, 4);
	memcpy(count, b + 16, 8);
	memset(b + 16, 0, 8);
	uint64_t h = nc_hash64(b, size - NC_SHARD_TRAILER);
	memcpy(b + 16, count, 8);
	put_u(b + size - 8, h, 8);
	spit_file(path, b, size);
}

static void test_shard(void)
{
	char path[256];
	snprintf(path, sizeof path, "%s/a.shard", dir);
	uint32_t ids[1000];
	uint8_t mask[1000];
	for (int i = 0; i < 1000; i++) {
		ids[i] = (uint32_t)(i * 7919) % 70000;
		mask[i] = i % 3 == 0;
	}
	struct nc_shard_writer w;
	CHECK(nc_shard_create(&w, path, 70000, 5, 0xabcdef, 1) == 0, "create a masked u32 shard");
	nc_shard_put(&w, ids, mask, 600);
	nc_shard_put(&w, ids + 600, mask + 600, 400);
	CHECK(nc_shard_finish(&w) == 0, "finish writes the trailer");
	struct nc_shard s;
	CHECK(nc_shard_load(&s, path) == 0, "load it back");
	CHECK(s.n == 1000 && s.info.width == 4 && s.info.bos == 5 && s.info.fingerprint == 0xabcdef &&
	      memcmp(s.ids, ids, sizeof ids) == 0 && memcmp(s.mask, mask, sizeof mask) == 0,
	      "tokens, mask and header survive the round trip");
	nc_shard_free(&s);

	/* A count whose payload size wraps: 2^63 + 2 two-byte tokens "are" 4 bytes. */
	char forged[256];
	snprintf(forged, sizeof forged, "%s/forged.shard", dir);
	CHECK(nc_shard_create(&w, forged, 300, 5, 1, 0) == 0, "create a u16 shard");
	uint32_t two[2] = {5, 299};
	CHECK(nc_shard_put(&w, two, NULL, 2) == 0 && nc_shard_finish(&w) == 0, "two tokens written");
	set_u64(forged, 16, (1ull << 63) + 2);
	set_u64(forged, -24, (1ull << 63) + 2);
	CHECK(nc_shard_load(&s, forged) == -1 && strstr(nc_errmsg(), "4 payload bytes for 9223372036854775810 tokens"),
	      "a token count whose byte size wraps around is refused, not allocated and written");

	/* An id past the header's vocabulary, the checksum made to agree: a
	 * vocabulary of 200 "holds" token 299. */
	CHECK(nc_shard_create(&w, forged, 300, 5, 1, 0) == 0 && nc_shard_put(&w, two, NULL, 2) == 0 &&
	      nc_shard_finish(&w) == 0, "two tokens written again");
	set_vocab_forged(forged, 200);
	CHECK(nc_shard_load(&s, forged) == -1 &&
	      strstr(nc_errmsg(), "token 1 (byte 66) is id 299, outside the vocabulary (200)"),
	      "an id the header's vocabulary does not hold is refused at load, naming token and byte");
	CHECK(nc_shard_create(&w, forged, 300, 5, 1, 0) == 0 && nc_shard_put(&w, two, NULL, 2) == 0 &&
	      nc_shard_finish(&w) == 0, "two tokens written a third time");
	flip_byte(forged, 28);
	CHECK(nc_shard_load(&s, forged) == -1 &&
	      strstr(nc_errmsg(), "checksum mismatch: bytes 0 to 67 (header and payload)"),
	      "a damaged BOS id in the header fails the checksum (version 2)");
	set_vocab_forged(forged, 200);

	struct nc_shard_reader fr;
	uint32_t fids[4];
	CHECK(nc_shard_open(&fr, forged) == 0 && nc_shard_read(&fr, fids, 4) == -1 &&
	      strstr(nc_errmsg(), "is id 299, outside the vocabulary (200)"), "and by the streaming reader");
	nc_shard_close(&fr);

	struct nc_shard_reader r;
	uint32_t got[1000];
	size_t n = 0;
	long k;
	CHECK(nc_shard_open(&r, path) == 0, "open for streaming");
	while ((k = nc_shard_read(&r, got + n, 333)) > 0)
		n += k;
	CHECK(k == 0 && n == 1000 && memcmp(got, ids, sizeof ids) == 0, "stream read returns every token then checks the end");
	nc_shard_close(&r);

	flip_byte(path, 64 + 10);
	CHECK(nc_shard_load(&s, path) == -1 && strstr(nc_errmsg(), "checksum") && strstr(nc_errmsg(), "a.shard"),
	      "a flipped payload byte is a checksum error naming the file");
	flip_byte(path, 64 + 10);
	truncate(path, 64 + 2000);
	CHECK(nc_shard_load(&s, path) == -1 && strstr(nc_errmsg(), "truncated"), "a truncated shard is reported as truncated");

	/* A shard written to a pipe: count unknown in the header. */
	snprintf(path, sizeof path, "%s/p.shard", dir);
	char cmd[512];
	snprintf(cmd, sizeof cmd, "cat > %s", path);
	FILE *p = popen(cmd, "w");
	fflush(stdout);
	int saved = dup(1);
	dup2(fileno(p), 1);
	int created = nc_shard_create(&w, "-", 1000, 999, 7, 0);
	int refused = nc_shard_put(&w, ids, NULL, 10);
	for (int i = 0; i < 10; i++)
		ids[i] %= 1000;
	nc_shard_put(&w, ids, NULL, 10);
	int finished = nc_shard_finish(&w);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	pclose(p);
	CHECK(created == 0 && finished == 0, "create and finish a shard on a pipe");
	CHECK(refused == -1, "ids outside the vocabulary are refused");
	CHECK(nc_shard_load(&s, path) == 0 && s.n == 10 && s.info.width == 2 && memcmp(s.ids, ids, 40) == 0,
	      "a streamed u16 shard (count unknown in the header) loads");
	nc_shard_free(&s);
}

static void test_tokenizer_file(void)
{
	const unsigned char *bytes[258];
	uint32_t lens[258];
	unsigned char b[256];
	for (int i = 0; i < 256; i++) {
		b[i] = (unsigned char)i;
		bytes[i] = b + i;
		lens[i] = 1;
	}
	bytes[256] = (const unsigned char *)"ab";
	lens[256] = 2;
	bytes[257] = (const unsigned char *)"abc";
	lens[257] = 3;
	struct nc_tokenizer t, u;
	CHECK(nc_tok_build(&t, "nanochat", 258, bytes, lens, NC_N_SPECIAL, nc_special_names, NULL) == 0, "build");
	CHECK(t.vocab_size == 267 && nc_tok_special(&t, "<|bos|>") == 258 && nc_tok_special(&t, "<|output_end|>") == 266,
	      "specials take the ids after the mergeable tokens");
	char path[256];
	snprintf(path, sizeof path, "%s/t.tok", dir);
	CHECK(nc_tok_save(&t, path) == 0 && nc_tok_load(&u, path) == 0, "save and load");
	CHECK(u.fingerprint == t.fingerprint && u.n_tokens == 258 && nc_tok_bytes_len(&u, 257) == 3 &&
	      nc_tok_bytes_len(&u, 258) == 0, "the loaded tokenizer is the same");
	nc_tok_free(&u);
	set_tok_count(path, 16, 0xffffffffu);
	CHECK(nc_tok_load(&u, path) == -1 && strstr(nc_errmsg(), "4294967295 special tokens") &&
	      strstr(nc_errmsg(), "byte 16"), "a special-token count that wraps (n + 1 = 0) is refused");
	set_tok_count(path, 16, 0x7fffffffu);
	CHECK(nc_tok_load(&u, path) == -1 && strstr(nc_errmsg(), "more than the file holds"),
	      "a special-token count the file cannot hold is refused before allocating");
	set_tok_count(path, 16, NC_N_SPECIAL);
	CHECK(nc_tok_load(&u, path) == 0, "the restored count loads again");
	nc_tok_free(&u);
	flip_byte(path, -20);
	CHECK(nc_tok_load(&u, path) == -1 && strstr(nc_errmsg(), "checksum") && strstr(nc_errmsg(), "t.tok"),
	      "a corrupted tokenizer file fails its checksum, naming the file");
	bytes[257] = (const unsigned char *)"ab";
	lens[257] = 2;
	CHECK(nc_tok_build(&u, "nanochat", 258, bytes, lens, 0, NULL, NULL) == -1 && strstr(nc_errmsg(), "same bytes"),
	      "two tokens with the same bytes are refused");
	CHECK(nc_tok_build(&u, "nanochat", 255, bytes, lens, 0, NULL, NULL) == -1 && strstr(nc_errmsg(), "0xff"),
	      "a byte without a token is refused");
	nc_tok_free(&t);
}

/* A tiktoken rank file: the 256 bytes, then extra tokens of the given
 * lengths made of 'a'; the last line without its newline. */
static void write_ranks(const char *path, const size_t *extra, int nextra, size_t pad_to)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	FILE *f = fopen(path, "wb");
	long size = 0;
	for (int r = 0; r < 256 + nextra; r++) {
		size_t len = r < 256 ? 1 : extra[r - 256];
		for (size_t i = 0; i < len; i += 3) {
			uint32_t x = (r < 256 ? (uint32_t)r : 'a') << 16 | (i + 1 < len ? 'a' << 8 : 0) | (i + 2 < len ? 'a' : 0);
			size += fprintf(f, "%c%c%c%c", b64[x >> 18], b64[x >> 12 & 63],
					i + 1 < len ? b64[x >> 6 & 63] : '=', i + 2 < len ? b64[x & 63] : '=');
		}
		size += fprintf(f, r + 1 < 256 + nextra ? " %d\n" : " %d", r);
	}
	/* Blank lines before the last are skipped: pad with them so that the
	 * file ends exactly at a page's end, right after the last digit. */
	fclose(f);
	if (pad_to && (size_t)size % pad_to) {
		FILE *g = fopen(path, "rb");
		char *all = nc_xmalloc(size);
		if (fread(all, 1, size, g) != (size_t)size)
			abort();
		fclose(g);
		g = fopen(path, "wb");
		for (size_t i = 0; i < pad_to - (size_t)size % pad_to; i++)
			fputc('\n', g);
		fwrite(all, 1, size, g);
		fclose(g);
		free(all);
	}
}

static void test_tiktoken_import(void)
{
	char path[256], back[256];
	snprintf(path, sizeof path, "%s/long.tiktoken", dir);
	snprintf(back, sizeof back, "%s/back.tiktoken", dir);
	size_t extra[2] = {2, 5000};
	write_ranks(path, extra, 2, 0);
	struct nc_tokenizer t, u;
	CHECK(nc_tok_import_tiktoken(&t, path, "nanochat", 0, NULL, NULL) == 0 && nc_tok_bytes_len(&t, 257) == 5000,
	      "a token of 5000 bytes imports (tiktoken reads it)");
	CHECK(nc_tok_export_tiktoken(&t, back) == 0 && nc_tok_import_tiktoken(&u, back, "nanochat", 0, NULL, NULL) == 0 &&
	      u.fingerprint == t.fingerprint, "and exports and imports again unchanged");
	nc_tok_free(&u);
	nc_tok_free(&t);
	long page = sysconf(_SC_PAGESIZE);
	write_ranks(path, extra, 1, (size_t)page);
	CHECK(nc_tok_import_tiktoken(&t, path, "nanochat", 0, NULL, NULL) == 0 && t.n_tokens == 257,
	      "a file ending in a rank exactly at a page's end is read within the file");
	nc_tok_free(&t);
}

/* Naive reference: recompute every pair's rank each round. */
static void naive_merge(const struct nc_tokenizer *t, const unsigned char *s, size_t n, struct nc_ids *out)
{
	uint32_t *ids = nc_xmalloc(n * sizeof *ids);
	for (size_t i = 0; i < n; i++)
		ids[i] = t->byte_id[s[i]];
	size_t m = n;
	for (;;) {
		size_t best = SIZE_MAX;
		uint32_t br = NC_MISSING;
		for (size_t i = 0; i + 1 < m; i++) {
			uint32_t r = nc_u64map_get(&t->pair_map, (uint64_t)ids[i] << 32 | ids[i + 1]);
			if (r < br) {
				br = r;
				best = i;
			}
		}
		if (best == SIZE_MAX)
			break;
		ids[best] = br;
		memmove(ids + best + 1, ids + best + 2, (m - best - 2) * sizeof *ids);
		m--;
	}
	for (size_t i = 0; i < m; i++)
		nc_ids_push(out, ids[i]);
	free(ids);
}

static void test_merge_paths(void)
{
	/* Train on random text over a small alphabet so that long chunks
	 * have many merges of every rank. */
	struct nc_rng rng;
	nc_rng_seed(&rng, 1);
	size_t n = 200000;
	unsigned char *text = nc_xmalloc(n);
	for (size_t i = 0; i < n; i++)
		text[i] = "aab ba abba"[nc_rng_below(&rng, 11)];
	struct nc_splitter sp;
	nc_splitter_for("nanochat", &sp);
	struct nc_chunk_counts c;
	nc_counts_init(&c, &sp, 1);
	nc_counts_add(&c, 0, text, n);
	nc_counts_merge(&c);
	struct nc_merge merges[200];
	size_t got = nc_bpe_learn(&c, 200, merges, -1);
	nc_counts_free(&c);
	CHECK(got == 200 || got > 20, "training learns merges");
	struct nc_tokenizer t;
	CHECK(nc_tok_from_merges(&t, "nanochat", merges, got, 0, NULL) == 0, "a tokenizer from the merges");
	int same = 1;
	for (int trial = 0; trial < 200; trial++) {
		size_t len = 2 + nc_rng_below(&rng, 400);   /* both sides of the heap threshold */
		unsigned char chunk[512];
		for (size_t i = 0; i < len; i++)
			chunk[i] = "ab"[nc_rng_below(&rng, 2)];
		struct nc_ids a = {0}, b = {0};
		nc_encode_chunk(&t, chunk, len, &a);
		naive_merge(&t, chunk, len, &b);
		same &= a.n == b.n && memcmp(a.v, b.v, a.n * sizeof *a.v) == 0;
		nc_ids_free(&a);
		nc_ids_free(&b);
	}
	CHECK(same, "scan and heap merging equal the naive lowest-rank-first merge");
	nc_tok_free(&t);
	free(text);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	test_shard();
	test_tokenizer_file();
	test_tiktoken_import();
	test_merge_paths();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	system(cmd);
	return TAP_DONE();
}
