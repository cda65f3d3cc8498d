#!/usr/bin/env python3
"""Writes tests/fixtures/spelling/words.txt: 3000 made-up ASCII words (no
third-party list), built from syllables with random.Random(17), lower case
like nanochat's word list, with a few lines that test how a list is read:
capitals, apostrophes and hyphens, blanks around the word, a vertical tab
(str.strip() takes it), and \\r\\n and bare \\r line ends (Python's universal
newlines). No blank line: nanochat's SpellingBee cannot pick a letter of an
empty word.

usage: make_words.py > tests/fixtures/spelling/words.txt
"""
import random
import sys

ONSETS = ["", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "qu", "r", "s",
          "t", "v", "w", "x", "y", "z", "br", "ch", "st", "str", "sh", "th", "pl", "gr"]
VOWELS = ["a", "e", "i", "o", "u", "y", "ee", "oo", "ai", "ou", "ie"]
CODAS = ["", "", "n", "r", "s", "t", "l", "ck", "ng", "rr", "ss", "m", "x"]


def word(rng):
    w = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
                for _ in range(rng.randint(1, 4)))
    return w if w else "a"


def main():
    rng = random.Random(17)
    out = []
    for i in range(3000):
        w = word(rng)
        end = "\n"
        if i % 97 == 5:
            w = w.capitalize()
        elif i % 89 == 7:
            w = w + "'s"
        elif i % 83 == 9:
            w = w + "-" + word(rng)
        elif i % 79 == 11:
            w = "  " + w + " \t"
        elif i % 73 == 13:
            w = w + "\x0b"
        if i % 71 == 3:
            end = "\r\n"
        elif i % 67 == 2:
            end = "\r"
        out.append(w + end)
    sys.stdout.buffer.write("".join(out).encode("ascii"))


if __name__ == "__main__":
    main()
