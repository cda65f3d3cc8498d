#!/usr/bin/env bash
# sh/bench/sample.sh: inference tokens/s on the CPU, or with
# BENCH_DEVICE=cuda on a GPU. nc-sample beside nanochat's Engine (PyTorch),
# same checkpoint, same prompt, same cores or GPU:
# prefill (the prompt's forward) and decode (one token a row a step) at
# batch 1 and batch BENCH_BATCH, and how close batch-1 decode comes to the
# machine's memory bandwidth.
#
#   nc-sample -m CKPT --tokens --stats -n N --samples S -T TEMP --threads=THREADS
#       the prompt's ids on stdin, 1+BENCH_RUNS times (one line each): the
#       first is warm-up (a process's first forward pays for starting the
#       OpenMP and BLAS threads), the others are the timed runs. --stats
#       prints per prompt prefill_s (nc_gpt_step over the prompt, batch 1)
#       and decode_s (the sum of the S-row nc_gpt_steps); sampling is not in
#       either.
#   python -O sh/bench/nanochat_sample.py --nanochat NANOCHAT_DIR ...
#       nanochat's GPT built from the same safetensors in fp32 (fp32 rotary
#       tables, no autocast, torch.compile off), wrapped in nanochat's Engine
#       with a stand-in tokenizer (special ids from nc-bpe info; see the
#       driver's docstring), one untimed warm-up generate per S, then
#       BENCH_RUNS timed Engine.generate(prompt, num_samples=S,
#       max_tokens=N, temperature=TEMP). prefill = the time to the first
#       yielded token column; decode = the rest, over (columns - 1) steps.
#       GPT.forward is timed too: "forward only" is the like-for-like figure
#       for nc's (model steps only, no sampling or Python bookkeeping).
#
# tokens/s: prefill = prompt tokens / prefill time; decode = rows x steps /
# decode time (nc counts only the rows still live: a row that samples
# <|bos|> or <|assistant_end|> leaves nc's batch, while nanochat's Engine
# keeps feeding it; the block says when that happened). Each figure is the
# best of the BENCH_RUNS runs (all runs are listed).
#
# The model is trained here: nc-bpe trains a BENCH_VOCAB tokenizer on
# BENCH_MB of text from NC_CORPUS, nc-shard makes shards, and nc-train base
# runs BENCH_TRAIN_STEPS steps of one BENCH_T-token sequence (depth
# BENCH_DEPTH, sequence_len BENCH_T), so that c_proj and lm_head are no
# longer the zeros they start as. The default depth 8 (n_embd 512, 29.4M
# parameters, 117 MB of fp32) is chosen so that the weights a decode step
# reads are several times the last-level cache (32 MiB on the machine this
# was written on): batch-1 decode then streams them from memory, and the
# bandwidth bound below means something. The prompt is <|bos|> and the
# first BENCH_PROMPT-1 ids of the first generated document (nc-bpe encode
# --ids --bos); both sides get the same ids.
#
# Memory-bandwidth bound (batch 1). Bytes a decoded token must read:
#   weights: every fp32 parameter the token touches = all parameters minus
#     the embedding table plus the one wte row it looks up
#     (4 * (params - V*C + C)); the lm_head is read whole;
#   KV cache: k and v of every layer at every cached position, 2 * L *
#     n_kv_head * head_dim * 4 bytes a position, averaged over the decode
#     steps (step j attends over BENCH_PROMPT + j positions: on average
#     BENCH_PROMPT + N/2);
#   activations, logits and the rotary tables are left out (a few KB).
# Bandwidth: a small C program compiled here (cc -O3 -march=native
# -fopenmp) with THREADS OpenMP threads, each copying its share of a
# BENCH_BW_MB MiB array with memcpy, best of BENCH_BW_REPS; copy bandwidth =
# 2 x bytes / time (read + write, as STREAM counts it). It also times a
# read-only pass (a vectorized sum over the array) and reports the bound
# and fractions against it as well: a decode step only reads, and on some
# machines one core cannot read as fast as a copy moves bytes. bound
# tokens/s = bandwidth / bytes a token; fraction = decode tokens/s / bound.
#
# nanochat is NOT vendored. NANOCHAT_DIR must name a directory that holds a
# nanochat v1 checkout's nanochat/ package, for instance
#
#   mkdir nanochat-3a5e0bc && git -C NANOCHAT_CLONE archive 3a5e0bc | tar -x -C nanochat-3a5e0bc
#
# (karpathy/nanochat at 3a5e0bc, the version nc follows). Without
# NANOCHAT_DIR, or when NC_TORCH_PYTHON cannot import torch and safetensors,
# the script says why and exits 0 without measuring anything.
#
# Settings (environment):
#   NANOCHAT_DIR          the nanochat checkout (required, see above)
#   NANOCHAT_COMMIT       what to record as its commit (default: asked of git
#                         when NANOCHAT_DIR is a work tree, else "unknown")
#   NC_TORCH_PYTHON       interpreter with torch and safetensors (default:
#                         NC_PYTHON, else .venv/bin/python, else python3)
#   BENCH_DEPTH=8         model depth (n_embd 64*depth, heads of 128)
#   BENCH_T=512           sequence_len (the context) and training length
#   BENCH_VOCAB=4096      vocabulary size of the tokenizer trained here
#   BENCH_TRAIN_STEPS=2   nc-train steps before the checkpoint
#   BENCH_PROMPT=256      prompt tokens (with <|bos|>)
#   BENCH_N=128           tokens generated per row (max_tokens)
#   BENCH_BATCH=8         the larger batch (samples decoded together)
#   BENCH_TEMP=1.0        sampling temperature (0: greedy)
#   BENCH_RUNS=3          timed runs per side and batch (the best counts)
#   BENCH_GREEDY=32       same-model check (0: skip): nc-sample -T 0 makes
#                         this many greedy tokens, and the driver checks that
#                         each is the argmax of nanochat's logits (ties allowed)
#   BENCH_BW_MB=512       MiB copied by the bandwidth probe
#   BENCH_BW_REPS=5       its repetitions (the best counts)
#   THREADS=$(nproc)      nc-sample --threads, torch.set_num_threads and the
#                         probe's OpenMP threads
#   BENCH_MB=2            MB of text the tokenizer and shards are made of
#   BENCH_SEED=1337       seed of the text generator
#   BENCH_RESULTS=tests/bench/RESULTS.md   where the section is appended
#                         (empty: print only)
#   NC_CORPUS=../shared/data/corpus   text files (*.txt) the input is made of;
#                         without any, synthetic text is generated
#   NC_TRAIN NC_BPE NC_SHARD NC_SAMPLE   the binaries (default build/nc-*,
#                         built with make all when any is left default)
#
# On a GPU (BENCH_DEVICE=cuda): both sides run fp32 on the GPU (nc-sample
# --device=cuda; nanochat's model moved there, no autocast), the default
# depth is 20 (a d20 token reads 1.6 GB of fp32 weights, well over the
# GPU's cache), nc-sample's batch-1 decode is timed a second time with
# NC_NO_GRAPHS=1 (op by op rather than replaying a CUDA graph), and the
# bandwidth bound is the GPU's: the PyTorch driver copies and sums
# BENCH_BW_MB MiB on the device (see its docstring). It needs nvidia-smi, a
# torch that sees the GPU, and nc built with CUDA; otherwise it says why and
# exits 0.
#   BENCH_DEVICE=cpu      cpu or cuda
#
# Targets (from the issue): nc-sample's batch-1 decode at least 2x
# nanochat's on the CPU, 3x on the GPU.
set -eu
set -o pipefail

