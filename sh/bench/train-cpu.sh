#!/usr/bin/env bash
# sh/bench/train-cpu.sh: pretraining tokens/s on the CPU. nc-train base
# beside nanochat's own training step in PyTorch, same model, same batch,
# same vocabulary, same cores:
#
#   nc-train base -t TOK --data DIR -o RUN --depth=D --max-seq-len=T
#       --device-batch-size=B --total-batch-size=B*T --num-iterations=W+K
#       --eval-every=0 --threads=THREADS
#   python -O sh/bench/nanochat_cpu_step.py --nanochat NANOCHAT_DIR ...
#       nanochat's GPT (base_train's config for depth D) built in fp32 on the
#       CPU, GPT.setup_optimizers() (fused AdamW + Muon), and base_train's
#       step: forward, backward, clip_grad_norm_(1.0), lr and momentum
#       schedules, both optimizer steps, zero_grad. torch.compile is OFF
#       (TORCHDYNAMO_DISABLE=1: base_train compiles the model and Muon's
#       Newton-Schulz; here both run eagerly, Newton-Schulz still in bf16 as
#       nanochat does). See the script's docstring for the fp32 details.
#
# Both train on the same token shards, made here with nc-bpe and nc-shard
# (the PyTorch side reads nc's shards itself: the ids after the 64-byte
# header), one run each of W+K steps; the first W are warm-up and not
# counted. tokens/s = K*B*T / (sum of the K steps' times), each step timed
# inside the process (nc-train's dt_ms; time.perf_counter in the driver), so
# start-up, imports and checkpoint writing are not in it. It prints a
# result block and appends it, dated, to tests/bench/RESULTS.md.
#
# nanochat is NOT vendored. NANOCHAT_DIR must name a directory that holds a
# nanochat v1 checkout's nanochat/ package, for instance
#
#   mkdir nanochat-3a5e0bc && git -C NANOCHAT_CLONE archive 3a5e0bc | tar -x -C nanochat-3a5e0bc
#
# (karpathy/nanochat at 3a5e0bc, the version nc follows). Without
# NANOCHAT_DIR, or when NC_TORCH_PYTHON cannot import torch, the script says
# why and exits 0 without measuring anything.
#
# Settings (environment):
#   NANOCHAT_DIR          the nanochat checkout (required, see above)
#   NANOCHAT_COMMIT       what to record as its commit (default: asked of git
#                         when NANOCHAT_DIR is a work tree, else "unknown")
#   NC_TORCH_PYTHON       interpreter with torch (default: NC_PYTHON, else
#                         .venv/bin/python, else python3)
#   BENCH_DEPTH=2         model depth (width 64*depth, heads of 128)
#   BENCH_B=8             device batch size (sequences a step)
#   BENCH_T=256           sequence length
#   BENCH_VOCAB=4096      vocabulary size of the tokenizer trained here
#   BENCH_STEPS=20        timed steps (K)
#   BENCH_WARMUP=3        untimed steps before them (W)
#   THREADS=$(nproc)      nc-train --threads and torch.set_num_threads
#   BENCH_MB=4            MB of text the tokenizer and shards are made of
#   BENCH_SEED=1337       seed of the text generator
#   BENCH_RESULTS=tests/bench/RESULTS.md   where the section is appended
#                         (empty: print only)
#   NC_CORPUS=../shared/data/corpus   text files (*.txt) the input is made of;
#                         without any, synthetic text is generated
#   NC_TRAIN=build/nc-train NC_BPE=build/nc-bpe NC_SHARD=build/nc-shard
#                         the binaries (built with make when left default)
#
# Target (from the issue): nc-train at least 1.5x PyTorch's tokens/s.
set -eu
set -o pipefail

BENCH_NAME=train-cpu
BENCH_RUNS=1
. "$(dirname "$0")/common.sh"

BENCH_DEPTH=${BENCH_DEPTH:-2}
BENCH_B=${BENCH_B:-8}
BENCH_T=${BENCH_T:-256}
BENCH_VOCAB=${BENCH_VOCAB:-4096}
BENCH_STEPS=${BENCH_STEPS:-20}
BENCH_WARMUP=${BENCH_WARMUP:-3}
BENCH_MB=${BENCH_MB:-4}
common_settings

