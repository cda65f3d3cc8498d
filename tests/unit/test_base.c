/* Unit tests of the base layer: errors, logfmt, number parsing, RNG,
 * UTF-8, checksums and atomic files. */
#include "../../lib/err.h"
#include "../../lib/file.h"
#include "../../lib/hash.h"
#include "../../lib/logfmt.h"
#include "../../lib/parse.h"
#include "../../lib/rng.h"
#include "../../lib/unicode.h"
#include "tap.h"

#include <dirent.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/nc-unit-XXXXXX";

static int exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

static char *slurp(const char *p)
{
	static char buf[256];
	FILE *f = fopen(p, "rb");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static void test_errors(void)
{
	int rc = nc_fail("%s: bad thing at %d", "x.bin", 7);
	CHECK(rc == -1 && strcmp(nc_errmsg(), "x.bin: bad thing at 7") == 0, "nc_fail records the message and returns -1");
	nc_fail("token for the single byte 0x01 is missing");
	nc_fail("%s: %s", "r1", nc_errmsg());
	CHECK(strcmp(nc_errmsg(), "r1: token for the single byte 0x01 is missing") == 0,
	      "a message may wrap the last one: nc_fail(fmt, path, nc_errmsg())");
	errno = ENOENT;
	nc_fail_errno("%s: %s", "outer", nc_errmsg());
	const char *want = "outer: r1: token for the single byte 0x01 is missing: ";
	CHECK(strncmp(nc_errmsg(), want, strlen(want)) == 0 && strstr(nc_errmsg(), strerror(ENOENT)),
	      "nc_fail_errno may wrap the last message too");
}

static void test_logfmt(void)
{
	struct nc_logfmt l = {0};
	char *buf;
	size_t n;
	FILE *f = open_memstream(&buf, &n);
	nc_logfmt_str(&l, "stage", "base");
	nc_logfmt_int(&l, "step", 120);
	nc_logfmt_f(&l, "loss", 3.41249, 3);
	nc_logfmt_str(&l, "msg", "two words \"quoted\"");
	nc_logfmt_str(&l, "empty", "");
	nc_logfmt_emit(&l, f);
	fclose(f);
	CHECK(strcmp(buf, "stage=base step=120 loss=3.412 msg=\"two words \\\"quoted\\\"\" empty=\"\"\n") == 0,
	      "logfmt quotes values with spaces, quotes or nothing");
	free(buf);
	nc_logfmt_free(&l);
}

static void test_parse(void)
{
	uint64_t v = 0;
	CHECK(nc_parse_u64("--n", "2e9", 0, UINT64_MAX, &v) == 0 && v == 2000000000ULL, "2e9 parses");
	CHECK(nc_parse_u64("--n", "64K", 0, UINT64_MAX, &v) == 0 && v == 65536, "64K parses");
	CHECK(nc_parse_u64("--n", "12x", 0, 100, &v) == -1 && strstr(nc_errmsg(), "--n"), "junk is rejected naming the option");
	CHECK(nc_parse_u64("--n", "-3", 0, 100, &v) == -1, "negative numbers are rejected");
	CHECK(nc_parse_u64("--n", "101", 0, 100, &v) == -1 && strstr(nc_errmsg(), "range"), "out of range is rejected");
	double d = -1;
	CHECK(nc_parse_real("--r", "2.5e-1", 0, 1, &d) == 0 && d == 0.25, "a real number parses");
	CHECK(nc_parse_real("--r", "1", 0, 1, &d) == 0 && d == 1, "the bounds are in the range");
	const char *bad[] = {"nan", "NaN", "-nan", "inf", "1.5", "-0.1", "", "0.5x", "1e999"};
	int refused = 1;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		refused &= nc_parse_real("--r", bad[i], 0, 1, &d) == -1 && strstr(nc_errmsg(), "--r: '");
	CHECK(refused, "NaN, infinities, junk and values outside [0, 1] are refused, naming the option");
}

static void test_rng(void)
{
	struct nc_rng a, b;
	nc_rng_seed(&a, 42);
	nc_rng_seed(&b, 42);
	int same = 1, inrange = 1;
	for (int i = 0; i < 1000; i++) {
		same &= nc_rng_next(&a) == nc_rng_next(&b);
		double u = nc_rng_uniform(&a);
		inrange &= u >= 0 && u < 1 && nc_rng_below(&b, 7) < 7;
	}
	CHECK(same, "same seed gives the same sequence");
	CHECK(inrange, "uniform and below stay in range");
	nc_rng_seed(&b, 43);
	nc_rng_seed(&a, 42);
	CHECK(nc_rng_next(&a) != nc_rng_next(&b), "different seeds differ");
}

static void test_utf8(void)
{
	uint32_t cp;
	CHECK(nc_utf8_decode((const unsigned char *)"\xc3\xa9", 2, &cp) == 2 && cp == 0xe9, "two-byte character");
	CHECK(nc_utf8_decode((const unsigned char *)"\xf0\x9f\x98\x80", 4, &cp) == 4 && cp == 0x1f600, "four-byte character");
	CHECK(nc_utf8_decode((const unsigned char *)"\xc0\xaf", 2, &cp) == 1 && cp == UINT32_MAX, "overlong is invalid, one byte");
	CHECK(nc_utf8_decode((const unsigned char *)"\xed\xa0\x80", 3, &cp) == 1 && cp == UINT32_MAX, "surrogate is invalid");
	CHECK(nc_utf8_decode((const unsigned char *)"\xe2\x82", 2, &cp) == 1 && cp == UINT32_MAX, "truncated is invalid");
	CHECK(nc_utf8_count((const unsigned char *)"a\xc3\xa9\xff", 4) == 3, "count: invalid bytes count one each");
	CHECK(nc_utf8_prefix((const unsigned char *)"\xc3\xa9\xc3\xa9x", 5, 2) == 4, "prefix of two characters");
	CHECK(nc_uclass('a') == UC_LETTER && nc_uclass(0x4e2d) == UC_LETTER && nc_uclass(0x0661) == UC_NUMBER &&
	      nc_uclass(0x3000) == UC_SPACE && nc_uclass(0x0301) == UC_OTHER && nc_uclass(0x85) == UC_SPACE,
	      "class table: letters, digits, spaces, marks");
}

static void test_hash(void)
{
	/* XXH3-64 of the empty input, from the xxHash specification. */
	CHECK(nc_hash64("", 0) == 0x2D06800538D394C2ULL, "XXH3-64 of nothing is the published value");
	struct nc_hasher h;
	nc_hasher_init(&h);
	nc_hasher_update(&h, "hello ", 6);
	nc_hasher_update(&h, "world", 5);
	CHECK(nc_hasher_digest(&h) == nc_hash64("hello world", 11), "streaming equals one-shot");
	nc_hasher_free(&h);
}

/* How many entries d holds (. and .. aside), or only those named name;
 * -1 if it cannot be read. */
static int entries(const char *d, const char *name)
{
	DIR *dp = opendir(d);
	if (!dp)
		return -1;
	int n = 0;
	for (struct dirent *e; (e = readdir(dp));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && (!name || !strcmp(e->d_name, name)))
			n++;
	closedir(dp);
	return n;
}

static void test_atomic(void)
{
	char path[256], old[256];
	snprintf(path, sizeof path, "%s/out.bin", dir);
	struct nc_out o;
	CHECK(nc_out_open(&o, path) == 0, "open output");
	nc_out_write(&o, "new", 3);
	CHECK(!exists(path), "nothing at the final name before commit");
	CHECK(nc_out_commit(&o) == 0 && exists(path) && strcmp(slurp(path), "new") == 0, "commit renames into place");
	snprintf(old, sizeof old, "%s", slurp(path));
	nc_out_open(&o, path);
	nc_out_write(&o, "partial", 7);
	CHECK(entries(dir, NULL) == 2 && entries(dir, "out.bin") == 1,
	      "an open output is a temporary beside the old file");
	nc_out_abort(&o);
	CHECK(strcmp(slurp(path), old) == 0, "abort keeps the old file");
	CHECK(entries(dir, NULL) == 1 && entries(dir, "out.bin") == 1,
	      "abort removes the temporary: only the old file is left");
	snprintf(path, sizeof path, "%s/no/such/dir/x", dir);
	CHECK(nc_out_open(&o, path) == -1 && strstr(nc_errmsg(), "no/such/dir/x"), "error names the file");
}

static void touch(const char *dir_, const char *name)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", dir_, name);
	FILE *f = fopen(p, "w");
	fputs("left behind", f);
	fclose(f);
}

