#!/usr/bin/env python3
"""Checks Tailor's exports for every family against independent programs, on tiny models of each family.

For each family (llama, mistral, qwen2, qwen3, gemma2, gemma3, granite, phi3, phi):
  1. builds a tiny transformers model (weights without an RNG, as Scripts/reference/engine_parity.py builds them, on a
     real tokenizer: SmolLM2's byte-level BPE, or for Gemma 2 and Qwen 2 a small SentencePiece model trained here)
     and saves it as a Hugging Face folder;
  2. converts that folder to an f32 GGUF with llama.cpp's own convert_hf_to_gguf.py (so the GGUF's names and
     conventions are llama.cpp's, not Tailor's);
  3. trains a LoRA adapter with `tailor train` on the GGUF (a repeated sentence, so the adapter visibly changes the
     greedy continuation);
  4. llama.cpp: greedy continuations of the base + Tailor's GGUF LoRA (`--lora`) and of Tailor's merged GGUF must
     equal `tailor generate` with the adapter; the base's (untrained, nearly flat logits, so near-ties part the
     texts) is shown with the characters it shares with Tailor's, and must differ from the tuned one;
  5. PEFT: Tailor's PEFT export loaded with `PeftModel.from_pretrained` on the transformers model of step 1; its
     logits compared with Tailor's for the same tokens (hidden `tailor train --dump-logits`);
  6. transformers: Tailor's merged HF folder (`--to merged --dtype f32`, from the GGUF base) loaded as it is; its
     logits compared with PEFT's; its tokenizer.json read by HF tokenizers must give Tailor's ids (AutoTokenizer's
     are shown beside them).

Prints one block per family and a summary table; exit status 1 if any family fails a check. Writes only under --work.

Needs: torch, transformers, peft, sentencepiece (the .venv-bench environment of Scripts/bench/compare plus
`pip install sentencepiece`), a llama.cpp build with llama-completion (Scripts/reference/llamacpp_build.sh) and its
source tree for the converter, and a release build of tailor.

Run: .venv-bench/bin/python Scripts/reference/family_exports_check.py [FAMILY ...]
       [--work /tmp/tailor-families] [--llamacpp /tmp/tailor-llamacpp] [--tailor .build/release/tailor]
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import torch

root = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(root / "Scripts" / "reference"))
from engine_parity import fill_sin_weights  # noqa: E402  (the same RNG-free weights as the parity fixtures)

BASE = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=256, tie_word_embeddings=False)
# Each family's recipe as its real checkpoints set it; sliding windows (8) are shorter than prompt + continuation.
FAMILIES = {
    "llama": dict(model_type="llama"),
    "mistral": dict(model_type="mistral", sliding_window=None),
    "qwen2": dict(model_type="qwen2", tie_word_embeddings=True),
    "qwen3": dict(model_type="qwen3", head_dim=32, tie_word_embeddings=True),
    # Gemma 2 2B/9B's query scalar is the head width: a GGUF has no key for it (27B's rule is llama.cpp's own).
    "gemma2": dict(model_type="gemma2", head_dim=16, query_pre_attn_scalar=16, sliding_window=8,
                   attn_logit_softcapping=50.0, final_logit_softcapping=30.0, tie_word_embeddings=True),
    "gemma3": dict(model_type="gemma3_text", head_dim=16, query_pre_attn_scalar=16, sliding_window=8,
                   rope_theta=1000000.0, rope_local_base_freq=10000.0, tie_word_embeddings=True),
    "granite": dict(model_type="granite", embedding_multiplier=3.0, residual_multiplier=0.4,
                    attention_multiplier=0.3, logits_scaling=2.5, tie_word_embeddings=True),
    "phi3": dict(model_type="phi3", sliding_window=None, tie_word_embeddings=False),
    # Phi-2 has as many key/value heads as query heads and a 4 × hidden MLP (llama.cpp's converter writes no other).
    "phi": dict(model_type="phi", num_key_value_heads=4, intermediate_size=256, partial_rotary_factor=0.5, layer_norm_eps=1e-5, hidden_act="gelu_new",
                weight_amplitude=0.1),
}
PROMPT = "The capital of France is"
SENTENCE = "The capital of France is Paris, and the river that runs through it is the Seine."
TOKENS = 24
# Families given the SentencePiece tokenizer: Gemma 2's converter takes no other, and in a qwen2 folder transformers
# loads SmolLM2's byte-level tokenizer as Qwen2Tokenizer, whose pre-tokenizer llama.cpp's converter does not know.
SENTENCEPIECE = {"gemma2", "qwen2"}


def run(cmd, **kwargs):
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, errors="replace", **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{pathlib.Path(str(cmd[0])).name} failed ({result.returncode}): "
                           f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}")
    return result.stdout


def byte_level_tokenizer(folder):
    """SmolLM2's tokenizer, as transformers reads it from the SmolLM2 GGUF (independent of Tailor's export)."""
    from transformers import AutoTokenizer
    gguf = root / ".assets" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.save_pretrained(folder)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "GPT2Tokenizer"  # Phi-4-mini's class; selects the BPE vocabulary in the converter
    config_path.write_text(json.dumps(config, indent=2))
    return len(tokenizer), dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)


def sentencepiece_tokenizer(folder, work):
    """A 512-piece SentencePiece BPE model (Gemma's layout: pad 0, eos 1, bos 2, unk 3, byte fallback)."""
    import sentencepiece
    corpus = work / "corpus.txt"
    lines = [SENTENCE] + (root / "README.md").read_text().splitlines()
    corpus.write_text("\n".join(line for line in lines if line.strip()) + "\n")
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(folder / "tokenizer"), vocab_size=512, model_type="bpe",
        byte_fallback=True, pad_id=0, eos_id=1, bos_id=2, unk_id=3, character_coverage=1.0,
        minloglevel=2)
    return 512, dict(pad_token_id=0, eos_token_id=1, bos_token_id=2)


