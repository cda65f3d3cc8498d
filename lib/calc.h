/* The calculator tool: what nanochat's engine (use_calculator) returns for
 * the text a model writes between <|python_start|> and <|python_end|>.
 *
 * nanochat drops every ',' and then either evaluates arithmetic with
 * Python's eval (only "0123456789*+-/.() " allowed, no "**"), or, for text
 * made of [A-Za-z0-9'"()._ ] that contains ".count(" and none of a list of
 * dangerous words, evaluates a string expression. Here both are parsed and
 * evaluated by hand, never by an interpreter.
 *
 * Arithmetic follows Python exactly: int and float literals (a decimal int
 * with leading zeros such as "007" is a syntax error), unary + and -, and
 * + - * / // with Python's precedence, types, floor rounding and float
 * repr. "()" is Python's empty tuple and "..." its Ellipsis, so "()" and
 * "()*3" give "()" and "..." gives "Ellipsis", as in nanochat.
 *
 * Deviations from Python, all refusals where Python would answer:
 *   - ints are __int128: a literal, intermediate or result outside
 *     [-2^127, 2^127) refuses, where Python has unbounded ints;
 *   - the string path evaluates only STRING.count(STRING) (plain '...' or
 *     "..." literals, spaces between tokens allowed); other forms Python
 *     would also evaluate (r'' or b'' prefixes, adjacent literals, chained
 *     methods such as 'Ab'.lower().count('a'), conditionals, a lone
 *     literal such as 'x.count(y)') refuse.
 * And one answer where Python refuses: expressions nested thousands deep,
 * which CPython's compiler rejects with RecursionError at a depth that
 * depends on its caller's stack, are evaluated. More than 200 nested
 * parentheses refuse, as CPython's tokenizer does. */
#ifndef NC_CALC_H
#define NC_CALC_H

#include <stddef.h>

/* Evaluate expr[0..n) as nanochat's calculator does; on success write
 * Python's str() of the result (NUL-terminated) into out and return 0;
 * return -1, with no message recorded and out untouched, for anything
 * outside the grammar, any evaluation error (nanochat's None), or an out
 * too short for the result. */
int nc_calc(const char *expr, size_t n, char *out, size_t outsz);

#endif
