# Shared setup for the Bats suites: the built tools on PATH, bats-support
# and bats-assert, and the Python oracles (installed by `make setup`).
bats_load_library bats-support
bats_load_library bats-assert
bats_require_minimum_version 1.5.0   # run --separate-stderr

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
PATH=$ROOT/build:$PATH
ORACLE=$ROOT/tests/oracle
PY=${NC_PYTHON:-$ROOT/.venv/bin/python}

# need_python MODULE...: skip a test when the Python of the oracles lacks
# a module; in CI a missing oracle is a failure, so that no check silently
# stops running.
need_python() {
	local mods
	mods=$(printf '%s, ' "$@")
	mods=${mods%, }
	if ! "$PY" -c "import $mods" 2>/dev/null; then
		if [ -n "${CI:-}" ]; then
			fail "python $mods missing in CI (run make setup)"
		fi
		skip "python $mods not installed (run make setup)"
	fi
}

# The tokenizer oracles.
need_oracle() {
	need_python regex tiktoken rustbpe
}

# Seeded test text (needs only python3's standard library).
gen_text() {
	python3 "$ORACLE/gen_text.py" "$@"
}

# A small training set in T: gen_text documents (seed, bytes), a 400-id
# tokenizer T/tok and token shards T/data with val_docs held out.
tiny_data() {
	gen_text --seed "$1" --size "$2" --jsonl >"$T/docs.jsonl"
	build/nc-bpe train --quiet --vocab-size=400 -o "$T/tok" "$T/docs.jsonl" >/dev/null
	build/nc-shard tokens --quiet -t "$T/tok" -o "$T/data" --val-docs="$3" "$T/docs.jsonl" >/dev/null 2>&1
}

# usage_error MESSAGE TOOL [ARG...]: TOOL exits 2, writes nothing on stdout,
# and on stderr exactly "TOOL: MESSAGE" and the one line of help every tool
# ends a usage error with.
usage_error() {
	local msg=$1 tool=$2
	shift
	run --separate-stderr "$@"
	assert_failure 2
	assert_output ''
	assert_equal "$stderr" "$tool: $msg
Try '$tool -h' for help."
}

# tty_usage_error MESSAGE TOOL [ARG...]: like usage_error, with standard
# output a terminal (a pseudo-terminal from script(1), util-linux): the
# terminal gets nothing, stderr (a file) the two lines.
tty_usage_error() {
	local msg=$1 tool=$2
	shift
	command -v script >/dev/null || skip "no script(1) to give the tool a terminal"
	run script -qec "$(printf '%q ' "$@") 2>'$BATS_TEST_TMPDIR/tty.err'" /dev/null
	assert_failure 2
	assert_output ''
	assert_equal "$(cat "$BATS_TEST_TMPDIR/tty.err")" "$tool: $msg
Try '$tool -h' for help."
}
