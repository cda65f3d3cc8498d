#!/usr/bin/env python3
"""Write small parquet fixtures with pyarrow, each beside its expected rows.

Usage: make_parquet.py DIR   (the committed fixtures live in tests/fixtures/parquet)

Each data set's schema is the real one (FineWeb-Edu, SmolTalk, MMLU, ARC,
GSM8K, HumanEval) plus one of scalar types; each is written four times,
once per codec, alternating data page v1/v2 and dictionary/plain pages,
with several row groups and small pages so that a chunk has many pages.
NAME.jsonl holds the rows as pyarrow reads them: one JSON object per line,
json.dumps(row, ensure_ascii=False, sort_keys=True).
"""
import json
import os
import random
import sys

import pyarrow as pa
import pyarrow.parquet as pq

WORDS = ["the", "cat", "sat", "on", "a", "mat", "", "naïve", "café", "日本語", "中文",
         "emoji 🙂", "Ωμέγα", "e\u0301", "tab\there", "new\nline", 'quote"s', "back\\slash"]

# (codec, data page version, dictionary) for the four variants of each set.
VARIANTS = [("none", "1.0", True), ("snappy", "2.0", True), ("zstd", "1.0", False), ("gzip", "2.0", False)]


def text(rng, most=15):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, most)))


def maybe(rng, value, p=0.15):
    return None if rng.random() < p else value


def fineweb(rng, n):
    schema = pa.schema([("text", pa.string())])
    rows = [{"text": maybe(rng, text(rng, 30), 0.05)} for _ in range(n)]
    rows[0]["text"] = ""
    return schema, rows


def smoltalk(rng, n):
    msg = pa.struct([("content", pa.string()), ("role", pa.string())])
    schema = pa.schema([("messages", pa.list_(msg))])
    rows = []
    for i in range(n):
        k = rng.randint(0, 4)
        msgs = [maybe(rng, {"content": maybe(rng, text(rng), 0.1), "role": rng.choice(["user", "assistant", "system"])}, 0.05)
                for _ in range(k)]
        rows.append({"messages": maybe(rng, msgs, 0.1)})
    rows[0]["messages"] = []
    rows[1]["messages"] = [{"content": "", "role": "user"}]
    return schema, rows


def mmlu(rng, n):
    schema = pa.schema([("question", pa.string()), ("subject", pa.string()),
                        ("choices", pa.list_(pa.string())), ("answer", pa.int64())])
    rows = [{"question": text(rng), "subject": rng.choice(["anatomy", "astronomy", "law", "化学"]),
             "choices": maybe(rng, [maybe(rng, text(rng, 5), 0.05) for _ in range(rng.randint(0, 4))], 0.05),
             "answer": maybe(rng, rng.randint(-3, 3), 0.1)} for _ in range(n)]
    return schema, rows


def arc(rng, n):
    choices = pa.struct([("text", pa.list_(pa.string())), ("label", pa.list_(pa.string()))])
    schema = pa.schema([("id", pa.string()), ("question", pa.string()), ("choices", choices),
                        ("answerKey", pa.string())])
    rows = []
    for i in range(n):
        k = rng.randint(0, 5)
        ch = {"text": maybe(rng, [text(rng, 6) for _ in range(k)], 0.1),
              "label": maybe(rng, [maybe(rng, "ABCDE"[j], 0.05) for j in range(k)], 0.1)}
        rows.append({"id": "Mercury_%d" % i, "question": text(rng), "choices": maybe(rng, ch, 0.1),
                     "answerKey": maybe(rng, rng.choice("ABCD"), 0.05)})
    return schema, rows


def gsm8k(rng, n):
    schema = pa.schema([("question", pa.string()), ("answer", pa.string())])
    rows = [{"question": text(rng), "answer": text(rng) + " #### %d" % rng.randint(0, 999)} for _ in range(n)]
    return schema, rows


def humaneval(rng, n):
    names = ["task_id", "prompt", "canonical_solution", "test", "entry_point"]
    schema = pa.schema([(k, pa.string()) for k in names])
    rows = [{"task_id": "HumanEval/%d" % i, "prompt": "def f%d(x):\n    \"\"\"%s\"\"\"\n" % (i, text(rng, 10)),
             "canonical_solution": "    return x + %d\n" % i, "test": "assert f%d(1) == %d\n" % (i, i + 1),
             "entry_point": "f%d" % i} for i in range(n)]
    return schema, rows