BENCH_NAME=sample
BENCH_RUNS=${BENCH_RUNS:-3}
. "$(dirname "$0")/common.sh"

BENCH_DEVICE=${BENCH_DEVICE:-cpu}
case $BENCH_DEVICE in cpu) ;; cuda) ;; *) die "BENCH_DEVICE must be cpu or cuda, not '$BENCH_DEVICE'" ;; esac
GPU_RUN=$([ "$BENCH_DEVICE" = cuda ] && echo 1 || true)
BENCH_DEPTH=${BENCH_DEPTH:-$([ -n "$GPU_RUN" ] && echo 20 || echo 8)}
BENCH_T=${BENCH_T:-512}
BENCH_VOCAB=${BENCH_VOCAB:-4096}
BENCH_TRAIN_STEPS=${BENCH_TRAIN_STEPS:-2}
BENCH_PROMPT=${BENCH_PROMPT:-256}
BENCH_N=${BENCH_N:-128}
BENCH_BATCH=${BENCH_BATCH:-8}
BENCH_TEMP=${BENCH_TEMP:-1.0}
BENCH_GREEDY=${BENCH_GREEDY:-32}
BENCH_BW_MB=${BENCH_BW_MB:-512}
BENCH_BW_REPS=${BENCH_BW_REPS:-5}
BENCH_MB=${BENCH_MB:-2}
common_settings

check_decimal BENCH_MB BENCH_TEMP
check_number BENCH_DEPTH BENCH_T BENCH_VOCAB BENCH_TRAIN_STEPS BENCH_PROMPT BENCH_N BENCH_BATCH \
	BENCH_RUNS BENCH_GREEDY BENCH_BW_MB BENCH_BW_REPS THREADS BENCH_SEED
