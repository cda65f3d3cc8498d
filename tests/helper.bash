# Shared setup for the Bats suites: the built tools on PATH, bats-support
# and bats-assert, and the Python oracles (installed by `make setup`).
bats_load_library bats-support
bats_load_library bats-assert

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
PATH=$ROOT/build:$PATH
ORACLE=$ROOT/tests/oracle
PY=${NC_PYTHON:-$ROOT/.venv/bin/python}

# Skip a test that needs the Python oracles when they are missing; in CI a
# missing oracle is a failure, so that no check silently stops running.
need_oracle() {
	if ! "$PY" -c 'import regex, tiktoken, rustbpe' 2>/dev/null; then
		if [ -n "${CI:-}" ]; then
			fail "python oracles missing in CI (run make setup)"
		fi
		skip "python oracles not installed (run make setup)"
	fi
}

# Seeded test text (needs only python3's standard library).
gen_text() {
	python3 "$ORACLE/gen_text.py" "$@"
}
