#!/usr/bin/env bats
# nc-shard: documents out, token shards in fixed sizes with a validation
# split, resumption, and the shard inspection commands.

load helper

setup_file() {
	export T=$BATS_FILE_TMPDIR
	gen_text --seed 11 --size 300000 --jsonl >"$T/a.jsonl"
	gen_text --seed 12 --size 60000 --jsonl >"$T/b.jsonl"
	build/nc-bpe train --quiet --vocab-size=1000 -o "$T/tok" "$T/a.jsonl" >/dev/null
}

setup() {
	cd "$ROOT"
}

# All ids of the train shards then the val shards, one per line.
all_ids() {
	nc-shard cat --ids "$@" | tr ' ' '\n'
}

@test "docs writes a document stream that reads back to the same texts" {
	nc-shard docs -o "$T/docs.jsonl" "$T/a.jsonl"
	a=$(nc-bpe encode --ids -t "$T/tok" "$T/a.jsonl" | cksum)
	b=$(nc-bpe encode --ids -t "$T/tok" "$T/docs.jsonl" | cksum)
	[ "$a" = "$b" ]
}

@test "docs turns plain text into one document per file or per line" {
	printf 'one\ntwo "quoted"\n' >"$T/p.txt"
	run nc-shard docs --format=lines "$T/p.txt"
	assert_output '{"text":"one"}
{"text":"two \"quoted\""}'
	run nc-shard docs --format=text "$T/p.txt"
	assert_output '{"text":"one\ntwo \"quoted\"\n"}'
}

@test "an empty file is no document with --format=text, alone or as an archive member" {
	: >"$T/empty.txt"
	printf 'x\n' >"$T/x.txt"
	(cd "$T" && tar cf e.tar empty.txt x.txt)
	run --separate-stderr nc-shard docs --format=text "$T/empty.txt" "$T/x.txt"
	assert_success
	assert_output '{"text":"x\n"}'
	run --separate-stderr nc-shard docs --format=text "$T/e.tar"
	assert_success
	assert_output '{"text":"x\n"}'
}

@test "docs crops with --doc-cap and stops after --max-chars as tokenizer training does" {
	printf '{"text":"abcdef"}\n{"text":"ghijkl"}\n{"text":"mnopqr"}\n' >"$T/c.jsonl"
	run nc-shard docs --doc-cap=4 --max-chars=5 "$T/c.jsonl"
	assert_output '{"text":"abcd"}
{"text":"ghij"}'
}

@test "docs turns bytes that are not UTF-8 into U+FFFD as Python's decode(errors=\"replace\") does" {
	python3 "$ORACLE/utf8_replace.py" lines --seed 5 --cases 2000 >"$T/bad.txt"
	nc-shard docs --format=lines -o "$T/bad.jsonl" "$T/bad.txt" 2>"$T/bad.err"
	[[ "$(cat "$T/bad.err")" =~ ^nc-shard:\ warning:\ [0-9]+\ bytes\ that\ are\ not\ UTF-8\ became\ U\+FFFD$ ]]
	python3 "$ORACLE/utf8_replace.py" check-docs "$T/bad.txt" "$T/bad.jsonl"
	printf 'a\xe2\x82b\n' | nc-shard docs --format=lines 2>/dev/null | grep -qx '{"text":"a�b"}'
}

@test "docs picks the column named by --column" {
	printf '{"id":1,"body":"x"}\n' >"$T/col.jsonl"
	run nc-shard docs --column=body "$T/col.jsonl"
	assert_output '{"text":"x"}'
	usage_error "unknown option '--field'" nc-shard docs --field=body "$T/col.jsonl"
}

@test "tokens writes fixed-size shards, BOS before every document, last file as validation" {
	run nc-shard tokens --quiet -t "$T/tok" -o "$T/s1" --shard-tokens=20000 "$T/a.jsonl" "$T/b.jsonl"
	assert_success
	assert_line "$T/s1/train_00000.bin"
	assert_line "$T/s1/val_00000.bin"
	for f in "$T"/s1/train_*.bin; do
		[ "$f" = "$(ls "$T"/s1/train_*.bin | tail -1)" ] && break
		nc-shard info "$f" | grep -q ' tokens=20000 '
	done
	# The train shards hold exactly the first file encoded with BOS, in order.
	diff <(all_ids "$T"/s1/train_*.bin) <(nc-bpe encode --ids --bos -t "$T/tok" "$T/a.jsonl" | tr ' ' '\n')
	diff <(all_ids "$T"/s1/val_*.bin) <(nc-bpe encode --ids --bos -t "$T/tok" "$T/b.jsonl" | tr ' ' '\n')
}

@test "tokens --val-docs N holds out the last N documents" {
	nc-shard tokens --quiet -t "$T/tok" -o "$T/s2" --val-docs=5 "$T/a.jsonl" >/dev/null
	n=$(wc -l <"$T/a.jsonl")
	diff <(all_ids "$T"/s2/val_*.bin) <(tail -n 5 "$T/a.jsonl" | nc-bpe encode --ids --bos -t "$T/tok" | tr ' ' '\n')
	diff <(all_ids "$T"/s2/train_*.bin) <(head -n $((n - 5)) "$T/a.jsonl" | nc-bpe encode --ids --bos -t "$T/tok" | tr ' ' '\n')
}