[ "$BENCH_DEPTH" -ge 1 ] || die "BENCH_DEPTH must be at least 1"
[ "$BENCH_TRAIN_STEPS" -ge 1 ] || die "BENCH_TRAIN_STEPS must be at least 1"
[ "$BENCH_PROMPT" -ge 2 ] || die "BENCH_PROMPT must be at least 2"
[ "$BENCH_N" -ge 2 ] || die "BENCH_N must be at least 2 (decode is the tokens after the first)"
[ "$BENCH_BATCH" -ge 1 ] && [ "$BENCH_RUNS" -ge 1 ] && [ "$THREADS" -ge 1 ] ||
	die "BENCH_BATCH, BENCH_RUNS and THREADS must be at least 1"
[ "$BENCH_BW_MB" -ge 1 ] && [ "$BENCH_BW_REPS" -ge 1 ] || die "BENCH_BW_MB and BENCH_BW_REPS must be at least 1"
[ $((BENCH_PROMPT + BENCH_N)) -le "$BENCH_T" ] ||
	die "BENCH_PROMPT + BENCH_N ($((BENCH_PROMPT + BENCH_N))) must fit the context BENCH_T ($BENCH_T)"
[ "$BENCH_GREEDY" -le $((BENCH_T - BENCH_PROMPT)) ] || die "BENCH_GREEDY must fit the context after the prompt"
[ "$BENCH_VOCAB" -le 65536 ] || die "BENCH_VOCAB must be at most 65536 (the shards are uint16)"

# ---- the PyTorch side: skip cleanly when it cannot run ----

if [ -n "$GPU_RUN" ]; then
	command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 || skip "no NVIDIA GPU (nvidia-smi)"
fi
find_nanochat gpt.py engine.py
"$PY" -c 'import safetensors.torch' 2>/dev/null ||
	skip "$PY cannot import safetensors (pip install safetensors, or set NC_TORCH_PYTHON)"
if [ -n "$GPU_RUN" ]; then
	"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' ||
		skip "$PY's torch sees no CUDA device"
fi

# ---- nc's binaries ----

NEED_MAKE=
for b in train bpe shard sample; do
	v=NC_$(echo "$b" | tr a-z A-Z)
	if [ -z "${!v:-}" ]; then
		eval "$v=build/nc-$b"
		NEED_MAKE=1
	fi
done
if [ -n "$NEED_MAKE" ]; then
	make -s all >&2 || die "make all failed"
fi
if [ -n "$GPU_RUN" ]; then
	grep -q "cuda=yes" build/.config 2>/dev/null ||
		skip "nc was built without CUDA (build/.config: $(cat build/.config 2>/dev/null))"
fi

find_gnutime
make_tmp
machine_facts

# ---- the machine's memory bandwidth ----

cat >"$TMP/bw.c" <<'EOF'
/* Copy and read bandwidth: argv[1] MiB, argv[2] repetitions, the best of
 * each; every OpenMP thread works on its own contiguous share. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	size_t bytes = (size_t)strtoul(argv[1], NULL, 10) << 20;
	int reps = atoi(argv[2]);
	size_t n = bytes / sizeof(float);
	float *a = malloc(bytes), *b = malloc(bytes);
	if (!a || !b)
		return 1;
	#pragma omp parallel for
	for (size_t i = 0; i < n; i++) {
		a[i] = (float)(i & 1023);
		b[i] = 0;
	}
	double copy = 1e30, read = 1e30;
	volatile float sink = 0;
	for (int r = 0; r < reps; r++) {
		double t0 = omp_get_wtime();
		#pragma omp parallel
		{
			size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
			size_t lo = bytes * t / nt, hi = bytes * (t + 1) / nt;
			memcpy((char *)b + lo, (char *)a + lo, hi - lo);
		}
		double t1 = omp_get_wtime();
		float sum = 0;
		#pragma omp parallel reduction(+ : sum)
		{
			/* 32 independent lanes: vectorized, not latency bound */
			size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
			size_t lo = n / 32 * t / nt * 32, hi = n / 32 * (t + 1) / nt * 32;
			float acc[32] = {0};
			for (size_t i = lo; i < hi; i += 32)
				for (int k = 0; k < 32; k++)
					acc[k] += b[i + k];
			for (int k = 0; k < 32; k++)
				sum += acc[k];
		}
		double t2 = omp_get_wtime();
		sink += sum;
		copy = t1 - t0 < copy ? t1 - t0 : copy;
		read = t2 - t1 < read ? t2 - t1 : read;
	}
	printf("BW_COPY=%.2f BW_READ=%.2f\n", 2.0 * bytes / copy / 1e9, (double)(n / 32 * 32) * sizeof(float) / read / 1e9);
	return 0;
}
EOF
BW_COPY= BW_READ=
BW_CC="${CC:-cc} -O3 -march=native -fopenmp"
GPU=
if [ -n "$GPU_RUN" ]; then
	GPU=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -n 1)
	note "memory bandwidth: measured on the GPU by the PyTorch driver"
