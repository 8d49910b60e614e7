"""Reference learning rates and gradient clipping for Tailor's training loop.

Writes Tests/Fixtures/training/schedules.json:
  "schedules": for each (name, total, warmup), the learning rate transformers' get_*_schedule_with_warmup gives the
               optimizer at steps 1..total (the rate in effect when optimizer.step() runs), peak 2e-4;
  "clipping":  a gradient vector, torch.nn.utils.clip_grad_norm_'s returned norm and the clipped vector (max_norm 1).
Run: /work/refvenv/bin/python Scripts/reference/training_schedules.py
"""
import json
import math
import pathlib

import torch
from transformers import (get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup,
                          get_linear_schedule_with_warmup)

out = pathlib.Path(__file__).resolve().parents[2] / "Tests/Fixtures/training/schedules.json"
peak = 2e-4
cases = []
for name, make in [("constant", lambda o, w, t: get_constant_schedule_with_warmup(o, w)),
                   ("linear", get_linear_schedule_with_warmup), ("cosine", get_cosine_schedule_with_warmup)]:
    for total, warmup in [(20, 0), (20, 3), (7, 2)]:
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.AdamW([p], lr=peak)
        sched = make(opt, warmup, total)
        rates = []
        for _ in range(total):
            rates.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        cases.append({"schedule": name, "total": total, "warmup": warmup, "peak": peak, "rates": rates})

g = torch.tensor([math.sin(0.7 * i) * (3 if i % 3 == 0 else 1) for i in range(10)], dtype=torch.float32)
p = torch.nn.Parameter(torch.zeros(10))
p.grad = g.clone()
norm = torch.nn.utils.clip_grad_norm_([p], max_norm=1.0)
out.write_text(json.dumps({"schedules": cases, "clipping": {
    "gradient": g.tolist(), "max_norm": 1.0, "norm": float(norm), "clipped": p.grad.tolist()}}, indent=1) + "\n")
print("wrote", out)
