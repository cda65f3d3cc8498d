#!/usr/bin/env bats
# nc-report: the metric logs of a run become report.md with plots; sections
# follow the logs present, numbers come from the logs, plots are valid SVG
# showing the data, and bad input changes nothing.

load helper

F=$ROOT/tests/fixtures/report

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# The lines of a section, from its heading to the next "## " heading.
section() {
	awk -v h="## $1" '$0 == h { on = 1; print; next } on && /^## / { exit } on' "${2:-report/report.md}"
}

# "step value" for each record of a stage's log that has key (loss, val_bpb).
points() {
	grep -v ' event=' "$2" | sed -n "s/^.* step=\([0-9]*\) \(.* \)\{0,1\}$1=\([^ ]*\).*\$/\1 \3/p"
}

# The level 1 and 2 headings of a markdown file, outside fenced blocks.
headings() {
	awk '!f && /^```/ { f = $0; next } f && $0 == f { f = ""; next } !f && /^##? /' "$1"
}

check_plot() {
	python3 "$F/check_plot.py" "$@"
}

@test "-h prints the usage on standard output and exits 0" {
	run nc-report -h
	assert_success
	assert_line --index 0 --partial "usage: nc-report [-o DIR]"
	run nc-report --help
	assert_success
}

@test "an unknown option is a usage error" {
	usage_error "unknown option '--frobnicate'" nc-report --frobnicate
	usage_error "unknown option '-z'" nc-report -z
	usage_error "option '-o' needs a value" nc-report -o
	usage_error "option '--title' needs a value" nc-report --title
	usage_error "option '--quiet' takes no value" nc-report --quiet=1
	usage_error "-o: the directory name is empty" nc-report -o ''
	usage_error "--source: the directory name is empty" nc-report --source=
}

@test "a full set of logs gives every section, in order" {
	run nc-report "$F/tok.log" "$F/base.log" "$F/sft.log" "$F/eval.log" "$F/samples.jsonl"
	assert_success
	assert_output "report/report.md"
	run headings report/report.md
	assert_output "# nc training report
## Environment
## Tokenizer
## Base model training
## Chat SFT
## Evaluation
## Samples
## Summary"
	grep -Eq '^Generated: [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$' report/report.md
	for h in "### Git Information" "### Hardware" "### Software" "### Bloat"; do
		section Environment | grep -qx "$h"
	done
	[ -f report/base-loss.svg ] && [ -f report/base-val-bpb.svg ]
	[ -f report/sft-loss.svg ] && [ -f report/sft-val-loss.svg ] && [ ! -e report/sft-val-bpb.svg ]
}

@test "the summary table takes its values from the logs" {
	nc-report -q "$F/tok.log" "$F/base.log" "$F/sft.log" "$F/eval.log"
	run section Summary
	assert_output --partial "| Metric          | BASE     | MID      | SFT      | RL       |
|-----------------|----------|----------|----------|----------|
| CORE            | 0.2219   | -        | -        | -        |
| ARC-Challenge   | -        | -        | 0.2807   | -        |
| ARC-Easy        | -        | 0.3561   | 0.3876   | -        |
| GSM8K           | -        | -        | 0.0455   | 0.0758   |
| HumanEval       | -        | -        | 0.0854   | -        |
| MMLU            | -        | -        | 0.3151   | -        |
| ChatCORE        | -        | -        | 0.0884   | -        |
| val bpb         | 3.5298   | -        | -        | -        |
| train time      | 0.26s    | -        | 0.50s    | -        |

Total wall clock time: 0h0m"
}

@test "a training section lists every config key, then the figures of the run" {
	nc-report -q "$F/sft.log"
	run section "Chat SFT"
	assert_output "## Chat SFT

- depth: 1
- n_embd: 64
- n_head: 1
- vocab_size: 2048
- params: 311,296
- device_batch_size: 4
- target_examples_per_step: 8
- num_iterations: 4
- rows: 35
- run: sft smoke test
- Training rows: 35
- Number of iterations: 4
- DDP world size: 1
- Training loss: 1.7500
- Validation loss: 1.2345
- Tokens per second: -
- Total training time: 0.50s

![training loss](sft-loss.svg)

![validation loss](sft-val-loss.svg)"
}

