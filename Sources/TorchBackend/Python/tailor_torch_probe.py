"""Tailor's torch probe: what this Python can do for `tailor train --backend torch` (used by `tailor doctor`).

Prints ONE JSON object on stdout and exits 0 even when nothing is installed, so Tailor can always explain what is
missing:
  {"python", "executable", "packages": {name: version | null}, "errors": {name: one-line import error},
   "torch": {"cuda", "cuda_version", "mps", "threads"} | null, "gpus": [{"index", "name", "memory_bytes",
   "capability", "bf16"}]}
Versions come from package metadata (no heavy imports); only torch is imported, for its device facts, and
bitsandbytes only when CUDA is available (its import is what fails on a broken install). Standard library only,
Python 3.9+. The reader is Sources/Training/TorchHandOff.swift.
"""
import contextlib
import json
import platform
import sys

PACKAGES = ["torch", "transformers", "peft", "accelerate", "bitsandbytes", "safetensors", "gguf"]


def one_line(error):
    """Import errors can be long tracebacks; the report keeps their first words on one line."""
    return (" ".join(str(error).split()) or type(error).__name__)[:300]


def package_versions():
    """Installed distribution versions by name, null when absent; metadata only, so this stays fast."""
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover - Python < 3.8
        return {name: None for name in PACKAGES}
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except Exception:
            versions[name] = None
    return versions


def torch_facts(errors):
    """CUDA/MPS availability, thread count and one entry per GPU; (None, []) when torch cannot be imported."""
    try:
        import torch
    except Exception as e:
        errors["torch"] = one_line(e)
        return None, []
    facts = {"cuda": False, "cuda_version": None, "mps": False, "threads": None}
    gpus = []
    try:
        facts["threads"] = torch.get_num_threads()
        facts["cuda"] = bool(torch.cuda.is_available())
        facts["cuda_version"] = torch.version.cuda
        mps = getattr(torch.backends, "mps", None)
        facts["mps"] = bool(mps is not None and mps.is_available())
        if facts["cuda"]:
            for index in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(index)
                major, minor = props.major, props.minor
                gpus.append({"index": index, "name": props.name, "memory_bytes": int(props.total_memory),
                             "capability": f"{major}.{minor}", "bf16": major >= 8})
    except Exception as e:  # a driver problem must still produce a report
        errors["torch"] = one_line(e)
    return facts, gpus


def main():
    """Collects everything into one object; never raises, never exits non-zero."""
    report = {"python": platform.python_version(), "executable": sys.executable}
    errors = {}
    try:
        report["packages"] = package_versions()
        facts, gpus = (None, [])
        # Imports may print banners (old bitsandbytes does); stdout carries only the report.
        with contextlib.redirect_stdout(sys.stderr):
            if report["packages"].get("torch"):
                facts, gpus = torch_facts(errors)
            if facts and facts.get("cuda") and report["packages"].get("bitsandbytes"):
                try:
                    import bitsandbytes  # noqa: F401  (loading its CUDA library is the check)
                except Exception as e:
                    errors["bitsandbytes"] = one_line(e)
        report["errors"] = errors
        report["torch"] = facts
        report["gpus"] = gpus
    except Exception as e:
        errors["probe"] = one_line(e)
        report.setdefault("packages", {name: None for name in PACKAGES})
        report["errors"] = errors
        report.setdefault("torch", None)
        report.setdefault("gpus", [])
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
