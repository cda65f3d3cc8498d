#!/usr/bin/env python3
"""Oracle: GSM8K answers as nanochat's tasks/gsm8k.py turns them into
assistant parts (spec §1.9). The answer is split with re.split on
(<<[^>]+>>); a piece that starts with << and ends with >> is a calculator
call: the text before its last '=' is a python part, the rest a
python_output part; every other piece (empty ones too) is a text part.

usage: gsm8k_parts.py [--conversations] [FILE]
FILE (default stdin) is JSONL with an "answer" field (and "question"), as
GSM8K's rows are. Prints one line per row: the parts as compact JSON, or
with --conversations the conversation nanochat builds from the row, with
the raw answer kept as "gsm8k_answer" for cross-checks.
"""
import json
import re
import sys


def gsm8k_parts(answer):
    parts = []
    for piece in re.split(r"(<<[^>]+>>)", answer):
        if piece.startswith("<<") and piece.endswith(">>"):
            inner = piece[2:-2]
            expr, result = inner.rsplit("=", 1) if "=" in inner else (inner, "")
            parts.append({"type": "python", "text": expr})
            parts.append({"type": "python_output", "text": result})
        else:
            parts.append({"type": "text", "text": piece})
    return parts


def main():
    args = sys.argv[1:]
    conversations = "--conversations" in args
    args = [a for a in args if a != "--conversations"]
    src = open(args[0], encoding="utf-8") if args and args[0] != "-" else sys.stdin
    for line in src:
        if not line.strip():
            continue
        row = json.loads(line)
        parts = gsm8k_parts(row["answer"])
        if conversations:
            out = {"messages": [{"role": "user", "content": row["question"]},
                                {"role": "assistant", "content": parts}],
                   "gsm8k_answer": row["answer"]}
        else:
            out = parts
        print(json.dumps(out, ensure_ascii=False, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
