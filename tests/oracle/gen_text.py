#!/usr/bin/env python3
"""Generate seeded test text that exercises the split pattern: words of many
scripts, combining marks, digits of several scripts, emoji, CJK, English
contractions in both cases, whitespace runs of every kind, CR/LF mixes and
punctuation. Only characters assigned in this Python's Unicode version are
used, so that regex engines built on other Unicode versions agree.

usage: gen_text.py [--seed N] [--size BYTES] [--jsonl] [--random-cp]
  --jsonl      one {"text": ...} document per line instead of raw text
  --random-cp  uniformly random assigned code points (no structure)
"""
import argparse
import json
import random
import sys
import unicodedata

RANGES = {
    "latin": [(0x41, 0x5A), (0x61, 0x7A), (0xC0, 0xFF), (0x100, 0x17F)],
    "greek": [(0x391, 0x3A9), (0x3B1, 0x3C9)],
    "cyrillic": [(0x410, 0x44F)],
    "arabic": [(0x627, 0x64A)],
    "hebrew": [(0x5D0, 0x5EA)],
    "devanagari": [(0x905, 0x939), (0x93E, 0x94D)],   # vowel signs are marks
    "thai": [(0xE01, 0xE30), (0xE31, 0xE3A)],
    "cjk": [(0x4E00, 0x9FFF)],
    "hangul": [(0xAC00, 0xD7A3)],
    "kana": [(0x3041, 0x3096), (0x30A1, 0x30FA)],
    "georgian": [(0x10D0, 0x10FA)],
    "ethiopic": [(0x1200, 0x1248)],
}
DIGITS = [(0x30, 0x39), (0x660, 0x669), (0x966, 0x96F), (0xFF10, 0xFF19), (0xE50, 0xE59),
          (0x2160, 0x216B), (0xB2, 0xB3), (0xBC, 0xBE), (0x2460, 0x2473)]
MARKS = [(0x300, 0x36F), (0x1AB0, 0x1ABE), (0x20D0, 0x20F0)]
EMOJI = ["\U0001F600", "\U0001F44D\U0001F3FD", "\U0001F468\u200D\U0001F469\u200D\U0001F467",
         "\U0001F1EB\U0001F1F7", "\u2764\uFE0F", "\U0001F680", "\U0001F9D1\u200D\U0001F4BB", "\u2615"]
SPACES = [" ", "  ", "   ", "\t", "\t\t", "\u00A0", "\u3000", "\u2003", "\u0085", "\u2028",
          "\u2029", "\x0b", "\x0c", "\u1680", "\u202F", "\u205F"]
NEWLINES = ["\n", "\r\n", "\r", "\n\n", "\r\n\r\n", " \n", "\n ", "  \n\n  ", "\t\r\n", "\n\r"]
PUNCT = list(".,;:!?-()[]{}\"'/\\@#$%^&*_+=<>|~`") + ["...", "!!", "?!", "--", "\u2014", "\u00AB",
                                                       "\u00BB", "\u3002", "\u00BF", "\u2026"]
CONTRACTIONS = ["'s", "'S", "'t", "'T", "'d", "'D", "'m", "'M", "'ll", "'LL", "'Ll", "'ve", "'VE",
                "'vE", "'re", "'RE", "'rE", "'\u017F", "'x", "'"]


def assigned(cp):
    return unicodedata.category(chr(cp)) not in ("Cn", "Cs", "Co")


def pick(rng, ranges):
    while True:
        lo, hi = rng.choice(ranges)
        cp = rng.randint(lo, hi)
        if assigned(cp):
            return chr(cp)


def word(rng):
    script = rng.choice(list(RANGES))
    w = "".join(pick(rng, RANGES[script]) for _ in range(rng.randint(1, 9)))
    if rng.random() < 0.1:
        i = rng.randint(0, len(w))
        w = w[:i] + pick(rng, MARKS) + w[i:]
    if rng.random() < 0.1:
        w = w.upper() if rng.random() < 0.5 else w.capitalize()
    return w


def piece(rng):
    r = rng.random()
    if r < 0.45:
        return word(rng) + (rng.choice(CONTRACTIONS) if rng.random() < 0.1 else "")
    if r < 0.55:
        return "".join(pick(rng, DIGITS) for _ in range(rng.randint(1, 7)))
    if r < 0.65:
        return rng.choice(PUNCT) * rng.randint(1, 3)
    if r < 0.72:
        return rng.choice(EMOJI)
    if r < 0.80:
        return rng.choice(NEWLINES)
    if r < 0.83:
        return pick(rng, MARKS)
    return rng.choice(SPACES)


def structured(rng, size):
    out, n = [], 0
    while n < size:
        p = piece(rng)
        out.append(p)
        out.append(" " if rng.random() < 0.6 else "")
        n += len(p.encode()) + 1
    return "".join(out)


def random_cp(rng, size):
    out, n = [], 0
    while n < size:
        cp = rng.randint(0, 0x10FFFF) if rng.random() < 0.5 else rng.randint(0, 0x3000)
        if assigned(cp):
            c = chr(cp)
            out.append(c)
            n += len(c.encode())
    return "".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size", type=int, default=100000)
    ap.add_argument("--jsonl", action="store_true")
    ap.add_argument("--random-cp", action="store_true")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    gen = random_cp if a.random_cp else structured
    if a.jsonl:
        n = 0
        while n < a.size:
            t = gen(rng, rng.randint(10, 3000))
            line = json.dumps({"text": t}, ensure_ascii=False)
            sys.stdout.write(line + "\n")
            n += len(line.encode())
    else:
        sys.stdout.write(gen(rng, a.size))


if __name__ == "__main__":
    main()
