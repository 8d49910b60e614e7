import Formats
// PEFT LoRA adapter files: `adapter_config.json` + `adapter_model.safetensors`, written from and read into LoRAParameters.
//
// Layout PEFT's `PeftModel.from_pretrained` loads (DESIGN.md §4.9):
//   adapter_config.json        {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r", "lora_alpha", "target_modules", ...}
//   adapter_model.safetensors  base_model.model.model.layers.N.<module path>.lora_A.weight [r, in]
//                              base_model.model.model.layers.N.<module path>.lora_B.weight [out, r]
// Keys carry no adapter name (`.default`): PEFT inserts it on load. Values are F32 so a checkpoint round-trips bit for bit.
import Foundation

/// Reads and writes LoRA adapters in PEFT's on-disk layout.
public enum AdapterFiles {
    /// File names inside an adapter folder.
    public static let configName = "adapter_config.json"
    public static let weightsName = "adapter_model.safetensors"

    /// Writes `adapter_config.json` and `adapter_model.safetensors` for `lora` into `folder` (created when missing).
    ///
    /// Each file is written atomically (temporary file, then rename). `values` overrides `lora.values` (a kept best
    /// adapter) and must have `lora.count` elements.
    public static func writePEFT(
        lora: LoRAParameters, values: [Float]? = nil, baseModel: String, to folder: URL
    ) throws {
        let flat = values ?? lora.values.array
        precondition(flat.count == lora.count, "adapter values of the wrong size")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        let r = lora.config.rank
        for module in lora.modules {
            writer.add(
                name: "\(module.peftPrefix).lora_A.weight", shape: [r, module.inFeatures],
                floats: Array(flat[module.offsetA..<(module.offsetA + r * module.inFeatures)]))
            writer.add(
                name: "\(module.peftPrefix).lora_B.weight", shape: [module.outFeatures, r],
                floats: Array(flat[module.offsetB..<(module.offsetB + module.outFeatures * r)]))
        }
        do {
            try writer.write(to: folder.appendingPathComponent(weightsName))
        } catch let error as FormatsError {
            throw ModelsError.format(error)
        }
        let data = try configJSON(lora.config, architecture: lora.architecture, baseModel: baseModel)
        try data.write(to: folder.appendingPathComponent(configName), options: .atomic)
    }