@test "stages, results and samples without logs are absent, and show - in the summary" {
	nc-report -q "$F/base.log"
	run grep -c -E '^## (Tokenizer|Midtraining|Chat SFT|Chat RL|Evaluation|Samples)$' report/report.md
	assert_output 0
	run section Summary
	assert_line "| val bpb         | 3.5298   | -        | -        | -        |"
	refute_line --partial "CORE"
	[ ! -e report/sft-loss.svg ]
}

@test "with no logs at all the report still has its environment and summary" {
	run nc-report </dev/null
	assert_success
	run grep -E '^## ' report/report.md
	assert_output "## Environment
## Summary"
	grep -qx "Total wall clock time: unknown" report/report.md
	grep -qx "| train time      | -        | -        | -        | -        |" report/report.md
}

@test "the tokenizer section shows training, token lengths and a compression table" {
	nc-report -q "$F/tok.log"
	run section Tokenizer
	assert_line "- vocab_size: 512"
	assert_line "- train_s: 0.0300"
	assert_line "- token_bytes_mean: 3.6390"
	assert_line "| Text | Bytes | Tokens | Ratio (bytes/token) |"
	assert_line "| README.md | 4569 | 2043 | 2.2364 |"
	assert_line "| code.c | 12,345 | 4000 | 3.0863 |"
}

@test "evaluation results are tabled per stage, the later of two results winning" {
	{ cat "$F/eval.log"; echo "task=core metric=0.2500 stage=base"; } >eval.log
	nc-report -q eval.log
	run section Evaluation
	assert_line "### BASE"
	assert_line "| Task | metric | centered | acc |"
	assert_line "| CORE | 0.2500 | - | - |"
	assert_line "| hellaswag_zeroshot | - | 0.1200 | 0.3000 |"
	assert_line "| MMLU | 0.3151 | 14,042 | - |"
	grep -qx "| CORE            | 0.2500   | -        | -        | -        |" report/report.md
}

@test "each plot is XML with one polyline point per step, x growing and y inverted" {
	nc-report -q "$F/base.log" "$F/sft.log"
	for s in base sft; do
		points loss "$F/$s.log" | check_plot report/$s-loss.svg
	done
	points val_bpb "$F/base.log" | check_plot report/base-val-bpb.svg
	points val_loss "$F/sft.log" | check_plot report/sft-val-loss.svg
	[ "$(points loss "$F/base.log" | wc -l)" -eq 10 ]
	[ "$(points val_bpb "$F/base.log" | wc -l)" -eq 3 ]
}

@test "a resumed log keeps the last record of each step and counts every step's time" {
	nc-report -q "$F/resumed.log"
	# steps 2 and 3 were logged twice; the second values are the ones kept
	printf '0 7.0\n1 6.9\n2 6.7\n3 6.6\n4 6.5\n5 6.4\n' | check_plot report/base-loss.svg
	run section "Base model training"
	assert_line "- Final training loss: 6.4000"
	assert_line "- Minimum validation bpb: 3.4000"
	# eight step records of 100 ms, though the closing record saw only four
	assert_line "- Total training time: 0.80s"
}

@test "NaN and infinite losses are left out of the plot" {
	printf 'stage=base step=%s loss=%s dt_ms=1.0\n' 0 5.0 1 nan 2 4.0 3 inf 4 3.0 >nan.log
	nc-report -q nan.log
	printf '0 5.0\n2 4.0\n4 3.0\n' | check_plot report/base-loss.svg
}

