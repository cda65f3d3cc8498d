#!/usr/bin/env bats
# nc-bpe: pre-tokenization, training, encoding, decoding, rank files,
# statistics and errors, each checked against an outside oracle where one
# exists (python regex, rustbpe, tiktoken).

load helper

setup_file() {
	export T=$BATS_FILE_TMPDIR
	gen_text --seed 1 --size 300000 >"$T/mixed.txt"
	gen_text --seed 2 --size 100000 --random-cp >"$T/random-cp.txt"
	gen_text --seed 3 --size 400000 --jsonl >"$T/docs.jsonl"
	head -c 200000 /dev/urandom >"$T/random.bin"
	python3 -c 'import random,sys
r=random.Random(5)
sys.stdout.write("".join(r.choice(["a","b","ab"," ","aa"]) for _ in range(50000)))' >"$T/ab.txt"
	# A reference tokenizer trained by nc for tests that need one.
	build/nc-bpe train --quiet --vocab-size=1200 -o "$T/tok" "$T/docs.jsonl" >/dev/null
}

setup() {
	cd "$ROOT"
}

# ---- pre-tokenization ----

@test "pre-tokenization equals the regex module on many scripts, marks, digits, emoji and whitespace" {
	need_oracle
	for p in nanochat gpt4 cl100k gpt2; do
		run "$PY" "$ORACLE/split_check.py" build/nc-bpe "$p" "$T/mixed.txt"
		assert_success
	done
}

@test "pre-tokenization equals the regex module on random code points" {
	need_oracle
	for p in nanochat cl100k gpt2; do
		run "$PY" "$ORACLE/split_check.py" build/nc-bpe "$p" "$T/random-cp.txt"
		assert_success
	done
}

@test "pre-tokenization equals the regex module on random bytes (invalid UTF-8)" {
	need_oracle
	run "$PY" "$ORACLE/split_check.py" build/nc-bpe nanochat "$T/random.bin"
	assert_success
}

@test "split shows contractions, digit pairs and whitespace runs as nanochat's pattern does" {
	run nc-bpe split <<<"He'LL pay 12345"$'\n\n'"  ok"
	assert_success
	assert_output "He
'LL
 pay
 
12
34
5
\\n\\n
 
 ok
\\n"
}

# The tables of known answers (tests/fixtures/bpe, written once by
# tests/oracle/make_bpe_tables.py from the regex module, rustbpe and
# tiktoken) hold the same checks for machines without those modules.
FIX=tests/fixtures/bpe

# The groups of a table (header, JSON text, answer, blank line) whose
# header is $2, as "JSON<TAB>answer" lines.
table() {
	awk -v want="$2" 'NR > 1 && /^$/ { n = 0; next } /^#/ { next }
		{ g[++n] = $0 } n == 3 && g[1] == want { print g[2] "\t" g[3] }' "$1"
}

@test "pre-tokenization gives the regex module's chunks for every case of the committed table" {
	n=0
	for p in nanochat gpt4 cl100k gpt2; do
		while IFS=$'\t' read -r json want; do
			jq -j . <<<"$json" >"$T/case.txt"
			got=$(nc-bpe split --lengths --pattern="$p" "$T/case.txt" | tr '\n' ' ' | sed 's/ $//')
			[ "$got" = "$want" ] || { echo "$p: $json: nc $got, regex $want"; return 1; }
			n=$((n + 1))
		done < <(table "$FIX/split.txt" "$p")
	done
	echo "$n cases"
	[ "$n" -ge 200 ]
}

# ---- training ----

@test "training gives exactly rustbpe's merges" {
	need_oracle
	"$PY" "$ORACLE/rustbpe_train.py" 1500 "$T/docs.jsonl" "$T/rust.ranks"
	nc-bpe train --quiet --vocab-size=1500 -o "$T/t1500" "$T/docs.jsonl"
	nc-bpe export -t "$T/t1500" -o "$T/nc.ranks"
	run cmp "$T/rust.ranks" "$T/nc.ranks"
	assert_success
}