    /// The `adapter_config.json` PEFT writes for a LoRA on a causal LM, with keys sorted (stable bytes).
    public static func configJSON(
        _ config: LoRAConfig, architecture: Architecture, baseModel: String
    ) throws -> Data {
        let object: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": config.rank,
            "lora_alpha": Double(config.alpha),
            "lora_dropout": Double(config.dropout),
            "target_modules": config.peftTargetModules(for: architecture),
            "use_rslora": config.useRSLoRA, "bias": "none", "base_model_name_or_path": baseModel,
            "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true, "use_dora": false,
            "modules_to_save": NSNull(), "layers_to_transform": NSNull(), "layers_pattern": NSNull(),
            "rank_pattern": [String: Any](), "alpha_pattern": [String: Any](), "revision": NSNull(),
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// Reads the LoRA configuration of a PEFT adapter folder, refusing what Tailor cannot apply (DoRA,
    /// per-module ranks, layer subsets, bias training, unknown target modules).
    public static func readConfig(folder: URL) throws -> LoRAConfig {
        let url = folder.appendingPathComponent(configName)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ModelsError.notAModel(
                path: url.path, reason: "no \(configName) here; is this a PEFT adapter folder?")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelsError.malformedConfig(path: url.path, reason: "not a JSON object")
        }
        func number(_ key: String) throws -> Double {
            guard let value = object[key] as? NSNumber else {
                throw ModelsError.missingKey(path: url.path, key: key)
            }
            return value.doubleValue
        }
        if let type = object["peft_type"] as? String, type.uppercased() != "LORA" {
            throw ModelsError.invalidValue(path: url.path, key: "peft_type", found: type, expected: "LORA")
        }
        if (object["use_dora"] as? Bool) == true {
            throw ModelsError.invalidValue(
                path: url.path, key: "use_dora", found: "true", expected: "false (DoRA is not supported)")
        }
        for key in ["rank_pattern", "alpha_pattern"] {
            if let pattern = object[key] as? [String: Any], !pattern.isEmpty {
                throw ModelsError.invalidValue(
                    path: url.path, key: key, found: "\(pattern.count) entries",
                    expected: "empty (one rank and alpha for every module)")
            }
        }
        if let layers = object["layers_to_transform"], !(layers is NSNull) {
            throw ModelsError.invalidValue(
                path: url.path, key: "layers_to_transform", found: "\(layers)",
                expected: "null (every layer adapted)")
        }
        if let bias = object["bias"] as? String, bias != "none" {
            throw ModelsError.invalidValue(path: url.path, key: "bias", found: bias, expected: "none")
        }
        let modules: [String]
        if let list = object["target_modules"] as? [String] {
            modules = list
        } else if let single = object["target_modules"] as? String {
            modules = [single]
        } else {
            throw ModelsError.missingKey(path: url.path, key: "target_modules")
        }
        // Module names of every family: q_proj, …, Phi-2's dense, fc1, fc2 and the fused ones (qkv_proj,
        // gate_up_proj).
        var known: [(name: String, targets: [LoRATarget])] = []
        for architecture in Architecture.allCases {
            let modules = LoRATarget.allCases.map { ($0.peftModuleName(for: architecture), [$0]) }
                + architecture.spec.fusedProjections.map { ($0.peftModuleName, $0.parts) }
            for (name, targets) in modules where !known.contains(where: { $0.name == name }) {
                known.append((name, targets))
            }
        }
        var targets: [LoRATarget] = []
        for module in modules {
            guard let entry = known.first(where: { $0.name == module }) else {
                throw ModelsError.invalidValue(
                    path: url.path, key: "target_modules", found: module,
                    expected: known.map(\.name).joined(separator: ", "))
            }
            targets += entry.targets
        }
        let rank = Int(try number("r"))
        guard rank > 0 else {
            throw ModelsError.invalidValue(
                path: url.path, key: "r", found: "\(rank)", expected: "a positive rank")
        }
        return LoRAConfig(
            rank: rank, alpha: Float(try number("lora_alpha")),
            dropout: Float((object["lora_dropout"] as? NSNumber)?.doubleValue ?? 0),
            useRSLoRA: (object["use_rslora"] as? Bool) ?? false, targets: targets)
    }

    /// Reads a PEFT adapter folder into LoRAParameters for `model`.
    ///
    /// Checks every tensor's presence and shape. Accepts keys with or without PEFT's `.default` adapter name, and F32, F16 or BF16 values.
    public static func readPEFT(folder: URL, model: ModelConfig) throws -> LoRAParameters {
        let config = try readConfig(folder: folder)
        let url = folder.appendingPathComponent(weightsName)
        let file: SafetensorsFile
        do { file = try SafetensorsFile(url: url) } catch let error as FormatsError {
            throw ModelsError.format(error)
        }
        let lora = LoRAParameters(model: model, config: config)
        let r = config.rank
        for module in lora.modules {
            for (part, offset, shape) in [
                ("lora_A", module.offsetA, [r, module.inFeatures]),
                ("lora_B", module.offsetB, [module.outFeatures, r]),
            ] {
                let names = [
                    "\(module.peftPrefix).\(part).weight", "\(module.peftPrefix).\(part).default.weight",
                ]
                guard let info = names.lazy.compactMap({ file.tensor(named: $0) }).first else {
                    throw ModelsError.missingTensor(path: url.path, tensor: names[0])
                }
                guard info.shape == shape else {
                    throw ModelsError.shapeMismatch(
                        path: url.path, tensor: info.name, expected: shape, found: info.shape)
                }
                let values: [Float]
                do { values = try file.floats(info) } catch let error as FormatsError {
                    throw ModelsError.format(error)
                }
                _ = UnsafeMutableBufferPointer(start: lora.values.pointer + offset, count: values.count)
                    .update(fromContentsOf: values)
            }
        }
        return lora
    }
}
