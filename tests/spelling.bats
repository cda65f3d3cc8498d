#!/usr/bin/env bats
# lib/spelling.c against nanochat's own SpellingBee and SimpleSpelling: the
# examples `test_spelling --dump` prints equal, byte for byte, the golden
# files nanochat's tasks/spellingbee.py made from the same word list
# (tests/fixtures/spelling/README). With NANOCHAT_DIR set to a nanochat
# work tree that has tasks/spellingbee.py (karpathy/nanochat 8892470 to
# da32e1d), the golden files are made again from it and compared too.

load helper

setup() {
	cd "$ROOT"
	T=$BATS_TEST_TMPDIR
	F=tests/fixtures/spelling
}

# same_as_golden TASK SPLIT N
same_as_golden() {
	build/tests/test_spelling --dump "$1" "$F/words.txt" "$2" "$3" >"$T/nc"
	gzip -dc "$F/$1_$2.jsonl.gz" >"$T/golden"
	assert_equal "$(wc -l <"$T/golden")" "$3"
	cmp "$T/nc" "$T/golden" || fail "$1 $2 differs from nanochat's: $(diff "$T/nc" "$T/golden" | head -3)"
}

@test "SpellingBee train examples equal nanochat's, byte for byte" {
	same_as_golden bee train 3000
}

@test "SpellingBee test examples equal nanochat's, byte for byte" {
	same_as_golden bee test 1000
}

@test "SimpleSpelling train examples equal nanochat's, byte for byte" {
	same_as_golden simple train 3000
}

@test "SimpleSpelling test examples equal nanochat's, byte for byte" {
	same_as_golden simple test 3000
}

@test "the word list is what make_words.py writes" {
	python3 "$ORACLE/make_words.py" | cmp - "$F/words.txt"
}

@test "nanochat's spellingbee.py in NANOCHAT_DIR still makes the golden examples" {
	[ -n "${NANOCHAT_DIR:-}" ] || skip "NANOCHAT_DIR is not set (a nanochat work tree with tasks/spellingbee.py, e.g. git archive da32e1d of karpathy/nanochat)"
	[ -f "$NANOCHAT_DIR/tasks/spellingbee.py" ] || skip "NANOCHAT_DIR=$NANOCHAT_DIR has no tasks/spellingbee.py"
	for c in "bee train 3000" "bee test 1000" "simple train 3000" "simple test 3000"; do
		set -- $c
		"$PY" "$ORACLE/spelling_ref.py" --nanochat "$NANOCHAT_DIR" "$F/words.txt" "$1" "$2" "$3" >"$T/py"
		gzip -dc "$F/$1_$2.jsonl.gz" | cmp - "$T/py"
	done
}
