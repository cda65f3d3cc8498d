/* Unit tests of the calculator tool: every line of the table that
 * tests/oracle/calc_cases.py made with Python (nanochat's use_calculator),
 * then what the table cannot say: lengths, buffers and hostile input. */
#include "../../lib/calc.h"
#include "../../lib/mem.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CASES "tests/fixtures/calc/cases.tsv"

/* Undo the table's escapes (\t, \n, \\) in place. */
static void unescape(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			*o++ = *s == 't' ? '\t' : *s == 'n' ? '\n' : *s;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}

/* "calc: EXPR gives EXPECTED", shortened, on one line and with no '#' (a
 * TAP directive). */
static void case_name(char *name, size_t size, const char *expr, const char *want)
{
	int len = (int)strlen(expr);
	snprintf(name, size, "calc: \"%.*s%s\" gives %s", len > 48 ? 40 : len, expr, len > 48 ? "..." : "", want);
	for (char *c = name; *c; c++)
		if (*c == '#' || (unsigned char)*c < ' ')
			*c = '?';
}

static void test_table(void)
{
	FILE *f = fopen(CASES, "r");
	CHECK(f != NULL, "the table of Python's answers opens (" CASES ")");
	if (!f)
		return;
	char *line = NULL, name[160], out[128];
	size_t cap = 0;
	int lines = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = 0;
		if (line[0] == '#' || len == 0)
			continue;
		char *tab = strchr(line, '\t');
		if (!tab)
			continue;
		*tab = 0;
		char *want = tab + 1, *extra = strchr(want, '\t');
		if (extra)
			*extra = 0; /* "deviation<TAB>python: ...": the reader's note */
		unescape(line);
		lines++;
		int rc = nc_calc(line, strlen(line), out, sizeof out);
		case_name(name, sizeof name, line, want);
		if (strcmp(want, "REFUSED") == 0)
			CHECK(rc == -1, name);
		else
			CHECK(rc == 0 && strcmp(out, want) == 0, name);
	}
	free(line);
	fclose(f);
	CHECK(lines >= 150, "the table holds at least 150 cases");
}

static int calc(const char *s, char *out, size_t outsz)
{
	return nc_calc(s, strlen(s), out, outsz);
}

static void test_buffers(void)
{
	char out[32];
	CHECK(nc_calc("1+2junk", 3, out, sizeof out) == 0 && strcmp(out, "3") == 0,
	      "only the n bytes given are read");
	CHECK(nc_calc("1\0+2", 4, out, sizeof out) == -1, "a NUL byte is outside the grammar");
	CHECK(calc("7", out, 2) == 0 && strcmp(out, "7") == 0, "a result that just fits with its NUL is written");
	CHECK(calc("17", out, 2) == -1, "a result one byte too long for out refuses");
	CHECK(calc("0.1+0.2", out, 19) == -1 && calc("0.1+0.2", out, 20) == 0,
	      "a float repr needs its whole length and the NUL");
	CHECK(calc("1", out, 0) == -1, "an empty out buffer refuses");
	CHECK(calc("'aaa'.count('a')", out, 1) == -1, "a count too long for out refuses");
}

static void test_outside_grammar(void)
{
	char out[64];
	const char *refused[] = {
		"__import__('os')",  "'abc'.count('a').__class__", "open('x').count('a')",
		"'a'.count('a') or 1", "[1].count(1)",            "1 if 1 else 2",
		"2**-1",              "1e5",                       "0x10",
		"1_000",              "1+1j",                      "-",
		"(",                  ")",                         "'abc'.count('a')\n",
		"1\t+1",              "\xef\xbc\x91+1",            "..",
	};
	char name[96];
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		case_name(name, sizeof name, refused[i], "REFUSED");
		CHECK(calc(refused[i], out, sizeof out) == -1, name);
	}
}

/* Python's compiler gives up on these (RecursionError); they must neither
 * recurse deeply nor take long here. */
static void test_long_input(void)
{
	size_t n = 1000000;
	char *s = nc_xmalloc(2 * n + 2), out[64];
	for (size_t i = 0; i < n; i++)
		s[i] = '-';
	strcpy(s + n, "1");
	CHECK(calc(s, out, sizeof out) == 0 && strcmp(out, "1") == 0, "a million unary minuses cancel in pairs");
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = '1';
		s[2 * i + 1] = '+';
	}
	s[2 * n - 1] = 0;
	CHECK(calc(s, out, sizeof out) == 0 && strcmp(out, "1000000") == 0, "a sum of a million ones is a loop, not a recursion");
	memset(s, '(', n);
	strcpy(s + n, "1");
	CHECK(calc(s, out, sizeof out) == -1, "a million open parentheses refuse at the 201st");
	free(s);
}

int main(void)
{
	test_table();
	test_buffers();
	test_outside_grammar();
	test_long_input();
	return TAP_DONE();
}
