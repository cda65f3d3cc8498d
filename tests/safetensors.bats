#!/usr/bin/env bats
# safetensors interoperability with Hugging Face's Python package: what nc
# writes, Python reads; what Python writes (the committed fixture, checked
# value by value in tests/unit/test_safetensors.c) is what the script makes.

load helper

# Skip when the venv lacks safetensors and numpy; in CI that is a failure,
# so that the check never silently stops running.
need_safetensors() {
	if ! "$PY" -c 'import safetensors, numpy' 2>/dev/null; then
		if [ -n "${CI:-}" ]; then
			fail "python safetensors missing in CI (run make setup)"
		fi
		skip "python safetensors not installed (run make setup)"
	fi
}

setup() {
	cd "$ROOT"
	need_safetensors
}

@test "a file nc writes loads in Python safetensors with the same tensors and metadata" {
	build/tests/test_safetensors --write "$BATS_TEST_TMPDIR/nc.safetensors"
	run "$PY" "$ORACLE/check_safetensors.py" "$BATS_TEST_TMPDIR/nc.safetensors"
	assert_success
	assert_output ok
}

@test "the committed fixture holds what make_safetensors.py writes" {
	# The Python writer orders metadata keys at random: compare contents.
	"$PY" "$ORACLE/make_safetensors.py" "$BATS_TEST_TMPDIR"
	"$PY" -c 'import sys
from safetensors.numpy import load_file
from safetensors import safe_open
a, b = sys.argv[1:3]
ta, tb = load_file(a), load_file(b)
assert ta.keys() == tb.keys() and all((ta[k] == tb[k]).all() and ta[k].dtype == tb[k].dtype for k in ta)
assert safe_open(a, "np").metadata() == safe_open(b, "np").metadata()' \
		"$BATS_TEST_TMPDIR/torch_like.safetensors" tests/fixtures/safetensors/torch_like.safetensors
}