def build_model(family, folder, work):
    from transformers import AutoConfig, AutoModelForCausalLM
    folder.mkdir(parents=True, exist_ok=True)
    if family in SENTENCEPIECE:
        vocab, special = sentencepiece_tokenizer(folder, work)
    else:
        vocab, special = byte_level_tokenizer(folder)
    settings = dict(BASE, **FAMILIES[family], vocab_size=vocab, **special)
    amplitude = settings.pop("weight_amplitude", 0.2)
    model_type = settings.pop("model_type")
    local = settings.pop("rope_local_base_freq", None)
    rope = dict(rope_type="default", rope_theta=settings.pop("rope_theta"))
    if local is not None:
        rope = dict(full_attention=rope, sliding_attention=dict(rope_type="default", rope_theta=local))
    config = AutoConfig.for_model(model_type, rope_parameters=rope, **settings)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").float()
    fill_sin_weights(model, amplitude)
    model.save_pretrained(folder)
    return model


def logits_of(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def common_prefix(a, b):
    return len(os.path.commonprefix([a, b]))


def check_family(family, args):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from peft import PeftModel
    work = args.work / family
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    hf = work / "hf"
    model = build_model(family, hf, work)
    source = args.llamacpp / "llama_cpp_python-0.3.36" / "vendor" / "llama.cpp"
    gguf = work / "base.gguf"
    env = dict(os.environ, PYTHONPATH=str(source / "gguf-py"))
    run([sys.executable, source / "convert_hf_to_gguf.py", hf, "--outtype", "f32", "--outfile", gguf], env=env)

    data = work / "data.jsonl"
    data.write_text("".join(json.dumps({"text": SENTENCE}) + "\n" for _ in range(16)))
    run_dir = work / "run"
    run([args.tailor, "train", "--model", gguf, "--data", data, "--output", run_dir, "--max-steps", 30,
         "--learning-rate", "1e-2", "--rank", 8, "--alpha", 16, "--batch-size", 4, "--threads", 2])

    llama_bin = args.llamacpp / "build" / "bin" / "llama-completion"

    def llama(model_path, *extra):
        out = run([llama_bin, "-m", model_path, *extra, "-p", PROMPT, "-n", TOKENS, "--temp", 0, "--top-k", 1,
                   "-no-cnv", "--no-display-prompt", "--seed", 1, "-t", 2])
        return out.replace(" [end of text]", "").strip("\n")

    def tailor(*extra):
        return run([args.tailor, "generate", "--model", gguf, *extra, "--raw", "--prompt", PROMPT, "--max-tokens",
                    TOKENS, "--temperature", 0, "--threads", 2]).strip("\n")

    report = dict(family=family)
    adapter = work / "adapter.gguf"
    run([args.tailor, "export", run_dir, "--to", "gguf-lora", "--output", adapter])
    merged_gguf = work / "merged.gguf"
    run([args.tailor, "export", run_dir, "--to", "gguf", "--dtype", "f32", "--output", merged_gguf])
    texts = dict(llama_base=llama(gguf), tailor_base=tailor(), llama_lora=llama(gguf, "--lora", adapter),
                 tailor_tuned=tailor("--adapter", run_dir), llama_merged=llama(merged_gguf))
    for key, text in texts.items():
        print(f"  {key:13} {text!r}")
    # The untrained tiny model's logits are nearly flat, so its greedy texts may part at a near-tie: the base
    # comparison calibrates (characters in common), the trained ones must be equal.
    report["base_prefix"] = f'{common_prefix(texts["llama_base"], texts["tailor_base"])}/{len(texts["llama_base"])}'
    report["lora"] = texts["llama_lora"] == texts["tailor_tuned"]
    report["merged_gguf"] = texts["llama_merged"] == texts["tailor_tuned"]
    report["adapter_changes_llama"] = texts["llama_lora"] != texts["llama_base"]

    peft_dir = work / "peft"
    run([args.tailor, "export", run_dir, "--to", "peft", "--output", peft_dir])
    ids = [int(t) for t in run([args.tailor, "tokenize", "--model", gguf, "--ids", SENTENCE]).split()]
    dump = work / "logits.bin"
    run([args.tailor, "train", "--model", gguf, "--dump-logits", dump, "--dump-adapter", peft_dir,
         "--dump-tokens", ",".join(map(str, ids))])
    model.eval()
    base_logits = logits_of(model, ids)
    peft_model = PeftModel.from_pretrained(model, peft_dir)
    peft_model.eval()
    peft_logits = logits_of(peft_model, ids)
    tailor_logits = np.fromfile(dump, dtype="<f4").reshape(peft_logits.shape)
    scale = float(np.abs(peft_logits).max())
    report["peft_diff"] = float(np.abs(tailor_logits - peft_logits).max()) / scale
    report["peft_shift"] = float(np.abs(peft_logits - base_logits).max()) / scale

    merged_dir = work / "merged"
    run([args.tailor, "export", run_dir, "--to", "merged", "--dtype", "f32", "--output", merged_dir])
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32, attn_implementation="eager")
    merged.eval()
    report["merged_hf_diff"] = float(np.abs(logits_of(merged, ids) - peft_logits).max()) / scale
    # The file itself (HF tokenizers) must give Tailor's ids; AutoTokenizer is shown too: in a qwen2 folder
    # transformers 5 builds its own Qwen2Tokenizer, which does not fit this check's SentencePiece vocabulary.
    from tokenizers import Tokenizer
    report["merged_tokenizer"] = Tokenizer.from_file(str(merged_dir / "tokenizer.json")).encode(SENTENCE).ids == ids
    try:
        report["auto_tokenizer"] = AutoTokenizer.from_pretrained(merged_dir)(SENTENCE)["input_ids"] == ids
    except Exception as error:  # noqa: BLE001  (shown, not raised: the other checks still stand)
        report["auto_tokenizer"] = f"error: {error}"
    return report


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("families", nargs="*", default=list(FAMILIES))
    parser.add_argument("--work", type=pathlib.Path, default=pathlib.Path("/tmp/tailor-families"))
    parser.add_argument("--llamacpp", type=pathlib.Path, default=pathlib.Path("/tmp/tailor-llamacpp"))
    parser.add_argument("--tailor", type=pathlib.Path, default=root / ".build" / "release" / "tailor")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="logit differences, relative to their scale")
    args = parser.parse_args()
    reports, failed = [], False
    for family in args.families:
        print(f"== {family}")
        try:
            report = check_family(family, args)
        except Exception as error:  # noqa: BLE001  (one family's failure must not hide the others')
            print(f"  error: {error}")
            report = dict(family=family, error=str(error))
        reports.append(report)
        ok = ("error" not in report and report["lora"] and report["merged_gguf"]
              and report["adapter_changes_llama"] and report["peft_diff"] <= args.tolerance
              and report["peft_shift"] > 10 * args.tolerance and report["merged_hf_diff"] <= args.tolerance
              and report["merged_tokenizer"])
        failed |= not ok
        print(f"  {'ok' if ok else 'FAILED'}: {json.dumps(report)}")
    print("\n| family | llama.cpp base, characters shared with Tailor | + GGUF LoRA = Tailor | merged GGUF = Tailor | LoRA changes llama.cpp "
          "| PEFT vs Tailor | adapter shift | merged HF vs PEFT | merged tokenizer.json | AutoTokenizer |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in reports:
        if "error" in r:
            print(f"| {r['family']} | error: {r['error'][:80]} |||||||")
            continue
        yes = lambda v: "yes" if v else "NO"  # noqa: E731
        print(f"| {r['family']} | {r['base_prefix']} | {yes(r['lora'])} | {yes(r['merged_gguf'])} | "
              f"{yes(r['adapter_changes_llama'])} | {r['peft_diff']:.1e} | {r['peft_shift']:.2f} | "
              f"{r['merged_hf_diff']:.1e} | {yes(r['merged_tokenizer'])} | {r['auto_tokenizer']} |")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
