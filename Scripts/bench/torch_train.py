#!/usr/bin/env python3
"""PyTorch + PEFT twin of `tailor bench train`: the same LoRA workload, timed the same way.

Workload (kept identical to Sources/tailor/BenchCommand.swift):
  SmolLM2-135M from the GGUF (or --model), dequantized to fp32 by transformers; LoRA r 16, alpha 32, dropout 0 on
  q,k,v,o,gate,up,down; batch 4 x 256 token ids from SplitMix64(seed 42) % vocab (the very ids tailor uses);
  every position trained (labels = input_ids, HF shifts them, so B x (T-1) targets, mean loss as in tailor);
  AdamW lr 1e-4, betas (0.9, 0.999), eps 1e-8, weight decay 0; one warm-up step, then N timed steps.
  Attention is "sdpa" (torch.nn.functional.scaled_dot_product_attention, the standard fast path on CPU);
  gradient checkpointing is off unless --checkpointing.

Precision (--precision): fp32 runs everything in float32. bf16 is PyTorch's standard CPU mixed-precision recipe:
forward and loss under torch.autocast("cpu", dtype=torch.bfloat16), backward outside it; the model and LoRA
weights stay fp32 (the master copy AdamW updates), autocast casts them to bf16 for each linear layer, so the
matmuls (and sdpa, on the bf16 activations) run in bf16 with fp32 accumulation, and the loss (cross-entropy) in fp32.

Prints the same fields as tailor (text, or one JSON object with --json): tokens_per_second, ms_per_step,
gflops_per_second (tailor's own FLOP count for this workload, so the two GFLOP/s figures compare directly),
peak_rss_mb (getrusage ru_maxrss, load included, as in tailor); on Linux also load_peak_rss_mb and
train_peak_rss_mb (the high-water mark from after loading, via /proc/self/clear_refs). Also precision, weights,
and kernels: the kernel path torch ran, seen in one extra step after the timed ones with MKL's and oneDNN's verbose
logs on (captured, not printed): ATen's CPU capability and the CPU's avx512_bf16 / amx_bf16, then per library its
version, the ISA it dispatched to and its calls in that step by routine (MKL) or primitive:implementation (oneDNN),
with their logged time; for bf16 whether oneDNN's bf16 matmuls ran (and on AMX or not). kernel_calls has the
counts. --no-probe skips that step (kernels then says what torch could run, not what it ran).

Run: python Scripts/bench/torch_train.py [--model PATH | --assets .assets] [--steps 5] [--threads N]
       [--precision fp32|bf16] [--json] [--verbose]
Needs torch, transformers, peft, gguf (Scripts/bench/compare makes a venv with them).
"""
import argparse
import collections
import contextlib
import json
import os
import re
import resource
import sys
import tempfile
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


def cpu_features(torch):
    """The CPU's bf16 features as ATen sees them (older torch lacks the query: None)."""
    query = getattr(getattr(torch._C, "_cpu", None), "_get_cpu_capability", None)
    try:
        features = query() if query else None
    except Exception:
        features = None
    return features if isinstance(features, dict) else None


def onednn_bf16_supported(torch):
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:
        return None


