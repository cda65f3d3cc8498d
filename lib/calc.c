/* nanochat's calculator tool (engine.py use_calculator), without Python:
 * a tokenizer and recursive-descent parser for the arithmetic subset that
 * its filter lets through, Python's int/float semantics and float repr,
 * and the one string form worth supporting, STRING.count(STRING). */
#include "calc.h"
#include "mem.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef __int128 i128;
typedef unsigned __int128 u128;

#define I128_MAX ((i128)(~(u128)0 >> 1))
#define I128_MIN (-I128_MAX - 1)

/* CPython's tokenizer refuses more open parentheses than this (MAXLEVEL). */
#define MAX_PAREN_DEPTH 200

/* The characters of nanochat's two paths, and the words its string path
 * refuses (compared case-insensitively). */
static const char MATH_CHARS[] = "0123456789*+-/.() ";
static const char STRING_CHARS[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'\"()._ ";
static const char *const DANGEROUS[] = {
	"__",   "import", "exec",    "eval",    "compile", "open",    "file",    "input", "raw_input",
	"globals", "locals", "vars", "dir", "getattr", "setattr", "delattr", "hasattr",
};

/* ---- values and Python's arithmetic on them ---- */

enum kind { V_INT, V_FLOAT, V_TUPLE, V_ELLIPSIS };

struct val {
	enum kind kind;
	i128 i;
	double f;
};

static int bit_length(u128 m)
{
	uint64_t hi = (uint64_t)(m >> 64), lo = (uint64_t)m;
	if (hi)
		return 128 - __builtin_clzll(hi);
	return lo ? 64 - __builtin_clzll(lo) : 0;
}

static u128 magnitude(i128 v)
{
	return v < 0 ? -(u128)v : (u128)v;
}

/* int -> float, correctly rounded (half to even) as PyLong_AsDouble: keep
 * the top 64 bits with the rest folded into a sticky low bit, and let the
 * 64-bit conversion round. */
static double int_to_double(i128 v)
{
	u128 m = magnitude(v);
	int len = bit_length(m), shift = len > 64 ? len - 64 : 0;
	uint64_t top = (uint64_t)(m >> shift);
	if (shift && (m & (((u128)1 << shift) - 1)))
		top |= 1;
	double d = ldexp((double)top, shift);
	return v < 0 ? -d : d;
}

/* a / b for ints, correctly rounded as CPython's long_true_divide. Small
 * operands are exact doubles, so one division rounds once. Otherwise long
 * division yields a 64-bit quotient q (top bit set), a sticky bit for what
 * is left, and the binary exponent of q's last bit. */
static int int_true_divide(i128 a, i128 b, double *out)
{
	if (b == 0)
		return -1;
	const i128 exact = (i128)1 << 53;
	if (a >= -exact && a <= exact && b >= -exact && b <= exact) {
		*out = (double)a / (double)b;
		return 0;
	}
	bool negate = (a < 0) != (b < 0);
	u128 ma = magnitude(a), mb = magnitude(b);
	if (ma == 0) {
		*out = negate ? -0.0 : 0.0;
		return 0;
	}
	int la = bit_length(ma), k = 0;
	u128 r = 0;
	uint64_t q = 0;
	while (q < (uint64_t)1 << 63) {
		unsigned bit = k < la ? (unsigned)(ma >> (la - 1 - k)) & 1 : 0;
		r = r << 1 | bit; /* r < mb <= 2^127: no overflow */
		q <<= 1;
		if (r >= mb) {
			r -= mb;
			q |= 1;
		}
		k++;
	}
	bool rest = r != 0 || (k < la && (ma & (((u128)1 << (la - k)) - 1)));
	double d = ldexp((double)(q | rest), la - k);
	*out = negate ? -d : d;
	return 0;
}

static int int_floor_divide(i128 a, i128 b, i128 *out)
{
	if (b == 0 || (a == I128_MIN && b == -1))
		return -1;
	i128 q = a / b;
	if (a % b != 0 && (a < 0) != (b < 0))
		q--;
	*out = q;
	return 0;
}

/* CPython's float floor division: from fmod, so that a == b*div + mod
 * with mod of b's sign, then snapped to the nearest integral value; a zero
 * quotient takes the sign of a/b. */
static double float_floor_divide(double a, double b)
{
	double mod = fmod(a, b);
	double div = (a - mod) / b;
	if (mod != 0 && (b < 0) != (mod < 0))
		div -= 1.0;
	if (div == 0)
		return copysign(0.0, a / b);
	double whole = floor(div);
	if (div - whole > 0.5)
		whole += 1.0;
	return whole;
}

/* Sequence repetition needs a count that fits Py_ssize_t. */
static bool fits_ssize(i128 v)
{
	return v >= INT64_MIN && v <= INT64_MAX;
}

/* The tuple "()" and Ellipsis: () + () and () * int give (); anything else
 * is a TypeError. */
static int object_binop(char op, const struct val *a, const struct val *b, struct val *out)
{
	if (op == '+' && a->kind == V_TUPLE && b->kind == V_TUPLE) {
		*out = *a;
		return 0;
	}
	if (op == '*' && ((a->kind == V_TUPLE && b->kind == V_INT && fits_ssize(b->i)) ||
			  (b->kind == V_TUPLE && a->kind == V_INT && fits_ssize(a->i)))) {
		out->kind = V_TUPLE;
		return 0;
	}
	return -1;
}

/* op is '+', '-', '*', '/' or 'f' (floor division, "//"). The operands
 * come by value because out is often the left operand, and GCC 12 at -O2
 * reports overflow from __builtin_mul_overflow on __int128 (17 times a
 * 20-digit number) when its result aliases an operand. */
static int binop(char op, struct val a, struct val b, struct val *out)
{
	if (a.kind > V_FLOAT || b.kind > V_FLOAT)
		return object_binop(op, &a, &b, out);
	if (a.kind == V_INT && b.kind == V_INT) {
		out->kind = V_INT;
		switch (op) {
		case '+': return __builtin_add_overflow(a.i, b.i, &out->i) ? -1 : 0;
		case '-': return __builtin_sub_overflow(a.i, b.i, &out->i) ? -1 : 0;
		case '*': return __builtin_mul_overflow(a.i, b.i, &out->i) ? -1 : 0;
		case 'f': return int_floor_divide(a.i, b.i, &out->i);
		}
		out->kind = V_FLOAT;
		return int_true_divide(a.i, b.i, &out->f);
	}
	double x = a.kind == V_INT ? int_to_double(a.i) : a.f;
	double y = b.kind == V_INT ? int_to_double(b.i) : b.f;
	out->kind = V_FLOAT;
	switch (op) {
	case '+': out->f = x + y; return 0;
	case '-': out->f = x - y; return 0;
	case '*': out->f = x * y; return 0;
	}
	if (y == 0)
		return -1; /* ZeroDivisionError */
	out->f = op == '/' ? x / y : float_floor_divide(x, y);
	return 0;
}

/* ---- tokens, as CPython's tokenizer splits this alphabet ---- */

enum tok { T_END, T_INT, T_FLOAT, T_ELLIPSIS, T_OP, T_LPAREN, T_RPAREN, T_BAD };

struct parser {
	const char *s; /* NUL-terminated */
	size_t n, pos;
	enum tok tok;
	char op;            /* T_OP: '+', '-', '*', '/' or 'f' for "//" */
	size_t start, len;  /* T_INT, T_FLOAT: the literal */
	int depth;          /* open parentheses */
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A number is digits with at most one '.', so "1..5" is "1." then ".5". */
static void lex_number(struct parser *p)
{
	p->start = p->pos;
	p->tok = T_INT;
	while (is_digit(p->s[p->pos]))
		p->pos++;
	if (p->s[p->pos] == '.') {
		p->tok = T_FLOAT;
		p->pos++;
		while (is_digit(p->s[p->pos]))
			p->pos++;
	}
	p->len = p->pos - p->start;
}

static void next(struct parser *p)
{
	const char *s = p->s;
	while (s[p->pos] == ' ')
		p->pos++;
	char c = s[p->pos];
	if (p->pos >= p->n) {
		p->tok = T_END;
	} else if (is_digit(c) || (c == '.' && is_digit(s[p->pos + 1]))) {
		lex_number(p);
	} else if (c == '.' && s[p->pos + 1] == '.' && s[p->pos + 2] == '.') {
		p->tok = T_ELLIPSIS;
		p->pos += 3;
	} else if (c == '(' || c == ')') {
		p->tok = c == '(' ? T_LPAREN : T_RPAREN;
		p->pos++;
	} else if (c == '+' || c == '-' || c == '*' || c == '/') {
		p->tok = T_OP;
		p->op = c;
		p->pos++;
		if (c == '/' && s[p->pos] == '/') {
			p->op = 'f';
			p->pos++;
		}
	} else {
		p->tok = T_BAD; /* a lone '.', or "**" (filtered out before) */
	}
}

/* Python refuses "01" ("leading zeros in decimal integer literals"), not
 * "00"; an int literal beyond __int128 is our one limit. */
static int int_literal(const char *s, size_t len, i128 *out)
{
	u128 v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[0] == '0' && s[i] != '0')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > ((u128)I128_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = (i128)v;
	return 0;
}

/* "12.5" is read as "125e-1": correctly rounded like Python's literal,
 * and no locale's decimal point involved. */
static double float_literal(const char *s, size_t len)
{
	char *buf = nc_xmalloc(len + 32), *o = buf;
	int frac = 0;
	bool point = false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			point = true;
			continue;
		}
		*o++ = s[i];
		frac += point;
	}
	sprintf(o, "e-%d", frac);
	double d = strtod(buf, NULL);
	free(buf);
	return d;
}