@test "training honours --max-chars and --doc-cap as tok_train.py does" {
	need_oracle
	"$PY" "$ORACLE/rustbpe_train.py" 800 "$T/docs.jsonl" "$T/rust.ranks" 50000 300
	nc-bpe train --quiet --vocab-size=800 --max-chars=50000 --doc-cap=300 -o "$T/t800" "$T/docs.jsonl"
	nc-bpe export -t "$T/t800" -o "$T/nc.ranks"
	run cmp "$T/rust.ranks" "$T/nc.ranks"
	assert_success
}

@test "training with the GPT-2 pattern gives rustbpe's merges for that pattern" {
	need_oracle
	pat=$("$PY" -c 'import sys; sys.path.insert(0,"'"$ORACLE"'"); from split_check import PATTERNS; print(PATTERNS["gpt2"])')
	"$PY" "$ORACLE/rustbpe_train.py" 1000 "$T/docs.jsonl" "$T/rust.ranks" 2e9 10000 "$pat"
	nc-bpe train --quiet --pattern=gpt2 --vocab-size=1000 -o "$T/g" "$T/docs.jsonl"
	nc-bpe export -t "$T/g" -o "$T/nc.ranks"
	run cmp "$T/rust.ranks" "$T/nc.ranks"
	assert_success
}

@test "training on real English text gives rustbpe's merges" {
	need_oracle
	corpus=$ROOT/../shared/data/corpus/tinyshakespeare/input.txt
	[ -f "$corpus" ] || skip "shared corpus not present"
	python3 -c 'import json,sys
for p in open(sys.argv[1]).read().split("\n\n"): print(json.dumps({"text": p}))' "$corpus" >"$T/shk.jsonl"
	"$PY" "$ORACLE/rustbpe_train.py" 4000 "$T/shk.jsonl" "$T/rust.ranks"
	nc-bpe train --quiet --vocab-size=4000 -o "$T/shk" "$T/shk.jsonl"
	nc-bpe export -t "$T/shk" -o "$T/nc.ranks"
	run cmp "$T/rust.ranks" "$T/nc.ranks"
	assert_success
}

@test "training gives exactly rustbpe's merges on the committed corpus, for three settings" {
	nc-bpe train --quiet --vocab-size=600 -o "$T/f600" "$FIX/docs.jsonl"
	nc-bpe export -t "$T/f600" | cmp - "$FIX/train-600.ranks"
	nc-bpe train --quiet --vocab-size=400 --max-chars=15000 --doc-cap=300 -o "$T/f400" "$FIX/docs.jsonl"
	nc-bpe export -t "$T/f400" | cmp - "$FIX/train-400-capped.ranks"
	nc-bpe train --quiet --pattern=gpt2 --vocab-size=500 -o "$T/f500" "$FIX/docs.jsonl"
	nc-bpe export -t "$T/f500" | cmp - "$FIX/train-500-gpt2.ranks"
}

@test "training puts the 9 special tokens on the top ids" {
	run nc-bpe info -t "$T/tok"
	assert_success
	assert_line --index 0 --partial "vocab_size=1200 tokens=1191 merges=935 specials=9"
	assert_line --index 1 "special=<|bos|> id=1191"
	assert_line --index 9 "special=<|output_end|> id=1199"
}

@test "training is the same with one thread and many" {
	nc-bpe train --quiet --threads=1 --vocab-size=700 -o "$T/a" "$T/docs.jsonl"
	nc-bpe train --quiet --threads=4 --vocab-size=700 -o "$T/b" "$T/docs.jsonl"
	run cmp "$T/a" "$T/b"
	assert_success
}

@test "training prints one logfmt metrics line" {
	run nc-bpe train --quiet --vocab-size=300 -o "$T/s" "$T/docs.jsonl"
	assert_success
	assert_output --regexp '^stage=tok-train vocab_size=300 merges=35 docs=[0-9]+ chars=[0-9]+ '
}

# ---- encoding ----

@test "encoding gives tiktoken's ids for the same ranks" {
	need_oracle
	nc-bpe export -t "$T/tok" -o "$T/tok.ranks"
	run "$PY" "$ORACLE/tiktoken_check.py" build/nc-bpe "$T/tok" "$T/tok.ranks" nanochat \
		"$T/mixed.txt" "$T/random-cp.txt" "$T/ab.txt"
	assert_success
}

