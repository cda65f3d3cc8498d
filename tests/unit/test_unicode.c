/* Invalid UTF-8 to U+FFFD (lib/unicode.c) against Python's
 * bytes.decode("utf-8", errors="replace"): every case of a table that
 * Python wrote (tests/oracle/utf8_replace.py), decoded in one piece, one
 * byte at a time, and in random pieces, as a token stream splits it. */
#include "../../lib/rng.h"
#include "../../lib/unicode.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *table = "tests/fixtures/unicode/utf8_replace.txt";

static size_t unhex(const char *h, size_t n, unsigned char *out)
{
	size_t k = 0;
	for (size_t i = 0; i + 1 < n; i += 2) {
		unsigned v;
		sscanf(h + i, "%2x", &v);
		out[k++] = (unsigned char)v;
	}
	return k;
}

/* in[0..n) through a stream, cut where the rng says (every byte when
 * every_byte); the result in out, its length returned. */
static size_t stream(const unsigned char *in, size_t n, struct nc_rng *r, int every_byte, char **out)
{
	struct nc_utf8_stream s = {0};
	size_t len = 0, cap = 0;
	*out = NULL;
	for (size_t at = 0; at < n;) {
		size_t k = every_byte ? 1 : r ? 1 + nc_rng_below(r, 4) : n;
		k = k > n - at ? n - at : k;
		nc_utf8_feed(&s, in + at, k, out, &len, &cap);
		at += k;
	}
	nc_utf8_flush(&s, out, &len, &cap);
	return len;
}

static void test_table(void)
{
	FILE *f = fopen(table, "r");
	CHECK(f != NULL, "the table of Python's answers is there");
	if (!f)
		return;
	struct nc_rng r;
	nc_rng_seed(&r, 3);
	char line[4096];
	long cases = 0, wrong[3] = {0};
	while (fgets(line, sizeof line, f)) {
		if (line[0] == '#')
			continue;
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		unsigned char in[1024], want[2048];
		size_t n = unhex(line, (size_t)(sp - line), in);
		size_t m = unhex(sp + 1, strcspn(sp + 1, "\n"), want);
		cases++;
		for (int how = 0; how < 3; how++) {
			char *out;
			size_t len = stream(in, n, how == 2 ? &r : NULL, how == 1, &out);
			if (len != m || memcmp(out, want, m) != 0) {
				if (wrong[0] + wrong[1] + wrong[2] < 5)
					printf("# case %s", line);
				wrong[how]++;
			}
			free(out);
		}
	}
	fclose(f);
	printf("# %ld cases; wrong: %ld whole, %ld byte by byte, %ld in random pieces\n", cases,
	       wrong[0], wrong[1], wrong[2]);
	CHECK(cases >= 1000 && wrong[0] == 0, "bytes in one piece decode as Python's errors=\"replace\"");
	CHECK(cases >= 1000 && wrong[1] == 0, "fed one byte at a time, the same");
	CHECK(cases >= 1000 && wrong[2] == 0, "fed in random pieces, the same");
}

/* Where the pieces of one bad stretch begin and end: the rule itself. */
static void test_pieces(void)
{
	uint32_t cp;
	int open;
	CHECK(nc_utf8_next((const unsigned char *)"\xe2\x82" "A", 3, &cp, &open) == 2 && cp == UINT32_MAX && !open,
	      "a started character cut short is one bad piece");
	CHECK(nc_utf8_next((const unsigned char *)"\xe2\x82", 2, &cp, &open) == 2 && cp == UINT32_MAX && open,
	      "the same at the end of the bytes may still be completed");
	CHECK(nc_utf8_next((const unsigned char *)"\xed\xa0\x80", 3, &cp, &open) == 1 && cp == UINT32_MAX && !open,
	      "a surrogate's lead byte is a piece alone (ED takes 80..9F only)");
	CHECK(nc_utf8_next((const unsigned char *)"\xc0\xaf", 2, &cp, &open) == 1 && !open,
	      "an overlong lead byte starts nothing");
	CHECK(nc_utf8_next((const unsigned char *)"\xf0\x9f\x98\x80", 4, &cp, &open) == 4 && cp == 0x1F600,
	      "a whole character is its code point");
}

int main(int argc, char **argv)
{
	if (argc > 1)
		table = argv[1];
	test_pieces();
	test_table();
	return TAP_DONE();
}
