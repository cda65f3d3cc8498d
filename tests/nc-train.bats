#!/usr/bin/env bats
# nc-train on the CPU: base learns, resumes bit for bit, survives kill -9
# without leaving a half checkpoint, and refuses bad input clearly; mid and
# sft train from its checkpoint on chat shards, resume bit for bit, over
# one rank or two, and refuse the wrong data, tokenizer or stage.

load helper
bats_require_minimum_version 1.5.0

setup_file() {
	export T=$BATS_FILE_TMPDIR
	tiny_data 21 400000 20
}

setup() {
	cd "$ROOT"
}

# A tiny model: depth 1 (width 64, one head), context 32, 4 x 32 tokens a step.
# tiny_exec becomes nc-train, so that `(tiny_exec ...) &` leaves nc-train's
# own PID in $! (a signal to a function's subshell would miss it).
tiny_exec() {
	exec nc-train base -t "$T/tok" --data "$T/data" --depth=1 --max-seq-len=32 --device-batch-size=4 \
		--total-batch-size=256 --eval-tokens=2048 "$@"
}

tiny() {
	(tiny_exec "$@")
}

# Wait (up to a minute) until a path exists.
await() {
	for _ in $(seq 600); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	echo "timed out waiting for $1" >&2
	return 1
}

@test "a tiny model learns: loss and validation bits per byte fall" {
	run tiny -o "$T/learn" --num-iterations=80 --eval-every=40 --quiet
	assert_success
	first=$(echo "$output" | grep -m1 ' loss=' | sed 's/.* loss=\([0-9.]*\).*/\1/')
	last=$(echo "$output" | grep ' loss=' | tail -1 | sed 's/.* loss=\([0-9.]*\).*/\1/')
	b0=$(echo "$output" | grep -m1 val_bpb | sed 's/.*val_bpb=//')
	b1=$(echo "$output" | grep val_bpb | tail -1 | sed 's/.*val_bpb=//')
	echo "loss $first -> $last, bpb $b0 -> $b1"
	awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 1.0) }'
	awk -v a="$b0" -v b="$b1" 'BEGIN { exit !(b < a - 0.5) }'
	[ -f "$T/learn/step_000080/model.safetensors" ]
	[ -f "$T/learn/step_000080/optim.0.safetensors" ]
	[ -f "$T/learn/step_000080/tokenizer" ]
}

@test "without a terminal, progress is a plain line on stderr every NC_PROGRESS_INTERVAL seconds" {
	NC_PROGRESS_INTERVAL=0 run --separate-stderr tiny -o "$T/plain" --num-iterations=5 --eval-every=0
	assert_success
	refute_output --partial 'training:'
	[[ $stderr != *$'\r'* && $stderr != *$'\033'* ]] || fail "a redrawn line in a file: $stderr"
	lines=$(grep -cE '^nc-train: training: [1-5] steps \([0-9.]+%\)( ETA [0-9]+m[0-9]{2}s)? [0-9.]+ steps/s, [0-9.]+s$' <<<"$stderr")
	[ "$lines" -eq 5 ] || fail "$lines progress lines, not one a step: $stderr"
	# a line every interval: a run shorter than one says nothing but where
	# it saved (an hour, not the default 10 s, so that a loaded machine's
	# slow steps cannot reach it)
	NC_PROGRESS_INTERVAL=3600 run --separate-stderr tiny -o "$T/plain2" --num-iterations=5 --eval-every=0
	assert_success
	assert_equal "$stderr" "nc-train: saved $T/plain2/step_000005"
	NC_PROGRESS_INTERVAL=0 run --separate-stderr tiny -o "$T/plain3" --num-iterations=5 --eval-every=0 --quiet
	assert_equal "$stderr" ''
}

@test "a message clears the redrawn progress line instead of running on after it" {
	run --separate-stderr tiny -o "$T/bar" --num-iterations=3 --save-every=1 --eval-every=0 --progress
	assert_success
	[[ $stderr == *$'\r'* ]] || fail "no redrawn line: $stderr"
	[[ $stderr != *$'s\033[Knc-train: saved '* ]] || fail "a message ran on after the line: $stderr"
	[[ $stderr == *$'\033[K\r\033[Knc-train: saved '* ]] || skip "no line was on screen at a save (steps under 0.25 s)"
}

@test "every step logs one logfmt line with loss, lr multiplier, time and tokens/s" {
	run tiny -o "$T/log" --num-iterations=3 --eval-every=0 --quiet
	assert_success
	assert_line --index 0 --regexp '^stage=base event=config depth=1 n_embd=64 n_head=1 vocab_size=400 '
	assert_line --index 1 --regexp '^stage=base step=0 loss=[0-9.]+ lrm=1.0000 grad_norm=[0-9.]+ dt_ms=[0-9.]+ tok_s=[0-9]+$'
	# and a closing record with what a report needs
	assert_line --index 4 --regexp '^stage=base event=done step=3 params=[0-9]+ tokens=768 total_flops=[0-9]+ world_size=1 time_s=[0-9.]+ tok_s=[0-9]+ final_loss=[0-9.]+$'
	[ "${#lines[@]}" -eq 5 ]
}

