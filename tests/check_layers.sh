#!/bin/sh
# One TAP line: every file in lib/ includes only files of its own layer or
# a lower one (the table tests/layers.txt, after DESIGN's layers), and
# kernels/ includes only its own files, lib/ops.h and the base layer.
# Each violation is named on a "#" line before "not ok".
# Usage: check_layers.sh [ROOT]   (the tree to check; default this one)
root=${1:-$(dirname "$0")/..}
cd "$root" || exit 1
find lib kernels -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' \) | LC_ALL=C sort |
awk '
function norm(p,    n, i, k, part, out) {
	n = split(p, part, "/"); k = 0
	for (i = 1; i <= n; i++) {
		if (part[i] == "." || part[i] == "") continue
		if (part[i] == ".." && k > 0 && out[k] != "..") { k--; continue }
		out[++k] = part[i]
	}
	p = out[1]
	for (i = 2; i <= k; i++) p = p "/" out[i]
	return p
}
# the layer of lib/REL: its own line, else its header'"'"'s; "" if neither
function layer(rel,    h) {
	if (rel in rank) return rel
	h = rel; sub(/\.c$/, ".h", h)
	return (h in rank) ? h : ""
}
function fail(msg) { print "# " msg; bad++ }
FILENAME == "tests/layers.txt" {
	if ($0 ~ /^#/ || NF == 0) next
	if (!($2 in order)) { fail("tests/layers.txt: unknown layer \"" $2 "\" for " $1); next }
	rank[$1] = order[$2]; name[$1] = $2
	next
}
{ files[++nf] = $0 }
BEGIN {
	split("base formats compute model engine", L, " ")
	for (i = 1; i in L; i++) order[L[i]] = i
}
END {
	for (i = 1; i <= nf; i++) check(files[i])
	if (bad) print "not ok - lib/ and kernels/ include only their own layer or lower (tests/layers.txt): " bad " violation(s)"
	else print "ok - lib/ and kernels/ include only their own layer or lower (tests/layers.txt)"
	exit bad > 0
}
function check(f,    dir, inlib, me, line, inc, t, tl, rel) {
	dir = f; sub(/\/[^\/]*$/, "", dir)
	inlib = f ~ /^lib\//
	if (inlib) {
		rel = substr(f, 5); me = layer(rel)
		if (me == "") { fail(f ": no layer in tests/layers.txt"); return }
	}
	while ((getline line < f) > 0) {
		if (line !~ /^[ \t]*#[ \t]*include[ \t]*"/) continue
		inc = line; sub(/^[^"]*"/, "", inc); sub(/".*/, "", inc)
		t = norm(dir "/" inc)
		if (t !~ /^lib\//) {
			if (inlib) fail(f ": includes " t ", outside lib/")
			continue
		}
		tl = layer(substr(t, 5))
		if (tl == "") { fail(f ": includes " t ", which has no layer in tests/layers.txt"); continue }
		if (inlib && rank[tl] > rank[me])
			fail(f " (" name[me] ") includes " t " (" name[tl] ")")
		if (!inlib && t != "lib/ops.h" && name[tl] != "base")
			fail(f " includes " t " (" name[tl] "): kernels/ may include lib/ops.h and the base layer only")
	}
	close(f)
}
' tests/layers.txt -
