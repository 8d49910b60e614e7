#!/usr/bin/env python3
"""Writes a Llama-3.1-8B-shaped GGUF with random weights, for memory and speed benchmarks at 8B.

    python3 Scripts/bench/make_8b_gguf.py --type q8_0|q4_k OUT.gguf [--layers N] [--seed S]

Shape (Llama 3.1 8B): architecture `llama`, 32 layers, hidden 4096, 32 query heads, 8 key/value heads,
head dim 128, intermediate 14336, vocab 128256, rope_theta 500000, RMS eps 1e-5, context 8192, untied output
(`output.weight`), and `rope_freqs.weight` carrying the llama3 RoPE scaling as llama.cpp stores it.

Types:
  q8_0  every 2-D matrix Q8_0 (token_embd and output included), about 8.5 GB at 32 layers.
  q4_k  the Q4_K_M mix: Q4_K projections and token_embd, output Q6_K, and attn_v / ffn_down Q6_K in the layers
        llama.cpp gives more bits (the first and last eighth and every third in between), about 4.9 GB.
Norm vectors and rope_freqs are F32 (norms all ones).

The weights are random and meaningless: for each (row width, type) a pattern of PATTERN_ROWS rows of
N(0, --std) values is quantized once, and every matrix of that width repeats it, rotated by a random number of
rows per tensor. Data is written in large chunks, so the run is bound by disk speed and the peak memory stays
at a few hundred MB.

The vocabulary is synthetic but complete enough for byte-level BPE: the 256 GPT-2 byte characters, a few hundred
two-letter merges, filler tokens `tok<N>` up to id 127999, then Llama 3.1's 256 special tokens
(<|begin_of_text|> = 128000 = BOS, <|end_of_text|> = 128001 = EOS, <|eot_id|> = 128009 = EOT, ...).

Needs the `gguf` Python package (and numpy): `pip install gguf`.
"""

import argparse
import math
import os
import sys
import time

import numpy as np

try:
    import gguf
    from gguf import GGMLQuantizationType as T
except ImportError:  # pragma: no cover
    sys.exit("make_8b_gguf.py needs the gguf package: pip install gguf (numpy comes with it)")

# Llama 3.1 8B.
HIDDEN = 4096
LAYERS = 32
HEADS = 32
KV_HEADS = 8
HEAD_DIM = 128
INTERMEDIATE = 14336
VOCAB = 128256
ROPE_THETA = 500000.0
RMS_EPS = 1e-5
CONTEXT = 8192
# Llama 3.1's rope_scaling (config.json): rope_type llama3.
ROPE_FACTOR, ROPE_LOW_FREQ, ROPE_HIGH_FREQ, ROPE_ORIGINAL_CONTEXT = 8.0, 1.0, 4.0, 8192

BOS, EOS, EOM, EOT, PAD = 128000, 128001, 128008, 128009, 128004
SPECIAL_NAMES = {
    128000: "<|begin_of_text|>", 128001: "<|end_of_text|>", 128004: "<|finetune_right_pad_id|>",
    128006: "<|start_header_id|>", 128007: "<|end_header_id|>", 128008: "<|eom_id|>", 128009: "<|eot_id|>",
    128010: "<|python_tag|>",
}
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

PATTERN_ROWS = 256          # rows quantized per (width, type); every row count of the model is a multiple of it
CHUNK_BYTES = 64 << 20      # bytes per write
QK_K = 256

# ggml block layouts: (values per block, bytes per block).
BLOCK = {T.F32: (1, 4), T.Q8_0: (32, 34), T.Q4_K: (256, 144), T.Q6_K: (256, 210)}


# --- quantizers for a few rows (numpy, little-endian ggml layouts) ---------------------------------------------

def quantize_q8_0(rows: np.ndarray) -> np.ndarray:
    """Q8_0: per 32 values f16 d, int8 qs[32]; x = d * q. The gguf package implements it."""
    return gguf.quants.quantize(rows, T.Q8_0)


def _half(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float16)


