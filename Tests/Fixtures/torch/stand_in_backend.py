#!/usr/bin/env python3
"""A stand-in for Tailor's torch backend, for end-to-end CLI tests on machines without torch (standard library only).

`tailor train --backend torch --python stand_in_python.sh` runs this instead of PyTorch: it reads the real hand-off
files Tailor wrote, walks the step plan, speaks the real progress protocol, writes checkpoints with the real
state.json fields, and "trains" nothing (the final adapter is the initial one). As the probe it reports a complete
CPU environment. Behaviour is chosen by TAILOR_STAND_IN:
  ok (default)        every step, evaluations and checkpoints by the job's cadence, then the final adapter
  crash-after:N       N steps, then an uncaught exception (traceback on stderr, exit 1)
  stop-after:N        N steps, then as if Ctrl-C arrived: checkpoint, `interrupted`, exit 130
  no-peft             the probe reports peft as not installed
"""
import json
import os
import shutil
import sys
import uuid


def say(event, **fields):
    print("@tailor " + json.dumps(dict(event=event, **fields)), flush=True)


def probe():
    packages = {"torch": "2.5.1", "transformers": "4.46.0", "peft": "0.13.2", "accelerate": "1.1.0",
                "bitsandbytes": None, "safetensors": "0.4.5", "gguf": "0.10.0"}
    if os.environ.get("TAILOR_STAND_IN") == "no-peft":
        packages["peft"] = None
    print(json.dumps({"python": "3.12.3", "executable": sys.executable, "packages": packages,
                      "torch": {"cuda": False, "cuda_version": None, "mps": False, "threads": 2}, "gpus": []}))


def checkpoint(job, step, state):
    """Writes RUN/checkpoints/step-NNNNNN like the real program: temp folder, then rename; keeps the newest N."""
    root = os.path.join(job["output"], "checkpoints")
    os.makedirs(root, exist_ok=True)
    name = "step-%06d" % step
    temporary = os.path.join(root, ".%s.%s.tmp" % (name, uuid.uuid4().hex))
    os.makedirs(temporary)
    initial = os.path.dirname(job["initial_adapter"])
    for file in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copy(os.path.join(initial, file), temporary)
    with open(os.path.join(temporary, "state.json"), "w") as f:
        json.dump(dict(state, step=step, backend="torch"), f)
    final = os.path.join(root, name)
    if os.path.exists(final):
        shutil.rmtree(final)
    os.rename(temporary, final)
    kept = sorted(n for n in os.listdir(root) if n.startswith("step-"))
    for old in kept[:-job["keep_checkpoints"]]:
        shutil.rmtree(os.path.join(root, old))
    say("checkpoint", step=step, folder=final)


def train(job_path):
    with open(job_path) as f:
        job = json.load(f)
    with open(job["plan"]) as f:
        plan = [json.loads(line) for line in f if line.strip()]
    with open(job["train"]) as f:
        examples = [json.loads(line) for line in f if line.strip()]
    mode = os.environ.get("TAILOR_STAND_IN", "ok")
    limit = int(mode.split(":")[1]) if ":" in mode else None
    seed = job["checkpoint_state"]
    state = {"totalSteps": seed["totalSteps"], "parameters": seed["parameters"],
             "trainFingerprint": seed["trainFingerprint"], "validationFingerprint": seed["validationFingerprint"],
             "bestValidationLoss": None, "bestStep": None, "firstValidationLoss": None,
             "evaluationsWithoutImprovement": 0, "lastLoss": None}
    start = 0
    if job["resume_from"]:
        with open(os.path.join(job["resume_from"], "state.json")) as f:
            saved = json.load(f)
        state.update({k: saved[k] for k in state if k in saved})
        start = saved["step"]
    say("note", message="stand-in backend, resuming after step %d" % start if start else "stand-in backend")
    say("started", device="cpu", precision="fp32", quantize=job["quantize"], world_size=1, start_step=start)
    total = len(plan)
    for planned in plan[start:]:
        step = planned["step"]
        tokens = sum(len(examples[i]["ids"]) for batch in planned["micro_batches"] for i in batch)
        loss = 3.0 / step
        state["lastLoss"] = loss
        say("step", step=step, loss=loss, lr=planned["lr"], grad_norm=0.5, tokens=tokens, seconds=0.01)
        if step % job["eval_every"] == 0 or step == total:
            best = state["bestValidationLoss"] is None or loss < state["bestValidationLoss"]
            if best:
                state["bestValidationLoss"], state["bestStep"] = loss, step
            if state["firstValidationLoss"] is None:
                state["firstValidationLoss"] = loss
            say("evaluation", step=step, loss=loss, is_best=best)
        if step % job["save_every"] == 0 and step < total:
            checkpoint(job, step, state)
        if limit is not None and step >= limit:
            if mode.startswith("crash-after"):
                raise RuntimeError("stand-in crash after step %d" % step)
            checkpoint(job, step, state)
            say("interrupted", step=step)
            sys.exit(130)
    initial = os.path.dirname(job["initial_adapter"])
    for file in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copy(os.path.join(initial, file), job["output"])
    say("finished", steps=total, final_loss=state["lastLoss"], best_validation_loss=state["bestValidationLoss"],
        best_step=state["bestStep"], first_validation_loss=state["firstValidationLoss"], stopped_early=False,
        adapter_is_best=False, peak_memory_bytes=1234567890, memory_device="RAM")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments and arguments[0] == "-u":
        arguments = arguments[1:]
    if arguments and arguments[0].endswith("tailor_torch_probe.py"):
        probe()
    elif len(arguments) == 3 and arguments[1] == "--job":
        train(arguments[2])
    else:
        sys.exit("stand_in_backend.py: unexpected arguments %r" % (sys.argv[1:],))
