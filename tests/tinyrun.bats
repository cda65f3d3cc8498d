#!/usr/bin/env bats
# sh/tinyrun.sh, the README's pipeline command, shortened: every stage that
# exists runs and leaves valid outputs.

load helper

setup() {
	cd "$ROOT"
}

@test "tinyrun runs every existing stage and leaves valid outputs" {
	out=$BATS_TEST_TMPDIR/tiny
	NC_TINY_STEPS=30 run sh/tinyrun.sh "$out"
	assert_success
	assert_line "identical"
	nc-bpe info -t "$out/tokenizer" >/dev/null
	nc-shard verify -t "$out/tokenizer" "$out"/data/*.bin "$out/chat.bin" >/dev/null
	[ -f "$out/base/step_000030/model.safetensors" ]
	grep -q 'step=30 val_bpb=' "$out/base.log"
}
