#!/bin/sh
# Fuzz the parquet reader and the JSONL document reader for about 10
# seconds each (FUZZ_SECONDS), seeded with the test fixtures; prints one TAP
# line per target and exits 0 when nothing crashed. Needs clang with
# libFuzzer. Crash inputs are left in build/fuzz/.
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-10}
out=build/fuzz
PQ="lib/parquet/parquet.c lib/parquet/parquet_pages.c lib/parquet/parquet_rows.c lib/parquet/thrift.c lib/err.c lib/mem.c"
LIBS="-larchive -ljansson -lsnappy -lzstd -lz"
status=0

fuzz() {  # name, sources, seed files...
	name=$1 src=$2
	shift 2
	if ! command -v clang >/dev/null 2>&1; then
		echo "ok - $name fuzzing # skip clang not found"
		return
	fi
	mkdir -p "$out/corpus-$name"
	if ! clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined $src $LIBS -o "$out/fuzz_$name"; then
		echo "not ok - $name fuzzing: the fuzz target does not build"
		status=1
		return
	fi
	cp "$@" "$out/corpus-$name/"
	if "$out/fuzz_$name" "$out/corpus-$name" -max_total_time="$secs" -rss_limit_mb=2048 \
		-timeout=10 -artifact_prefix="$out/$name-" -print_final_stats=0 >"$out/$name.log" 2>&1; then
		echo "ok - $name fuzzing for $secs s found no crash"
	else
		tail -n 40 "$out/$name.log" | sed 's/^/# /'
		echo "not ok - $name fuzzing for $secs s found a crash (see $out/$name.log)"
		status=1
	fi
}

mkdir -p "$out"
fuzz parquet "tests/fuzz/fuzz_parquet.c $PQ" tests/fixtures/parquet/*.parquet
fuzz jsonl "tests/fuzz/fuzz_jsonl.c lib/docs.c lib/csv.c $PQ" tests/fixtures/parquet/*.jsonl \
	tests/fixtures/chat/*.jsonl
exit $status