static int present(const char *dir_, const char *name)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", dir_, name);
	return exists(p);
}

static void test_stale_temporaries(void)
{
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);   /* a PID that is gone */
	char dead[64], live[64], other[64], path[256];
	snprintf(dead, sizeof dead, "s.bin.tmp-%ld", (long)child);
	snprintf(live, sizeof live, "s.bin.tmp-%ld", (long)getppid());
	snprintf(other, sizeof other, "t.bin.tmp-%ld", (long)child);
	touch(dir, dead);
	touch(dir, live);
	touch(dir, other);
	touch(dir, "s.bin.tmp-x1");
	snprintf(path, sizeof path, "%s/s.bin", dir);
	struct nc_out o;
	CHECK(nc_out_open(&o, path) == 0 && nc_out_commit(&o) == 0, "write s.bin");
	CHECK(!present(dir, dead), "a temporary for the same file whose process is gone is removed");
	CHECK(present(dir, live) && present(dir, other) && present(dir, "s.bin.tmp-x1"),
	      "a live process's temporary, another file's and a name that only looks alike are kept");
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	test_errors();
	test_logfmt();
	test_parse();
	test_rng();
	test_utf8();
	test_hash();
	test_atomic();
	test_stale_temporaries();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	system(cmd);
	return TAP_DONE();
}
