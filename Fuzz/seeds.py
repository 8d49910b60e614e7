#!/usr/bin/env python3
"""Writes the seed corpora of the JSONL, Jinja and TokenizerJSON fuzzers into Tests/Fixtures/<name>/corpus.

    python3 Fuzz/seeds.py                                      the committed seeds
    python3 Fuzz/seeds.py --real-templates CORPUS [--templates DIR]   real chat templates, for one run only

Seeds are small valid inputs in each entry's input layout (see the header of Fuzz/<Name>Fuzz.swift):
  jsonl:          one options byte, then a dataset file (every record format, JSON array, BOM/CRLF, field mappings)
  jinja:          a chat template, a 0 byte, its render context as JSON (the feature cases of Tests/Fixtures/templates
                  and ChatML; with --real-templates CORPUS, real templates from DIR, default .assets/templates as
                  fetched by `make assets`, into a run's corpus, not into the repository)
  tokenizerjson:  a tokenizer.json (a cut of SmolLM2's and hand-written byte-level and SentencePiece BPEs), optionally
                  a 0 byte and tokenizer_config.json
Standard library only; the output is deterministic.
"""
import argparse
import json
import os
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures")

# Small real templates: plain turns, tools, reasoning, strftime_now, raise_exception, namespaces and macros.
TEMPLATES = [
    "microsoft-Phi-3.5-mini-instruct.jinja",
    "google-gemma-2-2b-it.jinja",
    "Qwen-Qwen2.5-7B-Instruct.jinja",
    "Qwen-Qwen3-0.6B.jinja",
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
    "meta-llama-Llama-3.2-3B-Instruct.jinja",
    "mistralai-Mistral-Nemo-Instruct-2407.jinja",
    "HuggingFaceTB-SmolLM3-3B.jinja",
    "ibm-granite-granite-3.3-2B-Instruct.jinja",
]


