#!/bin/sh
# sh/tinyrun.sh: nc's pipeline shrunk to run on a laptop's CPU in about ten
# minutes, with no network: gather a corpus, train a tokenizer, cut token
# shards, pretrain a small GPT, teach it to chat (midtraining and SFT on
# spelling conversations made from the corpus's words), sample from it,
# and write the report.
#
# usage: sh/tinyrun.sh [FILE...]
#
# The corpus is the FILEs (text, JSONL with a "text" field, parquet, CSV,
# or archives of them: anything nc-shard reads) or, without any, the manual
# pages on this machine rendered to plain text (this project's own docs
# and sources when there are none).
#
# Every stage reads and writes files under one run directory and leaves a
# stamp in RUN/.done when it has finished, so stopping the script (Ctrl-C,
# a crash, a reboot) and starting it again goes on where it stopped:
# finished stages are skipped, and pretraining resumes from its last
# checkpoint. Delete a stamp to redo that stage (and the ones after it);
# delete RUN to start over.
#
# Settings (environment):
#   NC_RUN_DIR           the run directory
#                        (default ${XDG_CACHE_HOME:-~/.cache}/nc/tinyrun)
#   NC_TINY_CORPUS_MB=8  megabytes of manual pages to gather
#   NC_TINY_VOCAB=4096   tokenizer vocabulary
#   NC_TINY_DEPTH=3      model depth (width 64 x depth)
#   NC_TINY_SEQ=256      context length
#   NC_TINY_BATCH=8      sequences per step
#   NC_TINY_STEPS=900    training steps
#   NC_TINY_MID_ROWS=3000  conversations of midtraining (3/4 SimpleSpelling,
#                        1/4 SpellingBee, as nc-shard task makes them)
#   NC_TINY_SFT_ROWS=400 conversations of SFT (half each; at least 16)
#   NC_TINY_UNTIL=STAGE  stop after this stage (corpus, tokenizer, shards,
#                        base, chatdata, mid, sft, sample, report)
#   NC_DEVICE=auto       where the model runs: auto (a GPU when there is
#                        one), cpu or cuda
#   NC_THREADS           CPU threads (default: all)
#   NC_BIN               the directory holding nc's tools (default: this
#                        checkout's build/, which is built first)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${NC_BIN:-$root/build}
run=${NC_RUN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nc/tinyrun}
corpus_mb=${NC_TINY_CORPUS_MB:-8}
vocab=${NC_TINY_VOCAB:-4096}
depth=${NC_TINY_DEPTH:-3}
seq=${NC_TINY_SEQ:-256}
batch=${NC_TINY_BATCH:-8}
steps=${NC_TINY_STEPS:-900}
mid_rows=${NC_TINY_MID_ROWS:-3000}
sft_rows=${NC_TINY_SFT_ROWS:-400}
until=${NC_TINY_UNTIL:-}
threads=${NC_THREADS:+--threads=$NC_THREADS}
device=--device=${NC_DEVICE:-auto}

die() {
	echo "tinyrun: $*" >&2
	exit 1
}

# (an empty one takes its default above)
for name in NC_TINY_CORPUS_MB NC_TINY_VOCAB NC_TINY_DEPTH NC_TINY_SEQ NC_TINY_BATCH NC_TINY_STEPS \
	NC_TINY_MID_ROWS NC_TINY_SFT_ROWS; do
	eval "v=\${$name:-}"
	case $v in *[!0-9]*) die "$name: '$v' is not a whole number" ;; esac
done
stages="corpus, tokenizer, shards, base, chatdata, mid, sft, sample, report"
case $until in '' | corpus | tokenizer | shards | base | chatdata | mid | sft | sample | report) ;;
*) die "NC_TINY_UNTIL: no stage '$until' ($stages)" ;;
esac
# (SFT takes 8 conversations a step, and its last step only evaluates)
[ "$mid_rows" -ge 4 ] && [ "$sft_rows" -ge 16 ] ||
	die "NC_TINY_MID_ROWS must be at least 4 and NC_TINY_SFT_ROWS at least 16"

[ -n "${NC_BIN:-}" ] || (cd "$root" && make -s all)
for t in nc-bpe nc-shard nc-train nc-sample nc-report; do
	[ -x "$bin/$t" ] || die "$bin/$t: no such program (NC_BIN)"
