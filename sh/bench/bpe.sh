#!/usr/bin/env bash
# sh/bench/bpe.sh: nc-bpe beside its peers, in one run, on the same input
# and with the same thread count.
#
#   training:  nc-bpe train       vs  rustbpe (tests/oracle/rustbpe_train.py,
#                                     driven as nanochat's tok_train.py)
#   encoding:  nc-bpe encode      vs  tiktoken encode_ordinary (1 thread) and
#                                     encode_ordinary_batch (THREADS threads)
#
# It checks that the merges are identical and that the token ids are, prints
# a result block and appends it, dated, to tests/bench/RESULTS.md.
#
# Settings (environment):
#   BENCH_MB=100          size of the input text in MB (10^6 bytes)
#   BENCH_VOCAB=32768     vocabulary size, 9 special tokens included (nanochat
#                         uses 65536; 32768 keeps a 2-core run short)
#   THREADS=$(nproc)      threads for nc-bpe (--threads), rustbpe
#                         (RAYON_NUM_THREADS) and encode_ordinary_batch
#   BENCH_MAX_CHARS=2000000000  BENCH_DOC_CAP=10000   training limits, as
#                         nanochat's tok_train.py (--max_chars, doc_cap)
#   BENCH_SEED=1337       seed for the variations of the input
#   BENCH_RUNS=3          runs of each timed command; the fastest counts
#   BENCH_VERIFY_DOCS=0   documents whose ids are compared (0: all of them)
#   BENCH_RESULTS=tests/bench/RESULTS.md   where the section is appended
#                         (empty: print only)
#   NC_CORPUS=../shared/data/corpus   text files (*.txt) the input is made of;
#                         without any, synthetic text is generated
#   NC_PYTHON             interpreter with tiktoken and rustbpe (default
#                         .venv/bin/python, else python3)
#   NC_BPE=build/nc-bpe   the binary (built with make when left default)
#
# The input is a JSONL document stream, one {"text": paragraph} a line: the
# corpus's paragraphs repeated until BENCH_MB is reached, each repetition
# shuffled with its own seed and, after the first, with a few adjacent
# letters swapped (about one per 500 characters), so that it is not a pure
# repeat and has a tail of rare words.
set -eu
set -o pipefail

BENCH_NAME=bpe
. "$(dirname "$0")/common.sh"

BENCH_MB=${BENCH_MB:-100}
BENCH_VOCAB=${BENCH_VOCAB:-32768}
BENCH_MAX_CHARS=${BENCH_MAX_CHARS:-2000000000}
BENCH_DOC_CAP=${BENCH_DOC_CAP:-10000}
BENCH_VERIFY_DOCS=${BENCH_VERIFY_DOCS:-0}
BENCH_RUNS=${BENCH_RUNS:-3}
common_settings

check_decimal BENCH_MB
check_number BENCH_VOCAB THREADS BENCH_MAX_CHARS BENCH_DOC_CAP BENCH_SEED BENCH_VERIFY_DOCS BENCH_RUNS
[ "$THREADS" -ge 1 ] || die "THREADS must be at least 1"
[ "$BENCH_RUNS" -ge 1 ] || die "BENCH_RUNS must be at least 1"

# ---- tools ----