@test "tokens on many threads equals one thread" {
	nc-shard tokens --quiet --threads=1 -t "$T/tok" -o "$T/t1" "$T/a.jsonl" "$T/b.jsonl" >/dev/null
	nc-shard tokens --quiet --threads=4 -t "$T/tok" -o "$T/t4" "$T/a.jsonl" "$T/b.jsonl" >/dev/null
	for f in "$T"/t1/*.bin; do cmp "$f" "$T/t4/$(basename "$f")"; done
}

@test "tokens resumes: complete valid shards are kept, damaged ones rewritten" {
	nc-shard tokens --quiet -t "$T/tok" -o "$T/r" --shard-tokens=20000 "$T/a.jsonl" "$T/b.jsonl" >/dev/null
	cp "$T/r/train_00001.bin" "$T/good1"
	touch -d '2001-01-01' "$T/r/train_00000.bin"
	printf 'X' | dd of="$T/r/train_00001.bin" bs=1 seek=1000 conv=notrunc 2>/dev/null
	run nc-shard tokens --quiet -t "$T/tok" -o "$T/r" --shard-tokens=20000 "$T/a.jsonl" "$T/b.jsonl"
	assert_success
	assert_output --partial "were already there and were kept"
	# the untouched shard was not rewritten; the damaged one was
	[ "$(stat -c %Y "$T/r/train_00000.bin")" -lt 1000000000 ]
	cmp "$T/good1" "$T/r/train_00001.bin"
}

@test "verify checks checksums and the tokenizer" {
	nc-shard tokens --quiet -t "$T/tok" -o "$T/v" "$T/a.jsonl" "$T/b.jsonl" >/dev/null
	run nc-shard verify -t "$T/tok" "$T"/v/*.bin
	assert_success
	assert_line --index 0 --regexp 'train_00000.bin ok=yes tokens=[0-9]+$'
	cp "$T/v/train_00000.bin" "$T/bad.bin"
	printf 'X' | dd of="$T/bad.bin" bs=1 seek=500 conv=notrunc 2>/dev/null
	run --separate-stderr nc-shard verify "$T/bad.bin"
	assert_failure 1
	assert_output "shard=$T/bad.bin ok=no"
	assert_regex "$stderr" "^nc-shard: $T/bad.bin: checksum mismatch: bytes 0 to [0-9]+ \\(header and payload\\) do not match the checksum at byte [0-9]+\$"
	nc-bpe train --quiet --vocab-size=400 -o "$T/other" "$T/b.jsonl"
	run --separate-stderr nc-shard verify -t "$T/other" "$T/v/val_00000.bin"
	assert_failure 1
	assert_output "shard=$T/v/val_00000.bin ok=no"
	assert_equal "$stderr" "nc-shard: $T/v/val_00000.bin: written with another tokenizer than $T/other"
}

@test "a damaged header fails the checksum of a version 2 shard" {
	nc-shard tokens --quiet -t "$T/tok" -o "$T/vv" "$T/a.jsonl" "$T/b.jsonl" >/dev/null
	cp "$T/vv/val_00000.bin" "$T/wide.bin"
	printf '\000\000\001\000' | dd of="$T/wide.bin" bs=1 seek=24 conv=notrunc 2>/dev/null
	run --separate-stderr nc-shard verify "$T/wide.bin"
	assert_failure 1
	assert_output "shard=$T/wide.bin ok=no"
	[[ "$stderr" == "nc-shard: $T/wide.bin: checksum mismatch: bytes 0 to "*" (header and payload) do not match the checksum at byte "* ]]
}

@test "a version 1 shard is still read, with a warning; verify -t catches its damaged vocabulary size" {
	V1=tests/fixtures/shard-v1
	run --separate-stderr nc-shard verify -t "$V1/tok" "$V1/val_00000.bin"
	assert_success
	assert_output "shard=$V1/val_00000.bin ok=yes tokens=2280"
	[ "$stderr" = "nc-shard: $V1/val_00000.bin: version 1: the checksum does not cover the header (nc-shard cat rewrites it as version 2)" ]
	# its header is outside the checksum: only the tokenizer can tell
	cp "$V1/val_00000.bin" "$T/old.bin"
	printf '\000\000\001\000' | dd of="$T/old.bin" bs=1 seek=24 conv=notrunc 2>/dev/null
	run --separate-stderr nc-shard verify -t "$V1/tok" "$T/old.bin"
	assert_failure 1
	assert_output "shard=$T/old.bin ok=no"
	[ "${stderr##*$'\n'}" = "nc-shard: $T/old.bin: a vocabulary of 65536 tokens (byte 24), but $V1/tok has 300" ]
	# cat rewrites it as version 2, the same tokens
	nc-shard cat -o "$T/new.bin" "$V1/val_00000.bin" 2>/dev/null
	run --separate-stderr nc-shard verify -t "$V1/tok" "$T/new.bin"
	assert_success
	[ -z "$stderr" ]
	cmp <(nc-shard cat --ids "$V1/val_00000.bin" 2>/dev/null) <(nc-shard cat --ids "$T/new.bin")
}

@test "cat streams shards through a pipe into nc-bpe decode" {
	nc-shard tokens --quiet -t "$T/tok" -o "$T/c" "$T/a.jsonl" "$T/b.jsonl" >/dev/null
	a=$(nc-shard cat "$T"/c/val_*.bin | nc-bpe decode --skip-special -t "$T/tok" | cksum)
	b=$(nc-bpe encode -t "$T/tok" "$T/b.jsonl" | nc-bpe decode -t "$T/tok" | cksum)
	[ "$a" = "$b" ]
}

@test "bad input: a malformed line names file and line, and no shard looks complete" {
	printf '{"text":"a"}\n{"text":\n' >"$T/broken.jsonl"
	run --separate-stderr nc-shard tokens -t "$T/tok" -o "$T/broken" "$T/broken.jsonl"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-shard: $T/broken.jsonl:2: malformed JSON at column 8: unexpected token near end of file"
	[ -z "$(ls "$T/broken")" ]
}

@test "usage errors exit 2" {
	usage_error "tokens: a tokenizer is required (-t FILE)" nc-shard tokens -o "$T/x" "$T/a.jsonl"
	usage_error "unknown command 'nope'" nc-shard nope
	usage_error "info: no shards given" nc-shard info
	usage_error "a command is required (docs, tokens, chat, task, mix, info, verify, cat, manifest)" nc-shard
	usage_error "tokens: an output directory is required (-o DIR)" nc-shard tokens -t "$T/tok" "$T/a.jsonl"
	usage_error "chat: --ids and --show exclude each other" nc-shard chat --ids --show -t "$T/tok"
	usage_error "verify: no shards given" nc-shard verify -t "$T/tok"
	usage_error "cat: no shards given" nc-shard cat --ids
	usage_error "mix: no files given" nc-shard mix -o "$T/x"
}

@test "an unknown option or a missing value: one line naming it and the help hint, on stderr" {
	usage_error "unknown option '--bogus'" nc-shard docs --bogus "$T/a.jsonl"
	usage_error "unknown option '-x'" nc-shard info -x "$T/a.jsonl"
	usage_error "option '-o' needs a value" nc-shard tokens -t "$T/tok" -o
	usage_error "option '--shard-tokens' needs a value" nc-shard tokens -t "$T/tok" --shard-tokens
	usage_error "option '--show' takes no value" nc-shard chat --show=1 -t "$T/tok"
}

@test "a bad number names the option; binary is not written to a terminal" {
	usage_error "--shard-tokens: 0 is out of range [1, 2305843009213693951]" \
		nc-shard tokens -t "$T/tok" -o "$T/x" --shard-tokens=0
	usage_error "--max-tokens: 'inf' is not a number" nc-shard chat -t "$T/tok" --max-tokens=inf
	f=tests/fixtures/chat/conversations.jsonl
	tty_usage_error "chat: refusing to write a binary shard to a terminal (use -o FILE, --ids or --show)" \
		nc-shard chat -t "$T/tok" "$f"
	nc-shard chat -t "$T/tok" -o "$T/c.bin" "$f" 2>/dev/null
	tty_usage_error "cat: refusing to write a binary shard to a terminal (use -o FILE or --ids)" \
		nc-shard cat "$T/c.bin"
}

# ---- conversations ----

chat_oracle() {
	nc-bpe export -t "$T/tok" -o "$T/tok.ranks"
	"$PY" "$ORACLE/render_chat.py" "$@"
}

@test "chat renders conversations as nanochat does: same ids, same loss mask" {
	need_oracle
	f=tests/fixtures/chat/conversations.jsonl
	chat_oracle "$T/tok.ranks" "$f" >"$T/want"
	nc-shard chat --ids -t "$T/tok" "$f" >"$T/got"
	run "$PY" "$ORACLE/chat_compare.py" "$T/got" "$T/want"
	assert_success
	chat_oracle --max-tokens=100 "$T/tok.ranks" "$f" >"$T/want"
	nc-shard chat --ids --max-tokens=100 -t "$T/tok" "$f" >"$T/got"
	run "$PY" "$ORACLE/chat_compare.py" "$T/got" "$T/want"
	assert_success
}

@test "chat renders nanochat's identity conversations as nanochat does" {
	need_oracle
	f=$ROOT/../shared/data/chat/identity/identity_conversations.jsonl
	[ -f "$f" ] || skip "shared data not present"
	chat_oracle "$T/tok.ranks" "$f" >"$T/want"
	nc-shard chat --ids -t "$T/tok" "$f" >"$T/got"
	run "$PY" "$ORACLE/chat_compare.py" "$T/got" "$T/want"
	assert_success
}

@test "chat turns GSM8K rows into tool calls as nanochat does" {
	need_oracle
	f=$ROOT/../shared/data/eval-samples/gsm8k/train.jsonl
	if [ -f "$f" ]; then head -n 300 "$f" >"$T/gsm.jsonl"; else
		printf '%s\n' '{"question":"What is 2 times 3?","answer":"2*3 = <<2*3=6>>6 so\n#### 6"}' >"$T/gsm.jsonl"
	fi
	python3 "$ORACLE/gsm8k_parts.py" --conversations "$T/gsm.jsonl" >"$T/gsm.conv"
	chat_oracle "$T/tok.ranks" "$T/gsm.conv" >"$T/want"
	nc-shard chat --ids -t "$T/tok" "$T/gsm.jsonl" >"$T/got"
	run "$PY" "$ORACLE/chat_compare.py" "$T/got" "$T/want"
	assert_success
	grep -q "$(nc-bpe info -t "$T/tok" | sed -n 's/^special=<|python_start|> id=//p')/1" "$T/got"
}

@test "chat writes one shard whose loss mask matches the rendering" {
	f=tests/fixtures/chat/conversations.jsonl
	nc-shard chat -t "$T/tok" -o "$T/chat.bin" "$f"
	run nc-shard info "$T/chat.bin"
	assert_output --partial "mask=yes"
	nc-shard verify -t "$T/tok" "$T/chat.bin"
	nc-shard chat --ids -t "$T/tok" "$f" >"$T/want.ids"
	nc-shard cat --ids "$T/chat.bin" >"$T/got.ids"
	cmp "$T/want.ids" "$T/got.ids"
	# cat keeps the mask in a shard too, and reads a chat shard from a pipe
	nc-shard chat -t "$T/tok" "$f" | nc-shard cat -o "$T/copy.bin" -
	nc-shard cat --ids "$T/copy.bin" | cmp - "$T/want.ids"
}

@test "tokens and chat: data (paths, a shard) on stdout, the summary line on stderr; --quiet drops it" {
	run --separate-stderr nc-shard tokens -t "$T/tok" -o "$T/sum" --val-docs=2 "$T/b.jsonl"
	assert_success
	assert_output "$T/sum/train_00000.bin
$T/sum/val_00000.bin"
	[[ $stderr =~ ^stage=shard\ docs=[0-9]+\ bytes=[0-9]+\ train_tokens=[0-9]+\ val_tokens=[0-9]+\ train_shards=1\ val_shards=1$ ]]
	run --separate-stderr nc-shard tokens --quiet -t "$T/tok" -o "$T/sum" --val-docs=2 "$T/b.jsonl"
	assert_success
	assert_equal "$stderr" "nc-shard: 2 complete shards were already there and were kept"
	f=tests/fixtures/chat/conversations.jsonl
	run --separate-stderr nc-shard chat -t "$T/tok" -o "$T/sum.bin" "$f"
	assert_output ''
	[[ $stderr =~ ^stage=chat\ conversations=[0-9]+\ tokens=[0-9]+\ supervised=[0-9]+$ ]]
	run --separate-stderr nc-shard chat --quiet -t "$T/tok" -o "$T/sum.bin" "$f"
	assert_output ''
	assert_equal "$stderr" ''
}

@test "cat --ids writes a line per document" {
	nc-shard tokens --quiet -t "$T/tok" -o "$T/lines/" --val-docs=2 "$T/b.jsonl" >/dev/null
	[ "$(nc-shard cat --ids "$T"/lines/train_*.bin | wc -l)" -eq $(($(wc -l <"$T/b.jsonl") - 2)) ]
	[ -e "$T/lines/train_00000.bin" ]
}

@test "tokens removes shards left past the end by an earlier run" {
	nc-shard tokens --quiet -t "$T/tok" -o "$T/st" --shard-tokens=5000 "$T/a.jsonl" >/dev/null
	[ -e "$T/st/train_00010.bin" ]
	nc-shard tokens --quiet -t "$T/tok" -o "$T/st" --shard-tokens=5000 "$T/b.jsonl" >/dev/null
	[ ! -e "$T/st/train_00010.bin" ]
	diff <(all_ids "$T"/st/train_*.bin) <(nc-bpe encode --ids --bos -t "$T/tok" "$T/b.jsonl" | tr ' ' '\n')
}

@test "bare JSON arrays of messages are found without a .jsonl name" {
	printf '%s\n' '[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]' >"$T/conv.txt"
	run nc-shard chat --ids -t "$T/tok" "$T/conv.txt"
	assert_success
}

@test "a compressed member inside an archive is refused, not misread" {
	gzip -c "$T/b.jsonl" >"$T/b.jsonl.gz"
	(cd "$T" && tar cf gz.tar b.jsonl.gz)
	run --separate-stderr nc-shard docs "$T/gz.tar"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-shard: $T/gz.tar: member b.jsonl.gz is compressed; nc does not read compressed members of archives"
}

@test "chat --show prints each token with its mask for humans" {
	printf '%s\n' '[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]' >"$T/one.jsonl"
	run nc-shard chat --show -t "$T/tok" "$T/one.jsonl"
	assert_success
	assert_line --index 0 --regexp '^[0-9]+ 0 <\|bos\|>$'
	assert_line --regexp '^[0-9]+ 1 <\|assistant_end\|>$'
}

@test "chat refuses each malformed conversation, naming file and line" {
	# bad.errors holds, line for line, why each conversation is refused
	n=$(wc -l <tests/fixtures/chat/bad.jsonl)
	[ "$n" -eq "$(wc -l <tests/fixtures/chat/bad.errors)" ]
	for i in $(seq 1 "$n"); do
		sed -n "${i}p" tests/fixtures/chat/bad.jsonl >"$T/bad1.jsonl"
		why=$(sed -n "${i}p" tests/fixtures/chat/bad.errors)
		run --separate-stderr nc-shard chat --ids -t "$T/tok" "$T/bad1.jsonl"
		assert_failure 1
		assert_output ''
		assert_equal "$stderr" "nc-shard: $T/bad1.jsonl:1: $why"
	done
}

# ---- real data set formats ----

# A FineWeb-Edu-shaped shard (text column, zstd, no dictionary, many row
# groups) and a SmolTalk-shaped one, written by pyarrow.
# Conversation streams of N rows each for mix: T/convN.jsonl.
make_convs() {
	for n in "$@"; do
		python3 -c 'import json, random, sys
n = int(sys.argv[1]); r = random.Random(n)
for i in range(n):
    words = " ".join(r.choice(["a", "bb", "ccc", "\u00e9t\u00e9"]) for _ in range(r.randint(1, 30)))
    print(json.dumps({"messages": [{"role": "user", "content": "%d/%d %s" % (n, i, words)},
                                   {"role": "assistant", "content": words[::-1]}]}, ensure_ascii=False))' "$n" >"$T/conv$n.jsonl"
	done
}

@test "mix lists conversations in nanochat's TaskMixture order; a file listed twice is oversampled" {
	make_convs 1500 700 2300
	set -- "$T/conv1500.jsonl" "$T/conv700.jsonl" "$T/conv2300.jsonl" "$T/conv700.jsonl"
	nc-shard mix -o "$T/mix.jsonl" "$@"
	python3 "$ORACLE/task_mixture.py" "$@" >"$T/want"
	cmp "$T/mix.jsonl" "$T/want"
	assert_equal "$(wc -l <"$T/mix.jsonl")" 5200
	# every row of the file listed twice is there twice, the others once
	assert_equal "$(grep -c '"700/' "$T/mix.jsonl")" 1400
	assert_equal "$(sort "$T/mix.jsonl" | uniq -d | wc -l)" 700
	# nothing left in order: the first 100 lines come from more than one file
	assert_equal "$(head -100 "$T/mix.jsonl" | grep -o '"content": "[0-9]*/' | sort -u | wc -l)" 3
}

