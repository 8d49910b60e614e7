#!/usr/bin/env python3
"""Reference fixtures for Tailor's safetensors reader and writer, made with the `safetensors` library itself.

Writes into Tests/Fixtures/safetensors/ (all small, deterministic, no RNG):
  mixed.safetensors        numpy `save_file`: F32, F16, F64, I64, I32, I16, I8, U8, BOOL, a scalar and a zero-size tensor,
                           with edge values (inf, nan, -0.0, half subnormals), metadata {"format": "np"}
  bf16.safetensors         torch `save_file`: BF16 / F16 / F32 (numpy has no bfloat16)
  sharded/                 model.safetensors.index.json + model-0000{1,2}-of-00002.safetensors (numpy save_file)
  expected.json            for every file above: metadata, and per tensor dtype, shape and values as the library loads
                           them (floats as float32 bit patterns, so NaN/-0.0 compare exactly; integers as ints)
  writer_input.json        Float32 bit patterns + target dtype per tensor, and metadata, for the Swift writer
  writer_reference.safetensors
                           the same tensors cast by torch (round to nearest even) and written by torch `save_file`;
                           the Swift writer must produce these exact bytes
  corpus/                  a few tiny seed files for Fuzz/SafetensorsFuzz.swift

Run (never in CI):   /work/refvenv/bin/python Scripts/reference/safetensors_fixtures.py
Verify a file written by Tailor's SafetensorsWriter from writer_input.json (e.g. kept by the Swift test with
TAILOR_SAFETENSORS_KEEP=/tmp/swift.safetensors):
                     /work/refvenv/bin/python Scripts/reference/safetensors_fixtures.py verify /tmp/swift.safetensors
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
from safetensors.numpy import load_file as np_load, save_file as np_save
from safetensors.torch import load_file as torch_load, save_file as torch_save

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "safetensors")


def f32_bits(array):
    return [int(b) for b in np.asarray(array, dtype=np.float32).reshape(-1).view(np.uint32)]


def describe(tensors, dtypes):
    """Per tensor: dtype name, shape, and values as loaded (floats as float32 bits)."""
    out = {}
    for name, value in tensors.items():
        entry = {"dtype": dtypes[name], "shape": list(value.shape)}
        if isinstance(value, torch.Tensor):
            if value.dtype.is_floating_point:
                entry["float32_bits"] = f32_bits(value.to(torch.float32).numpy())
            else:
                entry["int64"] = [int(v) for v in value.reshape(-1).tolist()]
        elif value.dtype.kind == "f":
            with np.errstate(over="ignore"):  # F64 values past Float32 range become ±inf, as in Swift's Float(Double)
                entry["float32_bits"] = f32_bits(value.astype(np.float32))
        else:
            entry["int64"] = [int(v) for v in value.reshape(-1).astype(np.int64)]
        out[name] = entry
    return out


def header_dtypes(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    return {k: v["dtype"] for k, v in header.items() if k != "__metadata__"}, header.get("__metadata__", {})


def ramp(count, scale, offset=0.0):
    return np.array([math.sin(0.37 * i + offset) * scale for i in range(count)], dtype=np.float64)


def write_mixed():
    f16_edges = np.array([0.0, -0.0, 1.0, -2.5, 65504.0, 6.1e-5, 5.96e-8, 1e-7, np.inf, -np.inf, np.nan, 0.333],
                         dtype=np.float16)
    tensors = {
        "model.embed.weight": ramp(12, 3.0).astype(np.float32).reshape(3, 4),
        "model.f32.edges": np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3.4e38, -1.5], dtype=np.float32),
        "model.f16.edges": f16_edges.reshape(2, 6),
        "model.f64.values": np.array([1.0 / 3.0, -1e300, 1e-300, 2.5, np.pi], dtype=np.float64),
        "ids.i64": np.array([[0, -1, 2**62, -(2**63)], [7, 8, 9, 2**63 - 1]], dtype=np.int64),
        "ids.i32": np.array([-(2**31), 2**31 - 1, 0, 42], dtype=np.int32),
        "ids.i16": np.array([-32768, 32767, 5], dtype=np.int16),
        "ids.i8": np.array([-128, 127, 0], dtype=np.int8),
        "ids.u8": np.array([0, 255, 17], dtype=np.uint8),
        "mask.bool": np.array([True, False, True, True], dtype=np.bool_),
        "scalar": np.array(2.75, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "nonascii.é/ключ": np.array([1.5, -1.5], dtype=np.float16),
    }
    metadata = {"format": "np"}  # one key: the crate writes a hash map, so two keys would come out in random order
    path = os.path.join(OUT, "mixed.safetensors")
    np_save(tensors, path, metadata=metadata)
    loaded = np_load(path)
    dtypes, meta = header_dtypes(path)
    return {"metadata": meta, "tensors": describe(loaded, dtypes)}


def write_bf16():
    base = torch.tensor(ramp(16, 5.0), dtype=torch.float32)
    tensors = {
        "layers.0.weight": base.to(torch.bfloat16).reshape(4, 4),
        "layers.0.bias": base[:4].to(torch.float16),
        "layers.0.scale": base[:3].clone(),
        "layers.0.specials": torch.tensor([float("inf"), float("-inf"), float("nan"), -0.0, 1e-40, 3e38],
                                          dtype=torch.float32).to(torch.bfloat16),
    }
    path = os.path.join(OUT, "bf16.safetensors")
    torch_save(tensors, path, metadata={"format": "pt"})
    loaded = torch_load(path)
    dtypes, meta = header_dtypes(path)
    return {"metadata": meta, "tensors": describe(loaded, dtypes)}


def write_sharded():
    folder = os.path.join(OUT, "sharded")
    os.makedirs(folder, exist_ok=True)
    shards = {
        "model-00001-of-00002.safetensors": {
            "model.embed_tokens.weight": ramp(8, 1.0).astype(np.float16).reshape(2, 4),
            "model.layers.0.mlp.up_proj.weight": ramp(6, 2.0, 1.0).astype(np.float32).reshape(3, 2),
        },
        "model-00002-of-00002.safetensors": {
            "model.layers.1.mlp.up_proj.weight": ramp(6, 2.0, 2.0).astype(np.float32).reshape(2, 3),
            "model.norm.weight": np.ones(4, dtype=np.float32),
        },
    }
    weight_map = {}
    total = 0
    expected = {}
    for shard, tensors in shards.items():
        path = os.path.join(folder, shard)
        np_save(tensors, path, metadata={"format": "np"})
        loaded = np_load(path)
        dtypes, meta = header_dtypes(path)
        expected["sharded/" + shard] = {"metadata": meta, "tensors": describe(loaded, dtypes)}
        for name, value in tensors.items():
            weight_map[name] = shard
            total += value.nbytes
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    return expected


def writer_cases():
    """Float32 inputs for the Swift writer; includes exact ties to check round-to-nearest-even."""
    ties_bf16 = [1.0 + 2**-8, 1.0 + 3 * 2**-8, -(1.0 + 2**-8), 3.0 + 2**-7, 1.0 + 2**-8 + 2**-20]
    ties_f16 = [1.0 + 2**-11, 1.0 + 3 * 2**-11, 2**-24 * 0.5, 2**-24 * 1.5, 65520.0, 65519.0, 1e-8]
    return {
        "w.bf16": ("BF16", [2, 6], list(ramp(7, 4.0)) + ties_bf16),
        "w.f16": ("F16", [3, 5], list(ramp(8, 4.0, 0.5)) + ties_f16),
        "w.f32": ("F32", [5], list(ramp(5, 1e-3))),
        "a.f32": ("F32", [1, 3], [0.0, -0.0, 1e-45]),
        "ids": ("I64", [4], [0, -1, 2**40, -(2**63)]),
    }


def write_writer_reference():
    cases = writer_cases()
    metadata = {"format": "pt"}
    tensors = {}
    inputs = {}
    for name, (dtype, shape, values) in cases.items():
        if dtype == "I64":
            tensors[name] = torch.tensor(values, dtype=torch.int64).reshape(shape)
            inputs[name] = {"dtype": dtype, "shape": shape, "int64": values}
            continue
        f32 = torch.tensor(np.array(values, dtype=np.float32)).reshape(shape)
        target = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[dtype]
        tensors[name] = f32.to(target)
        inputs[name] = {"dtype": dtype, "shape": shape, "float32_bits": f32_bits(f32.numpy())}
    torch_save(tensors, os.path.join(OUT, "writer_reference.safetensors"), metadata=metadata)
    with open(os.path.join(OUT, "writer_input.json"), "w") as f:
        json.dump({"metadata": metadata, "tensors": inputs}, f, indent=1)
        f.write("\n")


def write_corpus():
    folder = os.path.join(OUT, "corpus")
    os.makedirs(folder, exist_ok=True)
    np_save({"a": np.arange(3, dtype=np.float32), "b": np.array([1, 2], dtype=np.int64)},
            os.path.join(folder, "small.safetensors"), metadata={"k": "v"})
    torch_save({"h": torch.ones(2, dtype=torch.bfloat16), "g": torch.ones(1, dtype=torch.float16)},
               os.path.join(folder, "half.safetensors"))
    np_save({}, os.path.join(folder, "empty.safetensors"))
    with open(os.path.join(OUT, "mixed.safetensors"), "rb") as f:
        mixed = f.read()
    with open(os.path.join(folder, "mixed.safetensors"), "wb") as f:
        f.write(mixed)
    # Accepted by the reference but never written by it: leading space, null metadata, extra key, F4, zero-size tensors,
    # an unpadded header (misaligned data) and an escaped name.
    header = (b' {"__metadata__":null,"z":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":"y"},'
              b'"q\\u00e9":{"dtype":"F4","shape":[2,2],"data_offsets":[0,2]},'
              b'"f":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}')
    edge = struct.pack("<Q", len(header)) + header + bytes([0x12, 0x34, 0, 0, 0xC0, 0x3F])
    deserialize_check(edge)
    with open(os.path.join(folder, "edge.safetensors"), "wb") as f:
        f.write(edge)


def deserialize_check(data):
    from safetensors import deserialize
    deserialize(data)  # raises if the reference would refuse the seed


def verify(path):
    """Loads a Swift-written file with the reference library and checks it against writer_input.json."""
    with open(os.path.join(OUT, "writer_input.json")) as f:
        expected = json.load(f)
    loaded = torch_load(path)
    dtypes, meta = header_dtypes(path)
    problems = []
    if meta != expected["metadata"]:
        problems.append(f"metadata {meta} != {expected['metadata']}")
    if set(loaded) != set(expected["tensors"]):
        problems.append(f"names {sorted(loaded)} != {sorted(expected['tensors'])}")
    for name, want in expected["tensors"].items():
        if name not in loaded:
            continue
        got = loaded[name]
        if dtypes[name] != want["dtype"] or list(got.shape) != want["shape"]:
            problems.append(f"{name}: {dtypes[name]} {list(got.shape)} != {want['dtype']} {want['shape']}")
        elif "int64" in want:
            if got.reshape(-1).tolist() != want["int64"]:
                problems.append(f"{name}: values differ")
        else:
            source = torch.tensor(np.array(want["float32_bits"], dtype=np.uint32).view(np.float32))
            cast = source.to(got.dtype).reshape(want["shape"])
            if not torch.equal(cast.view(torch.int8 if cast.element_size() == 1 else
                                         {2: torch.int16, 4: torch.int32}[cast.element_size()]),
                               got.view({2: torch.int16, 4: torch.int32}[got.element_size()])):
                problems.append(f"{name}: bits differ from torch's cast")
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
    if (8 + n) % 8 != 0:
        problems.append(f"data start {8 + n} is not a multiple of 8")
    if problems:
        print("FAIL\n" + "\n".join(problems))
        sys.exit(1)
    print(f"OK: {path} loads in safetensors with {len(loaded)} tensors matching writer_input.json")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "verify":
        verify(sys.argv[2])
        return
    os.makedirs(OUT, exist_ok=True)
    expected = {"mixed.safetensors": write_mixed(), "bf16.safetensors": write_bf16()}
    expected.update(write_sharded())
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    write_writer_reference()
    write_corpus()
    print(f"wrote fixtures to {OUT}")


if __name__ == "__main__":
    main()