@test "a resumed run is bit for bit the run that never stopped" {
	tiny -o "$T/straight" --num-iterations=12 --eval-every=0 --quiet >"$T/straight.log"
	tiny -o "$T/stopped" --num-iterations=12 --save-every=6 --eval-every=0 --quiet >/dev/null
	rm -rf "$T/stopped/step_000012"
	tiny -o "$T/stopped" --num-iterations=12 --eval-every=0 --resume --quiet >"$T/resumed.log"
	cmp "$T/straight/step_000012/model.safetensors" "$T/stopped/step_000012/model.safetensors"
	cmp "$T/straight/step_000012/optim.0.safetensors" "$T/stopped/step_000012/optim.0.safetensors"
	diff <(grep -E 'step=(6|7|8|9|10|11) ' "$T/straight.log" | sed 's/ dt_ms.*//') \
		<(grep -E 'step=' "$T/resumed.log" | grep -v event=done | sed 's/ dt_ms.*//')
}

@test "kill -9 at any moment leaves only complete checkpoints, and the run resumes" {
	(tiny_exec -o "$T/killed" --num-iterations=400 --save-every=1 --eval-every=0 --quiet >/dev/null) &
	pid=$!
	await "$T/killed/step_000003"
	kill -9 "$pid"
	wait "$pid" || true
	run kill -0 "$pid"
	assert_failure   # nc-train itself is gone, not only a shell around it
	# every checkpoint name that looks complete is complete
	for d in "$T"/killed/step_*; do
		case "$d" in *.tmp-*) continue ;; esac
		[ -f "$d/model.safetensors" ] && [ -f "$d/optim.0.safetensors" ] && [ -f "$d/tokenizer" ]
	done
	run tiny -o "$T/killed" --num-iterations=400 --eval-every=0 --resume --quiet
	assert_success
	[ -f "$T/killed/step_000400/model.safetensors" ]
}