elif $BW_CC "$TMP/bw.c" -o "$TMP/bw" 2>"$TMP/bw.log"; then
	note "memory bandwidth: $THREADS threads copying $BENCH_BW_MB MiB, best of $BENCH_BW_REPS ..."
	LOAD_BW=$(load)
	OMP_NUM_THREADS=$THREADS "$TMP/bw" "$BENCH_BW_MB" "$BENCH_BW_REPS" >"$TMP/bw.env" ||
		die "the bandwidth probe failed"
	. "$TMP/bw.env"
else
	note "cannot compile the bandwidth probe ($BW_CC): no bandwidth bound"
fi

# ---- input: text, tokenizer, shards, checkpoint, prompt ----

note "building ${BENCH_MB} MB of text from $NC_CORPUS ..."
make_docs "$TMP/docs.jsonl" 4000
describe_input

tokenize_docs
"$NC_BPE" export -t "$TOK" -o "$TMP/ranks.txt" || die "nc-bpe export failed"
RUN=$TMP/run
CMD_TRAIN=("$NC_TRAIN" base -t "$TOK" --data "$DATA" -o "$RUN" --depth="$BENCH_DEPTH" --max-seq-len="$BENCH_T"
	--device-batch-size=1 --total-batch-size="$BENCH_T" --num-iterations="$BENCH_TRAIN_STEPS"
	--eval-every=0 --threads="$THREADS")
note "training depth $BENCH_DEPTH for $BENCH_TRAIN_STEPS steps of $BENCH_T tokens ..."
T0_TRAIN=$(now)
"${CMD_TRAIN[@]}" >"$TMP/train.log" 2>&1 || die "nc-train failed: $(tail -n 3 "$TMP/train.log")"
TRAIN_S=$(calc %.0f "$(now) - $T0_TRAIN")
CKPT=$(printf '%s/step_%06d' "$RUN" "$BENCH_TRAIN_STEPS")
[ -f "$CKPT/model.safetensors" ] || die "no checkpoint at $CKPT"
FINAL_LOSS=$(tr ' ' '\n' <"$TMP/train.log" | sed -n 's/^final_loss=//p' | tail -n 1)

CMD_PROMPT=("$NC_BPE" encode -t "$TOK" --ids --bos --quiet "$TMP/docs.jsonl")
"${CMD_PROMPT[@]}" 2>"$TMP/encode.log" | head -n 1 | tr ' ' '\n' | head -n "$BENCH_PROMPT" |
	paste -sd' ' - >"$TMP/prompt.ids" || true
[ "$(wc -w <"$TMP/prompt.ids")" -eq "$BENCH_PROMPT" ] ||
	die "the first document has $(wc -w <"$TMP/prompt.ids") tokens, fewer than BENCH_PROMPT=$BENCH_PROMPT"

# ---- the runs ----

# nc_run S: nc-sample on the prompt 1+BENCH_RUNS times; the stats lines of
# the timed ones go to $TMP/nc.S.stats.
nc_run() {
	local S=$1 i
	local tag=${2:-$1}
	CMD_NC=("$NC_SAMPLE" -m "$CKPT" --tokens --stats -n "$BENCH_N" --samples="$S" -T "$BENCH_TEMP"
		--threads="$THREADS" --device="$BENCH_DEVICE")
	for i in $(seq $((BENCH_RUNS + 1))); do
		cat "$TMP/prompt.ids"
	done | "${CMD_NC[@]}" >"$TMP/nc.$tag.out" 2>"$TMP/nc.$tag.err" ||
		die "nc-sample --samples=$S failed: $(tail -n 3 "$TMP/nc.$tag.err")"
	grep '^prompt=' "$TMP/nc.$tag.err" | tail -n +2 >"$TMP/nc.$tag.stats"
	[ "$(wc -l <"$TMP/nc.$tag.stats")" -eq "$BENCH_RUNS" ] ||
		die "nc-sample --samples=$S printed $(wc -l <"$TMP/nc.$tag.stats") timed stats lines, not $BENCH_RUNS"
}