check_decimal BENCH_MB
check_number BENCH_DEPTH BENCH_B BENCH_T BENCH_VOCAB BENCH_STEPS BENCH_WARMUP THREADS BENCH_SEED
[ "$BENCH_DEPTH" -ge 1 ] || die "BENCH_DEPTH must be at least 1"
[ "$BENCH_B" -ge 1 ] && [ "$BENCH_T" -ge 1 ] || die "BENCH_B and BENCH_T must be at least 1"
[ "$BENCH_STEPS" -ge 1 ] || die "BENCH_STEPS must be at least 1"
[ "$THREADS" -ge 1 ] || die "THREADS must be at least 1"
[ "$BENCH_VOCAB" -le 65536 ] || die "BENCH_VOCAB must be at most 65536 (the shards are uint16)"

# ---- the PyTorch side: skip cleanly when it cannot run ----

find_nanochat gpt.py muon.py

# ---- nc's binaries ----

need_tools train bpe shard

find_gnutime
make_tmp
machine_facts

# ---- input: text, tokenizer, shards ----

note "building ${BENCH_MB} MB of text from $NC_CORPUS ..."
make_docs "$TMP/docs.jsonl" 4000
describe_input

tokenize_docs
TRAIN_TOKENS=$(tr ' ' '\n' <"$TMP/shard.log" | sed -n 's/^train_tokens=//p' | tail -n 1)
note "input: $DOCS docs, $TEXT_BYTES bytes; vocab $VOCAB; ${TRAIN_TOKENS:-?} training tokens"

# ---- the two runs ----

ITERS=$((BENCH_WARMUP + BENCH_STEPS))
TOTAL_BATCH=$((BENCH_B * BENCH_T))
CMD_NC=("$NC_TRAIN" base -t "$TOK" --data "$DATA" -o "$TMP/run" --depth="$BENCH_DEPTH"
	--max-seq-len="$BENCH_T" --device-batch-size="$BENCH_B" --total-batch-size="$TOTAL_BATCH"
	--num-iterations="$ITERS" --eval-every=0 --threads="$THREADS")
CMD_PY=("$PY" sh/bench/nanochat_cpu_step.py --nanochat "$NANOCHAT_DIR" --depth="$BENCH_DEPTH"
	--seq="$BENCH_T" --batch="$BENCH_B" --vocab="$VOCAB" --steps="$BENCH_STEPS"
	--warmup="$BENCH_WARMUP" --threads="$THREADS" --data="$DATA")

# Run "$@" with its output in the file $0; on failure show the output's tail.
LOGGED='"$@" >"$0" 2>&1 || { rc=$?; tail -n 5 "$0" >&2; exit $rc; }'

note "nc-train: $ITERS steps (the first $BENCH_WARMUP untimed) ..."
LOAD_NC=$(load)
timed nc sh -c "$LOGGED" "$TMP/nc.log" "${CMD_NC[@]}"
note "PyTorch (nanochat): $ITERS steps (the first $BENCH_WARMUP untimed) ..."
LOAD_PY=$(load)
timed py sh -c "$LOGGED" "$TMP/py.log" "${CMD_PY[@]}"

step_times "$TMP/nc.log" >"$TMP/nc.dt"
step_times "$TMP/py.log" >"$TMP/py.dt"
[ "$(wc -l <"$TMP/nc.dt")" -eq "$BENCH_STEPS" ] || die "nc-train printed $(wc -l <"$TMP/nc.dt") timed steps, not $BENCH_STEPS"
[ "$(wc -l <"$TMP/py.dt")" -eq "$BENCH_STEPS" ] || die "the PyTorch driver printed $(wc -l <"$TMP/py.dt") timed steps, not $BENCH_STEPS"