@test "encoding with an imported GPT-2-pattern tokenizer gives tiktoken's ids" {
	need_oracle
	nc-bpe train --quiet --pattern=gpt2 --vocab-size=900 -o "$T/g2" "$T/docs.jsonl"
	nc-bpe export -t "$T/g2" -o "$T/g2.ranks"
	nc-bpe import --pattern=gpt2 -o "$T/g2i" "$T/g2.ranks"
	run "$PY" "$ORACLE/tiktoken_check.py" build/nc-bpe "$T/g2i" "$T/g2.ranks" gpt2 "$T/mixed.txt"
	assert_success
}

@test "encoding long chunks (heap merging) gives tiktoken's ids" {
	need_oracle
	nc-bpe train --quiet --vocab-size=400 -o "$T/ab.tok" --format=text "$T/ab.txt"
	nc-bpe export -t "$T/ab.tok" -o "$T/ab.ranks"
	python3 -c 'import random; r=random.Random(9); print("".join(r.choice("ab") for _ in range(5000)) + " " + " "*3000 + "x")' >"$T/long.txt"
	run "$PY" "$ORACLE/tiktoken_check.py" build/nc-bpe "$T/ab.tok" "$T/ab.ranks" nanochat "$T/long.txt"
	assert_success
}

@test "imported rustbpe rank files encode every case of the committed table to tiktoken's ids" {
	n=0
	for r in "train-600.ranks nanochat" "train-400-capped.ranks nanochat" "train-500-gpt2.ranks gpt2"; do
		set -- $r
		nc-bpe import --pattern="$2" -o "$T/imp" "$FIX/$1"
		table "$FIX/encode.txt" "$r" >"$T/cases"
		cut -f1 "$T/cases" | sed 's/^/{"text":/; s/$/}/' >"$T/cases.jsonl"
		cut -f2 "$T/cases" >"$T/want"
		nc-bpe encode --ids -t "$T/imp" "$T/cases.jsonl" >"$T/got"
		diff "$T/want" "$T/got"
		n=$((n + $(wc -l <"$T/want")))
	done
	echo "$n cases"
	[ "$n" -ge 150 ]
}

@test "special-token text in the input is ordinary text" {
	run nc-bpe encode --ids --format=text -t "$T/tok" <<<"<|bos|>"
	assert_success
	for id in $output; do [ "$id" -lt 1191 ]; done
	[ "$(echo "$output" | wc -w)" -gt 1 ]
}

@test "--bos puts BOS before each document" {
	printf '{"text":"ab"}\n{"text":"cd"}\n' >"$T/two.jsonl"
	run nc-bpe encode --ids --bos -t "$T/tok" "$T/two.jsonl"
	assert_success
	assert_line --index 0 --regexp '^1191 '
	assert_line --index 1 --regexp '^1191 '
}

@test "encoding on many threads equals one thread, in order" {
	nc-bpe encode --threads=1 -t "$T/tok" -o "$T/one.shard" "$T/docs.jsonl"
	nc-bpe encode --threads=4 -t "$T/tok" -o "$T/four.shard" "$T/docs.jsonl"
	run cmp "$T/one.shard" "$T/four.shard"
	assert_success
}

# ---- round trips and operands ----

@test "decode of encode is the identity on random UTF-8" {
	nc-bpe encode --format=text -t "$T/tok" -o "$T/m.shard" "$T/mixed.txt"
	nc-bpe decode -t "$T/tok" "$T/m.shard" >"$T/m.out"
	run cmp "$T/mixed.txt" "$T/m.out"
	assert_success
}

@test "decode of encode is the identity on random bytes" {
	nc-bpe encode --format=text -t "$T/tok" "$T/random.bin" | nc-bpe decode -t "$T/tok" >"$T/r.out"
	run cmp "$T/random.bin" "$T/r.out"
	assert_success
}