if [ "$BENCH_GREEDY" -gt 0 ]; then
	"$NC_SAMPLE" -m "$CKPT" --tokens -T 0 -n "$BENCH_GREEDY" --threads="$THREADS" --device="$BENCH_DEVICE" \
		<"$TMP/prompt.ids" \
		>"$TMP/greedy.nc" 2>"$TMP/greedy.err" || die "nc-sample -T 0 failed: $(tail -n 3 "$TMP/greedy.err")"
fi

note "nc-sample: batch 1 and $BENCH_BATCH, $BENCH_RUNS timed runs each ..."
LOAD_NC=$(load)
nc_run 1
CMD_NC1=("${CMD_NC[@]}")
if [ "$BENCH_BATCH" -ne 1 ]; then
	nc_run "$BENCH_BATCH"
fi
if [ -n "$GPU_RUN" ]; then
	note "nc-sample: batch 1 again, op by op (NC_NO_GRAPHS=1) ..."
	NC_NO_GRAPHS=1 nc_run 1 nographs
fi

SAMPLES=1
[ "$BENCH_BATCH" -eq 1 ] || SAMPLES="1,$BENCH_BATCH"
CMD_PY=("$PY" sh/bench/nanochat_sample.py --nanochat "$NANOCHAT_DIR" --model "$CKPT" --prompt "$TMP/prompt.ids"
	--specials "$TMP/info.txt" --ranks "$TMP/ranks.txt" --max-tokens="$BENCH_N" --samples="$SAMPLES"
	--runs="$BENCH_RUNS" --temperature="$BENCH_TEMP" --threads="$THREADS" --device="$BENCH_DEVICE")
if [ -n "$GPU_RUN" ]; then
	CMD_PY+=(--bandwidth-mb="$BENCH_BW_MB" --bandwidth-reps="$BENCH_BW_REPS")
fi
if [ "$BENCH_GREEDY" -gt 0 ]; then
	CMD_PY+=(--greedy="$BENCH_GREEDY" --check-greedy="$TMP/greedy.nc")
fi
note "nanochat Engine (PyTorch): batch $SAMPLES, $BENCH_RUNS timed runs each ..."
LOAD_PY=$(load)
"${CMD_PY[@]}" >"$TMP/py.log" 2>&1 || { tail -n 5 "$TMP/py.log" >&2; die "the PyTorch driver failed"; }
LOAD_END=$(load)

# ---- the numbers ----

kv() { tr ' ' '\n' | sed -n "s/^$1=//p"; }
# best FILE KEY: the largest value of KEY over FILE's lines
best() { kv "$2" <"$1" | sort -g | tail -n 1; }
all() { kv "$2" <"$1" | paste -sd' ' -; }

PY_CONFIG=$(grep -m1 'event=config' "$TMP/py.log" || true)
if [ -n "$GPU_RUN" ]; then
	BW_COPY=$(grep -m1 'event=bandwidth' "$TMP/py.log" | kv copy_gbs)
	BW_READ=$(grep -m1 'event=bandwidth' "$TMP/py.log" | kv read_gbs)
	[ -n "$BW_COPY" ] || die "the PyTorch driver printed no event=bandwidth line"
fi
PARAMS=$(kv params <<<"$PY_CONFIG")
[ -n "$PARAMS" ] || die "the PyTorch driver printed no event=config line"
for S in 1 "$BENCH_BATCH"; do
	grep "^samples=$S " "$TMP/py.log" >"$TMP/py.$S.stats" || true
	[ "$(wc -l <"$TMP/py.$S.stats")" -eq "$BENCH_RUNS" ] ||
		die "the PyTorch driver printed $(wc -l <"$TMP/py.$S.stats") runs for batch $S, not $BENCH_RUNS"
done

B=$BENCH_BATCH
for S in 1 "$B"; do
	eval "NC_PRE_$S=\$(best \"\$TMP/nc.\$S.stats\" prefill_tok_s)"
	eval "NC_DEC_$S=\$(best \"\$TMP/nc.\$S.stats\" decode_tok_s)"
	eval "PY_PRE_$S=\$(best \"\$TMP/py.\$S.stats\" prefill_tok_s)"
	eval "PY_DEC_$S=\$(best \"\$TMP/py.\$S.stats\" decode_tok_s)"
	eval "PY_FWD_$S=\$(best \"\$TMP/py.\$S.stats\" fwd_decode_tok_s)"
	# prefill forward alone: prompt tokens / the fastest fwd_prefill_s
	f=$(kv fwd_prefill_s <"$TMP/py.$S.stats" | sort -g | head -n 1)
	eval "PY_FPRE_$S=\$(calc %.1f \"$BENCH_PROMPT / $f\")"
