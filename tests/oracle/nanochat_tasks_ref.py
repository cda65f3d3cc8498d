#!/usr/bin/env python3
"""Golden conversations and renders of nanochat's chat tasks (v1, commit
3a5e0bc), for the `nc-shard task` tests.

usage: nanochat_tasks_ref.py --nanochat DIR [--fixtures DIR] [--ranks FILE] [--out DIR]

nanochat is NOT vendored: DIR holds a nanochat checkout's `nanochat/` and
`tasks/`, e.g.

    git --git-dir=NANOCHAT.git archive 3a5e0bc | tar -x -C DIR
    for f in customjson spellingbee; do
        git --git-dir=NANOCHAT.git show 950a1dc^:tasks/$f.py >DIR/tasks/$f.py
    done

(v1 has neither CustomJSON nor SpellingBee; both came later, with the
identity conversations and the spelling tasks of midtraining.)

What runs is nanochat's own code: the Task classes of tasks/mmlu.py,
arc.py, gsm8k.py, smoltalk.py, customjson.py and spellingbee.py (slicing through
Task.__len__ / __getitem__, the rows through get_example, render_mc of
tasks/common.py) and RustBPETokenizer.render_conversation of
nanochat/tokenizer.py. What this script does itself is what the Hugging
Face `datasets` library would: load the rows of the files (pyarrow for
Parquet, json for JSONL; MMLU's hendrycks CSVs become HF's layout, with the
subject from the file name and the answer letter as its index), unwrap v1's
auxiliary_train `train` struct (the .map in tasks/mmlu.py), and .shuffle
(seed) them, which is numpy.random.default_rng(seed).permutation(n). The
Task objects are built around those row lists instead of load_dataset, which
this script replaces with a stub (as it does the HF `tokenizers` package,
which only nanochat's other tokenizer class needs, and nanochat.common,
which needs torch: SpellingBee's word-list download becomes the file
named in the case).

For each line of FIXTURES/cases it writes OUT/NAME.jsonl (the
conversations, json.dumps with ensure_ascii=False and compact separators)
and OUT/NAME.ids (one "id/mask ..." line per conversation), OUT being
FIXTURES/golden unless --out names another directory. The ids are
rendered with a tiktoken Encoding of the rank file (default
tests/fixtures/bpe/train-600.ranks), nanochat's split pattern and its
special tokens after the ranks.
"""
import argparse
import base64
import csv
import json
import os
import sys
import types

import numpy as np
import pyarrow.parquet as pq
import tiktoken

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def stub_modules():
    """nanochat imports `datasets` and `tokenizers` at module level; the
    code this script runs needs neither."""
    ds = types.ModuleType("datasets")

    def load_dataset(*a, **k):
        raise RuntimeError("no downloads here: the rows are given")
    ds.load_dataset = load_dataset
    sys.modules["datasets"] = ds
    tk = types.ModuleType("tokenizers")
    for name in ("Tokenizer", "Regex"):
        setattr(tk, name, object)
    for sub, names in (("pre_tokenizers", []), ("decoders", []), ("models", ["BPE"]),
                       ("trainers", ["BpeTrainer"])):
        m = types.ModuleType("tokenizers." + sub)
        for n in names:
            setattr(m, n, object)
        setattr(tk, sub, m)
        sys.modules["tokenizers." + sub] = m
    sys.modules["tokenizers"] = tk
    common = types.ModuleType("nanochat.common")
    common.download_file_with_lock = lambda url, filename, *a, **k: WORD_LIST[0]
    sys.modules["nanochat.common"] = common


WORD_LIST = [None]   # the word list of the spelling case at hand


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nanochat", required=True, help="directory holding nanochat's nanochat/ and tasks/")
    ap.add_argument("--fixtures", default=os.path.join(ROOT, "tests/fixtures/tasks"))
    ap.add_argument("--ranks", default=os.path.join(ROOT, "tests/fixtures/bpe/train-600.ranks"))
    ap.add_argument("--out", help="where the goldens go (default FIXTURES/golden)")
    return ap.parse_args()


