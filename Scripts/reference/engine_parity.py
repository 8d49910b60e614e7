#!/usr/bin/env python3
"""Reference numbers for Tailor's engine: tiny transformers + PEFT LoRA models, fp32, eager attention.

Writes Tests/Fixtures/engine/<case>.json (config, batches, LoRA settings, offsets) and <case>.bin (little-endian
float32 arrays: logits, per-module LoRA gradients, LoRA weights after 3 AdamW steps) for each case below.

Weights are built without an RNG so the Swift test constructs the identical model:
  the model's tensors, sorted by HF name, tensor k gets value[i] = amp * sin(1.3 * k + 0.37 * i + 0.001 * i * i)
  (+ 1 for norms; the quadratic phase keeps the matrices full-rank), amp = 0.5 for the embedding, 0.1 for norms,
  0.2 otherwise (the case's `weight_amplitude` where it sets one, recorded in its JSON); computed in float64,
  rounded to float32.
  LoRA tensors, sorted by PEFT name, tensor k: A[i] = 0.1 * sin(0.7 * k + 0.5 + 0.29 * i + 0.001 * i * i),
  B[i] = 0.1 * cos(0.9 * k + 0.25 + 0.31 * i + 0.001 * i * i) (B is non-zero so A's gradient is too).

Run: python Scripts/reference/engine_parity.py   (needs torch, transformers, peft)
"""
import json, math, os, struct, sys
import numpy as np
import torch
from transformers import AutoConfig, AutoModelForCausalLM
from peft import LoraConfig, get_peft_model

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "engine")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PHI3_TARGETS = ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
BASE = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=101, rms_norm_eps=1e-5, rope_theta=10000.0,
            max_position_embeddings=64, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
CASES = {
    "llama_untied": dict(model_type="llama"),
    "llama_tied": dict(model_type="llama", tie_word_embeddings=True, num_key_value_heads=1),
    "llama3_rope": dict(model_type="llama", rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                                              high_freq_factor=4.0, original_max_position_embeddings=16),
                        rope_theta=500000.0),
    "qwen2": dict(model_type="qwen2", tie_word_embeddings=True),
    "qwen3": dict(model_type="qwen3", head_dim=32, tie_word_embeddings=True),
    "mistral": dict(model_type="mistral", sliding_window=None),
    # Gemma 3: sandwich norms, (1 + w) RMSNorm, GeGLU, q/k norm, sqrt(C) embedding scale, query_pre_attn_scalar,
    # a sliding window shorter than the sequences on layer 0 (local RoPE base) and a linearly scaled global layer 1.
    # config.json in the classic form (rope_theta, rope_local_base_freq, rope_scaling).
    "gemma3": dict(model_type="gemma3_text", head_dim=16, query_pre_attn_scalar=24, sliding_window=3,
                   layer_types=["sliding_attention", "full_attention"], rope_theta=1000000.0,
                   rope_local_base_freq=10000.0, rope_scaling=dict(rope_type="linear", factor=2.0),
                   tie_word_embeddings=True),
    # The same family untied, with config.json as transformers 5 writes it (rope_parameters by layer type).
    "gemma3_v5": dict(model_type="gemma3_text", head_dim=16, query_pre_attn_scalar=16, sliding_window=2,
                      layer_types=["full_attention", "sliding_attention"], rope_theta=1000000.0,
                      rope_local_base_freq=10000.0, tie_word_embeddings=False, serialize="transformers"),
    # Gemma 2: Gemma 3's layer without q/k norm, with attention and final logit soft-capping (caps small enough
    # for tanh to bend these scores and logits), one RoPE base, and the default alternation (layer 0 sliding).
    "gemma2": dict(model_type="gemma2", head_dim=16, query_pre_attn_scalar=24, sliding_window=3,
                   attn_logit_softcapping=4.0, final_logit_softcapping=12.0, tie_word_embeddings=True),
    # Granite: the llama layer with embedding, residual and attention multipliers and logits divided by a scale.
    "granite": dict(model_type="granite", embedding_multiplier=3.0, residual_multiplier=0.4,
                    attention_multiplier=0.3, logits_scaling=2.5, tie_word_embeddings=True),
    # Phi-3: q/k/v fused in qkv_proj and gate/up in gate_up_proj (LoRA on the fused modules, as PEFT adapts them),
    # every layer through a sliding window shorter than the sequences.
    "phi3": dict(model_type="phi3", sliding_window=3, pad_token_id=0, targets=PHI3_TARGETS),
    # Phi-4-mini's recipe: half of each head rotated, LongRoPE (short factors within the original context of 32,
    # an attention factor from the 64 / 32 context ratio), tied embeddings.
    "phi3_longrope": dict(model_type="phi3", head_dim=16, pad_token_id=0, partial_rotary_factor=0.5, tie_word_embeddings=True,
                          original_max_position_embeddings=32,
                          rope_scaling=dict(rope_type="longrope", short_factor=[1.0, 1.5, 2.0, 3.0],
                                            long_factor=[2.0, 3.0, 5.0, 8.0]),
                          targets=PHI3_TARGETS),
    # Phi-2: one LayerNorm (with bias) feeding attention and a GELU MLP in parallel, biases everywhere (the head
    # too), half of each head rotated; LoRA on PEFT's names for it (dense, fc1, fc2).
    "phi": dict(model_type="phi", partial_rotary_factor=0.5, layer_norm_eps=1e-5, hidden_act="gelu_new",
                weight_amplitude=0.1,
                targets=["q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"]),
}
RANK, ALPHA = 4, 8.0