done
ratio() { calc %.2f "$1 / $2"; }
R_PRE_1=$(ratio "$NC_PRE_1" "$PY_PRE_1")
R_DEC_1=$(ratio "$NC_DEC_1" "$PY_DEC_1")
R_FWD_1=$(ratio "$NC_DEC_1" "$PY_FWD_1")
eval "R_PRE_B=\$(ratio \"\$NC_PRE_$B\" \"\$PY_PRE_$B\")"
eval "R_DEC_B=\$(ratio \"\$NC_DEC_$B\" \"\$PY_DEC_$B\")"
eval "R_FWD_B=\$(ratio \"\$NC_DEC_$B\" \"\$PY_FWD_$B\")"
eval "NC_PRE_B=\$NC_PRE_$B NC_DEC_B=\$NC_DEC_$B PY_PRE_B=\$PY_PRE_$B PY_DEC_B=\$PY_DEC_$B PY_FWD_B=\$PY_FWD_$B PY_FPRE_B=\$PY_FPRE_$B"
GOAL=$([ -n "$GPU_RUN" ] && echo 3 || echo 2)
TARGET=$(awk -v r="$R_DEC_1" -v g="$GOAL" 'BEGIN { print (r >= g ? "met" : "NOT met") }')
TARGET_FWD=$(awk -v r="$R_FWD_1" -v g="$GOAL" 'BEGIN { print (r >= g ? "met" : "NOT met") }')
GRAPH_LINE=
if [ -n "$GPU_RUN" ]; then
	NC_DEC_NG=$(best "$TMP/nc.nographs.stats" decode_tok_s)
	GRAPH_LINE="- CUDA graphs: nc's batch-1 decode replaying a recorded step $NC_DEC_1 tokens/s; op by op (NC_NO_GRAPHS=1) $NC_DEC_NG tokens/s ($(ratio "$NC_DEC_1" "$NC_DEC_NG")x; all runs: $(all "$TMP/nc.nographs.stats" decode_tok_s))"
fi

# nc rows that stopped early (sampled <|bos|> or <|assistant_end|>)
EARLY=
for S in 1 "$B"; do
	want=$((S * (BENCH_N - 1)))
	got=$(kv decode_tokens <"$TMP/nc.$S.stats" | head -n 1)
	if [ "$got" -ne "$want" ]; then
		EARLY="$EARLY${EARLY:+; }batch $S: nc decoded $got row-tokens, not $want (rows that sampled <|bos|> or <|assistant_end|> leave nc's batch; nanochat's Engine keeps computing them)"
	fi
done

# bytes a decoded token reads at batch 1
C=$((BENCH_DEPTH * 64))
NH=$(kv n_head <<<"$PY_CONFIG")
NKV=$(kv n_kv_head <<<"$PY_CONFIG")
KVW=$((NKV * (C / NH)))
W_BYTES=$(((PARAMS - VOCAB * C + C) * 4))
KV_BYTES=$(calc %.0f "2 * $BENCH_DEPTH * $KVW * 4 * ($BENCH_PROMPT + $BENCH_N / 2)")
TOK_BYTES=$((W_BYTES + KV_BYTES))
if [ -n "$BW_COPY" ]; then
	BOUND=$(calc %.1f "$BW_COPY * 1e9 / $TOK_BYTES")
	FRAC_NC=$(calc %.2f "$NC_DEC_1 / $BOUND")
	FRAC_PY=$(calc %.2f "$PY_DEC_1 / $BOUND")
	FRAC_PYF=$(calc %.2f "$PY_FWD_1 / $BOUND")
	BOUND_R=$(calc %.1f "$BW_READ * 1e9 / $TOK_BYTES")
	if [ -n "$GPU_RUN" ]; then
		BW_HOW="the GPU, torch copy_ of $BENCH_BW_MB MiB on the device, best of $BENCH_BW_REPS, read+write bytes"
	else
		BW_HOW="$THREADS threads, memcpy of $BENCH_BW_MB MiB, best of $BENCH_BW_REPS, read+write bytes"
	fi
	BW_LINE="- memory-bandwidth bound, batch 1: a decoded token reads $(calc %.1f "$TOK_BYTES / 1e6") MB ($(calc %.1f "$W_BYTES / 1e6") MB of fp32 weights: all parameters but the embedding table, plus one wte row; $(calc %.1f "$KV_BYTES / 1e6") MB of KV cache at the mean $BENCH_PROMPT+$((BENCH_N / 2)) positions). Copy bandwidth ($BW_HOW): $BW_COPY GB/s, so at most $BOUND tokens/s. nc reaches $FRAC_NC of it, nanochat $FRAC_PY (forward only $FRAC_PYF). A read-only pass over the same array runs at $BW_READ GB/s: bound $BOUND_R tokens/s, of which nc reaches $(calc %.2f "$NC_DEC_1 / $BOUND_R"), nanochat $(calc %.2f "$PY_DEC_1 / $BOUND_R")."