@test "decode of decimal ids is the identity too" {
	nc-bpe encode --ids --format=text -t "$T/tok" "$T/random-cp.txt" >"$T/ids.txt"
	nc-bpe decode --ids -t "$T/tok" "$T/ids.txt" >"$T/rc.out"
	run cmp "$T/random-cp.txt" "$T/rc.out"
	assert_success
}

@test "decode --ids names the file, line and column of what is not an id below the vocabulary" {
	printf '1 2\n3 4 1x\n' >"$T/bad-ids.txt"
	run --separate-stderr nc-bpe decode --ids -t "$T/tok" "$T/bad-ids.txt"
	assert_failure 1
	assert_output $'\001\002'   # the lines before the bad one are decoded
	assert_equal "$stderr" "nc-bpe: $T/bad-ids.txt:2:5: '1x' is not a token id below 1200"
	printf '7\t 99999999999\n' >"$T/big-ids.txt"
	run --separate-stderr nc-bpe decode --ids -t "$T/tok" "$T/big-ids.txt"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-bpe: $T/big-ids.txt:1:4: '99999999999' is not a token id below 1200"
}

@test "stdin, - and a file operand give the same shard" {
	nc-bpe encode -t "$T/tok" "$T/docs.jsonl" >"$T/f.shard"
	nc-bpe encode -t "$T/tok" <"$T/docs.jsonl" >"$T/s.shard"
	nc-bpe encode -t "$T/tok" - <"$T/docs.jsonl" >"$T/d.shard"
	cmp "$T/f.shard" "$T/s.shard"
	cmp "$T/f.shard" "$T/d.shard"
}

@test "a shard through a pipe decodes like one in a file" {
	nc-bpe encode --format=text -t "$T/tok" -o "$T/file.shard" "$T/mixed.txt"
	nc-bpe encode --format=text -t "$T/tok" "$T/mixed.txt" | cat >"$T/pipe.shard"
	a=$(nc-bpe decode -t "$T/tok" "$T/file.shard" | cksum)
	b=$(nc-bpe decode -t "$T/tok" <"$T/pipe.shard" | cksum)
	[ "$a" = "$b" ]
}

@test "compressed and archived inputs read like plain files" {
	gzip -c "$T/docs.jsonl" >"$T/docs.jsonl.gz"
	zstd -q -c "$T/docs.jsonl" >"$T/docs.jsonl.zst"
	split -l 50 "$T/docs.jsonl" "$T/part-"
	for f in "$T"/part-*; do mv "$f" "$f.jsonl"; done
	(cd "$T" && tar cf parts.tar part-*.jsonl)
	nc-bpe encode -t "$T/tok" -o "$T/plain.shard" "$T/docs.jsonl"
	for f in docs.jsonl.gz docs.jsonl.zst parts.tar; do
		nc-bpe encode -t "$T/tok" -o "$T/x.shard" "$T/$f"
		cmp "$T/plain.shard" "$T/x.shard"
	done
}

# ---- rank files ----

@test "export then import keeps the tokenizer (same fingerprint)" {
	nc-bpe export -t "$T/tok" -o "$T/r.ranks"
	nc-bpe import -o "$T/back" "$T/r.ranks"
	a=$(nc-bpe info -t "$T/tok" | head -1 | grep -o 'fingerprint=[0-9a-f]*')
	b=$(nc-bpe info -t "$T/back" | head -1 | grep -o 'fingerprint=[0-9a-f]*')
	[ "$a" = "$b" ]
}

@test "a rustbpe rank file imports and encodes as tiktoken does" {
	need_oracle
	"$PY" "$ORACLE/rustbpe_train.py" 1000 "$T/docs.jsonl" "$T/rb.ranks"
	nc-bpe import -o "$T/rb" "$T/rb.ranks"
	run "$PY" "$ORACLE/tiktoken_check.py" build/nc-bpe "$T/rb" "$T/rb.ranks" nanochat "$T/mixed.txt"
	assert_success
}

