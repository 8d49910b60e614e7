#!/usr/bin/env python3
"""Reference logits and a greedy continuation of the real SmolLM2-135M-Instruct GGUF, from transformers (fp32).

Writes Tests/Fixtures/smollm2/generation.json (prompt ids, the first 64 logits of every prompt position, the
greedy 32-token continuation) and generation_last_logits.bin (little-endian float32 logits of the last prompt
position, all 49152).
Run: python Scripts/reference/smollm2_generation.py   (needs torch, transformers, gguf; assets from Scripts/fetch-assets)
"""
import json, os
import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
ASSETS = os.environ.get("TAILOR_ASSETS", os.path.join(ROOT, ".assets"))
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = os.path.join(ROOT, "Tests", "Fixtures", "smollm2")

tokenizer = AutoTokenizer.from_pretrained(ASSETS, gguf_file=GGUF)
model = AutoModelForCausalLM.from_pretrained(ASSETS, gguf_file=GGUF, torch_dtype=torch.float32,
                                             attn_implementation="eager").eval()
prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
with torch.no_grad():
    logits = model(torch.tensor([ids])).logits[0]
    generated = model.generate(torch.tensor([ids]), max_new_tokens=32, do_sample=False, min_new_tokens=32,
                               attention_mask=torch.ones(1, len(ids), dtype=torch.long))[0][len(ids):]
os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "generation.json"), "w") as f:
    json.dump({"prompt": prompt, "prompt_ids": ids, "logits_head": logits[:, :64].tolist(),
               "greedy_ids": generated.tolist(), "greedy_text": tokenizer.decode(generated)}, f, indent=1)
logits[-1].numpy().astype("<f4").tofile(os.path.join(OUT, "generation_last_logits.bin"))
print(tokenizer.decode(generated))
