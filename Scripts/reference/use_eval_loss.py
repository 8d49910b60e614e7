"""Reference loss and token accuracy of SmolLM2-135M-Instruct (the Q4_1 GGUF, fp32 in transformers) on one
prompt/completion record: the prompt and greedy continuation of Tests/Fixtures/smollm2/generation.json, with EOS
appended, scoring the completion tokens and EOS only (as `tailor eval` / training mask a prompt/completion record).

Writes Tests/Fixtures/use/eval_record.jsonl (the record) and Tests/Fixtures/use/eval_reference.json
{ids, targets, loss, correct, per_token_loss}.
Run: /work/refvenv/bin/python Scripts/reference/use_eval_loss.py   (assets from Scripts/fetch-assets)
"""
import json
import os

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.environ.get("TAILOR_ASSETS", os.path.join(ROOT, ".assets"))
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = os.path.join(ROOT, "Tests", "Fixtures", "use")

with open(os.path.join(ROOT, "Tests", "Fixtures", "smollm2", "generation.json")) as f:
    generation = json.load(f)
prompt, completion = generation["prompt"], generation["greedy_text"]

tokenizer = AutoTokenizer.from_pretrained(ASSETS, gguf_file=GGUF)
model = AutoModelForCausalLM.from_pretrained(ASSETS, gguf_file=GGUF, torch_dtype=torch.float32,
                                             attn_implementation="eager").eval()
prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
ids = tokenizer(prompt + completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
assert ids[:len(prompt_ids)] == prompt_ids, "the prompt must tokenize the same inside the full text"
with torch.no_grad():
    logits = model(torch.tensor([ids])).logits[0]
log_probs = torch.log_softmax(logits.double(), dim=-1)
# Position t predicts token t+1; the completion tokens and EOS are the targets.
positions = range(len(prompt_ids) - 1, len(ids) - 1)
losses = [-log_probs[t, ids[t + 1]].item() for t in positions]
correct = sum(int(torch.argmax(logits[t]).item() == ids[t + 1]) for t in positions)

os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "eval_record.jsonl"), "w") as f:
    f.write(json.dumps({"prompt": prompt, "completion": completion}) + "\n")
with open(os.path.join(OUT, "eval_reference.json"), "w") as f:
    json.dump({"ids": ids, "targets": len(losses), "loss": sum(losses) / len(losses), "correct": correct,
               "per_token_loss": losses}, f, indent=1)
print(len(losses), sum(losses) / len(losses), correct)