@test "import reads custom special tokens" {
	nc-bpe export -t "$T/tok" -o "$T/r.ranks"
	nc-bpe import --specials=none --special='<|endoftext|>=5000' --special='<|x|>' -o "$T/eot" "$T/r.ranks"
	run nc-bpe info -t "$T/eot"
	assert_line --index 0 --partial "vocab_size=5002"
	assert_line --index 1 "special=<|endoftext|> id=5000"
	assert_line --index 2 "special=<|x|> id=5001"
	nc-bpe import --special='<|endoftext|>' -o "$T/both" "$T/r.ranks"
	run nc-bpe info -t "$T/both"
	assert_line --index 10 "special=<|endoftext|> id=1200"
}

# ---- stats ----

@test "stats gives bytes per token for each tokenizer" {
	printf 'hello world, hello world' >"$T/hw.txt"
	nc-bpe train --quiet --vocab-size=300 --format=text -o "$T/hw" "$T/hw.txt"
	run nc-bpe stats -t "$T/tok" -t "$T/hw" "$T/hw.txt"
	assert_success
	assert_line --index 1 --regexp '^text=hw.txt bytes=24 tokenizer=hw tokens=[0-9]+ ratio='
	n=$(nc-bpe encode --ids --format=text -t "$T/hw" "$T/hw.txt" | wc -w)
	assert_line --index 1 --partial "tokens=$n "
}

@test "stats --markdown prints tok_eval's comparison table" {
	run nc-bpe stats --markdown -t "$T/tok" -t "$T/tok" "$T/mixed.txt"
	assert_success
	assert_line --index 0 "### Comparison with tok"
	assert_line --index 3 --regexp '^\| mixed.txt \| [0-9]+ \| [0-9]+ \| [0-9.]+ \| [0-9]+ \| [0-9.]+ \| \+0.0% \|$'
}

@test "token byte lengths are raw bytes, 0 for special tokens" {
	run nc-bpe stats --token-bytes -t "$T/tok"
	assert_success
	assert_line --index 0 "0 1"
	assert_line --index 255 "255 1"
	assert_line --index 1191 "1191 0"
	assert_line --index 1199 "1199 0"
	[ "${#lines[@]}" -eq 1200 ]
	# token 256's length is the length of its bytes
	len=$(nc-bpe export -t "$T/tok" | sed -n 257p | cut -d' ' -f1 | base64 -d | wc -c)
	assert_line --index 256 "256 $len"
}

# ---- errors ----

@test "a missing input file is an error naming it" {
	run --separate-stderr nc-bpe train -o "$T/x" "$T/nope.jsonl"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-bpe: $T/nope.jsonl: No such file or directory"
}

@test "a truncated tokenizer file is an error naming it" {
	head -c 1000 "$T/tok" >"$T/trunc.tok"
	run --separate-stderr nc-bpe encode --ids -t "$T/trunc.tok" <<<"hi"
	assert_failure 1
	assert_output ''
	assert_regex "$stderr" "^nc-bpe: $T/trunc.tok: truncated or padded: header says [0-9]+ bytes, file has 1000\$"
}

@test "a corrupted tokenizer file fails its checksum, naming the file" {
	cp "$T/tok" "$T/bad.tok"
	printf 'X' | dd of="$T/bad.tok" bs=1 seek=3000 conv=notrunc 2>/dev/null
	run --separate-stderr nc-bpe encode --ids -t "$T/bad.tok" <<<"hi"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-bpe: $T/bad.tok: checksum mismatch: the file is corrupted"
}

@test "a vocabulary smaller than 256 bytes + 9 specials is refused" {
	run --separate-stderr nc-bpe train --vocab-size=264 -o "$T/small" "$T/docs.jsonl"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-bpe: vocabulary size 264 is too small: it must hold the 256 bytes and 9 special tokens (at least 265)"
	[ ! -e "$T/small" ]
}

@test "empty input is refused" {
	run --separate-stderr nc-bpe train -o "$T/empty" </dev/null
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-bpe: no text to train on: the input is empty"
	[ ! -e "$T/empty" ]
}

