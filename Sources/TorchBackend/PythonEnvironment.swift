// What a Python installation offers the torch backend, as reported by Python/tailor_torch_probe.py, and what each
// torch setting needs from it. `tailor doctor` shows this; `train --backend torch` checks it before launching.
import Foundation
import Training

/// The probe's report: interpreter, package versions, torch's devices.
public struct PythonEnvironment: Codable, Sendable, Equatable {
    public struct Torch: Codable, Sendable, Equatable {
        public var cuda: Bool
        public var cudaVersion: String?
        public var mps: Bool?
        public var threads: Int?

        public init(cuda: Bool, cudaVersion: String? = nil, mps: Bool? = nil, threads: Int? = nil) {
            self.cuda = cuda
            self.cudaVersion = cudaVersion
            self.mps = mps
            self.threads = threads
        }

        enum CodingKeys: String, CodingKey {
            case cuda
            case cudaVersion = "cuda_version"
            case mps, threads
        }
    }

    public struct GPU: Codable, Sendable, Equatable {
        public var index: Int
        public var name: String
        public var memoryBytes: Int64
        /// CUDA compute capability, "9.0".
        public var capability: String?
        public var bf16: Bool?

        public init(index: Int, name: String, memoryBytes: Int64, capability: String? = nil, bf16: Bool? = nil) {
            self.index = index
            self.name = name
            self.memoryBytes = memoryBytes
            self.capability = capability
            self.bf16 = bf16
        }

        enum CodingKeys: String, CodingKey {
            case index, name
            case memoryBytes = "memory_bytes"
            case capability, bf16
        }
    }

    public var python: String
    public var executable: String?
    /// Package name → installed version (nil: not installed).
    public var packages: [String: String?]
    /// Package name → why it failed to import although installed.
    public var errors: [String: String]?
    public var torch: Torch?
    public var gpus: [GPU]?

    public init(
        python: String, executable: String? = nil, packages: [String: String?], errors: [String: String]? = nil,
        torch: Torch? = nil, gpus: [GPU]? = nil
    ) {
        self.python = python
        self.executable = executable
        self.packages = packages
        self.errors = errors
        self.torch = torch
        self.gpus = gpus
    }

    /// The installed version of `package`, or nil.
    public func version(of package: String) -> String? { packages[package] ?? nil }

    public var cudaGPUs: [GPU] { torch?.cuda == true ? gpus ?? [] : [] }
}

/// A package the torch backend needs, with the oldest version known to work.
public struct PythonRequirement: Sendable, Equatable {
    public var package: String
    public var minimum: String
    public var why: String

    /// The pip specifier, `"peft>=0.13"`.
    public var specifier: String { "\(package)>=\(minimum)" }

    public static let torch = PythonRequirement(package: "torch", minimum: "2.1", why: "tensors and autograd")
    public static let transformers = PythonRequirement(
        package: "transformers", minimum: "4.45", why: "model loading, including GGUF files")
    public static let peft = PythonRequirement(package: "peft", minimum: "0.12", why: "LoRA layers and adapter files")
    public static let safetensors = PythonRequirement(package: "safetensors", minimum: "0.4", why: "adapter files")
    public static let gguf = PythonRequirement(package: "gguf", minimum: "0.10", why: "reading GGUF models")
    public static let accelerate = PythonRequirement(
        package: "accelerate", minimum: "0.34", why: "launching on several GPUs")
    public static let bitsandbytes = PythonRequirement(
        package: "bitsandbytes", minimum: "0.43", why: "4-bit NF4 weights (QLoRA)")
}

/// What a torch run asks of the environment.
public struct TorchNeeds: Sendable, Equatable {
    public var settings: TorchSettings
    public var modelIsGGUF: Bool

    public init(settings: TorchSettings, modelIsGGUF: Bool) {
        self.settings = settings
        self.modelIsGGUF = modelIsGGUF
    }

    /// The packages these settings import.
    public var requirements: [PythonRequirement] {
        var list: [PythonRequirement] = [.torch, .transformers, .peft, .safetensors]
        if modelIsGGUF { list.append(.gguf) }
        if settings.gpus != 1 { list.append(.accelerate) }
        if settings.quantize4Bit { list.append(.bitsandbytes) }
        return list
    }

    /// Everything that stops these settings from running in `environment`, each a sentence saying what to do;
    /// empty when the run can start.
    public func problems(in environment: PythonEnvironment, python: String) -> [String] {
        var problems: [String] = []
        let missing = requirements.filter { requirement in
            guard let installed = environment.version(of: requirement.package) else { return true }
            return Self.isOlder(installed, than: requirement.minimum)
        }
        if !missing.isEmpty {
            let names = missing.map { r in
                environment.version(of: r.package).map { "\(r.package) \($0) (need \(r.minimum)+)" } ?? r.package
            }
            problems.append(
                "missing Python packages: \(names.joined(separator: ", ")); install them with: "
                    + Self.pipInstall(missing, python: python))
        }
        for requirement in requirements {
            if let error = environment.errors?[requirement.package], environment.version(of: requirement.package) != nil {
                problems.append("\(requirement.package) is installed but does not load: \(error)")
            }
        }
        let gpus = environment.cudaGPUs
        let needsCUDA = settings.device == "cuda" || settings.quantize4Bit || settings.gpus != 1
        if needsCUDA && environment.torch != nil && gpus.isEmpty {
            let what =
                settings.quantize4Bit ? "--quantize 4bit" : settings.gpus != 1 ? "--gpus" : "--device cuda"
            problems.append(
                "\(what) needs a CUDA GPU, and torch here sees none"
                    + (environment.torch?.cudaVersion == nil ? " (this torch build has no CUDA)" : "")
                    + "; drop it to train on the CPU, or install a CUDA build of torch on a machine with a GPU")
        }
        if settings.gpus > 1 && !gpus.isEmpty && gpus.count < settings.gpus {
            problems.append(
                "--gpus \(settings.gpus) asks for more GPUs than the \(gpus.count) torch sees; use --gpus \(gpus.count) or all")
        }
        return problems
    }

    /// `python -m pip install "a>=1" "b>=2"`.
    public static func pipInstall(_ requirements: [PythonRequirement], python: String) -> String {
        "\(python) -m pip install " + requirements.map { "\"\($0.specifier)\"" }.joined(separator: " ")
    }

    /// Compares dotted versions by their leading numbers ("2.5.1+cu124" ≥ "2.1").
    public static func isOlder(_ version: String, than minimum: String) -> Bool {
        func numbers(_ text: String) -> [Int] {
            text.split(separator: ".").map { part in Int(part.prefix { $0.isNumber }) ?? 0 }
        }
        let a = numbers(version), b = numbers(minimum)
        for i in 0..<max(a.count, b.count) {
            let x = i < a.count ? a[i] : 0, y = i < b.count ? b[i] : 0
            if x != y { return x < y }
        }
        return false
    }
}