@test "a second run in the same directory is refused while the first holds it, naming it" {
	(tiny_exec -o "$T/busy" --num-iterations=100000 --save-every=1 --eval-every=0 --quiet >/dev/null) &
	pid=$!
	await "$T/busy/step_000001"
	run --separate-stderr tiny -o "$T/busy" --num-iterations=2 --eval-every=0 --resume --quiet
	kill -9 "$pid"
	wait "$pid" || true
	assert_failure 1
	[ "$stderr" = "nc-train: $T/busy is in use by another run (pid $pid on $(hostname))" ]
	[ -z "$output" ]
	# the holder was killed: its lock went with it, and one more step resumes
	last=$(ls -d "$T"/busy/step_* | grep -v '[.]tmp-' | tail -1)
	run tiny -o "$T/busy" --num-iterations=$((10#${last##*_} + 1)) --eval-every=0 --resume --quiet
	assert_success
}

@test "shards from another tokenizer are refused" {
	build/nc-bpe train --quiet --vocab-size=300 -o "$T/other" "$T/docs.jsonl" >/dev/null
	run --separate-stderr nc-train base -t "$T/other" --data "$T/data" -o "$T/x" --depth=1 --max-seq-len=32 \
		--device-batch-size=4 --total-batch-size=256 --num-iterations=1
	assert_failure 1
	assert_output ''
	assert_regex "$stderr" "^nc-train: $T/data/train_00000.bin: written with another tokenizer \\(fingerprint [0-9a-f]{16}, expected [0-9a-f]{16}\\)\$"
}

@test "version 1 shards train with a warning; one whose header names another vocabulary is refused" {
	V1=tests/fixtures/shard-v1
	run --separate-stderr nc-train base -t "$V1/tok" --data "$V1" -o "$T/v1run" --depth=1 \
		--max-seq-len=32 --device-batch-size=4 --total-batch-size=256 --num-iterations=2 --eval-every=0 --quiet
	assert_success
	[ "$stderr" = "nc-train: $V1: 1 shard(s) of version 1, whose headers their checksums do not cover (nc-shard cat rewrites one as version 2)" ]
	mkdir -p "$T/wide"
	cp "$V1"/*.bin "$T/wide/"
	printf '\000\000\001\000' | dd of="$T/wide/train_00000.bin" bs=1 seek=24 conv=notrunc 2>/dev/null
	run --separate-stderr nc-train base -t "$V1/tok" --data "$T/wide" -o "$T/wide-run" --depth=1 \
		--max-seq-len=32 --device-batch-size=4 --total-batch-size=256 --num-iterations=1
	assert_failure 1
	[ "$stderr" = "nc-train: $T/wide/train_00000.bin: a vocabulary of 65536 tokens (byte 24), but the tokenizer has 300" ]
}

@test "an impossible configuration is refused" {
	run --separate-stderr tiny -o "$T/y" --total-batch-size=100 --num-iterations=1
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-train: --total-batch-size=100 is not a multiple of --device-batch-size x --max-seq-len = 128"
	run --separate-stderr nc-train base -t "$T/tok" --data "$T/data" -o "$T/y" --depth=5 --num-iterations=1
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-train: depth 5: width 320 does not split into 3 heads"
	run --separate-stderr nc-train base -t "$T/tok" --data "$T/nope" -o "$T/y" --depth=1 --num-iterations=1
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-train: $T/nope: No such file or directory"
}

@test "a checkpoint with a damaged tensor is refused on resume" {
	tiny -o "$T/dmg" --num-iterations=2 --eval-every=0 --quiet >/dev/null
	f="$T/dmg/step_000002/model.safetensors"
	head -c 2000 "$f" >"$f.cut" && mv "$f.cut" "$f"
	hlen=$(od -An -tu8 -N8 "$f" | tr -d ' ')   # what the header leaves of the 2000 bytes
	run --separate-stderr tiny -o "$T/dmg" --num-iterations=4 --eval-every=0 --resume --quiet
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-train: $f: tensor transformer.wte.weight: data_offsets [0, 102400] run past the end of the $((2000 - 8 - hlen)) data bytes (truncated?)"
}

# Set a metadata value of a safetensors file (its header rewritten).
set_meta() {
	python3 - "$1" "$2" "$3" <<'PY'
import json, struct, sys
path, key, value = sys.argv[1:]
b = open(path, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
h["__metadata__"][key] = value
j = json.dumps(h).encode()
j += b" " * (-len(j) % 8)
open(path, "wb").write(struct.pack("<Q", len(j)) + j + b[8 + n:])
PY
}

@test "a checkpoint whose step is negative is refused on resume, naming it" {
	tiny -o "$T/neg" --num-iterations=2 --eval-every=0 --quiet >/dev/null
	set_meta "$T/neg/step_000002/model.safetensors" step -5
	run --separate-stderr tiny -o "$T/neg" --num-iterations=4 --eval-every=0 --resume --quiet
	assert_failure 1
	[ "$stderr" = "nc-train: $T/neg/step_000002/model.safetensors: step is '-5', not a count" ]
}

@test "a log that cannot be written stops the run at its first line, before any checkpoint" {
	to_full() { "$@" >/dev/full; }
	run --separate-stderr to_full tiny -o "$T/full" --num-iterations=40 --save-every=5 --eval-every=0 --quiet
	assert_failure 1
	[ "$stderr" = "nc-train: standard output: write error: No space left on device" ]
	[ -z "$(ls "$T/full" | grep step_)" ]
}

# Two bytes of the payload overwritten: the checksum no longer matches.
damage_shard() {
	printf 'XY' | dd of="$1" bs=1 seek=100 conv=notrunc status=none
}

@test "a damaged validation shard stops the run with the file and the byte, not val_bpb=inf" {
	cp -r "$T/data" "$T/badval"
	damage_shard "$T/badval/val_00000.bin"
	run --separate-stderr nc-train base -t "$T/tok" --data "$T/badval" -o "$T/bv" --depth=1 \
		--max-seq-len=32 --device-batch-size=4 --total-batch-size=256 --eval-tokens=2048 \
		--num-iterations=2 --eval-every=1 --quiet
	assert_failure 1
	[[ "$stderr" == "nc-train: $T/badval/val_00000.bin: checksum mismatch: bytes 0 to "*" (header and payload) do not match the checksum at byte "* ]]
	refute_output --partial val_bpb
	[ ! -d "$T/bv/step_000002" ]
}

@test "a damaged training shard stops the run with the file and the byte" {
	cp -r "$T/data" "$T/badtrain"
	damage_shard "$T/badtrain/train_00000.bin"
	run --separate-stderr tiny -o "$T/bt" --data "$T/badtrain" --num-iterations=2 --eval-every=0 --quiet
	assert_failure 1
	[[ "$stderr" == "nc-train: $T/badtrain/train_00000.bin: checksum mismatch: bytes 0 to "*" (header and payload) do not match the checksum at byte "* ]]
	[ ! -d "$T/bt/step_000002" ]
}

@test "usage errors exit 2" {
	usage_error "base: -t TOKENIZER, --data DIR and -o RUN_DIR are required" nc-train base -t "$T/tok"
	usage_error "unknown stage 'rl' (this build trains: base, mid, sft)" nc-train rl
	usage_error "a stage is required (this build trains: base, mid, sft)" nc-train
	usage_error "--depth: 'lots' is not a number" nc-train base --depth=lots
	usage_error "--dtype: bfloat16 or float32 (not 'half')" nc-train base --dtype=half
	usage_error "unexpected operand 'extra'" nc-train base -t "$T/tok" extra
}

@test "an unknown option or a missing value: one line naming it and the help hint, on stderr" {
	usage_error "unknown option '--bogus'" nc-train base --bogus
	usage_error "unknown option '-x'" nc-train base -x
	usage_error "option '--data' needs a value" nc-train base -t "$T/tok" --data
	usage_error "option '-o' needs a value" nc-train base -o
	usage_error "option '--resume' takes no value" nc-train base --resume=yes
}

@test "real-number options refuse NaN and values out of range; --device names the three" {
	usage_error "--warmup-ratio: 'nan' is not a number in [0, 1]" nc-train base --warmup-ratio=nan
	usage_error "--matrix-lr: '-nan' is not a number in [0, 1000]" nc-train base --matrix-lr=-nan
	usage_error "--final-lr-frac: '1.5' is not a number in [0, 1]" nc-train base --final-lr-frac=1.5
	usage_error "--grad-clip: '1x' is not a number in [0, 1e+09]" nc-train base --grad-clip=1x
	usage_error "--device: cpu, cuda or auto (not 'tpu')" nc-train base --device=tpu
}

@test "the CPU computes in float32 whatever --dtype says, and the config line names the device" {
	tiny -o "$T/dt_bf" --num-iterations=2 --eval-every=0 --quiet --device=cpu >"$T/dt_bf.log"
	tiny -o "$T/dt_f32" --num-iterations=2 --eval-every=0 --quiet --device=cpu --dtype=float32 >"$T/dt_f32.log"
	grep -q 'event=config .* device=cpu$' "$T/dt_bf.log"
	[ "$(grep -c "loss=" "$T/dt_bf.log")" -ge 2 ]
	diff <(grep -o 'loss=[0-9.]*' "$T/dt_bf.log") <(grep -o 'loss=[0-9.]*' "$T/dt_f32.log")
}

@test "a run directory holding checkpoints needs --resume; resuming past the horizon is refused" {
	tiny -o "$T/twice" --num-iterations=3 --eval-every=0 --quiet >/dev/null
	run --separate-stderr tiny -o "$T/twice" --num-iterations=3 --eval-every=0 --quiet
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-train: $T/twice already holds checkpoints ($T/twice/step_000003): use --resume, or another directory"
	run --separate-stderr tiny -o "$T/twice" --num-iterations=2 --eval-every=0 --resume --quiet
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-train: $T/twice/step_000003 is at step 3, past the 2 iterations asked for"
	run --separate-stderr tiny -o "$T/twice" --num-iterations=3 --eval-every=0 --resume --max-seq-len=16 --quiet
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-train: $T/twice/step_000003: trained with --max-seq-len=32, not 16"
}

# Two ranks under mpirun against one process with twice the accumulation:
# rank r at step s reads window 2s + r, the one process windows 2s and
# 2s + 1, so both see the same data. Clipping is off: nanochat clips each
# rank's own gradient (spec §3.5), which makes the runs differ by design.
# So does AdamW: several ranks step with nanochat's DistAdamW formula,
# whose epsilon moves the few embedding values with gradients near 1e-9
# (5 here, by up to 0.1) and the losses by about 2e-5. Otherwise the
# models differ only by float rounding (summing the micro-batches'
# gradients in another order), which AdamW's large embedding step grows to
# about 1e-3 at most; a wrong average or shard would move thousands of
# values by about the learning rate (0.7). The optimizers themselves are
# checked against nanochat's DistAdamW and DistMuon by the last test here.
mpi() {
	if ! command -v mpirun >/dev/null; then
		[ -z "${CI:-}" ] || { echo "mpirun is missing (make setup)"; return 1; }
		skip "no mpirun"
	fi
	ldd build/nc-train | grep -q libmpi || skip "nc-train built without MPI"
	mpirun --allow-run-as-root --oversubscribe -np "$1" -x OMP_NUM_THREADS=1 build/nc-train "${@:2}"
}

@test "two ranks under mpirun train the model one process trains with twice the accumulation" {
	args=(-t "$T/tok" --data "$T/data" --depth=1 --max-seq-len=32 --device-batch-size=4
	      --total-batch-size=256 --eval-tokens=2580 --eval-every=4 --num-iterations=8
	      --grad-clip=0 --quiet)
	OMP_NUM_THREADS=1 nc-train base "${args[@]}" -o "$T/one" >"$T/one.log"
	mpi 2 base "${args[@]}" -o "$T/two" >"$T/two.log"
	grep -q 'grad_accum_steps=2 ' "$T/one.log"
	grep -q 'grad_accum_steps=1 world_size=2 ' "$T/two.log"
	# each rank saved its shard of the optimizer state
	[ -f "$T/two/step_000008/optim.0.safetensors" ] && [ -f "$T/two/step_000008/optim.1.safetensors" ]
	grep -q 'adamw=torch device' "$T/one.log"
	grep -q 'adamw=dist device' "$T/two.log"
	python3 tests/oracle/st_close.py "$T/one/step_000008/model.safetensors" \
		"$T/two/step_000008/model.safetensors" 5e-3 16
	# the same losses and bits per byte, to 1e-4
	paste <(grep -v event=done "$T/one.log" | grep -o -E '(loss|val_bpb)=[0-9.]+') \
	      <(grep -v event=done "$T/two.log" | grep -o -E '(loss|val_bpb)=[0-9.]+') | tr '=' '\t' |
		awk -F'\t' '{ d = $2 - $4; if ($1 != $3 || d > 1e-4 || d < -1e-4) bad = 1; n++ }
			    END { exit bad || n != 11 }'
}

@test "a run over two ranks resumes bit for bit, and only with two ranks" {
	args=(-t "$T/tok" --data "$T/data" --depth=1 --max-seq-len=32 --device-batch-size=4
	      --total-batch-size=256 --eval-every=0 --num-iterations=8 --quiet)
	mpi 2 base "${args[@]}" -o "$T/s2" >/dev/null
	mpi 2 base "${args[@]}" -o "$T/r2" --save-every=4 >/dev/null
	rm -rf "$T/r2/step_000008"
	mpi 2 base "${args[@]}" -o "$T/r2" --resume >/dev/null
	for f in model optim.0 optim.1; do
		cmp "$T/s2/step_000008/$f.safetensors" "$T/r2/step_000008/$f.safetensors"
	done
	run --separate-stderr nc-train base "${args[@]}" -o "$T/r2" --resume --num-iterations=9
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-train: $T/r2/step_000008 was written by 2 ranks; resume it with as many, not 1"
}

# tests/unit/test_optim_dist.c: two ranks train a small model from
# nanochat's weights on nanochat's batches, and step to the weights that
# nanochat's own DistAdamW and DistMuon reach on two gloo processes
# (tests/fixtures/gpt/ref_dist, tests/oracle/nanochat_train_ref.py).
@test "two ranks step as nanochat's DistAdamW and DistMuon do" {
	command -v mpirun >/dev/null || { [ -z "${CI:-}" ] || fail "mpirun is missing (make setup)"; skip "no mpirun"; }
	ldd build/tests/test_optim_dist | grep -q libmpi || skip "built without MPI"
	run mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1 build/tests/test_optim_dist
	echo "$output"
	assert_success
	assert_line --regexp '^ok 3 - '
	refute_line --regexp '^not ok'
}

@test "on real English text (this project's manual pages) the loss falls well below its start" {
	for f in man/*.[157] README.md; do
		python3 -c 'import json,sys
for p in open(sys.argv[1], encoding="utf-8").read().split("\n.PP\n"):
    print(json.dumps({"text": p}))' "$f"
	done >"$T/man.jsonl"
	build/nc-bpe train --quiet --vocab-size=512 -o "$T/mtok" "$T/man.jsonl" >/dev/null
	build/nc-shard tokens --quiet -t "$T/mtok" -o "$T/mdata" --val-docs=10 "$T/man.jsonl" >/dev/null 2>&1
	run nc-train base -t "$T/mtok" --data "$T/mdata" -o "$T/mrun" --depth=1 --max-seq-len=64 \
		--device-batch-size=4 --total-batch-size=256 --num-iterations=150 --eval-every=0 --quiet
	assert_success
	first=$(echo "$output" | grep -m1 ' loss=' | sed 's/.* loss=\([0-9.]*\).*/\1/')
	# the mean of the last 10 steps, so that one noisy batch decides nothing
	last=$(echo "$output" | grep ' loss=' | tail -10 | sed 's/.* loss=\([0-9.]*\).*/\1/' |
		awk '{ s += $1 } END { printf "%.6f", s / NR }')
	echo "loss $first -> $last (mean of the last 10 steps)"
	awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 1.5) }'
}