def sin_tensor(shape, k, amp, offset=0.0):
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.float64)
    return torch.from_numpy((amp * np.sin(1.3 * k + 0.37 * i + 0.001 * i * i) + offset)
                            .astype(np.float32).reshape(shape))


def build(case):
    config_dict = dict(BASE)
    config_dict.update(case)
    serialize = config_dict.pop("serialize", None)
    config_dict.pop("targets", None)
    amplitude = config_dict.pop("weight_amplitude", 0.2)
    hf_json = dict(config_dict)
    local = config_dict.get("rope_local_base_freq")
    kwargs = {k: v for k, v in config_dict.items()
              if k not in ("model_type", "rope_scaling", "rope_theta", "rope_local_base_freq")}
    rope = dict(rope_type="default", rope_theta=config_dict["rope_theta"])
    if "rope_scaling" in config_dict:
        rope.update(config_dict["rope_scaling"])
    if local is not None:  # families with local and global layers take their RoPE by layer type
        rope = dict(full_attention=rope, sliding_attention=dict(rope_type="default", rope_theta=local))
    config = AutoConfig.for_model(config_dict["model_type"], rope_parameters=rope, **kwargs)
    config._attn_implementation = "eager"
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").float()
    fill_sin_weights(model, amplitude)
    if serialize == "transformers":
        hf_json = {k: v for k, v in config.to_dict().items() if not k.startswith("_")}
    return hf_json, model


def fill_sin_weights(model, amplitude=0.2):
    """Every weight from sin_tensor in name order (norms around 1), so Swift can rebuild the model exactly.
    `amplitude` is the matrices' (a case may lower it to keep activations out of GELU's flat tail, where fp32
    gradients are noise that AdamW's normalisation turns into whole steps)."""
    state = model.state_dict()
    names = sorted(n for n in state if not (model.config.tie_word_embeddings and n == "lm_head.weight"))
    with torch.no_grad():
        for k, name in enumerate(names):
            is_norm = "norm" in name
            amp = 0.5 if "embed_tokens" in name else (0.1 if is_norm else amplitude)
            state[name].copy_(sin_tensor(state[name].shape, k, amp, 1.0 if is_norm else 0.0))
    model.tie_weights()


