# sh/bench/common.sh: what the benchmarks in sh/bench/ share. Sourced, not
# run, after the caller has set BENCH_NAME (the prefix of its messages) and
# BENCH_RUNS; it changes to the repository root and sets ROOT.
#
# It gives: die, note, skip, common_settings, check_number, check_decimal,
# find_python, find_nanochat, need_tools, find_gnutime, make_tmp, show, now,
# calc, step_times, timed, capacity, machine_facts, load, write_gen_py, make_docs,
# describe_input, tokenize_docs, section_commands, append_results and
# print_results. The settings they read are described where they are used.

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$(pwd)

die() { printf 'bench/%s: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }
note() { printf 'bench/%s: %s\n' "$BENCH_NAME" "$*" >&2; }
# skip WHY: say why nothing is measured, and exit 0.
skip() { note "SKIPPED: $*"; exit 0; }

# common_settings: the defaults every benchmark shares: THREADS (nproc),
# BENCH_SEED (1337), BENCH_RESULTS (tests/bench/RESULTS.md; set but empty:
# print only) and NC_CORPUS (../shared/data/corpus).
common_settings() {
	THREADS=${THREADS:-$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)}
	BENCH_SEED=${BENCH_SEED:-1337}
	BENCH_RESULTS=${BENCH_RESULTS-tests/bench/RESULTS.md}
	NC_CORPUS=${NC_CORPUS:-../shared/data/corpus}
}

# check_number VAR...: each must hold a whole number.
check_number() { check_chars 0-9 "a whole number" "$@"; }
# check_decimal VAR...: each must hold a number (digits and dots).
check_decimal() { check_chars 0-9. "a number" "$@"; }
# check_chars CHARS WHAT VAR...: each VAR must be made of CHARS (a bracket
# expression's inside), and is WHAT when it is not empty.
check_chars() {
	local chars=$1 what=$2 v x
	shift 2
	for v in "$@"; do
		eval "x=\$$v"
		case $x in ''|*[!$chars]*) die "$v must be $what (got '$x')";; esac
	done
}

# default_python: PY becomes NC_PYTHON, else .venv/bin/python, else python3.
default_python() {
	if [ -n "${NC_PYTHON:-}" ]; then
		PY=$NC_PYTHON
	elif [ -x .venv/bin/python ]; then
		PY=.venv/bin/python
	else
		PY=python3
	fi
}

# find_python MODULE...: PY as default_python picks it, and it must import
# the modules.
find_python() {
	default_python
	command -v "$PY" >/dev/null 2>&1 || die "no python interpreter '$PY' (set NC_PYTHON or run sh/setup.sh)"
	local mods
	mods=$(printf '%s, ' "$@")
	mods=${mods%, }
	"$PY" -c "import $mods" 2>/dev/null ||
		die "$PY cannot import $mods (run sh/setup.sh, or set NC_PYTHON to an interpreter that has them)"
}