@test "nanochat's option names parse; the evaluators they need are refused until they exist" {
	run tiny -o "$T/names" --num-iterations=1 --eval-every=0 --quiet --model-tag=d1 --run=dummy \
		--core-metric-every=-1 --sample-every=-1 --core-metric-max-per-task=500 --peak-flops=1e12
	assert_success
	assert_line --index 1 --regexp ' mfu=[0-9.]+$'
	run --separate-stderr tiny -o "$T/names2" --num-iterations=1 --core-metric-every=10
	assert_failure 2
	assert_output ''
	assert_equal "$stderr" "nc-train: --core-metric-every: CORE evaluation and sampling during training are not in this build yet (use -1)
Try 'nc-train -h' for help."
}

@test "each checkpoint file carries its checksum: verify names a damaged one, and loading refuses it" {
	tiny -o "$T/sum" --num-iterations=2 --eval-every=0 --quiet >/dev/null
	ck="$T/sum/step_000002"
	run --separate-stderr nc-train verify "$T/sum"
	assert_success
	assert_output "file=$ck/model.safetensors ok=yes checksum=yes
file=$ck/optim.0.safetensors ok=yes checksum=yes
file=$ck/tokenizer ok=yes checksum=yes"
	[ -z "$stderr" ]
	# one weight byte flipped (the file's last bytes are lm_head's)
	f="$ck/model.safetensors"
	printf 'Z' | dd of="$f" bs=1 seek=$(($(stat -c %s "$f") - 3)) conv=notrunc 2>/dev/null
	run --separate-stderr nc-train verify "$ck"
	assert_failure 1
	assert_line --index 0 "file=$ck/model.safetensors ok=no"
	[[ "$stderr" == "nc-train: $f: checksum mismatch: the tensor data (bytes "*" to "*") do not match its data_xxh3" ]]
	run --separate-stderr nc-sample -m "$ck" -p x -n 1
	assert_failure 1
	[[ "$stderr" == "nc-sample: $f: checksum mismatch: the tensor data "* ]]
	run --separate-stderr tiny -o "$T/sum" --num-iterations=3 --eval-every=0 --resume --quiet
	assert_failure 1
	[[ "$stderr" == "nc-train: $f: checksum mismatch: "* ]]
}

