#!/usr/bin/env bash
# sh/bench/sft.sh: supervised finetuning examples/s on the CPU. nc-train sft
# beside nanochat's own chat_sft.py step in PyTorch, same model shape, same
# conversations in the same order, same batch, same cores:
#
#   nc-train sft --from=BASE --train=CHAT --eval-every=0 --device-batch-size=B
#       --target-examples-per-step=E --max-iterations=W+K+1 --threads=THREADS
#   python -O sh/bench/nanochat_sft_step.py --nanochat NANOCHAT_DIR ...
#       nanochat's GPT (base_train's config for depth D) in fp32 on the CPU,
#       GPT.setup_optimizers() with chat_sft's learning rates, chat_sft's
#       sft_data_generator (its collate, taken out of scripts/chat_sft.py)
#       and its step: E/B micro-steps of forward with targets (-1 ignored)
#       and backward, the learning-rate multiplier, both optimizers' step,
#       zero_grad. torch.compile is off (see the script's docstring).
#
# The conversations are real when they are at hand: GSM8K's train.jsonl
# (NC_GSM8K) and nanochat's identity conversations (NC_IDENTITY), mixed as
# nanochat's TaskMixture does (nc-shard mix, seed 42), the first
# (W+K+1)*E of the mixture rendered into one chat shard by nc-shard chat
# with a tokenizer nc-bpe trains here on NC_CORPUS text. Without either
# file, conversations are generated from that text (user and assistant
# turns of random lengths, seed BENCH_SEED) and the section says so. Both
# sides read the same chat shard: the PyTorch side reads its ids and loss
# mask itself. nc-train starts from a one-step base checkpoint made here;
# PyTorch from nanochat's init_weights (a step's time does not depend on
# the weights).
#
# Each run takes W+K steps; the first W are warm-up and not counted.
# examples/s = K*E / (sum of the K steps' times), each step timed inside the
# process (nc-train's dt_ms; time.perf_counter in the driver). The machine
# may be shared, so the two alternate, BENCH_RUNS rounds of nc then PyTorch,
# the load average noted before each run; the figures are over all rounds.
# NC_TRAIN_BASELINE names another nc-train binary (an older build, say) that
# joins each round as a third row, to measure a change under the same
# conditions. The result block is printed and appended, dated, to
# tests/bench/RESULTS.md.
#
# nanochat is NOT vendored: NANOCHAT_DIR must hold a nanochat v1 checkout's
# nanochat/ package and scripts/chat_sft.py (see sh/bench/train-cpu.sh).
# Without it, or when NC_TORCH_PYTHON cannot import torch, the script says
# why and exits 0 without measuring anything.
#
# Settings (environment):
#   NANOCHAT_DIR, NANOCHAT_COMMIT, NC_TORCH_PYTHON   as in train-cpu.sh
#   BENCH_DEPTH=2         model depth (width 64*depth, heads of 128)
#   BENCH_SEQ=2048        the model's context (its sequence_len)
#   BENCH_B=4             device batch size (rows a micro-step)
#   BENCH_E=32            examples a step (E/B micro-steps)
#   BENCH_VOCAB=4096      vocabulary size of the tokenizer trained here
#   BENCH_STEPS=8         timed steps a run (K)
#   BENCH_WARMUP=2        untimed steps before them (W)
#   BENCH_RUNS=2          rounds of alternating runs
#   THREADS=$(nproc)      nc-train --threads and torch.set_num_threads
#   BENCH_MB=1            MB of text the tokenizer is trained on
#   BENCH_SEED=1337       seed of the text (and conversation) generator
#   BENCH_RESULTS=tests/bench/RESULTS.md   where the section is appended
#                         (empty: print only)
#   NC_CORPUS=../shared/data/corpus   text files (*.txt)
#   NC_GSM8K=../shared/data/eval-samples/gsm8k/train.jsonl
#   NC_IDENTITY=../shared/data/chat/identity/identity_conversations.jsonl
#   NC_TRAIN_BASELINE     a second nc-train to alternate with (optional)
#   NC_TRAIN=build/nc-train NC_BPE=build/nc-bpe NC_SHARD=build/nc-shard
#
# Target (from the issue): nc-train at least 2x nanochat's examples/s.
set -eu
set -o pipefail

BENCH_NAME=sft
. "$(dirname "$0")/common.sh"