else
	BW_LINE="- memory-bandwidth bound: not measured (the probe did not compile with $BW_CC)"
fi

GREEDY_LINE=
if [ "$BENCH_GREEDY" -gt 0 ]; then
	G_NC=$(head -n 1 "$TMP/greedy.nc")
	G_PY=$(sed -n 's/^greedy=//p' "$TMP/py.log" | head -n 1)
	AGREE=$(awk -v a="$G_NC" -v b="$G_PY" 'BEGIN { n = split(a, x, " "); m = split(b, y, " ")
		k = 0; while (k < n && k < m && x[k + 1] == y[k + 1]) k++; print k }')
	CHECK=$(kv greedy_check <"$TMP/py.log" | head -n 1)
	GAP=$(kv max_gap <"$TMP/py.log" | head -n 1)
	GREEDY_LINE="- same model check: nc-sample -T 0 -n $BENCH_GREEDY (batch 1): each of nc's greedy ids is the argmax of nanochat's logits at its position, to within 1e-4, at ${CHECK:-?} positions (largest shortfall ${GAP:-?}); the two greedy sequences agree for their first $AGREE tokens (after $BENCH_TRAIN_STEPS steps, tokens never seen in training keep identical lm_head rows, so exact ties are broken by rounding, and the sequences part at the first such tie)"
fi

LOAD_BW=${LOAD_BW:-?}
TOTAL_S=$(calc %.0f "$(now) - $T_START")
NC_PRE_ALL_1=$(all "$TMP/nc.1.stats" prefill_tok_s)
NC_DEC_ALL_1=$(all "$TMP/nc.1.stats" decode_tok_s)
NC_PRE_ALL_B=$(all "$TMP/nc.$B.stats" prefill_tok_s)
NC_DEC_ALL_B=$(all "$TMP/nc.$B.stats" decode_tok_s)
PY_PRE_ALL_1=$(all "$TMP/py.1.stats" prefill_tok_s)
PY_DEC_ALL_1=$(all "$TMP/py.1.stats" decode_tok_s)
PY_FWD_ALL_1=$(all "$TMP/py.1.stats" fwd_decode_tok_s)
PY_PRE_ALL_B=$(all "$TMP/py.$B.stats" prefill_tok_s)
PY_DEC_ALL_B=$(all "$TMP/py.$B.stats" decode_tok_s)
PY_FWD_ALL_B=$(all "$TMP/py.$B.stats" fwd_decode_tok_s)

