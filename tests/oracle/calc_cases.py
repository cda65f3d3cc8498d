#!/usr/bin/env python3
"""Oracle: what nanochat's calculator tool (engine.py use_calculator) returns
for a list of expressions, as the table tests/fixtures/calc/cases.tsv that
tests/unit/test_calc.c checks nc_calc against.

usage: calc_cases.py > tests/fixtures/calc/cases.tsv

Each line is "expr<TAB>expected": expected is Python's str() of the result,
or REFUSED where nanochat's calculator returns None. A line with two more
columns, "deviation<TAB>python: X", is a documented difference (lib/calc.h):
expected is what nc_calc gives, X what Python gives. Tabs, newlines and
backslashes in expressions are written as \\t, \\n and \\\\.
"""
import sys
import warnings

MATH_CHARS = set("0123456789*+-/.() ")
STRING_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'\"()._ ")
DANGEROUS = ["__", "import", "exec", "eval", "compile", "open", "file", "input",
             "raw_input", "globals", "locals", "vars", "dir", "getattr", "setattr",
             "delattr", "hasattr"]


def python_eval(expr):
    """eval as nanochat runs it: no builtins, SyntaxWarnings silenced, any
    exception is None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            return eval(expr, {"__builtins__": {}}, {})
    except Exception:
        return None


def nanochat_calculator(expr):
    """The filters of nanochat's use_calculator, then eval."""
    expr = expr.replace(",", "")
    if all(c in MATH_CHARS for c in expr):
        return None if "**" in expr else python_eval(expr)
    if not all(c in STRING_CHARS for c in expr):
        return None
    if any(word in expr.lower() for word in DANGEROUS):
        return None
    if ".count(" not in expr:
        return None
    return python_eval(expr)


BIG = "1" + "0" * 309 + "."          # a float literal beyond DBL_MAX: inf
I128_MAX = str(2**127 - 1)
I128_MIN = "(-" + I128_MAX + "-1)"

CASES = [
    # every operator, and Python's precedence and left associativity
    "1+2", "7-10", "6*7", "7/2", "7//2", "2+3*4", "(2+3)*4", "2*3+4", "10-4-3",
    "100/10/5", "2*3//4", "7//2*2", "1+2*3-4/5", "2-3*-4", "(1+2)*(3+4)", "((7))",
    # unary chains
    "--5", "-+-5", "- - 5", "+5", "-(-(3))", "---2.5", "-0", "-0.0", "+-0.0",
    "-(0.0)", "0*-1.0", "-5//2", "2--3", "1+-+-1", "-" * 999 + "1",
    # floor division: signs, ints and floats
    "-7//2", "7//-2", "-7//-2", "7.0//2", "-7.0//2", "7//-2.0", "-7.5//2",
    "0.0//-3", "-0.0//3", "0//-3", "1//-1.", "0.7//0.1", "1//0.1", "5.5//0.5",
    "-1//" + BIG, "1//" + BIG, BIG + "//1",
    # true division and the shortest repr
    "0.1+0.2", "1/3", "2/3", "10/4", "1/30000", "1/7", "22/7", "100/3", "0/-5",
    "4/2", "1/3*3", "0.1*3", "1.1*1.1", "3/1024", "1/1125899906842624",
    "10000000000000000/1", "1234567890123456/1", "12345678901234567/1",
    "9999999999999998.0", "10000000000000000.0", "0.0001", "0.00001", "0.000015",
    "123456789.123456789", "100000000000000000000.0*1", "-25000000000000000000.0",
    "1125899906842624+0.25", "1/100000000000000000000",
    # division of ints beyond 2^53: correctly rounded
    "9007199254740993/1", "18014398509481987/3", I128_MAX + "/3",
    "-" + I128_MAX + "/" + str(2**127 - 2), "1/" + I128_MAX,
    "123456789012345678901234567890/987654321",
    # mixed int and float: the int rounded to nearest
    "9007199254740993*1.0", "9007199254740995+0.0", I128_MAX + "*1.0",
    "3*0.5", "1+1.0", "2-0.5",
    # big ints within __int128
    "9223372036854775807+1", "9223372036854775807*2", "4294967296*4294967296",
    "-9223372036854775808*9223372036854775808", "12345678901234567890*98765432109876543",
    I128_MAX, "-" + I128_MAX + "-1", "--" + I128_MIN, I128_MAX + "//-1",
    "-" + I128_MAX + "//7",
    # inf and nan as Python prints them
    BIG, "-" + BIG, BIG + "-" + BIG,
    # division by zero
    "2/0", "2//0", "2.0/0", "2/0.0", "0/0", "2.5//0.0", "0.0/0.0", "1/(1-1)",
    # int and float literal forms
    "1.5", ".5", "5.", "00.5", "01.5", "0.", "0", "00", "000", "007", "01",
    "0 1", "1.2.3", "1..5", "1. 5", ". 5", ".", "1.5e3", "0.50",
    # commas are removed first
    "1,000*3", "1,000,000/4", "(1,)", "1,2", ",", "1,,0", "1,000.5+1",
    # whitespace
    " 1 + 2 ", "  7 //  2", "1 2", "   ", "", "1 / / 2", "1 //2", "( 3 )",
    # outside the grammar
    "2**3", "2* *3", "2(3)", "(2)(3)", "2 (3)", "()()", "(1 2)", "(1", "1)",
    "2+", "*2", "/2", "1+*2", "1///2", "2^3", "2 % 3", "sqrt(4)", "1;2", "x",
    "2\u00d73", "abs(-1)", "(*())",
    # the empty tuple and Ellipsis are values in Python
    "()", "( )", "(())", "()+()", "()*3", "3*()", "()*-1", "()*0",
    "()*9223372036854775807", "()*-9223372036854775808", "()*9223372036854775808",
    "()*1.5", "-()", "()+1", "()-()", "...", "(...)", "...+1", "....", "1...",
    # nesting: CPython's tokenizer allows 200 open parentheses
    "(" * 200 + "1" + ")" * 200, "(" * 201 + "1" + ")" * 201,
    # the string path: STRING.count(STRING)
    "'strawberry'.count('r')", '"banana".count("an")', "'aaa'.count('')",
    "'aaaa'.count('aa')", "''.count('')", "'abc'.count('abcd')",
    "'abc'.count(\"a\")", "\"it's\".count(\"'\")", "  'a b a'.count('a')  ",
    "'hello world'.count( 'o' )", "'abc' .count('b')", "'a_b'.count('_')",
    "'Mississippi'.count('ss')", "'a,b,c'.count(',')",
    # refused by nanochat's filters or by Python
    "'abc'.count ('b')", " 'hello world' . count ( 'o' ) ", "'import'.count('i')",
    "'Direction'.count('i')", "'EVAL'.count('E')", "'a__b'.count('_')",
    "'profile'.count('f')", "'abc'.upper()", "'abc'.count('a') + 1",
    "'abc'.count('a'", "'abc'.count(x)", "'abc'.counter('a')",
    "'abc'.count('a')('b')", "'x'.count('x')x", "'abc'.count('a' 'b' 1)",
    "'abc'.count('a', 1)", "'abc'.count('a') # hi", "len('abc')",
]

