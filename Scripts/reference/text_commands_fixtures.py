#!/usr/bin/env python3
"""Reference output for the `tailor template` / `tailor tokenize` end-to-end tests (Tests/TailorCLITests/TextCommandsCLITests.swift).

Writes Tests/Fixtures/templates/smollm2_cli.json:
  {"template_source": ..., "special_tokens": {...}, "cases": [{"name", "messages", "add_generation_prompt",
   "text", "spans": [{"role", "message", "start", "end"}], "ids"}]}
  - the chat template and special tokens are read from .assets/SmolLM2-135M-Instruct.Q4_1.gguf with the Python
    `gguf` package (independent of Tailor's GGUF reader);
  - "text" is transformers' own renderer (`render_jinja_template`, the code behind apply_chat_template) with
    bos/eos/pad/unk_token from the GGUF, as apply_chat_template passes them;
  - "spans" are UTF-8 byte ranges from rendering messages[:i] for each i (the generation prompt last, message null);
  - "ids" is HF `tokenizers` encoding "text" with Tests/Fixtures/tokenizers/smollm2/tokenizer.json (no added BOS/EOS).
  "template_file_cases": [{"name", "template", "messages_json", "tools_json", "add_generation_prompt", "text"}]:
  conversations from Tests/Fixtures/templates/expected.json rendered with .assets/templates/<template> by
  transformers (checked equal to expected.json); messages_json/tools_json are JSON text, so key order (which
  `tojson` prints) survives the trip through the Swift test.
  Every case also has "messages_json".
  "byte_order_mark": {"text", "ids"}: a text starting with U+FEFF (a file with a BOM must keep it), same tokenizer.
  "split_special": {"text", "ids"}: the same tokenizer with `encode_special_tokens = True` (special-token text read
  as plain text, `tailor tokenize --split-special`).

Run from the repository root, after Scripts/fetch-assets:
  /work/refvenv/bin/python Scripts/reference/text_commands_fixtures.py
"""
import json
import os

import gguf
from tokenizers import Tokenizer
from transformers.utils.chat_template_utils import render_jinja_template

TEMPLATE_FILE_CASES = [
    # (template in .assets/templates, conversation in expected.json, tools passed with --tools or in the record)
    ("Qwen-Qwen2.5-7B-Instruct.jinja", "tools_prompt", "option"),
    ("Qwen-Qwen2.5-7B-Instruct.jinja", "tool_call_turn", "record"),
]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.environ.get("TAILOR_ASSETS", os.path.join(ROOT, ".assets"))
MODEL = os.path.join(ASSETS, "SmolLM2-135M-Instruct.Q4_1.gguf")
TOKENIZER = os.path.join(ROOT, "Tests", "Fixtures", "tokenizers", "smollm2", "tokenizer.json")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "templates", "smollm2_cli.json")

CASES = [
    {
        "name": "three_messages",
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ],
        "add_generation_prompt": False,
    },
    {
        # No system message: SmolLM2's template inserts its default one, inside message 0's span.
        "name": "default_system_and_generation_prompt",
        "messages": [
            {"role": "user", "content": "Hi — café 😀?\n  two spaces"},
            {"role": "assistant", "content": "Hello!\tTabs\tand \"quotes\"."},
            {"role": "user", "content": "And <|im_end|> inside text?"},
        ],
        "add_generation_prompt": True,
    },
]


def field(reader, key):
    return reader.fields[key].contents()


def main():
    reader = gguf.GGUFReader(MODEL)
    source = field(reader, "tokenizer.chat_template")
    tokens = field(reader, "tokenizer.ggml.tokens")
    special = {
        name: tokens[field(reader, key)]
        for name, key in [
            ("bos_token", "tokenizer.ggml.bos_token_id"),
            ("eos_token", "tokenizer.ggml.eos_token_id"),
            ("pad_token", "tokenizer.ggml.padding_token_id"),
            ("unk_token", "tokenizer.ggml.unknown_token_id"),
        ]
    }
    tokenizer = Tokenizer.from_file(TOKENIZER)

    def render(messages, generation_prompt):
        rendered, _ = render_jinja_template(
            conversations=[messages], chat_template=source, add_generation_prompt=generation_prompt, **special
        )
        return rendered[0]

    cases = []
    for case in CASES:
        messages = case["messages"]
        text = render(messages, case["add_generation_prompt"])
        spans = []
        previous = b""
        for i in range(len(messages)):
            current = render(messages[: i + 1], False).encode()
            assert current.startswith(previous)
            spans.append({"role": messages[i]["role"], "message": i, "start": len(previous), "end": len(current)})
            previous = current
        if case["add_generation_prompt"]:
            spans.append({"role": "generation_prompt", "message": None, "start": len(previous), "end": len(text.encode())})
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        cases.append(dict(case, messages_json=json.dumps(messages, ensure_ascii=False), text=text, spans=spans, ids=ids))

    with open(os.path.join(ROOT, "Tests", "Fixtures", "templates", "expected.json"), encoding="utf-8") as f:
        expected = json.load(f)
    file_cases = []
    for template_name, conversation_name, tools_in in TEMPLATE_FILE_CASES:
        with open(os.path.join(ASSETS, "templates", template_name), encoding="utf-8") as f:
            template_source = f.read()
        conversation = expected["conversations"][conversation_name]
        rendered, _ = render_jinja_template(
            conversations=[conversation["messages"]], tools=conversation.get("tools"), chat_template=template_source,
            add_generation_prompt=conversation["add_generation_prompt"], **special,
        )
        assert rendered[0] == expected["results"][template_name][conversation_name]["output"]
        if tools_in == "record":
            messages_json = json.dumps({"messages": conversation["messages"], "tools": conversation["tools"]}, ensure_ascii=False)
            tools_json = None
        else:
            messages_json = json.dumps(conversation["messages"], ensure_ascii=False)
            tools_json = json.dumps(conversation["tools"], ensure_ascii=False)
        file_cases.append({
            "name": conversation_name, "template": template_name, "messages_json": messages_json,
            "tools_json": tools_json, "add_generation_prompt": conversation["add_generation_prompt"], "text": rendered[0],
        })

    bom_text = "\ufeffHi there"
    byte_order_mark = {"text": bom_text, "ids": tokenizer.encode(bom_text, add_special_tokens=False).ids}
    split_text = "<|im_start|>user\nHi<|im_end|>"
    tokenizer.encode_special_tokens = True
    split_special = {"text": split_text, "ids": tokenizer.encode(split_text, add_special_tokens=False).ids}

    with open(OUT, "w", encoding="utf-8") as f:
        fixture = {"template_source": source, "special_tokens": special, "cases": cases,
                   "template_file_cases": file_cases, "byte_order_mark": byte_order_mark, "split_special": split_special}
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
