#!/usr/bin/env python3
"""Oracle: nc-bpe encode gives tiktoken's ids (encode_ordinary) for the same
ranks and pattern, document by document.

usage: tiktoken_check.py NC_BPE NC_TOKENIZER RANKFILE PATTERN_NAME FILE...
Each FILE is one document (nc-bpe --format=text).
"""
import base64
import os
import subprocess
import sys

import tiktoken

sys.path.insert(0, os.path.dirname(__file__))
from split_check import PATTERNS  # noqa: E402


def main():
    nc, tok, rankfile, name = sys.argv[1:5]
    ranks = {}
    for line in open(rankfile, "rb"):
        b, r = line.split()
        ranks[base64.b64decode(b)] = int(r)
    enc = tiktoken.Encoding(name="oracle", pat_str=PATTERNS[name], mergeable_ranks=ranks,
                            special_tokens={})
    for path in sys.argv[5:]:
        text = open(path, encoding="utf-8", newline="").read()
        want = enc.encode_ordinary(text)
        out = subprocess.run([nc, "encode", "--ids", "--format=text", "-t", tok, path],
                             check=True, capture_output=True).stdout
        got = [int(x) for x in out.split()]
        if got != want:
            i = next((k for k, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            print("%s: first difference at token %d: nc %s, tiktoken %s" %
                  (path, i, got[i:i + 5], want[i:i + 5]))
            return 1
        print("%s: %d ids agree" % (path, len(want)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
