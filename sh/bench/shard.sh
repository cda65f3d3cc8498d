#!/usr/bin/env bash
# sh/bench/shard.sh: zstd parquet -> token shards. nc-shard tokens beside the
# Python pipeline doing the same work, same input, same cores:
#
#   nc-shard tokens -t TOK -o DIR --shard-tokens=N --threads=T FILE...
#   python pipeline: pyarrow reads each file row group by row group,
#                    tiktoken encode_ordinary_batch(num_threads=T) with
#                    <|bos|> put before each document (nanochat's
#                    RustBPETokenizer.encode(prepend=bos)), the tokens
#                    gathered in an array('H') and written as raw uint16
#                    shard files of N tokens (the last one of a split
#                    shorter), the last file as the validation split
#
# Both are timed as whole processes (the Python one as one script run,
# imports and tokenizer loading included), with THREADS threads and with
# one. The token streams must be identical: every nc shard's payload (the
# u16 tokens between its 64-byte header and 32-byte trailer) must equal the
# Python shard of the same name. It prints a result block, appends it, dated,
# to tests/bench/RESULTS.md, and exits 1 on a mismatch.
#
# Settings (environment):
#   BENCH_MB=100          size of the input text in MB (10^6 bytes), split
#                         over 2 parquet files
#   BENCH_DOC_BYTES=4000  mean document size in bytes (paragraphs joined)
#   BENCH_VOCAB=32768     vocabulary size, 9 special tokens included
#   BENCH_TRAIN_MB=20     MB of text (of the first file) the tokenizer is
#                         trained on (nc-bpe train --max-chars)
#   BENCH_TOKENIZER       an nc-bpe tokenizer to use instead of training one
#   BENCH_SHARD_TOKENS=4194304   tokens per shard (both sides)
#   THREADS=$(nproc)      nc-shard --threads and encode_ordinary_batch's
#                         num_threads (the single-thread pair always runs too)
#   BENCH_SEED=1337       seed for the variations of the input
#   BENCH_RUNS=3          runs of each timed command; the fastest counts
#   BENCH_RESULTS=tests/bench/RESULTS.md   where the section is appended
#                         (empty: print only)
#   NC_CORPUS=../shared/data/corpus   text files (*.txt) the input is made of;
#                         without any, synthetic text is generated
#   NC_PYTHON             interpreter with pyarrow and tiktoken (default
#                         .venv/bin/python, else python3)
#   NC_SHARD=build/nc-shard  NC_BPE=build/nc-bpe   the binaries (built with
#                         make when left default)
#
# The input is FineWeb-Edu-shaped: parquet files of one `text` column,
# written as nanochat writes its shards (row_group_size=1024,
# use_dictionary=False, compression="zstd", compression_level=3,
# write_statistics=False). The text is made by the generator in common.sh:
# the corpus's paragraphs, repeated and shuffled, joined into documents of
# about BENCH_DOC_BYTES bytes.
set -eu
set -o pipefail

BENCH_NAME=shard
. "$(dirname "$0")/common.sh"

BENCH_MB=${BENCH_MB:-100}
BENCH_DOC_BYTES=${BENCH_DOC_BYTES:-4000}
BENCH_VOCAB=${BENCH_VOCAB:-32768}
BENCH_TRAIN_MB=${BENCH_TRAIN_MB:-20}
BENCH_TOKENIZER=${BENCH_TOKENIZER:-}
BENCH_SHARD_TOKENS=${BENCH_SHARD_TOKENS:-4194304}
BENCH_RUNS=${BENCH_RUNS:-3}
common_settings

check_decimal BENCH_MB BENCH_TRAIN_MB
check_number BENCH_DOC_BYTES BENCH_VOCAB BENCH_SHARD_TOKENS THREADS BENCH_SEED BENCH_RUNS
[ "$THREADS" -ge 1 ] || die "THREADS must be at least 1"
[ "$BENCH_RUNS" -ge 1 ] || die "BENCH_RUNS must be at least 1"
[ "$BENCH_SHARD_TOKENS" -ge 1 ] || die "BENCH_SHARD_TOKENS must be at least 1"
[ "$BENCH_VOCAB" -le 65536 ] || die "BENCH_VOCAB must be at most 65536 (the shards are uint16)"

