// A value for every `tailor train` setting, as a user types it, shared by the library's and the CLI's settings tests.

/// For each setting: a value different from its default, and a second one different again.
public enum TrainingSettingSamples {
    public static let values: [String: (String, String)] = [
        "model": ("a.gguf", "b.gguf"), "data": ("d.jsonl", "e.jsonl"), "val-file": ("v.jsonl", "w.jsonl"),
        "val-split": ("0.2", "0.3"), "output": ("runs/x", "runs/y"), "epochs": ("2", "5"), "max-steps": ("7", "9"),
        "learning-rate": ("0.001", "0.002"), "batch-size": ("3", "5"), "grad-accum": ("2", "4"),
        "max-length": ("256", "512"), "rank": ("8", "4"), "alpha": ("8", "4"), "dropout": ("0.1", "0.2"),
        "targets": ("q,v", "k,o"), "rslora": ("true", "false"), "packing": ("true", "false"),
        "checkpointing": ("true", "false"), "schedule": ("linear", "constant"), "warmup-steps": ("3", "4"),
        "warmup-ratio": ("0.1", "0.2"), "weight-decay": ("0.01", "0.02"), "max-grad-norm": ("0.5", "2"),
        "eval-every": ("5", "6"), "save-every": ("5", "6"), "patience": ("2", "3"), "seed": ("7", "8"),
        "threads": ("1", "2"), "skip-invalid": ("true", "false"), "format": ("alpaca", "text"),
        "field": ("role=from", "messages=dialog"),
        "chat-template": ("t.jinja", "u.jinja"), "backend": ("torch", "native"),
        "python": ("/usr/bin/python3", "/opt/py"), "gpus": ("2", "all"), "fsdp": ("true", "false"),
        "quantize": ("4bit", "none"), "precision": ("bf16", "fp32"), "weights": ("bf16", "f32"),
        "device": ("cuda", "cpu"),
    ]

    /// The other settings a sample needs to be valid: the torch backend's own need `backend: torch`, FSDP GPUs.
    public static func context(for name: String) -> [String: String] {
        var context: [String: String] = [:]
        if ["python", "gpus", "fsdp", "quantize", "device"].contains(name) { context["backend"] = "torch" }
        if name == "fsdp" { context["gpus"] = "2" }
        return context
    }
}