@test "mix --seed=N shuffles with random.Random(N), to stdout" {
	make_convs 1500 700
	for seed in 0 1337 4294967301 18446744073709551615; do
		nc-shard mix --seed=$seed "$T/conv1500.jsonl" "$T/conv700.jsonl" >"$T/mix"
		python3 "$ORACLE/task_mixture.py" --seed=$seed "$T/conv1500.jsonl" "$T/conv700.jsonl" | cmp - "$T/mix"
	done
}

@test "mix writes each line back byte for byte: CRLF, no final newline, bytes that are not UTF-8" {
	printf '{"messages":1}\r\n{"x":"\377"}\n[]' >"$T/odd.jsonl"
	make_convs 700
	nc-shard mix "$T/odd.jsonl" "$T/conv700.jsonl" >"$T/mix"
	python3 "$ORACLE/task_mixture.py" "$T/odd.jsonl" "$T/conv700.jsonl" | cmp - "$T/mix"
	grep -q $'^{"messages":1}\r$' "$T/mix"
	grep -qx '\[\]' "$T/mix"
}

@test "mix equals nanochat's own TaskMixture (when NANOCHAT_DIR has tasks/common.py)" {
	[ -n "${NANOCHAT_DIR:-}" ] || skip "NANOCHAT_DIR is not set (a nanochat work tree, e.g. git archive 3a5e0bc of karpathy/nanochat)"
	[ -f "$NANOCHAT_DIR/tasks/common.py" ] || skip "NANOCHAT_DIR=$NANOCHAT_DIR has no tasks/common.py"
	make_convs 1500 700 2300
	set -- "$T/conv700.jsonl" "$T/conv1500.jsonl" "$T/conv700.jsonl" "$T/conv2300.jsonl"
	nc-shard mix "$@" >"$T/mix"
	python3 "$ORACLE/task_mixture.py" --nanochat "$NANOCHAT_DIR" "$@" | cmp - "$T/mix"
}