@test "without step records the closing record supplies the figures, and time adds up" {
	cat >times.log <<-'EOF'
	stage=tok-train vocab_size=512 merges=247 train_s=60
	stage=base event=done step=100 params=1000 tokens=50000 world_size=8 time_s=3600 final_loss=3.5 min_val_bpb=0.91 final_val_bpb=0.92 device_mem_gb=52.47
	stage=sft event=done step=10 time_s=1000
	stage=sft event=done step=20 time_s=500
	EOF
	nc-report -q times.log
	run section "Base model training"
	assert_line "- Number of parameters: 1000"
	assert_line "- Number of training tokens: 50,000"
	assert_line "- Tokens : Params ratio: 50.0000"
	assert_line "- DDP world size: 8"
	assert_line "- Final training loss: 3.5000"
	assert_line "- Minimum validation bpb: 0.9100"
	assert_line "- Total training time: 1h00m"
	assert_line "- GPU memory in use (GB): 52.47"
	grep -qx "| train time      | 1h00m    | -        | 25m00s   | -        |" report/report.md
	# 3600 + 1000 + 500 + 60 seconds
	grep -qx "Total wall clock time: 1h26m" report/report.md
	[ ! -e report/base-loss.svg ]
	run grep -c 'svg)' report/report.md
	assert_output 0
}

@test "samples are fenced longer than any backtick run in them" {
	nc-report -q "$F/samples.jsonl"
	run section Samples
	assert_line "### The capital of France is"
	assert_line "### Why is the sky \\<blue\\>?"
	assert_line "Sample 1 (12 tokens, finish: stop):"
	[ "$(grep -c '^### ' <<<"$output")" -eq 2 ]
	# the first sample holds ``` and is fenced with four, the second ```` and five
	python3 - report/report.md <<-'EOF'
	import re, sys
	text = open(sys.argv[1], encoding="utf-8").read()
	blocks = re.findall(r"^(`{3,})\n(.*?)^\1\n", text, re.S | re.M)
	assert [len(f) for f, _ in blocks] == [4, 5, 3], [len(f) for f, _ in blocks]
	assert blocks[0][1] == "The capital of France is Paris.\n```\n# not a heading\n```\n| a | b |\n"
	assert blocks[1][1] == "The capital of France is Lyon,\ufffd or *so* it ````seems````.\n"
	EOF
}

@test "a malformed line is an error naming file and line, and nothing is written" {
	run --separate-stderr nc-report -o fresh "$F/bad.log"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-report: $F/bad.log:3: column 24: quoted value not closed"
	[ ! -e fresh ]
	nc-report -q "$F/base.log"
	cp report/report.md before.md
	run --separate-stderr nc-report "$F/sft.log" "$F/bad.log"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-report: $F/bad.log:3: column 24: quoted value not closed"
	cmp before.md report/report.md
	run ls report
	assert_output "base-loss.svg
base-val-bpb.svg
report.md"
}

@test "bad values, bare words and bad JSON are errors; unknown records are skipped" {
	printf 'stage=base step=1 loss=abc\n' >a.log
	run --separate-stderr nc-report a.log
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-report: a.log:1: loss: 'abc' is not a number"
	printf '\nstage=base step=-1 loss=1\n' >b.log
	run --separate-stderr nc-report b.log
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-report: b.log:2: step: '-1' is not a step number"
	printf 'hello world\n' >c.log
	run --separate-stderr nc-report c.log
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-report: c.log:1: column 1: expected key=value"
	printf '{"prompt": "x", \n' >d.jsonl
	run --separate-stderr nc-report - <d.jsonl
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-report: (stdin):1: column 16: invalid JSON: string or '}' expected near end of file"
	cat >e.log <<-'EOF'
	stage=dream step=1 loss=2.0
	stage=base event=party
	special=<|bos|> id=256
	stage=base step=3 note="no loss here"
	EOF
	run nc-report -q e.log
	assert_success
	run grep -c '^## Base model training' report/report.md
	assert_output 0
}

