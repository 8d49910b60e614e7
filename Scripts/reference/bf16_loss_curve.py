#!/usr/bin/env python3
"""Reference loss curves for Tailor's bf16 engine: fp32 vs PyTorch bf16 autocast, 20 AdamW steps, one fixed batch.

Writes Tests/Fixtures/engine/bf16_curve.json: the case, learning rate, step count, the batch (token sequences and
labels, -1 = no loss), the loss before each update for fp32 and for bf16 autocast, their max relative difference,
and the torch/transformers/peft versions.

The model is engine_parity.py's "llama_untied" case, built by its functions (same sin weights, no RNG; PEFT LoRA
rank 4, alpha 8 on all 7 projections with sin/cos-initialised A and B; eager attention), and the batch is that
case's sequences, packed (each sequence on its own), loss = mean cross-entropy over target tokens.
bf16 run: forward + loss inside torch.autocast("cpu", dtype=torch.bfloat16), backward outside, fp32 LoRA masters.
Optimizer for both: AdamW(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0), no clipping, no schedule.

Run: python Scripts/reference/bf16_loss_curve.py   (needs torch, transformers, peft)
"""
import json, os, sys
import torch, transformers, peft

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engine_parity import CASES, OUT, build, loss_and_logits, sequences, wrap_lora

CASE, LR, STEPS = "llama_untied", 1e-2, 20


def curve(autocast):
    hf_json, model = build(CASES[CASE])
    peft_model, lora = wrap_lora(model)
    seqs, labels = sequences(hf_json["vocab_size"])
    optimizer = torch.optim.AdamW([p for _, p in lora], lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    losses = []
    for _ in range(STEPS):
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss, _ = loss_and_logits(peft_model, seqs, labels, False)
        losses.append(float(loss.detach().float()))
        loss.backward()
        optimizer.step()
    return seqs, labels, losses


def main():
    seqs, labels, fp32 = curve(False)
    _, _, bf16 = curve(True)
    rel = max(abs(b - f) / f for f, b in zip(fp32, bf16))
    out = {"case": CASE, "learning_rate": LR, "steps": STEPS, "sequences": seqs, "labels": labels,
           "fp32_losses": fp32, "bf16_autocast_losses": bf16, "max_relative_difference": rel,
           "torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "bf16_curve.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(f"{'step':>4} {'fp32':>10} {'bf16':>10} {'rel':>8}")
    for i, (f32, b16) in enumerate(zip(fp32, bf16)):
        print(f"{i:>4} {f32:>10.5f} {b16:>10.5f} {abs(b16 - f32) / f32:>8.5f}")
    print(f"max relative difference {rel:.5f}")


if __name__ == "__main__":
    main()