def read_cases(path):
    cases = []
    for line in open(path, encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        name, task, opts, files = line.rstrip("\n").split("\t")
        cases.append((name, task, [] if opts == "-" else opts.split(), files.split()))
    return cases


def options(opts, task):
    o = {"shuffle": task not in ("identity", "spellingbee", "simplespelling"), "seed": 42,
         "start": 0, "stop": None, "step": 1, "size": 1000, "split": "train"}
    for a in opts:
        key, _, val = a.lstrip("-").partition("=")
        if key == "no-shuffle":
            o["shuffle"] = False
        elif key == "shuffle":
            o["shuffle"] = True
        else:
            o[key] = val if key == "split" else int(val)
    return o


def hendrycks_rows(path):
    subject = os.path.basename(path)[:-len(".csv")]
    for suffix in ("_dev", "_val", "_test"):
        if subject.endswith(suffix):
            subject = subject[:-len(suffix)]
            break
    with open(path, newline="", encoding="utf-8") as f:
        return [{"question": r[0], "subject": subject, "choices": r[1:5], "answer": "ABCD".index(r[5])}
                for r in csv.reader(f)]


def load_rows(path):
    if path.endswith(".parquet"):
        return pq.read_table(path).to_pylist()
    if path.endswith(".csv"):
        return hendrycks_rows(path)
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def make_task(task, rows, o):
    from tasks.common import Task
    if task == "identity":
        from tasks.customjson import CustomJSON as cls
    else:
        from tasks.arc import ARC
        from tasks.gsm8k import GSM8K
        from tasks.mmlu import MMLU
        from tasks.smoltalk import SmolTalk
        cls = {"mmlu": MMLU, "arc": ARC, "gsm8k": GSM8K, "smoltalk": SmolTalk}[task]
    t = cls.__new__(cls)
    Task.__init__(t, start=o["start"], stop=o["stop"], step=o["step"])
    if task == "identity":
        t.conversations, t.length = rows, len(rows)
    else:
        t.ds, t.length = rows, len(rows)
    return t


def spelling(task, path, o):
    from tasks.spellingbee import SimpleSpelling, SpellingBee
    WORD_LIST[0] = path
    cls = SpellingBee if task == "spellingbee" else SimpleSpelling
    t = cls(size=o["size"], split=o["split"], start=o["start"], stop=o["stop"], step=o["step"])
    return [t[i] for i in range(len(t))]


def conversations(task, paths, o):
    if task in ("spellingbee", "simplespelling"):
        return spelling(task, paths[0], o)
    if task == "identity":
        # CustomJSON reads and validates its file itself
        from tasks.customjson import CustomJSON
        rows = []
        for p in paths:
            rows += CustomJSON(filepath=p).conversations
    else:
        rows = [r for p in paths for r in load_rows(p)]
        if task == "mmlu" and rows and "train" in rows[0]:
            rows = [r["train"] for r in rows]
    if o["shuffle"]:
        perm = np.random.default_rng(o["seed"]).permutation(len(rows))
        rows = [rows[i] for i in perm]
    t = make_task(task, rows, o)
    return [t[i] for i in range(len(t))]


def tokenizer(ranks_path):
    from nanochat.tokenizer import SPECIAL_TOKENS, SPLIT_PATTERN, RustBPETokenizer
    ranks = {}
    for line in open(ranks_path, "rb"):
        if line.strip():
            b, r = line.split()
            ranks[base64.b64decode(b)] = int(r)
    specials = {name: len(ranks) + i for i, name in enumerate(SPECIAL_TOKENS)}
    enc = tiktoken.Encoding(name="fixture", pat_str=SPLIT_PATTERN, mergeable_ranks=ranks,
                            special_tokens=specials)
    return RustBPETokenizer(enc, "<|bos|>")


def main():
    a = parse_args()
    sys.path.insert(0, os.path.abspath(a.nanochat))
    stub_modules()
    tok = tokenizer(a.ranks)
    out = a.out or os.path.join(a.fixtures, "golden")
    os.makedirs(out, exist_ok=True)
    for name, task, opts, files in read_cases(os.path.join(a.fixtures, "cases")):
        convs = conversations(task, [os.path.join(a.fixtures, f) for f in files], options(opts, task))
        with open(os.path.join(out, name + ".jsonl"), "w", encoding="utf-8") as f:
            for c in convs:
                f.write(json.dumps(c, ensure_ascii=False, separators=(",", ":")) + "\n")
        with open(os.path.join(out, name + ".ids"), "w") as f:
            for c in convs:
                ids, mask = tok.render_conversation(c)
                f.write(" ".join("%d/%d" % p for p in zip(ids, mask)) + "\n")
        print("%s: %d conversations" % (name, len(convs)))


if __name__ == "__main__":
    main()
