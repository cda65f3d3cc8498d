#!/usr/bin/env bats
# nc-chat: chat_cli's behaviour on a tiny model: replies as nc-sample
# --chat gives them, history kept as tokens across turns, clear, quit and
# exit, the slash commands, tool calls shown, whole UTF-8 characters, Ctrl-C
# in a terminal, and clear errors.

load helper

setup_file() {
	export T=$BATS_FILE_TMPDIR
	tiny_data 31 300000 10
	build/nc-train base --quiet -t "$T/tok" --data "$T/data" -o "$T/run" --depth=1 --max-seq-len=128 \
		--device-batch-size=2 --total-batch-size=256 --num-iterations=30 --eval-every=0 >/dev/null
	export CK=$T/run/step_000030
}

setup() {
	cd "$ROOT"
}

# id NAME: the id of special token NAME in the test tokenizer.
id() {
	nc-bpe info -t "$T/tok" | sed -n "s/^special=<|$1|> id=//p"
}

# ids TEXT: TEXT's token ids, on one line.
ids() {
	printf '%s' "$1" | nc-bpe encode --ids --format=text -t "$T/tok"
}

# text: token id lines on stdin as text, decoded as Python decodes bytes.
text() {
	nc-bpe decode --ids -t "$T/tok" |
		python3 -c 'import sys; sys.stdout.write(sys.stdin.buffer.read().decode("utf-8", "replace"))'
}

# program OUT CONTEXT A:B...: a checkpoint whose greedy next token after A
# is B (tests/oracle/program_model.py).
program() {
	need_python numpy safetensors
	"$PY" "$ORACLE/program_model.py" "$CK" "$@"
}

@test "-p: the reply is nc-sample --chat's, greedy and with chat_cli's defaults (T 0.6, top-k 50, 256 tokens)" {
	run nc-chat -m "$CK" -p "hello" -T 0 -n 20
	assert_success
	[ -n "$output" ]
	assert_equal "$output" "$(nc-sample -m "$CK" --chat -p "hello" -T 0 -n 20)"
	run nc-chat -m "$CK" -p "The cat"
	assert_equal "$output" "$(nc-sample -m "$CK" --chat -p "The cat" -T 0.6 -k 50 -n 256)"
	[ "$output" != "$(nc-sample -m "$CK" --chat -p "The cat" -T 0.6 -k 50 -n 256 -s 1)" ]
}

@test "piped lines are turns of one conversation: the second reply reads the first as tokens" {
	run --separate-stderr nc-chat -m "$CK" -T 0 -n 5 <<<$'hello\nwhat next'
	assert_success
	assert_equal "$stderr" ''
	# the first reply's ids, then the two-turn prompt as chat_cli keeps it:
	# the reply cut at 5 tokens is closed by <|assistant_end|>
	r1=$(ids hello | nc-sample -m "$CK" --chat --tokens -T 0 -n 5)
	prompt="$(id bos) $(id user_start) $(ids hello) $(id user_end) $(id assistant_start) $r1 $(id assistant_end)"
	prompt="$prompt $(id user_start) $(ids 'what next') $(id user_end) $(id assistant_start)"
	r2=$(nc-sample -m "$CK" --tokens -T 0 -n 5 <<<"$prompt")
	assert_equal "$output" "$(echo "$r1" | text)
$(echo "$r2" | text)"
	# and not the reply to "what next" alone
	[ "${lines[1]}" != "$(nc-chat -m "$CK" -T 0 -n 5 -p 'what next')" ]
}

@test "clear and /clear start a new conversation; blank lines are ignored" {
	alone=$(nc-chat -m "$CK" -T 0 -n 5 -p 'what next')
	for cmd in clear CLEAR /clear; do
		run --separate-stderr nc-chat -m "$CK" -T 0 -n 5 <<<$'hello\n'"$cmd"$'\n\n   \nwhat next'
		assert_success
		assert_equal "${#lines[@]}" 2
		assert_equal "${lines[1]}" "$alone"
		assert_equal "$stderr" "Conversation cleared."
	done
}

@test "quit and exit end the chat; later lines are not read" {
	for cmd in quit exit Quit ' exit '; do
		run --separate-stderr nc-chat -m "$CK" -T 0 -n 5 <<<$'hello\n'"$cmd"$'\nwhat next'
		assert_success
		assert_equal "$output" "$(nc-chat -m "$CK" -T 0 -n 5 -p hello)"
	done
}

@test "slash commands set temperature and top-k, show them, and list themselves" {
	greedy=$(nc-chat -m "$CK" -T 0 -n 8 -p hello)
	run --separate-stderr nc-chat -m "$CK" -n 8 <<<$'/temperature\n/topk\n/temperature 0\n/topk 0\nhello\n/temperature 2.5\n/topk 201\n/topk x\n/nope'
	assert_success
	assert_equal "$output" "$greedy"
	assert_equal "$stderr" "Temperature: 0.6
Top-k: 50
Temperature set to 0.
Top-k set to 0.
Invalid temperature '2.5': it must be between 0 and 2.
Invalid top-k '201': it must be a whole number from 0 to 200.
Invalid top-k 'x': it must be a whole number from 0 to 200.
Unknown command: /nope (/help lists them)"
	run --separate-stderr nc-chat -m "$CK" <<<'/help'
	assert_success
	assert_output ''
	for word in /temperature /topk /clear /help quit exit; do
		[[ "$stderr" == *"$word"* ]]
	done
	# top-k 1 is greedy whatever the temperature
	run --separate-stderr nc-chat -m "$CK" -n 8 <<<$'/temperature 1.5\n/topk 1\nhello'
	assert_equal "$output" "$greedy"
}

