#!/usr/bin/env python3
"""PyTorch + PEFT twin of `tailor bench train`: the same LoRA workload, timed the same way.

Workload (kept identical to Sources/tailor/BenchCommand.swift):
  SmolLM2-135M from the GGUF, dequantized to fp32 by transformers; LoRA r 16, alpha 32, dropout 0 on
  q,k,v,o,gate,up,down; batch 4 x 256 token ids from SplitMix64(seed 42) % vocab (the very ids tailor uses);
  every position trained (labels = input_ids, HF shifts them, so B x (T-1) targets, mean loss as in tailor);
  AdamW lr 1e-4, betas (0.9, 0.999), eps 1e-8, weight decay 0; one warm-up step, then N timed steps.
  Attention is "sdpa" (torch.nn.functional.scaled_dot_product_attention, the standard fast path on CPU);
  gradient checkpointing is off unless --checkpointing.

Prints the same fields as tailor (text, or one JSON object with --json): tokens_per_second, ms_per_step,
gflops_per_second (tailor's own FLOP count for this workload, so the two GFLOP/s figures compare directly),
peak_rss_mb (getrusage ru_maxrss, load included, as in tailor); on Linux also load_peak_rss_mb and
train_peak_rss_mb (the high-water mark from after loading, via /proc/self/clear_refs).

Run: python Scripts/bench/torch_train.py [--assets .assets] [--steps 5] [--threads N] [--json] [--verbose]
Needs torch, transformers, peft, gguf (Scripts/bench/compare makes a venv with them).
"""
import argparse
import json
import os
import resource
import sys
import time
import warnings

MASK64 = (1 << 64) - 1


def splitmix64(seed):
    """The generator of Sources/Models/LoRA.swift, so both benchmarks train on the same ids."""
    state = seed
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        yield z ^ (z >> 31)


def training_flops(config, rank, sequences, length):
    """Mirror of trainingFLOPs in BenchCommand.swift: frozen projections forward + input-gradient backward,
    LoRA products, lm_head both ways, attention (two products forward, five backward, full T x T)."""
    hidden, inter = config.hidden_size, config.intermediate_size
    heads, kv = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    shapes = [(hidden, heads * head_dim), (hidden, kv * head_dim), (hidden, kv * head_dim),
              (heads * head_dim, hidden), (hidden, inter), (hidden, inter), (inter, hidden)]
    n = sequences * length
    linear = sum(i * o for i, o in shapes)
    adapter = sum(rank * (i + o) for i, o in shapes)
    layers = config.num_hidden_layers
    projections = layers * (4 * n * linear + 6 * n * adapter)
    head = 4 * n * config.vocab_size * hidden
    attention = layers * sequences * heads * 7 * 2 * length * length * head_dim
    return float(projections + head + attention)


def peak_rss_mb():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Kilobytes on Linux, bytes on macOS.
    return peak / (1_048_576 if sys.platform == "darwin" else 1024)


def reset_peak_rss():
    """Clears VmHWM (writing 5 to clear_refs); ru_maxrss keeps the lifetime peak either way."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return vm_hwm_mb() is not None
    except OSError:
        return False


def vm_hwm_mb():
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def torch_blas(torch):
    """Which matmul library torch uses and the vector ISA it dispatches to, for the side-by-side report."""
    library = "MKL" if torch.backends.mkl.is_available() else "no MKL"
    capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "?")()
    return f"{library}, {capability} kernels"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", default=os.environ.get("TAILOR_ASSETS", ".assets"))
    parser.add_argument("--gguf", default="SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--sequence-length", type=int, default=256)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--alpha", type=float, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--attention", default="sdpa", choices=["sdpa", "eager"])
    parser.add_argument("--checkpointing", action="store_true", help="Recompute activations in backward.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")
    parser.add_argument("--verbose", action="store_true", help="Also print versions and torch's BLAS on stderr.")
    args = parser.parse_args()

    path = os.path.join(args.assets, args.gguf)
    if not os.path.exists(path):
        sys.exit(f"torch_train.py: {path} is missing; run Scripts/fetch-assets or pass --assets")

    if not args.verbose:
        os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' GGUF loader draws its own bar
    import torch
    import transformers
    import peft
    from transformers import AutoModelForCausalLM
    from peft import LoraConfig, get_peft_model

    torch.set_num_threads(max(1, args.threads))
    if args.verbose:
        print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
              f"threads {torch.get_num_threads()}, attention {args.attention}", file=sys.stderr)
        print(torch.__config__.show(), file=sys.stderr)
        for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            print(f"{key}={os.environ.get(key, '(unset)')}", file=sys.stderr)

    if not args.verbose:
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        warnings.filterwarnings("ignore")
    # transformers 4.56 renamed torch_dtype to dtype; older releases only know the first.
    version = tuple(int(part) for part in transformers.__version__.split(".")[:2] if part.isdigit())
    dtype_key = "dtype" if version >= (4, 56) else "torch_dtype"
    load_start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(
        args.assets, gguf_file=args.gguf, attn_implementation=args.attention, **{dtype_key: torch.float32})
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(model, LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=0.0,
                                             target_modules=targets, bias="none", task_type="CAUSAL_LM"))
    if args.checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.config.use_cache = False
    model.train()
    load_seconds = time.perf_counter() - load_start
    # GGUF dequantization in transformers briefly holds several copies of the weights; reset the kernel's
    # high-water mark (Linux) so the training peak can be reported apart from the load peak.
    load_peak = peak_rss_mb()
    train_peak_known = reset_peak_rss()
    if args.verbose:
        print(f"gradient checkpointing: {any(getattr(m, 'gradient_checkpointing', False) for m in model.modules())}", file=sys.stderr)
    config = model.config

    generator = splitmix64(42)
    ids = [[next(generator) % config.vocab_size for _ in range(args.sequence_length)]
           for _ in range(args.batch_size)]
    input_ids = torch.tensor(ids, dtype=torch.long)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    def step():
        optimizer.zero_grad(set_to_none=False)
        loss = model(input_ids=input_ids, labels=input_ids).loss
        loss.backward()
        optimizer.step()
        return loss.item()

    warm_loss = step()
    steps = max(args.steps, 1)
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    seconds = (time.perf_counter() - start) / steps

    tokens = args.batch_size * args.sequence_length
    flops = training_flops(config, args.rank, args.batch_size, args.sequence_length)
    result = {
        "model": args.gguf, "threads": torch.get_num_threads(),
        "batch": f"{args.batch_size} x {args.sequence_length}",
        "trainable_params": sum(p.numel() for p in trainable), "load_seconds": load_seconds,
        "ms_per_step": seconds * 1000, "tokens_per_second": tokens / seconds,
        "gflops_per_second": flops / seconds / 1e9, "peak_rss_mb": peak_rss_mb(),
        "load_peak_rss_mb": load_peak,
        "attention": args.attention, "checkpointing": args.checkpointing,
        "first_loss": warm_loss, "last_loss": loss, "blas": torch_blas(torch),
    }
    if train_peak_known:
        result["train_peak_rss_mb"] = vm_hwm_mb()
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            text = f"{value:.3f}" if isinstance(value, float) and value < 10 else (
                f"{value:.1f}" if isinstance(value, float) else str(value))
            print(f"{key:<18} {text}")


if __name__ == "__main__":
    main()
