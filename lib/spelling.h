/* nanochat's SpellingBee and SimpleSpelling tasks: conversations made from
 * a word list, each example from random.Random(its index), drawn exactly
 * as nanochat draws them. The reference is nanochat's tasks/spellingbee.py
 * at commit 950a1dc^ (the last one that has it). */
#ifndef NC_SPELLING_H
#define NC_SPELLING_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A word list: n words (NUL-terminated, in buf), in file order. */
struct nc_wordlist {
	char **w;
	size_t n;
	char *buf;
};

/* Read a word list as nanochat does: every line (a line ends at \n, \r\n
 * or \r, as Python's universal newlines do), stripped of whitespace at
 * both ends, blank lines kept as empty words. A word with a byte outside
 * ASCII is an error naming path:line. Returns 0 or -1. */
int nc_wordlist_read(const char *path, struct nc_wordlist *wl);
void nc_wordlist_free(struct nc_wordlist *wl);

/* SimpleSpelling's order: a copy of the list shuffled with
 * random.Random(42). Returns 0 (out owns its words). */
int nc_wordlist_simple_order(const struct nc_wordlist *in, struct nc_wordlist *out);

/* Example `index` of the train split (test_split 0) or the test split
 * (1), in nanochat's shape: {"messages": [user, assistant]}, the
 * assistant's content a list of parts for SpellingBee and a string for
 * SimpleSpelling (whose list is the one nc_wordlist_simple_order gives).
 * NULL (with a message) where nanochat would raise: an empty word list,
 * or an empty word whose letter SpellingBee must pick from it. */
json_t *nc_spelling_bee(const struct nc_wordlist *wl, uint64_t index, int test_split);
json_t *nc_simple_spelling(const struct nc_wordlist *shuffled, uint64_t index, int test_split);

#endif