@test "a set of shards cut short (no manifest, or a shard gone) is refused; nc-shard manifest vouches for one" {
	[ -f "$T/data/manifest" ]   # nc-shard tokens wrote it last
	mkdir -p "$T/cut"
	cp "$T"/data/*.bin "$T/cut/"
	run --separate-stderr tiny -o "$T/cut-run" --data "$T/cut" --num-iterations=1 --eval-every=0 --quiet
	assert_failure 1
	[ "$stderr" = "nc-train: $T/cut: no manifest (nc-shard tokens writes it last, so a set without one may be cut short; nc-shard manifest $T/cut writes one for a set you trust)" ]
	cp "$T/data/manifest" "$T/cut/"
	mv "$T/cut/val_00000.bin" "$T/val.away"
	run --separate-stderr tiny -o "$T/cut-run" --data "$T/cut" --num-iterations=1 --eval-every=1 --quiet
	assert_failure 1
	[ "$stderr" = "nc-train: $T/cut: no val_*.bin shards" ]
	cp "$T/data/val_00000.bin" "$T/cut/val_00001.bin"
	run --separate-stderr tiny -o "$T/cut-run" --data "$T/cut" --num-iterations=1 --eval-every=1 --quiet
	assert_failure 1
	[ "$stderr" = "nc-train: $T/cut/val_00000.bin: in the manifest but not in the directory: the set is not whole" ]
	nc-shard manifest "$T/cut"
	run --separate-stderr tiny -o "$T/cut-run" --data "$T/cut" --num-iterations=1 --eval-every=1 --quiet
	assert_success
}

# OpenBLAS picks its kernels by CPU model as it loads, and falls back to
# its generic SSE3 ones ("Prescott") on a model it does not know: nc-train
# then starts again with OPENBLAS_CORETYPE naming the kernels the CPU's
# features allow. OPENBLAS_VERBOSE=2 makes OpenBLAS say which it loaded.
@test "on a CPU with AVX2 nc-train runs OpenBLAS's kernels for it, not the generic ones; OPENBLAS_CORETYPE is left alone" {
	grep -q 'blas=yes' build/.config || skip "built without BLAS"
	grep -qw avx2 /proc/cpuinfo || skip "no AVX2 on this CPU"
	run --separate-stderr env OPENBLAS_VERBOSE=2 nc-train base -t "$T/tok" --data "$T/data" --depth=1 \
		--max-seq-len=32 --device-batch-size=4 --total-batch-size=128 --num-iterations=1 \
		--eval-every=0 -o "$T/blas" --quiet
	assert_success
	core=$(grep '^Core: ' <<<"$stderr" | tail -n 1)
	[ -n "$core" ] || skip "the BLAS is not OpenBLAS (it names no core)"
	[ "$core" != "Core: Prescott" ] || fail "still the generic kernels: $stderr"
	run --separate-stderr env OPENBLAS_VERBOSE=2 OPENBLAS_CORETYPE=Prescott nc-train base -t "$T/tok" \
		--data "$T/data" --depth=1 --max-seq-len=32 --device-batch-size=4 --total-batch-size=128 \
		--num-iterations=1 --eval-every=0 -o "$T/blas2" --quiet
	assert_success
	[ "$(grep '^Core: ' <<<"$stderr")" = "Core: Prescott" ] || fail "a core the user named was not kept: $stderr"
}

# ---- mid and sft ----

# A base checkpoint of the tiny model and chat shards of the fixture's 30
# conversations (the first 12 for validation), made once; the stages'
# tiny options in mid_args and sft_args.
chat_data() {
	mid_args=(--train="$T/chat/train.bin" --val="$T/chat/val.bin" --max-seq-len=32 --device-batch-size=4
		  --total-batch-size=128 --eval-tokens=256 --eval-every=10 --quiet)
	sft_args=(--train="$T/chat/train.bin" --val="$T/chat/val.bin" --device-batch-size=2
		  --target-examples-per-step=4 --num-epochs=2 --eval-every=5 --eval-steps=3 --quiet)
	[ -f "$T/chat/val.bin" ] && return 0
	mkdir -p "$T/chat"
	tiny -o "$T/chat/base" --num-iterations=4 --eval-every=0 --quiet >/dev/null
	nc-shard chat --quiet -t "$T/tok" -o "$T/chat/train.bin" tests/fixtures/chat/conversations.jsonl
	head -12 tests/fixtures/chat/conversations.jsonl | nc-shard chat --quiet -t "$T/tok" -o "$T/chat/val.bin"
}

# The value of key in a logfmt line.
field() {
	sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"
}

@test "mid trains one epoch of conversations from a base checkpoint and logs nanochat's report fields" {
	chat_data
	run nc-train mid --from="$T/chat/base" "${mid_args[@]}" -o "$T/mid"
	assert_success
	assert_line --index 0 --regexp '^stage=mid event=config depth=1 n_embd=64 n_head=1 vocab_size=400 params=[0-9]+ flops_per_token=[0-9]+ max_seq_len=32 device_batch_size=4 total_batch_size=128 grad_accum_steps=1 from=.*/chat/base rows=30 train_tokens=[0-9]+ val_rows=12 init_lr_frac=1.000000 matrix_lr=0.020000 embedding_lr=0.200000 unembedding_lr=0.004000 adamw=torch device=cpu$'
	assert_line --index 1 --regexp '^stage=mid step=0 val_bpb=[0-9.]+$'
	assert_line --index 2 --regexp '^stage=mid step=0 loss=[0-9.]+ lrm=1.0000 progress=0.[0-9]{4} grad_norm=[0-9.]+ dt_ms=[0-9.]+ tok_s=[0-9]+$'
	done_line=${lines[-1]}
	n=$(field step "$done_line")
	[[ $done_line =~ ^stage=mid\ event=done\ step=$n\ rows=30\ iterations=$n\ world_size=1\ time_s=[0-9.]+\ train_loss=[0-9.]+\ min_val_bpb=[0-9.]+\ final_val_bpb=[0-9.]+$ ]] ||
		fail "done line: $done_line"
	# the epoch (5516 tokens, 129 a batch) ends it: no horizon was given
	[ "$n" -ge 40 ] && [ "$n" -le 43 ] || fail "$n steps for one epoch"
	# the learning rate falls to 0 over the last 20% of the epoch
	last=$(grep ' lrm=' <<<"$output" | tail -1)
	awk -v l="$(field lrm "$last")" 'BEGIN { exit !(l < 0.2) }'
	first=$(grep -m1 ' loss=' <<<"$output")
	awk -v a="$(field loss "$first")" -v b="$(field loss "$last")" 'BEGIN { exit !(b < a - 1.0) }'
	grep -aq '"stage":"mid"' "$T/mid/step_$(printf %06d "$n")/model.safetensors"
}

