"""Builds a torch hand-off folder the way `tailor train --backend torch` does, from synthetic data.

Lets Sources/Training/Python/tailor_torch_train.py be exercised without the Swift side. Writes
RUN/torch/{job.json, train.jsonl, validation.jsonl, plan.jsonl, initial_adapter.safetensors}:
  - examples: random token ids from a fixed seed; targets = the next id on the second half of each example, -1 on
    the first half (a prompt/response mask);
  - plan: `--steps` steps of `--micro-batches` micro-batches of `--batch` examples, cycling through train.jsonl,
    constant learning rate `--lr`;
  - initial adapter: PEFT names for every layer and target module, A = small deterministic values, B = zeros
    (so step 0 is the base model), shapes from the model's config.
Nothing is trained here and nothing large is written (the model is referenced by path).

Run:
  /work/refvenv/bin/python Scripts/reference/torch_backend_job.py \
      --model .assets/SmolLM2-135M-Instruct.Q4_1.gguf --out /tmp/torchrun [--steps 3 --batch 2 --length 64]
  /work/refvenv/bin/python Sources/Training/Python/tailor_torch_train.py --job /tmp/torchrun/torch/job.json
`--model` is an HF folder (config.json + safetensors) or a .gguf file.
"""
import argparse
import json
import os
import random

import torch
from safetensors.torch import save_file
from transformers import AutoConfig

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True, help="HF model folder or .gguf file")
parser.add_argument("--out", required=True, help="run folder; the hand-off goes to OUT/torch")
parser.add_argument("--steps", type=int, default=3)
parser.add_argument("--batch", type=int, default=2, help="examples per micro-batch")
parser.add_argument("--micro-batches", type=int, default=1)
parser.add_argument("--length", type=int, default=64, help="tokens per example (varied by up to -25%%)")
parser.add_argument("--train", type=int, default=8)
parser.add_argument("--validation", type=int, default=2)
parser.add_argument("--rank", type=int, default=8)
parser.add_argument("--alpha", type=float, default=16.0)
parser.add_argument("--lr", type=float, default=2e-3)
parser.add_argument("--eval-every", type=int, default=2)
parser.add_argument("--save-every", type=int, default=2)
parser.add_argument("--patience", type=int, default=None)
parser.add_argument("--checkpointing", action="store_true")
parser.add_argument("--quantize", default=None)
parser.add_argument("--precision", default="auto")
parser.add_argument("--seed", type=int, default=42)
args = parser.parse_args()

model_path = os.path.abspath(args.model)
gguf_file = None
if model_path.endswith(".gguf"):
    folder, gguf_file = os.path.split(model_path)
    config = AutoConfig.from_pretrained(folder, gguf_file=gguf_file)
else:
    folder = model_path
    config = AutoConfig.from_pretrained(folder)

out = os.path.abspath(args.out)
handoff = os.path.join(out, "torch")
os.makedirs(handoff, exist_ok=True)
rng = random.Random(args.seed)


def example():
    """Random ids; the second half predicts the next id (already shifted), as Tailor's masks do for a response."""
    n = rng.randint(max(4, args.length * 3 // 4), args.length)
    ids = [rng.randrange(config.vocab_size) for _ in range(n)]
    targets = [-1] * n
    for t in range(n // 2, n - 1):
        targets[t] = ids[t + 1]
    return {"ids": ids, "targets": targets}


def write_jsonl(name, rows):
    with open(os.path.join(handoff, name), "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


write_jsonl("train.jsonl", [example() for _ in range(args.train)])
write_jsonl("validation.jsonl", [example() for _ in range(args.validation)])

plan, cursor, per_step = [], 0, args.batch * args.micro_batches
for step in range(1, args.steps + 1):
    batches = []
    for _ in range(args.micro_batches):
        batches.append([(cursor + i) % args.train for i in range(args.batch)])
        cursor += args.batch
    plan.append({"step": step, "micro_batches": batches, "epoch": step * per_step / args.train, "lr": args.lr})
write_jsonl("plan.jsonl", plan)

# Projection shapes as LlamaForCausalLM lays them out: [out, in] per module.
hidden = config.hidden_size
heads = config.num_attention_heads
head_dim = getattr(config, "head_dim", None) or hidden // heads
kv = getattr(config, "num_key_value_heads", None) or heads
shapes = {"self_attn.q_proj": (heads * head_dim, hidden), "self_attn.k_proj": (kv * head_dim, hidden),
          "self_attn.v_proj": (kv * head_dim, hidden), "self_attn.o_proj": (hidden, heads * head_dim),
          "mlp.gate_proj": (config.intermediate_size, hidden), "mlp.up_proj": (config.intermediate_size, hidden),
          "mlp.down_proj": (hidden, config.intermediate_size)}
tensors = {}
for layer in range(config.num_hidden_layers):
    for module, (n_out, n_in) in shapes.items():
        prefix = f"base_model.model.model.layers.{layer}.{module}"
        k = torch.arange(args.rank * n_in, dtype=torch.float64).reshape(args.rank, n_in)
        tensors[prefix + ".lora_A.weight"] = (0.02 * torch.sin(k * 0.37 + layer)).float()
        tensors[prefix + ".lora_B.weight"] = torch.zeros(n_out, args.rank)
save_file(tensors, os.path.join(handoff, "initial_adapter.safetensors"), metadata={"format": "pt"})

job = {
    "format": 1,
    "model": {"path": folder, "gguf_file": gguf_file, "architecture": config.model_type},
    "base_model_name": os.path.basename(model_path),
    "lora": {"r": args.rank, "alpha": args.alpha, "dropout": 0.0, "use_rslora": False,
             "target_modules": [m.split(".")[1] for m in shapes]},
    "initial_adapter": os.path.join(handoff, "initial_adapter.safetensors"),
    "train": os.path.join(handoff, "train.jsonl"),
    "validation": os.path.join(handoff, "validation.jsonl"),
    "plan": os.path.join(handoff, "plan.jsonl"),
    "optimizer": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0, "max_grad_norm": 1.0},
    "batch_size": args.batch,
    "eval_every": args.eval_every, "save_every": args.save_every, "patience": args.patience, "keep_checkpoints": 2,
    "gradient_checkpointing": args.checkpointing,
    "precision": args.precision,
    "quantize": args.quantize,
    "device": "auto",
    "seed": args.seed,
    "output": out,
    "resume_from": None,
    "checkpoint_state": {"totalSteps": args.steps, "trainFingerprint": "synthetic-train",
                         "validationFingerprint": "synthetic-validation",
                         "parameters": {"note": "opaque to the torch program", "seed": args.seed}},
}
with open(os.path.join(handoff, "job.json"), "w") as f:
    json.dump(job, f, indent=2)
print(os.path.join(handoff, "job.json"))
