#!/usr/bin/env bats
# nc-sample: sampling from a checkpoint nc-train wrote; determinism and
# seeds; prompts from -p, lines and JSONL; token streams in pipelines; chat
# wrapping; clear errors for bad checkpoints, tokenizers, options, prompts.

load helper

setup_file() {
	export T=$BATS_FILE_TMPDIR
	tiny_data 31 300000 10
	build/nc-train base --quiet -t "$T/tok" --data "$T/data" -o "$T/run" --depth=1 --max-seq-len=64 \
		--device-batch-size=4 --total-batch-size=256 --num-iterations=30 --eval-every=0 >/dev/null
	export CK=$T/run/step_000030
}

setup() {
	cd "$ROOT"
}

@test "a prompt gets a continuation; greedy output is the same every time" {
	run nc-sample -m "$CK" -p "The" -n 20 -T 0
	assert_success
	[ -n "$output" ]
	first=$output
	run nc-sample -m "$CK" -p "The" -n 20 -T 0
	[ "$output" = "$first" ]
}

@test "a run directory stands for its latest checkpoint" {
	diff <(nc-sample -m "$T/run" -p "The" -n 20 -T 0) <(nc-sample -m "$CK" -p "The" -n 20 -T 0)
}

@test "the same seed gives the same samples; sample i of a prompt is the run with seed + i" {
	nc-sample -m "$CK" -p "A" -n 30 -s 7 --samples 3 --json >"$T/three.jsonl"
	nc-sample -m "$CK" -p "A" -n 30 -s 7 --samples 3 --json | cmp - "$T/three.jsonl"
	for i in 0 1 2; do
		one=$(nc-sample -m "$CK" -p "A" -n 30 -s $((7 + i)) --json | jq -r .text)
		many=$(jq -r "select(.sample == $i) | .text" "$T/three.jsonl")
		[ "$one" = "$many" ]
	done
	# and the samples differ from one another
	[ "$(jq -r .text "$T/three.jsonl" | sort -u | wc -l)" -gt 1 ]
}

@test "--json: one object per sample with prompt, sample, text, tokens and finish" {
	run nc-sample -m "$CK" -p "A b" -n 5 --samples 2 --json
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	echo "${lines[1]}" | jq -e '.prompt == "A b" and .sample == 1 and (.text | type) == "string" and .tokens <= 5 and (.finish == "length" or .finish == "stop")'
}

@test "prompts from stdin: one per line, or JSONL with a prompt field" {
	printf 'The\n{"prompt": "The"}\n\nA\n' | nc-sample -m "$CK" -n 8 -T 0 --json >"$T/lines.jsonl"
	[ "$(wc -l <"$T/lines.jsonl")" -eq 3 ]
	[ "$(sed -n 1p "$T/lines.jsonl" | jq -r .text)" = "$(sed -n 2p "$T/lines.jsonl" | jq -r .text)" ]
	[ "$(sed -n 3p "$T/lines.jsonl" | jq -r .prompt)" = "A" ]
}

@test "--tokens reads and writes id lines: nc-bpe encode | nc-sample | nc-bpe decode is the text mode" {
	text=$(nc-sample -m "$CK" -p "The" -n 20 -T 0)
	# the text mode writes whole characters only (an unfinished one at the
	# end becomes U+FFFD), as Python decodes with errors="replace"
	piped=$(echo "The" | nc-bpe encode --ids --bos --format=lines -t "$T/tok" |
		nc-sample -m "$CK" --tokens -n 20 -T 0 | nc-bpe decode --ids -t "$T/tok" |
		python3 -c 'import sys; sys.stdout.write(sys.stdin.buffer.read().decode("utf-8", "replace"))')
	[ "$text" = "$piped" ]
	run nc-sample -m "$CK" --tokens -n 4 -T 0 <<<"1 2 3"
	assert_success
	[[ "$output" =~ ^[0-9]+( [0-9]+){0,3}$ ]]
}

@test "--chat wraps the prompt as a user turn and samples the assistant's reply" {
	ids=$(echo "hello" | nc-bpe encode --ids --format=lines -t "$T/tok")
	run nc-sample -m "$CK" --chat --echo --tokens -n 3 -T 0 <<<"$ids"
	assert_success
	# <|bos|> <|user_start|> hello <|user_end|> <|assistant_start|>, then the reply
	out=$(echo "$output" | nc-bpe decode --ids -t "$T/tok")
	[[ "$out" == "<|bos|><|user_start|>hello<|user_end|><|assistant_start|>"* ]]
	run nc-sample -m "$CK" --chat --echo -p "hello" -n 3 -T 0
	[[ "$output" == "<|bos|><|user_start|>hello<|user_end|><|assistant_start|>"* ]]
}

@test "--chat takes a JSONL conversation and samples the reply to its last user turn" {
	conv='{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"bye"}]}'
	run nc-sample -m "$CK" --chat --echo -n 2 -T 0 <<<"$conv"
	assert_success
	[[ "$output" == "<|bos|><|user_start|>hi<|user_end|><|assistant_start|>hello<|assistant_end|><|user_start|>bye<|user_end|><|assistant_start|>"* ]]
	# a system message is merged into the first user turn, as nanochat does
	run nc-sample -m "$CK" --chat --echo -n 1 -T 0 <<<'{"messages":[{"role":"system","content":"S"},{"role":"user","content":"U"}]}'
	[[ "$output" == "<|bos|><|user_start|>S"$'\n\n'"U<|user_end|><|assistant_start|>"* ]]
	# without --chat a conversation is not a prompt
	run --separate-stderr nc-sample -m "$CK" -n 2 <<<"$conv"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" 'nc-sample: (stdin):1: a JSON prompt needs a "prompt" string'
}