static int parse_expr(struct parser *p, struct val *v);

static int parse_atom(struct parser *p, struct val *v)
{
	switch (p->tok) {
	case T_INT:
		v->kind = V_INT;
		if (int_literal(p->s + p->start, p->len, &v->i))
			return -1;
		break;
	case T_FLOAT:
		v->kind = V_FLOAT;
		v->f = float_literal(p->s + p->start, p->len);
		break;
	case T_ELLIPSIS:
		v->kind = V_ELLIPSIS;
		break;
	case T_LPAREN:
		if (p->depth >= MAX_PAREN_DEPTH)
			return -1;
		p->depth++;
		next(p);
		if (p->tok == T_RPAREN) {
			v->kind = V_TUPLE;
		} else if (parse_expr(p, v) || p->tok != T_RPAREN) {
			return -1;
		}
		p->depth--;
		break;
	default:
		return -1;
	}
	next(p);
	return 0;
}

/* Unary signs, applied from the inside out: only their parity matters for
 * numbers, and any sign on () or Ellipsis is a TypeError. A call such as
 * "2(3)" is valid syntax but nothing here is callable. */
static int parse_factor(struct parser *p, struct val *v)
{
	size_t signs = 0, minuses = 0;
	while (p->tok == T_OP && (p->op == '+' || p->op == '-')) {
		signs++;
		minuses += p->op == '-';
		next(p);
	}
	if (parse_atom(p, v) || p->tok == T_LPAREN)
		return -1;
	if (signs && v->kind > V_FLOAT)
		return -1;
	if (minuses % 2 == 0)
		return 0;
	if (v->kind == V_FLOAT) {
		v->f = -v->f;
		return 0;
	}
	if (v->i == I128_MIN)
		return -1;
	v->i = -v->i;
	return 0;
}