@test "bad input to mix: an empty line, a missing or a compressed file is named, and -o is left as it was" {
	make_convs 700
	printf '{"messages":[]}\n{"messages":[]}\n \r\n{"messages":[]}\n' >"$T/blank.jsonl"
	echo keep >"$T/out"
	run --separate-stderr nc-shard mix -o "$T/out" "$T/conv700.jsonl" "$T/blank.jsonl"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-shard: $T/blank.jsonl:3: an empty line, where a conversation was expected"
	printf 'a\n\n' >"$T/blank2.jsonl"
	run --separate-stderr nc-shard mix -o "$T/out" "$T/blank2.jsonl"
	assert_equal "$stderr" "nc-shard: $T/blank2.jsonl:2: an empty line, where a conversation was expected"
	run --separate-stderr nc-shard mix -o "$T/out" "$T/conv700.jsonl" "$T/nope.jsonl"
	assert_failure 1
	assert_equal "$stderr" "nc-shard: $T/nope.jsonl: No such file or directory"
	gzip -c "$T/conv700.jsonl" >"$T/conv700.jsonl.gz"
	run --separate-stderr nc-shard mix -o "$T/out" "$T/conv700.jsonl.gz"
	assert_failure 1
	assert_equal "$stderr" "nc-shard: $T/conv700.jsonl.gz: a gzip file; mix reads conversation streams (JSONL) as plain lines"
	assert_equal "$(cat "$T/out")" keep
	[ -z "$(ls "$T" | grep 'out\.tmp')" ]
}