@test "a missing or unreadable log, or an output that is no directory, is an error naming it" {
	run --separate-stderr nc-report -o out "$F/base.log" no-such.log
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-report: no-such.log: cannot open: No such file or directory"
	[ ! -e out ]
	mkdir dir.log
	run --separate-stderr nc-report -o out dir.log
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-report: dir.log: read error: Is a directory"
	touch file
	run --separate-stderr nc-report -o file "$F/base.log"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-report: file: not a directory"
}

@test "running again after a stage's log appears adds its section" {
	nc-report -q "$F/base.log"
	! grep -q '^## Chat SFT' report/report.md
	nc-report -q "$F/base.log" "$F/sft.log"
	grep -q '^## Chat SFT' report/report.md
	grep -qx "| val bpb         | 3.5298   | -        | -        | -        |" report/report.md
	[ -f report/sft-loss.svg ]
	run ls report
	refute_output --partial ".tmp-"
}

@test "logs are read from standard input, -o names the directory, --title the heading" {
	run nc-report -o a/b --title "My run" - <"$F/base.log"
	assert_success
	assert_output "a/b/report.md"
	assert_line --index 0 "a/b/report.md"
	[ "$(head -1 a/b/report.md)" = "# My run" ]
	grep -q '^## Base model training' a/b/report.md
}

@test "git facts and bloat describe the --source checkout" {
	mkdir src
	printf 'int x;\nint y;\n' >src/a.c
	printf '# Title\n' >src/README.md
	printf 'all:\n' >src/Makefile
	printf 'not counted\n' >src/notes.txt
	git -C src init -q -b trunk
	git -C src add .
	git -C src -c user.name=t -c user.email=t@t commit -qm "First commit: a subject line that goes on and on, well past eighty characters, to be cut"
	nc-report -q --source src
	run section Environment
	assert_line "- Branch: trunk"
	assert_line --regexp "^- Commit: [0-9a-f]{7,} \(clean\)$"
	assert_line "- Message: First commit: a subject line that goes on and on, well past eighty characters, t"
	# a.c, README.md, Makefile: 14 + 8 + 5 bytes, 4 lines
	assert_line "- Characters: 27"
	assert_line "- Lines: 4"
	assert_line "- Files: 3"
	assert_line "- Tokens (approx): 6"
	section Summary | grep -qx -- "- Files: 3"
	echo change >>src/a.c
	nc-report -q --source src
	grep -q '^- Commit: .* (dirty)$' report/report.md
}

@test "outside a git checkout the report says so; a --source that is no directory is an error" {
	nc-report -q
	grep -qx -- "- Git: not a git checkout" report/report.md
	grep -qx -- "- Bloat: not measured (not a git checkout)" report/report.md
	run --separate-stderr nc-report --source nowhere
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-report: nowhere: No such file or directory"
}

@test "GPUs listed by nvidia-smi give the hourly rate, none say CPU only" {
	mkdir bin
	printf '#!/bin/sh\necho "NVIDIA H100 80GB HBM3, 81559 MiB"\necho "NVIDIA H100 80GB HBM3, 81559 MiB"\n' >bin/nvidia-smi
	chmod +x bin/nvidia-smi
	PATH=$PWD/bin:$PATH nc-report -q
	grep -qx -- "- GPUs: 2x NVIDIA H100 80GB HBM3" report/report.md
	grep -qx -- "- GPU Memory: 159.3 GB total" report/report.md
	grep -qx -- "- Hourly Rate: \$6.00/hour" report/report.md
	printf '#!/bin/sh\necho "NVIDIA A100-SXM4-40GB, 40960 MiB"\necho "Tesla V100, 16384 MiB"\n' >bin/nvidia-smi
	PATH=$PWD/bin:$PATH nc-report -q
	grep -qx -- "- GPUs: NVIDIA A100-SXM4-40GB, Tesla V100" report/report.md
	grep -qx -- "- Hourly Rate: \$2.34/hour" report/report.md
	printf '#!/bin/sh\nexit 9\n' >bin/nvidia-smi
	PATH=$PWD/bin:$PATH nc-report -q
	grep -qx -- "- GPUs: None available" report/report.md
	grep -qx -- "- Hourly Rate: - (CPU only)" report/report.md
}