@test "a tool call is shown, the calculator's result fed back, and the reply goes on from it" {
	# <|assistant_start|> -> <|python_start|> 6 * 7 <|python_end|>; after
	# the forced <|output_start|>42<|output_end|> comes "é" (two byte tokens)
	program "$T/tool" 128 "$(id assistant_start):$(id python_start)" "$(id python_start):54" 54:42 42:55 \
		"55:$(id python_end)" "$(id output_end):195" 195:169 "169:$(id assistant_end)"
	run nc-chat -m "$T/tool" -T 0 -p hi
	assert_success
	assert_output "<|python_start|>6*7<|python_end|><|output_start|>42<|output_end|>é"
	# the same as the engine gives it through nc-sample
	assert_equal "$output" "$(nc-sample -m "$T/tool" --chat -T 0 -p hi)"
}

@test "whole UTF-8 characters only: a character cut by the token limit ends as U+FFFD, as Python decodes" {
	program "$T/utf8" 128 "$(id assistant_start):195" 195:169 169:195
	run nc-chat -m "$T/utf8" -T 0 -n 6 -p hi
	assert_success
	assert_output "ééé"
	run nc-chat -m "$T/utf8" -T 0 -n 5 -p hi
	assert_equal "$output" "$(printf '\303\251\303\251\303' | python3 -c 'import sys; print(sys.stdin.buffer.read().decode("utf-8", "replace"), end="")')"
}

@test "on a terminal: prompts, labels; Ctrl-C stops the reply, not the chat, and abandons a line at the prompt" {
	command -v python3 >/dev/null || skip "python3 needed for a pseudo-terminal"
	# "x" after "x" for 8000 tokens: a reply long enough to interrupt
	program "$T/xs" 8000 "$(id assistant_start):120" 120:120
	# Ctrl-C typed mid-reply, then a line abandoned by Ctrl-C at the prompt
	run python3 "$ORACLE/pty_chat.py" 60 'expect:User: ' 'send:go\n' 'expect:Assistant: xxx' ctrl-c \
		'expect:[stopped]' 'expect:User: ' 'send:never sent' ctrl-c 'send:/temperature\n' \
		'expect:Temperature: 0' 'expect:User: ' 'send:exit\n' -- nc-chat -m "$T/xs" -T 0 -n 7000
	assert_success
	assert_line --partial "type 'quit' or 'exit' to end"
	assert_line "exit=0"
	assert_output --partial "Goodbye!"
	refute_output --partial "never sent/temperature"
	# stopped long before the 7000 tokens
	n=$(printf '%s' "$output" | tr -cd x | wc -c)
	[ "$n" -gt 3 ] && [ "$n" -lt 6000 ]
}

@test "a turn too long for the context is an error; the chat goes on and exits 1" {
	long=$(printf 'word %.0s' $(seq 150))
	long=${long% }
	run --separate-stderr nc-chat -m "$CK" -T 0 -n 5 <<<"$long"$'\nhello'
	assert_failure 1
	assert_output "$(nc-chat -m "$CK" -T 0 -n 5 -p hello)"
	# <|bos|> <|user_start|> ... <|user_end|> <|assistant_start|>
	n=$(($(ids "$long" | wc -w) + 4))
	assert_equal "$stderr" "nc-chat: the conversation is $n tokens with this turn, the model's context 128 ('clear' starts a new conversation)"
	run --separate-stderr nc-chat -m "$CK" -p "$long"
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-chat: the conversation is $n tokens with this turn, the model's context 128"
}

@test "a missing checkpoint is an error naming it" {
	run --separate-stderr nc-chat -m "$T/nowhere" -p x
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "nc-chat: $T/nowhere: not a checkpoint (no model.safetensors) nor a run directory with one"
}

@test "usage errors (exit 2)" {
	usage_error "-m CHECKPOINT is required" nc-chat -p x
	usage_error "-p needs a message" nc-chat -m "$CK" -p ''
	usage_error "unexpected operand 'file.txt' (input comes from stdin)" nc-chat -m "$CK" file.txt
	usage_error "--temperature: '-1' is not a number in [0, 100]" nc-chat -m "$CK" -p x -T -1
	usage_error "--top-k: 'abc' is not a number" nc-chat -m "$CK" -p x -k abc
	usage_error "--device: cpu, cuda or auto (not 'tpu')" nc-chat -m "$CK" -p x --device=tpu
	usage_error "unknown option '--bogus'" nc-chat -m "$CK" --bogus
	usage_error "option '-m' needs a value" nc-chat -m
}

@test "-h prints the usage" {
	run nc-chat -h
	assert_success
	assert_output --partial "usage: nc-chat -m CHECKPOINT"
}