# Documented deviations: (expression, what nc_calc gives).
DEVIATIONS = [
    # ints beyond __int128
    ("18446744073709551616*18446744073709551616", "REFUSED"),
    ("99999999999999999999*99999999999999999999", "REFUSED"),
    (I128_MAX + "+1", "REFUSED"),
    (str(2**127), "REFUSED"),
    ("-" + str(2**127), "REFUSED"),
    (I128_MIN + "//-1", "REFUSED"),
    ("100000000000000000000000000000000000000000*0", "REFUSED"),
    ("()*(100000000000000000000000000000000000000000*0)", "REFUSED"),
    # string forms other than STRING.count(STRING)
    ("r'abc'.count('a')", "REFUSED"),
    ("'ab' 'ab'.count('a')", "REFUSED"),
    ("('abc').count('a')", "REFUSED"),
    ("'''abc'''.count('a')", "REFUSED"),
    ("'ABC'.lower().count('a')", "REFUSED"),
    ("'abc'.count('a').real", "REFUSED"),
    ("'abc'.count('a') if 1 else 0", "REFUSED"),
    ("'x.count(y)'", "REFUSED"),
    # nesting CPython's compiler refuses (RecursionError); nc evaluates it
    ("-" * 5000 + "1", "1"),
]


def escape(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def show(result):
    return "REFUSED" if result is None else str(result)


def main():
    out = sys.stdout
    out.write("# Generated by tests/oracle/calc_cases.py from Python %d.%d.%d; do not edit.\n"
              % sys.version_info[:3])
    out.write("# expr<TAB>expected[<TAB>deviation<TAB>python: what Python gives]\n")
    for expr in CASES:
        out.write("%s\t%s\n" % (escape(expr), show(nanochat_calculator(expr))))
    for expr, ours in DEVIATIONS:
        python = show(nanochat_calculator(expr))
        if python == ours:
            sys.exit("calc_cases.py: %r is listed as a deviation but Python agrees" % expr)
        out.write("%s\t%s\tdeviation\tpython: %s\n" % (escape(expr), ours, escape(python)))


if __name__ == "__main__":
    main()