@test "end to end: the logs of nc-bpe and nc-train become a report" {
	gen_text --seed 21 --size 100000 --jsonl >docs.jsonl
	nc-bpe train --quiet --vocab-size=300 -o tok docs.jsonl >tok.log
	nc-bpe stats -t tok docs.jsonl >>tok.log
	nc-shard tokens --quiet -t tok -o data --val-docs=20 docs.jsonl >/dev/null 2>&1
	nc-train base --quiet -t tok --data data -o run --depth=1 --max-seq-len=32 \
		--device-batch-size=4 --total-batch-size=128 --num-iterations=6 --eval-every=3 \
		--eval-tokens=1024 >base.log
	run nc-report tok.log base.log
	assert_success
	points loss base.log | check_plot report/base-loss.svg
	points val_bpb base.log | check_plot report/base-val-bpb.svg
	[ "$(points loss base.log | wc -l)" -eq 6 ]
	min=$(points val_bpb base.log | awk 'NR == 1 || $2 < m { m = $2 } END { printf "%.4f", m }')
	grep -qx "| val bpb         | $min   | -        | -        | -        |" report/report.md
	params=$(sed -n 's/^- Number of parameters: //p' report/report.md | tr -d ,)
	grep -q "^stage=base event=done .* params=$params " base.log
	section Tokenizer | grep -q '^| docs.jsonl | '
}

@test "the Midtraining and Chat SFT sections carry nanochat's fields for them" {
	cat >chat.log <<-'EOF2'
	stage=mid event=config depth=1 max_seq_len=32 device_batch_size=4 rows=30 init_lr_frac=1.000000
	stage=mid step=0 val_bpb=2.500000
	stage=mid step=0 loss=5.000000 lrm=1.0000 progress=0.1000 grad_norm=1.0 dt_ms=100.0 tok_s=1000
	stage=mid step=1 loss=4.000000 lrm=1.0000 progress=0.6000 grad_norm=1.0 dt_ms=100.0 tok_s=1000
	stage=mid step=2 val_bpb=2.000000
	stage=mid event=done step=2 rows=30 iterations=2 world_size=2 time_s=0.300 train_loss=4.000000 min_val_bpb=2.000000 final_val_bpb=2.000000
	stage=sft event=config depth=1 device_batch_size=2 target_examples_per_step=4 num_iterations=3 rows=30
	stage=sft step=0 val_loss=3.000000
	stage=sft step=0 loss=3.500000 lrm=1.0000 num_tokens=40 grad_norm=1.0 dt_ms=50.0
	stage=sft step=1 loss=3.250000 lrm=0.6667 num_tokens=40 grad_norm=1.0 dt_ms=50.0
	stage=sft step=2 loss=3.125000 lrm=0.3333 num_tokens=40 grad_norm=1.0 dt_ms=50.0
	stage=sft step=3 val_loss=2.750000
	stage=sft event=done step=3 rows=30 iterations=3 world_size=1 time_s=0.200 train_loss=3.125000 val_loss=2.750000
	EOF2
	nc-report -q chat.log
	run section Midtraining
	assert_line "- rows: 30"
	assert_line "- Number of iterations: 2"
	assert_line "- DDP world size: 2"
	assert_line "- Minimum validation bpb: 2.0000"
	assert_line "- Final training loss: 4.0000"
	refute_line --partial "Training rows"
	assert_line "![validation bpb](mid-val-bpb.svg)"
	run section "Chat SFT"
	assert_line "- Training rows: 30"
	assert_line "- Number of iterations: 3"
	assert_line "- DDP world size: 1"
	assert_line "- Training loss: 3.1250"
	assert_line "- Validation loss: 2.7500"
	refute_line --partial "validation bpb"
	assert_line "![validation loss](sft-val-loss.svg)"
	printf '0 3.0\n3 2.75\n' | check_plot report/sft-val-loss.svg
	[ ! -e report/sft-val-bpb.svg ]
}