static int parse_term(struct parser *p, struct val *v)
{
	if (parse_factor(p, v))
		return -1;
	while (p->tok == T_OP && p->op != '+' && p->op != '-') {
		char op = p->op;
		struct val rhs;
		next(p);
		if (parse_factor(p, &rhs) || binop(op, *v, rhs, v))
			return -1;
	}
	return 0;
}

static int parse_expr(struct parser *p, struct val *v)
{
	if (parse_term(p, v))
		return -1;
	while (p->tok == T_OP && (p->op == '+' || p->op == '-')) {
		char op = p->op;
		struct val rhs;
		next(p);
		if (parse_term(p, &rhs) || binop(op, *v, rhs, v))
			return -1;
	}
	return 0;
}

/* ---- Python's str() of the result ---- */

static int put(char *out, size_t outsz, const char *s)
{
	size_t len = strlen(s);
	if (len >= outsz)
		return -1;
	memcpy(out, s, len + 1);
	return 0;
}

static void format_int(i128 v, char buf[48])
{
	char tmp[48];
	int n = 0;
	u128 m = magnitude(v);
	do {
		tmp[n++] = (char)('0' + (int)(m % 10));
		m /= 10;
	} while (m);
	char *o = buf;
	if (v < 0)
		*o++ = '-';
	while (n)
		*o++ = tmp[--n];
	*o = 0;
}

