#!/usr/bin/env bats
# The checks on the tree itself that `make test` runs: no exported name
# defined twice (tests/check_symbols.sh), and no include of a higher layer
# (tests/check_layers.sh with tests/layers.txt).

load helper

setup() {
	cd "$ROOT"
	W=$BATS_TEST_TMPDIR
}

@test "a name exported twice across the archives fails the symbol check, naming both members" {
	printf 'int nc_twice(void) { return 1; }\nint nc_one(void) { return 0; }\n' >"$W/a.c"
	printf 'int nc_twice(void) { return 2; }\nstatic int nc_own(void) { return 3; }\nint nc_use(void) { return nc_own(); }\n' >"$W/b.c"
	cc -c "$W/a.c" -o "$W/a.o" && cc -c "$W/b.c" -o "$W/b.o"
	ar rcs "$W/one.a" "$W/a.o" && ar rcs "$W/two.a" "$W/b.o"
	run sh tests/check_symbols.sh "$W/one.a" "$W/two.a"
	assert_failure 1
	assert_line "# nc_twice is defined 2 times: $W/one.a:a.o, $W/two.a:b.o"
	assert_line --partial "not ok - "
	[ "${#lines[@]}" -eq 2 ]
	run sh tests/check_symbols.sh "$W/one.a"
	assert_success
	assert_output "ok - every exported name is defined once across $W/one.a"
}

# A copy of lib/, kernels/ and the layer table to break.
tree() {
	mkdir -p "$W/t/tests"
	cp -r lib kernels "$W/t/"
	cp tests/layers.txt "$W/t/tests/"
}

@test "this tree includes no file of a higher layer" {
	run sh tests/check_layers.sh
	assert_success
	assert_output "ok - lib/ and kernels/ include only their own layer or lower (tests/layers.txt)"
}

@test "a lib file that includes a higher layer fails the layer check, naming both and their layers" {
	tree
	printf '#include "engine.h"\n' >>"$W/t/lib/err.c"
	run sh tests/check_layers.sh "$W/t"
	assert_failure 1
	assert_line "# lib/err.c (base) includes lib/engine.h (engine)"
	assert_line --partial "not ok - "
}

@test "kernels/ may include lib/ops.h and the base layer, nothing else" {
	tree
	printf '#include "../lib/err.h"\n#include "../lib/gpt.h"\n' >>"$W/t/kernels/attention.cu"
	run sh tests/check_layers.sh "$W/t"
	assert_failure 1
	assert_line "# kernels/attention.cu includes lib/gpt.h (model): kernels/ may include lib/ops.h and the base layer only"
	[ "${#lines[@]}" -eq 2 ]
}

@test "a lib file the layer table does not place fails the layer check" {
	tree
	printf '#include "err.h"\n' >"$W/t/lib/newthing.c"
	run sh tests/check_layers.sh "$W/t"
	assert_failure 1
	assert_line "# lib/newthing.c: no layer in tests/layers.txt"
}

@test "files in a folder under lib/ are placed by their path; one that includes a higher layer is caught" {
	tree
	printf '#include "../gpt.h"\n' >>"$W/t/lib/parquet/parquet_rows.c"
	run sh tests/check_layers.sh "$W/t"
	assert_failure 1
	assert_line "# lib/parquet/parquet_rows.c (formats) includes lib/gpt.h (model)"
}