@test "sft finetunes from mid (or base) for chat_sft's iterations, with val loss, and logs its report fields" {
	chat_data
	[ -d "$T/mid" ] || nc-train mid --from="$T/chat/base" "${mid_args[@]}" -o "$T/mid" >/dev/null
	run nc-train sft --from="$T/mid" "${sft_args[@]}" -o "$T/sft"
	assert_success
	assert_line --index 0 --regexp '^stage=sft event=config depth=1 n_embd=64 n_head=1 vocab_size=400 params=[0-9]+ flops_per_token=[0-9]+ device_batch_size=2 target_examples_per_step=4 num_epochs=2 grad_accum_steps=2 num_iterations=14 from=.*/mid rows=30 train_tokens=[0-9]+ val_rows=12 init_lr_frac=0.020000 matrix_lr=0.020000 embedding_lr=0.200000 unembedding_lr=0.004000 adamw=torch device=cpu$'
	assert_line --index 1 --regexp '^stage=sft step=0 val_loss=[0-9.]+$'
	assert_line --index 2 --regexp '^stage=sft step=0 loss=[0-9.]+ lrm=1.0000 num_tokens=[0-9]+ grad_norm=[0-9.]+ dt_ms=[0-9.]+$'
	# (30 // 4) x 2 = 14 iterations; the last only evaluates
	assert_line --regexp '^stage=sft step=12 loss=[0-9.]+ lrm=0.1429 '
	refute_line --regexp '^stage=sft step=13 loss='
	assert_line --index 17 --regexp '^stage=sft step=13 val_loss=[0-9.]+$'
	assert_line --index 18 --regexp '^stage=sft event=done step=13 rows=30 iterations=14 world_size=1 time_s=[0-9.]+ train_loss=[0-9.]+ val_loss=[0-9.]+$'
	[ "$(grep -c val_loss= <<<"$output")" -eq 5 ]   # steps 0, 5, 10, 13 and the done line
	grep -aq '"stage":"sft"' "$T/sft/step_000013/model.safetensors"
	# and from a base checkpoint
	run nc-train sft --from="$T/chat/base" "${sft_args[@]}" --num-epochs=1 -o "$T/sft-base"
	assert_success
	assert_line --index 0 --partial ' num_iterations=7 from='
}

