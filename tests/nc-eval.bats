#!/usr/bin/env bats
# nc-eval core: nanochat's CORE metric. Prompts, token spans, choices and
# accuracies against nanochat's own core_eval.py (tests/oracle/
# core_eval_ref.py) on the same weights; the bundle from a directory or a
# zip; the draws against Python's random; clear errors for bad input.
#
# The comparisons that run nanochat need a Python with torch, tiktoken and
# tokenizers (NC_TORCH_PYTHON) and a nanochat v1 work tree (NANOCHAT_DIR);
# they skip without them. The prompts and token spans are also held
# against tests/fixtures/core/expected.jsonl, which that oracle made.

load helper

TASKS=copa,winograd,bigbench_repeat_copy_logic

setup_file() {
	export T=$BATS_FILE_TMPDIR
	F=tests/fixtures/core
	# a tokenizer and a tiny model trained on the fixture rows' own text
	cat $F/eval_data/*/*.jsonl | jq -c '{text: ([.query, .context, .continuation,
		(.choices // [] | join(" ")), (.context_options // [] | join(" "))]
		| map(select(. != null)) | join(" "))}' >"$T/docs.jsonl"
	build/nc-bpe train --quiet --vocab-size=400 -o "$T/tok" "$T/docs.jsonl" >/dev/null
	build/nc-shard tokens --quiet -t "$T/tok" -o "$T/data" --val-docs=5 "$T/docs.jsonl" >/dev/null
	build/nc-train base --quiet -t "$T/tok" --data "$T/data" -o "$T/run" --depth=1 --max-seq-len=128 \
		--device-batch-size=2 --total-batch-size=256 --num-iterations=40 --eval-every=0 >/dev/null
	build/nc-eval core --quiet -m "$T/run" --tasks=$TASKS --csv="$T/nc.csv" --dump="$T/nc.jsonl" \
		$F >"$T/nc.log"
}

setup() {
	cd "$ROOT"
	F=tests/fixtures/core
}

need_nanochat() {
	TPY=${NC_TORCH_PYTHON:-python3}
	"$TPY" -c 'import torch, tiktoken, tokenizers, yaml, jinja2, safetensors' 2>/dev/null ||
		skip "no torch, tiktoken, tokenizers, yaml, jinja2 in $TPY (set NC_TORCH_PYTHON)"
	[ -n "${NANOCHAT_DIR:-}" ] && [ -f "$NANOCHAT_DIR/nanochat/core_eval.py" ] ||
		skip "NANOCHAT_DIR does not name a nanochat v1 work tree"
}

# nanochat's core_eval.py on the model nc evaluated, converted
run_nanochat() {
	base=$T/nanochat-base
	if [ ! -e "$T/py.csv" ]; then
		rm -rf "$base" && mkdir -p "$base/tokenizer"
		nc-bpe export -t "$T/tok" -o "$T/ranks.tiktoken"
		"$TPY" sh/nanochat-convert.py tokenizer-pkl "$T/ranks.tiktoken" "$base/tokenizer/tokenizer.pkl" 2>/dev/null
		"$TPY" sh/nanochat-convert.py to-nanochat "$T/run/step_000040" "$base/base_checkpoints/d1" 2>/dev/null
		"$TPY" -O "$ORACLE/core_eval_ref.py" --nanochat "$NANOCHAT_DIR" --base "$base" --bundle $F \
			--tasks $TASKS --dump "$T/py.jsonl" --csv "$T/py.csv" 2>/dev/null
	fi
}

@test "every example's prompts, token sequences and spans are those nanochat's core_eval.py makes" {
	# 84 examples: 30 copa (multiple choice), 30 winograd (schema), 24
	# repeat_copy_logic (language modeling, 10-shot)
	[ "$(wc -l <"$T/nc.jsonl")" -eq 84 ]
	diff <(jq -c 'del(.pred, .correct)' "$T/nc.jsonl") $F/expected.jsonl
}

@test "the choices, accuracies and CSV equal nanochat's core_eval.py on the same weights" {
	need_nanochat
	run_nanochat
	cmp "$T/nc.jsonl" "$T/py.jsonl"
	cmp "$T/nc.csv" "$T/py.csv"
	# and the committed prompts are still what nanochat renders
	diff <(jq -c 'del(.pred, .correct)' "$T/py.jsonl") $F/expected.jsonl
}

@test "result lines: one per task with its accuracy and centered score, then CORE, their mean" {
	run cat "$T/nc.log"
	[ "${#lines[@]}" -eq 4 ]
	for i in 0 1 2; do
		[[ "${lines[$i]}" == task=* ]]
		[[ "${lines[$i]}" == *" stage=base acc="*" centered="* ]]
	done
	[[ "${lines[1]}" == "task=winograd stage=base acc="*" n=30 shots=0 type=schema "* ]]
	[[ "${lines[2]}" == "task=bigbench_repeat_copy_logic stage=base "*" n=24 shots=10 type=language_modeling "* ]]
	[[ "${lines[3]}" == "task=core stage=base metric="*" tasks=3 "* ]]
	# accuracies are the dump's correct flags; centered against the CSV's baselines (50, 50, 0)
	for t in copa winograd bigbench_repeat_copy_logic; do
		acc=$(jq -s "map(select(.task == \"$t\") | if .correct then 1 else 0 end) | add / length" "$T/nc.jsonl")
		line=$(grep "^task=$t " "$T/nc.log")
		[[ "$line" == *" acc=$(printf '%.6f' "$acc") "* ]]
	done
	awk '{for (i = 1; i <= NF; i++) if ($i ~ /^(centered|metric)=/) { split($i, kv, "="); v[NR] = kv[2] }}
	     END { m = (v[1] + v[2] + v[3]) / 3; d = m - v[4]; if (d < 0) d = -d; exit !(d < 1e-6) }' "$T/nc.log"
}

@test "the CSV is base_eval.py's: padded Task, Accuracy, Centered columns and a CORE row" {
	run cat "$T/nc.csv"
	assert_line --index 0 "Task                               , Accuracy  , Centered  "
	[[ "${lines[1]}" == "copa                               , 0."* ]]
	[[ "${lines[4]}" == "CORE                               ,           , "* ]]
	[ "${#lines[@]}" -eq 5 ]
}

@test "nc-report tables the result lines under BASE, CORE in the summary" {
	cd "$T"
	nc-report -q nc.log
	grep -q '^| CORE | ' report/report.md
	grep -q '^| copa | ' report/report.md
	grep -Eq '^\| CORE +\| 0\.[0-9]{4} ' report/report.md
}

@test "eval_bundle.zip is read straight from the archive, with or without its eval_bundle/ folder" {
	mkdir -p "$T/zip/eval_bundle"
	cp -r $F/* "$T/zip/eval_bundle/"
	(cd "$T/zip" && zip -qr ../bundle.zip eval_bundle && cd eval_bundle && zip -qr ../../flat.zip .)
	for z in bundle flat; do
		nc-eval core --quiet -m "$T/run" --tasks=$TASKS --dump="$T/$z.jsonl" "$T/$z.zip" >"$T/$z.log"
		cmp "$T/$z.jsonl" "$T/nc.jsonl"
		cmp "$T/$z.log" "$T/nc.log"
	done
}

@test "a truncated zip is an error naming the archive and the member" {
	[ -e "$T/bundle.zip" ] || skip "needs the zip test"
	head -c 9000 "$T/bundle.zip" >"$T/cut.zip"
	run --separate-stderr nc-eval core --quiet -m "$T/run" --tasks=$TASKS "$T/cut.zip"
	assert_failure 1
	[[ "$stderr" == "nc-eval: $T/cut.zip#eval_bundle/"*": "* ]]
	[ -z "$output" ]
}

@test "--max-per-task keeps the first N of the shuffled examples; --tasks picks tasks" {
	nc-eval core --quiet -m "$T/run" --tasks=copa --max-per-task=7 --dump="$T/seven.jsonl" $F >"$T/seven.log"
	# 0-shot, so each example is as in the full run
	diff "$T/seven.jsonl" <(head -7 "$T/nc.jsonl")
	[ "$(wc -l <"$T/seven.log")" -eq 2 ]
	grep -q '^task=copa stage=base .* n=7 ' "$T/seven.log"
}

@test "two ranks under mpirun give the one-process results" {
	command -v mpirun >/dev/null || skip "no mpirun"
	ldd build/nc-eval | grep -q libmpi || skip "nc-eval built without MPI"
	mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1 build/nc-eval core --quiet \
		-m "$T/run" --tasks=$TASKS --csv="$T/two.csv" $F >"$T/two.log"
	cmp "$T/two.log" "$T/nc.log"
	cmp "$T/two.csv" "$T/nc.csv"
}

@test "the shuffle and the few-shot draws equal Python's random on 1,000 seeds" {
	cmp <(build/tests/test_core_eval --dump shuffle 1000) <("$PY" "$ORACLE/core_draws_ref.py" shuffle 1000)
	cmp <(build/tests/test_core_eval --dump fewshot 1000 10 1000) <("$PY" "$ORACLE/core_draws_ref.py" fewshot 1000 10 1000)
	cmp <(build/tests/test_core_eval --dump fewshot 24 10 24) <("$PY" "$ORACLE/core_draws_ref.py" fewshot 24 10 24)
	cmp <(build/tests/test_core_eval --dump fewshot 5000 3 1000) <("$PY" "$ORACLE/core_draws_ref.py" fewshot 5000 3 1000)
}

# a copy of the fixture bundle to break
broken_bundle() {
	rm -rf "$T/bad"
	cp -r $F "$T/bad"
	chmod -R u+w "$T/bad"
}

@test "a task file with a missing gold is an error naming the file and line" {
	broken_bundle
	f=$T/bad/eval_data/commonsense_reasoning/copa.jsonl
	sed -i '3s/"gold": [0-9], //' "$f"
	run --separate-stderr nc-eval core --quiet -m "$T/run" --tasks=copa "$T/bad"
	assert_failure 1
	[ "$stderr" = "nc-eval: $f:3: no \"gold\"" ]
	sed -i '3s/"query"/"gold": 2, "query"/' "$f"
	run --separate-stderr nc-eval core --quiet -m "$T/run" --tasks=copa "$T/bad"
	[ "$stderr" = "nc-eval: $f:3: gold is not an index of the 2 options" ]
}

@test "more few-shot examples than the task has others is an error naming the task" {
	run --separate-stderr nc-eval core --quiet -m "$T/run" --tasks=bigbench_repeat_copy_logic --max-per-task=10 $F
	assert_failure 1
	[ "$stderr" = "nc-eval: $F/eval_data/symbolic_problem_solving/bigbench_repeat_copy_logic.jsonl: bigbench_repeat_copy_logic takes 10-shot examples but has 10 examples (10 others needed)" ]
}

@test "a tokenizer that is not the model's is refused; without a fingerprint, a vocabulary of another size" {
	printf '{"text": "%s"}\n' "another text entirely, with other merges" >"$T/other.jsonl"
	nc-bpe train --quiet --vocab-size=300 -o "$T/other.tok" "$T/other.jsonl" >/dev/null 2>&1
	run --separate-stderr nc-eval core --quiet -m "$T/run" -t "$T/other.tok" --tasks=copa $F
	assert_failure 1
	[[ "$stderr" == "nc-eval: $T/other.tok: tokenizer fingerprint "*", but $T/run/step_000040 was trained with "* ]]
	# a checkpoint with no fingerprint (as converted from nanochat) is
	# still held to the tokenizer's vocabulary size
	cp -r "$T/run/step_000040" "$T/nofp"
	"$PY" - "$T/nofp/model.safetensors" <<'EOF2'
import sys
from safetensors import safe_open
from safetensors.numpy import save_file
with safe_open(sys.argv[1], "np") as f:
    md = dict(f.metadata())
    t = {k: f.get_tensor(k) for k in f.keys()}
del md["tokenizer_fingerprint"]
md.pop("data_xxh3", None)
save_file(t, sys.argv[1], metadata=md)
EOF2
	run --separate-stderr nc-eval core --quiet -m "$T/nofp" -t "$T/other.tok" --tasks=copa $F
	assert_failure 1
	[ "$stderr" = "nc-eval: $T/nofp: vocabulary 400, but the tokenizer has 292" ]
	nc-eval core --quiet -m "$T/nofp" --tasks=copa $F | grep -q '^task=copa '
}

@test "a bad core.yaml, a task without a baseline and an unknown --tasks name are errors" {
	broken_bundle
	printf 'icl_tasks:\n-\n  label: copa\n  dataset_uri: x.jsonl\n  icl_task_type: essay\n' >"$T/bad/core.yaml"
	run --separate-stderr nc-eval core --quiet -m "$T/run" "$T/bad"
	assert_failure 1
	[ "$stderr" = "nc-eval: $T/bad/core.yaml:5: unknown icl_task_type essay" ]
	printf 'icl_tasks:\n-\n  label: nosuch\n  dataset_uri: x.jsonl\n  icl_task_type: schema\n' >"$T/bad/core.yaml"
	run --separate-stderr nc-eval core --quiet -m "$T/run" "$T/bad"
	[ "$stderr" = "nc-eval: $T/bad/eval_meta_data.csv: no row for task nosuch" ]
	run --separate-stderr nc-eval core --quiet -m "$T/run" --tasks=copa,nosuch $F
	assert_failure 1
	[ "$stderr" = "nc-eval: --tasks: nosuch is no task of $F" ]
}

@test "-h prints usage; a missing model or bundle is a usage error" {
	run nc-eval -h
	assert_success
	assert_line --index 0 "usage: nc-eval core -m CHECKPOINT [options] BUNDLE"
	run nc-eval core $F
	[ "$status" -eq 2 ]
	run nc-eval core -m "$T/run"
	[ "$status" -eq 2 ]
}

@test "bpb: the val bits per byte nc-train logs for the same checkpoint, tokens and batch" {
	nc-train base --quiet -t "$T/tok" --data "$T/data" -o "$T/bpbrun" --depth=1 --max-seq-len=128 \
		--device-batch-size=2 --total-batch-size=256 --num-iterations=10 --eval-every=10 \
		--eval-tokens=512 >"$T/train.log"
	want=$(sed -n 's/^stage=base step=10 val_bpb=\([0-9.]*\)$/\1/p' "$T/train.log")
	[ -n "$want" ]
	run nc-eval bpb -m "$T/bpbrun" --data "$T/data" --eval-tokens=512 --device-batch-size=2
	assert_success
	assert_line --index 0 --regexp "^task=train_bpb stage=base bpb=[0-9.]+ steps=2 tokens=512 model=$T/bpbrun/step_000010\$"
	assert_line --index 1 "task=val_bpb stage=base bpb=$want steps=2 tokens=512 model=$T/bpbrun/step_000010"
	# the whole split with --eval-tokens=0, a shorter context with --max-seq-len
	run nc-eval bpb -m "$T/bpbrun" --data "$T/data" --eval-tokens=0 --device-batch-size=2 --max-seq-len=64 --split=val
	assert_success
	assert_output --regexp '^task=val_bpb stage=base bpb=[0-9.]+ steps=[0-9]+ tokens=[0-9]+ '
}

@test "bpb: a token count that is no whole number of batches, an unknown split, no --data" {
	run --separate-stderr nc-eval bpb -m "$T/run" --data "$T/data" --eval-tokens=500 --device-batch-size=2
	assert_failure 1
	[ "$stderr" = "nc-eval: --eval-tokens=500 is not a multiple of 2 x 128 x 1 tokens a step" ]
	run --separate-stderr nc-eval bpb -m "$T/run" --data "$T/data" --split=test
	assert_failure 1
	[ "$stderr" = "nc-eval: --split: test is neither train nor val" ]
	run nc-eval bpb -m "$T/run"
	[ "$status" -eq 2 ]
}

@test "language modeling: continuations the model writes greedily (nc-sample -T 0) match, altered ones do not" {
	mkdir -p "$T/lm/eval_data"
	printf 'icl_tasks:\n-\n  label: greedy\n  dataset_uri: greedy.jsonl\n  num_fewshot: [0]\n  icl_task_type: language_modeling\n' >"$T/lm/core.yaml"
	printf 'Eval Task,Random baseline\ngreedy,0\n' >"$T/lm/eval_meta_data.csv"
	# contexts from the fixture rows; the continuation is the engine's
	# greedy text after the delimiter (a space), cut to whole words and one
	# letter, then the same with its last letter changed
	jq -r '.context_options[0], .query | select(. != null)' $F/eval_data/*/*.jsonl | head -20 |
		nc-sample -m "$T/run" -n 4 -T 0 --json |
		jq -c 'select(.text | test("^ [a-z]+ [a-z]+")) | {context: .prompt, continuation: .text[1:]}' >"$T/greedy.jsonl"
	[ "$(wc -l <"$T/greedy.jsonl")" -ge 10 ]
	jq -c '.continuation |= (.[:-1] + (if .[-1:] == "q" then "z" else "q" end))' "$T/greedy.jsonl" >"$T/altered.jsonl"
	cat "$T/greedy.jsonl" "$T/altered.jsonl" >"$T/lm/eval_data/greedy.jsonl"
	n=$(wc -l <"$T/greedy.jsonl")
	nc-eval core --quiet -m "$T/run" --dump="$T/lm.jsonl" "$T/lm" >"$T/lm.log"
	# the shuffle moved the rows: their lines say which is which
	[ "$(jq -c "select(.line <= $n) | .correct" "$T/lm.jsonl" | sort -u)" = true ]
	[ "$(jq -c "select(.line > $n) | .correct" "$T/lm.jsonl" | sort -u)" = false ]
	grep -q '^task=greedy stage=base acc=0.500000 ' "$T/lm.log"
}

