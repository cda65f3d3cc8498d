/* SpellingBee and SimpleSpelling, draw for draw as nanochat's
 * tasks/spellingbee.py at 950a1dc^ makes them. */
#include "spelling.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "file.h"
#include "mem.h"
#include "pyrand.h"

/* Test examples are seeded past every train index (spellingbee.py's
 * TEST_RANDOM_SEED_OFFSET, more than the 370K words of its list). */
#define TEST_SEED_OFFSET 10000000u

static const char letters[] = "abcdefghijklmnopqrstuvwxyz";

/* nanochat's USER_MSG_TEMPLATES, in its order (the order is part of the
 * draw). Their non-ASCII letters are all lower case already, so Python's
 * template.lower() changes only A-Z here. */
static const char *const templates[] = {
	"How many {letter} are in the word {word}",
	"How many {letter} are in {word}",
	"Count the number of {letter} in {word}",
	"How many times does {letter} appear in {word}",
	"What's the count of {letter} in {word}",
	"In the word {word}, how many {letter} are there",
	"How many letter {letter} are in the word {word}",
	"Count how many {letter} appear in {word}",
	"Tell me the number of {letter} in {word}",
	"How many occurrences of {letter} are in {word}",
	"Find the count of {letter} in {word}",
	"Can you count the {letter} letters in {word}",
	"What is the frequency of {letter} in {word}",
	"How many {letter}s are in {word}",
	"How many {letter}'s are in {word}",
	"Count all the {letter} in {word}",
	"How many times is {letter} in {word}",
	"Number of {letter} in {word}",
	"Total count of {letter} in {word}",
	"How many {letter} does {word} have",
	"How many {letter} does {word} contain",
	"What's the number of {letter} in {word}",
	"{word} has how many {letter}",
	"In {word}, count the {letter}",
	"How many {letter} appear in {word}",
	"Count the {letter} in {word}",
	"Give me the count of {letter} in {word}",
	"How many instances of {letter} in {word}",
	"Show me how many {letter} are in {word}",
	"Calculate the number of {letter} in {word}",
	"¿Cuántas {letter} hay en {word}?",
	"¿Cuántas veces aparece {letter} en {word}?",
	"Cuenta las {letter} en {word}",
	"¿Cuántas letras {letter} tiene {word}?",
	"{word}中有多少个{letter}",
	"{word}里有几个{letter}",
	"数一下{word}中的{letter}",
	"{word}这个词里有多少{letter}",
	"{word}에 {letter}가 몇 개 있나요",
	"{word}에서 {letter}의 개수는",
	"{word}에 {letter}가 몇 번 나오나요",
	"{word}라는 단어에 {letter}가 몇 개",
	"Combien de {letter} dans {word}",
	"Combien de fois {letter} apparaît dans {word}",
	"Compte les {letter} dans {word}",
	"Wie viele {letter} sind in {word}",
	"Wie oft kommt {letter} in {word} vor",
	"Zähle die {letter} in {word}",
	"{word}に{letter}は何個ありますか",
	"{word}の中に{letter}がいくつ",
	"{word}に{letter}が何回出てくる",
};
enum { N_TEMPLATES = sizeof templates / sizeof templates[0] };

/* ---- the word list ---- */

/* Python's str.strip() on ASCII: space, \t, \n, \v, \f, \r and the
 * separators \x1c-\x1f. */
static int py_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* The end of the line that starts at p: the first \n or \r. */
static size_t line_length(const unsigned char *p, size_t left)
{
	size_t i = 0;
	while (i < left && p[i] != '\n' && p[i] != '\r')
		i++;
	return i;
}

/* The terminator at p, which starts with \r or \n: \r\n, \r or \n. */
static size_t newline_length(const unsigned char *p, size_t left)
{
	return p[0] == '\r' && left > 1 && p[1] == '\n' ? 2 : 1;
}

static int add_word(struct nc_wordlist *wl, size_t *cap, const unsigned char *s, size_t len,
		    char **at, const char *path, size_t lineno)
{
	while (len && py_space(s[0]))
		s++, len--;
	while (len && py_space(s[len - 1]))
		len--;
	for (size_t i = 0; i < len; i++)
		if (s[i] >= 0x80 || s[i] == 0)
			return nc_fail("%s:%zu: the word is not ASCII text", path, lineno);
	nc_xgrow(&wl->w, cap, wl->n + 1, sizeof *wl->w);
	memcpy(*at, s, len);
	(*at)[len] = 0;
	wl->w[wl->n++] = *at;
	*at += len + 1;
	return 0;
}

