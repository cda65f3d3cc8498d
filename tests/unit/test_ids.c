/* Token ids as text (lib/ids.h): what is written reads back the same; ids
 * are range-checked against the vocabulary; each bad token is named with
 * its line and column. */
#include "../../lib/err.h"
#include "../../lib/file.h"
#include "../../lib/ids.h"
#include "../../lib/rng.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[] = "/tmp/nc-ids-XXXXXX";

/* Parse s with vocab; 0 and the ids in *ids, or -1 with the message. */
static int parse(const char *s, uint32_t vocab, struct nc_ids *ids)
{
	ids->n = 0;
	return nc_ids_parse_line(s, strlen(s), vocab, "f.txt:7", ids);
}

static int refused_as(const char *s, uint32_t vocab, const char *message)
{
	struct nc_ids ids = {0};
	int rc = parse(s, vocab, &ids);
	nc_ids_free(&ids);
	if (rc == 0 || strcmp(nc_errmsg(), message) != 0) {
		printf("# %s: got %s\n", s, rc == 0 ? "(accepted)" : nc_errmsg());
		return 0;
	}
	return 1;
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, 1 << 20);
	*n = f ? fread(buf, 1, (1 << 20) - 1, f) : 0;
	if (f)
		fclose(f);
	return buf;
}

static void test_round_trip(void)
{
	struct nc_rng r;
	nc_rng_seed(&r, 5);
	enum { LINES = 50, V = 70000 };
	struct nc_ids want[LINES] = {{0}};
	char path[600];
	snprintf(path, sizeof path, "%s/ids.txt", dir);
	struct nc_out out;
	int ok = nc_out_open(&out, path) == 0;
	for (int l = 0; l < LINES; l++) {
		size_t n = l == 3 ? 0 : 1 + nc_rng_below(&r, 40);   /* line 4 is empty */
		for (size_t i = 0; i < n; i++)
			nc_ids_push(&want[l], i % 7 == 0 ? V - 1 : (uint32_t)nc_rng_below(&r, V));
		if (l % 2 == 0) {
			ok &= nc_ids_write_line(&out, want[l].v, NULL, want[l].n) == 0;
		} else {
			/* a line written in two calls reads as one */
			size_t half = want[l].n / 2;
			ok &= nc_ids_write(&out, want[l].v, NULL, half, 0) == 0 &&
			      nc_ids_write(&out, want[l].v + half, NULL, want[l].n - half, half > 0) == 0 &&
			      nc_out_write(&out, "\n", 1) == 0;
		}
	}
	ok &= nc_out_commit(&out) == 0;
	size_t size;
	char *text = slurp(path, &size), *line = text;
	struct nc_ids got = {0};
	int same = 1, lines = 0;
	for (char *nl; (nl = memchr(line, '\n', size - (size_t)(line - text))); line = nl + 1, lines++) {
		got.n = 0;
		same &= lines < LINES && nc_ids_parse_line(line, (size_t)(nl - line), V, "ids.txt:1", &got) == 0 &&
			got.n == want[lines].n &&
			(got.n == 0 || memcmp(got.v, want[lines].v, got.n * sizeof *got.v) == 0);
	}
	CHECK(ok && same && lines == LINES, "ids written as lines (whole or in pieces) read back the same");
	free(text);
	nc_ids_free(&got);
	for (int l = 0; l < LINES; l++)
		nc_ids_free(&want[l]);
}

static void test_written_form(void)
{
	uint32_t ids[3] = {5, 0, 65535};
	uint8_t mask[3] = {0, 1, 1};
	char path[600];
	snprintf(path, sizeof path, "%s/form.txt", dir);
	struct nc_out out;
	nc_out_open(&out, path);
	nc_ids_write_line(&out, ids, NULL, 3);
	nc_ids_write_line(&out, ids, mask, 3);
	nc_ids_write_line(&out, ids, NULL, 0);
	nc_out_commit(&out);
	size_t n;
	char *text = slurp(path, &n);
	CHECK(strcmp(text, "5 0 65535\n5/0 0/1 65535/1\n\n") == 0,
	      "decimal ids separated by one space, id/mask with a mask, a newline after each line");
	free(text);
	snprintf(path, sizeof path, "%s/stdio.txt", dir);
	FILE *f = fopen(path, "w");
	int rc = nc_ids_fwrite_line(f, ids, 3);
	fclose(f);
	text = slurp(path, &n);
	CHECK(rc == 0 && strcmp(text, "5 0 65535\n") == 0, "the stdio writer writes the same line");
	free(text);
}

static void test_reading(void)
{
	struct nc_ids ids = {0};
	CHECK(parse("", 10, &ids) == 0 && ids.n == 0, "an empty line holds no ids");
	CHECK(parse(" \t \r", 10, &ids) == 0 && ids.n == 0, "a line of blanks holds no ids");
	CHECK(parse("\t1  2\r", 10, &ids) == 0 && ids.n == 2 && ids.v[0] == 1 && ids.v[1] == 2,
	      "spaces, tabs and a CR separate ids");
	CHECK(parse("007", 10, &ids) == 0 && ids.n == 1 && ids.v[0] == 7, "leading zeros are decimal, not octal");
	CHECK(parse("4294967295", UINT32_MAX, &ids) == -1 && parse("4294967294", UINT32_MAX, &ids) == 0 &&
	      ids.v[0] == 4294967294u, "the largest vocabulary's last id reads");
	CHECK(refused_as("1 2 10", 10, "f.txt:7:5: '10' is not a token id below 10"),
	      "an id equal to the vocabulary's size is refused at its column");
	CHECK(refused_as("9", 9, "f.txt:7:1: '9' is not a token id below 9"), "the vocabulary bounds the first id too");
	CHECK(refused_as("3 12a", 100, "f.txt:7:3: '12a' is not a token id below 100"), "digits then letters");
	CHECK(refused_as("-1", 100, "f.txt:7:1: '-1' is not a token id below 100"), "a negative number");
	CHECK(refused_as("+5", 100, "f.txt:7:1: '+5' is not a token id below 100"), "a sign");
	CHECK(refused_as("1.0", 100, "f.txt:7:1: '1.0' is not a token id below 100"), "a fraction");
	CHECK(refused_as("\t 0x1f", 100, "f.txt:7:3: '0x1f' is not a token id below 100"), "hexadecimal, after blanks");
	CHECK(refused_as("1 2/1", 100, "f.txt:7:3: '2/1' is not a token id below 100"), "a masked id is not read");
	CHECK(refused_as("4294967296", UINT32_MAX, "f.txt:7:1: '4294967296' is not a token id below 4294967295"),
	      "2^32 is refused, not wrapped");
	CHECK(refused_as("18446744073709551617", UINT32_MAX,
			 "f.txt:7:1: '18446744073709551617' is not a token id below 4294967295"),
	      "2^64 + 1 is refused, not wrapped to 1");
	CHECK(refused_as("5 123456789012345678901234567890", 10,
			 "f.txt:7:3: '123456789012345678901234...' is not a token id below 10"),
	      "a long token is shown cut short");
	nc_ids_free(&ids);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	test_reading();
	test_written_form();
	test_round_trip();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return TAP_DONE();
}
