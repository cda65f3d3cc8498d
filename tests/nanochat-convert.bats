#!/usr/bin/env bats
# sh/nanochat-convert.py: nanochat checkpoints (model_NNNNNN.pt, a torch
# state_dict, and meta_NNNNNN.json) to nc checkpoint directories and back.
#
# The script needs PyTorch and safetensors. PyTorch is deliberately not in
# the project's .venv (it is a very large download), so these tests run only
# where a Python with both is named by NC_TORCH_PYTHON (default python3),
#     NC_TORCH_PYTHON=/path/to/venv/bin/python bats tests/nanochat-convert.bats
# and are skipped elsewhere, in CI too.
#
# The nanochat checkpoints are made here with torch from the param.* tensors
# of the committed fixtures (nanochat v1's own GPT, see
# tests/fixtures/gpt/README.md), laid out as nanochat's checkpoint_manager
# saves them.

load helper

setup() {
	cd "$ROOT"
	TPY=${NC_TORCH_PYTHON:-python3}
	if ! "$TPY" -c 'import torch, safetensors' 2>/dev/null; then
		skip "no torch and safetensors in $TPY (set NC_TORCH_PYTHON)"
	fi
	CONVERT="sh/nanochat-convert.py"
	T=$BATS_TEST_TMPDIR
}

convert() {
	"$TPY" "$CONVERT" "$@"
}

# make_nanochat FIXTURE DIR [MODE]: DIR/model_000005.pt and meta_000005.json
# from FIXTURE's param.* tensors. MODE: plain (float32), compiled (the
# "_orig_mod." prefix and a bfloat16 wte, as torch.compile'd nanochat v1
# saves), missing, misshapen or unknown (a broken state_dict).
make_nanochat() {
	"$TPY" - "$@" <<'EOF'
import json, os, sys, torch
from safetensors import safe_open
fixture, out = sys.argv[1], sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else "plain"
with safe_open(fixture, framework="pt") as f:
    md = f.metadata()
    sd = {k[len("param."):]: f.get_tensor(k) for k in f.keys() if k.startswith("param.")}
keys = ["sequence_len", "vocab_size", "n_layer", "n_head", "n_kv_head", "n_embd"]
cfg = {k: int(md["config." + k]) for k in keys}
# nanochat's order: wte, the layers, lm_head
layer = ["attn.c_q", "attn.c_k", "attn.c_v", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]
order = ["transformer.wte.weight"] + [f"transformer.h.{l}.{p}.weight"
         for l in range(cfg["n_layer"]) for p in layer] + ["lm_head.weight"]
assert sorted(order) == sorted(sd)
sd = {k: sd[k] for k in order}
if mode == "compiled":
    sd["transformer.wte.weight"] = sd["transformer.wte.weight"].to(torch.bfloat16)
    sd = {"_orig_mod." + k: v for k, v in sd.items()}
elif mode == "missing":
    del sd["transformer.h.1.mlp.c_fc.weight"]
elif mode == "misshapen":
    sd["transformer.h.0.attn.c_k.weight"] = sd["transformer.h.0.attn.c_k.weight"][:32]
elif mode == "unknown":
    sd["transformer.h.0.attn.ve_gate.weight"] = torch.zeros(2, 64)
os.makedirs(out, exist_ok=True)
torch.save(sd, os.path.join(out, "model_000005.pt"))
with open(os.path.join(out, "meta_000005.json"), "w") as f:
    json.dump({"step": 5, "val_bpb": 1.25, "model_config": cfg}, f, indent=2)
EOF
}

# An nc tokenizer (single bytes only): to-nc just copies it.
make_tokenizer() {
	"$TPY" -c 'import base64, sys
for i in range(256):
    sys.stdout.write(base64.b64encode(bytes([i])).decode() + " %d\n" % i)' >"$T/ranks.tiktoken"
	nc-bpe import -o "$T/tok" "$T/ranks.tiktoken"
}