make_parquet_sets() {
	"$PY" - "$T" <<'PY'
import json, random, sys
import pyarrow as pa, pyarrow.parquet as pq
d = sys.argv[1]
docs = [json.loads(l)["text"] for l in open(d + "/a.jsonl", encoding="utf-8")]
pq.write_table(pa.table({"text": docs}), d + "/fw.parquet", row_group_size=37,
               use_dictionary=False, compression="zstd", write_statistics=False)
with open(d + "/fw.want", "w", encoding="utf-8") as f:
    for t in pq.read_table(d + "/fw.parquet").column("text").to_pylist():
        f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
r = random.Random(7)
convs = []
for i in range(60):
    msgs = []
    if i % 5 == 0:
        msgs.append({"content": "You are terse.", "role": "system"})
    for k in range(r.randint(1, 3)):
        msgs.append({"content": r.choice(docs)[:200], "role": "user"})
        msgs.append({"content": r.choice(docs)[:300], "role": "assistant"})
    convs.append(msgs)
pq.write_table(pa.table({"messages": convs}), d + "/st.parquet", row_group_size=16, compression="snappy")
with open(d + "/st.jsonl", "w", encoding="utf-8") as f:
    for m in pq.read_table(d + "/st.parquet").column("messages").to_pylist():
        f.write(json.dumps({"messages": m}, ensure_ascii=False) + "\n")
PY
}

@test "docs reads a FineWeb-shaped parquet shard as pyarrow does, row for row" {
	need_oracle
	make_parquet_sets
	nc-shard docs "$T/fw.parquet" >"$T/fw.got"
	"$PY" -c 'import json,sys
a=[json.loads(l)["text"] for l in open(sys.argv[1],encoding="utf-8")]
b=[json.loads(l)["text"] for l in open(sys.argv[2],encoding="utf-8")]
sys.exit(0 if a==b else 1)' "$T/fw.got" "$T/fw.want"
}

@test "a parquet shard inside a tar or zip reads like the file itself" {
	need_oracle
	make_parquet_sets
	(cd "$T" && tar cf fw.tar fw.parquet && rm -f fw.zip && python3 -m zipfile -c fw.zip fw.parquet)
	nc-shard docs "$T/fw.parquet" >"$T/plain.out"
	nc-shard docs "$T/fw.tar" | cmp - "$T/plain.out"
	nc-shard docs "$T/fw.zip" | cmp - "$T/plain.out"
}

