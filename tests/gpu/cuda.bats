#!/usr/bin/env bats
# The tools on a CUDA GPU against the same tools on the CPU (the
# reference): training losses step by step, a checkpoint moving CPU -> GPU
# -> CPU, the same seed twice, and greedy sampling. Run by `make test-gpu`;
# skipped without a GPU. NC_BIN (a directory under the repository) picks
# other nc-train and nc-sample builds: build/emu runs them on the CUDA
# emulator (`make test-emu`).

bats_load_library bats-support
bats_load_library bats-assert

setup_file() {
	ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	export ROOT PATH=$ROOT/${NC_BIN:-build}:$ROOT/build:$PATH T=$BATS_FILE_TMPDIR
	python3 "$ROOT/tests/oracle/gen_text.py" --seed 41 --size 300000 --jsonl >"$T/docs.jsonl"
	nc-bpe train --quiet --vocab-size=512 -o "$T/tok" "$T/docs.jsonl" >/dev/null
	nc-shard tokens --quiet -t "$T/tok" -o "$T/data" --val-docs=10 "$T/docs.jsonl" >/dev/null 2>&1
}

setup() {
	cd "$ROOT"
	nc-sample -h >/dev/null
	if nc-train base --device=cuda -t /none --data /none -o /none 2>&1 | grep -q 'no CUDA device'; then
		skip "no CUDA device"
	fi
}

# float32 products unless the test asks for bfloat16 (a later --dtype wins)
train() {
	nc-train base --quiet -t "$T/tok" --data "$T/data" --depth=2 --max-seq-len=64 \
		--device-batch-size=8 --total-batch-size=1024 --eval-every=5 --eval-tokens=4096 \
		--dtype=float32 "$@"
}

# losses A.log B.log TOL: every loss and val_bpb of A within TOL (relative) of B's
same_curve() {
	paste <(grep -v event=done "$1" | grep -o -E '(loss|val_bpb)=[0-9.]+') \
	      <(grep -v event=done "$2" | grep -o -E '(loss|val_bpb)=[0-9.]+') | tr '=' '\t' |
		awk -F'\t' -v tol="$3" '{ d = ($2 - $4) / $4; if (d < 0) d = -d;
			if ($1 != $3 || d > tol) { print "differ:", $0; bad = 1 } n++ }
			END { exit bad || n == 0 }'
}

@test "20 steps on the GPU follow the CPU's losses and bits per byte" {
	train --device=cpu -o "$T/cpu" --num-iterations=20 >"$T/cpu.log"
	train --device=cuda -o "$T/gpu" --num-iterations=20 >"$T/gpu.log"
	same_curve "$T/gpu.log" "$T/cpu.log" 1e-3
}

@test "50 steps with bf16 products on the GPU track the CPU's fp32 curve" {
	train --device=cpu -o "$T/cpu50" --num-iterations=50 >"$T/cpu50.log"
	train --device=cuda --dtype=bfloat16 -o "$T/bf16" --num-iterations=50 >"$T/bf16.log"
	grep -q 'event=config .*device=cuda-bf16' "$T/bf16.log"
	same_curve "$T/bf16.log" "$T/cpu50.log" 1e-2
}

@test "the same seed twice on the GPU gives the same losses, bit for bit" {
	train --device=cuda -o "$T/gpu2" --num-iterations=20 >"$T/gpu2.log"
	diff <(sed 's/ dt_ms.*//; s/ time_s.*//' "$T/gpu.log") <(sed 's/ dt_ms.*//; s/ time_s.*//' "$T/gpu2.log")
}

@test "a checkpoint moves CPU -> GPU -> CPU and the run goes on as on the CPU" {
	train --device=cpu -o "$T/mix" --num-iterations=20 --save-every=7 >/dev/null
	rm -rf "$T/mix/step_000014" "$T/mix/step_000020"
	train --device=cuda -o "$T/mix" --num-iterations=20 --save-every=7 --resume >"$T/mix_gpu.log"
	rm -rf "$T/mix/step_000020"
	train --device=cpu -o "$T/mix" --num-iterations=20 --resume >"$T/mix_cpu.log"
	# the GPU resumed at step 7 and ran to the end (20)
	same_curve <(grep -E 'step=([7-9]|1[0-9]|20) ' "$T/cpu.log") "$T/mix_gpu.log" 1e-3
	same_curve <(grep -E 'step=(14|15|16|17|18|19|20) ' "$T/cpu.log") "$T/mix_cpu.log" 1e-3
}

@test "greedy sampling on the GPU gives the CPU's tokens" {
	for d in cpu cuda; do
		nc-sample -m "$T/cpu" --device=$d -p "The" -n 24 -T 0 --samples 3 --json >"$T/s_$d.jsonl"
	done
	diff "$T/s_cpu.jsonl" "$T/s_cuda.jsonl"
}