@test "a shard written with another tokenizer is refused (fingerprint mismatch)" {
	nc-bpe train --quiet --vocab-size=500 -o "$T/other" "$T/docs.jsonl"
	nc-bpe encode --format=text -t "$T/other" -o "$T/o.shard" "$T/mixed.txt"
	run --separate-stderr nc-bpe decode -t "$T/tok" "$T/o.shard"
	assert_failure 1
	assert_output ''
	assert_regex "$stderr" "^nc-bpe: $T/o.shard: written with another tokenizer \\(fingerprint [0-9a-f]{16}, $T/tok has [0-9a-f]{16}\\)\$"
}

@test "a truncated shard is an error, not a short decode" {
	nc-bpe encode --format=text -t "$T/tok" -o "$T/m.shard" "$T/mixed.txt"
	head -c 5000 "$T/m.shard" >"$T/cut.shard"
	run --separate-stderr nc-bpe decode -t "$T/tok" "$T/cut.shard"
	assert_failure 1
	assert_regex "$stderr" "^nc-bpe: $T/cut.shard: truncated or corrupted: no trailer at byte [0-9]+\$"
	# what was decoded before the end is the text's beginning, no more
	[ -n "$output" ]
	printf '%s' "$output" >"$T/cut.out"
	cmp -n "$(wc -c <"$T/cut.out")" "$T/cut.out" "$T/mixed.txt"
}

@test "a malformed JSON line is an error naming file and line; the old output is kept" {
	printf '{"text":"a"}\n{"text":"b"}\n{"text": nope}\n' >"$T/bad.jsonl"
	echo keep >"$T/out.tok"
	run --separate-stderr nc-bpe train -o "$T/out.tok" "$T/bad.jsonl"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-bpe: $T/bad.jsonl:3: malformed JSON at column 13: invalid token near 'nope'"
	[ "$(cat "$T/out.tok")" = keep ]
	[ -z "$(ls "$T" | grep tmp-)" ]
}

@test "a record without the text field is an error naming it" {
	printf '{"body":"a"}\n' >"$T/nofield.jsonl"
	run --separate-stderr nc-bpe encode --ids -t "$T/tok" "$T/nofield.jsonl"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-bpe: $T/nofield.jsonl:1: no \"text\" string in this record"
}

@test "--column names the member (or CSV field) holding the text; --field is not an option" {
	printf '{"text":"no","body":"the body"}\n' >"$T/col.jsonl"
	printf 'the body' >"$T/body.txt"
	want=$(nc-bpe encode --ids -t "$T/tok" --format=text "$T/body.txt")
	run --separate-stderr nc-bpe encode --ids -t "$T/tok" --column=body "$T/col.jsonl"
	assert_success
	assert_output "$want"
	printf 'no,"the body"\n' >"$T/col.csv"
	run --separate-stderr nc-bpe encode --ids -t "$T/tok" --column=1 "$T/col.csv"
	assert_output "$want"
	usage_error "unknown option '--field'" nc-bpe encode --ids -t "$T/tok" --field=body "$T/col.jsonl"
}

@test "a bad rank file line is an error naming file and line" {
	printf 'YQ== 0\nnot base64! 1\n' >"$T/bad.ranks"
	run --separate-stderr nc-bpe import -o "$T/x" "$T/bad.ranks"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-bpe: $T/bad.ranks:2: not a tiktoken rank line (base64 token, space, rank)"
}

@test "usage errors exit 2" {
	usage_error "unknown command 'frobnicate'" nc-bpe frobnicate
	usage_error "encode: a tokenizer is required (-t FILE)" nc-bpe encode --ids
	usage_error "--vocab-size: 'lots' is not a number" nc-bpe train --vocab-size=lots -o x
	usage_error "a command is required (train, encode, decode, import, export, stats, info, split)" nc-bpe
	usage_error "train: an output file is required (-o TOKENIZER); stdout carries the metrics line" \
		nc-bpe train -o - "$T/docs.jsonl"
	usage_error "--pattern: unsupported pattern 'gpt9' (nanochat, gpt4, cl100k, gpt2)" nc-bpe split --pattern=gpt9
	usage_error "--specials: 'all' is not nanochat or none" nc-bpe import --specials=all -o "$T/x" r
	usage_error "import: an output file is required (-o TOKENIZER)" nc-bpe import r
	usage_error "import: exactly one rank file is expected" nc-bpe import -o "$T/x" r s
	usage_error "export: no operands expected" nc-bpe export -t "$T/tok" r
	usage_error "info: no operands expected" nc-bpe info -t "$T/tok" r
	usage_error "stats: --token-bytes takes no text operands" nc-bpe stats --token-bytes -t "$T/tok" "$T/docs.jsonl"
}

