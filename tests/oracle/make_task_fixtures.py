#!/usr/bin/env python3
"""Write the small task fixtures of tests/fixtures/tasks from real rows.

usage: make_task_fixtures.py DATA OUTDIR

DATA holds the public files the rows are taken from (see
tests/fixtures/tasks/README.md for each one's source):
  eval-samples/mmlu/dev/*_dev.csv          MMLU dev (hendrycks CSV)
  eval-samples/arc/arc_easy_train.hf.json  ARC-Easy train (HF schema)
  eval-samples/gsm8k/train.jsonl           GSM8K train (original JSONL)
  chat/identity/identity_conversations.jsonl

The rows are copied unchanged; the Parquet files hold the same rows in
Hugging Face's column layout for each data set, written with pyarrow:
  mmlu.parquet      question, subject, choices list<string>, answer int64
                    (cais/mmlu "all")
  mmlu_aux.parquet  one column `train`, a struct of those four (cais/mmlu
                    "auxiliary_train" as nanochat v1 loads it)
  arc.parquet       id, question, choices struct<text list, label list>,
                    answerKey (allenai/ai2_arc)
  gsm8k.parquet     question, answer (openai/gsm8k)
  smoltalk.parquet  messages list<struct<content, role>>
                    (HuggingFaceTB/smol-smoltalk), filled with identity
                    conversations, some with a leading system message.
"""
import csv
import json
import os
import shutil
import sys

import pyarrow as pa
import pyarrow.parquet as pq

MMLU_FILES = ["abstract_algebra_dev.csv", "college_physics_dev.csv", "world_religions_dev.csv"]
ARC_ROWS = list(range(40)) + [289, 690, 1094]   # 289 on: 3 or 5 choices
GSM8K_ROWS = 30
IDENTITY_ROWS = 20
SMOLTALK_ROWS = range(20, 36)
SYSTEM = "You are nanochat, a small language model."


def jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def write_parquet(path, schema, rows):
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=7)


def mmlu(data, out):
    rows = []
    for name in MMLU_FILES:
        shutil.copyfile(os.path.join(data, "eval-samples/mmlu/dev", name), os.path.join(out, name))
        with open(os.path.join(out, name), newline="", encoding="utf-8") as f:
            for rec in csv.reader(f):
                rows.append({"question": rec[0], "subject": name[:-len("_dev.csv")],
                             "choices": rec[1:5], "answer": "ABCD".index(rec[5])})
    item = pa.struct([("question", pa.string()), ("subject", pa.string()),
                      ("choices", pa.list_(pa.string())), ("answer", pa.int64())])
    write_parquet(os.path.join(out, "mmlu.parquet"), pa.schema(list(item)), rows)
    write_parquet(os.path.join(out, "mmlu_aux.parquet"), pa.schema([("train", item)]),
                  [{"train": r} for r in rows])


def arc(data, out):
    with open(os.path.join(data, "eval-samples/arc/arc_easy_train.hf.json"), encoding="utf-8") as f:
        every = json.load(f)
    rows = [every[i] for i in ARC_ROWS]
    jsonl(os.path.join(out, "arc_easy_train.jsonl"), rows)
    schema = pa.schema([("id", pa.string()), ("question", pa.string()),
                        ("choices", pa.struct([("text", pa.list_(pa.string())),
                                               ("label", pa.list_(pa.string()))])),
                        ("answerKey", pa.string())])
    write_parquet(os.path.join(out, "arc.parquet"), schema, rows)


def gsm8k(data, out):
    with open(os.path.join(data, "eval-samples/gsm8k/train.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(next(f)) for _ in range(GSM8K_ROWS)]
    jsonl(os.path.join(out, "gsm8k_train.jsonl"), rows)
    schema = pa.schema([("question", pa.string()), ("answer", pa.string())])
    write_parquet(os.path.join(out, "gsm8k.parquet"), schema, rows)


def identity(data, out):
    with open(os.path.join(data, "chat/identity/identity_conversations.jsonl"), encoding="utf-8") as f:
        lines = f.readlines()
    with open(os.path.join(out, "identity.jsonl"), "w", encoding="utf-8") as f:
        f.writelines(lines[:IDENTITY_ROWS])
    rows = []
    for k, i in enumerate(SMOLTALK_ROWS):
        msgs = json.loads(lines[i])
        if k % 3 == 0:
            msgs = [{"role": "system", "content": SYSTEM}] + msgs
        rows.append({"messages": [{"content": m["content"], "role": m["role"]} for m in msgs]})
    msg = pa.struct([("content", pa.string()), ("role", pa.string())])
    write_parquet(os.path.join(out, "smoltalk.parquet"), pa.schema([("messages", pa.list_(msg))]), rows)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    data, out = sys.argv[1:]
    os.makedirs(out, exist_ok=True)
    mmlu(data, out)
    arc(data, out)
    gsm8k(data, out)
    identity(data, out)


if __name__ == "__main__":
    main()