# same_tensors A.pt B.pt [bf16-wte]: the same names in the same order, every
# tensor bit for bit (dtype too); with bf16-wte, A's wte is B's widened.
same_tensors() {
	"$TPY" - "$@" <<'EOF'
import sys, torch
a, b = torch.load(sys.argv[1]), torch.load(sys.argv[2])
a = {k.removeprefix("_orig_mod."): v for k, v in a.items()}
b = {k.removeprefix("_orig_mod."): v for k, v in b.items()}
assert list(a) == list(b), (list(a), list(b))
bits = {torch.float32: torch.int32, torch.bfloat16: torch.int16}
for k in a:
    assert a[k].dtype == b[k].dtype, (k, a[k].dtype, b[k].dtype)
    assert a[k].shape == b[k].shape, k
    assert torch.equal(a[k].view(bits[a[k].dtype]), b[k].view(bits[b[k].dtype])), k
print("same", len(a))
EOF
}

@test "nanochat -> nc -> nanochat gives back every tensor bit for bit (MHA and GQA)" {
	make_tokenizer
	for kind in mha gqa; do
		make_nanochat tests/fixtures/gpt/ref_$kind.safetensors "$T/$kind"
		convert to-nc "$T/$kind/model_000005.pt" "$T/$kind/meta_000005.json" "$T/tok" "$T/$kind-nc"
		convert to-nanochat "$T/$kind-nc" "$T/$kind-back"
		run same_tensors "$T/$kind/model_000005.pt" "$T/$kind-back/model_000005.pt"
		assert_success
		assert_output "same 14"
		run "$TPY" -c 'import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert b == {"step": 5, "model_config": a["model_config"]}, b
print("meta ok")' "$T/$kind/meta_000005.json" "$T/$kind-back/meta_000005.json"
		assert_success
		assert_output "meta ok"
	done
}