done
mkdir -p "$run/.done"
echo "tinyrun: run directory $run"

# stage NAME: 0 if NAME must run now, 1 if it is done already.
stage() {
	if [ -e "$run/.done/$1" ]; then
		echo "== $1: done already"
		return 1
	fi
	echo "== $1"
	return 0
}

# done_stage NAME: stamp NAME finished; stop here if NC_TINY_UNTIL says so.
done_stage() {
	: >"$run/.done/$1"
	if [ "$until" = "$1" ]; then
		echo "tinyrun: stopping after $1 (NC_TINY_UNTIL)"
		exit 0
	fi
}

# --- corpus: one plain-text document per manual page ---------------------
# Manual pages of the first sections, rendered by groff to UTF-8 text
# without formatting, until NC_TINY_CORPUS_MB is reached. They are taken in
# a shuffled but fixed order (shuf fed a constant byte stream), at most 10
# of a family (the name up to its first - _ or .), so that the hundreds of
# near-identical pages of one big tool's subcommands do not fill the
# corpus. The pages go into a tar archive, one member each: nc reads every
# member of an archive as one document.
render_man_pages() {
	dir=$1
	limit=$((corpus_mb * 1024 * 1024))
	total=0
	n=0
	yes nc-tinyrun | head -c 1048576 >"$dir/../order.seed"
	for f in $(find /usr/share/man/man1 /usr/share/man/man5 /usr/share/man/man7 /usr/share/man/man8 \
		-maxdepth 1 -type f -name '*.gz' 2>/dev/null | LC_ALL=C sort |
		shuf --random-source="$dir/../order.seed" |
		awk -F/ '{ n = $NF; sub(/[-_.].*/, "", n); if (++seen[n] <= 10) print }'); do
		name=$(basename "$f" .gz)
		zcat "$f" 2>/dev/null | groff -man -Tutf8 -P-cbou -rLL=78n 2>/dev/null >"$dir/$name.txt" || true
		size=$(wc -c <"$dir/$name.txt")
		if [ "$size" -lt 200 ]; then   # a .so link or a page groff could not read
			rm -f "$dir/$name.txt"
			continue
		fi
		total=$((total + size))
		n=$((n + 1))
		[ "$total" -lt "$limit" ] || break
	done
	echo "$n manual pages, $total bytes"
}