BENCH_DEPTH=${BENCH_DEPTH:-2}
BENCH_SEQ=${BENCH_SEQ:-2048}
BENCH_B=${BENCH_B:-4}
BENCH_E=${BENCH_E:-32}
BENCH_VOCAB=${BENCH_VOCAB:-4096}
BENCH_STEPS=${BENCH_STEPS:-8}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_RUNS=${BENCH_RUNS:-2}
BENCH_MB=${BENCH_MB:-1}
NC_GSM8K=${NC_GSM8K:-../shared/data/eval-samples/gsm8k/train.jsonl}
NC_IDENTITY=${NC_IDENTITY:-../shared/data/chat/identity/identity_conversations.jsonl}
NC_TRAIN_BASELINE=${NC_TRAIN_BASELINE:-}
common_settings

check_decimal BENCH_MB
check_number BENCH_DEPTH BENCH_SEQ BENCH_B BENCH_E BENCH_VOCAB BENCH_STEPS BENCH_WARMUP BENCH_RUNS THREADS BENCH_SEED
[ "$BENCH_DEPTH" -ge 1 ] || die "BENCH_DEPTH must be at least 1"
[ "$BENCH_B" -ge 1 ] && [ "$BENCH_E" -ge "$BENCH_B" ] && [ $((BENCH_E % BENCH_B)) -eq 0 ] ||
	die "BENCH_E must be a multiple of BENCH_B (at least 1)"
[ "$BENCH_STEPS" -ge 1 ] && [ "$BENCH_RUNS" -ge 1 ] || die "BENCH_STEPS and BENCH_RUNS must be at least 1"
[ "$THREADS" -ge 1 ] || die "THREADS must be at least 1"
[ "$BENCH_VOCAB" -le 65536 ] || die "BENCH_VOCAB must be at most 65536"
[ -z "$NC_TRAIN_BASELINE" ] || [ -x "$NC_TRAIN_BASELINE" ] || die "NC_TRAIN_BASELINE=$NC_TRAIN_BASELINE is not an executable"

# ---- the PyTorch side: skip cleanly when it cannot run ----

find_nanochat gpt.py muon.py
[ -f "$NANOCHAT_DIR/scripts/chat_sft.py" ] || skip "NANOCHAT_DIR=$NANOCHAT_DIR has no scripts/chat_sft.py"

need_tools train bpe shard
find_gnutime
make_tmp
machine_facts

# ---- input: a tokenizer, a base checkpoint, conversations ----

note "building ${BENCH_MB} MB of text from $NC_CORPUS for the tokenizer ..."
make_docs "$TMP/docs.jsonl" 4000
describe_input
tokenize_docs
PAD=$(sed -n 's/^special=<|assistant_end|> id=\([0-9]*\)$/\1/p' "$TMP/info.txt")
[ -n "$PAD" ] || die "the tokenizer has no <|assistant_end|> (nc-bpe info)"

ITERS=$((BENCH_WARMUP + BENCH_STEPS))
NEED=$(((ITERS + 1) * BENCH_E))

# gen_convos OUT: NEED conversations made of the docs' text: 1 to 3 turns,
# a user's few words and an assistant's longer answer each.
gen_convos() {
	"$PY" - "$TMP/docs.jsonl" "$NEED" "$BENCH_SEED" >"$1" <<'EOF'
import json, random, sys
docs, need, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
words = [w for line in open(docs, encoding="utf-8") for w in json.loads(line)["text"].split()]
rng = random.Random(seed)
def text(lo, hi):
    n = rng.randint(lo, hi)
    i = rng.randrange(max(1, len(words) - n))
    return " ".join(words[i:i + n]) or "x"
for _ in range(need):
    msgs = []
    for _ in range(rng.randint(1, 3)):
        msgs.append({"role": "user", "content": text(5, 60)})
        msgs.append({"role": "assistant", "content": text(20, 200)})
    print(json.dumps({"messages": msgs}))
EOF
}

