#!/usr/bin/env python3
"""Reference logits, a greedy continuation and token ids of the real Gemma 3 270M GGUF, from transformers (fp32).

transformers dequantizes the file itself and undoes llama.cpp's conventions (norms stored as 1 + w), so this is an
independent reading of the same bytes. Writes Tests/Fixtures/gemma3/generation.json (prompt ids, the first 64 logits
of every prompt position, the greedy 32-token continuation, token ids of the tokenizer test strings) and
generation_last_logits.bin (little-endian float32 logits of the last prompt position, all 262144).
Run: python Scripts/reference/gemma3_generation.py   (needs torch, transformers, gguf; assets from Scripts/fetch-assets)
"""
import json, os
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
ASSETS = os.environ.get("TAILOR_ASSETS", os.path.join(ROOT, ".assets"))
GGUF = "gemma-3-270m-q4_k_m.gguf"
OUT = os.path.join(ROOT, "Tests", "Fixtures", "gemma3")
STRINGS = [
    "The capital of France is",
    "Hello world",
    "  leading spaces and\ttabs\nnew lines\n\n",
    "Numbers 1234567 and 3.14159, symbols #@$%^&*()",
    "Ünïcödé façade naïve — “quotes” 日本語のテキスト 🤗🦙",
    "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
]

tokenizer = AutoTokenizer.from_pretrained(ASSETS, gguf_file=GGUF)
model = AutoModelForCausalLM.from_pretrained(ASSETS, gguf_file=GGUF, torch_dtype=torch.float32,
                                             attn_implementation="eager").eval()
# A base model: a plain-text prompt after <bos>, as the tokenizer adds it.
prompt = "The capital of France is"
ids = tokenizer(prompt)["input_ids"]
with torch.no_grad():
    logits = model(torch.tensor([ids])).logits[0]
    generated = model.generate(torch.tensor([ids]), max_new_tokens=32, do_sample=False, min_new_tokens=32,
                               attention_mask=torch.ones(1, len(ids), dtype=torch.long))[0][len(ids):]
os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "generation.json"), "w") as f:
    json.dump({"prompt": prompt, "prompt_ids": ids, "logits_head": logits[:, :64].tolist(),
               "greedy_ids": generated.tolist(), "greedy_text": tokenizer.decode(generated),
               "tokenizer": [{"text": s, "ids": tokenizer(s, add_special_tokens=False)["input_ids"]}
                             for s in STRINGS]}, f, indent=1)
logits[-1].numpy().astype("<f4").tofile(os.path.join(OUT, "generation_last_logits.bin"))
print(tokenizer.decode(generated))