# stats FILE: "tok_s best_ms median_ms sum_s"
stats() {
	sort -g "$1" | awk -v tok="$TOTAL_BATCH" '{ a[NR] = $1; s += $1 }
		END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
		      printf "%.0f %.1f %.1f %.2f\n", NR * tok / (s / 1000), a[1], m, s / 1000 }'
}
read -r TOKS_NC BEST_NC MED_NC SUM_NC < <(stats "$TMP/nc.dt")
read -r TOKS_PY BEST_PY MED_PY SUM_PY < <(stats "$TMP/py.dt")
RATIO=$(calc %.2f "$TOKS_NC / $TOKS_PY")
TARGET=$(awk -v r="$RATIO" 'BEGIN { print (r >= 1.5 ? "met" : "NOT met") }')
kvl() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -n 1; }
NC_CONFIG=$(grep -m1 'event=config' "$TMP/nc.log" || true)
PY_CONFIG=$(grep -m1 'event=config' "$TMP/py.log" || true)
PARAMS=$(kvl "$NC_CONFIG" params)
PY_PARAMS=$(kvl "$PY_CONFIG" params)
ADAMW=$(kvl "$PY_CONFIG" adamw)
loss_at() { awk -v s="$2" '{ for (i = 1; i <= NF; i++) if ($i == "step=" s) { for (j = 1; j <= NF; j++) if ($j ~ /^loss=/) print substr($j, 6); exit } }' "$1"; }
LAST=$((ITERS - 1))
TOTAL_S=$(calc %.0f "$(now) - $T_START")
LOAD_END=$(load)

{
	echo "## $STARTED: CPU pretraining tokens/s, nc-train vs nanochat's PyTorch step (sh/bench/train-cpu.sh)"
	echo
	echo "- machine: $CPU, $CORES cores, $MEM; $OS; load average $LOAD_START at the start, $LOAD_NC before nc-train, $LOAD_PY before PyTorch, $LOAD_END at the end"
	echo "- revision: $REV, dirty: $DIRTY"
	echo "- build: $BUILD; $CCV"
	echo "- peers: $PEERS; nanochat $NANOCHAT_COMMIT (NANOCHAT_DIR), torch.compile off, fp32, AdamW $ADAMW"
	echo "- model: depth $BENCH_DEPTH (n_embd $((BENCH_DEPTH * 64)), heads of 128), vocab $VOCAB, $PARAMS parameters (PyTorch: $PY_PARAMS); batch $BENCH_B x $BENCH_T = $TOTAL_BATCH tokens a step, no accumulation"
	echo "- input: $DOCS docs, $TEXT_BYTES bytes of text from $INPUT_DESC; tokenizer and shards by nc-bpe/nc-shard, ${TRAIN_TOKENS:-?} training tokens; both sides read the same shards"
	echo "- settings: BENCH_DEPTH=$BENCH_DEPTH BENCH_B=$BENCH_B BENCH_T=$BENCH_T BENCH_VOCAB=$BENCH_VOCAB BENCH_STEPS=$BENCH_STEPS BENCH_WARMUP=$BENCH_WARMUP THREADS=$THREADS BENCH_MB=$BENCH_MB"
	echo
	echo "| $THREADS threads | tokens/s | best step | median step | $BENCH_STEPS steps | loss at step 0 / $LAST | whole process |"
	echo "|---|---|---|---|---|---|---|"
	echo "| nc-train | $TOKS_NC | ${BEST_NC} ms | ${MED_NC} ms | ${SUM_NC} s | $(loss_at "$TMP/nc.log" 0) / $(loss_at "$TMP/nc.log" "$LAST") | ${W_nc} s, ${M_nc} MiB |"
	echo "| nanochat (PyTorch) | $TOKS_PY | ${BEST_PY} ms | ${MED_PY} ms | ${SUM_PY} s | $(loss_at "$TMP/py.log" 0) / $(loss_at "$TMP/py.log" "$LAST") | ${W_py} s, ${M_py} MiB |"
	echo
	echo "- ratio nc/PyTorch (tokens/s): ${RATIO}x; target (at least 1.5x): $TARGET"
	echo "- step times (ms), nc: $(paste -sd' ' "$TMP/nc.dt")"
	echo "- step times (ms), PyTorch: $(paste -sd' ' "$TMP/py.dt")"
	echo "- timing: one run each; tokens/s = $BENCH_STEPS x $TOTAL_BATCH tokens / the sum of those steps' times as each process measures them (nc-train's dt_ms, time.perf_counter around fetch+forward+backward+clip+step+zero_grad); the first $BENCH_WARMUP steps are warm-up and not counted. 'whole process' is wall time with start-up (imports) and nc's checkpoint. Total run ${TOTAL_S} s."
	section_commands \
		"$(show "${CMD_BPE[@]}")" \
		"$(show "${CMD_SHARD[@]}")" \
		"$(show "${CMD_NC[@]}")" \
		"$(show "${CMD_PY[@]}" | sed "s|$NANOCHAT_DIR|\$NANOCHAT_DIR|")"
} >"$TMP/section.md"

print_results "$TMP/section.md"