if [ -f "$NC_GSM8K" ] && [ -f "$NC_IDENTITY" ]; then
	CMD_MIX=("$NC_SHARD" mix "$NC_GSM8K" "$NC_IDENTITY")
	"${CMD_MIX[@]}" >"$TMP/mixed.jsonl" || die "nc-shard mix failed"
	head -n "$NEED" "$TMP/mixed.jsonl" >"$TMP/convos.jsonl"
	CONVO_DESC="GSM8K train ($(wc -l <"$NC_GSM8K") rows, NC_GSM8K=$NC_GSM8K) and nanochat's identity conversations ($(wc -l <"$NC_IDENTITY") rows, NC_IDENTITY=$NC_IDENTITY) mixed by nc-shard mix (TaskMixture's shuffle, seed 42); the first $NEED"
else
	note "no $NC_GSM8K or $NC_IDENTITY: the conversations are GENERATED from the text (seed $BENCH_SEED)"
	CMD_MIX=()
	gen_convos "$TMP/convos.jsonl" || die "conversation generation failed"
	CONVO_DESC="GENERATED: $NEED conversations of 1 to 3 turns cut from the text (seed $BENCH_SEED); no GSM8K or identity file at NC_GSM8K / NC_IDENTITY"
fi
[ "$(wc -l <"$TMP/convos.jsonl")" -eq "$NEED" ] || die "fewer than $NEED conversations"
CHAT=$TMP/chat.bin
CMD_CHAT=("$NC_SHARD" chat -t "$TOK" -o "$CHAT" "$TMP/convos.jsonl")
"${CMD_CHAT[@]}" >"$TMP/chat.log" 2>&1 || die "nc-shard chat failed: $(tail -n 3 "$TMP/chat.log")"
CHAT_FACTS=$(grep -m1 'stage=chat' "$TMP/chat.log" || true)

BASE=$TMP/base
CMD_BASE=("$NC_TRAIN" base -t "$TOK" --data "$DATA" -o "$BASE" --depth="$BENCH_DEPTH"
	--max-seq-len="$BENCH_SEQ" --device-batch-size=1 --total-batch-size="$BENCH_SEQ"
	--num-iterations=1 --eval-every=0 --threads="$THREADS" --quiet)
"${CMD_BASE[@]}" >"$TMP/base.log" 2>&1 || die "nc-train base failed: $(tail -n 3 "$TMP/base.log")"

# ---- the runs, alternating ----

nc_cmd() {
	CMD=("$1" sft --from="$BASE" --train="$CHAT" -o "$TMP/run" --eval-every=0
		--device-batch-size="$BENCH_B" --target-examples-per-step="$BENCH_E"
		--max-iterations=$((ITERS + 1)) --threads="$THREADS")
}
nc_cmd "$NC_TRAIN"
CMD_NC=("${CMD[@]}")
if [ -n "$NC_TRAIN_BASELINE" ]; then
	nc_cmd "$NC_TRAIN_BASELINE"
	CMD_BL=("${CMD[@]}")
fi
CMD_PY=("$PY" sh/bench/nanochat_sft_step.py --nanochat "$NANOCHAT_DIR" --shard="$CHAT" --pad="$PAD"
	--depth="$BENCH_DEPTH" --seq="$BENCH_SEQ" --vocab="$VOCAB" --batch="$BENCH_B" --examples="$BENCH_E"
	--steps="$BENCH_STEPS" --warmup="$BENCH_WARMUP" --threads="$THREADS")

LOGGED='"$@" >"$0" 2>&1 || { rc=$?; tail -n 5 "$0" >&2; exit $rc; }'
before_nc() { rm -rf "$TMP/run"; }
before_bl() { rm -rf "$TMP/run"; }

# one NAME ROUND CMD...: a run, its step times appended to $TMP/NAME.dt and
# its load and rate to $TMP/NAME.runs.
one() {
	local name=$1 round=$2 l
	shift 2
	l=$(load)
	note "round $round: $name (load $l) ..."
	local cpu=()
	[ -z "$GNUTIME" ] || cpu=("$GNUTIME" -f '%U %S' -o "$TMP/$name.$round.cpu")
	BENCH_RUNS=1 timed "$name" "${cpu[@]}" sh -c "$LOGGED" "$TMP/$name.$round.log" "$@"
	step_times "$TMP/$name.$round.log" >"$TMP/$name.$round.dt"
	[ "$(wc -l <"$TMP/$name.$round.dt")" -eq "$BENCH_STEPS" ] ||
		die "$name printed $(wc -l <"$TMP/$name.$round.dt") timed steps, not $BENCH_STEPS"
	cat "$TMP/$name.$round.dt" >>"$TMP/$name.dt"
	local cpu_s=?
	[ ! -s "$TMP/$name.$round.cpu" ] || cpu_s=$(awk '{ printf "%.1f", $1 + $2 }' "$TMP/$name.$round.cpu")
	printf '%s|%s|%s|%s\n' "$l" "$(rate "$TMP/$name.$round.dt")" "$(eval echo "\$W_$name")" "$cpu_s" >>"$TMP/$name.runs"
}

