#!/usr/bin/env bash
# sh/bench/train-gpu.sh: pretraining tokens/s and MFU on one GPU. nc-train
# base beside nanochat's base_train step in PyTorch (torch.compile, bf16
# autocast), same model, same total batch, same sequence length, same
# vocabulary, same shards, same GPU, at each depth of BENCH_DEPTHS:
#
#   nc-train base -t TOK --data DIR -o RUN --depth=D --max-seq-len=T
#       --device-batch-size=B_NC --total-batch-size=TOTAL --num-iterations=W+K
#       --eval-every=0 --device=cuda --dtype=bfloat16 --peak-flops=PEAK
#   python sh/bench/nanochat_gpu_step.py --nanochat NANOCHAT_DIR --depth=D
#       --seq=T --batch=B_PY --total-batch=TOTAL --steps=K --warmup=W ...
#       (nanochat's GPT and setup_optimizers; base_train's micro-steps under
#       autocast, clipping, schedules and optimizer steps; see its docstring)
#
# The device batch sizes may differ (nc's activations are still fp32, so it
# fits fewer sequences); gradient accumulation fills the same total batch on
# both sides. Each side runs W+K steps; the first W (torch.compile's among
# them) are not counted. tokens/s = K*TOTAL / (sum of the K steps' times),
# each step timed inside its process (nc-train's dt_ms; perf_counter around
# a synchronised step in the driver). MFU = flops per token (nanochat's
# estimate) x tokens/s / PEAK. It prints a result block and appends it,
# dated, to tests/bench/RESULTS.md.
#
# The tokenizer and shards are made here by nc-bpe and nc-shard from BENCH_MB
# MB of text (NC_CORPUS, else synthetic); synthetic text may give fewer than
# BENCH_VOCAB tokens, and the vocabulary actually used is reported.
#
# It needs a CUDA GPU, an nc built with CUDA, and NANOCHAT_DIR as for
# sh/bench/train-cpu.sh (a directory holding a nanochat v1 checkout's
# nanochat/ package) with a python that has torch with CUDA. Without any of
# these it says why and exits 0 without measuring anything.
#
# Settings (environment):
#   NANOCHAT_DIR, NANOCHAT_COMMIT, NC_TORCH_PYTHON   as in train-cpu.sh
#   BENCH_DEPTHS="12 20"   the depths compared
#   BENCH_T=2048           sequence length
#   BENCH_TOTAL=524288     tokens a step (nanochat's total batch)
#   BENCH_B_PY=32          nanochat's device batch size
#   BENCH_B_NC=16          nc-train's device batch size
#   BENCH_VOCAB=65536      vocabulary size of the tokenizer trained here
#   BENCH_STEPS=5          timed steps (K)
#   BENCH_WARMUP=2         untimed steps before them (W)
#   BENCH_MB=60            MB of text the tokenizer and shards are made of
#   PEAK_FLOPS=989e12      for MFU (H100 SXM dense bf16)
#   BENCH_RESULTS, NC_CORPUS, NC_TRAIN, NC_BPE, NC_SHARD, THREADS   as in
#                          train-cpu.sh
#
# Targets (from the issue): at d20 on one H100, nc-train at least 1.2x
# nanochat's tokens/s and at least 50% MFU.
set -eu
set -o pipefail

BENCH_NAME=train-gpu
BENCH_RUNS=1
. "$(dirname "$0")/common.sh"

BENCH_DEPTHS=${BENCH_DEPTHS:-12 20}
BENCH_T=${BENCH_T:-2048}
BENCH_TOTAL=${BENCH_TOTAL:-524288}
BENCH_B_PY=${BENCH_B_PY:-32}
BENCH_B_NC=${BENCH_B_NC:-16}
BENCH_VOCAB=${BENCH_VOCAB:-65536}
BENCH_STEPS=${BENCH_STEPS:-5}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_MB=${BENCH_MB:-60}
PEAK_FLOPS=${PEAK_FLOPS:-989e12}
common_settings