/* The double nearest m * 10^scale, read as Python reads a literal (no
 * decimal point, so no locale involved). */
static double decimal_value(uint64_t m, int scale)
{
	char buf[48];
	snprintf(buf, sizeof buf, "%llue%d", (unsigned long long)m, scale);
	return strtod(buf, NULL);
}

/* Shortest decimal m * 10^scale that reads back as x > 0, nearest x among
 * equals, as Python's repr (dtoa mode 0). At each length the nearest
 * decimal is printf's; if it misses, the only other candidate is its
 * neighbour on the far side of x, which matters where x is a power of two
 * and the gap below it is half the gap above. 17 digits always read back. */
static void shortest(double x, uint64_t *m_out, int *scale_out)
{
	uint64_t pow10 = 1; /* 10^(p-1), the least p-digit mantissa */
	for (int p = 1;; p++, pow10 *= 10) {
		char buf[48], *s = buf;
		uint64_t m = 0;
		snprintf(buf, sizeof buf, "%.*e", p - 1, x);
		for (; *s != 'e'; s++)
			if (is_digit(*s))
				m = m * 10 + (uint64_t)(*s - '0');
		int scale = atoi(s + 1) - (p - 1);
		double y = decimal_value(m, scale);
		if (y != x && p < 17) {
			if (y < x) {
				m++;
			} else if (m > pow10) {
				m--;
			} else { /* below 10^k the p-digit grid is ten times finer */
				m = pow10 * 10 - 1;
				scale--;
			}
			y = decimal_value(m, scale);
		}
		if (y == x || p == 17) {
			*m_out = m;
			*scale_out = scale;
			return;
		}
	}
}

/* Python's float repr: shortest round-trip digits d.ddd x 10^e, written
 * positionally for -4 <= e < 16 (always with a digit after the point) and
 * as "1.5e-05" / "1e+16" otherwise. */
static void format_float(double x, char buf[48])
{
	if (isnan(x)) {
		strcpy(buf, "nan");
		return;
	}
	if (isinf(x)) {
		strcpy(buf, x < 0 ? "-inf" : "inf");
		return;
	}
	if (x == 0) {
		strcpy(buf, signbit(x) ? "-0.0" : "0.0");
		return;
	}
	char *o = buf;
	if (x < 0)
		*o++ = '-';
	uint64_t m;
	int scale;
	shortest(fabs(x), &m, &scale);
	while (m % 10 == 0) {
		m /= 10;
		scale++;
	}
	char digits[24];
	int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)m);
	int e = scale + nd - 1;
	if (e < -4 || e >= 16) {
		*o++ = digits[0];
		if (nd > 1)
			o += sprintf(o, ".%s", digits + 1);
		sprintf(o, "e%c%02d", e < 0 ? '-' : '+', abs(e));
	} else if (e < 0) {
		sprintf(o, "0.%.*s%s", -e - 1, "0000", digits);
	} else if (nd <= e + 1) {
		sprintf(o, "%s%.*s.0", digits, e + 1 - nd, "0000000000000000");
	} else {
		sprintf(o, "%.*s.%s", e + 1, digits, digits + e + 1);
	}
}