# Run a stage straight, and again stopped after step $stop and resumed:
# the last checkpoints' files and the log lines after the stop are the same.
resumes_bit_for_bit() {
	local launch=$1 stage=$2 stop=$3 name=$4
	shift 4
	$launch "$stage" "$@" -o "$T/$name-straight" >"$T/$name-straight.log"
	$launch "$stage" "$@" -o "$T/$name-stopped" --save-every="$stop" >/dev/null
	local keep
	keep=$T/$name-stopped/step_$(printf %06d "$stop")
	for d in "$T/$name-stopped"/step_*; do
		[ "$d" = "$keep" ] || rm -rf "$d"
	done
	$launch "$stage" "$@" -o "$T/$name-stopped" --resume >"$T/$name-resumed.log"
	local last
	last=$(basename "$(ls -d "$T/$name-straight"/step_* | tail -1)")
	[ -d "$T/$name-stopped/$last" ] || fail "the resumed run did not end at $last"
	for f in "$T/$name-straight/$last"/*.safetensors; do
		cmp "$f" "$T/$name-stopped/$last/$(basename "$f")"
	done
	diff <(after_step "$stop" "$T/$name-straight.log") <(after_step "$stop" "$T/$name-resumed.log")
}

# The lines of a log from step s on, without their timings.
after_step() {
	awk -v s="$1" '{ if (match($0, / step=[0-9]+/) && substr($0, RSTART + 6, RLENGTH - 6) + 0 >= s) print }' "$2" |
		sed 's/ dt_ms=.*//; s/ time_s=[0-9.]*//'
}

one() {
	nc-train "$@"
}

@test "mid and sft resume bit for bit (the loader's place, buffered tokens and progress saved with the optimizer)" {
	chat_data
	resumes_bit_for_bit one mid 5 mid-r --from="$T/chat/base" "${mid_args[@]}"
	# stopped late in the epoch, where the waiting batch decides the end
	resumes_bit_for_bit one mid 38 mid-late --from="$T/chat/base" "${mid_args[@]}"
	# sft stopped in the first pass, resumed across the second
	resumes_bit_for_bit one sft 3 sft-r --from="$T/chat/base" "${sft_args[@]}"
}