@contextlib.contextmanager
def captured_stdout():
    """Redirects file descriptor 1 (where MKL and oneDNN write their verbose logs) to a temporary file and yields
    a function that returns what was written so far."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        done = []

        def text():
            return b"".join(done).decode(errors="replace")
        try:
            yield text
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            done.append(sink.read())


def verbose_step(torch, step):
    """Runs step() once with MKL and oneDNN verbose logging on; returns the log (empty where neither can log)."""
    with captured_stdout() as log:
        with contextlib.ExitStack() as stack:
            for backend in (torch.backends.mkl, torch.backends.mkldnn):
                try:
                    stack.enter_context(backend.verbose(backend.VERBOSE_ON))
                except Exception:  # no MKL / oneDNN in this build, or its verbose mode is unavailable
                    pass
            step()
    return log()


def duration_ms(text):
    match = re.match(r"\s*([\d.]+)\s*(ns|us|ms|s)?\s*$", text)
    if not match:
        return 0.0
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3, None: 1.0}[match.group(2)]
    return float(match.group(1)) * scale


def parse_verbose(log):
    """MKL_VERBOSE and onednn_verbose (dnnl_verbose in older oneDNN) lines -> versions, ISAs, calls per kernel."""
    info = {"mkl_version": None, "mkl_isa": None, "dnnl_version": None, "dnnl_isa": None}
    calls = collections.OrderedDict()

    def count(key, ms):
        entry = calls.setdefault(key, {"calls": 0, "ms": 0.0})
        entry["calls"] += 1
        entry["ms"] += ms
    for line in log.splitlines():
        if line.startswith("MKL_VERBOSE "):
            body = line[len("MKL_VERBOSE "):]
            header = re.match(r"(?:oneMKL|Intel\(R\) (?:oneAPI )?(?:Math Kernel Library|MKL))\s+(?:Version\s+)?"
                              r"([\d.]+(?: Update \d+)?)", body)
            if header:
                info["mkl_version"] = header.group(1)
                isa = re.search(r"architecture\s+(.*?processors)", body)
                info["mkl_isa"] = isa.group(1) if isa else None
                continue
            call = re.match(r"(\w+)\(.*?\)\s+([\d.]+\s*(?:ns|us|ms|s))", body)
            if call:
                count(f"MKL {call.group(1)}", duration_ms(call.group(2)))
        elif line.startswith(("onednn_verbose,", "dnnl_verbose,")):
            fields = line.split(",")
            if "info" in fields[:4]:
                rest = ",".join(fields[fields.index("info") + 1:])
                version = re.search(r"(?:oneDNN|DNNL) (v[\d.]+)", rest)
                if version:
                    info["dnnl_version"] = version.group(1)
                if rest.startswith("cpu,isa:"):
                    info["dnnl_isa"] = rest[len("cpu,isa:"):]
            elif "exec" in fields[:4]:
                at = fields.index("exec")
                if len(fields) > at + 3 and fields[at + 1] == "cpu":
                    count(f"oneDNN {fields[at + 2]} {fields[at + 3]}", duration_ms(fields[-1]))
    return info, calls


def describe_kernels(torch, precision, log):
    """The "kernels" string: ATen's vector ISA and the CPU's bf16 features, then per library what the verbose step
    ran (or, without a log, what the build offers), and for bf16 whether oneDNN's bf16 path ran and on what."""
    info, calls = parse_verbose(log) if log is not None else ({}, {})
    config = torch.__config__.show()
    features = cpu_features(torch)
    capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "?")()
    parts = []
    cpu = f"ATen {capability}"
    if features is not None:
        cpu += (f" (CPU avx512_bf16 {'yes' if features.get('avx512_bf16') else 'no'}, "
                f"amx_bf16 {'yes' if features.get('amx_bf16') else 'no'})")
    parts.append(cpu)

    def top(prefix):
        mine = [(key[len(prefix) + 1:], value) for key, value in calls.items() if key.startswith(prefix + " ")]
        mine.sort(key=lambda item: -item[1]["ms"])
        shown = [f"{name} x{value['calls']} {value['ms']:.0f} ms" for name, value in mine[:4]]
        if len(mine) > 4:
            shown.append(f"{len(mine) - 4} more")
        return ", ".join(shown)
    if torch.backends.mkl.is_available():
        version = info.get("mkl_version") or (re.search(r"Math Kernel Library Version ([\d.]+)", config) or [None, "?"])[1]
        mkl = f"MKL {version}"
        if info.get("mkl_isa"):
            mkl += f" [{info['mkl_isa']}]"
        ran = top("MKL")
        mkl += f": {ran}" if ran else (": no calls" if log is not None else "")
        parts.append(mkl)
    if torch.backends.mkldnn.is_available():
        version = info.get("dnnl_version") or (re.search(r"MKL-DNN (v[\d.]+)", config) or [None, "?"])[1]
        dnnl = f"oneDNN {version}"
        if info.get("dnnl_isa"):
            dnnl += f" [{info['dnnl_isa']}]"
        ran = top("oneDNN")
        dnnl += f": {ran}" if ran else (": no primitives" if log is not None else "")
        parts.append(dnnl)
    if precision == "bf16":
        supported = onednn_bf16_supported(torch)
        bf16 = [key for key in calls if key.startswith("oneDNN ") and "bf16" in key]
        if log is None:
            state = {True: "supported", False: "not supported", None: "?"}[supported]
        elif bf16:
            state = "used, " + ("AMX" if any("amx" in key for key in bf16) else "no AMX")
        else:
            state = "not used" + (" (supported)" if supported else " (not supported)" if supported is False else "")
        parts.append(f"oneDNN bf16 matmul: {state}")
    return "; ".join(parts), calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", default=os.environ.get("TAILOR_ASSETS", ".assets"))
    parser.add_argument("--gguf", default="SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--model", help="A GGUF file, or a directory with config.json and safetensors "
                                        "(default: ASSETS/GGUF).")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--sequence-length", type=int, default=256)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--alpha", type=float, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--attention", default="sdpa", choices=["sdpa", "eager"])
    parser.add_argument("--checkpointing", action="store_true", help="Recompute activations in backward.")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                        help="bf16: forward and loss under torch.autocast(\"cpu\", dtype=torch.bfloat16); "
                             "weights stay fp32.")
    parser.add_argument("--no-probe", action="store_true",
                        help="Skip the extra verbose-logged step that names the kernels torch ran.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")
    parser.add_argument("--verbose", action="store_true", help="Also print versions and torch's BLAS on stderr.")
    args = parser.parse_args()

    path = args.model or os.path.join(args.assets, args.gguf)
    if not os.path.exists(path):
        sys.exit(f"torch_train.py: {path} is missing; run Scripts/fetch-assets or pass --model / --assets")
    if os.path.isdir(path):
        model_dir, gguf_file, model_name = path, None, os.path.basename(os.path.normpath(path))
    else:
        model_dir, gguf_file = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
        model_name = gguf_file

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
              f"threads {torch.get_num_threads()}, attention {args.attention}, precision {args.precision}",
              file=sys.stderr)
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
    source = {"gguf_file": gguf_file} if gguf_file else {}
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, attn_implementation=args.attention, **source, **{dtype_key: torch.float32})
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

    def autocast():
        if args.precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def step():
        optimizer.zero_grad(set_to_none=False)
        with autocast():
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
    peak, train_peak = peak_rss_mb(), (vm_hwm_mb() if train_peak_known else None)
    # One more step, untimed, with the libraries' verbose logs on: what ran, not what might.
    log = None if args.no_probe else verbose_step(torch, step)
    kernels, kernel_calls = describe_kernels(torch, args.precision, log)

    tokens = args.batch_size * args.sequence_length
    flops = training_flops(config, args.rank, args.batch_size, args.sequence_length)
    result = {
        "model": model_name, "threads": torch.get_num_threads(),
        "batch": f"{args.batch_size} x {args.sequence_length}",
        "trainable_params": sum(p.numel() for p in trainable), "load_seconds": load_seconds,
        "ms_per_step": seconds * 1000, "tokens_per_second": tokens / seconds,
        "gflops_per_second": flops / seconds / 1e9, "peak_rss_mb": peak,
        "load_peak_rss_mb": load_peak,
        "attention": args.attention, "checkpointing": args.checkpointing,
        "first_loss": warm_loss, "last_loss": loss, "blas": torch_blas(torch),
        "precision": args.precision, "kernels": kernels,
        "weights": "fp32" + (" (autocast casts to bf16 per matmul)" if args.precision == "bf16" else ""),
    }
    if kernel_calls:
        result["kernel_calls"] = {key: {"calls": value["calls"], "ms": round(value["ms"], 3)}
                                  for key, value in kernel_calls.items()}
    if train_peak is not None:
        result["train_peak_rss_mb"] = train_peak
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            if key == "kernel_calls":
                continue
            text = f"{value:.3f}" if isinstance(value, float) and value < 10 else (
                f"{value:.1f}" if isinstance(value, float) else str(value))
            print(f"{key:<18} {text}")


if __name__ == "__main__":
    main()
