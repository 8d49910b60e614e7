#!/usr/bin/env python3
"""Reference dequantization fixtures for Tailor's GGUF reader, made with the Python `gguf` package.

Writes into Tests/Fixtures/gguf/:
  blocks/<TYPE>.bin       raw ggml blocks of every type Tailor dequantizes (seeded random bytes; f16 scale
                          fields set to sane finite halves)
  blocks/<TYPE>.f32       the same blocks dequantized by gguf.quants.dequantize, little-endian float32
  blocks.json             per type: ggml type id, element count
  real_tensors.json       for three tensors of the SmolLM2 GGUF (Q4_1, Q8_0, F32): name, row-major shape,
                          sampled rows (first two and last) dequantized by gguf, float64 sum and sum of |x|
                          of the whole dequantized tensor

Run (needs the assets from Scripts/fetch-assets):
  /work/refvenv/bin/python Scripts/reference/gguf_dequant.py
Never run in CI; the outputs are committed and never hand-edited.
"""
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out = os.path.join(root, "Tests", "Fixtures", "gguf")
assets = os.environ.get("TAILOR_ASSETS", os.path.join(root, ".assets"))
model = os.path.join(assets, "SmolLM2-135M-Instruct.Q4_1.gguf")

# Byte offsets of the f16 fields (d, m, dmin) inside one block, from ggml-common.h.
HALF_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}
BLOCKS = {T.Q4_0: 8, T.Q4_1: 8, T.Q5_0: 8, T.Q5_1: 8, T.Q8_0: 8,
          T.Q2_K: 3, T.Q3_K: 3, T.Q4_K: 3, T.Q5_K: 3, T.Q6_K: 3}


def block_bytes(qtype, rs):
    if qtype == T.F32:
        return rs.standard_normal(64).astype("<f4").tobytes()
    if qtype == T.F16:
        return rs.standard_normal(64).astype("<f2").tobytes()
    if qtype == T.BF16:
        bits = rs.standard_normal(64).astype("<f4").view("<u4") >> 16
        return bits.astype("<u2").tobytes()
    _, type_size = GGML_QUANT_SIZES[qtype]
    n = BLOCKS[qtype]
    raw = rs.randint(0, 256, size=(n, type_size)).astype(np.uint8)
    for b in range(n):
        for offset in HALF_FIELDS[qtype]:
            value = np.array([rs.uniform(-0.05, 0.05)], dtype="<f2")
            raw[b, offset:offset + 2] = value.view(np.uint8)
    return raw.tobytes()


def write_blocks():
    rs = np.random.RandomState(20241129)
    os.makedirs(os.path.join(out, "blocks"), exist_ok=True)
    manifest = []
    for qtype in [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1,
                  T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]:
        raw = block_bytes(qtype, rs)
        values = gguf.quants.dequantize(np.frombuffer(raw, dtype=np.uint8), qtype).astype("<f4").ravel()
        assert np.all(np.isfinite(values)), qtype.name
        with open(os.path.join(out, "blocks", qtype.name + ".bin"), "wb") as f:
            f.write(raw)
        with open(os.path.join(out, "blocks", qtype.name + ".f32"), "wb") as f:
            f.write(values.tobytes())
        manifest.append({"type": qtype.name, "id": int(qtype), "count": int(values.size)})
    with open(os.path.join(out, "blocks.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def write_real():
    if not os.path.exists(model):
        sys.exit(f"missing {model}: run Scripts/fetch-assets")
    reader = gguf.GGUFReader(model)
    wanted = ["blk.0.ffn_down.weight", "token_embd.weight", "blk.29.attn_norm.weight"]
    result = []
    for tensor in reader.tensors:
        if tensor.name not in wanted:
            continue
        values = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
        shape = [int(d) for d in reversed(tensor.shape)]  # ne is innermost first
        values = values.reshape(shape[0], -1) if len(shape) > 1 else values.reshape(1, -1)
        rows = [0, 1, values.shape[0] - 1] if values.shape[0] > 2 else [0]
        result.append({
            "name": tensor.name,
            "type": tensor.tensor_type.name,
            "shape": shape,
            "rows": rows,
            "values": [[float(x) for x in values[r]] for r in rows],
            "sum": float(np.sum(values.astype(np.float64))),
            "absSum": float(np.sum(np.abs(values.astype(np.float64)))),
        })
    assert len(result) == len(wanted)
    with open(os.path.join(out, "real_tensors.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    write_blocks()
    write_real()