# find_nanochat FILE...: for the benchmarks against nanochat's PyTorch code,
# which skip (exit 0, saying why) when it cannot run. NANOCHAT_DIR must hold
# nanochat/FILE... (a checkout's package; it is made absolute), and PY,
# NC_TORCH_PYTHON or else as default_python picks it, must import torch.
# Sets PEERS (the python and torch versions) and, when it is not set,
# NANOCHAT_COMMIT (asked of git when NANOCHAT_DIR is a work tree, else
# "unknown").
find_nanochat() {
	local f files
	[ -n "${NANOCHAT_DIR:-}" ] ||
		skip "NANOCHAT_DIR is not set (a directory holding a nanochat v1 checkout's nanochat/ package, e.g. git archive 3a5e0bc of karpathy/nanochat)"
	files=$(printf 'nanochat/%s and ' "$@")
	files=${files% and }
	for f in "$@"; do
		[ -f "$NANOCHAT_DIR/nanochat/$f" ] ||
			skip "NANOCHAT_DIR=$NANOCHAT_DIR has no $files (a bare git directory? make a work tree with git archive)"
	done
	NANOCHAT_DIR=$(cd "$NANOCHAT_DIR" && pwd)
	PY=${NC_TORCH_PYTHON:-}
	[ -n "$PY" ] || default_python
	command -v "$PY" >/dev/null 2>&1 || skip "no python interpreter '$PY' (set NC_TORCH_PYTHON)"
	"$PY" -c 'import torch' 2>/dev/null || skip "$PY cannot import torch (set NC_TORCH_PYTHON to an interpreter that has it)"
	PEERS=$("$PY" -c 'import platform, torch
print("python %s, torch %s (CPU capability %s)" % (platform.python_version(), torch.__version__, torch.backends.cpu.get_cpu_capability()))')
	if [ -z "${NANOCHAT_COMMIT:-}" ]; then
		NANOCHAT_COMMIT=$(git -C "$NANOCHAT_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
	fi
}

# need_tools NAME...: NC_NAME (in capitals) is the path of nc-NAME; when it
# is not set it becomes build/nc-NAME, built first with make.
need_tools() {
	local b v
	for b in "$@"; do
		v=NC_$(echo "$b" | tr a-z A-Z)
		if [ -z "${!v:-}" ]; then
			make -s "build/nc-$b" >&2 || die "make build/nc-$b failed"
			eval "$v=build/nc-$b"
		fi
	done
}

# GNUTIME: GNU time, when there is one that takes -f and -o (for peak memory).
find_gnutime() {
	GNUTIME=$(type -P time 2>/dev/null || true)
	if [ -n "$GNUTIME" ] && ! "$GNUTIME" -f %M -o /dev/null true 2>/dev/null; then
		GNUTIME=
	fi
}

# make_tmp: TMP, a temporary folder removed on exit.
make_tmp() {
	TMP=$(mktemp -d -t "nc-bench-$BENCH_NAME.XXXXXX") || die "mktemp failed"
	trap 'rm -rf "$TMP"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# How a command is shown: relative to the repository and the temp folder.
show() {
	local s="$*"
	s=${s//"$TMP/"/}
	s=${s//"$ROOT/"/}
	s=${s//"$PY "/"python "}
	printf '%s' "$s"
}

now() { date +%s.%N; }

calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# step_times LOG: the dt_ms of LOG's step lines (logfmt, step=N ... dt_ms=X)
# from step BENCH_WARMUP on, one a line.
step_times() {
	awk -v w="$BENCH_WARMUP" '/(^| )step=[0-9]/ {
		s = -1; d = ""
		for (i = 1; i <= NF; i++) {
			if ($i ~ /^step=/) s = substr($i, 6) + 0
			if ($i ~ /^dt_ms=/) d = substr($i, 7)
		}
		if (s >= w && d != "") print d
	}' "$1"
}

# timed NAME CMD...: run CMD BENCH_RUNS times; the fastest wall seconds go
# in W_NAME, all of them in ALL_NAME, and that run's peak resident memory
# (MiB, when GNU time is there) in M_NAME. When a function before_NAME is
# defined it runs before each run, untimed (to clear an output folder, say).
# Output is the caller's to redirect.
timed() {
	local name=$1 t0 t1 rc w i best= all= rss=?
	shift
	for i in $(seq "$BENCH_RUNS"); do
		if declare -F "before_$name" >/dev/null; then
			"before_$name"
		fi
		sync
		rc=0
		t0=$(now)
		if [ -n "$GNUTIME" ]; then
			"$GNUTIME" -f %M -o "$TMP/$name.rss" "$@" || rc=$?
		else
			"$@" || rc=$?
		fi
		t1=$(now)
		[ $rc -eq 0 ] || die "$name failed (exit $rc): $(show "$@")"
		w=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
		all="$all${all:+ }$w"
		if [ -z "$best" ] || awk -v a="$w" -v b="$best" 'BEGIN { exit !(a < b) }'; then
			best=$w
			rss=?
			if [ -n "$GNUTIME" ] && [ -s "$TMP/$name.rss" ]; then
				rss=$(awk 'END { printf "%.0f", $1 / 1024 }' "$TMP/$name.rss")
			fi
		fi
	done
	eval "W_$name=\$best ALL_$name=\"\$all\" M_$name=\$rss"
}

# capacity CMD...: how much THREADS cores give here. THREADS copies of CMD
# (a single-threaded job; a function is fine) run side by side against one
# alone, the fastest of BENCH_RUNS each: CAL_ONE and CAL_MANY seconds, and
# SCALING, the work done in the same time relative to one copy (THREADS
# would be perfect).
capacity() {
	local i k pids a b t0 t1 t2
	CAL_ONE= CAL_MANY=
	for i in $(seq "$BENCH_RUNS"); do
		t0=$(now)
		"$@" || die "calibration run failed: $(show "$@")"
		t1=$(now)
		pids=
		for k in $(seq "$THREADS"); do
			"$@" &
			pids="$pids $!"
		done
		for k in $pids; do
			wait "$k" || die "calibration run failed: $(show "$@")"
		done
		t2=$(now)
		a=$(calc %.3f "$t1 - $t0")
		b=$(calc %.3f "$t2 - $t1")
		[ -n "$CAL_ONE" ] && awk -v x="$a" -v y="$CAL_ONE" 'BEGIN { exit !(x >= y) }' || CAL_ONE=$a
		[ -n "$CAL_MANY" ] && awk -v x="$b" -v y="$CAL_MANY" 'BEGIN { exit !(x >= y) }' || CAL_MANY=$b
	done
	SCALING=$(calc %.2f "$THREADS * $CAL_ONE / $CAL_MANY")
}

load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'; }

# machine_facts: CPU CORES MEM OS CCV BUILD REV DIRTY STARTED T_START
# LOAD_START. The dirty flag leaves tests/bench/RESULTS.md out.
machine_facts() {
	CPU=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
	[ -n "$CPU" ] || CPU=$(uname -m)
	CORES=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
	MEM=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || echo '?')
	OS=$(uname -sr)
	CCV=$(${CC:-cc} --version 2>/dev/null | head -n 1 || echo '?')
	BUILD=$(sed 's/ ([^)]*)//g' build/.config 2>/dev/null || echo '?')
	REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	local files
	files=$(git status --porcelain -- . ':!tests/bench/RESULTS.md' 2>/dev/null | cut -c4- || true)
	if [ -n "$files" ]; then
		local more=
		[ "$(printf '%s\n' "$files" | wc -l)" -le 5 ] || more=', ...'
		DIRTY="yes ($(printf '%s\n' "$files" | head -n 5 | paste -sd, - | sed 's/,/, /g')$more)"
	else
		DIRTY=no
	fi
	STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
	T_START=$(now)
	LOAD_START=$(load)
}

# write_gen_py FILE: the input generator. Run as
#   python FILE CORPUS MB SEED OUT [DOC_BYTES]
# it writes OUT, a JSONL document stream ({"text": ...} a line) of MB
# megabytes (10^6 bytes) of UTF-8 text, and prints its facts as shell
# assignments. The text is the paragraphs of CORPUS's *.txt files (or, with
# none, synthetic Zipf-distributed words) repeated until MB is reached, each
# repetition shuffled with its own seed and, after the first, with a few
# adjacent letters swapped (about one per 500 characters), so that it is not
# a pure repeat and has a tail of rare words. With DOC_BYTES 0 (the default)
# a paragraph is a document; otherwise consecutive paragraphs are joined
# with blank lines into documents of log-normally distributed sizes whose
# mean is about DOC_BYTES (web-page-like documents).
write_gen_py() {
	cat >"$1" <<'EOF'
import json, math, os, random, re, sys

corpus, mb, seed, out = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
doc_bytes = int(sys.argv[5]) if len(sys.argv) > 5 else 0
target = int(mb * 1e6)

files = []
if os.path.isdir(corpus):
    for top, dirs, names in os.walk(corpus):
        dirs.sort()
        files += [os.path.join(top, n) for n in sorted(names) if n.endswith(".txt")]

paras = []
for path in files:
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read().lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    paras += [p.strip("\n").rstrip() for p in re.split(r"\n[ \t]*\n", text) if p.strip()]

source = "corpus"
if not paras:
    # Synthetic English-like text: Zipf-distributed made-up words.
    source = "synthetic"
    rng = random.Random(seed)
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    freq = [12.7, 9.1, 8.2, 7.5, 7.0, 6.3, 6.1, 6.0, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4, 2.4,
            2.2, 2.0, 2.0, 1.9, 1.5, 1.0, 0.8, 0.2, 0.2, 0.1, 0.1]
    vocab = sorted({"".join(rng.choices(letters, freq, k=rng.choice([1, 2, 2, 3, 3, 4, 4, 5, 6, 7, 8, 9, 11])))
                    for _ in range(30000)})
    rng.shuffle(vocab)
    cum, acc = [], 0.0
    for i in range(len(vocab)):
        acc += 1.0 / (i + 1)
        cum.append(acc)
    size = 0
    while size < 4_000_000:
        sents = []
        for _ in range(rng.randint(1, 8)):
            words = rng.choices(vocab, cum_weights=cum, k=rng.randint(4, 28))
            words[0] = words[0].capitalize()
            if rng.random() < 0.3:
                words[rng.randrange(len(words))] += ","
            if rng.random() < 0.1:
                words.insert(rng.randrange(len(words)), str(rng.randint(0, 2100)))
            sents.append(" ".join(words) + rng.choice(".....?!"))
        p = " ".join(sents)
        paras.append(p)
        size += len(p)


def typos(s, rng):
    """Swap about one pair of adjacent letters per 500 characters."""
    n = len(s)
    k = n // 500 + (rng.random() < (n % 500) / 500)
    if n < 2 or not k:
        return s
    c = list(s)
    for _ in range(k):
        i = rng.randrange(n - 1)
        if c[i].isalpha() and c[i + 1].isalpha():
            c[i], c[i + 1] = c[i + 1], c[i]
    return "".join(c)


sizes = random.Random(seed * 7 + 1)
mu = math.log(max(doc_bytes, 1)) - 0.5  # sigma 1: the mean is exp(mu + 1/2)
total = docs = rep = 0
pending, pending_bytes, want = [], 0, 0
with open(out, "w", encoding="utf-8") as f:

    def emit(s):
        global docs
        f.write(json.dumps({"text": s}, ensure_ascii=False))
        f.write("\n")
        docs += 1

    while total < target:
        rng = random.Random(seed * 1_000_003 + rep)
        order = list(range(len(paras)))
        rng.shuffle(order)
        for i in order:
            s = typos(paras[i], rng) if rep else paras[i]
            if doc_bytes <= 0:
                emit(s)
                total += len(s.encode("utf-8"))
            else:
                if not pending:
                    want = sizes.lognormvariate(mu, 1.0)
                n = len(s.encode("utf-8")) + (2 if pending else 0)
                pending.append(s)
                pending_bytes += n
                total += n
                if pending_bytes >= want:
                    emit("\n\n".join(pending))
                    pending, pending_bytes = [], 0
            if total >= target:
                break
        rep += 1
    if pending:
        emit("\n\n".join(pending))

print("SOURCE=%s" % source)
print("SOURCE_FILES=%d" % len(files))
print("SOURCE_PARAS=%d" % len(paras))
print("REPS=%d" % rep)
print("DOCS=%d" % docs)
print("TEXT_BYTES=%d" % total)
EOF
}

# make_docs OUT [DOC_BYTES]: the generator (write_gen_py) run on NC_CORPUS
# for BENCH_MB megabytes with BENCH_SEED, into OUT; its facts (SOURCE,
# SOURCE_FILES, SOURCE_PARAS, REPS, DOCS, TEXT_BYTES) become variables.
make_docs() {
	write_gen_py "$TMP/gen.py"
	"$PY" "$TMP/gen.py" "$NC_CORPUS" "$BENCH_MB" "$BENCH_SEED" "$@" >"$TMP/gen.env" ||
		die "input generation failed"
	. "$TMP/gen.env"
}

# After make_docs: INPUT_DESC, the words for the
# results section, and a warning when the text is synthetic.
describe_input() {
	if [ "$SOURCE" = synthetic ]; then
		note "no *.txt under $NC_CORPUS: the input is SYNTHETIC text (seed $BENCH_SEED)"
		INPUT_DESC="SYNTHETIC text (no corpus at NC_CORPUS=$NC_CORPUS; Zipf words, seed $BENCH_SEED), $REPS repetitions"
	else
		INPUT_DESC="$SOURCE_FILES files of $NC_CORPUS ($SOURCE_PARAS paragraphs), $REPS repetitions, each shuffled (seed $BENCH_SEED+rep) and after the first with ~1 letter swap per 500 chars"
	fi
}

# tokenize_docs: from $TMP/docs.jsonl, nc-bpe trains a BENCH_VOCAB
# tokenizer, TOK ($TMP/nc.tok), and nc-shard makes token shards in DATA
# ($TMP/data, 16 documents held out for validation), with THREADS threads;
# CMD_BPE and CMD_SHARD are the commands, their output is in $TMP/bpe.log
# and $TMP/shard.log, nc-bpe info's in $TMP/info.txt, and VOCAB is the
# tokenizer's vocabulary size.
tokenize_docs() {
	TOK=$TMP/nc.tok
	DATA=$TMP/data
	CMD_BPE=("$NC_BPE" train -o "$TOK" --vocab-size="$BENCH_VOCAB" --threads="$THREADS" --quiet "$TMP/docs.jsonl")
	CMD_SHARD=("$NC_SHARD" tokens -t "$TOK" -o "$DATA" --val-docs=16 --quiet "$TMP/docs.jsonl")
	"${CMD_BPE[@]}" >"$TMP/bpe.log" 2>&1 || die "nc-bpe train failed: $(tail -n 3 "$TMP/bpe.log")"
	"${CMD_SHARD[@]}" >"$TMP/shard.log" 2>&1 || die "nc-shard tokens failed: $(tail -n 3 "$TMP/shard.log")"
	"$NC_BPE" info -t "$TOK" >"$TMP/info.txt" || die "nc-bpe info failed"
	VOCAB=$(sed -n 's/^tokenizer=.* vocab_size=\([0-9]*\) .*/\1/p' "$TMP/info.txt")
	[ -n "$VOCAB" ] || die "cannot read the vocabulary size from nc-bpe info"
}

# append_results SECTION: append the file SECTION to BENCH_RESULTS (unless
# that is empty), starting the file with its preamble when it is new.
append_results() {
	[ -n "$BENCH_RESULTS" ] || return 0
	mkdir -p "$(dirname "$BENCH_RESULTS")"
	if [ ! -s "$BENCH_RESULTS" ]; then
		{
			echo "# Benchmark results"
			echo
			echo "Sections appended by the scripts in sh/bench/, newest last. Each names the"
			echo "machine, the revision, the input and the exact commands; compare numbers"
			echo "only between runs on the same machine."
			echo
		} >"$BENCH_RESULTS"
	fi
	cat "$1" >>"$BENCH_RESULTS"
	note "appended to $BENCH_RESULTS"
}

# section_commands LINE...: the end of a results section: "Commands:" and
# the LINEs (the commands, as show gives them; empty ones left out) in a
# code block.
section_commands() {
	local l
	echo
	echo "Commands:"
	echo
	echo '```'
	for l in "$@"; do
		[ -z "$l" ] || printf '%s\n' "$l"
	done
	echo '```'
	echo
}

# print_results SECTION: print the file SECTION after a blank line, then
# append_results it.
print_results() {
	echo
	cat "$1"
	append_results "$1"
}
