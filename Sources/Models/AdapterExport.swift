import Formats
// Writes a trained LoRA adapter as a GGUF LoRA adapter, the file llama.cpp's `--lora` and Ollama's `ADAPTER` load.
//
// What llama.cpp's loader (`src/llama-adapter.cpp`) checks, and what `convert_lora_to_gguf.py` writes (DESIGN.md §4 traps 1, 2, 10):
//   general.type = "adapter", adapter.type = "lora", general.architecture = the base GGUF's architecture,
//   adapter.lora.alpha (f32): llama.cpp scales by alpha / r, where r = ne[0] of lora_b.
//   <base tensor name>.lora_a   PEFT lora_A [r, in]  unchanged, GGUF ne = [in, r]
//   <base tensor name>.lora_b   PEFT lora_B [out, r] unchanged, GGUF ne = [r, out]
//   For architectures whose GGUF permutes q/k rows (llama), lora_B of q and k gets the same row permutation,
//   because B's rows are the output rows of the projection (the converter's `LoraTorchTensor.permute` does this).
import Foundation

/// Converts LoRA parameters to the GGUF adapter format.
public enum AdapterExport {
    /// The `general.architecture` llama.cpp gives a model of `architecture`.
    ///
    /// Mistral checkpoints go through llama.cpp's llama converter, so their GGUFs say `llama`.
    public static func ggufArchitectureName(_ architecture: Architecture) -> String {
        architecture.spec.ggufArchitecture
    }

    /// The `adapter.lora.alpha` that makes llama.cpp's scale alpha/r equal Tailor's scale:
    /// `alpha` itself, or alpha·√r for rsLoRA (whose scale alpha/√r llama.cpp cannot express otherwise).
    public static func ggufAlpha(_ config: LoRAConfig) -> Float {
        config.useRSLoRA ? config.alpha * Float(config.rank).squareRoot() : config.alpha
    }

    /// Builds the GGUF adapter for `lora`, trained on a base model with `model`.
    ///
    /// `architecture` is the base GGUF's `general.architecture` when the base is a GGUF (llama.cpp refuses a
    /// mismatch); nil derives it from `model`. `name` becomes `general.name`.
    public static func ggufAdapter(
        lora: LoRAParameters, model: ModelConfig, architecture: String? = nil, name: String? = nil
    ) throws -> GGUFWriter {
        var writer = GGUFWriter()
        writer.set("general.architecture", .string(architecture ?? ggufArchitectureName(model.architecture)))
        writer.set("general.type", .string("adapter"))
        if let name { writer.set("general.name", .string(name)) }
        writer.set("adapter.type", .string("lora"))
        writer.set("adapter.lora.alpha", .float32(ggufAlpha(lora.config)))
        let r = lora.config.rank
        let permute = model.architecture.ggufPermutesQueryKey
        let flat = lora.values.array
        let spec = model.architecture.spec
        for module in lora.modules {
            let first = module.parts[0]
            let base = spec.fused(first.target).map { "blk.\(module.layer).\($0.gguf)" }
                ?? WeightNames.ggufName(first.target.role, layer: module.layer, architecture: model.architecture)
            let a = Array(flat[module.offsetA..<(module.offsetA + r * module.inFeatures)])
            // B's rows are the projection's output rows, so q/k row blocks take the GGUF's permutation.
            let b = module.parts.flatMap { slot -> [Float] in
                let rows = Array(flat[slot.offsetB..<(slot.offsetB + slot.outFeatures * r)])
                guard permute, let heads = permutedHeads(slot.target, model: model) else { return rows }
                return QueryKeyPermutation.huggingFaceToGGUF(rows, rows: slot.outFeatures, columns: r, heads: heads)
            }
            try convertingFormatErrors {
                try writer.addTensor(name: base + ".lora_a", shape: [r, module.inFeatures], floats: a, as: .f32)
                try writer.addTensor(name: base + ".lora_b", shape: [module.outFeatures, r], floats: b, as: .f32)
            }
        }
        return writer
    }

    /// Writes `ggufAdapter(...)` to `url` atomically.
    public static func writeGGUFAdapter(
        lora: LoRAParameters, model: ModelConfig, architecture: String? = nil, name: String? = nil, to url: URL
    ) throws {
        let writer = try ggufAdapter(lora: lora, model: model, architecture: architecture, name: name)
        try convertingFormatErrors { try writer.write(to: url) }
    }

    /// The head count whose rows llama.cpp interleaves for a target's output rows, nil when not permuted.
    static func permutedHeads(_ target: LoRATarget, model: ModelConfig) -> Int? {
        switch target {
        case .q: return model.headCount
        case .k: return model.kvHeadCount
        default: return nil
        }
    }
}