static int split_words(const struct nc_map *m, struct nc_wordlist *wl, const char *path)
{
	size_t cap = 0, lineno = 0, off = 0;
	char *at;
	/* Each word takes at most its line's bytes, its terminator the newline's. */
	wl->buf = at = nc_xmalloc(m->size + 1);
	while (off < m->size) {
		size_t len = line_length(m->data + off, m->size - off);
		if (add_word(wl, &cap, m->data + off, len, &at, path, ++lineno) != 0)
			return -1;
		off += len;
		if (off < m->size)
			off += newline_length(m->data + off, m->size - off);
	}	return 0;
}

int nc_wordlist_read(const char *path, struct nc_wordlist *wl)
{
	struct nc_map m;
	memset(wl, 0, sizeof *wl);
	if (nc_map_open(&m, path) != 0)
		return -1;
	int rc = split_words(&m, wl, m.path);
	nc_map_close(&m);
	if (rc != 0)
		nc_wordlist_free(wl);
	return rc;
}

void nc_wordlist_free(struct nc_wordlist *wl)
{
	free(wl->w);
	free(wl->buf);
	memset(wl, 0, sizeof *wl);
}

int nc_wordlist_simple_order(const struct nc_wordlist *in, struct nc_wordlist *out)
{
	size_t bytes = 0;
	for (size_t i = 0; i < in->n; i++)
		bytes += strlen(in->w[i]) + 1;
	out->n = in->n;
	out->w = nc_xmalloc((in->n ? in->n : 1) * sizeof *out->w);
	out->buf = nc_xmalloc(bytes ? bytes : 1);
	char *at = out->buf;
	for (size_t i = 0; i < in->n; i++) {
		size_t len = strlen(in->w[i]) + 1;
		out->w[i] = memcpy(at, in->w[i], len);
		at += len;
	}
	struct nc_pyrand r;
	nc_pyrand_seed(&r, 42);
	nc_pyrand_shuffle(&r, out->w, out->n, sizeof *out->w);
	return 0;
}

/* ---- the examples ---- */

static void put_int(struct nc_str *t, size_t v)
{
	char num[24];
	nc_str_add(t, num, (size_t)snprintf(num, sizeof num, "%zu", v));
}

/* "w:o:r:d" as ",".join(word) after "word:". */
static void put_spelled(struct nc_str *t, const char *word)
{
	nc_str_adds(t, word);
	nc_str_adds(t, ":");
	for (size_t i = 0; word[i]; i++) {
		if (i)
			nc_str_adds(t, ",");
		nc_str_add(t, word + i, 1);
	}
}

static json_t *message(const char *role, json_t *content)
{
	return json_pack("{s:s, s:o}", "role", role, "content", content);
}

static json_t *conversation(const char *user, json_t *assistant)
{
	return json_pack("{s:[o, o]}", "messages", message("user", json_string(user)),
			 message("assistant", assistant));
}

static json_t *part(const char *type, const char *text)
{
	return json_pack("{s:s, s:s}", "type", type, "text", text);
}

static uint64_t example_seed(uint64_t index, int test_split)
{
	return test_split ? TEST_SEED_OFFSET + index : index;
}

/* template.format(letter=..., word=...): every {letter} and {word}. */
static void put_formatted(struct nc_str *t, const char *tmpl, int lower, const char *letter,
			  const char *word)
{
	for (const char *p = tmpl; *p;) {
		if (!strncmp(p, "{letter}", 8)) {
			nc_str_adds(t, letter);
			p += 8;
		} else if (!strncmp(p, "{word}", 6)) {
			nc_str_adds(t, word);
			p += 6;
		} else {
			char c = lower && *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
			nc_str_add(t, &c, 1);
			p++;
		}
	}
}

/* The user's question, drawing the template, its case, the quotes and
 * the question mark in nanochat's order. */
