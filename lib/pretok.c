#include "pretok.h"
#include "unicode.h"

#include <stdint.h>
#include <string.h>

static const struct {
	const char *name, *pattern;
	struct nc_splitter sp;
} known[] = {
	{"nanochat", NC_PATTERN_NANOCHAT, {0, 2, 0}},
	{"gpt4", NC_PATTERN_GPT4, {0, 3, 0}},
	{"cl100k", NC_PATTERN_CL100K, {0, 3, 1}},
	{"gpt2", NC_PATTERN_GPT2, {1, 0, 0}},
};

int nc_splitter_for(const char *pattern, struct nc_splitter *sp)
{
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcmp(pattern, known[i].pattern) == 0 || strcmp(pattern, known[i].name) == 0) {
			*sp = known[i].sp;
			return 0;
		}
	return -1;
}

const char *nc_pattern_named(const char *name)
{
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcmp(name, known[i].name) == 0)
			return known[i].pattern;
	return NULL;
}

/* One decoded character: its class, length and code point. */
struct ch {
	int cls;
	size_t len;
	uint32_t cp;
};

static const unsigned char ascii_class[128] = {
	/* \t \n \v \f \r are spaces */
	[9] = UC_SPACE, [10] = UC_SPACE, [11] = UC_SPACE, [12] = UC_SPACE, [13] = UC_SPACE,
	[' '] = UC_SPACE,
	['0'] = UC_NUMBER, ['1'] = UC_NUMBER, ['2'] = UC_NUMBER, ['3'] = UC_NUMBER, ['4'] = UC_NUMBER,
	['5'] = UC_NUMBER, ['6'] = UC_NUMBER, ['7'] = UC_NUMBER, ['8'] = UC_NUMBER, ['9'] = UC_NUMBER,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
	['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
	['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
	['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
	['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

static inline struct ch at(const unsigned char *s, size_t n, size_t i)
{
	struct ch c;
	if (s[i] < 0x80) {
		c.cp = s[i];
		c.len = 1;
		c.cls = ascii_class[s[i]];
	} else {
		c.len = nc_utf8_decode(s + i, n - i, &c.cp);
		c.cls = nc_uclass_of(c.cp);
	}
	return c;
}

static inline int is_crlf(uint32_t cp)
{
	return cp == '\r' || cp == '\n';
}

/* Position after a run of characters of class cls starting at i. */
static inline size_t run_of(const unsigned char *s, size_t n, size_t i, int cls)
{
	while (i < n) {
		struct ch c = at(s, n, i);
		if (c.cls != cls)
			break;
		i += c.len;
	}
	return i;
}

/* "'(?i:[sdmt]|ll|ve|re)" (fold = 1) or "'(?:[sdmt]|ll|ve|re)" at s[i] ==
 * '\''; returns the match end or 0. Under (?i), s also matches U+017F (long
 * s), as it does in the regex engines (simple case folding). */
static size_t contraction(const unsigned char *s, size_t n, size_t i, int fold)
{
	if (i + 1 >= n)
		return 0;
	unsigned a = s[i + 1], b = i + 2 < n ? s[i + 2] : 0;
	if (fold) {
		if (a == 0xC5 && b == 0xBF)
			return i + 3;
		a |= (a >= 'A' && a <= 'Z') ? 0x20 : 0;
		b |= (b >= 'A' && b <= 'Z') ? 0x20 : 0;
	}
	if (a == 's' || a == 'd' || a == 'm' || a == 't')
		return i + 2;
	if ((a == 'l' && b == 'l') || (a == 'v' && b == 'e') || (a == 'r' && b == 'e'))
		return i + 3;
	return 0;
}

/* The whitespace alternatives at a run of whitespace starting at pos:
 * "\s*[\r\n]|\s+(?!\S)|\s+" (with "\s++$" first when end_first), and for
 * GPT-2 "\s++$|\s+(?!\S)|\s". */
static size_t whitespace(const unsigned char *s, size_t n, size_t pos, int crlf_alt, int end_first)
{
	size_t i = pos, last_start = pos, after_crlf = 0, nchars = 0;
	while (i < n) {
		struct ch c = at(s, n, i);
		if (c.cls != UC_SPACE)
			break;
		last_start = i;
		i += c.len;
		nchars++;
		if (is_crlf(c.cp))
			after_crlf = i;
	}
	if (end_first && i == n)
		return n;
	if (crlf_alt && after_crlf)
		return after_crlf;
	if (i == n)
		return n;
	if (nchars >= 2)
		return last_start;
	return i;
}

static size_t next_gpt4(const struct nc_splitter *sp, const unsigned char *s, size_t n, size_t pos)
{
	struct ch c = at(s, n, pos);
	size_t e;

	if (c.cp == '\'' && (e = contraction(s, n, pos, 1)))
		return e;
	if (c.cls == UC_LETTER)
		return run_of(s, n, pos + c.len, UC_LETTER);
	if (c.cls != UC_NUMBER && !is_crlf(c.cp) && pos + c.len < n) {
		struct ch d = at(s, n, pos + c.len);
		if (d.cls == UC_LETTER)
			return run_of(s, n, pos + c.len + d.len, UC_LETTER);
	}
	if (c.cls == UC_NUMBER) {
		e = pos + c.len;
		for (int k = 1; k < sp->max_digits && e < n; k++) {
			struct ch d = at(s, n, e);
			if (d.cls != UC_NUMBER)
				break;
			e += d.len;
		}
		return e;
	}
	size_t p = pos;
	if (c.cp == ' ' && pos + 1 < n && at(s, n, pos + 1).cls == UC_OTHER)
		p = pos + 1;
	if (p != pos || c.cls == UC_OTHER) {
		e = run_of(s, n, p, UC_OTHER);
		while (e < n && (s[e] == '\r' || s[e] == '\n'))
			e++;
		return e;
	}
	return whitespace(s, n, pos, 1, sp->ws_end_first);
}

static size_t next_gpt2(const unsigned char *s, size_t n, size_t pos)
{
	struct ch c = at(s, n, pos);
	size_t e;

	if (c.cp == '\'' && (e = contraction(s, n, pos, 0)))
		return e;
	size_t p = pos;
	struct ch d = c;
	if (c.cp == ' ' && pos + 1 < n) {
		d = at(s, n, pos + 1);
		if (d.cls != UC_SPACE)
			p = pos + 1;
		else
			d = c;
	}
	if (d.cls != UC_SPACE)
		return run_of(s, n, p + d.len, d.cls);
	return whitespace(s, n, pos, 0, 1);
}

size_t nc_split_next(const struct nc_splitter *sp, const unsigned char *s, size_t n, size_t pos)
{
	return sp->gpt2 ? next_gpt2(s, n, pos) : next_gpt4(sp, s, n, pos);
}