@test "-n bounds the tokens of every sample" {
	nc-sample -m "$CK" -p "The" -n 7 --samples 4 --json | jq -e '.tokens <= 7' >/dev/null
	run nc-sample -m "$CK" -p "The" -n 0 --json
	assert_success
	echo "$output" | jq -e '.tokens == 0 and .text == ""'
}

@test "a prompt longer than the context is refused, or cut with --truncate" {
	long=$(printf 'word %.0s' $(seq 200))
	# its tokens and BOS, as nc-bpe counts them
	n=$(printf '%s' "$long" | nc-bpe encode --ids --bos --format=text -t "$CK/tokenizer" | wc -w)
	run --separate-stderr nc-sample -m "$CK" -p "$long" -n 4
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-sample: -p: the prompt is $n tokens, the model's context 64 (--truncate keeps its last 63)"
	run --separate-stderr nc-sample -m "$CK" -p "$long" -n 4 --truncate -T 0
	assert_success
	[ -n "$output" ]
	assert_equal "$stderr" "nc-sample: -p: prompt of $n tokens cut to its last 63"
}

@test "a missing checkpoint is an error naming it" {
	run --separate-stderr nc-sample -m "$T/nowhere" -p x
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-sample: $T/nowhere: not a checkpoint (no model.safetensors) nor a run directory with one"
}

@test "a truncated checkpoint is an error naming its file" {
	mkdir -p "$T/bad"
	cp "$CK/tokenizer" "$T/bad/"
	head -c 1000 "$CK/model.safetensors" >"$T/bad/model.safetensors"
	run --separate-stderr nc-sample -m "$T/bad" -p x
	assert_failure 1
	assert_output ''
	assert_regex "$stderr" "^nc-sample: $T/bad/model.safetensors: truncated: header of [0-9]+ bytes but only 992 follow\$"
}

@test "a tokenizer other than the checkpoint's is refused by its fingerprint" {
	build/nc-bpe train --quiet --vocab-size=300 -o "$T/other" "$T/docs.jsonl" >/dev/null
	run --separate-stderr nc-sample -m "$CK" -t "$T/other" -p x
	assert_failure 1
	assert_output ''
	assert_regex "$stderr" "^nc-sample: $T/other: tokenizer fingerprint [0-9a-f]{16}, but $CK was trained with [0-9a-f]{16}\$"
}

@test "a token id outside the vocabulary is an error naming the line" {
	run --separate-stderr nc-sample -m "$CK" --tokens <<<"1 2 99999"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-sample: (stdin):1:5: '99999' is not a token id below 400"
}

@test "bad JSON prompts are errors naming the line" {
	run --separate-stderr nc-sample -m "$CK" <<<'{"prompt": 3}'
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" 'nc-sample: (stdin):1: a JSON prompt needs a "prompt" string'
	run --separate-stderr nc-sample -m "$CK" <<<'{"prompt": '
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" 'nc-sample: (stdin):1: malformed JSON at column 11: unexpected token near end of file'
}

@test "out-of-range options are usage errors (exit 2)" {
	usage_error "--temperature: '-1' is not a number in [0, 100]" nc-sample -m "$CK" -p x -T -1
	usage_error "--temperature: 'nan' is not a number in [0, 100]" nc-sample -m "$CK" -p x -T nan
	usage_error "--temperature: 'x' is not a number in [0, 100]" nc-sample -m "$CK" -p x --temperature=x
	usage_error "--samples: 0 is out of range [1, 4096]" nc-sample -m "$CK" -p x --samples 0
	usage_error "--top-k: 'abc' is not a number" nc-sample -m "$CK" -p x -k abc
	usage_error "--max-tokens: '-3' is not a number" nc-sample -m "$CK" -p x -n -3
	usage_error "--device: cpu, cuda or auto (not 'tpu')" nc-sample -m "$CK" -p x --device=tpu
	usage_error "-m CHECKPOINT is required" nc-sample -p x
	usage_error "-p and prompt files are exclusive ('prompts.txt')" nc-sample -m "$CK" -p x prompts.txt
}

@test "an unknown option or a missing value: one line naming it and the help hint, on stderr" {
	usage_error "unknown option '--bogus'" nc-sample -m "$CK" --bogus -p x
	usage_error "unknown option '-z'" nc-sample -m "$CK" -z -p x
	usage_error "option '-m' needs a value" nc-sample -m
	usage_error "option '--max-tokens' needs a value" nc-sample -m "$CK" -p x --max-tokens
	usage_error "option '--chat' takes no value" nc-sample -m "$CK" --chat=1 -p x
	usage_error "ambiguous option '--s' (--seed, --samples, --stats)" nc-sample -m "$CK" --s=1 -p x
}

@test "-h prints the usage" {
	run nc-sample -h
	assert_success
	assert_output --partial "usage: nc-sample -m CHECKPOINT"
}
