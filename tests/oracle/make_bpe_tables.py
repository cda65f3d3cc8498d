#!/usr/bin/env python3
"""Write the tokenizer's tables of known answers into tests/fixtures/bpe/,
once, from the outside oracles (regex, rustbpe, tiktoken), so that
tests/nc-bpe.bats checks nc-bpe against them on machines without those
modules. Run again only to add cases; the files are committed.

usage: make_bpe_tables.py   (from the repository root, with .venv's python)

  docs.jsonl            a seeded corpus (tests/oracle/gen_text.py --seed 3)
  train-*.ranks         rustbpe's merges on it, as nanochat's tok_train.py
                        trains (rustbpe_train.py), one file per setting
  split.txt             text -> chunk lengths, by the regex module
  encode.txt            text -> ids, by tiktoken with a rank file above

The tables are plain text in groups of lines, jq's test style, a blank
line between groups: a header (split.txt: the pattern name; encode.txt:
the rank file and the pattern name), the text as one JSON string, and the
answer on one line (numbers separated by spaces).
"""
import base64
import json
import os
import random
import subprocess
import sys

import regex
import tiktoken

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "bpe")
sys.path.insert(0, HERE)
from gen_text import random_cp, structured  # noqa: E402
from split_check import PATTERNS  # noqa: E402

# (file, vocabulary size, max chars, doc cap, pattern name)
TRAININGS = [
    ("train-600.ranks", 600, None, None, "nanochat"),
    ("train-400-capped.ranks", 400, 15000, 300, "nanochat"),
    ("train-500-gpt2.ranks", 500, None, None, "gpt2"),
]

# What each pattern's branches are there for: contractions in both cases,
# digit runs, whitespace runs before words and at the end, CR/LF mixes,
# punctuation runs with newlines, marks, emoji, and chunks longer than 64
# bytes (lib/encode.c merges those through a heap).
EDGES = [
    "He'LL pay 12345\n\n  ok\n",
    "don't DON'T you're I've we'd she'S they'Re",
    "1 12 123 1234 12345 123456 ١٢٣٤ ४२",
    "a  b   c    d\t\te\u00a0\u00a0f",
    "line\r\nline\rline\n\r\n\n  \n",
    "end with spaces   ",
    "end with newlines\n\n\n",
    "!!!???...\n\n;;; --> <== ''' \"\"\"",
    "e\u0301 n\u0303 \u0915\u093f \u0e01\u0e34",
    "emoji 😀👍🏽 👨‍👩‍👧 flags 🇫🇷🇯🇵",
    "中文字符和日本語のテキスト 한국어 텍스트",
    "Ελληνικά кириллица العربية עברית",
    "",
    " ",
    "x" * 200,
    "ab" * 200 + " " * 300 + "b",
    "中文字符" * 40 + "\n" * 100,
]


def texts():
    rng = random.Random(11)
    out = list(EDGES)
    out += [structured(rng, rng.randint(40, 400)) for _ in range(30)]
    out += [random_cp(rng, rng.randint(40, 300)) for _ in range(12)]
    return out


def read_ranks(path):
    ranks = {}
    for line in open(path, "rb"):
        b, r = line.split()
        ranks[base64.b64decode(b)] = int(r)
    return ranks


def train(docs):
    for name, vocab, max_chars, doc_cap, pattern in TRAININGS:
        args = [sys.executable, os.path.join(HERE, "rustbpe_train.py"), str(vocab), docs,
                os.path.join(OUT, name)]
        if max_chars or pattern != "nanochat":
            args += [str(max_chars or 2_000_000_000), str(doc_cap or 10_000)]
        if pattern != "nanochat":
            args.append(PATTERNS[pattern])
        subprocess.run(args, check=True)


def group(f, header, text, answer):
    f.write("%s\n%s\n%s\n\n" % (header, json.dumps(text, ensure_ascii=False),
                                " ".join(str(x) for x in answer)))


def write_split(cases):
    with open(os.path.join(OUT, "split.txt"), "w", encoding="utf-8") as f:
        f.write("# pattern / text / the regex module's chunk lengths in bytes "
                "(tests/oracle/make_bpe_tables.py)\n\n")
        for name in ("nanochat", "gpt4", "cl100k", "gpt2"):
            for t in cases:
                if t:
                    group(f, name, t, [len(m.encode()) for m in regex.findall(PATTERNS[name], t)])


def write_encode(cases):
    with open(os.path.join(OUT, "encode.txt"), "w", encoding="utf-8") as f:
        f.write("# rank file and pattern / text / tiktoken's ids (encode_ordinary) "
                "(tests/oracle/make_bpe_tables.py)\n\n")
        for name, _, _, _, pattern in TRAININGS:
            enc = tiktoken.Encoding(name="oracle", pat_str=PATTERNS[pattern],
                                    mergeable_ranks=read_ranks(os.path.join(OUT, name)),
                                    special_tokens={})
            for t in cases:
                group(f, "%s %s" % (name, pattern), t, enc.encode_ordinary(t))


def main():
    os.makedirs(OUT, exist_ok=True)
    docs = os.path.join(OUT, "docs.jsonl")
    with open(docs, "w") as f:
        subprocess.run([sys.executable, os.path.join(HERE, "gen_text.py"), "--seed", "3",
                        "--size", "40000", "--jsonl"], check=True, stdout=f)
    train(docs)
    cases = texts()
    write_split(cases)
    write_encode(cases)


if __name__ == "__main__":
    main()
