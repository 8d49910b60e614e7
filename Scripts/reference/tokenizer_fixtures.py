#!/usr/bin/env python3
"""Tokenizer fixtures for TokenizersTests, made with HF transformers + tokenizers (the independent reference).

Writes into Tests/Fixtures/tokenizers/:
  smollm2/tokenizer.json, tokenizer_config.json (+ special_tokens_map.json when transformers writes one)
      the HF tokenizer transformers builds from .assets/SmolLM2-135M-Instruct.Q4_1.gguf (save_pretrained; other files dropped),
      with SmolLM2's real pre-tokenizer restored (see SMOLLM2_PRE_TOKENIZER), written as compact JSON
  smollm2_cases.json
      {"cases": [{"text": ..., "ids": [...], "ids_with_special": [...]}]} for >= 200 strings: scripts, emoji, CJK,
      code, numbers, whitespace runs, special tokens inside text, the empty string. "ids" is
      encode(text, add_special_tokens=False) with the HF `tokenizers` library loading the saved tokenizer.json;
      "ids_with_special" is the same with add_special_tokens=True.
  unigram/tokenizer.json, wordpiece/tokenizer.json
      tiny hand-made tokenizers of the model kinds Tailor refuses (built with `tokenizers`, saved as it writes them).

Run from the repository root, after Scripts/fetch-assets:
  /work/refvenv/bin/python Scripts/reference/tokenizer_fixtures.py
"""
import json
import os
import random
import shutil
import tempfile

from tokenizers import Tokenizer, models
from transformers import AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "tokenizers")
ASSETS = os.environ.get("TAILOR_ASSETS", os.path.join(ROOT, ".assets"))
KEEP = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]  # the last is absent in transformers 5

# transformers' GGUF converter gives SmolLM2 a bare ByteLevel pre-tokenizer, dropping the digit split that
# `tokenizer.ggml.pre = smollm` stands for (llama.cpp LLAMA_VOCAB_PRE_TYPE_SMOLLM: `\p{N}`, then the GPT-2 regex) and that
# HuggingFaceTB/SmolLM2-135M-Instruct's own tokenizer.json has. We restore the original so the fixture is SmolLM2's tokenizer.
SMOLLM2_PRE_TOKENIZER = {
    "type": "Sequence",
    "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    ],
}


def corpus():
    fixed = [
        "", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\t\t\n  x", "a", "A", "Hello", " Hello", "Hello world",
        "Hello, world! How are you?", "I'm fine, you're sure they've it'll we'd", "DON'T SHOUT'S 'S 'll", "it’s curly",
        "The quick brown fox jumps over the lazy dog.", "   leading spaces", "trailing spaces   ", "mid   dle    gaps",
        "tabs\tand\tnewlines\nmixed \t\n end", "line1\nline2\n\nline4\n", "windows\r\nlines\r\n",
        "0", "1", "12", "123", "1234", "12345678901234567890", "3.14159", "-42", "1,000,000", "1e-9", "0x1F2E",
        "version 2.0.1-beta", "$100 and 50% off", "2024-01-02T03:04:05Z", "phone: +1 (555) 123-4567",
        "def f(x):\n    return x * 2\n", "for (int i = 0; i < n; ++i) { sum += a[i]; }",
        "if x == 1 and y != 2:\n\tprint('hi')", "<div class=\"a\">text</div>", "SELECT * FROM t WHERE id = 7;",
        "fn main() { println!(\"hi\"); }", "let x: [Int] = [1, 2, 3]", "// comment\n/* block */", "a->b => c ::= d",
        "https://example.com/path?q=1&r=2#frag", "user@example.com", "C:\\Users\\name\\file.txt", "~/.bashrc",
        "Ünïcödé façade naïve résumé", "Straße größer", "Привет, мир!", "Ελληνικά γράμματα", "שלום עולם",
        "مرحبا بالعالم", "नमस्ते दुनिया", "สวัสดีชาวโลก", "안녕하세요 세계", "こんにちは世界", "カタカナとひらがな",
        "你好，世界！", "中文文本測試，繁體與简体。", "日本語の文章です。", "한국어와 English 혼합",
        "emoji 😀😃😄 done", "👨‍👩‍👧‍👦 family", "🇫🇷🇩🇪 flags", "❤️‍🔥 heart on fire", "skin 👍🏽 tone",
        "math ∑∫√∞ ≤ ≥ ≠", "arrows ← → ↑ ↓", "box ─│┌┐└┘", "currency € £ ¥ ₹ ₿", "ﬁ ligature ﬀ", "ｆｕｌｌｗｉｄｔｈ",
        "combining e\u0301 a\u0308", "zero\u200bwidth", "nbsp\u00a0here", "ideographic\u3000space", "em\u2003space",
        "\u2028line sep", "soft\u00adhyphen", "bidi \u202eabc\u202c", "null\u0000byte", "bell\u0007",
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "text<|im_start|>inside", "<|im_end|>",
        "<|endoftext|>", "a<|endoftext|>b", "<|im_start|> spaced <|im_end|>", "<|im_start|><|im_end|>",
        "<|im_start", "im_start|>", "<|unknown|>", "<repo_name>x<file_sep>y", "<fim_prefix>a<fim_middle>b<fim_suffix>",
        "    indented code", "        deeper", "\n\n\n\n", "        \n        ", "a\n\n\nb", "   \t   ",
        "!!!???...", "...", "—", "-- --- ----", "'''", "\"\"\"quoted\"\"\"", "(((nested)))", "@#$%^&*",
        "MiXeD CaSe WoRdS", "camelCaseIdentifier", "snake_case_identifier", "kebab-case-identifier", "ALLCAPS",
        "The year 1999 and 2000.", "I have 3 apples and 12 oranges", "A1B2C3", "v1.2.3", "１２３ fullwidth digits",
        "Ⅷ roman ⅻ", "²³ superscripts", "½ ¾ fractions", "٣٤٥ arabic digits", "১২৩ bengali digits",
    ]
    rng = random.Random(1234)
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "0123456789",
        " \t\n\r",
        "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
        "éèêëàâäôöûüçñßÆØÅ",
        "абвгдежзийклмнопрстуфхцчшщыэюя",
        "的一是不了人我在有他这为之大来以个中上们",
        "あいうえおかきくけこアイウエオ",
        "😀😂🤖🎉🚀🌍✨🔥",
        "\u0301\u0308\u200d\ufe0f",
    ]
    generated = []
    for _ in range(110):
        n = rng.randint(1, 40)
        s = "".join(rng.choice(rng.choice(pools)) for _ in range(n))
        generated.append(s)
    words = ["the", "model", "token", " ", "  ", "\n", "'s", "'ll", "123", "<|im_start|>", "<|im_end|>", "ß", "日本", "🙂", "x"]
    for _ in range(30):
        generated.append("".join(rng.choice(words) for _ in range(rng.randint(1, 12))))
    return fixed + generated