def corpus(name):
    path = os.path.join(FIXTURES, name, "corpus")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def write(folder, name, data):
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def lines(*records):
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def jsonl_seeds():
    out = corpus("jsonl")
    detect = b"\x05"
    user, assistant = {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}
    write(out, "messages.jsonl", detect + lines(
        {"messages": [{"role": "system", "content": "Be brief."}, user, assistant]},
        {"messages": [user, {"role": "assistant", "content": [{"type": "text", "text": "Part one. "}, {"type": "text", "text": "Two."}]}]},
        {"messages": [user, {"role": "assistant", "content": None, "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                      {"role": "tool", "content": "42"}, {"role": "assistant", "content": "It is 42.", "reasoning_content": "Easy."}],
         "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]},
        {"messages": [user, assistant], "tools": "[{\"type\": \"function\", \"function\": {\"name\": \"g\"}}]"},
    ).encode())
    write(out, "sharegpt.jsonl", detect + lines(
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]},
        {"system": "You are kind.", "conversations": [{"from": "human", "value": "2+2?"}, {"from": "function_call", "value": "{}"},
                                                      {"from": "observation", "value": "4"}, {"from": "gpt", "value": "4"}]},
    ).encode())
    write(out, "alpaca.jsonl", detect + lines(
        {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
        {"instruction": "Say hi.", "output": "Hi!", "system": "Be brief."},
    ).encode())
    write(out, "prompt-completion.jsonl", detect + lines(
        {"prompt": "The sky is", "completion": " blue."},
        {"prompt": [user], "completion": [assistant]},
    ).encode())
    write(out, "text.jsonl", detect + lines({"text": "Once upon a time."}, {"text": "The end."}).encode())
    # One JSON array over several lines, with a BOM and CRLF line ends.
    array = '[\r\n  {"text": "one"},\r\n  {"text": "two",\r\n   "id": 2}\r\n]\r\n'
    write(out, "array.json", detect + b"\xef\xbb\xbf" + array.encode())
    # Mapping 0 (role -> from, content -> value) on an OpenAI-shaped file.
    write(out, "mapped.jsonl", bytes([0x05 | 0x08]) + lines(
        {"messages": [{"from": "user", "value": "Hi"}, {"from": "assistant", "value": "Hello!"}]}).encode())
    # Forced messages format, skip-invalid set, with records that fail in different ways.
    write(out, "mixed.jsonl", bytes([0x40]) + (lines(
        {"messages": [user, assistant]}, {"text": "not messages"}, {"messages": [user]}, [1, 2],
        {"messages": [{"role": "robot", "content": "x"}, assistant]},
    ) + '{"messages": [\n\n').encode())


CONVERSATION = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 6 x 7?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "multiply", "arguments": {"a": 6, "b": 7}}}]},
        {"role": "tool", "content": "42", "tool_call_id": "call_1"},
        {"role": "assistant", "content": "42.", "reasoning_content": "6 x 7 = 42"},
    ],
    "tools": [{"type": "function", "function": {"name": "multiply", "description": "a x b", "parameters": {
        "type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}}}],
    "add_generation_prompt": True,
}


def jinja_seeds():
    """The committed seeds: Tailor's own cases only (real templates are other projects' text; see real_template_seeds)."""
    out = corpus("jinja")
    chatml = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
              "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
    write(out, "chatml.jinja", chatml)
    with open(os.path.join(FIXTURES, "templates", "features.json"), encoding="utf-8") as f:
        for case in json.load(f)["cases"]:
            write(out, "feature-" + case["name"] + ".jinja",
                  case["template"] + "\0" + json.dumps(case["context"], ensure_ascii=False))


def real_template_seeds(templates, out):
    """Seeds from the real chat templates fetched into `templates` (Scripts/fetch-assets), written into a run's corpus
    `out` by Scripts/fuzz and never committed. Returns how many were found."""
    os.makedirs(out, exist_ok=True)
    context = json.dumps(CONVERSATION, ensure_ascii=False)
    found = 0
    for name in TEMPLATES:
        path = os.path.join(templates, name)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            source = f.read()
        write(out, name, source)  # rendered with the entry's default conversation
        write(out, name.replace(".jinja", "-tools.jinja"), source + "\0" + context)
        found += 1
    return found


def bytes_to_unicode():
    """GPT-2's byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tokenizer_json(model, normalizer=None, pre_tokenizer=None, decoder=None, added=(), post_processor=None):
    return json.dumps({
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, c in added],
        "normalizer": normalizer, "pre_tokenizer": pre_tokenizer, "post_processor": post_processor,
        "decoder": decoder, "model": model,
    }, ensure_ascii=False, indent=1)


def bpe(vocab, merges, **extra):
    model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
             "vocab": vocab, "merges": merges}
    model.update(extra)
    return model


def tokenizer_seeds():
    out = corpus("tokenizerjson")
    # SmolLM2's tokenizer cut to its first 600 ids, with the merges among them and its real pipeline.
    with open(os.path.join(FIXTURES, "tokenizers", "smollm2", "tokenizer.json"), encoding="utf-8") as f:
        smol = json.load(f)
    with open(os.path.join(FIXTURES, "tokenizers", "smollm2", "tokenizer_config.json"), encoding="utf-8") as f:
        smol_config = f.read()
    vocab = {t: i for t, i in smol["model"]["vocab"].items() if i < 600}
    merges = []
    for m in smol["model"]["merges"]:
        a, b = m if isinstance(m, list) else m.split(" ", 1)
        if a in vocab and b in vocab and a + b in vocab:
            merges.append([a, b])
    smol["model"]["vocab"], smol["model"]["merges"] = vocab, merges
    smol["added_tokens"] = smol["added_tokens"][:4]
    cut = json.dumps(smol, ensure_ascii=False)
    write(out, "smollm2-cut.json", cut)
    write(out, "smollm2-cut-config.json", cut + "\0" + smol_config)

    # GPT-2-style byte-level BPE over a few words, ChatML added tokens, TemplateProcessing with BOS.
    table = bytes_to_unicode()
    vocab = {table[b]: b for b in range(256)}
    merges = []
    for word in ["Hello", "Ġworld", "Ġthe", "don", "'t"]:
        current = word[0]
        for ch in word[1:]:
            merges.append([current, ch])
            current += ch
            vocab.setdefault(current, len(vocab))
    added = [(len(vocab), "<|im_start|>"), (len(vocab) + 1, "<|im_end|>"), (len(vocab) + 2, "<s>")]
    post = {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                     {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [added[2][0]], "tokens": ["<s>"]}}}
    write(out, "byte-level.json", tokenizer_json(
        bpe(vocab, merges), pre_tokenizer={"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        decoder={"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        added=added, post_processor=post))
    # Llama-3-style: a Split regex before ByteLevel, ignore_merges, a Sequence post-processor; config turns on EOS.
    split = {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
             "behavior": "Isolated", "invert": False}
    llama = tokenizer_json(
        bpe(vocab, merges, ignore_merges=True),
        pre_tokenizer={"type": "Sequence", "pretokenizers": [split, {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        decoder={"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        added=added, post_processor={"type": "Sequence", "processors": [{"type": "ByteLevel", "trim_offsets": False}, post]})
    write(out, "split-regex.json", llama + "\0" + json.dumps({"bos_token": "<s>", "eos_token": {"content": "<|im_end|>"},
                                                              "add_bos_token": True, "add_eos_token": True}))

    # SentencePiece-style BPE: ▁ normalizer, <0xNN> byte fallback, unk, decoder chain with Strip.
    pieces = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    vocab = {p: i for i, p in enumerate(pieces)}
    merges = []
    for word in ["▁Hello", "▁world", "▁the"]:
        for ch in word:
            vocab.setdefault(ch, len(vocab))
        current = word[0]
        for ch in word[1:]:
            merges.append(current + " " + ch)
            current += ch
            vocab.setdefault(current, len(vocab))
    decoder = {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                                                {"type": "ByteFallback"}, {"type": "Fuse"},
                                                {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    normalizer = {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                      {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}
    write(out, "sentencepiece.json", tokenizer_json(
        bpe(vocab, merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True), normalizer=normalizer,
        decoder=decoder, added=[(0, "<unk>"), (1, "<s>"), (2, "</s>")],
        post_processor={"type": "BertProcessing", "cls": ["<s>", 1], "sep": ["</s>", 2]}))
    # Metaspace pre-tokenizer and decoder, NFKC + Lowercase + Strip normalizers, Digits and Punctuation splits.
    write(out, "metaspace.json", tokenizer_json(
        bpe(vocab, merges, unk_token="<unk>"),
        normalizer={"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}, {"type": "Strip", "strip_left": True, "strip_right": True}]},
        pre_tokenizer={"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True},
                                                             {"type": "Punctuation", "behavior": "Isolated"},
                                                             {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True}]},
        decoder={"type": "Metaspace", "replacement": "▁", "add_prefix_space": True}))
    # Word-piece-like affixes, Whitespace / WhitespaceSplit pre-tokenizers, a regex Replace normalizer.
    vocab = {"[UNK]": 0, "h": 1, "##e": 2, "##l": 3, "##o": 4, "w": 5, "##or": 6, "##ld</w>": 7, "o</w>": 8}
    write(out, "affixes.json", tokenizer_json(
        bpe(vocab, ["h ##e", "##l ##o"], unk_token="[UNK]", continuing_subword_prefix="##", end_of_word_suffix="</w>"),
        normalizer={"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
        pre_tokenizer={"type": "Sequence", "pretokenizers": [{"type": "Whitespace"}, {"type": "WhitespaceSplit"}]}))
    # Models Tailor refuses (a clean error, not a crash).
    for kind in ["unigram", "wordpiece"]:
        with open(os.path.join(FIXTURES, "tokenizers", kind, "tokenizer.json"), "rb") as f:
            write(out, kind + ".json", f.read())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", default=os.path.join(ROOT, ".assets", "templates"))
    parser.add_argument("--real-templates", metavar="CORPUS",
                        help="only write the real-template seeds of the Jinja entry into CORPUS (a run's corpus)")
    args = parser.parse_args()
    if args.real_templates:
        found = real_template_seeds(args.templates, args.real_templates)
        print(f"{found} of {len(TEMPLATES)} real templates found in {args.templates}")
        return
    jsonl_seeds()
    jinja_seeds()
    tokenizer_seeds()
    print("seeds written")


if __name__ == "__main__":
    main()