@test "an unknown option or a missing value: one line naming it and the help hint, on stderr" {
	usage_error "unknown option '--no-such-option'" nc-bpe encode --no-such-option
	usage_error "unknown option '-x'" nc-bpe decode -x -t "$T/tok"
	usage_error "unknown option '--bogus'" nc-bpe train --bogus=1 -o "$T/x"
	usage_error "option '-t' needs a value" nc-bpe info -t
	usage_error "option '--vocab-size' needs a value" nc-bpe train -o "$T/x" --vocab-size
	usage_error "option '--ids' takes no value" nc-bpe encode --ids=yes -t "$T/tok"
	usage_error "ambiguous option '--sp' (--specials, --special)" nc-bpe import --sp=x -o "$T/x" r
}

@test "a bad number names the option; binary is not written to a terminal" {
	usage_error "--vocab-size: 0 is out of range [1, 1073741824]" nc-bpe train -o "$T/x" --vocab-size=0
	usage_error "--threads: 'nan' is not a number" nc-bpe encode --threads=nan -t "$T/tok"
	tty_usage_error "encode: refusing to write a binary shard to a terminal (use -o FILE or --ids)" \
		nc-bpe encode -t "$T/tok" "$T/docs.jsonl"
	nc-bpe export -t "$T/tok" -o "$T/tok.ranks"
	tty_usage_error "import: refusing to write a binary tokenizer to a terminal (use -o FILE)" \
		nc-bpe import -o - "$T/tok.ranks"
}

@test "an unknown --format is a usage error that names the formats" {
	run nc-bpe encode --format=xml -t "$T/tok"
	assert_failure 2
	assert_line --index 0 "nc-bpe: --format: 'xml' is not auto, jsonl, text, lines, parquet or csv"
}

@test "-h prints usage and exits 0" {
	run nc-bpe -h
	assert_success
	assert_line --index 0 --partial "usage: nc-bpe train"
}

# ---- outputs ----

@test "an output that is a FIFO is written in place, not replaced" {
	mkfifo "$T/fifo"
	cat "$T/fifo" >"$T/from-fifo.shard" &
	nc-bpe encode -t "$T/tok" -o "$T/fifo" "$T/docs.jsonl"
	wait
	[ -p "$T/fifo" ]
	nc-bpe encode -t "$T/tok" -o "$T/direct.shard" "$T/docs.jsonl"
	a=$(nc-bpe decode -t "$T/tok" "$T/from-fifo.shard" | cksum)
	b=$(nc-bpe decode -t "$T/tok" "$T/direct.shard" | cksum)
	[ "$a" = "$b" ]
}

@test "an output through a symbolic link replaces the target and keeps the link" {
	echo old >"$T/target"
	ln -sf "$T/target" "$T/link"
	nc-bpe encode --ids -t "$T/tok" -o "$T/link" <<<"hello"
	[ -L "$T/link" ]
	run nc-bpe decode --ids -t "$T/tok" "$T/target"
	assert_output "hello"
}

@test "a shard on a stdout opened for appending is still valid" {
	: >"$T/app.shard"
	nc-bpe encode -t "$T/tok" "$T/docs.jsonl" >>"$T/app.shard"
	run nc-bpe decode -t "$T/tok" "$T/app.shard"
	assert_success
}

@test "a failed encode leaves no partial output" {
	printf '{"text":"a"}\n{"text": broken\n' >"$T/half.jsonl"
	run --separate-stderr nc-bpe encode --ids -t "$T/tok" -o "$T/half.ids" "$T/half.jsonl"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-bpe: $T/half.jsonl:2: malformed JSON at column 15: invalid token near 'broken'"
	[ ! -e "$T/half.ids" ]
}