def wrap_lora(model, targets):
    peft_model = get_peft_model(model, LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=targets,
                                                  bias="none", task_type="CAUSAL_LM"))
    lora = sorted((n, p) for n, p in peft_model.named_parameters() if "lora_" in n)
    with torch.no_grad():
        for k, (name, p) in enumerate(lora):
            n = p.numel()
            i = np.arange(n, dtype=np.float64)
            values = (0.1 * np.sin(0.7 * k + 0.5 + 0.29 * i + 0.001 * i * i) if "lora_A" in name
                      else 0.1 * np.cos(0.9 * k + 0.25 + 0.31 * i + 0.001 * i * i))
            p.copy_(torch.from_numpy(values.astype(np.float32).reshape(p.shape)))
    return peft_model, lora


def sequences(vocab):
    lengths = [6, 4, 5]
    seqs = [[(7 * i + 13 * s + 3) % vocab for i in range(n)] for s, n in enumerate(lengths)]
    # Targets: next token; the first two positions of each sequence are "prompt" (no loss); the last has none.
    labels = [[(seq[t + 1] if t + 1 < len(seq) and t >= 2 else -1) for t in range(len(seq))] for seq in seqs]
    return seqs, labels


def loss_and_logits(peft_model, seqs, labels, padded):
    total, count, logits_out = 0.0, 0, []
    if padded:
        width = max(map(len, seqs))
        ids = torch.tensor([s + [0] * (width - len(s)) for s in seqs])
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
        logits = peft_model(input_ids=ids, attention_mask=mask).logits
        for b, (s, lab) in enumerate(zip(seqs, labels)):
            logits_out.append(logits[b, :len(s)])
            for t, y in enumerate(lab):
                if y >= 0:
                    total = total + torch.nn.functional.cross_entropy(logits[b, t][None], torch.tensor([y]), reduction="sum")
                    count += 1
    else:  # packed: each sequence on its own (attention never crosses sequences, positions restart)
        for s, lab in zip(seqs, labels):
            logits = peft_model(input_ids=torch.tensor([s])).logits[0]
            logits_out.append(logits)
            for t, y in enumerate(lab):
                if y >= 0:
                    total = total + torch.nn.functional.cross_entropy(logits[t][None], torch.tensor([y]), reduction="sum")
                    count += 1
    return total / count, torch.cat(logits_out)


def main():
    os.makedirs(OUT, exist_ok=True)
    only = sys.argv[1:]  # case names to regenerate; all when empty
    for name, case in CASES.items():
        if only and name not in only:
            continue
        hf_json, model = build(case)
        peft_model, lora = wrap_lora(model, case.get("targets", TARGETS))
        seqs, labels = sequences(hf_json["vocab_size"])
        arrays, meta = [], {"config": hf_json, "weight_amplitude": case.get("weight_amplitude", 0.2),
                            "rank": RANK, "alpha": ALPHA, "sequences": seqs, "labels": labels,
                            "lora_names": [n for n, _ in lora], "lora_shapes": [list(p.shape) for _, p in lora]}
        offset = 0

        def add(key, tensor):
            nonlocal offset
            flat = tensor.detach().float().reshape(-1).numpy()
            arrays.append(flat)
            meta.setdefault("arrays", {})[key] = [offset, flat.size]
            offset += flat.size

        for mode in ("padded", "packed"):
            peft_model.zero_grad()
            loss, logits = loss_and_logits(peft_model, seqs, labels, mode == "padded")
            loss.backward()
            meta[f"{mode}_loss"] = float(loss.detach())
            add(f"{mode}_logits", logits)
            for n, p in lora:
                add(f"{mode}_grad:{n}", p.grad)
        optimizer = torch.optim.AdamW([p for _, p in lora], lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
        for _ in range(3):
            optimizer.zero_grad()
            loss, _ = loss_and_logits(peft_model, seqs, labels, False)
            loss.backward()
            optimizer.step()
        for n, p in lora:
            add(f"adamw3:{n}", p)
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(meta, f, indent=1)
        np.concatenate(arrays).astype("<f4").tofile(os.path.join(OUT, f"{name}.bin"))
        print(name, "packed loss", meta["packed_loss"], "padded loss", meta["padded_loss"], file=sys.stderr)


if __name__ == "__main__":
    main()
