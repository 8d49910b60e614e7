"""Tailor's torch backend: trains a LoRA adapter with transformers + peft from a hand-off folder Tailor prepared.

Contract (writer side and field list: Sources/Training/TorchHandOff.swift, format 1):
  in   RUN/torch/job.json          model, LoRA settings, optimizer, cadence, precision, quantize, device, seed, resume,
                                    stop_file (created by Tailor: stop after the current step; several processes)
       RUN/torch/train.jsonl        {"ids": [...], "targets": [...]} per example; targets already shifted, -1 = no loss
       RUN/torch/validation.jsonl   same layout
       RUN/torch/plan.jsonl         one optimizer step per line: micro_batches (train indices), epoch, lr
       initial_adapter.safetensors  PEFT-named initial LoRA values (loaded strictly)
  out  RUN/checkpoints/step-NNNNNN/ adapter_config.json, adapter_model.safetensors, optimizer.safetensors, state.json
       RUN/adapter_config.json + RUN/adapter_model.safetensors   the final adapter (PEFT layout)
       stdout lines "@tailor {json}" (note, started, step, evaluation, checkpoint, stopped_early, non_finite,
       interrupted, finished, error); everything else is log text.
  exit 0 finished, 2 error, 3 non-finite loss or gradient norm, 130 interrupted.
Tailor owns tokenization, masking, the step plan and the learning-rate schedule; this program only executes them,
so a step here computes the same mean token loss over the same examples as the native engine. It never installs
packages. Run alone (`python -u tailor_torch_train.py --job job.json`) for CPU or one GPU, or under
`python -m accelerate.commands.launch ...` for several GPUs (DDP, or FSDP).
"""
import argparse
import contextlib
import json
import math
import os
import re
import shlex
import shutil
import signal
import sys
import tempfile
import time
import uuid

EXIT_ERROR, EXIT_NON_FINITE, EXIT_INTERRUPTED = 2, 3, 130
RANK = int(os.environ.get("RANK", "0"))
WORLD_SIZE = int(os.environ.get("WORLD_SIZE", "1"))


class Failure(Exception):
    """A problem the user can act on; becomes one `error` event and exit 2."""


