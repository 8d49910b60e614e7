"""Checks that `tailor export --to merged` writes a Hugging Face model equal to Tailor's base model + adapter.

Copies the run folder, replaces its adapter with a strong random one (A, B ~ N(0, 0.05²), so merging moves the
logits visibly; a freshly trained adapter is nearly zero), runs `tailor export RUN --to merged --dtype f32` (and `--to gguf --dtype f32`), loads the
merged folder with transformers (float32) and compares its logits on a few token ids with the logits Tailor computes
for base + adapter (hidden `tailor train --dump-logits`); the merged GGUF is checked through Tailor's GGUF loader. Also prints how far the adapter moves Tailor's logits from
the base model's (a zero-B copy of the adapter), so an adapter that was silently dropped cannot pass.
Writes only to a temporary folder; exit status 1 when the difference exceeds --tolerance.

Run (after any training run on a GGUF or HF base, e.g. `tailor train --model .assets/SmolLM2-135M-Instruct.Q4_1.gguf
--data Tests/Fixtures/training/smoke.jsonl --max-steps 2 --rank 4 --max-length 64 --output /tmp/run`):
  /work/refvenv/bin/python Scripts/reference/export_check.py --run /tmp/run [--tailor .build/debug/tailor]
"""
import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from transformers import AutoModelForCausalLM

root = pathlib.Path(__file__).resolve().parents[2]
parser = argparse.ArgumentParser()
parser.add_argument("--run", required=True, help="a run folder written by `tailor train`")
parser.add_argument("--tailor", default=str(root / ".build/debug/tailor"))
parser.add_argument("--tokens", default="1,504,3458,314,260,2365,30,198,23,506")
parser.add_argument("--tolerance", type=float, default=2e-3)
args = parser.parse_args()

with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    run = tmp / "run"
    shutil.copytree(args.run, run, ignore=shutil.ignore_patterns("checkpoints", "export*"))
    base_path = json.loads((run / "config.json").read_text())["modelPath"]

    rng = np.random.default_rng(0)
    tensors = load_file(str(run / "adapter_model.safetensors"))
    strong = {k: rng.normal(0, 0.05, v.shape).astype(np.float32) for k, v in tensors.items()}
    save_file(strong, str(run / "adapter_model.safetensors"), metadata={"format": "pt"})
    zero = tmp / "zero"
    zero.mkdir()
    shutil.copy(run / "adapter_config.json", zero / "adapter_config.json")
    save_file({k: (v if ".lora_A." in k else np.zeros_like(v)) for k, v in strong.items()},
              str(zero / "adapter_model.safetensors"), metadata={"format": "pt"})

    merged = tmp / "merged"
    subprocess.run([args.tailor, "export", str(run), "--to", "merged", "--dtype", "f32", "--output", str(merged)],
                   check=True)

    merged_gguf = tmp / "merged.gguf"
    subprocess.run([args.tailor, "export", str(run), "--to", "gguf", "--dtype", "f32", "--output", str(merged_gguf)],
                   check=True)

    # The GGUF LoRA adapter as llama.cpp applies it, W + (alpha / r)·B·A in GGUF row order (r = ne[0] of lora_b),
    # with W dequantized by the Python gguf package, must equal the merged GGUF's tensors: checks alpha, shapes and
    # the q/k row permutation of lora_B against the base file's own layout.
    adapter_gguf = tmp / "adapter.gguf"
    subprocess.run([args.tailor, "export", str(run), "--to", "gguf-lora", "--output", str(adapter_gguf)], check=True)
    from gguf import GGUFReader
    from gguf.quants import dequantize

    def tensors_of(path):
        return {t.name: t for t in GGUFReader(str(path)).tensors}

    def floats(t):
        return dequantize(t.data, t.tensor_type).astype(np.float64).reshape([int(n) for n in reversed(t.shape)])

    reader = GGUFReader(str(adapter_gguf))
    alpha = float(reader.fields["adapter.lora.alpha"].parts[-1][0])
    lora, base_t, merged_t = tensors_of(adapter_gguf), tensors_of(base_path), tensors_of(merged_gguf)
    worst_adapter = 0.0
    for name in sorted(n[: -len(".lora_a")] for n in lora if n.endswith(".lora_a")):
        a, b = floats(lora[name + ".lora_a"]), floats(lora[name + ".lora_b"])
        applied = floats(base_t[name]) + alpha / b.shape[1] * (b @ a)
        worst_adapter = max(worst_adapter, float(np.abs(applied - floats(merged_t[name])).max()))

    def tailor_logits(adapter, model=base_path):
        out = tmp / "logits.bin"
        subprocess.run([args.tailor, "train", "--model", str(model), "--dump-logits", str(out),
                        "--dump-adapter", str(adapter), "--dump-tokens", args.tokens], check=True)
        return np.fromfile(out, dtype=np.float32)

    ids = [int(t) for t in args.tokens.split(",")]
    tuned = tailor_logits(run).reshape(len(ids), -1)
    base = tailor_logits(zero).reshape(len(ids), -1)
    # The merged GGUF through Tailor's own GGUF loader, with the zero-B adapter (a no-op): checks the q/k row
    # permutation back to GGUF order and the metadata a loader needs.
    via_gguf = tailor_logits(zero, merged_gguf).reshape(len(ids), -1)

    model = AutoModelForCausalLM.from_pretrained(str(merged), torch_dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        reference = model(torch.tensor([ids])).logits[0].numpy()

    diff = float(np.abs(reference - tuned).max())
    moved = float(np.abs(tuned - base).max())
    print(f"merged (transformers) vs Tailor base+adapter: max abs diff {diff:.3e} over {reference.size} logits")
    print(f"adapter effect in Tailor (base+adapter vs base): max abs diff {moved:.3e}")
    gguf_diff = float(np.abs(via_gguf - tuned).max())
    print(f"merged GGUF (f32, Tailor loader) vs Tailor base+adapter: max abs diff {gguf_diff:.3e}")
    print(f"GGUF adapter applied like llama.cpp vs merged GGUF, all adapted tensors: max abs diff {worst_adapter:.3e}")
    print(f"argmax agreement: {(reference.argmax(-1) == tuned.argmax(-1)).mean():.3f}")
    sys.exit(0 if diff <= args.tolerance and worst_adapter <= 1e-4 and gguf_diff <= args.tolerance and moved > 10 * args.tolerance else 1)
