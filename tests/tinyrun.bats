#!/usr/bin/env bats
# sh/tinyrun.sh, the README's pipeline command, shortened by its size
# knobs: it is run in three goes (stopped after the shards, killed during
# pretraining, then to the end), and every test below checks what those runs
# left: valid outputs at every stage, a model that learned, a whole report
# with plots, and no finished stage done twice.

load helper

setup_file() {
	export RUN=$BATS_FILE_TMPDIR/run
	export NC_RUN_DIR=$RUN NC_TINY_CORPUS_MB=1 NC_TINY_VOCAB=1024 NC_TINY_DEPTH=2 \
		NC_TINY_SEQ=64 NC_TINY_BATCH=8 NC_TINY_STEPS=80 NC_TINY_MID_ROWS=400 NC_TINY_SFT_ROWS=40
	cd "$BATS_TEST_DIRNAME/.."
	NC_TINY_UNTIL=shards sh/tinyrun.sh >"$BATS_FILE_TMPDIR/first.out" 2>&1
	stat -c '%i %Y' "$RUN/tokenizer" "$RUN"/data/*.bin >"$BATS_FILE_TMPDIR/stamps"
	# second go: its nc-train killed once pretraining has a whole
	# checkpoint (step_NNNNNN: a checkpoint is written as step_NNNNNN.tmp-*
	# and renamed whole), however long that takes; then the test waits
	# until that very process is gone
	sh/tinyrun.sh >"$BATS_FILE_TMPDIR/second.out" 2>&1 &
	pid=$!
	until ls -d "$RUN"/base/step_?????? >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || break    # the script ended first: it says why
		sleep 0.05
	done
	train=$(pgrep -P "$pid" -x nc-train || true)
	if [ -n "$train" ]; then
		kill -TERM "$train"
		while kill -0 "$train" 2>/dev/null; do sleep 0.05; done
	fi
	wait "$pid" || true
	ls -d "$RUN"/base/step_?????? >"$BATS_FILE_TMPDIR/killed_at" 2>/dev/null || true
	# third go: to the end, its output a log with a progress line a step
	NC_PROGRESS_INTERVAL=0 sh/tinyrun.sh >"$BATS_FILE_TMPDIR/third.out" 2>&1
}

setup() {
	cd "$ROOT"
}

@test "every stage left valid outputs: tokenizer, shards, checkpoint, samples, report" {
	nc-bpe info -t "$RUN/tokenizer" >/dev/null
	nc-shard verify -t "$RUN/tokenizer" "$RUN"/data/train_*.bin "$RUN"/data/val_*.bin >/dev/null
	[ -f "$RUN/base/step_000080/model.safetensors" ]
	[ -f "$RUN/base/step_000080/tokenizer" ]
	[ "$(wc -l <"$RUN/samples.jsonl")" -ge 5 ]
	jq -e '(.text | type) == "string" and .tokens > 0' "$RUN/samples.jsonl" >/dev/null
	[ -s "$RUN/report/report.md" ]
	for s in corpus tokenizer shards base chatdata mid sft sample report; do [ -e "$RUN/.done/$s" ]; done
	grep -q 'tinyrun: done' "$BATS_FILE_TMPDIR/third.out"
}

@test "the chat stages: spelling conversations from the corpus's words, then mid and sft checkpoints" {
	# 3/4 SimpleSpelling and 1/4 SpellingBee, mixed; every word a lowercase corpus word
	[ "$(wc -l <"$RUN/chat/mid-train.jsonl")" -eq 400 ]
	[ "$(grep -c '"Spell the word: ' "$RUN/chat/mid-train.jsonl")" -eq 300 ]
	[ "$(wc -l <"$RUN/chat/sft-train.jsonl")" -eq 40 ]
	! grep -vxq '[a-z]\{3,12\}' "$RUN/chat/words.txt"
	nc-shard verify -t "$RUN/tokenizer" "$RUN"/chat/*.bin >/dev/null
	# the mixture is nc-shard mix's order of the two task streams
	diff "$RUN/chat/mid-train.jsonl" <(nc-shard mix "$RUN/chat/mid-simple.jsonl" "$RUN/chat/mid-bee.jsonl")
	mid=$(ls -d "$RUN"/mid/step_* | tail -1)
	sft=$(ls -d "$RUN"/sft/step_* | tail -1)
	grep -aq '"stage":"mid"' "$mid/model.safetensors"
	grep -aq '"stage":"sft"' "$sft/model.safetensors"
	grep -q 'stage=mid event=done .* rows=400 ' "$RUN/mid.log"
	grep -q 'stage=sft event=done .* rows=40 ' "$RUN/sft.log"
	# midtraining learned the format: its loss fell by half
	first=$(grep -m1 ' loss=' "$RUN/mid.log" | sed 's/.* loss=\([0-9.]*\).*/\1/')
	last=$(grep 'event=done' "$RUN/mid.log" | tail -1 | sed 's/.* train_loss=\([0-9.]*\).*/\1/')
	echo "mid loss $first -> $last"
	awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a / 2) }'
}

