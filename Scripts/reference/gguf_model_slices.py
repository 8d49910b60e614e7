"""Reference slices of SmolLM2's weights as transformers loads them from the GGUF (HF layout, Q/K un-permuted).

Writes Tests/Fixtures/models/smollm2_slices.json, read by Tests/NumericTests/ModelWeightsNumericTests.swift.
For each checked tensor (layers 0 and 29: q/k/v/o, gate/up/down, both norms; embed_tokens; norm) it stores:
  - shape (HF orientation [out, in]),
  - for a few rows (0, 1, 33, last): the first 16 and last 16 values,
  - for 2-D layer tensors: every row's float64 dot product with probe[j] = sin(0.01·(j+1)), which pins the row order
    (a wrong Q/K un-permutation swaps rows and fails here),
  - the float64 sum of squares of the whole tensor.
Values are float32 written with Python's shortest round-trip repr, so the Swift side can compare within 1e-6.

Run from the repository root after Scripts/fetch-assets:
    /work/refvenv/bin/python Scripts/reference/gguf_model_slices.py
Needs torch, transformers (with GGUF support: the `gguf` package) and numpy.
"""

import json
import os
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.environ.get("TAILOR_ASSETS") or os.path.join(ROOT, ".assets")
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = os.path.join(ROOT, "Tests", "Fixtures", "models", "smollm2_slices.json")

LAYER_WEIGHTS = [
    "self_attn.q_proj.weight",
    "self_attn.k_proj.weight",
    "self_attn.v_proj.weight",
    "self_attn.o_proj.weight",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
    "input_layernorm.weight",
    "post_attention_layernorm.weight",
]
EDGE = 16


def floats(array):
    return [float(x) for x in np.asarray(array, dtype=np.float32).reshape(-1)]


def describe(name, tensor, with_row_dots):
    w = tensor.detach().to(torch.float32).numpy()
    entry = {"name": name, "shape": list(w.shape), "sum_squares": float(np.sum(w.astype(np.float64) ** 2))}
    if w.ndim == 1:
        entry["rows"] = [{"row": 0, "head": floats(w[:EDGE]), "tail": floats(w[-EDGE:])}]
        return entry
    rows = sorted({r for r in (0, 1, 33, w.shape[0] - 1) if r < w.shape[0]})
    entry["rows"] = [{"row": r, "head": floats(w[r, :EDGE]), "tail": floats(w[r, -EDGE:])} for r in rows]
    if with_row_dots:
        probe = np.sin(0.01 * np.arange(1, w.shape[1] + 1, dtype=np.float64))
        entry["row_dots"] = [float(x) for x in w.astype(np.float64) @ probe]
    return entry


def main():
    path = os.path.join(ASSETS, GGUF_NAME)
    if not os.path.exists(path):
        sys.exit(f"missing {path}: run Scripts/fetch-assets")
    model = AutoModelForCausalLM.from_pretrained(ASSETS, gguf_file=GGUF_NAME, dtype=torch.float32)
    state = model.state_dict()
    config = model.config
    entries = [
        describe("model.embed_tokens.weight", state["model.embed_tokens.weight"], with_row_dots=False),
        describe("model.norm.weight", state["model.norm.weight"], with_row_dots=False),
    ]
    for layer in (0, config.num_hidden_layers - 1):
        for suffix in LAYER_WEIGHTS:
            name = f"model.layers.{layer}.{suffix}"
            entries.append(describe(name, state[name], with_row_dots=True))
    tied = bool(torch.equal(state["lm_head.weight"], state["model.embed_tokens.weight"]))
    result = {
        "source": GGUF_NAME,
        "generator": "Scripts/reference/gguf_model_slices.py",
        "transformers_config": {
            "num_hidden_layers": config.num_hidden_layers,
            "hidden_size": config.hidden_size,
            "num_attention_heads": config.num_attention_heads,
            "num_key_value_heads": config.num_key_value_heads,
            "intermediate_size": config.intermediate_size,
            "vocab_size": config.vocab_size,
            "tie_word_embeddings": bool(config.tie_word_embeddings),
        },
        "lm_head_equals_embedding": tied,
        "probe": "sin(0.01*(j+1)), j = 0..<in",
        "tensors": entries,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(result, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(entries)} tensors, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
