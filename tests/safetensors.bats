#!/usr/bin/env bats
# safetensors interoperability with Hugging Face's Python package: what nc
# writes, Python reads; what Python writes (the committed fixture, checked
# value by value in tests/unit/test_safetensors.c) is what the script makes.

load helper

setup() {
	cd "$ROOT"
	need_python safetensors numpy
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
	"$PY" -c 'import json, struct, sys
def parts(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = head.pop("__metadata__", {})
    return meta, {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]])
                  for k, v in head.items()}
assert parts(sys.argv[1]) == parts(sys.argv[2])' \
		"$BATS_TEST_TMPDIR/torch_like.safetensors" tests/fixtures/safetensors/torch_like.safetensors
}
