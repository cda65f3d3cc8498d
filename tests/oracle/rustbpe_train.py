#!/usr/bin/env python3
"""Oracle: train rustbpe (PyPI) as nanochat's tok_train.py does and write
its mergeable ranks as a tiktoken rank file.

usage: rustbpe_train.py VOCAB_SIZE JSONL OUT [MAX_CHARS DOC_CAP [PATTERN]]
VOCAB_SIZE counts the 9 special tokens, as nc-bpe's --vocab-size does.
"""
import base64
import json
import sys

import rustbpe

NANOCHAT = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""


def docs(path, max_chars, doc_cap):
    nchars = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            text = json.loads(line)["text"]
            text = text[:doc_cap]
            nchars += len(text)
            yield text
            if nchars > max_chars:
                return


def main():
    vocab = int(sys.argv[1])
    src, out = sys.argv[2], sys.argv[3]
    max_chars = int(float(sys.argv[4])) if len(sys.argv) > 4 else 2_000_000_000
    doc_cap = int(sys.argv[5]) if len(sys.argv) > 5 else 10_000
    pattern = sys.argv[6] if len(sys.argv) > 6 else NANOCHAT
    tok = rustbpe.Tokenizer()
    tok.train_from_iterator(docs(src, max_chars, doc_cap), vocab - 9, pattern=pattern)
    with open(out, "w") as f:
        for b, rank in sorted(tok.get_mergeable_ranks(), key=lambda x: x[1]):
            f.write("%s %d\n" % (base64.b64encode(bytes(b)).decode(), rank))


if __name__ == "__main__":
    main()