two() {
	mpi 2 "$@"
}

@test "mid and sft over two ranks stride over the conversations and resume bit for bit" {
	chat_data
	resumes_bit_for_bit two mid 4 mid-2 --from="$T/chat/base" "${mid_args[@]}" --total-batch-size=256
	grep -q 'grad_accum_steps=1 world_size=2 collectives=mpi ' "$T/mid-2-straight.log"
	ls "$T/mid-2-straight"/step_*/optim.1.safetensors
	resumes_bit_for_bit two sft 3 sft-2 --from="$T/chat/base" "${sft_args[@]}"
	grep -q 'grad_accum_steps=1 world_size=2 collectives=mpi num_iterations=14 ' "$T/sft-2-straight.log"
}

@test "a chat stage refuses a shard without a mask, or from another tokenizer, naming it; mid too few eval tokens" {
	chat_data
	run --separate-stderr nc-train mid --from="$T/chat/base" "${mid_args[@]}" --train="$T/data/train_00000.bin" -o "$T/bad1"
	assert_failure 1
	assert_equal "$stderr" "nc-train: $T/data/train_00000.bin: has no loss mask: not conversations (nc-shard chat writes them)"
	[ ! -e "$T/bad1/step_000000" ]
	build/nc-bpe train --quiet --vocab-size=300 -o "$T/tok2" "$T/docs.jsonl" >/dev/null
	nc-shard chat --quiet -t "$T/tok2" -o "$T/chat/other.bin" tests/fixtures/chat/conversations.jsonl
	run --separate-stderr nc-train sft --from="$T/chat/base" "${sft_args[@]}" --val="$T/chat/other.bin" -o "$T/bad2"
	assert_failure 1
	assert_regex "$stderr" "^nc-train: $T/chat/other.bin: written with another tokenizer \(fingerprint [0-9a-f]{16}, expected [0-9a-f]{16}\)$"
	run --separate-stderr nc-train mid --from="$T/chat/base" "${mid_args[@]}" --eval-tokens=100 -o "$T/bad6"
	assert_failure 1
	assert_equal "$stderr" "nc-train: --eval-tokens=100 is less than one batch of every rank (128)"
	# -t must be the tokenizer the checkpoint was trained with
	run --separate-stderr nc-train mid -t "$T/tok2" --from="$T/chat/base" "${mid_args[@]}" -o "$T/bad3"
	assert_failure 1
	assert_regex "$stderr" "^nc-train: $T/tok2: tokenizer fingerprint [0-9a-f]{16}, but $T/chat/base/step_000004 was trained with [0-9a-f]{16}$"
}

@test "a chat stage refuses a checkpoint of the wrong stage: mid starts from base, sft from mid or base, --resume only its own" {
	chat_data
	[ -d "$T/sft-base" ] || nc-train sft --from="$T/chat/base" "${sft_args[@]}" --num-epochs=1 -o "$T/sft-base" >/dev/null
	[ -d "$T/mid" ] || nc-train mid --from="$T/chat/base" "${mid_args[@]}" -o "$T/mid" >/dev/null
	ck=$(ls -d "$T/sft-base"/step_* | tail -1)
	run --separate-stderr nc-train mid --from="$T/sft-base" "${mid_args[@]}" -o "$T/bad4"
	assert_failure 1
	assert_equal "$stderr" "nc-train: $ck/model.safetensors: a checkpoint of stage sft; nc-train mid starts from a base one"
	run --separate-stderr nc-train sft --from="$ck" "${sft_args[@]}" -o "$T/bad5"
	assert_failure 1
	assert_equal "$stderr" "nc-train: $ck/model.safetensors: a checkpoint of stage sft; nc-train sft starts from a mid or base one"
	mk=$(ls -d "$T/mid"/step_* | tail -1)
	run --separate-stderr nc-train sft --from="$T/chat/base" "${sft_args[@]}" -o "$T/mid" --resume
	assert_failure 1
	assert_equal "$stderr" "nc-train: $mk/model.safetensors: a checkpoint of stage mid, not sft: it does not resume nc-train sft"
	[ "$(ls -d "$T/mid"/step_* | tail -1)" = "$mk" ]
}

@test "chat stages: required options, and the accuracy evaluation that is not there yet, are usage errors" {
	usage_error "mid: --from CHECKPOINT, --train SHARD, --val SHARD (unless --eval-every=0) and -o RUN_DIR are required" \
		nc-train mid --train=x -o y
	usage_error "sft: --data is base's; chat shards come with --train and --val" \
		nc-train sft --from=x --train=x --val=y -o z --data=d
	usage_error "--eval-metrics-every: the MMLU and ARC accuracy evaluation during sft is not in this build yet (use -1)" \
		nc-train sft --eval-metrics-every=200
	usage_error "--init-lr-frac: 'x' is not a number in [0, 1000]" nc-train mid --init-lr-frac=x
	usage_error "mid: one epoch of --train is the horizon (no --num-iterations or --max-iterations)" \
		nc-train mid --from=x --train=x --val=y -o z --num-iterations=5
}