static void bee_question(struct nc_pyrand *r, struct nc_str *t, char letter, const char *word)
{
	static const char *const quotes[] = { "", "'", "\"" };
	const char *tmpl = templates[nc_pyrand_choice(r, N_TEMPLATES)];
	int lower = nc_pyrand_random(r) < 0.3;
	const char *lq = quotes[nc_pyrand_choice(r, 3)];
	const char *wq = quotes[nc_pyrand_choice(r, 3)];
	struct nc_str l = { 0 }, w = { 0 };
	nc_str_adds(&l, lq);
	nc_str_add(&l, &letter, 1);
	nc_str_adds(&l, lq);
	nc_str_adds(&w, wq);
	nc_str_adds(&w, word);
	nc_str_adds(&w, wq);
	put_formatted(t, tmpl, lower, l.s, w.s);
	if (nc_pyrand_random(r) < 0.5)
		nc_str_adds(t, "?");
	free(l.s);
	free(w.s);
}

/* The spelled-out count: every letter numbered from 1, the hits marked
 * with the running count. Returns the count. */
static size_t bee_manual(struct nc_str *t, char letter, const char *word)
{
	char l[2] = { letter, 0 };
	size_t count = 0;
	nc_str_adds(t, "We are asked to find the number '");
	nc_str_adds(t, l);
	nc_str_adds(t, "' in the word '");
	nc_str_adds(t, word);
	nc_str_adds(t, "'. Let me try a manual approach first.\n\nFirst spell the word out:\n");
	put_spelled(t, word);
	nc_str_adds(t, "\n\nThen count the occurrences of '");
	nc_str_adds(t, l);
	nc_str_adds(t, "':\n");
	for (size_t i = 0; word[i]; i++) {
		put_int(t, i + 1);
		nc_str_adds(t, ":");
		nc_str_add(t, word + i, 1);
		if (word[i] == letter) {
			nc_str_adds(t, " hit! count=");
			put_int(t, ++count);
		}
		nc_str_adds(t, "\n");
	}
	nc_str_adds(t, "\nThis gives us ");
	put_int(t, count);
	nc_str_adds(t, ".");
	return count;
}

static json_t *bee_answer(char letter, const char *word)
{
	struct nc_str manual = { 0 }, call = { 0 }, out = { 0 }, last = { 0 };
	size_t count = bee_manual(&manual, letter, word);
	char l[2] = { letter, 0 };
	nc_str_adds(&call, "'");
	nc_str_adds(&call, word);
	nc_str_adds(&call, "'.count('");
	nc_str_adds(&call, l);
	nc_str_adds(&call, "')");
	put_int(&out, count);
	nc_str_adds(&last, "\n\nPython gives us ");
	put_int(&last, count);
	nc_str_adds(&last, ".\n\nMy final answer is:\n\n#### ");
	put_int(&last, count);
	json_t *parts = json_pack("[o, o, o, o, o]", part("text", manual.s),
				  part("text", "\n\nLet me double check this using Python:\n\n"),
				  part("python", call.s), part("python_output", out.s), part("text", last.s));
	free(manual.s);
	free(call.s);
	free(out.s);
	free(last.s);
	return parts;
}

json_t *nc_spelling_bee(const struct nc_wordlist *wl, uint64_t index, int test_split)
{
	struct nc_pyrand r;
	if (wl->n == 0)
		return nc_fail("spelling bee: the word list is empty"), NULL;
	nc_pyrand_seed(&r, example_seed(index, test_split));
	const char *word = wl->w[nc_pyrand_choice(&r, wl->n)];
	size_t len = strlen(word);
	char letter;
	/* A letter of the word (90%) or of the alphabet (10%). */
	if (nc_pyrand_random(&r) < 0.9) {
		if (len == 0)
			return nc_fail("spelling bee example %" PRIu64 ": its word is empty", index), NULL;
		letter = word[nc_pyrand_choice(&r, len)];
	} else {
		letter = letters[nc_pyrand_choice(&r, 26)];
	}
	struct nc_str q = { 0 };
	bee_question(&r, &q, letter, word);
	json_t *conv = conversation(q.s, bee_answer(letter, word));
	free(q.s);
	return conv;
}

json_t *nc_simple_spelling(const struct nc_wordlist *shuffled, uint64_t index, int test_split)
{
	struct nc_pyrand r;
	if (shuffled->n == 0)
		return nc_fail("simple spelling: the word list is empty"), NULL;
	nc_pyrand_seed(&r, example_seed(index, test_split));
	const char *word = shuffled->w[nc_pyrand_choice(&r, shuffled->n)];
	struct nc_str q = { 0 }, a = { 0 };
	nc_str_adds(&q, "Spell the word: ");
	nc_str_adds(&q, word);
	put_spelled(&a, word);
	json_t *conv = conversation(q.s, json_string(a.s));
	free(q.s);
	free(a.s);
	return conv;
}