# rate FILE: examples/s over the step times (ms) in FILE
rate() { awk -v e="$BENCH_E" '{ s += $1 } END { printf "%.2f", NR * e / (s / 1000) }' "$1"; }
# stats FILE: "ex_s best_ms median_ms sum_s"
stats() {
	sort -g "$1" | awk -v e="$BENCH_E" '{ a[NR] = $1; s += $1 }
		END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
		      printf "%.2f %.1f %.1f %.2f\n", NR * e / (s / 1000), a[1], m, s / 1000 }'
}

NAMES="nc py"
[ -z "$NC_TRAIN_BASELINE" ] || NAMES="nc bl py"
for round in $(seq "$BENCH_RUNS"); do
	one nc "$round" "${CMD_NC[@]}"
	[ -z "$NC_TRAIN_BASELINE" ] || one bl "$round" "${CMD_BL[@]}"
	one py "$round" "${CMD_PY[@]}"
done

loss_at() { awk -v s="$2" '{ for (i = 1; i <= NF; i++) if ($i == "step=" s) { for (j = 1; j <= NF; j++) if ($j ~ /^loss=/) print substr($j, 6); exit } }' "$1"; }
kvl() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -n 1; }
NC_CONFIG=$(grep -m1 'event=config' "$TMP/nc.1.log" || true)
PY_CONFIG=$(grep -m1 'event=config' "$TMP/py.1.log" || true)
# the examples' tokens: real (up to each row's end) and as padded
tokens_of() { awk '/(^| )step=[0-9]/ { for (i = 1; i <= NF; i++) if ($i ~ /^num_tokens=/) s += substr($i, 12) } END { print s + 0 }' "$1"; }
read -r EXS_NC BEST_NC MED_NC SUM_NC < <(stats "$TMP/nc.dt")
read -r EXS_PY BEST_PY MED_PY SUM_PY < <(stats "$TMP/py.dt")
RATIO=$(calc %.2f "$EXS_NC / $EXS_PY")
TARGET=$(awk -v r="$RATIO" 'BEGIN { print (r >= 2 ? "met" : "NOT met") }')
if [ -n "$NC_TRAIN_BASELINE" ]; then
	read -r EXS_BL BEST_BL MED_BL SUM_BL < <(stats "$TMP/bl.dt")
	RATIO_BL=$(calc %.2f "$EXS_BL / $EXS_PY")
	SPEEDUP=$(calc %.2f "$EXS_NC / $EXS_BL")
fi
LAST=$((ITERS - 1))
TOTAL_S=$(calc %.0f "$(now) - $T_START")
LOAD_END=$(load)
runs_of() { awk -F'|' '{ printf "%s%s ex/s, %s s wall, %s CPU s (load %s)", (NR > 1 ? "; " : ""), $2, $3, $4, $1 }' "$TMP/$1.runs"; }
row() {
	local name=$1 label=$2 exs=$3 best=$4 med=$5 sum=$6
	echo "| $label | $exs | ${best} ms | ${med} ms | ${sum} s | $(loss_at "$TMP/$name.1.log" 0) / $(loss_at "$TMP/$name.1.log" "$LAST") | $(eval echo "\$W_$name") s, $(eval echo "\$M_$name") MiB |"
}