@test "language modeling: nanochat's core_eval.py says the same of every greedy and altered row" {
	[ -e "$T/lm.jsonl" ] || skip "needs the greedy test"
	need_nanochat
	run_nanochat
	"$TPY" -O "$ORACLE/core_eval_ref.py" --nanochat "$NANOCHAT_DIR" --base "$T/nanochat-base" \
		--bundle "$T/lm" --tasks greedy --dump "$T/lm-py.jsonl" --csv "$T/lm-py.csv" 2>/dev/null
	cmp "$T/lm.jsonl" "$T/lm-py.jsonl"
}

@test "--list: the 22 tasks, types, shots, delimiters and baselines Python's yaml and csv read from the bundle" {
	python3 -c 'import yaml' 2>/dev/null || skip "no PyYAML in python3"
	python3 - $F >"$T/list-py.jsonl" <<'EOF2'
import csv, json, sys, yaml
b = sys.argv[1]
with open(f"{b}/core.yaml") as f:
    tasks = yaml.safe_load(f)["icl_tasks"]
with open(f"{b}/eval_meta_data.csv", newline="") as f:
    base = {r["Eval Task"]: float(r["Random baseline"]) for r in csv.DictReader(f)}
for t in tasks:
    print(json.dumps({"label": t["label"], "type": t["icl_task_type"], "shots": t["num_fewshot"][0],
                      "delimiter": t.get("continuation_delimiter", " "),
                      "baseline": base[t["label"]], "uri": t["dataset_uri"]}))
EOF2
	nc-eval core --list $F >"$T/list.jsonl"
	[ "$(wc -l <"$T/list.jsonl")" -eq 22 ]
	diff <(jq -c -S . "$T/list.jsonl") <(jq -c -S . "$T/list-py.jsonl")
}