find_python tiktoken rustbpe
PEERS=$("$PY" -c 'import importlib.metadata as m, platform
print("python %s, rustbpe %s, tiktoken %s" % (platform.python_version(), m.version("rustbpe"), m.version("tiktoken")))')

need_tools bpe
[ -x "$NC_BPE" ] || die "$NC_BPE: not an executable"

find_gnutime
make_tmp

# ---- machine and revision ----

machine_facts

# ---- input ----

DOCS_JSONL=$TMP/docs.jsonl
note "building ${BENCH_MB} MB of input from $NC_CORPUS ..."
t0=$(now)
make_docs "$DOCS_JSONL"
FILE_BYTES=$(wc -c <"$DOCS_JSONL" | tr -d ' ')
describe_input
note "input: $DOCS docs, $TEXT_BYTES bytes of text, $FILE_BYTES bytes of JSONL ($(calc %.1f "$(now) - $t0") s)"
MB=$(calc %.6f "$TEXT_BYTES / 1e6")

# ---- training ----

NC_TOK=$TMP/nc.tok
NC_RANKS=$TMP/nc.ranks
RS_RANKS=$TMP/rustbpe.ranks
CMD_NC_TRAIN=("$NC_BPE" train -o "$NC_TOK" --vocab-size="$BENCH_VOCAB" --max-chars="$BENCH_MAX_CHARS"
	--doc-cap="$BENCH_DOC_CAP" --threads="$THREADS" --quiet "$DOCS_JSONL")
CMD_RS_TRAIN=("$PY" tests/oracle/rustbpe_train.py "$BENCH_VOCAB" "$DOCS_JSONL" "$RS_RANKS"
	"$BENCH_MAX_CHARS" "$BENCH_DOC_CAP")

cat "$DOCS_JSONL" >/dev/null
note "training nc-bpe (vocab $BENCH_VOCAB, $THREADS threads) ..."
timed nc_train "${CMD_NC_TRAIN[@]}" >"$TMP/nc_train.log"
# the fastest of the runs' phases, from nc-bpe's logfmt lines
kv() { tr ' ' '\n' <"$TMP/nc_train.log" | sed -n "s/^$1=//p" | sort -g | head -n 1; }
NC_COUNT_S=$(kv count_s)
NC_MERGE_S=$(kv merge_s)
NC_UNIQUE=$(kv unique_chunks)
NC_MERGES=$(kv merges)
note "  nc-bpe: ${W_nc_train} s (count ${NC_COUNT_S} s, merge ${NC_MERGE_S} s, $NC_UNIQUE unique chunks)"

note "training rustbpe (RAYON_NUM_THREADS=$THREADS) ..."
timed rs_train env RAYON_NUM_THREADS="$THREADS" "${CMD_RS_TRAIN[@]}"
note "  rustbpe: ${W_rs_train} s"

"$NC_BPE" export -t "$NC_TOK" -o "$NC_RANKS" || die "nc-bpe export failed"
if cmp -s "$NC_RANKS" "$RS_RANKS"; then
	MERGES_SAME=yes
	MERGES_NOTE="$(wc -l <"$NC_RANKS" | tr -d ' ') ranks, byte-identical rank files"
else
	MERGES_SAME=no
	first=$(cmp "$NC_RANKS" "$RS_RANKS" 2>&1 | sed -n 's/.* line \([0-9]*\).*/\1/p')
	MERGES_NOTE="rank files differ (nc $(wc -l <"$NC_RANKS" | tr -d ' ') lines, rustbpe $(wc -l <"$RS_RANKS" | tr -d ' ') lines; first difference at line ${first:-?}: rank $(( ${first:-1} - 1 )))"
fi
note "  merges identical: $MERGES_SAME ($MERGES_NOTE)"

# ---- encoding ----

CMD_NC_ENC1=("$NC_BPE" encode -t "$NC_TOK" --threads=1 --quiet -o - "$DOCS_JSONL")
CMD_NC_ENCT=("$NC_BPE" encode -t "$NC_TOK" --threads="$THREADS" --quiet -o - "$DOCS_JSONL")

cat "$DOCS_JSONL" >/dev/null
note "encoding with nc-bpe, 1 thread ..."
timed nc_enc1 "${CMD_NC_ENC1[@]}" >/dev/null
note "  ${W_nc_enc1} s"
note "encoding with nc-bpe, $THREADS threads ..."
timed nc_encT "${CMD_NC_ENCT[@]}" >/dev/null
note "  ${W_nc_encT} s"

# How much THREADS cores give here: THREADS single-thread encodes of 5 MB
# side by side against one alone (THREADS would be perfect scaling).
CAL_JSONL=$TMP/cal.jsonl
head -c 5000000 "$DOCS_JSONL" | sed '$d' >"$CAL_JSONL"
cal_one() { "$NC_BPE" encode -t "$NC_TOK" --threads=1 --quiet -o - "$CAL_JSONL" >/dev/null; }
note "measuring parallel capacity ($THREADS copies of a 1-thread encode side by side) ..."
capacity cal_one
note "  1 copy ${CAL_ONE} s, $THREADS copies ${CAL_MANY} s: $SCALING of $THREADS"

# ids for the check, as text (not timed)
VERIFY_JSONL=$DOCS_JSONL
if [ "$BENCH_VERIFY_DOCS" -gt 0 ]; then
	VERIFY_JSONL=$TMP/verify.jsonl
	head -n "$BENCH_VERIFY_DOCS" "$DOCS_JSONL" >"$VERIFY_JSONL"
fi
"$NC_BPE" encode -t "$NC_TOK" --ids --quiet "$VERIFY_JSONL" >"$TMP/nc.ids" || die "nc-bpe encode --ids failed"

cat >"$TMP/tik.py" <<'EOF'
import base64, json, sys, time

ranks_path, docs_path, threads, ids_path, verify, oracle, runs = sys.argv[1:8]
threads, verify, runs = int(threads), int(verify), int(runs)
sys.path.insert(0, oracle)
from rustbpe_train import NANOCHAT  # nanochat's split pattern
import tiktoken

ranks = {}
with open(ranks_path, "rb") as f:
    for line in f:
        if line.strip():
            b, r = line.split()
            ranks[base64.b64decode(b)] = int(r)
enc = tiktoken.Encoding(name="nc-bench", pat_str=NANOCHAT, mergeable_ranks=ranks, special_tokens={})
with open(docs_path, encoding="utf-8") as f:
    docs = [json.loads(line)["text"] for line in f if line.strip()]
nbytes = sum(len(d.encode("utf-8")) for d in docs)
enc.encode_ordinary(docs[0])  # warm up (regex compilation)

def best(f):
    """Fastest of the runs: (seconds, all seconds, the last result)."""
    times = []
    for _ in range(runs):
        out = None
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return min(times), times, out


t_single, all_single, single = best(lambda: [enc.encode_ordinary(d) for d in docs])
joined = "\n".join(docs)
t_joined, all_joined, _ = best(lambda: len(enc.encode_ordinary(joined)))
del joined
t_batch, all_batch, batch = best(lambda: enc.encode_ordinary_batch(docs, num_threads=threads))

n = len(docs) if verify <= 0 else min(verify, len(docs))
checked = bad = 0
first_bad = -1
with open(ids_path) as f:
    for i, line in enumerate(f):
        if i >= n:
            break
        checked += 1
        if [int(x) for x in line.split()] != single[i]:
            bad += 1
            if first_bad < 0:
                first_bad = i
batch_same = sum(1 for a, b in zip(single, batch) if a != b) == 0 and len(batch) == len(single)
print("TK_BYTES=%d" % nbytes)
print("TK_TOKENS=%d" % sum(len(x) for x in single))
print("TK_SINGLE=%.3f" % t_single)
print("TK_JOINED=%.3f" % t_joined)
print("TK_BATCH=%.3f" % t_batch)
for k, v in (("SINGLE", all_single), ("JOINED", all_joined), ("BATCH", all_batch)):
    print("ALL_TK_%s='%s'" % (k, " ".join("%.3f" % x for x in v)))
print("IDS_WANTED=%d" % n)
print("IDS_CHECKED=%d" % checked)
print("IDS_BAD=%d" % bad)
print("IDS_FIRST_BAD=%d" % first_bad)
print("TK_BATCH_SAME=%s" % ("yes" if batch_same else "no"))
EOF

note "encoding with tiktoken (1 thread per doc, 1 thread joined, $THREADS threads batch) and checking ids ..."
"$PY" "$TMP/tik.py" "$NC_RANKS" "$DOCS_JSONL" "$THREADS" "$TMP/nc.ids" "$BENCH_VERIFY_DOCS" \
	tests/oracle "$BENCH_RUNS" >"$TMP/tik.env" || die "tiktoken run failed"
. "$TMP/tik.env"
[ "$TK_BYTES" = "$TEXT_BYTES" ] || note "warning: tiktoken saw $TK_BYTES bytes, the input has $TEXT_BYTES"
if [ "$IDS_BAD" -eq 0 ] && [ "$IDS_CHECKED" -eq "$IDS_WANTED" ]; then
	IDS_SAME=yes
else
	IDS_SAME=no
fi
if [ "$BENCH_VERIFY_DOCS" -gt 0 ]; then
	IDS_NOTE="first $IDS_CHECKED of $DOCS docs"
else
	IDS_NOTE="all $IDS_CHECKED docs"
fi
[ "$IDS_CHECKED" -eq "$IDS_WANTED" ] || IDS_NOTE="$IDS_NOTE, but nc-bpe wrote $IDS_CHECKED of $IDS_WANTED lines"
[ "$IDS_BAD" -eq 0 ] || IDS_NOTE="$IDS_NOTE; $IDS_BAD differ, the first is doc $IDS_FIRST_BAD (0-based)"
IDS_NOTE="$IDS_NOTE, $TK_TOKENS tokens in all; encode_ordinary_batch = encode_ordinary: $TK_BATCH_SAME"

# ---- results ----

mbs() { calc %.2f "$MB / $1"; }
ratio() { calc %.2f "$1 / $2"; }
ENC1_NC=$(mbs "$W_nc_enc1"); ENCT_NC=$(mbs "$W_nc_encT")
ENC1_TK=$(mbs "$TK_SINGLE"); ENCJ_TK=$(mbs "$TK_JOINED"); ENCT_TK=$(mbs "$TK_BATCH")
R_TRAIN=$(ratio "$W_rs_train" "$W_nc_train")
R_ENC1=$(ratio "$TK_SINGLE" "$W_nc_enc1")
R_ENCJ=$(ratio "$TK_JOINED" "$W_nc_enc1")
R_ENCT=$(ratio "$TK_BATCH" "$W_nc_encT")
TOTAL_S=$(calc %.0f "$(now) - $T_START")
LOAD_END=$(load)

# The same section for the terminal and for RESULTS.md.
{
	echo "## $STARTED: nc-bpe vs rustbpe and tiktoken (sh/bench/bpe.sh)"
	echo
	echo "- machine: $CPU, $CORES cores, $MEM; $OS; load average $LOAD_START at the start, $LOAD_END at the end"
	echo "- parallel capacity: $THREADS copies of \`nc-bpe encode --threads=1\` on 5 MB side by side do $SCALING times the work of one in the same time (perfect: $THREADS; one ${CAL_ONE} s, $THREADS together ${CAL_MANY} s)"
	echo "- revision: $REV, dirty: $DIRTY"
	echo "- build: $BUILD; $CCV"
	echo "- peers: $PEERS"
	echo "- input: $(calc %.1f "$MB") MB of text ($TEXT_BYTES bytes, $DOCS docs, $FILE_BYTES bytes of JSONL) from $INPUT_DESC"
	echo "- settings: BENCH_MB=$BENCH_MB BENCH_VOCAB=$BENCH_VOCAB THREADS=$THREADS BENCH_MAX_CHARS=$BENCH_MAX_CHARS BENCH_DOC_CAP=$BENCH_DOC_CAP BENCH_SEED=$BENCH_SEED (vocabulary counts the 9 special tokens; nanochat trains 65536)"
	echo
	echo "| task | nc-bpe | peer | peer result | speedup (peer time / nc time) |"
	echo "|---|---|---|---|---|"
	echo "| train, $THREADS threads | ${W_nc_train} s, ${M_nc_train} MiB | rustbpe | ${W_rs_train} s, ${M_rs_train} MiB | ${R_TRAIN}x |"
	echo "| encode, 1 thread | $ENC1_NC MB/s (${W_nc_enc1} s) | tiktoken encode_ordinary per doc | $ENC1_TK MB/s (${TK_SINGLE} s) | ${R_ENC1}x |"
	echo "| encode, 1 thread | $ENC1_NC MB/s (${W_nc_enc1} s) | tiktoken encode_ordinary, docs joined | $ENCJ_TK MB/s (${TK_JOINED} s) | ${R_ENCJ}x |"
	echo "| encode, $THREADS threads | $ENCT_NC MB/s (${W_nc_encT} s) | tiktoken encode_ordinary_batch | $ENCT_TK MB/s (${TK_BATCH} s) | ${R_ENCT}x |"
	echo
	echo "- nc-bpe train: count ${NC_COUNT_S} s, merge ${NC_MERGE_S} s (fastest runs), $NC_UNIQUE unique chunks, $NC_MERGES merges"
	echo "- all runs (s): nc train $ALL_nc_train; rustbpe $ALL_rs_train; nc encode 1 thread $ALL_nc_enc1; nc encode $THREADS threads $ALL_nc_encT; tiktoken per doc $ALL_TK_SINGLE; joined $ALL_TK_JOINED; batch $ALL_TK_BATCH"
	echo "- merges identical: $MERGES_SAME ($MERGES_NOTE)"
	echo "- ids identical: $IDS_SAME ($IDS_NOTE)"
	echo "- timing: wall seconds, the fastest of $BENCH_RUNS runs. nc-bpe and rustbpe are whole processes (read and parse the JSONL, train or encode, write); nc-bpe encode writes its shard to stdout, sent to /dev/null. tiktoken is timed on the encode calls only, the docs already decoded in memory (ranks from nc-bpe export, nanochat's pattern). MB = 10^6 bytes of UTF-8 text. Total run ${TOTAL_S} s."
	section_commands \
		"$(show "${CMD_NC_TRAIN[@]}")" \
		"RAYON_NUM_THREADS=$THREADS $(show "${CMD_RS_TRAIN[@]}")" \
		"$(show "$NC_BPE" export -t "$NC_TOK" -o "$NC_RANKS"); cmp nc.ranks rustbpe.ranks" \
		"$(show "${CMD_NC_ENC1[@]}") >/dev/null" \
		"$(show "${CMD_NC_ENCT[@]}") >/dev/null" \
		"$(show "$NC_BPE" encode -t "$NC_TOK" --ids --quiet "$VERIFY_JSONL") >nc.ids   # compared with tiktoken" \
		"tiktoken.Encoding(pat_str=NANOCHAT, mergeable_ranks=nc.ranks): [enc.encode_ordinary(d) for d in docs]; enc.encode_ordinary('\\n'.join(docs)); enc.encode_ordinary_batch(docs, num_threads=$THREADS)"
} >"$TMP/section.md"

print_results "$TMP/section.md"

[ "$MERGES_SAME" = yes ] && [ "$IDS_SAME" = yes ] || { note "MISMATCH: merges identical=$MERGES_SAME, ids identical=$IDS_SAME"; exit 1; }