# ---- tools ----

find_python pyarrow.parquet tiktoken
PEERS=$("$PY" -c 'import importlib.metadata as m, platform
print("python %s, pyarrow %s, tiktoken %s" % (platform.python_version(), m.version("pyarrow"), m.version("tiktoken")))')

need_tools shard bpe
[ -x "$NC_SHARD" ] || die "$NC_SHARD: not an executable"
[ -x "$NC_BPE" ] || die "$NC_BPE: not an executable"
if [ -n "$BENCH_TOKENIZER" ]; then
	[ -r "$BENCH_TOKENIZER" ] || die "BENCH_TOKENIZER=$BENCH_TOKENIZER: cannot read it"
	BENCH_TOKENIZER=$(cd "$(dirname "$BENCH_TOKENIZER")" && pwd)/$(basename "$BENCH_TOKENIZER")
fi

find_gnutime
make_tmp
machine_facts

# ---- input ----

cat >"$TMP/parquet.py" <<'EOF'
import json, sys

import pyarrow as pa
import pyarrow.parquet as pq

src, nfiles, outs = sys.argv[1], len(sys.argv) - 2, sys.argv[2:]
with open(src, encoding="utf-8") as f:
    texts = [json.loads(line)["text"] for line in f if line.strip()]
total = sum(len(t.encode("utf-8")) for t in texts)
# Cut the documents into nfiles runs of about equal text bytes.
cuts, acc, k = [], 0, 1
for i, t in enumerate(texts):
    if k < nfiles and acc >= total * k / nfiles:
        cuts.append(i)
        k += 1
    acc += len(t.encode("utf-8"))
bounds = [0] + cuts + [len(texts)]
for j, path in enumerate(outs):
    part = texts[bounds[j]:bounds[j + 1]]
    table = pa.Table.from_pydict({"text": part}, schema=pa.schema([("text", pa.string())]))
    # nanochat's shard options (dev/repackage_data_reference.py)
    pq.write_table(table, path, row_group_size=1024, use_dictionary=False,
                   compression="zstd", compression_level=3, write_statistics=False)
    meta = pq.ParquetFile(path).metadata
    print("FILE%d_DOCS=%d FILE%d_ROW_GROUPS=%d FILE%d_BYTES=%d" % (
        j, len(part), j, meta.num_row_groups, j, sum(len(t.encode("utf-8")) for t in part)))
EOF

DOCS_JSONL=$TMP/docs.jsonl
PQ0=$TMP/shard_00000.parquet
PQ1=$TMP/shard_00001.parquet
note "building ${BENCH_MB} MB of input from $NC_CORPUS ..."
t0=$(now)
make_docs "$DOCS_JSONL" "$BENCH_DOC_BYTES"
"$PY" "$TMP/parquet.py" "$DOCS_JSONL" "$PQ0" "$PQ1" >"$TMP/parquet.env" || die "writing the parquet files failed"
. "$TMP/parquet.env"
rm -f "$DOCS_JSONL"
PQ_BYTES=$(( $(wc -c <"$PQ0") + $(wc -c <"$PQ1") ))
describe_input
note "input: $DOCS docs, $TEXT_BYTES bytes of text in 2 parquet files of $PQ_BYTES bytes ($(calc %.1f "$(now) - $t0") s)"
MB=$(calc %.6f "$TEXT_BYTES / 1e6")

# ---- tokenizer ----

TOK=$TMP/nc.tok
if [ -n "$BENCH_TOKENIZER" ]; then
	cp "$BENCH_TOKENIZER" "$TOK"
	TOK_DESC="given (BENCH_TOKENIZER)"
	CMD_TRAIN=()
else
	TRAIN_CHARS=$(calc %.0f "$BENCH_TRAIN_MB * 1e6")
	CMD_TRAIN=("$NC_BPE" train -o "$TOK" --vocab-size="$BENCH_VOCAB" --max-chars="$TRAIN_CHARS"
		--doc-cap=10000 --threads="$THREADS" --quiet "$PQ0")
	note "training the tokenizer (vocab $BENCH_VOCAB, ${BENCH_TRAIN_MB} MB of text) ..."
	t0=$(now)
	"${CMD_TRAIN[@]}" >"$TMP/train.log" 2>&1 || die "nc-bpe train failed: $(show "${CMD_TRAIN[@]}"): $(tail -n 3 "$TMP/train.log")"
	TOK_DESC="nc-bpe train on the first ${BENCH_TRAIN_MB} MB of chars of shard_00000.parquet ($(calc %.1f "$(now) - $t0") s)"
fi
"$NC_BPE" export -t "$TOK" -o "$TMP/nc.ranks" || die "nc-bpe export failed"
"$NC_BPE" info -t "$TOK" >"$TMP/info.txt" || die "nc-bpe info failed"
sed -n 's/^special=\([^ ]*\) id=\([0-9]*\)$/\1 \2/p' "$TMP/info.txt" >"$TMP/specials.txt"
BOS=$(awk '$1 == "<|bos|>" { print $2 }' "$TMP/specials.txt")
[ -n "$BOS" ] || die "the tokenizer has no <|bos|>"
VOCAB=$(sed -n 's/^tokenizer=.* vocab_size=\([0-9]*\) .*/\1/p' "$TMP/info.txt")
[ "${VOCAB:-65537}" -le 65536 ] || die "the tokenizer's vocabulary ($VOCAB) does not fit uint16"
# nanochat's split pattern, which nc-bpe train uses by default
"$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); from rustbpe_train import NANOCHAT
open(sys.argv[2], "w").write(NANOCHAT)' tests/oracle "$TMP/pattern.txt" 2>/dev/null ||
	sed -n 's/^pattern="\(.*\)"$/\1/p' "$TMP/info.txt" | sed 's/\\\\/\\/g; s/\\"/"/g' | tr -d '\n' >"$TMP/pattern.txt"
note "tokenizer: vocab $VOCAB, <|bos|> = $BOS; $TOK_DESC"

# ---- the Python pipeline ----

cat >"$TMP/pipeline.py" <<'EOF'
"""zstd parquet -> uint16 token shards, as a Python data pipeline does it."""
import base64, os, sys
from array import array

import pyarrow.parquet as pq
import tiktoken

ranks_path, specials_path, pattern_path, outdir, per, threads = sys.argv[1:7]
files = sys.argv[7:]
per, threads = int(per), int(threads)

ranks = {}
with open(ranks_path, "rb") as f:
    for line in f:
        if line.strip():
            b, r = line.split()
            ranks[base64.b64decode(b)] = int(r)
specials = {}
with open(specials_path) as f:
    for line in f:
        name, i = line.split()
        specials[name] = int(i)
with open(pattern_path) as f:
    pattern = f.read()
enc = tiktoken.Encoding(name="nc-bench", pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)
bos = enc.encode_single_token("<|bos|>")


class Series:
    """PREFIX_NNNNN.bin files of per tokens each, the last one shorter."""

    def __init__(self, prefix):
        self.prefix, self.index, self.buf = prefix, 0, array("H")

    def put(self, ids):
        self.buf.extend(ids)
        while len(self.buf) >= per:
            self.write(self.buf[:per])
            del self.buf[:per]

    def write(self, a):
        if sys.byteorder != "little":
            a.byteswap()
        with open(os.path.join(outdir, "%s_%05d.bin" % (self.prefix, self.index)), "wb") as f:
            a.tofile(f)
        self.index += 1

    def close(self):
        if self.buf:
            self.write(self.buf)
            self.buf = array("H")


os.makedirs(outdir, exist_ok=True)
train, val = Series("train"), Series("val")
for k, path in enumerate(files):
    series = val if len(files) > 1 and k == len(files) - 1 else train
    pf = pq.ParquetFile(path)
    for rg in range(pf.num_row_groups):
        texts = pf.read_row_group(rg, columns=["text"]).column("text").to_pylist()
        rows = enc.encode_ordinary_batch(texts, num_threads=threads)
        for row in rows:
            row.insert(0, bos)  # nanochat: RustBPETokenizer.encode(texts, prepend=bos)
            series.put(row)
train.close()
val.close()
EOF

# ---- timing ----

CMD_NC_T=("$NC_SHARD" tokens -t "$TOK" -o "$TMP/nc_T" --shard-tokens="$BENCH_SHARD_TOKENS" --threads="$THREADS" --quiet "$PQ0" "$PQ1")
CMD_NC_1=("$NC_SHARD" tokens -t "$TOK" -o "$TMP/nc_1" --shard-tokens="$BENCH_SHARD_TOKENS" --threads=1 --quiet "$PQ0" "$PQ1")
CMD_PY_T=("$PY" "$TMP/pipeline.py" "$TMP/nc.ranks" "$TMP/specials.txt" "$TMP/pattern.txt" "$TMP/py_T" "$BENCH_SHARD_TOKENS" "$THREADS" "$PQ0" "$PQ1")
CMD_PY_1=("$PY" "$TMP/pipeline.py" "$TMP/nc.ranks" "$TMP/specials.txt" "$TMP/pattern.txt" "$TMP/py_1" "$BENCH_SHARD_TOKENS" 1 "$PQ0" "$PQ1")
CMD_IMPORTS=("$PY" -c 'import pyarrow.parquet, tiktoken')

# Each run starts from an empty output folder (nc-shard keeps complete shards
# already there).
before_nc_T() { rm -rf "$TMP/nc_T"; }
before_nc_1() { rm -rf "$TMP/nc_1"; }
before_py_T() { rm -rf "$TMP/py_T"; }
before_py_1() { rm -rf "$TMP/py_1"; }

cat "$PQ0" "$PQ1" >/dev/null
note "nc-shard tokens, $THREADS threads ..."
timed nc_T "${CMD_NC_T[@]}" >/dev/null 2>"$TMP/nc_T.log"
note "  ${W_nc_T} s"
note "python pipeline, $THREADS threads ..."
timed py_T "${CMD_PY_T[@]}"
note "  ${W_py_T} s"
note "nc-shard tokens, 1 thread ..."
timed nc_1 "${CMD_NC_1[@]}" >/dev/null 2>"$TMP/nc_1.log"
note "  ${W_nc_1} s"
note "python pipeline, 1 thread ..."
timed py_1 "${CMD_PY_1[@]}"
note "  ${W_py_1} s"
timed imports "${CMD_IMPORTS[@]}"
note "python imports alone: ${W_imports} s"

# How much THREADS cores give here: THREADS single-thread nc-shard runs on
# the first file side by side against one alone (THREADS would be perfect).
cal_one() {
	local d rc=0
	d=$(mktemp -d "$TMP/cal.XXXXXX") || return 1
	"$NC_SHARD" tokens -t "$TOK" -o "$d" --shard-tokens="$BENCH_SHARD_TOKENS" --threads=1 --quiet "$PQ0" >/dev/null 2>&1 || rc=$?
	rm -rf "$d"
	return $rc
}
note "measuring parallel capacity ($THREADS copies of a 1-thread nc-shard side by side) ..."
capacity cal_one
note "  1 copy ${CAL_ONE} s, $THREADS copies ${CAL_MANY} s: $SCALING of $THREADS"

# ---- identity ----

# payload SHARD: the tokens of an nc shard, without header and trailer.
payload() { tail -c +65 "$1" | head -c -32; }

# same NC_DIR PY_DIR: the same shard names, each nc payload byte-identical to
# the python file of that name. Sets SAME (yes/no) and SAME_NOTE.
same() {
	local a=$1 b=$2 f n=0 bad=
	(cd "$a" && ls) >"$TMP/names.a"
	(cd "$b" && ls) >"$TMP/names.b"
	if ! cmp -s "$TMP/names.a" "$TMP/names.b"; then
		SAME=no
		SAME_NOTE="different shard files: nc $(paste -sd' ' "$TMP/names.a"); python $(paste -sd' ' "$TMP/names.b")"
		return
	fi
	for f in $(grep '^train_' "$TMP/names.a") $(grep '^val_' "$TMP/names.a"); do
		n=$((n + 1))
		payload "$a/$f" | cmp -s - "$b/$f" || bad="$bad${bad:+ }$f"
	done
	if [ -n "$bad" ]; then
		SAME=no
		SAME_NOTE="$n shards, these differ: $bad"
	else
		SAME=yes
		SAME_NOTE="$n shards, each payload byte-identical"
	fi
}

note "checking the shards ..."
"$NC_SHARD" verify -t "$TOK" "$TMP"/nc_T/*.bin >/dev/null 2>"$TMP/verify.log" ||
	die "nc-shard verify failed: $(head -n 3 "$TMP/verify.log")"
same "$TMP/nc_T" "$TMP/py_T"; SAME_T=$SAME NOTE_T=$SAME_NOTE
same "$TMP/nc_1" "$TMP/py_1"; SAME_1=$SAME NOTE_1=$SAME_NOTE
same "$TMP/nc_T" "$TMP/py_1"; SAME_X=$SAME NOTE_X=$SAME_NOTE
IDENTICAL=no
[ "$SAME_T" = yes ] && [ "$SAME_1" = yes ] && [ "$SAME_X" = yes ] && IDENTICAL=yes
note "  identical: $IDENTICAL ($NOTE_T)"

# counts from nc-shard's summary line
kv() { tr ' ' '\n' <"$TMP/nc_T.log" | sed -n "s/^$1=//p" | tail -n 1; }
TRAIN_TOKENS=$(kv train_tokens); VAL_TOKENS=$(kv val_tokens)
TRAIN_SHARDS=$(kv train_shards); VAL_SHARDS=$(kv val_shards)
TOKENS=$((TRAIN_TOKENS + VAL_TOKENS))
PY_BYTES=$(cat "$TMP"/py_T/*.bin | wc -c | tr -d ' ')
[ "$PY_BYTES" -eq $((2 * TOKENS)) ] || { IDENTICAL=no; NOTE_T="$NOTE_T; python wrote $PY_BYTES bytes for nc's $TOKENS tokens"; }

# ---- results ----

mbs() { calc %.2f "$MB / $1"; }
mtok() { calc %.2f "$TOKENS / 1e6 / $1"; }
ratio() { calc %.2f "$1 / $2"; }
R_T=$(ratio "$W_py_T" "$W_nc_T")
R_1=$(ratio "$W_py_1" "$W_nc_1")
TARGET=$(awk -v r="$R_T" 'BEGIN { print (r >= 2 ? "met" : "NOT met") }')
TOTAL_S=$(calc %.0f "$(now) - $T_START")
LOAD_END=$(load)

{
	echo "## $STARTED: zstd parquet -> token shards, nc-shard vs a Python pipeline (sh/bench/shard.sh)"
	echo
	echo "- machine: $CPU, $CORES cores, $MEM; $OS; load average $LOAD_START at the start, $LOAD_END at the end"
	echo "- parallel capacity: $THREADS copies of \`nc-shard tokens --threads=1\` on shard_00000.parquet side by side do $SCALING times the work of one in the same time (perfect: $THREADS; one ${CAL_ONE} s, $THREADS together ${CAL_MANY} s)"
	echo "- revision: $REV, dirty: $DIRTY"
	echo "- build: $BUILD; $CCV"
	echo "- peers: $PEERS"
	echo "- input: $(calc %.1f "$MB") MB of text ($TEXT_BYTES bytes, $DOCS docs of ~$BENCH_DOC_BYTES bytes) in 2 zstd parquet files of $PQ_BYTES bytes (shard_00000: $FILE0_DOCS docs, $FILE0_ROW_GROUPS row groups; shard_00001, the validation split: $FILE1_DOCS docs, $FILE1_ROW_GROUPS row groups; one \`text\` column, row_group_size=1024, use_dictionary=False, zstd level 3, no statistics) from $INPUT_DESC"
	echo "- tokenizer: vocab $VOCAB, <|bos|> = $BOS, nanochat's pattern; $TOK_DESC"
	echo "- output: $TOKENS tokens; train: $TRAIN_TOKENS tokens, $TRAIN_SHARDS shard files; val: $VAL_TOKENS tokens, $VAL_SHARDS shard files; $BENCH_SHARD_TOKENS tokens a shard (the last of each split shorter)"
	echo "- settings: BENCH_MB=$BENCH_MB BENCH_DOC_BYTES=$BENCH_DOC_BYTES BENCH_VOCAB=$BENCH_VOCAB BENCH_TRAIN_MB=$BENCH_TRAIN_MB BENCH_SHARD_TOKENS=$BENCH_SHARD_TOKENS THREADS=$THREADS BENCH_SEED=$BENCH_SEED BENCH_RUNS=$BENCH_RUNS"
	echo
	echo "| threads | nc-shard tokens | Python pipeline | speedup (python time / nc time) |"
	echo "|---|---|---|---|"
	echo "| $THREADS | $(mbs "$W_nc_T") MB/s, $(mtok "$W_nc_T") Mtok/s (${W_nc_T} s, ${M_nc_T} MiB) | $(mbs "$W_py_T") MB/s, $(mtok "$W_py_T") Mtok/s (${W_py_T} s, ${M_py_T} MiB) | ${R_T}x |"
	echo "| 1 | $(mbs "$W_nc_1") MB/s, $(mtok "$W_nc_1") Mtok/s (${W_nc_1} s, ${M_nc_1} MiB) | $(mbs "$W_py_1") MB/s, $(mtok "$W_py_1") Mtok/s (${W_py_1} s, ${M_py_1} MiB) | ${R_1}x |"
	echo
	echo "- nc-shard with $THREADS threads does $(ratio "$W_nc_1" "$W_nc_T") times the work of 1 thread in the same time; the Python pipeline $(ratio "$W_py_1" "$W_py_T") times"
	echo "- target (nc-shard at least 2x the Python pipeline's throughput, $THREADS threads): $TARGET (${R_T}x)"
	echo "- all runs (s): nc $THREADS threads $ALL_nc_T; python $THREADS threads $ALL_py_T; nc 1 thread $ALL_nc_1; python 1 thread $ALL_py_1; python imports alone (\`import pyarrow.parquet, tiktoken\`, fastest ${W_imports} s) $ALL_imports"
	echo "- identical: $IDENTICAL ($THREADS threads: $NOTE_T; 1 thread: $NOTE_1; nc $THREADS threads vs python 1 thread: $SAME_X); nc-shard verify passed on nc's shards"
	echo "- timing: wall seconds, the fastest of $BENCH_RUNS runs, each into an empty folder. Both are whole processes: read and decompress the parquet files, tokenize, write the shards (nc-shard's with header, checksum and trailer; python's raw uint16). MB = 10^6 bytes of UTF-8 text; Mtok = 10^6 tokens written. Total run ${TOTAL_S} s."
	section_commands \
		"$([ ${#CMD_TRAIN[@]} -eq 0 ] || show "${CMD_TRAIN[@]}")" \
		"$(show "$NC_BPE" export -t "$TOK" -o "$TMP/nc.ranks"); $(show "$NC_BPE" info -t "$TOK")   # ranks and specials for tiktoken" \
		"$(show "${CMD_NC_T[@]}") >/dev/null" \
		"$(show "${CMD_PY_T[@]}")" \
		"$(show "${CMD_NC_1[@]}") >/dev/null" \
		"$(show "${CMD_PY_1[@]}")" \
		"# pipeline.py: for each file, for each row group: pf.read_row_group(rg, columns=['text']).column('text').to_pylist();" \
		"#   enc.encode_ordinary_batch(texts, num_threads=N); row.insert(0, bos); array('H') cut into shards of $BENCH_SHARD_TOKENS tokens; a.tofile()" \
		"$(show "$NC_SHARD" verify -t "$TOK") nc_T/*.bin; for f in train_* val_*: tail -c +65 nc_T/\$f | head -c -32 | cmp - py_T/\$f"
} >"$TMP/section.md"

print_results "$TMP/section.md"

[ "$IDENTICAL" = yes ] || { note "MISMATCH: the token streams differ ($NOTE_T; $NOTE_1; $NOTE_X)"; exit 1; }
