#!/bin/sh
# Run the C unit tests (given as arguments), the fuzz targets briefly, and
# every Bats suite (or those NC_BATS names), all in TAP, and end with one
# line "N passed, N failed" (", N skipped" if any).
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "$@"; do
	echo "# $t"
	"$t" || echo "not ok - $t exited with status $?"
done >"$log" 2>&1
sh tests/fuzz/run.sh >>"$log" 2>&1
# The tree itself: no name exported twice, no include of a higher layer.
sh tests/check_symbols.sh build/libnc.a $(ls build/libnc_cuda.a 2>/dev/null) >>"$log" 2>&1
sh tests/check_layers.sh >>"$log" 2>&1
cat "$log"
# NC_BATS: the suites to run (all when unset; none when empty).
suites=${NC_BATS-tests/*.bats}
if [ -n "$suites" ]; then
	# shellcheck disable=SC2086
	bats --tap $suites 2>&1 | tee -a "$log"
fi
# Of the GPU suite, what the CUDA emulator runs in seconds: training over
# two ranks with NCCL, running out of memory, decode graphs, tinyrun
# choosing the GPU (`make test-emu` runs the whole suite, for an hour).
if [ -x build/emu/nc-train ]; then
	NC_BIN=build/emu bats --tap -f 'two ranks|out of memory|decode graphs|tinyrun|NC_PROFILE' tests/gpu/cuda.bats 2>&1 | tee -a "$log"
fi
passed=$(grep -c '^ok ' "$log" | tr -d ' ')
skipped=$(grep -c '^ok .* # skip' "$log" | tr -d ' ')
failed=$(grep -c '^not ok' "$log" | tr -d ' ')
passed=$((passed - skipped))
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
