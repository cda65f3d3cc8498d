"""CORE as nanochat v1 computes it, for tests/nc-eval.bats: nanochat's own
core_eval.py (its prompt templates, token spans, forward and scoring, and
evaluate_task for the accuracies) on a model and tokenizer that
sh/nanochat-convert.py wrote under a nanochat base directory, with
base_eval.py's loop over core.yaml (re-stated here: base_eval.py imports
pandas only to read one CSV column).

    python core_eval_ref.py --nanochat DIR --base NANOCHAT_BASE_DIR \
        --bundle BUNDLE_DIR --tasks a,b --max-per-task N --dump F --csv F

--dump writes one JSON line per example, as `nc-eval core --dump` does:
task, idx (after the shuffle and crop), line (1-based, in the task file),
the rendered prompts, the token sequences, the spans, the chosen option
(or for language modeling 1 when every span token was the argmax) and
whether it was correct. --csv writes base_eval.py's CSV. The model runs in
float32 on the CPU (the rotary tables too: see torch_fp32.py); run it with
python -O, which skips forward's assert that the tables are bf16."""

import argparse
import csv
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--nanochat", required=True, help="a nanochat v1 work tree")
    p.add_argument("--base", required=True, help="NANOCHAT_BASE_DIR with base_checkpoints/ and tokenizer/")
    p.add_argument("--bundle", required=True)
    p.add_argument("--tasks", required=True, help="comma-separated labels")
    p.add_argument("--max-per-task", type=int, default=-1)
    p.add_argument("--dump", required=True)
    p.add_argument("--csv", required=True)
    return p.parse_args()


args = parse_args()
os.environ["NANOCHAT_BASE_DIR"] = args.base
sys.path.insert(0, args.nanochat)

import torch  # noqa: E402
import yaml  # noqa: E402
from nanochat import core_eval  # noqa: E402
from nanochat.checkpoint_manager import load_model  # noqa: E402
from torch_fp32 import bf16_cast_disabled  # noqa: E402

torch.set_num_threads(1)


def example_record(label, idx, line, model, tokenizer, data, meta):
    """evaluate_example's steps, keeping what it computes on the way."""
    item = data[idx]
    fewshot = []
    if meta["num_fewshot"] > 0:
        rng = random.Random(1234 + idx)
        available = [i for i in range(len(data)) if i != idx]
        fewshot = [data[i] for i in rng.sample(available, meta["num_fewshot"])]
    kind, delim = meta["task_type"], meta["continuation_delimiter"]
    if kind == "multiple_choice":
        prompts = core_eval.render_prompts_mc(item, delim, fewshot)
        tokens, starts, ends = core_eval.batch_sequences_mc(tokenizer, prompts)
    elif kind == "schema":
        prompts = core_eval.render_prompts_schema(item, delim, fewshot)
        tokens, starts, ends = core_eval.batch_sequences_schema(tokenizer, prompts)
    else:
        prompts = core_eval.render_prompts_lm(item, delim, fewshot)
        tokens, starts, ends = core_eval.batch_sequences_lm(tokenizer, prompts)
    input_ids = core_eval.stack_sequences(tokens, tokenizer.get_bos_token_id())
    losses, predictions = core_eval.forward_model(model, input_ids)
    if kind == "language_modeling":
        si, ei = starts[0], ends[0]
        pred = int(torch.all(predictions[0, si - 1:ei - 1] == input_ids[0, si:ei]).item())
        correct = bool(pred)
    else:
        means = [losses[i, si - 1:ei - 1].mean().item() for i, (si, ei) in enumerate(zip(starts, ends))]
        pred = means.index(min(means))
        correct = pred == item["gold"]
    return {"task": label, "idx": idx, "line": line, "prompts": prompts, "tokens": tokens,
            "start": starts, "end": ends, "pred": pred, "correct": correct}


def main():
    with bf16_cast_disabled():
        model, tokenizer, _ = load_model("base", torch.device("cpu"), phase="eval")
    model = model.float()
    with open(os.path.join(args.bundle, "core.yaml")) as f:
        tasks = yaml.safe_load(f)["icl_tasks"]
    with open(os.path.join(args.bundle, "eval_meta_data.csv"), newline="") as f:
        baselines = {row["Eval Task"]: float(row["Random baseline"]) for row in csv.DictReader(f)}
    wanted = args.tasks.split(",")
    results, centered = {}, {}
    with open(args.dump, "w") as dump:
        for task in tasks:
            label = task["label"]
            if label not in wanted:
                continue
            meta = {
                "task_type": task["icl_task_type"],
                "dataset_uri": task["dataset_uri"],
                "num_fewshot": task["num_fewshot"][0],
                "continuation_delimiter": task.get("continuation_delimiter", " "),
            }
            with open(os.path.join(args.bundle, "eval_data", meta["dataset_uri"])) as f:
                data = [json.loads(line.strip()) for line in f]
            lines = list(range(1, len(data) + 1))
            random.Random(1337).shuffle(data)
            random.Random(1337).shuffle(lines)   # the same permutation
            if args.max_per_task > 0:
                data, lines = data[:args.max_per_task], lines[:args.max_per_task]
            for idx in range(len(data)):
                rec = example_record(label, idx, lines[idx], model, tokenizer, data, meta)
                dump.write(json.dumps(rec, separators=(",", ":"), ensure_ascii=True) + "\n")
            acc = core_eval.evaluate_task(model, tokenizer, data, "cpu", meta)
            results[label] = acc
            b = baselines[label]
            centered[label] = (acc - 0.01 * b) / (1.0 - 0.01 * b)
    core = sum(centered.values()) / len(centered)
    with open(args.csv, "w") as f:
        f.write(f"{'Task':<35}, {'Accuracy':<10}, {'Centered':<10}\n")
        for label in results:
            f.write(f"{label:<35}, {results[label]:<10.6f}, {centered[label]:<10.6f}\n")
        f.write(f"{'CORE':<35}, {'':<10}, {core:<10.6f}\n")


main()
