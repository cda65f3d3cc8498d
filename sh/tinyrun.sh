#!/bin/sh
# The nc pipeline shrunk to run on one CPU in a minute, with no network, on
# data embedded in this repository (its own documentation and sources).
# Today it covers the stages that exist: train a tokenizer, inspect it,
# cut the corpus into token shards with a validation split, render chat
# data with its loss mask, and pretrain a small model on the CPU. Later
# stages (finetuning, evaluation, sampling, the report) join as they land.
#
# usage: sh/tinyrun.sh [OUTDIR]     (default out/tiny)
set -eu
cd "$(dirname "$0")/.."
out=${1:-out/tiny}
vocab=${NC_TINY_VOCAB:-2048}
bin=build

make -s all
mkdir -p "$out"

echo "== corpus: this repository's text files, one document each"
# A document stream built with nothing but the shell: each file becomes one
# plain-text document inside a tar archive, which nc reads member by member.
files=$(printf "%s\n" lib/*.h lib/*.c cmd/*.c sh/*.sh tests/*.bats man/* README.md | grep -v unicode_tables)
# shellcheck disable=SC2086
tar cf "$out/corpus.tar" $files
echo "$(echo "$files" | wc -l) files, $(cat $files | wc -c) bytes"

echo "== tokenizer: nc-bpe train (vocabulary $vocab)"
$bin/nc-bpe train --format=text --doc-cap=1000000 --vocab-size="$vocab" -o "$out/tokenizer" "$out/corpus.tar"
$bin/nc-bpe info -t "$out/tokenizer" | head -1
$bin/nc-bpe stats -t "$out/tokenizer"

echo "== compression: bytes per token on a few of the files"
$bin/nc-bpe stats --markdown -t "$out/tokenizer" README.md lib/tokenizer.c man/nc-bpe.1

echo "== token shards: nc-shard tokens (BOS before each document, 4 held out for validation)"
rm -rf "$out/data"
$bin/nc-shard tokens --quiet --format=text --val-docs=4 --shard-tokens=40000 \
	-t "$out/tokenizer" -o "$out/data" "$out/corpus.tar"
$bin/nc-shard verify -t "$out/tokenizer" "$out"/data/*.bin

echo "== chat data: nc-shard chat (nanochat's rendering and loss mask)"
$bin/nc-shard chat -t "$out/tokenizer" -o "$out/chat.bin" tests/fixtures/chat/conversations.jsonl
$bin/nc-shard info "$out/chat.bin"
printf '%s\n' '{"question":"What is 6 times 7?","answer":"6*7 = <<6*7=42>>42\n#### 42"}' |
	$bin/nc-shard chat --show -t "$out/tokenizer" | awk '$2 == 1' | head -5

echo "== pretraining: nc-train base, a depth-2 model on the CPU"
rm -rf "$out/base"
$bin/nc-train base --quiet -t "$out/tokenizer" --data "$out/data" -o "$out/base" \
	--depth=2 --max-seq-len=128 --device-batch-size=8 --total-batch-size=1024 \
	--num-iterations="${NC_TINY_STEPS:-150}" --eval-every=50 --eval-tokens=8192 >"$out/base.log"
grep -E 'val_bpb|step=0 ' "$out/base.log"
tail -n 1 "$out/base.log"

echo "== round trip: decode(encode(README.md)) == README.md"
$bin/nc-bpe encode --format=text -t "$out/tokenizer" README.md |
	$bin/nc-bpe decode -t "$out/tokenizer" | cmp - README.md && echo "identical"

echo "== done: outputs in $out"