check_decimal BENCH_MB
check_number BENCH_T BENCH_TOTAL BENCH_B_PY BENCH_B_NC BENCH_VOCAB BENCH_STEPS BENCH_WARMUP THREADS BENCH_SEED
for d in $BENCH_DEPTHS; do
	case $d in '' | *[!0-9]*) die "BENCH_DEPTHS must be whole numbers (got '$BENCH_DEPTHS')" ;; esac
done
for b in "$BENCH_B_PY" "$BENCH_B_NC"; do
	[ $((BENCH_TOTAL % (b * BENCH_T))) -eq 0 ] ||
		die "BENCH_TOTAL=$BENCH_TOTAL is not a multiple of $b x BENCH_T=$BENCH_T"
done
[ "$BENCH_STEPS" -ge 1 ] || die "BENCH_STEPS must be at least 1"
[ "$BENCH_VOCAB" -le 65536 ] || die "BENCH_VOCAB must be at most 65536 (the shards are uint16)"

# ---- what must be here: a GPU, the PyTorch side, nc with CUDA ----

command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 || skip "no NVIDIA GPU (nvidia-smi)"
find_nanochat gpt.py muon.py
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' ||
	skip "$PY's torch sees no CUDA device"
need_tools train bpe shard
grep -q "cuda=yes" build/.config 2>/dev/null ||
	skip "nc was built without CUDA (build/.config: $(cat build/.config 2>/dev/null))"

find_gnutime
make_tmp
machine_facts
GPU=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -n 1)
TORCHV=$("$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)')

# ---- input: text, tokenizer, shards ----

note "building ${BENCH_MB} MB of text from $NC_CORPUS ..."
make_docs "$TMP/docs.jsonl" 4000
describe_input
tokenize_docs
TRAIN_TOKENS=$(tr ' ' '\n' <"$TMP/shard.log" | sed -n 's/^train_tokens=//p' | tail -n 1)
note "input: $DOCS docs, $TEXT_BYTES bytes; vocab $VOCAB; ${TRAIN_TOKENS:-?} training tokens"

ITERS=$((BENCH_WARMUP + BENCH_STEPS))
LOGGED='"$@" >"$0" 2>&1 || { rc=$?; tail -n 5 "$0" >&2; exit $rc; }'

# tok_s FILE: tokens/s over the step times in FILE
tok_s() { awk -v tok="$BENCH_TOTAL" '{ s += $1 } END { printf "%.0f\n", NR * tok / (s / 1000) }' "$1"; }
kvl() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -n 1; }

ROWS=
CMDS=()
for D in $BENCH_DEPTHS; do
	CMD_NC=("$NC_TRAIN" base -t "$TOK" --data "$DATA" -o "$TMP/run$D" --depth="$D"
		--max-seq-len="$BENCH_T" --device-batch-size="$BENCH_B_NC" --total-batch-size="$BENCH_TOTAL"
		--num-iterations="$ITERS" --eval-every=0 --eval-tokens=$((BENCH_B_NC * BENCH_T))
		--device=cuda --dtype=bfloat16 --peak-flops="$PEAK_FLOPS" --quiet)
	CMD_PY=("$PY" sh/bench/nanochat_gpu_step.py --nanochat "$NANOCHAT_DIR" --depth="$D"
		--seq="$BENCH_T" --batch="$BENCH_B_PY" --total-batch="$BENCH_TOTAL" --vocab="$VOCAB"
		--steps="$BENCH_STEPS" --warmup="$BENCH_WARMUP" --data="$DATA" --peak-flops="$PEAK_FLOPS")
	note "d$D nc-train: $ITERS steps (the first $BENCH_WARMUP untimed) ..."
	timed nc sh -c "$LOGGED" "$TMP/nc$D.log" "${CMD_NC[@]}"
	note "d$D nanochat (PyTorch, torch.compile): $ITERS steps ..."
	timed py sh -c "$LOGGED" "$TMP/py$D.log" "${CMD_PY[@]}"
	step_times "$TMP/nc$D.log" >"$TMP/nc$D.dt"
	step_times "$TMP/py$D.log" >"$TMP/py$D.dt"
	[ "$(wc -l <"$TMP/nc$D.dt")" -eq "$BENCH_STEPS" ] || die "d$D: nc-train printed $(wc -l <"$TMP/nc$D.dt") timed steps"
	[ "$(wc -l <"$TMP/py$D.dt")" -eq "$BENCH_STEPS" ] || die "d$D: the driver printed $(wc -l <"$TMP/py$D.dt") timed steps"
	FPT=$(kvl "$(grep -m1 'event=config' "$TMP/py$D.log")" flops_per_token)
	NC_FPT=$(kvl "$(grep -m1 'event=config' "$TMP/nc$D.log")" flops_per_token)
	T_NC=$(tok_s "$TMP/nc$D.dt")
	T_PY=$(tok_s "$TMP/py$D.dt")
	MFU_NC=$(calc %.1f "100 * $NC_FPT * $T_NC / $PEAK_FLOPS")
	MFU_PY=$(calc %.1f "100 * $FPT * $T_PY / $PEAK_FLOPS")
	RATIO=$(calc %.2f "$T_NC / $T_PY")
	MEM_PY=$(kvl "$(grep -m1 'event=summary' "$TMP/py$D.log")" peak_mem_gib)
	ROWS="$ROWS| d$D | $T_NC | $MFU_NC% | $T_PY | $MFU_PY% | ${RATIO}x | $(paste -sd' ' "$TMP/nc$D.dt") | $(paste -sd' ' "$TMP/py$D.dt") | ${W_nc} s / ${W_py} s, py peak ${MEM_PY} GiB |