@test "tokens from parquet equal tokens from the same documents as JSONL" {
	need_oracle
	make_parquet_sets
	nc-shard tokens --quiet -t "$T/tok" -o "$T/pq" --val-docs=3 "$T/fw.parquet" >/dev/null
	nc-shard tokens --quiet -t "$T/tok" -o "$T/js" --val-docs=3 "$T/a.jsonl" >/dev/null
	for f in "$T"/js/*.bin; do cmp "$f" "$T/pq/$(basename "$f")"; done
}

@test "chat renders SmolTalk-shaped parquet conversations as nanochat does" {
	need_oracle
	make_parquet_sets
	chat_oracle "$T/tok.ranks" "$T/st.jsonl" >"$T/want"
	nc-shard chat --ids -t "$T/tok" "$T/st.parquet" >"$T/got"
	run "$PY" "$ORACLE/chat_compare.py" "$T/got" "$T/want"
	assert_success
}

@test "CSV records read with RFC 4180 quoting, columns by number" {
	printf 'q1,"a, b","say ""hi""",x\r\n"multi\nline",2,3,4\n' >"$T/m.csv"
	run nc-shard docs --column=1 "$T/m.csv"
	assert_output '{"text":"a, b"}
{"text":"2"}'
	run nc-shard docs --column=0 "$T/m.csv"
	assert_line --index 1 '{"text":"multi\nline"}'
}

@test "bad input: a null text names the parquet row; a broken CSV quote names the line" {
	run --separate-stderr nc-shard docs tests/fixtures/parquet/fineweb_zstd_v1_plain.parquet
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-shard: tests/fixtures/parquet/fineweb_zstd_v1_plain.parquet: row 3: no \"text\" string in this record"
	printf 'a,b\n"open,c\n' >"$T/broken.csv"
	run --separate-stderr nc-shard docs --column=0 "$T/broken.csv"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-shard: $T/broken.csv:2: a quoted field is not closed before the end of the file"
}

@test "bad input: a truncated parquet file, a missing column and a missing zip member are errors" {
	# (the file has 1928 bytes: cut it well inside)
	head -c 1000 tests/fixtures/parquet/gsm8k_zstd_v1_plain.parquet >"$T/cut.parquet"
	run --separate-stderr nc-shard docs --column=question "$T/cut.parquet"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-shard: $T/cut.parquet: truncated parquet file (no PAR1 magic at the end, 1000 bytes)"
	run --separate-stderr nc-shard docs --column=nope tests/fixtures/parquet/gsm8k_zstd_v1_plain.parquet
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" 'nc-shard: tests/fixtures/parquet/gsm8k_zstd_v1_plain.parquet: no field "nope" (fields: question, answer)'
	run --separate-stderr nc-shard docs "$T/no-such.zip"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-shard: $T/no-such.zip: No such file or directory"
	(cd "$T" && printf '{"text":"in a zip"}\n' >m1.jsonl && rm -f two.zip && python3 -m zipfile -c two.zip m1.jsonl a.jsonl)
	run nc-shard docs "$T/two.zip#m1.jsonl"
	assert_success
	assert_output '{"text":"in a zip"}'
	run --separate-stderr nc-shard docs "$T/two.zip#missing.jsonl"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-shard: $T/two.zip: no member missing.jsonl"
}

@test "bad input: an unsupported parquet encoding or codec is named" {
	run --separate-stderr nc-shard docs tests/fixtures/parquet-unsupported/delta-encoding.parquet
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-shard: tests/fixtures/parquet-unsupported/delta-encoding.parquet: row group 0: column text: page at byte 4: unsupported encoding DELTA_LENGTH_BYTE_ARRAY (6)"
	run --separate-stderr nc-shard docs tests/fixtures/parquet-unsupported/lz4-codec.parquet
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-shard: tests/fixtures/parquet-unsupported/lz4-codec.parquet: row group 0: column text: page at byte 4: unsupported codec LZ4_RAW (7)"
}

# ---- tasks: data sets as conversation streams ----

TASKS=tests/fixtures/tasks

# run_case NAME TASK OPTIONS FILES: nc-shard task on the fixture files
# (OPTIONS "-": none).
run_case() {
	local opts=() files=()
	[ "$3" = - ] || read -ra opts <<<"$3"
	for f in $4; do files+=("$TASKS/$f"); done
	nc-shard task "$2" "${opts[@]}" "${files[@]}"
}

@test "task turns real MMLU, ARC, GSM8K, identity and SmolTalk rows, and a word list, into nanochat's conversations, rendered as nanochat renders them" {
	# golden/: nanochat's own task code and render_conversation on the same
	# rows (tests/oracle/nanochat_tasks_ref.py)
	nc-bpe import -o "$T/t600" tests/fixtures/bpe/train-600.ranks
	n=0
	while IFS=$'\t' read -r name task opts files; do
		[[ $name = \#* ]] && continue
		run_case "$name" "$task" "$opts" "$files" >"$T/$name.jsonl"
		cmp "$T/$name.jsonl" "$TASKS/golden/$name.jsonl"
		nc-shard chat --ids -t "$T/t600" "$T/$name.jsonl" >"$T/$name.ids"
		cmp "$T/$name.ids" "$TASKS/golden/$name.ids"
		n=$((n + 1))
	done <"$TASKS/cases"
	[ "$n" -eq 15 ]
}

@test "task lists rows in HF's shuffle order: numpy.random.default_rng(seed).permutation over all files, then the slice" {
	need_oracle
	"$PY" -c '
import json, sys
for k in range(3):
    with open(sys.argv[1] + "/g%d.jsonl" % k, "w") as f:
        for i in range(k * 1500, (k + 1) * 1500):
            f.write(json.dumps({"question": "q%d" % i, "answer": "a %d" % i}) + "\n")' "$T"
	g=("$T/g0.jsonl" "$T/g1.jsonl" "$T/g2.jsonl")
	order() {
		"$PY" -c 'import json, sys
for line in sys.stdin: print(json.loads(line)["messages"][0]["content"][1:])'
	}
	numpy() {
		"$PY" -c 'import numpy as np, sys
seed, start, stop, step = (int(a) for a in sys.argv[1:])
p = np.random.default_rng(seed).permutation(4500)
print("\n".join(str(i) for i in p[start:stop:step]))' "$@"
	}
	nc-shard task gsm8k "${g[@]}" | order >"$T/got"
	numpy 42 0 4500 1 >"$T/want"
	cmp "$T/got" "$T/want"
	# one thread or many: the same bytes
	cmp <(nc-shard task gsm8k --threads=1 "${g[@]}") <(nc-shard task gsm8k --threads=3 "${g[@]}")
	nc-shard task gsm8k --seed=5 --start=10 --stop=4000 --step=7 "${g[@]}" | order >"$T/got"
	numpy 5 10 4000 7 >"$T/want"
	cmp "$T/got" "$T/want"
	# --no-shuffle: the files' order; a stop past the end is the end
	nc-shard task gsm8k --no-shuffle --start=4490 --stop=9000 "${g[@]}" | order >"$T/got"
	[ "$(tr '\n' ' ' <"$T/got")" = "4490 4491 4492 4493 4494 4495 4496 4497 4498 4499 " ]
}

@test "task identity keeps the file's order unless asked to shuffle, as CustomJSON does" {
	need_oracle
	nc-shard task identity "$TASKS/identity.jsonl" >"$T/id.jsonl"
	"$PY" -c 'import json, sys
a = [json.loads(l)["messages"] for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
sys.exit(a != b)' "$T/id.jsonl" "$TASKS/identity.jsonl"
}

@test "task reads MMLU's CSVs from a tar or zip archive, the subject from each member's name" {
	(cd "$TASKS" && tar -cf "$T/mmlu.tar" abstract_algebra_dev.csv college_physics_dev.csv world_religions_dev.csv)
	nc-shard task mmlu "$T/mmlu.tar" | cmp - "$TASKS/golden/mmlu-csv.jsonl"
	(cd "$TASKS" && rm -f "$T/mmlu.zip" && python3 -m zipfile -c "$T/mmlu.zip" world_religions_dev.csv)
	run nc-shard task mmlu --no-shuffle --stop=1 "$T/mmlu.zip#world_religions_dev.csv"
	assert_success
	assert_output --partial '"subject":"world_religions"'
	# standard input has no name: no subject
	run nc-shard task mmlu --format=csv --stop=1 - <"$TASKS/world_religions_dev.csv"
	assert_success
	assert_output --partial '"subject":"","letters"'
}

@test "task refuses each bad row, naming file and line, and writes nothing" {
	n=0
	while IFS=$'\t' read -r task row why; do
		[[ $task = \#* ]] && continue
		printf '%s\n' "$row" >"$T/bad.jsonl"
		run --separate-stderr nc-shard task "$task" "$T/bad.jsonl"
		assert_failure 1
		assert_output ''
		assert_equal "$stderr" "nc-shard: $T/bad.jsonl:1: $why"
		n=$((n + 1))
	done <"$TASKS/bad.tsv"
	[ "$n" -ge 30 ]
	# the first bad row in input order is named; -o FILE is left as it was
	{ head -3 "$TASKS/gsm8k_train.jsonl"; echo '{"question":"q"}'; echo '{"answer":"a"}'; } >"$T/bad.jsonl"
	echo kept >"$T/out.jsonl"
	run --separate-stderr nc-shard task gsm8k -o "$T/out.jsonl" "$T/bad.jsonl"
	assert_failure 1
	assert_equal "$stderr" "nc-shard: $T/bad.jsonl:4: no \"answer\" field"
	[ "$(cat "$T/out.jsonl")" = kept ]
	run --separate-stderr nc-shard task gsm8k -o "$T/new.jsonl" "$T/bad.jsonl"
	assert_failure 1
	[ ! -e "$T/new.jsonl" ]
	# what the reader refuses: malformed JSON, text where rows were expected
	printf '{"question":"q","answer":"a"}\n{"question": oops}\n' >"$T/mal.jsonl"
	run --separate-stderr nc-shard task gsm8k "$T/mal.jsonl"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-shard: $T/mal.jsonl:2: malformed JSON at column 17: invalid token near 'oops'"
	printf 'plain text\n' >"$T/plain.txt"
	run --separate-stderr nc-shard task gsm8k "$T/plain.txt"
	assert_failure 1
	assert_equal "$stderr" "nc-shard: $T/plain.txt: plain text where JSON records were expected"
}

@test "task refuses bad MMLU CSV records and mistyped Parquet columns, naming file and row" {
	printf 'q,a,b,c,d,B\n"q, two",a,b,c,d,E\n' >"$T/bad_dev.csv"
	run --separate-stderr nc-shard task mmlu "$T/bad_dev.csv"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-shard: $T/bad_dev.csv:2: MMLU answer \"E\" is not A, B, C or D"
	printf 'q,a,b,c,d,A\nq,a,b,c,D\n' >"$T/short_dev.csv"
	run --separate-stderr nc-shard task mmlu "$T/short_dev.csv"
	assert_failure 1
	assert_equal "$stderr" "nc-shard: $T/short_dev.csv:2: an MMLU CSV record has 6 fields (question, A, B, C, D, answer), this has 5"
	need_oracle
	"$PY" -c 'import sys, pyarrow as pa, pyarrow.parquet as pq
rows = [{"question": "q%d" % i, "subject": "s", "choices": ["a", "b", "c", "d"], "answer": "ABCD"[i % 4]} for i in range(3)]
pq.write_table(pa.Table.from_pylist(rows), sys.argv[1])' "$T/str_answer.parquet"
	run --separate-stderr nc-shard task mmlu "$T/str_answer.parquet"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-shard: $T/str_answer.parquet: row 1: \"answer\" is a string, not an integer"
}

@test "task: usage errors" {
	names="smoltalk, mmlu, arc, gsm8k, identity, spellingbee, simplespelling"
	usage_error "task: a task name is required ($names)" nc-shard task
	usage_error "task: 'mmlu2' is not a task ($names)" nc-shard task mmlu2 x.csv
	usage_error "task: spellingbee reads one word list" nc-shard task spellingbee a.txt b.txt
	usage_error "task: simplespelling reads one word list" nc-shard task simplespelling
	usage_error "task: spellingbee is generated in nanochat's order; --shuffle does not apply" \
		nc-shard task spellingbee --shuffle words.txt
	usage_error "--split: 'val' is not train or test" nc-shard task spellingbee --split=val words.txt
	usage_error "task: --stop=3 is below --start=5" nc-shard task mmlu --start=5 --stop=3 x.csv
	usage_error "--step: 0 is out of range [1, 18446744073709551614]" nc-shard task mmlu --step=0 x.csv
	run --separate-stderr nc-shard task gsm8k --start=30 "$TASKS/gsm8k_train.jsonl"
	assert_failure 1
	assert_equal "$stderr" "nc-shard: --start=30 selects none of the 30 rows"
}

@test "a JSON file holding one pretty-printed array is read as its elements, one record each" {
	printf '[\n  {"text": "one"},\n  {"text": "two\\n"}\n]\n' >"$T/arr.json"
	run nc-shard docs "$T/arr.json"
	assert_success
	assert_output '{"text":"one"}
{"text":"two\n"}'
	# in an archive too; an element without the field is named by its row
	printf '[\n{"text": "a"},\n{"txt": "b"}\n]\n' >"$T/arr2.json"
	tar -cf "$T/arr.tar" -C "$T" arr.json arr2.json
	run --separate-stderr nc-shard docs "$T/arr.tar"
	assert_failure 1
	assert_equal "$stderr" "nc-shard: $T/arr.tar:arr2.json: row 2: no \"text\" string in this record"
	printf '[\n {"text": "a"},\n {"text": "b" "c"}\n]\n' >"$T/bad.json"
	run --separate-stderr nc-shard docs "$T/bad.json"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-shard: $T/bad.json:3: malformed JSON at column 17: '}' expected near '\"c\"'"
	# a line holding a whole array is still one record (nanochat's identity lines)
	run nc-shard task identity --stop=1 "$TASKS/identity.jsonl"
	assert_success
}

@test "task reads the real ARC-Easy train export (a JSON array) and GSM8K train whole" {
	d=$ROOT/../shared/data/eval-samples
	[ -d "$d" ] || skip "no real data samples beside the checkout"
	need_oracle
	"$PY" -c 'import json, sys
for r in json.load(open(sys.argv[1])): print(json.dumps(r))' "$d/arc/arc_easy_train.hf.json" >"$T/arc.jsonl"
	nc-shard task arc "$d/arc/arc_easy_train.hf.json" >"$T/arc1"
	nc-shard task arc "$T/arc.jsonl" | cmp - "$T/arc1"
	[ "$(wc -l <"$T/arc1")" -eq 2251 ]
	# every conversation renders (the goldens check rendering on fixture rows)
	nc-bpe import -o "$T/t600" tests/fixtures/bpe/train-600.ranks
	nc-shard chat -t "$T/t600" -o "$T/arc.bin" "$T/arc1" 2>/dev/null
	nc-shard task gsm8k "$d/gsm8k/train.jsonl" | nc-shard chat -t "$T/t600" -o "$T/gsm.bin" 2>/dev/null
	run nc-shard info "$T/gsm.bin"
	assert_output --partial "mask=yes"
	nc-shard task mmlu "$d"/mmlu/dev/*.csv | nc-shard chat --quiet -t "$T/t600" -o "$T/mmlu.bin"
	[ "$(nc-shard task mmlu "$d"/mmlu/dev/*.csv | wc -l)" -eq 285 ]
}

@test "task spellingbee and simplespelling make nanochat's examples 0..size-1 of either split" {
	# the goldens of tests/fixtures/spelling come from nanochat's spellingbee.py
	w=tests/fixtures/spelling/words.txt
	nc-shard task spellingbee --size=3000 "$w" | cmp - <(gzip -dc tests/fixtures/spelling/bee_train.jsonl.gz)
	nc-shard task spellingbee --split=test --size=1000 "$w" |
		cmp - <(gzip -dc tests/fixtures/spelling/bee_test.jsonl.gz)
	nc-shard task simplespelling --size=3000 "$w" | cmp - <(gzip -dc tests/fixtures/spelling/simple_train.jsonl.gz)
	nc-shard task simplespelling --split=test --size=3000 --threads=1 "$w" |
		cmp - <(gzip -dc tests/fixtures/spelling/simple_test.jsonl.gz)
	# --size is nanochat's size: a slice past it stops there
	run nc-shard task simplespelling --size=5 --start=3 --stop=100 "$w"
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	# more examples than one chunk of work (4096), in order
	nc-shard task simplespelling --size=9000 --step=2 "$w" >"$T/s9"
	[ "$(wc -l <"$T/s9")" -eq 4500 ]
	nc-shard task simplespelling --size=9000 --start=8998 --stop=8999 "$w" | cmp - <(tail -1 "$T/s9")
}

@test "task refuses a word list with a non-ASCII word or an empty one, naming the file, and writes nothing" {
	printf 'apple\r\nna\xc3\xafve\r\npear\r\n' >"$T/words.txt"
	echo kept >"$T/out.jsonl"
	run --separate-stderr nc-shard task spellingbee -o "$T/out.jsonl" "$T/words.txt"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-shard: $T/words.txt:2: the word is not ASCII text"
	[ "$(cat "$T/out.jsonl")" = kept ]
	: >"$T/none.txt"
	run --separate-stderr nc-shard task simplespelling "$T/none.txt"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-shard: $T/none.txt: simple spelling: the word list is empty"
	run --separate-stderr nc-shard task spellingbee --size=5 --start=5 tests/fixtures/spelling/words.txt
	assert_failure 1
	assert_equal "$stderr" "nc-shard: --start=5 selects none of the 5 examples (--size)"
	run --separate-stderr nc-shard task spellingbee "$T/no-such.txt"
	assert_failure 1
	assert_equal "$stderr" "nc-shard: $T/no-such.txt: No such file or directory"
}

@test "nanochat's task code in NANOCHAT_DIR still makes the task goldens" {
	[ -n "${NANOCHAT_DIR:-}" ] || skip "NANOCHAT_DIR is not set (see tests/oracle/nanochat_tasks_ref.py)"
	for f in customjson spellingbee; do
		[ -f "$NANOCHAT_DIR/tasks/$f.py" ] || skip "NANOCHAT_DIR=$NANOCHAT_DIR has no tasks/$f.py"
	done
	need_oracle
	"$PY" "$ORACLE/nanochat_tasks_ref.py" --nanochat "$NANOCHAT_DIR" --out "$T/golden" >/dev/null
	diff -r "$T/golden" "$TASKS/golden"
}
