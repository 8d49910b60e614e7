"""Checks that an adapter written by `tailor train` means the same thing to PEFT as to Tailor.

Loads the base model from the GGUF with transformers (dequantized to float32), applies the adapter folder with
`PeftModel.from_pretrained`, and compares the logits on a tokenized chat with the logits Tailor computes for the same
model + adapter (through the hidden `tailor train --dump-logits` flag, which reads the adapter back with
AdapterFiles.readPEFT). Prints the max abs difference, and how far the adapter moves the logits from the base
model's (so a zero adapter cannot pass unnoticed). Writes nothing; exit status 1 when the difference exceeds --tolerance.

Run (after a training run, e.g. `tailor train --model .assets/SmolLM2-135M-Instruct.Q4_1.gguf --data
Tests/Fixtures/training/smoke.jsonl --max-steps 10 --output /tmp/run`):
  /work/refvenv/bin/python Scripts/reference/peft_adapter_check.py --adapter /tmp/run \
      [--gguf .assets/SmolLM2-135M-Instruct.Q4_1.gguf] [--tailor .build/release/tailor]
"""
import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

root = pathlib.Path(__file__).resolve().parents[2]
parser = argparse.ArgumentParser()
parser.add_argument("--adapter", required=True, help="folder with adapter_config.json + adapter_model.safetensors")
parser.add_argument("--gguf", default=str(root / ".assets/SmolLM2-135M-Instruct.Q4_1.gguf"))
parser.add_argument("--tailor", default=str(root / ".build/release/tailor"))
parser.add_argument("--tolerance", type=float, default=1e-3,
                    help="allowed max |Tailor - PEFT|, relative to the largest |logit| with --relative")
parser.add_argument("--relative", action="store_true")
args = parser.parse_args()

gguf = pathlib.Path(args.gguf).resolve()
tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
messages = [{"role": "user", "content": "Code name for the green owl?"},
            {"role": "assistant", "content": "Agent GREEN-OWL-8."}]
if tokenizer.chat_template:
    ids = tokenizer.apply_chat_template(messages, tokenize=True)
    if hasattr(ids, "keys"):
        ids = ids["input_ids"]
else:  # a base model without a template (Gemma 3 270M): Tailor renders ChatML, as plain text after the BOS
    ids = tokenizer("".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages))["input_ids"]

with tempfile.TemporaryDirectory() as scratch:
    out = os.path.join(scratch, "logits.bin")
    subprocess.run([args.tailor, "train", "--model", str(gguf), "--dump-logits", out, "--dump-adapter", args.adapter,
                    "--dump-tokens", ",".join(map(str, ids))], check=True)
    tailor = np.fromfile(out, dtype="<f4")

base = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
base.eval()
with torch.no_grad():
    base_logits = base(torch.tensor([ids])).logits[0].numpy()
model = PeftModel.from_pretrained(base, args.adapter)
model.eval()
with torch.no_grad():
    peft_logits = model(torch.tensor([ids])).logits[0].numpy()

tailor = tailor.reshape(peft_logits.shape)
scale = float(np.abs(peft_logits).max()) if args.relative else 1.0
difference = float(np.abs(tailor - peft_logits).max()) / scale
shift = float(np.abs(peft_logits - base_logits).max()) / scale
print(f"tokens {len(ids)}, vocab {peft_logits.shape[1]}")
print(f"adapter moves the logits by up to {shift:.4f} (PEFT vs base)")
print(f"max |Tailor - PEFT| = {difference:.3e}{' of the logit scale' if args.relative else ''} "
      f"(tolerance {args.tolerance:g})")
sys.exit(0 if difference <= args.tolerance and shift > 10 * args.tolerance else 1)
