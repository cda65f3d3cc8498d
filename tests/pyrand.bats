#!/usr/bin/env bats
# lib/pyrand.c against Python's own random.Random and numpy's own
# default_rng: `test_pyrand --dump` and tests/oracle/pyrand_ref.py print the
# same draws, one number per line, and must agree on every one.

load helper

setup() {
	cd "$ROOT"
	need_python numpy
	T=$BATS_TEST_TMPDIR
}

SEEDS="0 42 1337 4294967301 18446744073709551615"

# same_draws WHAT SEED [ARGS]: nc and Python print the same lines, and at
# least one.
same_draws() {
	build/tests/test_pyrand --dump "$@" >"$T/nc"
	"$PY" "$ORACLE/pyrand_ref.py" "$@" >"$T/py"
	[ -s "$T/py" ] || fail "the oracle printed nothing for $*"
	cmp "$T/nc" "$T/py" || fail "draws differ for $*: $(diff "$T/nc" "$T/py" | head -4)"
}

@test "MT19937 words equal Python's for seeds 0, 42, 1337, 2^32+5 and 2^64-1" {
	for s in $SEEDS; do same_draws mt "$s" 5000; done
}

@test "getrandbits(k) for every k from 1 to 64 equals Python's" {
	for s in $SEEDS; do same_draws bits "$s"; done
}

@test "random() equals Python's to the last bit" {
	for s in $SEEDS; do same_draws random "$s" 3000; done
}

@test "_randbelow(n) equals Python's for n from 1 to 2^64-1" {
	for s in $SEEDS; do same_draws below "$s"; done
}

@test "random(), _randbelow, getrandbits and choice interleaved equal Python's" {
	for s in $SEEDS; do same_draws mix "$s"; done
}

@test "choice equals Python's" {
	same_draws choice 42 1 100
	same_draws choice 1337 5 2000
	same_draws choice 0 123457 2000
}

@test "shuffle of 100,000 items with seed 42 equals Python's" {
	same_draws shuffle 42 100000
	same_draws shuffle 2 1
	same_draws shuffle 18446744073709551615 1000
}

@test "sample(range(n), k) equals Python's with the pool (n small for k)" {
	same_draws sample 42 10 10
	same_draws sample 42 21 3
	same_draws sample 1337 1000 300
	same_draws sample 0 4117 1000
}

@test "sample(range(n), k) equals Python's with the set (n large for k)" {
	same_draws sample 42 22 3
	same_draws sample 42 1000 5
	same_draws sample 1337 100000 300
	same_draws sample 0 4118 1000
}

@test "PCG64 64-bit and buffered 32-bit draws equal numpy's" {
	for s in $SEEDS; do same_draws pcg "$s"; done
}

@test "random_interval equals numpy's masked draws, 32-bit and 64-bit" {
	for s in $SEEDS; do same_draws interval "$s"; done
}

@test "default_rng(seed).permutation(n) equals numpy's" {
	for n in 1 2 7 1000; do
		for s in $SEEDS; do same_draws perm "$s" "$n"; done
	done
	same_draws perm 42 460341
	assert_equal "$(build/tests/test_pyrand --dump perm 42 0)" ""
	assert_equal "$("$PY" "$ORACLE/pyrand_ref.py" perm 42 0)" ""
}