# Two ranks under mpirun, each on a GPU of its own, exchanging gradients
# and parameters by NCCL, against one CPU process with twice the
# accumulation (the data each sees is the same: tests/nc-train.bats says
# why, and why clipping is off). Needs two GPUs; on the emulator each rank
# is a process with an emulated device of its own and NCCL is MPI.
@test "two ranks on two GPUs (NCCL) train as one CPU process with twice the accumulation" {
	command -v mpirun >/dev/null || skip "no mpirun"
	ldd "$(command -v nc-train)" | grep -q libmpi || skip "nc-train built without MPI"
	x=()
	if [ "${NC_BIN:-}" = build/emu ]; then
		export NC_EMU_DEVICES=2
		x=(-x NC_EMU_DEVICES)
	elif [ "$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')" -lt 2 ]; then
		skip "fewer than two GPUs"
	fi
	args=(-t "$T/tok" --data "$T/data" --depth=1 --max-seq-len=32 --device-batch-size=4
	      --total-batch-size=256 --eval-tokens=2580 --eval-every=4 --num-iterations=8
	      --grad-clip=0 --quiet --dtype=float32)
	OMP_NUM_THREADS=1 nc-train base "${args[@]}" --device=cpu -o "$T/one" >"$T/one.log"
	mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1 "${x[@]}" \
		"$(command -v nc-train)" base "${args[@]}" --device=cuda -o "$T/two" >"$T/two.log"
	grep -q 'world_size=2 collectives=nccl .*device=cuda$' "$T/two.log"
	grep -q 'event=done .*device_mem_gb=[0-9.]*$' "$T/two.log"
	[ -f "$T/two/step_000008/optim.0.safetensors" ] && [ -f "$T/two/step_000008/optim.1.safetensors" ]
	[ "$(grep -c -E ' (loss|val_bpb)=' "$T/two.log")" = 11 ]
	same_curve "$T/two.log" "$T/one.log" 1e-4
}

@test "two ranks on one GPU are refused, naming the fix" {
	command -v mpirun >/dev/null || skip "no mpirun"
	ldd "$(command -v nc-train)" | grep -q libmpi || skip "nc-train built without MPI"
	[ "${NC_BIN:-}" = build/emu ] || [ "$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')" = 1 ] ||
		skip "not one GPU"
	unset NC_EMU_DEVICES
	run mpirun --allow-run-as-root --oversubscribe -np 2 "$(command -v nc-train)" base -t "$T/tok" \
		--data "$T/data" --depth=1 --max-seq-len=32 --device-batch-size=4 --total-batch-size=256 \
		--num-iterations=2 --quiet --device=cuda -o "$T/shared"
	assert_failure
	assert_output --partial "this node has 1 GPU: start one rank per GPU"
}

@test "out of memory: a model too large for the GPU stops at start, naming sizes, writing nothing" {
	run nc-train base -t "$T/tok" --data "$T/data" --depth=64 --max-seq-len=64 --device-batch-size=1 \
		--total-batch-size=64 --num-iterations=2 --device=cuda -o "$T/huge"
	assert_failure 1
	assert_output --regexp 'out of memory: [0-9.]+ GB more wanted, [0-9.]+ of its [0-9.]+ GB free'
	[ ! -e "$T/huge" ]
}

@test "out of memory: a device batch too large stops before the first step (emulator: a 50 MB GPU)" {
	[ "${NC_BIN:-}" = build/emu ] || skip "sets the emulated GPU's size"
	NC_EMU_GB=0.05 run train --device=cuda -o "$T/wide" --device-batch-size=64 \
		--total-batch-size=4096 --num-iterations=2
	assert_failure 1
	assert_output --partial "a smaller --device-batch-size"
	[ ! -e "$T/wide" ]
}

@test "decode graphs: seeded samples on the GPU are the same replayed as op by op (NC_NO_GRAPHS=1)" {
	train --device=cpu -o "$T/g2" --num-iterations=2 >/dev/null
	args=(-m "$T/g2/step_000002" --device=cuda -p "The" -n 20 -T 0.9 -s 5 --samples 3 --json)
	nc-sample "${args[@]}" >"$T/graphs.jsonl"
	NC_NO_GRAPHS=1 nc-sample "${args[@]}" >"$T/nographs.jsonl"
	[ "$(wc -l <"$T/graphs.jsonl")" = 3 ]
	diff "$T/graphs.jsonl" "$T/nographs.jsonl"
	nc-sample "${args[@]/--device=cuda/--device=cpu}" >"$T/cpu.jsonl"
	diff "$T/graphs.jsonl" "$T/cpu.jsonl"
}

@test "sh/tinyrun.sh runs its model on the GPU when there is one (NC_DEVICE=auto)" {
	# the tools tinyrun calls, with this suite's nc-train and nc-sample
	mkdir -p "$T/tinybin"
	for t in nc-bpe nc-shard nc-train nc-sample nc-report; do
		ln -sf "$(command -v $t)" "$T/tinybin/$t"
	done
	export NC_EMU_LOG=$T/emu.log
	NC_BIN=$T/tinybin NC_RUN_DIR=$T/tiny NC_TINY_VOCAB=512 NC_TINY_DEPTH=1 NC_TINY_SEQ=32 \
		NC_TINY_BATCH=2 NC_TINY_STEPS=4 NC_TINY_MID_ROWS=8 NC_TINY_SFT_ROWS=16 \
		sh/tinyrun.sh "$T/docs.jsonl" >"$T/tiny.out" 2>&1 ||
		{ cat "$T/tiny.out"; false; }
	grep -q 'event=config .*device=cuda-bf16' "$T/tiny/base.log"
	grep -q 'event=done .*device_mem_gb=' "$T/tiny/base.log"
	grep -q 'event=config .*device=cuda-bf16' "$T/tiny/mid.log"
	grep -q 'event=config .*device=cuda-bf16' "$T/tiny/sft.log"
	[ "$(wc -l <"$T/tiny/samples.jsonl")" = 8 ]
	grep -q 'tinyrun: done' "$T/tiny.out"
	if [ "${NC_BIN:-}" = build/emu ]; then
		# nc-train's three stages and the three nc-sample runs launched
		# kernels on the emulated GPU
		[ "$(grep -c -E ' kernels=[1-9]' "$T/emu.log")" = 6 ]
	fi
}