def scalars(rng, n):
    schema = pa.schema([
        pa.field("b", pa.bool_()), pa.field("i32", pa.int32()), pa.field("i64", pa.int64()),
        pa.field("f32", pa.float32()), pa.field("f64", pa.float64()),
        pa.field("req", pa.string(), nullable=False),
        pa.field("nested", pa.list_(pa.list_(pa.string()))),
        pa.field("ints", pa.list_(pa.int64())),
        pa.field("s", pa.struct([pa.field("x", pa.int32()), pa.field("y", pa.struct([("z", pa.string())]))])),
    ])
    rows = []
    for i in range(n):
        rows.append({
            "b": maybe(rng, rng.random() < 0.5), "i32": maybe(rng, rng.choice([0, -1, 2**31 - 1, -2**31, i])),
            "i64": maybe(rng, rng.choice([0, -1, 2**63 - 1, -2**63, i * 1000003])),
            "f32": maybe(rng, rng.choice([0.0, 0.1, -2.5, 1e30])), "f64": maybe(rng, rng.choice([0.0, 0.1, -1e-300, 3.25])),
            "req": text(rng, 3),
            "nested": maybe(rng, [maybe(rng, [maybe(rng, text(rng, 2)) for _ in range(rng.randint(0, 3))])
                                  for _ in range(rng.randint(0, 3))]),
            "ints": maybe(rng, [maybe(rng, rng.randint(-5, 5)) for _ in range(rng.randint(0, 4))]),
            "s": maybe(rng, {"x": maybe(rng, i), "y": maybe(rng, {"z": maybe(rng, text(rng, 2))})}),
        })
    return schema, rows


SETS = [("fineweb", fineweb, 30), ("smoltalk", smoltalk, 30), ("mmlu", mmlu, 24), ("arc", arc, 24),
        ("gsm8k", gsm8k, 20), ("humaneval", humaneval, 16), ("scalars", scalars, 40)]


def write(outdir, name, schema, rows, codec, version, dictionary):
    table = pa.Table.from_pylist(rows, schema=schema)
    path = os.path.join(outdir, name + ".parquet")
    pq.write_table(table, path, compression=codec, data_page_version=version, use_dictionary=dictionary,
                   row_group_size=8, data_page_size=400, write_statistics=False, store_schema=False, write_batch_size=8, dictionary_pagesize_limit=300)
    back = pq.read_table(path)
    assert back.equals(table), name
    with open(os.path.join(outdir, name + ".jsonl"), "w", encoding="utf-8") as f:
        for row in back.to_pylist():
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/parquet"
    os.makedirs(outdir, exist_ok=True)
    for name, make, n in SETS:
        for codec, version, dictionary in VARIANTS:
            rng = random.Random(name)
            schema, rows = make(rng, n)
            if name == "fineweb":
                dictionary = False   # as the FineWeb-Edu files are written
            tag = "%s_%s_v%s_%s" % (name, codec, version[0], "dict" if dictionary else "plain")
            write(outdir, tag, schema, rows, codec, version, dictionary)
    empty(outdir)
    unsupported(os.path.join(os.path.dirname(outdir.rstrip("/")) or ".", "parquet-unsupported"))


def empty(outdir):
    """What pyarrow writes for a table of no rows: one row group of 0 rows,
    a chunk whose data page offset is 0 (with a dictionary) or that has no
    pages at all."""
    for codec, version, dictionary in [("snappy", "1.0", True), ("none", "2.0", False)]:
        schema, rows = pa.schema([("text", pa.string())]), []
        tag = "empty_%s_v%s_%s" % (codec, version[0], "dict" if dictionary else "plain")
        write(outdir, tag, schema, rows, codec, version, dictionary)


def unsupported(outdir):
    """Files nc must refuse with a clear message: an encoding and a codec it
    does not read."""
    os.makedirs(outdir, exist_ok=True)
    t = pa.table({"text": ["alpha", "beta", "gamma"]})
    pq.write_table(t, os.path.join(outdir, "delta-encoding.parquet"), use_dictionary=False,
                   column_encoding={"text": "DELTA_LENGTH_BYTE_ARRAY"}, compression="none")
    pq.write_table(t, os.path.join(outdir, "lz4-codec.parquet"), compression="lz4")


if __name__ == "__main__":
    main()
