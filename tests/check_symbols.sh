#!/bin/sh
# One TAP line: no name is exported (defined and global, weak ones aside)
# twice across the archives given, which is what breaks the first program
# that links both definitions. Each duplicate is named on a "#" line,
# with the members that define it, before "not ok".
# Usage: check_symbols.sh ARCHIVE...   (build/libnc.a build/libnc_cuda.a)
[ $# -gt 0 ] || { echo "usage: check_symbols.sh ARCHIVE..." >&2; exit 2; }
list=$(nm -A -g --defined-only "$@") || { echo "not ok - nm could not read $*"; exit 1; }
printf '%s\n' "$list" | awk -v what="$*" '
# "archive:member.o:address T name"
NF >= 3 {
	type = $(NF - 1); sym = $NF
	if (type == "W" || type == "V" || type == "w" || type == "v" || type == "U") next
	where = $1; sub(/:[0-9a-f]*$/, "", where)
	if (sym in seen) { seen[sym] = seen[sym] ", " where; count[sym]++ }
	else { seen[sym] = where; count[sym] = 1 }
}
END {
	for (s in count)
		if (count[s] > 1) { print "# " s " is defined " count[s] " times: " seen[s]; bad++ }
	if (bad) print "not ok - an exported name is defined once across " what ": " bad " defined more than once"
	else print "ok - every exported name is defined once across " what
	exit bad > 0
}'
