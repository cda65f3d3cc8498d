#!/bin/sh
# Every check that needs a GPU, in one go, for a machine that has one:
# build, `make test-gpu` (the CUDA ops against the CPU's, training, resume
# and sampling against the CPU tools), and tinyrun on the GPU. (The GPU
# benchmarks against nanochat are still to be written.)
# Logs go to $OUT (default out/gpu-check); a summary goes to stdout.
#
#   NC_DEBS=DIR   unpack the .deb packages in DIR over / first (a machine
#                 without network that lacks nc's build dependencies)
#   NC_JOBS=N     parallel make (default: the number of processors)
set -u
cd "$(dirname "$0")/.."
out=${OUT:-out/gpu-check}
mkdir -p "$out"
if [ -n "${NC_DEBS:-}" ]; then
	for f in "$NC_DEBS"/*.deb; do dpkg -x "$f" / || exit 1; done
	ldconfig
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

make test-gpu >"$out/test-gpu.log" 2>&1
status test-gpu "rc=$? $(grep -c '^ok' "$out/test-gpu.log") ok, $(grep -c '^not ok' "$out/test-gpu.log") not ok"
grep '^not ok' "$out/test-gpu.log" | head -20

start=$(date +%s)
NC_RUN_DIR=$out/tinyrun sh/tinyrun.sh >"$out/tinyrun.log" 2>&1
status tinyrun "rc=$? in $(($(date +%s) - start)) s"
grep 'event=done' "$out/tinyrun/base.log" 2>/dev/null | tail -1
[ -f "$out/tinyrun/report/report.md" ] && cp "$out/tinyrun/report/report.md" "$out/report.md"