"
	CMDS+=("$(show "${CMD_NC[@]}")" "$(show "${CMD_PY[@]}" | sed "s|$NANOCHAT_DIR|\$NANOCHAT_DIR|")")
	[ "$D" = 20 ] && D20="ratio ${RATIO}x (target 1.2x: $(awk -v r="$RATIO" 'BEGIN { print (r >= 1.2 ? "met" : "NOT met") }')), nc MFU $MFU_NC% (target 50%: $(awk -v m="$MFU_NC" 'BEGIN { print (m >= 50 ? "met" : "NOT met") }'))"
done
TOTAL_S=$(calc %.0f "$(now) - $T_START")

{
	echo "## $STARTED: GPU pretraining tokens/s and MFU, nc-train vs nanochat base_train (sh/bench/train-gpu.sh)"
	echo
	echo "- machine: $GPU; $CPU, $CORES cores, $MEM; $OS"
	echo "- revision: $REV, dirty: $DIRTY"
	echo "- build: $BUILD; $CCV"
	echo "- peers: $PEERS; $TORCHV; nanochat $NANOCHAT_COMMIT (NANOCHAT_DIR), torch.compile, bf16 autocast, TF32"
	echo "- nc: --dtype=bfloat16 (bf16 GEMM operands, fp32 activations), device batch $BENCH_B_NC; nanochat device batch $BENCH_B_PY; both $BENCH_TOTAL tokens a step at T=$BENCH_T, vocab $VOCAB"
	echo "- input: $DOCS docs, $TEXT_BYTES bytes of text from $INPUT_DESC; ${TRAIN_TOKENS:-?} training tokens"
	echo "- settings: BENCH_DEPTHS='$BENCH_DEPTHS' BENCH_STEPS=$BENCH_STEPS BENCH_WARMUP=$BENCH_WARMUP PEAK_FLOPS=$PEAK_FLOPS BENCH_MB=$BENCH_MB"
	echo
	echo "| depth | nc tokens/s | nc MFU | nanochat tokens/s | nanochat MFU | ratio | nc step ms | nanochat step ms | whole processes |"
	echo "|---|---|---|---|---|---|---|---|---|"
	printf '%s' "$ROWS"
	echo
	echo "- d20: ${D20:-not run}"
	echo "- timing: one run each; the first $BENCH_WARMUP steps are warm-up (torch.compile) and not counted. Total run ${TOTAL_S} s."
	section_commands "$(show "${CMD_BPE[@]}")" "$(show "${CMD_SHARD[@]}")" "${CMDS[@]}"
} >"$TMP/section.md"

print_results "$TMP/section.md"