class Exit(Exception):
    """Ends the run with a status after its protocol line has been printed."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def emit(event, **fields):
    """Prints one protocol line; only rank 0 speaks so a multi-GPU run reads like a single one."""
    if RANK != 0:
        return
    fields = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in fields.items()}
    print("@tailor " + json.dumps(dict(event=event, **fields), allow_nan=False), flush=True)


def pip_line(packages):
    """The exact install command, for the interpreter that runs this program (another python3 would miss it)."""
    return f"{shlex.quote(sys.executable)} -m pip install " + " ".join(packages)


# ---------------------------------------------------------------------------------------------------------------
# Job, data and plan: read and checked before anything heavy is imported, so a bad hand-off fails in milliseconds.

def read_job(path):
    """Loads job.json and checks the fields this program relies on, naming the first bad one."""
    try:
        with open(path, encoding="utf-8") as f:
            job = json.load(f)
    except (OSError, ValueError) as e:
        raise Failure(f"cannot read the job file {path}: {e}; run `tailor train --backend torch` again to rewrite it")
    if not isinstance(job, dict) or job.get("format") != 1:
        raise Failure(f"{path}: expected a job object with \"format\": 1, found {str(job)[:80]!r}; "
                      "this Tailor and its torch program disagree: reinstall Tailor")
    required = ["model", "base_model_name", "lora", "initial_adapter", "train", "validation", "plan", "optimizer",
                "batch_size", "eval_every", "save_every", "keep_checkpoints", "output", "checkpoint_state"]
    missing = [k for k in required if k not in job]
    if missing:
        raise Failure(f"{path}: missing keys {missing}; rewrite it with `tailor train --backend torch`")
    if job.get("precision", "auto") not in ("auto", "fp32", "bf16"):
        raise Failure(f"{path}: precision must be auto, fp32 or bf16, found {job.get('precision')!r}")
    if job.get("quantize") not in (None, "4bit"):
        raise Failure(f"{path}: quantize must be null or \"4bit\", found {job.get('quantize')!r}")
    if job.get("device", "auto") not in ("auto", "cpu", "cuda"):
        raise Failure(f"{path}: device must be auto, cpu or cuda, found {job.get('device')!r}")
    return job


def read_json_lines(path, expected):
    """Yields (line number, object) for every non-empty line; a line that is not JSON names its place."""
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield number, json.loads(line)
                    except ValueError as e:
                        raise Failure(f"{path}:{number}: expected {expected}: {e}")
    except OSError as e:
        raise Failure(f"cannot read {path}: {e}")


def read_examples(path):
    """Reads {"ids", "targets"} lines; a mismatch here would silently train on the wrong positions, so it is fatal."""
    expected = '{"ids": [...], "targets": [...]}'
    examples = []
    for number, row in read_json_lines(path, expected):
        try:
            ids, targets = row["ids"], row["targets"]
        except (KeyError, TypeError) as e:
            raise Failure(f"{path}:{number}: expected {expected}: {e}")
        if not ids or len(ids) != len(targets):
            raise Failure(f"{path}:{number}: ids ({len(ids)}) and targets ({len(targets)}) must have the "
                          "same non-zero length")
        examples.append((ids, targets))
    return examples


def read_plan(path, train_count):
    """Reads the step plan and checks every index, so a step never fails half way through its micro-batches."""
    expected = '{"step", "micro_batches", "lr"}'
    plan = []
    for number, step in read_json_lines(path, expected):
        try:
            batches, lr = step["micro_batches"], float(step["lr"])
        except (ValueError, KeyError, TypeError) as e:
            raise Failure(f"{path}:{number}: expected {expected}: {e}")
        if step.get("step") != len(plan) + 1 or not batches or not all(batches):
            raise Failure(f"{path}:{number}: expected step {len(plan) + 1} with non-empty micro-batches")
        bad = [i for b in batches for i in b if not (isinstance(i, int) and 0 <= i < train_count)]
        if bad:
            raise Failure(f"{path}:{number}: example indices {bad[:5]} outside train.jsonl (0..<{train_count})")
        plan.append({"micro_batches": batches, "lr": lr})
    if not plan:
        raise Failure(f"{path}: the plan has no steps")
    return plan


def import_packages(wanted):
    """Imports the heavy packages, turning a missing one into the exact pip line instead of a traceback."""
    missing, broken = [], []
    for name in wanted:
        try:
            __import__(name)
        except ImportError as e:
            (missing if isinstance(e, ModuleNotFoundError) and e.name == name else broken).append((name, e))
    if missing or broken:
        names = [n for n, _ in missing + broken]
        detail = "; ".join(f"{n}: {str(e).splitlines()[0] if str(e) else type(e).__name__}" for n, e in broken)
        raise Failure(f"the torch backend needs {', '.join(names)}" + (f" ({detail})" if detail else "")
                      + f"; install with: {pip_line(names)}")


# ---------------------------------------------------------------------------------------------------------------
# Model

def choose_device(torch, job, accelerator):
    """Picks the device per the job; under accelerate each rank owns the GPU its launcher gave it."""
    if accelerator is not None:
        return accelerator.device
    wanted = job.get("device", "auto")
    if wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise Failure("device \"cuda\" was asked for but torch sees no CUDA GPU; "
                          "use --device cpu or install a CUDA build of torch")
        return torch.device("cuda", 0)
    if wanted == "auto" and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(torch, device):
    """A human line for `started`: which GPU and how big, or how many CPU threads."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{device} ({props.name}, {props.total_memory / 2**30:.0f} GiB)"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


def choose_precision(torch, job, device):
    """bf16 autocast only where the hardware does bf16 natively (CUDA compute capability 8.0+); fp32 elsewhere."""
    precision = job.get("precision", "auto")
    if precision != "auto":
        return precision
    if device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 8:
        return "bf16"
    return "fp32"