{
	echo "## $STARTED: CPU SFT examples/s, nc-train sft vs nanochat's chat_sft step (sh/bench/sft.sh)"
	echo
	echo "- machine: $CPU, $CORES cores, $MEM; $OS; load average $LOAD_START at the start, $LOAD_END at the end (before each run: below)"
	echo "- revision: $REV, dirty: $DIRTY"
	echo "- build: $BUILD; $CCV"
	echo "- peers: $PEERS; nanochat $NANOCHAT_COMMIT (NANOCHAT_DIR), torch.compile off, fp32, AdamW $(kvl "$PY_CONFIG" adamw)"
	echo "- model: depth $BENCH_DEPTH (n_embd $((BENCH_DEPTH * 64)), heads of 128), vocab $VOCAB, context $BENCH_SEQ, $(kvl "$NC_CONFIG" params) parameters (PyTorch: $(kvl "$PY_CONFIG" params)); device batch $BENCH_B, $BENCH_E examples a step ($((BENCH_E / BENCH_B)) micro-steps)"
	echo "- conversations: $CONVO_DESC; rendered by nc-shard chat ($CHAT_FACTS); tokenizer by nc-bpe on $INPUT_DESC; both sides read the same chat shard, in the same order; targets trained on over the $BENCH_STEPS+$BENCH_WARMUP steps: nc $(tokens_of "$TMP/nc.1.log"), PyTorch $(tokens_of "$TMP/py.1.log")"
	echo "- settings: BENCH_DEPTH=$BENCH_DEPTH BENCH_SEQ=$BENCH_SEQ BENCH_B=$BENCH_B BENCH_E=$BENCH_E BENCH_VOCAB=$BENCH_VOCAB BENCH_STEPS=$BENCH_STEPS BENCH_WARMUP=$BENCH_WARMUP BENCH_RUNS=$BENCH_RUNS THREADS=$THREADS BENCH_MB=$BENCH_MB${NC_TRAIN_BASELINE:+ NC_TRAIN_BASELINE=$(show "$NC_TRAIN_BASELINE")}"
	echo
	echo "| $THREADS threads | examples/s | best step | median step | $((BENCH_STEPS * BENCH_RUNS)) steps | loss at step 0 / $LAST | whole process (fastest run) |"
	echo "|---|---|---|---|---|---|---|"
	row nc "nc-train sft" "$EXS_NC" "$BEST_NC" "$MED_NC" "$SUM_NC"
	[ -z "$NC_TRAIN_BASELINE" ] || row bl "nc-train sft (baseline)" "$EXS_BL" "$BEST_BL" "$MED_BL" "$SUM_BL"
	row py "nanochat chat_sft (PyTorch)" "$EXS_PY" "$BEST_PY" "$MED_PY" "$SUM_PY"
	echo
	echo "- ratio nc/PyTorch (examples/s): ${RATIO}x; target (at least 2x): $TARGET"
	if [ -n "$NC_TRAIN_BASELINE" ]; then
		echo "- baseline nc-train ($(show "$NC_TRAIN_BASELINE")): ${RATIO_BL}x PyTorch; this build is ${SPEEDUP}x the baseline"
	fi
	for n in $NAMES; do
		echo "- runs, $n (alternating, in order): $(runs_of "$n")"
	done
	for n in $NAMES; do
		echo "- step times (ms), $n: $(paste -sd' ' "$TMP/$n.dt")"
	done
	echo "- CPU s: user + system seconds of the whole process (GNU time), start-up included (for PyTorch, importing torch); on a loaded machine less noisy than the wall times"
	echo "- timing: $BENCH_RUNS rounds of alternating runs ($NAMES); examples/s = timed steps x $BENCH_E / the sum of those steps' times as each process measures them (nc-train's dt_ms; time.perf_counter around collate+forward+backward+step+zero_grad); the first $BENCH_WARMUP steps of each run are warm-up and not counted. 'whole process' is wall time with start-up (imports) and nc's checkpoint. Total run ${TOTAL_S} s."
	section_commands \
		"$(show "${CMD_BPE[@]}")" \
		"$(show "${CMD_SHARD[@]}")" \
		"$( [ ${#CMD_MIX[@]} -eq 0 ] || show "${CMD_MIX[@]}" | sed "s/\$/ >mixed.jsonl; head -n $NEED mixed.jsonl >convos.jsonl/")" \
		"$(show "${CMD_CHAT[@]}")" \
		"$(show "${CMD_BASE[@]}")" \
		"$(show "${CMD_NC[@]}")" \
		"$( [ -z "$NC_TRAIN_BASELINE" ] || show "${CMD_BL[@]}")" \
		"$(show "${CMD_PY[@]}" | sed "s|$NANOCHAT_DIR|\$NANOCHAT_DIR|")"
} >"$TMP/section.md"

print_results "$TMP/section.md"