def main():
    gguf = os.path.join(ASSETS, "SmolLM2-135M-Instruct.Q4_1.gguf")
    if not os.path.exists(gguf):
        raise SystemExit(f"missing {gguf}: run Scripts/fetch-assets")
    hf = AutoTokenizer.from_pretrained(ASSETS, gguf_file=os.path.basename(gguf))
    target = os.path.join(OUT, "smollm2")
    os.makedirs(target, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        hf.save_pretrained(tmp)
        with open(os.path.join(tmp, "tokenizer.json"), encoding="utf-8") as f:
            spec = json.load(f)
        spec["pre_tokenizer"] = SMOLLM2_PRE_TOKENIZER
        # Compact JSON keeps the fixture folder small; the content is what transformers wrote.
        with open(os.path.join(target, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(spec, f, ensure_ascii=False, separators=(",", ":"))
        for name in KEEP[1:]:
            if os.path.exists(os.path.join(tmp, name)):
                shutil.copy(os.path.join(tmp, name), os.path.join(target, name))
    size = sum(os.path.getsize(os.path.join(target, n)) for n in os.listdir(target))
    assert size < 3_000_000, f"smollm2 tokenizer files are {size} bytes, over 3 MB"

    tok = Tokenizer.from_file(os.path.join(target, "tokenizer.json"))
    cases = []
    for text in corpus():
        ids = tok.encode(text, add_special_tokens=False).ids
        with_special = tok.encode(text, add_special_tokens=True).ids
        cases.append({"text": text, "ids": ids, "ids_with_special": with_special})
    assert len(cases) >= 200
    with open(os.path.join(OUT, "smollm2_cases.json"), "w", encoding="utf-8") as f:
        json.dump({"source": "HF tokenizers " + __import__("tokenizers").__version__, "cases": cases}, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")

    # Tiny tokenizers of the kinds Tailor refuses.
    unigram = Tokenizer(models.Unigram([("<unk>", 0.0), ("a", -1.0), ("b", -2.0), ("ab", -1.5)], 0, False))
    wordpiece = Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1, "##b": 2}, unk_token="[UNK]"))
    for name, t in [("unigram", unigram), ("wordpiece", wordpiece)]:
        os.makedirs(os.path.join(OUT, name), exist_ok=True)
        t.save(os.path.join(OUT, name, "tokenizer.json"))
    print(f"wrote {len(cases)} cases; smollm2 tokenizer files {size} bytes")


if __name__ == "__main__":
    main()
