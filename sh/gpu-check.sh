#!/bin/sh
# Every check that needs a GPU, in one go, for a machine that has one:
# build, `make test-gpu` (the CUDA ops against the CPU's, training, resume
# and sampling against the CPU tools), and tinyrun on the GPU; with
# NANOCHAT_DIR (and a PyTorch with CUDA), the speed comparisons with
# nanochat: sh/bench/train-gpu.sh and BENCH_DEVICE=cuda sh/bench/sample.sh.
# Logs go to $OUT (default out/gpu-check); a summary goes to stdout.
#
#   NC_DEBS=DIR   build against the .deb packages in DIR (sh/offline-debs.sh
#                 makes it), unpacked into a private prefix, never over /
#   NC_JOBS=N     parallel make (default: the number of processors)
#   NC_CHECKS=... which steps after the build: test (make test-gpu), tinyrun,
#                 bench (sh/bench/train-gpu.sh), sample (BENCH_DEVICE=cuda
#                 sh/bench/sample.sh); the benchmarks need NANOCHAT_DIR and
#                 append their sections to $OUT/RESULTS-gpu.md. Default
#                 "test tinyrun", and bench and sample too when NANOCHAT_DIR
#                 is set.
set -u
cd "$(dirname "$0")/.."
out=${OUT:-out/gpu-check}
mkdir -p "$out"
if [ -n "${NC_DEBS:-}" ]; then
	pfx=${TMPDIR:-/tmp}/nc-debs
	mkdir -p "$pfx"
	for f in "$NC_DEBS"/*.deb; do
		if command -v dpkg >/dev/null; then
			dpkg -x "$f" "$pfx" || exit 1
		else   # a .deb is an ar archive holding data.tar.*
			abs=$(cd "$(dirname "$f")" && pwd)/$(basename "$f")
			t=$(mktemp -d) && (cd "$t" && ar x "$abs" && tar -xf data.tar.* -C "$pfx") || exit 1
			rm -rf "$t"
		fi
	done
	libs=$pfx/usr/lib/x86_64-linux-gnu:$pfx/lib/x86_64-linux-gnu
	export CPATH=$pfx/usr/include${CPATH:+:$CPATH}
	export LIBRARY_PATH=$libs${LIBRARY_PATH:+:$LIBRARY_PATH}
	# RPATH (not RUNPATH) so that libarchive finds its own dependencies too
	export LDFLAGS="-L$pfx/usr/lib/x86_64-linux-gnu -Wl,--disable-new-dtags,-rpath,$libs"
	export PATH=$pfx/usr/bin:$PATH
fi
status() { printf '%-10s %s\n' "$1" "$2"; }

nvidia-smi >"$out/nvidia-smi.txt" 2>&1
status gpu "$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"
if ! make -j"${NC_JOBS:-$(nproc)}" all >"$out/build.log" 2>&1; then
	status build "FAILED (build.log)"
	tail -40 "$out/build.log"
	exit 1
fi
status build "$(cat build/.config)"

checks=${NC_CHECKS:-test tinyrun${NANOCHAT_DIR:+ bench sample}}
want() { case " $checks " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if want test; then
	make test-gpu >"$out/test-gpu.log" 2>&1
	status test-gpu "rc=$? $(grep -c '^ok' "$out/test-gpu.log") ok, $(grep -c '^not ok' "$out/test-gpu.log") not ok"
	grep '^not ok' "$out/test-gpu.log" | head -20
fi

if want tinyrun; then
	start=$(date +%s)
	NC_RUN_DIR=$out/tinyrun sh/tinyrun.sh >"$out/tinyrun.log" 2>&1
	status tinyrun "rc=$? in $(($(date +%s) - start)) s"
	grep 'event=done' "$out/tinyrun/base.log" 2>/dev/null | tail -1
	[ -f "$out/tinyrun/report/report.md" ] && cp "$out/tinyrun/report/report.md" "$out/report.md"
fi

if want bench; then
	start=$(date +%s)
	BENCH_RESULTS=$out/RESULTS-gpu.md sh/bench/train-gpu.sh >"$out/train-gpu.log" 2>&1
	status bench "rc=$? in $(($(date +%s) - start)) s (train-gpu.log, RESULTS-gpu.md)"
	grep -E '^\| d[0-9]|^- d20' "$out/train-gpu.log"
fi

if want sample; then
	start=$(date +%s)
	BENCH_DEVICE=cuda BENCH_RESULTS=$out/RESULTS-gpu.md sh/bench/sample.sh >"$out/sample-gpu.log" 2>&1
	status sample "rc=$? in $(($(date +%s) - start)) s (sample-gpu.log, RESULTS-gpu.md)"
	grep -E '^\| (prefill|decode)|^- (target|CUDA graphs)' "$out/sample-gpu.log"
fi
