#!/usr/bin/env python3
"""Oracle: conversations rendered to token ids and a loss mask by the rules
of nanochat's render_conversation (spec §1.8), on tiktoken with the given
ranks. Special tokens take ids len(ranks)+i in nanochat's order. Text is
encoded with encode_ordinary, one segment at a time.

usage: render_chat.py [--max-tokens=N] [--pattern=NAME] RANKFILE [FILE]
FILE (default stdin) is JSONL: objects with "messages", or bare arrays of
messages; blank lines are skipped. Prints one line per conversation,
"id/m id/m ..." (m is the mask, 0 or 1), or "error: why" for a
conversation nanochat would refuse (then the exit status is 1).
max_tokens defaults to 2048, the pattern to nanochat's.
"""
import base64
import json
import os
import sys

import tiktoken

sys.path.insert(0, os.path.dirname(__file__))
from split_check import PATTERNS  # noqa: E402

SPECIALS = ["<|bos|>", "<|user_start|>", "<|user_end|>", "<|assistant_start|>",
            "<|assistant_end|>", "<|python_start|>", "<|python_end|>",
            "<|output_start|>", "<|output_end|>"]


class Refused(Exception):
    pass


def load_encoding(rankfile, pattern):
    ranks = {}
    for line in open(rankfile, "rb"):
        if line.strip():
            b, r = line.split()
            ranks[base64.b64decode(b)] = int(r)
    specials = {name: len(ranks) + i for i, name in enumerate(SPECIALS)}
    return tiktoken.Encoding(name="oracle", pat_str=PATTERNS[pattern], mergeable_ranks=ranks,
                             special_tokens=specials)


def messages_of(conv):
    if isinstance(conv, list):
        return conv
    if not isinstance(conv, dict) or not isinstance(conv.get("messages"), list):
        raise Refused("not a conversation")
    return conv["messages"]


def merge_system(messages):
    """A leading system message goes in front of the first user message."""
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise Refused("a message without a role")
    if not messages or messages[0]["role"] != "system":
        return messages
    if len(messages) < 2 or messages[1]["role"] != "user":
        raise Refused("system message not followed by a user message")
    system, user = messages[0].get("content"), messages[1].get("content")
    if not isinstance(system, str) or not isinstance(user, str):
        raise Refused("system and user content must be strings")
    return [{"role": "user", "content": system + "\n\n" + user}] + messages[2:]


def render(enc, conv, max_tokens):
    sp = {name: enc.encode_single_token(name) for name in SPECIALS}
    messages = merge_system(messages_of(conv))
    if len(messages) < 1:
        raise Refused("no messages")
    out = []

    def add(ids, m):
        out.extend((i, m) for i in ids)

    add([sp["<|bos|>"]], 0)
    for i, msg in enumerate(messages):
        want = "user" if i % 2 == 0 else "assistant"
        if msg["role"] != want:
            raise Refused("message %d is from %s, should be %s" % (i, msg["role"], want))
        content = msg.get("content")
        if want == "user":
            if not isinstance(content, str):
                raise Refused("user content must be a string")
            add([sp["<|user_start|>"]], 0)
            add(enc.encode_ordinary(content), 0)
            add([sp["<|user_end|>"]], 0)
            continue
        add([sp["<|assistant_start|>"]], 0)
        if isinstance(content, str):
            add(enc.encode_ordinary(content), 1)
        elif isinstance(content, list):
            for part in content:
                add_part(enc, sp, part, add)
        else:
            raise Refused("assistant content must be a string or a list")
        add([sp["<|assistant_end|>"]], 1)
    return out[:max_tokens]


def add_part(enc, sp, part, add):
    if not isinstance(part, dict) or not isinstance(part.get("text"), str):
        raise Refused("a part without text")
    ids = enc.encode_ordinary(part["text"])
    kind = part.get("type")
    if kind == "text":
        add(ids, 1)
    elif kind == "python":
        add([sp["<|python_start|>"]] + ids + [sp["<|python_end|>"]], 1)
    elif kind == "python_output":
        add([sp["<|output_start|>"]] + ids + [sp["<|output_end|>"]], 0)
    else:
        raise Refused("unknown part type %r" % (kind,))


def main():
    max_tokens, pattern, args = 2048, "nanochat", []
    for a in sys.argv[1:]:
        if a.startswith("--max-tokens="):
            max_tokens = int(a.split("=", 1)[1])
        elif a.startswith("--pattern="):
            pattern = a.split("=", 1)[1]
        else:
            args.append(a)
    if not 1 <= len(args) <= 2:
        sys.exit(__doc__)
    enc = load_encoding(args[0], pattern)
    src = open(args[1], encoding="utf-8") if len(args) > 1 and args[1] != "-" else sys.stdin
    status = 0
    for line in src:
        if not line.strip():
            continue
        try:
            pairs = render(enc, json.loads(line), max_tokens)
            print(" ".join("%d/%d" % p for p in pairs))
        except Refused as e:
            print("error: %s" % e)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