def load_model(torch, job, device, precision, fsdp):
    """Loads the base model in the training dtype (4-bit NF4 on CUDA when asked) with caching off."""
    import transformers
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    model_info = job["model"]
    kwargs = {}
    # transformers renamed torch_dtype to dtype in 4.56; older releases only know the old name.
    version = tuple(int(p) for p in re.findall(r"\d+", transformers.__version__)[:2])
    dtype_key = "dtype" if version >= (4, 56) else "torch_dtype"
    kwargs[dtype_key] = dtype
    if model_info.get("gguf_file"):
        kwargs["gguf_file"] = model_info["gguf_file"]
    if job.get("quantize") == "4bit":
        if device.type != "cuda":
            raise Failure(f"--quantize 4bit needs a CUDA GPU (bitsandbytes NF4), but this run is on {device}; "
                          "drop --quantize or run on a machine with an NVIDIA GPU")
        from transformers import BitsAndBytesConfig
        quant = dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                     bnb_4bit_compute_dtype=torch.bfloat16)
        if fsdp:
            # FSDP only shards float tensors: pack the 4-bit weights into bf16 storage, and load in the same dtype.
            quant["bnb_4bit_quant_storage"] = torch.bfloat16
            kwargs[dtype_key] = torch.bfloat16
        else:
            kwargs["device_map"] = {"": device}
        kwargs["quantization_config"] = BitsAndBytesConfig(**quant)
    try:
        model = AutoModelForCausalLM.from_pretrained(model_info["path"], **kwargs)
    except Exception as e:
        if is_oom(e):
            raise
        what = model_info["path"] + (f" (gguf {model_info['gguf_file']})" if model_info.get("gguf_file") else "")
        raise Failure(f"cannot load the model {what}: {one_line(e)}")
    model.config.use_cache = False
    if job.get("quantize") != "4bit" and not fsdp:
        model.to(device)
    return model