def quantize_q4_k(rows: np.ndarray) -> np.ndarray:
    """Q4_K: per 256 values f16 d, f16 dmin, u8 scales[12] (8 six-bit scales and mins), u8 qs[128];
    sub-block j of 32: x = d * sc[j] * q - dmin * m[j], q in 0...15. A plain min/max quantizer."""
    n, width = rows.shape
    x = rows.reshape(-1, 8, 32).astype(np.float32)
    nb = x.shape[0]
    lo = np.minimum(x.min(axis=-1), 0.0)
    hi = x.max(axis=-1)
    scale = (hi - lo) / 15.0
    mins = -lo
    d = _half(scale.max(axis=-1) / 63.0)
    dmin = _half(mins.max(axis=-1) / 63.0)
    d32, dmin32 = d.astype(np.float32)[:, None], dmin.astype(np.float32)[:, None]
    sc = np.clip(np.rint(np.divide(scale, d32, out=np.zeros_like(scale), where=d32 > 0)), 0, 63).astype(np.uint8)
    m = np.clip(np.rint(np.divide(mins, dmin32, out=np.zeros_like(mins), where=dmin32 > 0)), 0, 63).astype(np.uint8)
    step = (d32 * sc)[..., None]
    offset = (dmin32 * m)[..., None]
    q = np.clip(np.rint(np.divide(x + offset, step, out=np.zeros_like(x), where=step > 0)), 0, 15).astype(np.uint8)

    # Scales: bytes 0-3 hold sc[0..3] and the top bits of sc[4..7]; 4-7 the same for m; 8-11 the low nibbles.
    scales = np.empty((nb, 12), dtype=np.uint8)
    scales[:, 0:4] = (sc[:, 0:4] & 0x3F) | ((sc[:, 4:8] >> 4) << 6)
    scales[:, 4:8] = (m[:, 0:4] & 0x3F) | ((m[:, 4:8] >> 4) << 6)
    scales[:, 8:12] = (sc[:, 4:8] & 0x0F) | ((m[:, 4:8] & 0x0F) << 4)
    # qs: byte g*32+p holds sub-block 2g at the low nibble, 2g+1 at the high one.
    q = q.reshape(nb, 4, 2, 32)
    qs = (q[:, :, 0, :] | (q[:, :, 1, :] << 4)).reshape(nb, 128)

    blocks = np.concatenate(
        [d.reshape(nb, 1).view(np.uint8), dmin.reshape(nb, 1).view(np.uint8), scales, qs], axis=1)
    return blocks.reshape(n, width // QK_K * 144)


def quantize_q6_k(rows: np.ndarray) -> np.ndarray:
    """Q6_K: per 256 values u8 ql[128] (low 4 bits), u8 qh[64] (high 2 bits), int8 scales[16], f16 d;
    sub-block j of 16: x = d * scales[j] * (q - 32), q in 0...63."""
    n, width = rows.shape
    x = rows.reshape(-1, 16, 16).astype(np.float32)
    nb = x.shape[0]
    scale = np.abs(x).max(axis=-1) / 31.0
    d = _half(scale.max(axis=-1) / 127.0)
    d32 = d.astype(np.float32)[:, None]
    sc = np.clip(np.rint(np.divide(scale, d32, out=np.zeros_like(scale), where=d32 > 0)), -128, 127).astype(np.int8)
    step = (d32 * sc)[..., None]
    q = np.clip(np.rint(np.divide(x, step, out=np.zeros_like(x), where=step != 0)) + 32, 0, 63).astype(np.uint8)

    q = q.reshape(nb, QK_K)
    low, high = q & 0x0F, q >> 4
    # ql: value h*128 + s*64 + p sits in ql[h*64 + p] at nibble s.
    low = low.reshape(nb, 2, 2, 64)
    ql = (low[:, :, 0, :] | (low[:, :, 1, :] << 4)).reshape(nb, 128)
    # qh: value h*128 + s*32 + p sits in qh[h*32 + p] at bits 2s, 2s+1.
    high = high.reshape(nb, 2, 4, 32)
    qh = (high[:, :, 0, :] | (high[:, :, 1, :] << 2) | (high[:, :, 2, :] << 4) | (high[:, :, 3, :] << 6))
    qh = qh.reshape(nb, 64)

    blocks = np.concatenate([ql, qh, sc.view(np.uint8), d.reshape(nb, 1).view(np.uint8)], axis=1)
    return blocks.reshape(n, width // QK_K * 210)


QUANTIZERS = {T.Q8_0: quantize_q8_0, T.Q4_K: quantize_q4_k, T.Q6_K: quantize_q6_k}


def row_bytes(width: int, qtype: T) -> int:
    per_block, size = BLOCK[qtype]
    assert width % per_block == 0, f"row width {width} is not a multiple of the {qtype.name} block"
    return width // per_block * size


class Patterns:
    """One quantized block pattern of PATTERN_ROWS rows per (row width, type), checked against gguf's dequantizer."""

    def __init__(self, rng: np.random.Generator, std: float):
        self.rng = rng
        self.std = std
        self.cache: dict = {}

    def get(self, width: int, qtype: T) -> np.ndarray:
        key = (width, qtype)
        if key not in self.cache:
            rows = self.rng.normal(0.0, self.std, size=(PATTERN_ROWS, width)).astype(np.float32)
            packed = np.ascontiguousarray(QUANTIZERS[qtype](rows))
            assert packed.shape == (PATTERN_ROWS, row_bytes(width, qtype)), packed.shape
            back = gguf.quants.dequantize(packed, qtype)
            assert back.shape == rows.shape and np.isfinite(back).all(), f"{qtype.name} pattern does not decode"
            error = np.sqrt(np.mean((back - rows) ** 2)) / np.sqrt(np.mean(rows ** 2))
            assert error < 0.2, f"{qtype.name} pattern decodes with relative error {error:.3f}"
            self.cache[key] = packed
        return self.cache[key]


# --- model layout ----------------------------------------------------------------------------------------------

def more_bits(layer: int, layers: int) -> bool:
    """llama.cpp's use_more_bits: the layers Q4_K_M gives Q6_K attn_v and ffn_down."""
    return layer < layers // 8 or layer >= 7 * layers // 8 or (layer - layers // 8) % 3 == 2


def tensor_plan(kind: str, layers: int, rope_freqs: bool):
    """(name, numpy-order shape [out, in] or [n], ggml type) in file order."""
    q8 = kind == "q8_0"
    base = T.Q8_0 if q8 else T.Q4_K
    plan = []
    if rope_freqs:
        plan.append(("rope_freqs.weight", (HEAD_DIM // 2,), T.F32))
    plan.append(("token_embd.weight", (VOCAB, HIDDEN), base))
    for i in range(layers):
        rich = T.Q8_0 if q8 else (T.Q6_K if more_bits(i, layers) else T.Q4_K)
        p = f"blk.{i}."
        plan += [
            (p + "attn_norm.weight", (HIDDEN,), T.F32),
            (p + "attn_q.weight", (HEADS * HEAD_DIM, HIDDEN), base),
            (p + "attn_k.weight", (KV_HEADS * HEAD_DIM, HIDDEN), base),
            (p + "attn_v.weight", (KV_HEADS * HEAD_DIM, HIDDEN), rich),
            (p + "attn_output.weight", (HIDDEN, HEADS * HEAD_DIM), base),
            (p + "ffn_norm.weight", (HIDDEN,), T.F32),
            (p + "ffn_gate.weight", (INTERMEDIATE, HIDDEN), base),
            (p + "ffn_up.weight", (INTERMEDIATE, HIDDEN), base),
            (p + "ffn_down.weight", (HIDDEN, INTERMEDIATE), rich),
        ]
    plan.append(("output_norm.weight", (HIDDEN,), T.F32))
    plan.append(("output.weight", (VOCAB, HIDDEN), T.Q8_0 if q8 else T.Q6_K))
    return plan


def nbytes(shape, qtype: T) -> int:
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    return rows * row_bytes(shape[-1], qtype)


def llama3_rope_factors() -> np.ndarray:
    """Per-frequency divisors for Llama 3.1's llama3 RoPE scaling, as llama.cpp's converter writes them."""
    freqs = 1.0 / (ROPE_THETA ** (np.arange(0, HEAD_DIM, 2, dtype=np.float64) / HEAD_DIM))
    low_wavelen = ROPE_ORIGINAL_CONTEXT / ROPE_LOW_FREQ
    high_wavelen = ROPE_ORIGINAL_CONTEXT / ROPE_HIGH_FREQ
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(ROPE_FACTOR)
        else:
            smooth = (ROPE_ORIGINAL_CONTEXT / wavelen - ROPE_LOW_FREQ) / (ROPE_HIGH_FREQ - ROPE_LOW_FREQ)
            factors.append(1.0 / ((1 - smooth) / ROPE_FACTOR + smooth))
    return np.array(factors, dtype=np.float32)


# --- vocabulary ------------------------------------------------------------------------------------------------

def byte_level_alphabet() -> list:
    """GPT-2's bytes_to_unicode: the printable character that spells each byte 0...255."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def vocabulary():
    """(tokens, token types, merges): bytes, two-letter merges, filler, then the 256 special tokens."""
    alphabet = byte_level_alphabet()
    tokens = list(alphabet)
    merges = []
    letters = "abcdefghijklmnopqrstuvwxyz"
    space = alphabet[ord(" ")]  # "Ġ"
    for left in [space] + list(letters):
        for right in letters:
            merges.append(f"{left} {right}")
            tokens.append(left + right)
    regular = BOS
    tokens += [f"tok{i}" for i in range(len(tokens), regular)]
    reserved = 0
    for i in range(regular, VOCAB):
        if i in SPECIAL_NAMES:
            tokens.append(SPECIAL_NAMES[i])
        else:
            tokens.append(f"<|reserved_special_token_{reserved}|>")
            reserved += 1
    assert len(tokens) == VOCAB and len(set(tokens)) == VOCAB
    types = [int(gguf.TokenType.NORMAL)] * regular + [int(gguf.TokenType.CONTROL)] * (VOCAB - regular)
    return tokens, types, merges


# --- writing ---------------------------------------------------------------------------------------------------

def write_repeated(fout, pattern: np.ndarray, rows: int, shift: int) -> None:
    """Writes `rows` rows cycling through `pattern` (rotated by `shift` rows), in chunks of about CHUNK_BYTES."""
    rolled = np.roll(pattern, shift, axis=0) if shift else pattern
    period = rolled.shape[0]
    reps = max(1, min(CHUNK_BYTES // rolled.nbytes, -(-rows // period)))
    chunk = np.tile(rolled, (reps, 1))
    chunk_rows = chunk.shape[0]
    view = memoryview(chunk.reshape(-1))
    row = chunk.shape[1]
    left = rows
    while left > 0:
        take = min(left, chunk_rows)
        fout.write(view[: take * row])
        left -= take


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a Llama-3.1-8B-shaped GGUF with random weights.")
    parser.add_argument("out", metavar="OUT.gguf")
    parser.add_argument("--type", required=True, choices=["q8_0", "q4_k"],
                        help="q8_0: every matrix Q8_0; q4_k: the Q4_K_M mix (Q4_K, output and some attn_v/ffn_down Q6_K)")
    parser.add_argument("--layers", type=int, default=LAYERS, help=f"decoder layers (default {LAYERS})")
    parser.add_argument("--context", type=int, default=CONTEXT, help=f"llama.context_length (default {CONTEXT})")
    parser.add_argument("--std", type=float, default=0.02, help="standard deviation of the weights (default 0.02)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-rope-freqs", action="store_true",
                        help="leave out rope_freqs.weight (plain RoPE, no llama3 scaling)")
    args = parser.parse_args()
    if args.layers < 1:
        parser.error("--layers must be at least 1")

    started = time.monotonic()
    rng = np.random.default_rng(args.seed)
    plan = tensor_plan(args.type, args.layers, rope_freqs=not args.no_rope_freqs)
    total = sum(nbytes(shape, qtype) for _, shape, qtype in plan)
    print(f"{args.out}: llama, {args.layers} layers, {args.type}, {len(plan)} tensors, "
          f"{total / 1e9:.2f} GB of tensor data", flush=True)

    writer = gguf.GGUFWriter(args.out, arch="llama")
    writer.add_name("Llama-3.1-8B-shaped random weights")
    writer.add_file_type(int(gguf.LlamaFileType.MOSTLY_Q8_0 if args.type == "q8_0" else gguf.LlamaFileType.MOSTLY_Q4_K_M))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_block_count(args.layers)
    writer.add_context_length(args.context)
    writer.add_embedding_length(HIDDEN)
    writer.add_feed_forward_length(INTERMEDIATE)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_key_length(HEAD_DIM)
    writer.add_value_length(HEAD_DIM)
    writer.add_rope_dimension_count(HEAD_DIM)
    writer.add_rope_freq_base(ROPE_THETA)
    writer.add_layer_norm_rms_eps(RMS_EPS)
    writer.add_vocab_size(VOCAB)

    tokens, types, merges = vocabulary()
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("llama-bpe")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(BOS)
    writer.add_eos_token_id(EOS)
    writer.add_eot_token_id(EOT)
    writer.add_eom_token_id(EOM)
    writer.add_pad_token_id(PAD)
    writer.add_add_bos_token(True)
    writer.add_chat_template(CHAT_TEMPLATE)

    for name, shape, qtype in plan:
        # Shapes are numpy order (outermost first); the writer stores them reversed, innermost first, as ggml does.
        writer.add_tensor_info(name, shape, np.float32, nbytes(shape, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()

    fout = writer.fout[0]
    alignment = writer.data_alignment
    patterns = Patterns(rng, args.std)
    ones = np.ones(HIDDEN, dtype=np.float32)
    written = 0
    last_report = time.monotonic()
    for name, shape, qtype in plan:
        fout.write(b"\0" * (-fout.tell() % alignment))  # the data section, and each tensor, start aligned
        if name == "rope_freqs.weight":
            fout.write(llama3_rope_factors().tobytes())
        elif len(shape) == 1:
            fout.write(ones[: shape[0]].tobytes() if shape[0] <= HIDDEN else np.ones(shape[0], np.float32).tobytes())
        else:
            pattern = patterns.get(shape[1], qtype)
            write_repeated(fout, pattern, shape[0], int(rng.integers(PATTERN_ROWS)))
        written += nbytes(shape, qtype)
        now = time.monotonic()
        if now - last_report > 10:
            rate = written / (now - started) / 1e6
            print(f"  {written / 1e9:.2f} / {total / 1e9:.2f} GB ({rate:.0f} MB/s)", flush=True)
            last_report = now
    fout.write(b"\0" * (-fout.tell() % alignment))
    writer.close()

    elapsed = time.monotonic() - started
    size = os.path.getsize(args.out)
    print(f"wrote {args.out}: {size / 1e9:.2f} GB ({size} bytes) in {elapsed:.1f} s", flush=True)


if __name__ == "__main__":
    main()