{
	if [ -n "$GPU_RUN" ]; then
		echo "## $STARTED: GPU inference tokens/s, nc-sample vs nanochat's Engine (BENCH_DEVICE=cuda sh/bench/sample.sh)"
	else
		echo "## $STARTED: CPU inference tokens/s, nc-sample vs nanochat's Engine (sh/bench/sample.sh)"
	fi
	echo
	echo "- machine: ${GPU:+$GPU; }$CPU, $CORES cores, $MEM; $OS; load average $LOAD_START at the start, $LOAD_BW before the bandwidth probe, $LOAD_NC before nc-sample, $LOAD_PY before PyTorch, $LOAD_END at the end"
	echo "- revision: $REV, dirty: $DIRTY"
	echo "- build: $BUILD; $CCV"
	echo "- peers: $PEERS; nanochat $NANOCHAT_COMMIT (NANOCHAT_DIR), Engine.generate, fp32 (rotary tables too), torch.compile off, on the $BENCH_DEVICE"
	echo "- model: depth $BENCH_DEPTH (n_embd $C, $NH heads, $NKV kv heads), vocab $VOCAB, context $BENCH_T, $PARAMS parameters; nc-train base, $BENCH_TRAIN_STEPS steps of 1 x $BENCH_T tokens (${TRAIN_S} s, final loss ${FINAL_LOSS:-?}); both sides load its model.safetensors"
	echo "- input: $DOCS docs, $TEXT_BYTES bytes of text from $INPUT_DESC; prompt: <|bos|> and the first $((BENCH_PROMPT - 1)) tokens of the first document ($BENCH_PROMPT tokens); $BENCH_N tokens generated per row at temperature $BENCH_TEMP"
	echo "- settings: BENCH_DEVICE=$BENCH_DEVICE BENCH_DEPTH=$BENCH_DEPTH BENCH_T=$BENCH_T BENCH_VOCAB=$BENCH_VOCAB BENCH_TRAIN_STEPS=$BENCH_TRAIN_STEPS BENCH_PROMPT=$BENCH_PROMPT BENCH_N=$BENCH_N BENCH_BATCH=$BENCH_BATCH BENCH_TEMP=$BENCH_TEMP BENCH_RUNS=$BENCH_RUNS THREADS=$THREADS BENCH_BW_MB=$BENCH_BW_MB"
	echo
	echo "| $([ -n "$GPU_RUN" ] && echo "GPU" || echo "$THREADS threads"), tokens/s | nc-sample | nanochat Engine | nanochat forward only | nc / Engine | nc / forward only |"
	echo "|---|---|---|---|---|---|"
	echo "| prefill, $BENCH_PROMPT tokens, batch 1 | $NC_PRE_1 | $PY_PRE_1 | $PY_FPRE_1 | ${R_PRE_1}x | $(ratio "$NC_PRE_1" "$PY_FPRE_1")x |"
	[ "$B" -eq 1 ] ||
		echo "| prefill, then $B rows (batch-1 prefill) | $NC_PRE_B | $PY_PRE_B | $PY_FPRE_B | ${R_PRE_B}x | $(ratio "$NC_PRE_B" "$PY_FPRE_B")x |"
	echo "| decode, batch 1 | $NC_DEC_1 | $PY_DEC_1 | $PY_FWD_1 | ${R_DEC_1}x | ${R_FWD_1}x |"
	[ "$B" -eq 1 ] ||
		echo "| decode, batch $B | $NC_DEC_B | $PY_DEC_B | $PY_FWD_B | ${R_DEC_B}x | ${R_FWD_B}x |"
	echo
	echo "- target (nc decode at batch 1 at least ${GOAL}x nanochat's): $TARGET (${R_DEC_1}x against the Engine; ${R_FWD_1}x, $TARGET_FWD, against its forward passes alone)"
	[ -z "$GRAPH_LINE" ] || echo "$GRAPH_LINE"
	echo "$BW_LINE"
	[ -z "$GREEDY_LINE" ] || echo "$GREEDY_LINE"
	[ -z "$EARLY" ] || echo "- early stops: $EARLY"
	echo "- all runs, tokens/s: nc prefill batch 1: $NC_PRE_ALL_1; decode batch 1: $NC_DEC_ALL_1; prefill batch $B: $NC_PRE_ALL_B; decode batch $B: $NC_DEC_ALL_B"
	echo "- all runs, tokens/s: nanochat prefill batch 1: $PY_PRE_ALL_1; decode batch 1: $PY_DEC_ALL_1 (forward only $PY_FWD_ALL_1); prefill batch $B: $PY_PRE_ALL_B; decode batch $B: $PY_DEC_ALL_B (forward only $PY_FWD_ALL_B)"
	echo "- timing: the best of $BENCH_RUNS runs per figure, each after an untimed warm-up in the same process. nc: nc-sample --stats (prefill_s: nc_gpt_step over the prompt; decode_s: the $((BENCH_N - 1)) decode steps' nc_gpt_step calls; sampling, KV-cache row copies and output are outside both). nanochat: time.perf_counter around Engine.generate (prefill: until the first token column, which includes sampling and copying the KV cache into the $B-row cache; decode: the remaining $((BENCH_N - 1)) columns, with sampling and Engine's Python bookkeeping) and around each GPT.forward (forward only). nc's prefill runs the lm_head on the last position only; nanochat's on all $BENCH_PROMPT. Total run ${TOTAL_S} s."
	section_commands \
		"$(show "${CMD_BPE[@]}")" \
		"$(show "${CMD_SHARD[@]}")" \
		"$(show "${CMD_TRAIN[@]}")" \
		"$(show "${CMD_PROMPT[@]}") | head -n 1 | cut -d' ' -f1-$BENCH_PROMPT >prompt.ids" \
		"$([ -n "$GPU_RUN" ] && echo "# bandwidth: the PyTorch driver's --bandwidth-mb (below)" || echo "OMP_NUM_THREADS=$THREADS ./bw $BENCH_BW_MB $BENCH_BW_REPS   # $BW_CC bw.c (the probe, in the script)")" \
		"$(show "${CMD_NC1[@]}") <prompt.ids x$((BENCH_RUNS + 1))   # and --samples=$B" \
		"$(show "${CMD_PY[@]}" | sed "s|$NANOCHAT_DIR|\$NANOCHAT_DIR|")"
} >"$TMP/section.md"

print_results "$TMP/section.md"