@test "the chat model answers one chat prompt, and the script shows the answer" {
	last=$(tail -n 1 "$RUN/samples.jsonl")
	jq -e '(.prompt | startswith("Spell the word: ")) and (.text | type) == "string" and .tokens > 0' <<<"$last"
	grep -q '^the chat model (after SFT):$' "$BATS_FILE_TMPDIR/third.out"
	grep -q '^  user: Spell the word: ' "$BATS_FILE_TMPDIR/third.out"
	grep -q '^  assistant: ' "$BATS_FILE_TMPDIR/third.out"
}

@test "the model learned: final loss far below the first and below the unigram entropy" {
	first=$(grep -m1 ' loss=' "$RUN/base.log" | sed 's/.* loss=\([0-9.]*\).*/\1/')
	last=$(grep 'event=done' "$RUN/base.log" | tail -1 | sed 's/.* final_loss=\([0-9.]*\).*/\1/')
	# the entropy (nats) of the training tokens' own frequencies: what a
	# model that ignores context would reach at best
	unigram=$(python3 - "$RUN"/data/train_*.bin <<'EOF'
import collections, math, struct, sys
counts = collections.Counter()
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    width = struct.unpack_from("<I", data, 12)[0]
    body = data[64:len(data) - 32]
    fmt = "<%d%s" % (len(body) // width, "H" if width == 2 else "I")
    counts.update(struct.unpack(fmt, body))
n = sum(counts.values())
print(-sum(c / n * math.log(c / n) for c in counts.values()))
EOF
	)
	echo "loss $first -> $last, unigram entropy $unigram"
	awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 1.5) }'
	awk -v u="$unigram" -v b="$last" 'BEGIN { exit !(b < u) }'
}

@test "report.md has every section, and the summary table" {
	r=$RUN/report/report.md
	for h in "# nc training report" "## Environment" "## Tokenizer" "## Base model training" \
		"## Midtraining" "## Chat SFT" "## Samples" "## Summary"; do
		grep -q "^$h" "$r" || { echo "missing: $h"; false; }
	done
	grep -q '| Metric' "$r"
	grep -Eq 'Total wall clock time: [0-9]+h[0-9]+m' "$r"
	grep -q 'base-loss.svg' "$r"
	grep -q 'base-val-bpb.svg' "$r"
}