@test "a converted nanochat checkpoint samples in nc-sample: its greedy token is an independent torch forward's" {
	make_tokenizer
	# a random nanochat v1 state_dict (vocabulary 265: the bytes and the
	# specials), and the first greedy token by nanochat's forward written
	# out in torch (norm, rotary, QK norm, GQA attention, relu^2, softcap)
	"$TPY" - "$T/rand" <<'EOF2'
import json, os, sys, torch
import torch.nn.functional as F
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
g = torch.Generator().manual_seed(5)
cfg = dict(sequence_len=32, vocab_size=265, n_layer=2, n_head=2, n_kv_head=1, n_embd=64)
C, H, Hk, D = 64, 2, 1, 32
def r(*shape): return torch.randn(*shape, generator=g) * 0.3
sd = {"transformer.wte.weight": r(265, C)}
for l in range(2):
    p = f"transformer.h.{l}."
    sd.update({p + "attn.c_q.weight": r(C, C), p + "attn.c_k.weight": r(Hk * D, C),
               p + "attn.c_v.weight": r(Hk * D, C), p + "attn.c_proj.weight": r(C, C),
               p + "mlp.c_fc.weight": r(4 * C, C), p + "mlp.c_proj.weight": r(C, 4 * C)})
sd["lm_head.weight"] = r(265, C)
torch.save(sd, os.path.join(out, "model_000005.pt"))
json.dump({"step": 5, "model_config": cfg}, open(os.path.join(out, "meta_000005.json"), "w"))
idx = torch.tensor([[1, 2, 3, 4, 5]])
T = idx.shape[1]
inv = 1.0 / (10000 ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
fr = torch.outer(torch.arange(T, dtype=torch.float32), inv)
cos, sin = fr.cos()[None, :, None, :], fr.sin()[None, :, None, :]
def rot(x):
    a, b = x[..., :D // 2], x[..., D // 2:]
    return torch.cat([a * cos + b * sin, -a * sin + b * cos], -1)
norm = lambda x: F.rms_norm(x, (x.size(-1),))
x = norm(sd["transformer.wte.weight"][idx])
for l in range(2):
    p = f"transformer.h.{l}."
    h = norm(x)
    q = (h @ sd[p + "attn.c_q.weight"].T).view(1, T, H, D)
    k = (h @ sd[p + "attn.c_k.weight"].T).view(1, T, Hk, D)
    v = (h @ sd[p + "attn.c_v.weight"].T).view(1, T, Hk, D)
    q, k = norm(rot(q)), norm(rot(k))
    q, k, v = q.transpose(1, 2), k.transpose(1, 2).repeat_interleave(H // Hk, 1), v.transpose(1, 2).repeat_interleave(H // Hk, 1)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(1, T, C)
    x = x + y @ sd[p + "attn.c_proj.weight"].T
    x = x + F.relu(norm(x) @ sd[p + "mlp.c_fc.weight"].T).square() @ sd[p + "mlp.c_proj.weight"].T
logits = 15 * torch.tanh((norm(x) @ sd["lm_head.weight"].T) / 15)
print(int(logits[0, -1].argmax()), file=open(os.path.join(out, "greedy"), "w"))
EOF2
	convert to-nc "$T/rand/model_000005.pt" "$T/rand/meta_000005.json" "$T/tok" "$T/rand-nc"
	run nc-sample -m "$T/rand-nc" --device=cpu --tokens -n 4 -T 0 <<<"1 2 3 4 5"
	assert_success
	[[ "$output" =~ ^[0-9]+(\ [0-9]+){0,3}$ ]]
	[ "${output%% *}" = "$(cat "$T/rand/greedy")" ]
}

@test "model.safetensors holds nanochat's names and shapes in float32, nc's metadata, and the tokenizer" {
	make_tokenizer
	make_nanochat tests/fixtures/gpt/ref_gqa.safetensors "$T/n"
	convert to-nc "$T/n/model_000005.pt" "$T/n/meta_000005.json" "$T/tok" "$T/nc"
	run ls "$T/nc"
	assert_output "$(printf 'model.safetensors\ntokenizer')"
	cmp "$T/tok" "$T/nc/tokenizer"
	[ -z "$(ls -d "$T"/nc.tmp-* 2>/dev/null)" ]
	run "$TPY" - "$T/nc/model.safetensors" tests/fixtures/gpt/ref_gqa.safetensors <<'EOF'
import sys, torch
from safetensors import safe_open
with safe_open(sys.argv[1], framework="pt") as f:
    md = f.metadata()
    got = {k: f.get_tensor(k) for k in f.keys()}
with safe_open(sys.argv[2], framework="pt") as f:
    want = {k[6:]: f.get_tensor(k) for k in f.keys() if k.startswith("param.")}
assert md == {"config.n_layer": "2", "config.n_head": "2", "config.n_kv_head": "1",
              "config.n_embd": "64", "config.vocab_size": "80", "config.sequence_len": "16",
              "config.rope_base": "10000", "config.softcap": "15",
              "config.norm_eps": "1.1920929e-07", "format": "nc-checkpoint 1",
              "stage": "base", "step": "5"}, md
assert sorted(got) == sorted(want), sorted(got)
shapes = {"wte": [80, 64], "c_q": [64, 64], "c_k": [32, 64], "c_v": [32, 64],
          "attn.c_proj": [64, 64], "c_fc": [256, 64], "mlp.c_proj": [64, 256], "lm_head": [80, 64]}
for k, t in got.items():
    assert t.dtype == torch.float32, k
    assert [s for p, s in shapes.items() if p in k] == [list(t.shape)], (k, t.shape)
    assert torch.equal(t.view(torch.int32), want[k].view(torch.int32)), k
print("ok")
EOF
	assert_success
	assert_output ok
}

@test "a torch.compile'd checkpoint with a bfloat16 wte: prefix stripped, wte widened, --bf16-wte restores it" {
	make_tokenizer
	make_nanochat tests/fixtures/gpt/ref_mha.safetensors "$T/n" compiled
	convert to-nc "$T/n/model_000005.pt" "$T/n/meta_000005.json" "$T/tok" "$T/nc" --step 9 --stage sft
	run "$TPY" -c 'import sys
from safetensors import safe_open
with safe_open(sys.argv[1], framework="pt") as f:
    md = f.metadata()
    print(f.get_slice("transformer.wte.weight").get_dtype(), md["step"], md["stage"],
          sum(k.startswith("_orig_mod") for k in f.keys()))' "$T/nc/model.safetensors"
	assert_success
	assert_output "F32 9 sft 0"
	convert to-nanochat "$T/nc" "$T/back" --bf16-wte --step 5
	run same_tensors "$T/n/model_000005.pt" "$T/back/model_000005.pt"
	assert_success
	assert_output "same 14"
}

@test "refuses missing, misshapen and unknown tensors, naming the file and the tensor" {
	make_tokenizer
	for mode in missing misshapen unknown; do
		make_nanochat tests/fixtures/gpt/ref_mha.safetensors "$T/$mode" $mode
		run convert to-nc "$T/$mode/model_000005.pt" "$T/$mode/meta_000005.json" "$T/tok" "$T/$mode-nc"
		assert_failure 1
		assert_output --partial "$T/$mode/model_000005.pt"
		[ ! -e "$T/$mode-nc" ]
		[ -z "$(ls -d "$T/$mode-nc".tmp-* 2>/dev/null)" ]
	done
	run convert to-nc "$T/missing/model_000005.pt" "$T/missing/meta_000005.json" "$T/tok" "$T/x"
	assert_output --partial "missing transformer.h.1.mlp.c_fc.weight"
	run convert to-nc "$T/misshapen/model_000005.pt" "$T/misshapen/meta_000005.json" "$T/tok" "$T/x"
	assert_output --partial "transformer.h.0.attn.c_k.weight has shape [32, 64], expected [64, 64]"
	run convert to-nc "$T/unknown/model_000005.pt" "$T/unknown/meta_000005.json" "$T/tok" "$T/x"
	assert_output --partial "unknown transformer.h.0.attn.ve_gate.weight"
}

@test "refuses what nanochat v1 cannot be or hold, and never overwrites" {
	make_tokenizer
	make_nanochat tests/fixtures/gpt/ref_mha.safetensors "$T/n"
	# a model_config key v1 does not have
	"$TPY" -c 'import json, sys
m = json.load(open(sys.argv[1])); m["model_config"]["window_pattern"] = "SSSL"
json.dump(m, open(sys.argv[2], "w"))' "$T/n/meta_000005.json" "$T/meta_window.json"
	run convert to-nc "$T/n/model_000005.pt" "$T/meta_window.json" "$T/tok" "$T/x"
	assert_failure 1
	assert_output --partial "window_pattern"
	convert to-nc "$T/n/model_000005.pt" "$T/n/meta_000005.json" "$T/tok" "$T/nc"
	run convert to-nc "$T/n/model_000005.pt" "$T/n/meta_000005.json" "$T/tok" "$T/nc"
	assert_failure 1
	assert_output --partial "already exists"
	convert to-nanochat "$T/nc" "$T/back"
	run convert to-nanochat "$T/nc" "$T/back"
	assert_failure 1
	assert_output --partial "model_000005.pt: already exists"
	# a softcap nanochat v1 does not have
	"$TPY" -c 'import sys
from safetensors import safe_open
from safetensors.torch import save_file
with safe_open(sys.argv[1], framework="pt") as f:
    md, t = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
md["config.softcap"] = "30"
save_file(t, sys.argv[2], metadata=md)' "$T/nc/model.safetensors" "$T/soft.safetensors"
	mkdir "$T/soft"
	mv "$T/soft.safetensors" "$T/soft/model.safetensors"
	run convert to-nanochat "$T/soft" "$T/back30"
	assert_failure 1
	assert_output --partial "config.softcap is '30'"
	[ ! -e "$T/back30/model_000005.pt" ]
}

@test "an nc sft checkpoint and tokenizer load in nanochat's own load_model('sft'), as chat_cli.py loads them" {
	[ -n "${NANOCHAT_DIR:-}" ] && [ -f "$NANOCHAT_DIR/nanochat/checkpoint_manager.py" ] ||
		skip "NANOCHAT_DIR does not name a nanochat v1 work tree"
	"$TPY" -c 'import tiktoken, tokenizers' 2>/dev/null || skip "no tiktoken and tokenizers in $TPY (nanochat's tokenizer imports both)"
	tiny_data 21 200000 20
	nc-train base -t "$T/tok" --data "$T/data" -o "$T/base" --depth=2 --max-seq-len=32 \
		--device-batch-size=4 --total-batch-size=128 --num-iterations=3 --eval-every=0 --quiet >/dev/null
	nc-shard chat --quiet -t "$T/tok" -o "$T/chat.bin" tests/fixtures/chat/conversations.jsonl
	nc-train sft --from="$T/base" --train="$T/chat.bin" --val="$T/chat.bin" -o "$T/sft" \
		--device-batch-size=2 --target-examples-per-step=4 --eval-every=0 --quiet >/dev/null
	ckpt=$(ls -d "$T"/sft/step_* | tail -1)
	# the tokenizer: nc-bpe export, then the pickle nanochat's get_tokenizer() reads
	base=$T/nanochat-base
	mkdir -p "$base/tokenizer"
	nc-bpe export -t "$T/tok" -o "$T/ranks.tiktoken"
	run convert tokenizer-pkl "$T/ranks.tiktoken" "$base/tokenizer/tokenizer.pkl"
	assert_success
	assert_output "wrote $base/tokenizer/tokenizer.pkl: 391 ranks and 9 special tokens, vocabulary 400"
	run convert tokenizer-pkl "$T/ranks.tiktoken" "$base/tokenizer/tokenizer.pkl"
	assert_failure 1
	assert_output "nanochat-convert: $base/tokenizer/tokenizer.pkl: already exists"
	convert to-nanochat "$ckpt" "$base/chatsft_checkpoints/d2" 2>/dev/null
	# nanochat loads the newest sft checkpoint of the largest model, and its
	# tokenizer renders a conversation to the ids and mask nc-shard chat makes
	head -2 tests/fixtures/chat/conversations.jsonl | tail -1 >"$T/conv.jsonl"
	nc-shard chat -t "$T/tok" --ids "$T/conv.jsonl" >"$T/nc-ids"   # id/mask pairs
	NANOCHAT_BASE_DIR=$base PYTHONPATH=$NANOCHAT_DIR "$TPY" - "$T/conv.jsonl" "$ckpt/model.safetensors" >"$T/py-ids" <<'EOF2'
import json, sys, torch
from safetensors import safe_open
from nanochat.checkpoint_manager import load_model
model, tok, meta = load_model("sft", torch.device("cpu"), phase="eval")
with safe_open(sys.argv[2], framework="pt") as f:
    for name in f.keys():
        want = f.get_tensor(name)
        got = model.state_dict()[name].float()
        assert torch.equal(got, want), name
assert meta["model_config"]["n_layer"] == 2, meta
ids, mask = tok.render_conversation(json.loads(open(sys.argv[1]).read()))
print(" ".join("%d/%d" % im for im in zip(ids, mask)))
EOF2
	run cat "$T/py-ids"
	assert_output "$(head -1 "$T/nc-ids")"
	[ "$(wc -w <"$T/py-ids")" -gt 20 ]
}