if stage corpus; then
	rm -rf "$run/corpus.tmp"
	mkdir -p "$run/corpus.tmp/docs"
	if [ $# -gt 0 ]; then
		# the user's files, named by absolute path so later stages find them
		for f in "$@"; do
			[ -r "$f" ] || die "$f: cannot read"
			(cd "$(dirname "$f")" && printf '%s/%s\n' "$(pwd)" "$(basename "$f")")
		done >"$run/corpus.tmp/files"
	else
		if command -v groff >/dev/null 2>&1 && [ -d /usr/share/man/man1 ]; then
			render_man_pages "$run/corpus.tmp/docs"
		fi
		if [ -z "$(ls "$run/corpus.tmp/docs")" ]; then
			echo "no manual pages here: using nc's own documentation and sources"
			for f in README.md man/* lib/*.h lib/*.c cmd/*.c sh/*.sh; do
				case $f in lib/unicode_tables.c) continue ;; esac
				cp "$root/$f" "$run/corpus.tmp/docs/$(echo "$f" | tr / _).txt"
			done
		fi
		(cd "$run/corpus.tmp/docs" && ls | LC_ALL=C sort | tar cf ../corpus.tar -T -)
		echo "$run/corpus.tar" >"$run/corpus.tmp/files"
		mv "$run/corpus.tmp/corpus.tar" "$run/corpus.tar"
	fi
	mv "$run/corpus.tmp/files" "$run/corpus.files"
	rm -rf "$run/corpus.tmp"
	done_stage corpus
fi
# The corpus as operands (paths without newlines; spaces are fine).
set --
while IFS= read -r f; do set -- "$@" "$f"; done <"$run/corpus.files"

# --- tokenizer: nanochat's BPE, trained on the corpus --------------------
if stage tokenizer; then
	"$bin/nc-bpe" train --format=auto --doc-cap=10000 --vocab-size="$vocab" $threads \
		-o "$run/tokenizer" "$@" >"$run/tokenizer.log.tmp"
	"$bin/nc-bpe" stats -t "$run/tokenizer" >>"$run/tokenizer.log.tmp"
	"$bin/nc-bpe" stats -t "$run/tokenizer" "$root/README.md" "$root/man/nc.7" >>"$run/tokenizer.log.tmp"
	mv "$run/tokenizer.log.tmp" "$run/tokenizer.log"
	cat "$run/tokenizer.log"
	done_stage tokenizer
fi

# --- shards: every document tokenized, BOS first; a few held out --------
if stage shards; then
	"$bin/nc-shard" tokens --format=auto --val-docs=20 --shard-tokens=1000000 $threads \
		-t "$run/tokenizer" -o "$run/data" "$@"
	"$bin/nc-shard" verify -t "$run/tokenizer" "$run"/data/*.bin
	done_stage shards
fi

# --- base: pretraining, checkpointed as it goes and resumed if stopped ----
# Its metrics go to base.log; its progress to stderr, a line redrawn on a
# terminal, or a plain line every 10 s when this script's output is a log.
if stage base; then
	resume=
	if ls "$run"/base/step_* >/dev/null 2>&1; then
		resume=--resume
		echo "resuming from $(ls -d "$run"/base/step_* | tail -1)"
	fi
	"$bin/nc-train" base $device $threads $resume \
		-t "$run/tokenizer" --data "$run/data" -o "$run/base" \
		--depth="$depth" --max-seq-len="$seq" --device-batch-size="$batch" \
		--total-batch-size=$((batch * seq)) --num-iterations="$steps" \
		--warmdown-ratio=0.3 --eval-every=$((steps / 6 > 0 ? steps / 6 : 1)) \
		--eval-tokens=$((16 * batch * seq)) --save-every=$((steps / 10 > 0 ? steps / 10 : 1)) \
		>>"$run/base.log"
	grep -E 'val_bpb|event=done' "$run/base.log" | tail -3
	done_stage base
fi

# --- chatdata: conversations to teach the chat format, from the corpus ----
# nanochat's SimpleSpelling and SpellingBee tasks (nc-shard task) on the
# corpus's own lowercase words, mixed as nanochat's TaskMixture mixes
# (nc-shard mix) and rendered into chat shards (nc-shard chat), cut to the
# model's context. Validation rows come from the tasks' test split.
if stage chatdata; then
	c=$run/chat.tmp
	rm -rf "$c"
	mkdir -p "$c"
	"$bin/nc-shard" docs --format=auto "$@" | LC_ALL=C sed 's/\\[a-z]/ /g' |
		LC_ALL=C tr -cs 'A-Za-z' '\n' | LC_ALL=C grep -x '[a-z]\{3,12\}' | LC_ALL=C sort -u >"$c/words.txt"
	[ -s "$c/words.txt" ] || die "the corpus has no lowercase words to make conversations of"
	task() { # NAME SIZE SPLIT OUT
		"$bin/nc-shard" task "$1" --size="$2" --split="$3" -o "$4" "$c/words.txt"
	}
	task simplespelling $((mid_rows * 3 / 4)) train "$c/mid-simple.jsonl"
	task spellingbee $((mid_rows - mid_rows * 3 / 4)) train "$c/mid-bee.jsonl"
	task simplespelling $((mid_rows / 8 + 1)) test "$c/val-simple.jsonl"
	task spellingbee $((mid_rows / 24 + 1)) test "$c/val-bee.jsonl"
	task simplespelling $((sft_rows / 2)) train "$c/sft-simple.jsonl"
	task spellingbee $((sft_rows - sft_rows / 2)) train "$c/sft-bee.jsonl"
	"$bin/nc-shard" mix -o "$c/mid-train.jsonl" "$c/mid-simple.jsonl" "$c/mid-bee.jsonl"
	"$bin/nc-shard" mix -o "$c/val.jsonl" "$c/val-simple.jsonl" "$c/val-bee.jsonl"
	"$bin/nc-shard" mix -o "$c/sft-train.jsonl" "$c/sft-simple.jsonl" "$c/sft-bee.jsonl"
	for f in mid-train val sft-train; do
		"$bin/nc-shard" chat --quiet -t "$run/tokenizer" --max-tokens="$seq" -o "$c/$f.bin" "$c/$f.jsonl"
	done
	echo "$(wc -l <"$c/words.txt") words; conversations: $(wc -l <"$c/mid-train.jsonl") mid, $(wc -l <"$c/sft-train.jsonl") sft, $(wc -l <"$c/val.jsonl") validation"
	rm -rf "$run/chat"
	mv "$c" "$run/chat"
	done_stage chatdata
fi

# resume_flag DIR: --resume when DIR holds a checkpoint of an earlier go.
resume_flag() {
	if ls "$1"/step_* >/dev/null 2>&1; then
		echo "resuming from $(ls -d "$1"/step_* | tail -1)" >&2
		echo --resume
	fi
}

# --- mid: midtraining, one epoch of the mixture, from the base model -----
if stage mid; then
	"$bin/nc-train" mid $device $threads $(resume_flag "$run/mid") \
		-t "$run/tokenizer" --from="$run/base" -o "$run/mid" \
		--train="$run/chat/mid-train.bin" --val="$run/chat/val.bin" \
		--max-seq-len="$seq" --device-batch-size="$batch" --total-batch-size=$((batch * seq)) \
		--eval-every=50 --eval-tokens=$((16 * batch * seq)) --save-every=50 >>"$run/mid.log"
	grep -E 'val_bpb|event=done' "$run/mid.log" | tail -2
	done_stage mid
fi

# --- sft: supervised finetuning, one conversation a row -------------------
if stage sft; then
	"$bin/nc-train" sft $device $threads $(resume_flag "$run/sft") \
		-t "$run/tokenizer" --from="$run/mid" -o "$run/sft" \
		--train="$run/chat/sft-train.bin" --val="$run/chat/val.bin" \
		--device-batch-size=4 --target-examples-per-step=8 --eval-every=25 --eval-steps=10 \
		--save-every=25 >>"$run/sft.log"
	grep -E 'val_loss|event=done' "$run/sft.log" | tail -2
	done_stage sft
fi

# --- sample: what the models say: the base model greedy and sampled, and
# the chat model's answer to a question of its training kind -------------
if stage sample; then
	word=$(sed -n '1s/.*"Spell the word: \([a-z]*\)".*/\1/p' "$run/chat/sft-simple.jsonl")
	printf '%s\n' "The" "NAME" "DESCRIPTION" "The following options" "This program" >"$run/prompts.txt"
	{
		"$bin/nc-sample" -m "$run/base" $device $threads -n 48 -T 0 --json "$run/prompts.txt"
		"$bin/nc-sample" -m "$run/base" $device $threads -n 48 -T 0.8 -k 50 --samples 2 \
			--json -p "The"
		"$bin/nc-sample" -m "$run/sft" $device $threads -n 48 -T 0 --chat --json \
			-p "Spell the word: ${word:-the}"
	} >"$run/samples.jsonl.tmp"
	mv "$run/samples.jsonl.tmp" "$run/samples.jsonl"
	done_stage sample
fi

# --- report: report.md and its plots -------------------------------------
if stage report; then
	"$bin/nc-report" -o "$run/report" --source "$root" \
		"$run/tokenizer.log" "$run/base.log" "$run/mid.log" "$run/sft.log" "$run/samples.jsonl"
	done_stage report
fi

echo
sed -n '/^## Summary/,$p' "$run/report/report.md"
echo
echo "samples (greedy):"
sed -n 's/.*"prompt":"\([^"]*\)".*"text":"\([^"]*\)".*/  \1|\2/p' "$run/samples.jsonl" | head -5 |
	sed 's/|/ ->/; s/\\n/ /g' | cut -c1-100
echo
echo "the chat model (after SFT):"
tail -n 1 "$run/samples.jsonl" | sed -n 's/.*"prompt":"\([^"]*\)".*"text":"\([^"]*\)".*/  user: \1|  assistant: \2/p' |
	tr '|' '\n' | cut -c1-100
echo
echo "tinyrun: done. The report: $run/report/report.md"
echo "Talk to the chat model: $bin/nc-chat -m $run/sft"
