"""Checks that `tailor train --backend torch` and the native engine train the same thing (a developer check on CPU;
CI does not install torch).

For each model it runs `tailor train` twice with the same data, seed and settings — once natively, once with
`--backend torch --device cpu --precision fp32` through this Python — so both start from the same LoRA initial values
(Tailor draws them and hands them over) and walk the same step plan. Then it compares:
  - the training loss of every step (metrics.jsonl of both runs): max |difference| must be <= --loss-tolerance (1e-3);
  - both final adapters loaded with PEFT's `PeftModel.from_pretrained` on the same base model: the logits of a
    chat they were not trained on must agree within --logit-tolerance relative to the logits' scale (max |logit|;
    the engine parity tests' measure), and each adapter must move the logits ten times further than the two differ
    (so an adapter that did nothing cannot pass).
With --ddp (on by default for `tiny`) it also runs the torch program of the finished torch run again as two
processes (torch.distributed.run, gloo on the CPU: the code path of `--gpus N`, where each rank trains a share of every
micro-batch and DDP averages the gradients) and checks that the adapter equals the one-process adapter within 1e-5.
Models: `tiny` — a 2-layer llama HF folder built here (deterministic sin weights, SmolLM2's tokenizer and chat
template, so Tailor reads the folder like any HF model); `smollm2` — the SmolLM2-135M Q4_1 GGUF of Scripts/fetch-assets
(the torch side loads it through transformers' gguf_file). Prints a table; exit status 1 when a check fails.

Run (after `swift build -c release` and `Scripts/fetch-assets`):
  /work/refvenv/bin/python Scripts/reference/torch_backend_parity.py [--models tiny,smollm2] [--steps 5]
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TQDM_DISABLE", "1")
import numpy as np
import torch
import transformers
from peft import PeftModel
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

root = pathlib.Path(__file__).resolve().parents[2]
parser = argparse.ArgumentParser()
parser.add_argument("--models", default="tiny,smollm2")
parser.add_argument("--steps", type=int, default=5)
parser.add_argument("--tailor", default=str(root / ".build/release/tailor"))
parser.add_argument("--gguf", default=str(root / ".assets/SmolLM2-135M-Instruct.Q4_1.gguf"))
parser.add_argument("--data", default=str(root / "Examples/data/smoke.jsonl"))
parser.add_argument("--loss-tolerance", type=float, default=1e-3)
parser.add_argument("--logit-tolerance", type=float, default=1e-3, help="max |diff| / max |logit|")
parser.add_argument("--no-ddp", action="store_true", help="skip the two-process (DDP on CPU) check")
parser.add_argument("--keep", help="keep the run folders under this folder instead of a temporary one")
args = parser.parse_args()
transformers.utils.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
gguf = pathlib.Path(args.gguf).resolve()
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from engine_parity import fill_sin_weights  # noqa: E402


def build_tiny(folder):
    """A 2-layer llama with GQA and SmolLM2's vocabulary, tokenizer and chat template, saved as an HF folder."""
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = AutoConfig.for_model(
        "llama", vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-5, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    model = AutoModelForCausalLM.from_config(config).float()
    fill_sin_weights(model)  # deterministic, without an RNG
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def train(model, output, backend):
    """One `tailor train` run; returns its step losses and the wall time."""
    command = [args.tailor, "train", "--model", str(model), "--data", args.data, "--output", str(output),
               "--max-steps", str(args.steps), "--batch-size", "4", "--max-length", "128", "--rank", "8",
               "--alpha", "16", "--learning-rate", "1e-3", "--val-split", "0", "--seed", "7",
               "--save-every", str(args.steps)]
    if backend == "torch":
        command += ["--backend", "torch", "--python", sys.executable, "--device", "cpu", "--precision", "fp32"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{backend} run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    losses = {}
    for line in (output / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "loss" in record:
            losses[record["step"]] = record["loss"]
    return losses, seconds


def ddp_matches(run, scratch):
    """Reruns the torch run's job with two CPU processes and compares the adapters (max |difference|)."""
    from safetensors.numpy import load_file

    job = json.loads((run / "torch/job.json").read_text())
    output = scratch / (run.name + "-ddp")
    (output / "torch").mkdir(parents=True, exist_ok=True)
    job.update(output=str(output), resume_from=None)
    (output / "torch/job.json").write_text(json.dumps(job))
    script = root / "Sources/Training/Python/tailor_torch_train.py"
    environment = dict(os.environ, ACCELERATE_USE_CPU="true", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
                           "--job", str(output / "torch/job.json")], capture_output=True, text=True, env=environment)
    if done.returncode != 0:
        sys.exit(f"two-process run failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    single, double = load_file(run / "adapter_model.safetensors"), load_file(output / "adapter_model.safetensors")
    assert single.keys() == double.keys()
    return max(float(np.abs(single[k] - double[k]).max()) for k in single)


def load_base(model):
    if str(model).endswith(".gguf"):
        return AutoModelForCausalLM.from_pretrained(model.parent, gguf_file=model.name, dtype=torch.float32)
    return AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)


def logits_with(model, adapter, ids):
    base = load_base(model).eval()
    with torch.no_grad():
        plain = base(torch.tensor([ids])).logits[0].numpy()
    if adapter is None:
        return plain
    tuned = PeftModel.from_pretrained(base, str(adapter)).eval()
    with torch.no_grad():
        return tuned(torch.tensor([ids])).logits[0].numpy()


def check(name, model, scratch):
    native_losses, native_seconds = train(model, scratch / f"{name}-native", "native")
    torch_losses, torch_seconds = train(model, scratch / f"{name}-torch", "torch")
    steps = sorted(native_losses)
    assert steps == sorted(torch_losses) == list(range(1, args.steps + 1)), (native_losses, torch_losses)
    print(f"\n{name}: {model}")
    print(f"{'step':>4} {'native loss':>14} {'torch loss':>14} {'|diff|':>10}")
    for step in steps:
        a, b = native_losses[step], torch_losses[step]
        print(f"{step:>4} {a:>14.6f} {b:>14.6f} {abs(a - b):>10.2e}")
    loss_diff = max(abs(native_losses[s] - torch_losses[s]) for s in steps)

    tokenizer = AutoTokenizer.from_pretrained(model.parent, gguf_file=model.name) if str(model).endswith(".gguf") \
        else AutoTokenizer.from_pretrained(model)
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "Which moon of Zorbia is the smallest?"}],
                                        tokenize=True, add_generation_prompt=True)
    if hasattr(ids, "keys"):
        ids = ids["input_ids"]
    base = logits_with(model, None, ids)
    native = logits_with(model, scratch / f"{name}-native", ids)
    tuned = logits_with(model, scratch / f"{name}-torch", ids)
    logit_diff = float(np.abs(native - tuned).max())
    scale = float(np.abs(native).max())
    shifts = float(np.abs(native - base).max()), float(np.abs(tuned - base).max())
    print(f"max |loss diff| {loss_diff:.2e} (tolerance {args.loss_tolerance:g}); adapters in PEFT: max |logit diff| "
          f"{logit_diff:.2e} = {logit_diff / scale:.2e} of the logit scale {scale:.2f} (tolerance "
          f"{args.logit_tolerance:g}) over {len(ids)} tokens; each adapter moves the "
          f"logits by {shifts[0]:.3f} / {shifts[1]:.3f}; wall time native {native_seconds:.1f} s, torch "
          f"{torch_seconds:.1f} s (including model load)")
    ok = loss_diff <= args.loss_tolerance and logit_diff <= args.logit_tolerance * scale and min(shifts) > 10 * logit_diff
    if name == "tiny" and not args.no_ddp:
        ddp = ddp_matches(scratch / f"{name}-torch", scratch)
        print(f"two processes (DDP, gloo on CPU) vs one: max |adapter difference| {ddp:.2e} (tolerance 1e-5)")
        ok = ok and ddp <= 1e-5
    return ok


def main():
    if not os.access(args.tailor, os.X_OK):
        sys.exit(f"{args.tailor} is missing: run swift build -c release")
    if not gguf.exists():
        sys.exit(f"{gguf} is missing: run Scripts/fetch-assets")
    print(f"torch {torch.__version__}, tailor {args.tailor}, {args.steps} steps, data {args.data}")
    ok = True
    with tempfile.TemporaryDirectory() as temporary:
        scratch = pathlib.Path(args.keep or temporary)
        scratch.mkdir(parents=True, exist_ok=True)
        for name in args.models.split(","):
            model = build_tiny(scratch / "tiny-llama") if name == "tiny" else gguf
            ok = check(name, model, scratch) and ok
    print("\nPASS" if ok else "\nFAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
