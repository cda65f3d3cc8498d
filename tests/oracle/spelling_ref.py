#!/usr/bin/env python3
"""Oracle: nanochat's own SpellingBee and SimpleSpelling (tasks/spellingbee.py
of a nanochat checkout, e.g. `git archive 950a1dc^` of karpathy/nanochat),
run on a local word list: the module's word-list download is replaced by
the path given, and nanochat.common (which needs torch) by a stand-in that
holds only that. Prints examples 0..N-1 as JSONL (compact, UTF-8), as
`test_spelling --dump` prints nc's.

usage: spelling_ref.py --nanochat DIR WORDLIST bee|simple train|test N
"""
import json
import os
import sys
import types


def load_spellingbee(nanochat_dir, word_list):
    common = types.ModuleType("nanochat.common")
    common.download_file_with_lock = lambda url, filename, *a, **k: word_list
    package = types.ModuleType("nanochat")
    package.__path__ = []
    package.common = common
    sys.modules["nanochat"] = package
    sys.modules["nanochat.common"] = common
    sys.path.insert(0, nanochat_dir)
    import tasks.spellingbee as sb
    return sb


def main():
    args = sys.argv[1:]
    if len(args) != 6 or args[0] != "--nanochat":
        sys.exit(__doc__.strip().splitlines()[-1])
    nanochat_dir, word_list, task, split, n = args[1], os.path.abspath(args[2]), args[3], args[4], int(args[5])
    sb = load_spellingbee(nanochat_dir, word_list)
    cls = {"bee": sb.SpellingBee, "simple": sb.SimpleSpelling}[task]
    t = cls(size=n, split=split)
    out = sys.stdout
    for i in range(n):
        out.write(json.dumps(t.get_example(i), ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
