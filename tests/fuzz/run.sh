#!/bin/sh
# Run every fuzz target built in build/fuzz (`make` builds them when clang
# is there) for FUZZ_SECONDS each (default 3), starting from its committed
# corpus tests/fuzz/corpus/NAME/; FUZZ_SECONDS=0 only replays the corpus.
# Prints one TAP line per target and exits 0 when nothing crashed. Inputs
# found are kept in build/fuzz/corpus-NAME/, crash inputs in build/fuzz/.
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-3}
out=${FUZZ_BUILD:-build/fuzz}
status=0

fuzz() {  # name, seed directories...
	name=$1
	shift
	seeds="$*"
	mkdir -p "$out/corpus-$name"
	if [ "$secs" -gt 0 ]; then
		how="fuzzing for $secs s"
		set -- -max_total_time="$secs"
	else
		how="its corpus"
		set -- -runs=0
	fi
	# parquet has no committed corpus of its own: the fixtures seed it
	committed=tests/fuzz/corpus/$name
	[ -d "$committed" ] || committed=
	if "$out/fuzz_$name" "$out/corpus-$name" $committed $seeds "$@" -rss_limit_mb=2048 \
		-timeout=10 -artifact_prefix="$out/$name-" -print_final_stats=1 >"$out/$name.log" 2>&1; then
		if [ "$secs" -gt 0 ]; then
			echo "ok - $name: $how found no crash ($(execs "$out/$name.log"))"
		else
			echo "ok - $name: $how ran without a crash, leak or undefined behaviour"
		fi
	else
		tail -n 40 "$out/$name.log" | sed 's/^/# /'
		echo "not ok - $name: $how found a crash (see $out/$name.log)"
		status=1
	fi
}

# "N runs, N exec/s, N edges" from a libFuzzer log.
execs() {
	awk '/stat::number_of_executed_units/ {r = $2} /stat::average_exec_per_sec/ {s = $2}
	     /cov: / {for (i = 1; i < NF; i++) if ($i == "cov:") c = $(i + 1)}
	     END {printf "%s runs, %s exec/s, %s edges", r, s, c}' "$1"
}

targets=$(ls tests/fuzz/fuzz_*.c | sed 's|.*/fuzz_||; s|\.c$||')
for name in $targets; do
	if [ ! -x "$out/fuzz_$name" ]; then
		echo "ok - $name fuzzing # skip not built (needs clang with libFuzzer)"
		continue
	fi
	case $name in  # the test fixtures seed the corpus too
	parquet) fuzz "$name" tests/fixtures/parquet ;;
	*) fuzz "$name" ;;
	esac
done
exit $status