def attach_lora(torch, job, model, fsdp):
    """Wraps the model with PEFT LoRA, gradient checkpointing as asked, LoRA parameters in float32."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    checkpointing = bool(job.get("gradient_checkpointing"))
    gc_kwargs = {"use_reentrant": False}
    if job.get("quantize") == "4bit" and not fsdp:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing,
                                                gradient_checkpointing_kwargs=gc_kwargs)
    elif checkpointing:
        # Sharded QLoRA skips prepare_model_for_kbit_training: its float32 upcast would mix dtypes inside FSDP units.
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=gc_kwargs)
        model.enable_input_require_grads()
    lora = job["lora"]
    config = LoraConfig(r=int(lora["r"]), lora_alpha=float(lora["alpha"]), lora_dropout=float(lora.get("dropout", 0)),
                        use_rslora=bool(lora.get("use_rslora", False)), target_modules=list(lora["target_modules"]),
                        bias="none", task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, config)
    peft_model.peft_config["default"].base_model_name_or_path = job["base_model_name"]
    for name, p in peft_model.named_parameters():
        if p.requires_grad:
            p.data = p.data.float()
    return peft_model


def peft_name(internal):
    """`...q_proj.lora_A.default.weight` (in memory) -> `...q_proj.lora_A.weight` (in files)."""
    return re.sub(r"\.(lora_[AB])\.default\.", r".\1.", internal)


def lora_parameters(peft_model):
    """The trainable tensors by in-memory name, in a fixed order shared by every rank."""
    return [(n, p) for n, p in peft_model.named_parameters() if p.requires_grad]


def load_lora_values(torch, peft_model, path, what):
    """Copies PEFT-named LoRA tensors in strictly: a missing, extra or misshapen tensor means the files disagree."""
    from safetensors.torch import load_file

    try:
        tensors = load_file(path)
    except Exception as e:
        raise Failure(f"cannot read the {what} {path}: {one_line(e)}")
    params = dict((peft_name(n), p) for n, p in lora_parameters(peft_model))
    missing = sorted(set(params) - set(tensors))
    extra = sorted(set(tensors) - set(params))
    if missing or extra:
        raise Failure(f"{path}: the {what} does not match the model's LoRA layers (missing {missing[:3]}, "
                      f"unexpected {extra[:3]}; {len(missing)} missing, {len(extra)} unexpected); "
                      "check --targets and the model")
    with torch.no_grad():
        for name, p in params.items():
            if tuple(tensors[name].shape) != tuple(p.shape):
                raise Failure(f"{path}: {name} has shape {list(tensors[name].shape)}, the model needs {list(p.shape)}")
            p.copy_(tensors[name].to(p.dtype))
    return tensors


def make_loss_module(torch):
    """Builds the module DDP/FSDP wrap: decoder body, then lm_head on target rows only, float32 CE summed."""
    import torch.nn.functional as F

    class TargetLoss(torch.nn.Module):
        """Logits at every position would cost seq x vocab memory; the loss only needs the rows with a target."""

        def __init__(self, peft_model):
            super().__init__()
            self.peft = peft_model

        def forward(self, ids, mask, targets):
            base = self.peft.get_base_model()
            hidden = base.base_model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
            rows = targets >= 0
            logits = base.get_output_embeddings()(hidden[rows])
            return F.cross_entropy(logits.float(), targets[rows], reduction="sum")

    return TargetLoss


# ---------------------------------------------------------------------------------------------------------------
# Training

class Trainer:
    """Executes Tailor's plan; holds the model, optimizer and the state.json bookkeeping."""

    def __init__(self, torch, job, accelerator, device, precision):
        self.torch, self.job, self.accelerator = torch, job, accelerator
        self.device, self.precision = device, precision
        self.fsdp = accelerator is not None and accelerator.distributed_type.name == "FSDP"
        self.run_folder = job["output"]
        self.stop_requested = False
        self.last_saved = 0

    def autocast(self):
        """bf16 autocast around forward passes; a no-op context for fp32."""
        if self.precision != "bf16":
            return contextlib.nullcontext()
        return self.torch.autocast(device_type=self.device.type, dtype=self.torch.bfloat16)

    def batch(self, examples):
        """Right-pads examples into (ids, attention mask, targets); padding never carries a loss."""
        torch = self.torch
        width = max(len(ids) for ids, _ in examples)
        ids = torch.zeros((len(examples), width), dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        targets = torch.full((len(examples), width), -1, dtype=torch.long)
        for row, (i, t) in enumerate(examples):
            ids[row, :len(i)] = torch.tensor(i)
            mask[row, :len(i)] = 1
            targets[row, :len(t)] = torch.tensor(t)
        return ids.to(self.device), mask.to(self.device), targets.to(self.device)

    def my_share(self, examples):
        """Round-robin share of this rank; an empty share runs the first example with weight 0 to keep ranks in step."""
        share = examples[RANK::WORLD_SIZE]
        return (share, 1.0) if share else (examples[:1], 0.0)

    def all_sum(self, values):
        """Sums floats over ranks (float64 on the device; the identity when running alone)."""
        if WORLD_SIZE == 1:
            return values
        t = self.torch.tensor(values, dtype=self.torch.float64, device=self.device)
        self.torch.distributed.all_reduce(t)
        return t.tolist()

    def train_step(self, entry, train):
        """One optimizer step's gradients; returns (mean loss, pre-clip grad norm, real tokens)."""
        torch = self.torch
        batches = [[train[i] for i in mb] for mb in entry["micro_batches"]]
        total_targets = sum(sum(1 for t in tg if t >= 0) for mb in batches for _, tg in mb)
        tokens = sum(len(ids) for mb in batches for ids, _ in mb)
        scale = WORLD_SIZE / max(total_targets, 1)  # DDP/FSDP average gradients over ranks; undo that
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum = 0.0
        for k, mb in enumerate(batches):
            share, weight = self.my_share(mb)
            ids, mask, targets = self.batch(share)
            sync_later = self.accelerator is not None and not self.fsdp and k < len(batches) - 1
            context = self.accelerator.no_sync(self.model) if sync_later else contextlib.nullcontext()
            with context:
                with self.autocast():
                    ce = self.model(ids, mask, targets)
                (ce * (scale * weight)).backward()
            loss_sum += ce.item() * weight
        loss_sum = self.all_sum([loss_sum])[0]
        # Summed in float64 on the CPU: MPS has no float64, and the norm decides clipping, so it must not drift.
        squares = torch.zeros((), dtype=torch.float64)
        for p in self.trainable:
            if p.grad is not None:
                squares += p.grad.detach().float().pow(2).sum().to("cpu", torch.float64)
        if self.fsdp:  # each rank holds a shard of the gradients
            squares = squares.to(self.device)
            torch.distributed.all_reduce(squares)
        loss = loss_sum / total_targets if total_targets else float("nan")
        return loss, math.sqrt(squares.item()), tokens

    def clip(self, norm):
        """torch's clip_grad_norm_ rule, on the norm already measured in float64."""
        max_norm = float(self.job["optimizer"].get("max_grad_norm") or 0)
        if max_norm > 0:
            coefficient = max_norm / (norm + 1e-6)
            if coefficient < 1:
                for p in self.trainable:
                    if p.grad is not None:
                        p.grad.mul_(coefficient)

    def validation_loss(self, validation):
        """Mean token CE over the validation set in batches of batch_size, no dropout, no gradients."""
        if not validation:
            return None
        torch = self.torch
        self.model.eval()
        total, count = 0.0, 0
        size = int(self.job["batch_size"])
        with torch.no_grad():
            for start in range(0, len(validation), size):
                chunk = validation[start:start + size]
                count += sum(1 for _, tg in chunk for t in tg if t >= 0)
                share, weight = self.my_share(chunk)
                with self.autocast():
                    total += self.model(*self.batch(share)).item() * weight
        self.model.train()
        total = self.all_sum([total])[0]
        return total / count if count else None

    # -- checkpoint files ------------------------------------------------------------------------------------

    def gather_lora(self):
        """Full LoRA tensors on CPU by in-memory name (rank 0 gets them; FSDP gathers its shards for that)."""
        torch = self.torch
        if not self.fsdp:
            return {n: p.detach().float().cpu().clone() for n, p in self.named}
        from torch.distributed.fsdp import FullStateDictConfig, FullyShardedDataParallel as FSDP, StateDictType
        config = FullStateDictConfig(offload_to_cpu=True, rank0_only=True)
        with FSDP.state_dict_type(self.model, StateDictType.FULL_STATE_DICT, config):
            full = self.model.state_dict()
        return {k[len("peft."):]: v.float().clone() for k, v in full.items() if "lora_" in k}

    def gather_moments(self):
        """AdamW moments by in-memory name on CPU (FSDP: consolidated on rank 0)."""
        if not self.fsdp:
            out = {}
            for n, p in self.named:
                state = self.optimizer.state.get(p, {})
                zeros = self.torch.zeros_like(p, dtype=self.torch.float32, device="cpu")
                out[n] = (state.get("exp_avg", zeros).float().cpu(), state.get("exp_avg_sq", zeros).float().cpu())
            return out
        from torch.distributed.fsdp import FullOptimStateDictConfig, FullyShardedDataParallel as FSDP, StateDictType
        config = FullOptimStateDictConfig(offload_to_cpu=True, rank0_only=True)
        with FSDP.state_dict_type(self.model, StateDictType.FULL_STATE_DICT, optim_state_dict_config=config):
            osd = FSDP.optim_state_dict(self.model, self.optimizer)
        return {k[len("peft."):]: (v["exp_avg"].float(), v["exp_avg_sq"].float())
                for k, v in osd.get("state", {}).items()}

    def write_adapter(self, folder, values):
        """PEFT's own writer (so PEFT reads it back), minus the model card it adds."""
        self.peft_model.save_pretrained(folder, state_dict=values, safe_serialization=True,
                                        save_embedding_layers=False)
        readme = os.path.join(folder, "README.md")
        if os.path.exists(readme):
            os.remove(readme)

    def save_checkpoint(self, step):
        """Writes checkpoints/step-NNNNNN atomically (temp folder + rename) and prunes old ones; rank 0 writes."""
        from safetensors.torch import save_file
        values, moments = self.gather_lora(), self.gather_moments()
        root = os.path.join(self.run_folder, "checkpoints")
        final = os.path.join(root, f"step-{step:06d}")
        if RANK == 0:
            os.makedirs(root, exist_ok=True)
            temporary = os.path.join(root, f".step-{step:06d}.{uuid.uuid4().hex}.tmp")
            try:
                os.makedirs(temporary)
                self.write_adapter(temporary, values)
                tensors = {}
                for n, (m, v) in moments.items():
                    tensors["exp_avg." + peft_name(n)] = m.contiguous()
                    tensors["exp_avg_sq." + peft_name(n)] = v.contiguous()
                if self.best is not None:
                    for n, t in self.best.items():
                        tensors["best." + peft_name(n)] = t.contiguous()
                save_file(tensors, os.path.join(temporary, "optimizer.safetensors"), metadata={"format": "pt"})
                with open(os.path.join(temporary, "state.json"), "w", encoding="utf-8") as f:
                    json.dump(dict(backend="torch", step=step, **self.state_fields()), f, indent=2, sort_keys=True)
                if os.path.exists(final):
                    shutil.rmtree(final)
                os.rename(temporary, final)
            except OSError as e:
                shutil.rmtree(temporary, ignore_errors=True)
                raise Failure(f"cannot write the checkpoint {final}: {e}; check free disk space")
            names = sorted(n for n in os.listdir(root) if re.fullmatch(r"step-\d+", n))
            for old in names[:-max(1, int(self.job.get("keep_checkpoints") or 1))]:
                shutil.rmtree(os.path.join(root, old), ignore_errors=True)
            emit("checkpoint", step=step, folder=final)
        self.last_saved = step
        return final

    def state_fields(self):
        """The bookkeeping of state.json beside backend and step; `parameters` is Tailor's, copied verbatim."""
        cs = self.job["checkpoint_state"]
        return {"totalSteps": len(self.plan), "parameters": cs.get("parameters"),
                "trainFingerprint": cs.get("trainFingerprint"), "validationFingerprint": cs.get("validationFingerprint"),
                **self.book}

    def write_final(self, values):
        """RUN/adapter_config.json + adapter_model.safetensors, each renamed into place from a temp folder."""
        if RANK != 0:
            return
        temporary = tempfile.mkdtemp(prefix=".adapter.", suffix=".tmp", dir=self.run_folder)
        try:
            self.write_adapter(temporary, values)
            for name in ("adapter_config.json", "adapter_model.safetensors"):
                os.replace(os.path.join(temporary, name), os.path.join(self.run_folder, name))
        finally:
            shutil.rmtree(temporary, ignore_errors=True)

    # -- the run ---------------------------------------------------------------------------------------------

    def setup(self):
        """Loads data, model, adapter values, optimizer (and the checkpoint when resuming)."""
        torch, job = self.torch, self.job
        self.train = read_examples(job["train"])
        self.validation = read_examples(job["validation"])
        self.plan = read_plan(job["plan"], len(self.train))
        declared = job["checkpoint_state"].get("totalSteps")
        if declared is not None and declared != len(self.plan):
            raise Failure(f"{job['plan']}: {len(self.plan)} steps, but job.json says totalSteps {declared}; "
                          "rewrite the hand-off with `tailor train --backend torch`")
        torch.manual_seed(int(job.get("seed", 0)))
        quant = ", 4-bit NF4" if job.get("quantize") == "4bit" else ""
        gguf = job["model"].get("gguf_file")
        source = os.path.join(job["model"]["path"], gguf) + " (gguf)" if gguf else job["model"]["path"]
        emit("note", message=f"loading {source} on {self.device}, "
                             f"{'bf16 autocast' if self.precision == 'bf16' else 'fp32'}{quant}")
        model = load_model(torch, job, self.device, self.precision, self.fsdp)
        self.peft_model = attach_lora(torch, job, model, self.fsdp)
        load_lora_values(torch, self.peft_model, job["initial_adapter"], "initial adapter")
        resume = job.get("resume_from")
        saved = None
        if resume:
            saved = self.read_checkpoint(resume)
        self.named = lora_parameters(self.peft_model)
        self.model = make_loss_module(torch)(self.peft_model)
        self.model.train()
        if self.accelerator is not None:
            if self.fsdp:
                from peft.utils.other import fsdp_auto_wrap_policy
                self.accelerator.state.fsdp_plugin.auto_wrap_policy = fsdp_auto_wrap_policy(self.peft_model)
            self.model = self.accelerator.prepare_model(self.model)
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        o = job["optimizer"]
        self.optimizer = torch.optim.AdamW(self.trainable, lr=self.plan[0]["lr"], betas=(o["beta1"], o["beta2"]),
                                           eps=o["eps"], weight_decay=o["weight_decay"])
        self.keep_best = job.get("patience") is not None and bool(self.validation)
        self.best = None
        self.book = {"bestValidationLoss": None, "bestStep": None, "firstValidationLoss": None,
                     "evaluationsWithoutImprovement": 0, "lastLoss": None}
        self.start_step = 0
        if saved is not None:
            self.restore(*saved)

    def read_checkpoint(self, folder):
        """Reads a checkpoint and loads its adapter values now (before any wrapping shards the parameters)."""
        from safetensors.torch import load_file
        try:
            with open(os.path.join(folder, "state.json"), encoding="utf-8") as f:
                state = json.load(f)
            step = int(state["step"])
            optimizer = load_file(os.path.join(folder, "optimizer.safetensors"))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise Failure(f"cannot resume from {folder}: {one_line(e)}; pick another checkpoint or start over")
        if not 0 < step <= len(self.plan):
            raise Failure(f"{folder}: checkpoint step {step} is outside this plan of {len(self.plan)} steps")
        load_lora_values(self.torch, self.peft_model, os.path.join(folder, "adapter_model.safetensors"),
                         "checkpoint adapter")
        return state, optimizer

    def restore(self, state, tensors):
        """AdamW moments (step count = checkpoint step), best copy and bookkeeping from a checkpoint."""
        torch = self.torch
        step = int(state["step"])
        missing = [n for n, _ in self.named if "exp_avg." + peft_name(n) not in tensors]
        if missing:
            raise Failure(f"the checkpoint's optimizer.safetensors lacks the moments of {peft_name(missing[0])} "
                          f"({len(missing)} tensors); it was not written by the torch backend")

        def moments(n, p):
            return {"step": torch.tensor(float(step)),
                    "exp_avg": tensors["exp_avg." + peft_name(n)].reshape(p.shape).float(),
                    "exp_avg_sq": tensors["exp_avg_sq." + peft_name(n)].reshape(p.shape).float()}

        groups = self.optimizer.state_dict()["param_groups"]
        if self.fsdp:
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
            names = ["peft." + n for n, _ in self.named]
            full = {"state": {"peft." + n: moments(n, p) for n, p in self.named},
                    "param_groups": [dict(groups[0], params=names)]}
            self.optimizer.load_state_dict(FSDP.optim_state_dict_to_load(self.model, self.optimizer, full))
        else:
            full = {"state": {i: moments(n, p) for i, (n, p) in enumerate(self.named)}, "param_groups": groups}
            self.optimizer.load_state_dict(full)
        if self.keep_best and any(k.startswith("best.") for k in tensors):
            self.best = {n: tensors["best." + peft_name(n)].float().clone() for n, _ in self.named}
        for key in self.book:
            self.book[key] = state.get(key, self.book[key])
        self.book["evaluationsWithoutImprovement"] = int(self.book["evaluationsWithoutImprovement"] or 0)
        self.start_step = self.last_saved = step

    def evaluate(self, step):
        """Validation plus best/patience bookkeeping; returns True when early stopping should end the run."""
        loss = self.validation_loss(self.validation)
        if loss is None:
            return False
        book = self.book
        if book["firstValidationLoss"] is None:
            book["firstValidationLoss"] = loss
        is_best = book["bestValidationLoss"] is None or loss < book["bestValidationLoss"]
        if is_best:
            book.update(bestValidationLoss=loss, bestStep=step, evaluationsWithoutImprovement=0)
            if self.keep_best:
                self.best = self.gather_lora()
        else:
            book["evaluationsWithoutImprovement"] += 1
        emit("evaluation", step=step, loss=loss, is_best=is_best)
        patience = self.job.get("patience")
        return patience is not None and book["evaluationsWithoutImprovement"] >= patience and step < len(self.plan)

    def stop_agreed(self):
        """Every rank must stop after the same step, so the flag is OR-ed over ranks.

        Tailor asks a run of several processes to stop through the job's stop file rather than a signal: a signal to
        the launcher would make it shut the workers down, and kill them if a save outlasts its grace period.
        """
        stop_file = self.job.get("stop_file")
        if stop_file and os.path.exists(stop_file):
            self.stop_requested = True
        return bool(self.all_sum([1.0 if self.stop_requested else 0.0])[0])

    def run(self):
        """The step loop, in the native engine's order: step, evaluation, early stop, periodic save, interrupt."""
        job, total = self.job, len(self.plan)
        emit("started", device=describe_device(self.torch, self.device), precision=self.precision,
             quantize=job.get("quantize"), world_size=WORLD_SIZE, start_step=self.start_step)
        if self.stop_agreed():
            emit("interrupted", step=self.start_step)
            raise Exit(EXIT_INTERRUPTED)
        if self.start_step == 0:
            self.evaluate(0)
        stopped_early, step = False, self.start_step
        eval_every, save_every = max(1, int(job["eval_every"])), max(1, int(job["save_every"]))
        for step in range(self.start_step + 1, total + 1):
            entry = self.plan[step - 1]
            started = time.perf_counter()
            loss, norm, tokens = self.train_step(entry, self.train)
            if not (math.isfinite(loss) and math.isfinite(norm)):
                what = "gradient norm" if math.isfinite(loss) else "loss"
                kept = None
                if step > 1:  # parameters and moments are still those after step - 1
                    kept = os.path.join(self.run_folder, "checkpoints", f"step-{step - 1:06d}")
                    if self.last_saved != step - 1 or not os.path.isdir(kept):
                        kept = self.save_checkpoint(step - 1)
                emit("non_finite", step=step, what=what, checkpoint=kept)
                raise Exit(EXIT_NON_FINITE)
            self.clip(norm)
            for group in self.optimizer.param_groups:
                group["lr"] = entry["lr"]
            self.optimizer.step()
            self.book["lastLoss"] = loss
            emit("step", step=step, loss=loss, lr=entry["lr"], grad_norm=norm, tokens=tokens,
                 seconds=round(time.perf_counter() - started, 4))
            if step % eval_every == 0 or step == total:
                if self.evaluate(step):
                    emit("stopped_early", step=step, best_step=self.book["bestStep"],
                         best_loss=self.book["bestValidationLoss"])
                    stopped_early = True
                    break
            if step % save_every == 0 and step < total:
                self.save_checkpoint(step)
            if step < total and self.stop_agreed():
                if self.last_saved != step:
                    self.save_checkpoint(step)
                emit("interrupted", step=step)
                raise Exit(EXIT_INTERRUPTED)
        use_best = self.keep_best and self.best is not None
        self.write_final(self.best if use_best else self.gather_lora())
        book = self.book
        peak, where = self.peak_memory()
        emit("finished", steps=step, final_loss=book["lastLoss"], best_validation_loss=book["bestValidationLoss"],
             best_step=book["bestStep"], first_validation_loss=book["firstValidationLoss"],
             stopped_early=stopped_early, adapter_is_best=use_best, peak_memory_bytes=peak, memory_device=where)

    def peak_memory(self):
        """The figure a user sizes the next run by: the GPU's allocator peak (rank 0), else this process's RSS."""
        if self.device.type == "cuda":
            return int(self.torch.cuda.max_memory_allocated(self.device)), "GPU"
        import resource
        scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale, "RAM"


# ---------------------------------------------------------------------------------------------------------------
# Entry point and failure handling

def one_line(error):
    """Exceptions often span lines; the protocol wants one."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:600]


def is_oom(error):
    """CUDA out-of-memory, whichever torch version raised it."""
    return "out of memory" in str(error).lower() and ("cuda" in str(error).lower() or
                                                      type(error).__name__ == "OutOfMemoryError")


def install_signal_handlers(trainer_box):
    """First SIGINT/SIGTERM asks for a checkpoint after the current step; a second one leaves at once.

    Tailor passes its own Ctrl-C on to this process, which on a terminal has usually received the same Ctrl-C
    already, so signals within two seconds of the first count as one request.
    """
    def handler(signum, frame):
        trainer = trainer_box.get("trainer")
        first = trainer_box.get("signalled")
        if first is not None and time.monotonic() - first < 2.0:
            return
        if first is not None or trainer is None:
            if trainer is None:  # still loading: nothing to save, say so before leaving
                emit("interrupted", step=0)
            os._exit(EXIT_INTERRUPTED)
        trainer_box["signalled"] = time.monotonic()
        trainer.stop_requested = True
        print(f"signal {signum}: stopping after the current step (send it again to quit at once)",
              file=sys.stderr, flush=True)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def main(argv=None):
    """Runs the job; every failure becomes exactly one protocol line and a documented exit status."""
    parser = argparse.ArgumentParser(description="Tailor's torch training backend (started by `tailor train`).")
    parser.add_argument("--job", required=True, help="RUN/torch/job.json written by Tailor")
    args = parser.parse_args(argv)
    box = {}
    install_signal_handlers(box)
    try:
        job = read_job(args.job)
        wanted = ["torch", "transformers", "peft", "safetensors"]
        wanted += ["gguf"] if job["model"].get("gguf_file") else []
        wanted += ["accelerate"] if WORLD_SIZE > 1 else []
        import_packages(wanted)
        import torch
        accelerator = None
        if WORLD_SIZE > 1:
            from accelerate import Accelerator
            accelerator = Accelerator()
        device = choose_device(torch, job, accelerator)
        precision = choose_precision(torch, job, device)
        if job.get("quantize") == "4bit" and device.type != "cuda":
            raise Failure(f"--quantize 4bit needs a CUDA GPU (bitsandbytes NF4), but this run is on {device}; "
                          "drop --quantize or run on a machine with an NVIDIA GPU")
        if job.get("quantize") == "4bit":
            import_packages(["bitsandbytes"])
        trainer = Trainer(torch, job, accelerator, device, precision)
        box["trainer"] = trainer
        trainer.setup()
        trainer.run()
        return 0
    except Exit as e:
        return e.code
    except Failure as e:
        message = str(e)
    except Exception as e:  # the protocol promises one error line, never a bare traceback
        import traceback
        traceback.print_exc(file=sys.stderr)
        if is_oom(e):
            message = ("CUDA out of memory: " + one_line(e)[:200] + "; try a smaller --batch-size or --max-length, "
                       "--checkpointing, or --quantize 4bit")
        else:
            message = f"{type(e).__name__}: {one_line(e)}"
    if RANK != 0:  # a failure on another rank would otherwise go unreported
        print("@tailor " + json.dumps({"event": "error", "message": f"rank {RANK}: {message}"}), flush=True)
    else:
        emit("error", message=message)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
