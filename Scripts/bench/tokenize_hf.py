#!/usr/bin/env python3
"""Hugging Face `tokenizers` encoding speed on a text file, to set beside `tailor bench tokenize` on the same text.

Prints MB/s (MB = 10^6 bytes of UTF-8 input) for:
  one_core_mb_per_second          a single `encode` of the whole text, one thread (what Tailor's one-core figure does)
  one_core_batch_mb_per_second    `encode_batch` over the lines, one thread (fairer to HF: short inputs, its usual use)
  all_cores_mb_per_second         `encode_batch` over the lines on every core (Tailor's all-cores figure does the same)
and the token counts, which should equal Tailor's `tokens` and `batched_tokens` for the same tokenizer and text.
Each figure is the best of --repeat runs. Each mode runs in a fresh subprocess because the Rust thread pool is
sized once per process (one-core modes set RAYON_NUM_THREADS=1 and TOKENIZERS_PARALLELISM=false).

Compare with Tailor (README-ready):
  swift build -c release
  .build/release/tailor bench tokenize --save-text /tmp/t.txt      # 10 MB of generated English-like text
  /work/refvenv/bin/python Scripts/bench/tokenize_hf.py /tmp/t.txt   # needs `pip install tokenizers`

Usage: tokenize_hf.py TEXT_FILE [--tokenizer tokenizer.json] [--repeat N] [--json]
Default tokenizer: Tests/Fixtures/tokenizers/smollm2/tokenizer.json (SmolLM2, the same vocabulary as the test GGUF).
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_TOKENIZER = os.path.join(ROOT, "Tests", "Fixtures", "tokenizers", "smollm2", "tokenizer.json")


def measure(mode, text_path, tokenizer_path, repeat):
    """Runs in the child process: times one mode and returns (best seconds, tokens)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(tokenizer_path)
    with open(text_path, encoding="utf-8", newline="") as f:
        text = f.read()
    # Same split as Tailor's bench: on "\n", keeping empty lines, newline characters dropped.
    lines = text.split("\n")
    best, tokens = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        if mode == "single":
            tokens = len(tokenizer.encode(text, add_special_tokens=False).ids)
        else:
            tokens = sum(len(e.ids) for e in tokenizer.encode_batch(lines, add_special_tokens=False))
        best = min(best, time.perf_counter() - start)
    return best, tokens


def run_child(mode, one_thread, args):
    env = dict(os.environ)
    if one_thread:
        env["RAYON_NUM_THREADS"] = "1"
        env["RAYON_RS_NUM_CPUS"] = "1"
        env["TOKENIZERS_PARALLELISM"] = "false"
    else:
        env["TOKENIZERS_PARALLELISM"] = "true"
    command = [sys.executable, os.path.abspath(__file__), args.text, "--tokenizer", args.tokenizer,
               "--repeat", str(args.repeat), "--child", mode]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(output)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("text", help="a UTF-8 text file (e.g. from `tailor bench tokenize --save-text`)")
    parser.add_argument("--tokenizer", default=DEFAULT_TOKENIZER, help="a tokenizer.json (default: SmolLM2's)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is kept (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        seconds, tokens = measure(args.child, args.text, args.tokenizer, args.repeat)
        print(json.dumps({"seconds": seconds, "tokens": tokens}))
        return

    import tokenizers

    megabytes = os.path.getsize(args.text) / 1e6
    single = run_child("single", True, args)
    batch_one = run_child("batch", True, args)
    batch_all = run_child("batch", False, args)
    result = {
        "library": f"tokenizers {tokenizers.__version__}",
        "tokenizer": os.path.relpath(args.tokenizer, ROOT) if args.tokenizer.startswith(ROOT) else args.tokenizer,
        "megabytes": megabytes,
        "tokens": single["tokens"],
        "batched_tokens": batch_all["tokens"],
        "one_core_mb_per_second": megabytes / single["seconds"],
        "one_core_batch_mb_per_second": megabytes / batch_one["seconds"],
        "all_cores_mb_per_second": megabytes / batch_all["seconds"],
        "cores": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return
    for key, value in result.items():
        text = f"{value:.3f}" if isinstance(value, float) and value < 10 else (f"{value:.1f}" if isinstance(value, float) else str(value))
        print(f"{key:<30} {text}")


if __name__ == "__main__":
    main()