@test "each plot parses as XML and holds one point per logged step" {
	for kind in loss val-bpb; do
		svg=$RUN/report/base-$kind.svg
		if [ $kind = loss ]; then
			want=$(grep ' loss=' "$RUN/base.log" | sed 's/.* step=\([0-9]*\) .*/\1/' | sort -un | wc -l)
		else
			want=$(grep ' val_bpb=' "$RUN/base.log" | sed 's/.* step=\([0-9]*\) .*/\1/' | sort -un | wc -l)
		fi
		got=$(python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
lines = [e for e in root.iter() if e.tag.endswith("polyline")]
print(sum(len(l.get("points").split()) for l in lines))' "$svg")
		echo "$kind: $got points, $want steps"
		[ "$got" -eq "$want" ]
	done
}

@test "a stage that finished is not redone when the script runs again" {
	grep -q '== corpus: done already' "$BATS_FILE_TMPDIR/second.out"
	grep -q '== tokenizer: done already' "$BATS_FILE_TMPDIR/second.out"
	grep -q '== shards: done already' "$BATS_FILE_TMPDIR/third.out"
	diff "$BATS_FILE_TMPDIR/stamps" <(stat -c '%i %Y' "$RUN/tokenizer" "$RUN"/data/*.bin)
}

@test "pretraining killed midway resumes from its checkpoint" {
	[ -s "$BATS_FILE_TMPDIR/killed_at" ]
	[ -z "$(grep step_000080 "$BATS_FILE_TMPDIR/killed_at")" ]    # killed before the end
	grep -q 'resuming from' "$BATS_FILE_TMPDIR/third.out"
	# the first go's records, then the resumed ones, in one log
	[ "$(grep -c 'event=config' "$RUN/base.log")" -eq 2 ]
	grep -q 'step=79 loss=' "$RUN/base.log"
}

@test "with its output in a log, pretraining still shows progress, in plain lines" {
	out=$BATS_FILE_TMPDIR/third.out
	grep -qE '^nc-train: training: [0-9]+ steps \([0-9.]+%\)' "$out"
	grep -q '^nc-train: saved ' "$out"
	! grep -q $'\r' "$out"
}

@test "a run of finished stages does nothing again" {
	before=$(stat -c '%Y' "$RUN/report/report.md" "$RUN/samples.jsonl")
	run sh/tinyrun.sh
	assert_success
	for s in corpus tokenizer shards base chatdata mid sft sample report; do
		assert_line "== $s: done already"
	done
	[ "$before" = "$(stat -c '%Y' "$RUN/report/report.md" "$RUN/samples.jsonl")" ]
}

@test "bad settings are refused before anything runs" {
	NC_TINY_STEPS=abc run --separate-stderr sh/tinyrun.sh
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "tinyrun: NC_TINY_STEPS: 'abc' is not a whole number"
	NC_TINY_VOCAB=-5 run --separate-stderr sh/tinyrun.sh
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "tinyrun: NC_TINY_VOCAB: '-5' is not a whole number"
	NC_TINY_UNTIL=nothing run --separate-stderr sh/tinyrun.sh
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "tinyrun: NC_TINY_UNTIL: no stage 'nothing' (corpus, tokenizer, shards, base, chatdata, mid, sft, sample, report)"
}

@test "the files a user names make the corpus (JSONL and text here)" {
	gen_text --seed 3 --size 100000 --jsonl >"$BATS_TEST_TMPDIR/mine.jsonl"
	gen_text --seed 4 --size 50000 >"$BATS_TEST_TMPDIR/mine.txt"
	NC_RUN_DIR=$BATS_TEST_TMPDIR/own NC_TINY_UNTIL=shards NC_TINY_VOCAB=512 \
		run sh/tinyrun.sh "$BATS_TEST_TMPDIR/mine.jsonl" "$BATS_TEST_TMPDIR/mine.txt"
	assert_success
	[ "$(cat "$BATS_TEST_TMPDIR/own/corpus.files")" = "$BATS_TEST_TMPDIR/mine.jsonl
$BATS_TEST_TMPDIR/mine.txt" ]
	# every JSONL line is a document, and the text file one more
	docs=$(($(wc -l <"$BATS_TEST_TMPDIR/mine.jsonl") + 1))
	assert_output --partial "stage=shard docs=$docs "
	nc-shard verify -t "$BATS_TEST_TMPDIR/own/tokenizer" "$BATS_TEST_TMPDIR"/own/data/*.bin >/dev/null
	NC_RUN_DIR=$BATS_TEST_TMPDIR/bad run --separate-stderr sh/tinyrun.sh "$BATS_TEST_TMPDIR/nowhere.txt"
	assert_failure 1
	assert_output "tinyrun: run directory $BATS_TEST_TMPDIR/bad
== corpus"
	assert_equal "$stderr" "tinyrun: $BATS_TEST_TMPDIR/nowhere.txt: cannot read"
}
