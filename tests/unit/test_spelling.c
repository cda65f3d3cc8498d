/* lib/spelling.c. Run bare: how a word list is read, and the shape of the
 * examples. With --dump bee|simple WORDLIST train|test N: examples 0..N-1
 * as compact JSONL, which tests/spelling.bats compares with what nanochat's
 * own spellingbee.py made (tests/oracle/spelling_ref.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/err.h"
#include "../../lib/spelling.h"
#include "tap.h"

static int dump(char **argv)
{
	struct nc_wordlist wl, simple;
	int bee = !strcmp(argv[0], "bee"), test = !strcmp(argv[2], "test");
	unsigned long long n = strtoull(argv[3], NULL, 10);
	if (nc_wordlist_read(argv[1], &wl) != 0) {
		fprintf(stderr, "test_spelling: %s\n", nc_errmsg());
		return 1;
	}
	nc_wordlist_simple_order(&wl, &simple);
	for (unsigned long long i = 0; i < n; i++) {
		json_t *c = bee ? nc_spelling_bee(&wl, i, test) : nc_simple_spelling(&simple, i, test);
		char *s = c ? json_dumps(c, JSON_COMPACT) : NULL;
		if (!s) {
			fprintf(stderr, "test_spelling: %s\n", nc_errmsg());
			return 1;
		}
		puts(s);
		free(s);
		json_decref(c);
	}
	nc_wordlist_free(&simple);
	nc_wordlist_free(&wl);
	return 0;
}

/* The list read from a file holding exactly `text`. */
static int read_text(const char *text, struct nc_wordlist *wl, char *path)
{
	strcpy(path, "/tmp/test_spelling.XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return -2;
	close(fd);
	int rc = nc_wordlist_read(path, wl);
	unlink(path);
	return rc;
}

static int words_are(const struct nc_wordlist *wl, const char *const *want, size_t n)
{
	if (wl->n != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(wl->w[i], want[i]))
			return 0;
	return 1;
}

static void check_reading(void)
{
	struct nc_wordlist wl;
	char path[64], msg[128];
	/* What [line.strip() for line in open(path)] gives for this text. */
	static const char *const want[] = { "cat", "dog", "", "emu", "gnu", "yak", "", "ox" };
	int rc = read_text("cat\r\n  dog \t\n\nemu\rgnu\x0b\x1f\nyak\r\rox", &wl, path);
	CHECK(rc == 0 && words_are(&wl, want, 8),
	      "lines end at \\n, \\r\\n or \\r and are stripped as str.strip() does; blank lines stay");
	nc_wordlist_free(&wl);
	rc = read_text("alpha\nbeta\n", &wl, path);
	CHECK(rc == 0 && wl.n == 2, "a final newline makes no empty word");
	nc_wordlist_free(&wl);
	rc = read_text("alpha\nbeta\ncaf\xc3\xa9\n", &wl, path);
	snprintf(msg, sizeof msg, "%s:3: the word is not ASCII text", path);
	CHECK(rc == -1 && !strcmp(nc_errmsg(), msg) && wl.n == 0 && !wl.w,
	      "a non-ASCII word is an error naming the file and line, and nothing is kept");
}

static void check_simple_order(void)
{
	struct nc_wordlist wl, sh;
	char path[64];
	read_text("a\nb\nc\nd\ne\nf\ng\nh\n", &wl, path);
	nc_wordlist_simple_order(&wl, &sh);
	int moved = 0, seen = 0;
	for (size_t i = 0; i < sh.n; i++) {
		moved += strcmp(sh.w[i], wl.w[i]) != 0;
		seen |= 1 << (sh.w[i][0] - 'a');
	}
	CHECK(sh.n == 8 && seen == 0xff && moved > 0 && (void *)sh.buf != (void *)wl.buf,
	      "SimpleSpelling's order is an own copy holding the same words in another order");
	nc_wordlist_free(&sh);
	nc_wordlist_free(&wl);
}

static void check_examples(void)
{
	struct nc_wordlist wl, empty = { 0 };
	char path[64];
	read_text("strawberry\n", &wl, path);
	json_t *c = nc_spelling_bee(&wl, 0, 0);
	json_t *parts = json_object_get(json_array_get(json_object_get(c, "messages"), 1), "content");
	const char *type = json_string_value(json_object_get(json_array_get(parts, 2), "type"));
	CHECK(json_array_size(parts) == 5 && type && !strcmp(type, "python"),
	      "a SpellingBee answer is five parts, the third a python call");
	json_decref(c);
	c = nc_simple_spelling(&wl, 3, 1);
	const char *a = json_string_value(
		json_object_get(json_array_get(json_object_get(c, "messages"), 1), "content"));
	CHECK(a && !strcmp(a, "strawberry:s,t,r,a,w,b,e,r,r,y"), "SimpleSpelling spells the word out");
	json_decref(c);
	CHECK(!nc_spelling_bee(&empty, 0, 0) && !nc_simple_spelling(&empty, 0, 0),
	      "an empty word list is an error, as Python's choice of nothing is");
	nc_wordlist_free(&wl);
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "--dump"))
		return dump(argv + 2);
	check_reading();
	check_simple_order();
	check_examples();
	return TAP_DONE();
}
