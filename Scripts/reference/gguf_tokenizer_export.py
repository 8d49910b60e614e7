#!/usr/bin/env python3
"""Token ids that transformers' own GGUF converter gives for the test GGUFs' vocabularies, for the tokenizer.json
Tailor writes next to a merged model from a GGUF base (Tests/TokenizersTests/GGUFTokenizerExportTests.swift).

Writes Tests/Fixtures/tokenizers/gguf_export.json: {"strings": [...], "models": {name: {"ids": [[...]], "decoded": [...]}}}
with ids from AutoTokenizer.from_pretrained(folder, gguf_file=...)(s)["input_ids"] (special tokens added as the
model adds them) and the decode of those ids.

Run: python Scripts/reference/gguf_tokenizer_export.py   (needs transformers, gguf; the assets of Scripts/fetch-assets)
"""
import json
import os
import pathlib

from transformers import AutoTokenizer

root = pathlib.Path(__file__).resolve().parents[2]
assets = pathlib.Path(os.environ.get("TAILOR_ASSETS", root / ".assets"))
MODELS = {"smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf", "gemma3": "gemma-3-270m-q4_k_m.gguf"}
STRINGS = [
    "Hello world", " leading space", "The planet Zorvath has two moons.\nNew line\tand tab",
    "naïve café — 日本語 🙂", "<start_of_turn>user\nhi<end_of_turn>", "<|im_start|>user\nhi<|im_end|>",
    "1234567 numbers 3.14159", "  double  spaces  ", "don't you'll WE'VE", "",
]

out = {"strings": STRINGS, "models": {}}
for name, file in MODELS.items():
    tokenizer = AutoTokenizer.from_pretrained(str(assets), gguf_file=file)
    ids = [tokenizer(s)["input_ids"] for s in STRINGS]
    out["models"][name] = {"ids": ids, "decoded": [tokenizer.decode(i) for i in ids]}
path = root / "Tests" / "Fixtures" / "tokenizers" / "gguf_export.json"
path.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
print("wrote", path)
