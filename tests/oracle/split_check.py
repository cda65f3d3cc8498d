#!/usr/bin/env python3
"""Oracle: the chunks of nc-bpe split equal those of the python regex module
with the exact pattern. Bytes that are not UTF-8 are read as lone
surrogates (surrogateescape), which the regex module puts in no class, as
nc puts invalid bytes in [^\\s\\p{L}\\p{N}].

usage: split_check.py NC_BPE PATTERN_NAME FILE
"""
import subprocess
import sys

import regex

PATTERNS = {
    "nanochat": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+""",
    "gpt4": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+""",
    "cl100k": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
    "gpt2": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
}


def main():
    nc, name, path = sys.argv[1:4]
    data = open(path, "rb").read()
    text = data.decode("utf-8", "surrogateescape")
    want = [m.encode("utf-8", "surrogateescape") for m in regex.findall(PATTERNS[name], text)]
    out = subprocess.run([nc, "split", "--lengths", "--pattern=" + name, path],
                         check=True, capture_output=True).stdout
    got_lens = [int(x) for x in out.split()]
    pos = 0
    for i, w in enumerate(want):
        g = got_lens[i] if i < len(got_lens) else None
        if g != len(w):
            print("chunk %d at byte %d: regex %r, nc %r" % (i, pos, w, data[pos:pos + (g or 0)]))
            return 1
        pos += len(w)
    if len(got_lens) != len(want):
        print("nc has %d chunks, regex %d" % (len(got_lens), len(want)))
        return 1
    print("%d chunks agree" % len(want))
    return 0


if __name__ == "__main__":
    sys.exit(main())