static int eval_math(const char *s, size_t n, char *out, size_t outsz)
{
	if (strstr(s, "**"))
		return -1;
	struct parser p = {.s = s, .n = n};
	struct val v;
	next(&p);
	if (parse_expr(&p, &v) || p.tok != T_END)
		return -1;
	char buf[48];
	switch (v.kind) {
	case V_INT: format_int(v.i, buf); break;
	case V_FLOAT: format_float(v.f, buf); break;
	case V_TUPLE: strcpy(buf, "()"); break;
	case V_ELLIPSIS: strcpy(buf, "Ellipsis"); break;
	}
	return put(out, outsz, buf);
}

/* ---- the string path: STRING.count(STRING) ---- */

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

static bool contains_nocase(const char *s, const char *word)
{
	size_t wl = strlen(word);
	for (; *s; s++) {
		size_t i = 0;
		while (i < wl && lower(s[i]) == word[i])
			i++;
		if (i == wl)
			return true;
	}
	return false;
}

static void skip_spaces(const char **s)
{
	while (**s == ' ')
		(*s)++;
}

/* A plain '...' or "..." literal; a triple-quoted one is not ours. */
static int string_literal(const char **s, const char **body, size_t *len)
{
	char q = **s;
	if ((q != '\'' && q != '"') || ((*s)[1] == q && (*s)[2] == q))
		return -1;
	const char *end = strchr(*s + 1, q);
	if (!end)
		return -1;
	*body = *s + 1;
	*len = (size_t)(end - *body);
	*s = end + 1;
	return 0;
}

static bool expect(const char **s, const char *word)
{
	size_t len = strlen(word);
	skip_spaces(s);
	if (strncmp(*s, word, len))
		return false;
	*s += len;
	return true;
}

/* str.count: non-overlapping occurrences; "" occurs len+1 times. */
static size_t count_occurrences(const char *hay, size_t hn, const char *needle, size_t nn)
{
	if (nn == 0)
		return hn + 1;
	size_t count = 0;
	for (size_t i = 0; i + nn <= hn;) {
		if (memcmp(hay + i, needle, nn) == 0) {
			count++;
			i += nn;
		} else {
			i++;
		}
	}
	return count;
}

static int eval_count(const char *s, char *out, size_t outsz)
{
	for (size_t i = 0; i < sizeof DANGEROUS / sizeof *DANGEROUS; i++)
		if (contains_nocase(s, DANGEROUS[i]))
			return -1;
	if (!strstr(s, ".count("))
		return -1;
	const char *hay, *needle;
	size_t hn, nn;
	skip_spaces(&s);
	if (string_literal(&s, &hay, &hn) || !expect(&s, ".") || !expect(&s, "count"))
		return -1;
	if (is_digit(*s) || *s == '_' || (lower(*s) >= 'a' && lower(*s) <= 'z'))
		return -1; /* a longer name, "counter" */
	if (!expect(&s, "("))
		return -1;
	skip_spaces(&s);
	if (string_literal(&s, &needle, &nn) || !expect(&s, ")"))
		return -1;
	skip_spaces(&s);
	if (*s)
		return -1;
	char buf[32];
	snprintf(buf, sizeof buf, "%zu", count_occurrences(hay, hn, needle, nn));
	return put(out, outsz, buf);
}

int nc_calc(const char *expr, size_t n, char *out, size_t outsz)
{
	char *s = nc_xmalloc(n + 1);
	size_t len = 0;
	bool math = true, strings = true;
	for (size_t i = 0; i < n; i++) {
		char c = expr[i];
		if (c == ',')
			continue;
		math = math && c && strchr(MATH_CHARS, c);
		strings = strings && c && strchr(STRING_CHARS, c);
		s[len++] = c;
	}
	s[len] = 0;
	int rc = math ? eval_math(s, len, out, outsz) : strings ? eval_count(s, out, outsz) : -1;
	free(s);
	return rc;
}
