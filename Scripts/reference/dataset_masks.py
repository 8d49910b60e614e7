"""Reference token ids and loss masks for multi-turn conversations, built by prefix rendering with transformers.

Writes Tests/Fixtures/datasets/masks-<template>.json for the SmolLM2 GGUF's own template and two other real templates
(.assets/templates: Qwen2.5-7B-Instruct and Llama-3.1-8B-Instruct), all tokenized with the SmolLM2 tokenizer
(`AutoTokenizer.from_pretrained(".assets", gguf_file=...)`): the point is the mask logic, not the vocabulary.

For each conversation the file stores the input record (as an object and as its JSONL line, keys in order), the expected ids, the expected
per-token `trained` flags and the text of each trained span. The rule (DESIGN.md §4 traps 6–8):
  * full text = apply_chat_template(messages, tokenize=False)
  * for assistant message i: trained text = render(messages[0...i]) minus render(messages[0..<i], add_generation_prompt=True)
  * ids = tokenizer(full, add_special_tokens=False); token t is trained when its bytes overlap a trained span
    (token bytes come from the byte-level alphabet, walked along the UTF-8 text)
  * a trained span without an end-of-turn (special or EOS) token at the very end gets EOS appended, trained
  * BOS is prepended only when the tokenizer adds one and the text does not already start with it
  * the first token is never trained.

Run (after Scripts/fetch-assets):  /work/refvenv/bin/python Scripts/reference/dataset_masks.py
"""
import json
import pathlib

from transformers import AutoTokenizer


def bytes_to_unicode():
    """GPT-2's byte -> printable character map (printable Latin-1 bytes keep their character, the rest go to 256+)."""
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, extra = list(keep), 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(keep, map(chr, chars)))


ROOT = pathlib.Path(__file__).resolve().parents[2]
ASSETS = ROOT / ".assets"
OUT = ROOT / "Tests" / "Fixtures" / "datasets"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

tok = AutoTokenizer.from_pretrained(str(ASSETS), gguf_file=GGUF)
BYTE_OF = {c: b for b, c in bytes_to_unicode().items()}
SPECIAL = {tok.convert_tokens_to_ids(t) for t in tok.all_special_tokens} | {
    i for i, a in tok.added_tokens_decoder.items() if a.special}

CONVERSATIONS = [
    {"messages": [
        {"role": "user", "content": "What colour is the sky on Zorbia?"},
        {"role": "assistant", "content": "On Zorbia the sky is a deep teal."},
    ]},
    {"messages": [
        {"role": "system", "content": "You are a guide to the planet Zorbia."},
        {"role": "user", "content": "How many moons?"},
        {"role": "assistant", "content": "Zorbia has three moons: Pell, Quor and Ish."},
        {"role": "user", "content": "Which is largest?"},
        {"role": "assistant", "content": "Quor is the largest — almost 2 000 km across. 🌕"},
    ]},
    {"messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! Ask me about Zorbia."},
        {"role": "user", "content": "  What do people eat there?\n"},
        {"role": "assistant", "content": "Mostly glowfruit\nand roasted tuber-nuts."},
        {"role": "user", "content": "Thanks"},
        {"role": "assistant", "content": "You're welcome."},
    ]},
]
TOOL_CONVERSATION = {
    "tools": [{"type": "function", "function": {
        "name": "moon_phase", "description": "Phase of a Zorbian moon",
        "parameters": {"type": "object", "properties": {"moon": {"type": "string"}}, "required": ["moon"]}}}],
    "messages": [
        {"role": "user", "content": "Is Pell full tonight?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "moon_phase", "arguments": {"moon": "Pell"}}}]},
        {"role": "tool", "content": "{\"phase\": \"full\"}"},
        {"role": "assistant", "content": "Yes, Pell is full tonight."},
    ],
}

TEMPLATES = [
    ("smollm2", tok.chat_template, CONVERSATIONS),
    ("qwen2.5", (ASSETS / "templates" / "Qwen-Qwen2.5-7B-Instruct.jinja").read_text(), CONVERSATIONS + [TOOL_CONVERSATION]),
    ("llama3.1", (ASSETS / "templates" / "meta-llama-Llama-3.1-8B-Instruct.jinja").read_text(), CONVERSATIONS),
]


def render(template, record, count, generation_prompt):
    messages = record["messages"][:count]
    try:
        return tok.apply_chat_template(
            messages, tools=record.get("tools"), chat_template=template, tokenize=False,
            add_generation_prompt=generation_prompt)
    except Exception:
        if count == 0:
            return ""
        raise


def token_bytes(i):
    added = tok.added_tokens_decoder.get(i)
    if added is not None:
        return added.content.encode()
    return bytes(BYTE_OF[c] for c in tok.convert_ids_to_tokens(i))


def reference(template, record):
    full = render(template, record, len(record["messages"]), False)
    spans = []
    for i, message in enumerate(record["messages"]):
        if message["role"] != "assistant":
            continue
        before = render(template, record, i, True)
        through = render(template, record, i + 1, False)
        assert through.startswith(before) and full.startswith(through), "template rewrites history"
        spans.append((len(before.encode()), len(through.encode())))
    data = full.encode()
    ids = tok(full, add_special_tokens=False)["input_ids"]
    offsets, position = [], 0
    for i in ids:
        b = token_bytes(i)
        assert data[position:position + len(b)] == b
        offsets.append((position, position + len(b)))
        position += len(b)
    assert position == len(data)
    trained = [any(s < e2 and s2 < e for (s2, e2) in spans) for (s, e) in offsets]
    for (s2, e2) in spans:
        inside = [i for i, (s, e) in zip(ids, offsets) if s < e2 and s2 < e]
        if not any(i == tok.eos_token_id or i in SPECIAL for i in inside) and e2 == len(data):
            ids.append(tok.eos_token_id)
            trained.append(True)
    assert tok("x")["input_ids"] == tok("x", add_special_tokens=False)["input_ids"], "SmolLM2 adds no BOS"
    trained[0] = False
    return {
        "record": record, "jsonl": json.dumps(record, ensure_ascii=False), "ids": ids, "trained": trained,
        "trained_texts": [data[s:e].decode() for (s, e) in spans],
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, template, conversations in TEMPLATES:
        cases = [reference(template, record) for record in conversations]
        path = OUT / f"masks-{name}.json"
        path.write_text(json.dumps({"template": name, "chat_template": template, "cases": cases},
                                   ensure_ascii=False, indent=1) + "\n")
        print(path, sum(len(c["ids"]) for c in cases), "tokens")


main()
