// `tailor doctor`: what this machine can train with — the native engine, and the torch backend's Python, packages,
// CUDA and GPUs — and the exact pip line for anything missing. The backend never installs packages itself.
import ArgumentParser
import Foundation
import Tensors
import TorchBackend
import Training

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check which training backends and settings work on this machine.",
        discussion: """
            The native engine always works (CPU, Float32). --backend torch needs a Python with torch, transformers \
            and peft (plus gguf for GGUF models, bitsandbytes and a CUDA GPU for --quantize 4bit, accelerate for \
            --gpus); doctor runs that Python once, lists versions, CUDA and every GPU with its memory, and prints \
            the pip line for whatever is missing.

            Examples:
              tailor doctor
              tailor doctor --python .venv/bin/python
              tailor doctor --json
            """)

    @Option(help: "The Python to check (default: $TAILOR_PYTHON, else python3 on the PATH).")
    var python: String?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    /// One line of "what works here".
    struct Check: Encodable {
        var name: String
        var ok: Bool
        var problems: [String]
    }

    struct Report: Encodable {
        var cores: Int
        var memoryBytes: Int64
        var blas: String
        /// The library and instruction set the engine's products run on, e.g. `oneDNN 2.6.3, avx512_bf16`.
        var matmul: String
        /// What `--precision auto` resolves to here, and why.
        var precision: String
        var python: String?
        var pythonProblem: String?
        var environment: PythonEnvironment?
        var checks: [Check]

        enum CodingKeys: String, CodingKey {
            case cores
            case memoryBytes = "memory_bytes"
            case blas, matmul, precision, python
            case pythonProblem = "python_problem"
            case environment, checks
        }
    }

    func run() throws {
        let automatic = MatmulKernels.current.automaticPrecision()
        var report = Report(
            cores: ProcessInfo.processInfo.activeProcessorCount,
            memoryBytes: Int64(ProcessInfo.processInfo.physicalMemory), blas: blasDescription(),
            matmul: MatmulKernels.current.description, precision: automatic.precision.rawValue + " (" + automatic.reason + ")",
            python: nil, pythonProblem: nil, environment: nil, checks: [])
        report.checks.append(
            Check(name: "native engine (default, CPU, \(automatic.precision.rawValue) products)", ok: true, problems: []))
        do {
            let launcher = try TorchLauncher(explicitPython: python)
            let pythonName = launcher.python.path
            report.python = pythonName
            let environment = try launcher.probe()
            report.environment = environment
            let cases: [(String, TorchSettings, Bool)] = [
                ("--backend torch on the CPU (HF folders)", TorchSettings(device: "cpu"), false),
                ("--backend torch with GGUF models", TorchSettings(device: "cpu"), true),
                ("--backend torch on a CUDA GPU", TorchSettings(device: "cuda"), false),
                ("--quantize 4bit (QLoRA)", TorchSettings(quantize4Bit: true, device: "cuda"), false),
                ("--gpus N (DDP, --fsdp)", TorchSettings(gpus: 2, device: "cuda"), false),
            ]
            for (name, settings, gguf) in cases {
                let problems = TorchNeeds(settings: settings, modelIsGGUF: gguf).problems(
                    in: environment, python: pythonName)
                report.checks.append(Check(name: name, ok: problems.isEmpty, problems: problems))
            }
        } catch {
            report.pythonProblem = "\(error)"
            let everything: [PythonRequirement] = [.torch, .transformers, .peft, .safetensors, .gguf, .accelerate]
            report.checks.append(
                Check(
                    name: "--backend torch", ok: false,
                    problems: [
                        "\(error)",
                        "with a Python 3.9+: " + TorchNeeds.pipInstall(everything, python: "python3"),
                    ]))
        }
        if json {
            print(try encodeJSON(report, pretty: true))
        } else {
            print(render(report))
        }
    }

    func render(_ report: Report) -> String {
        var lines = [
            "native engine  \(report.cores) cores, \(formatBytes(report.memoryBytes)) memory",
            "  products     \(report.matmul); --precision auto: \(report.precision)",
            "  BLAS         \(report.blas) (runs the products only where libdnnl is missing)",
        ]
        if let environment = report.environment {
            lines.append("python         \(report.python ?? "?") (\(environment.python))")
            for name in ["torch", "transformers", "peft", "accelerate", "bitsandbytes", "safetensors", "gguf"] {
                var text = environment.version(of: name) ?? "not installed"
                if let error = environment.errors?[name] { text += " (does not load: \(error))" }
                lines.append("  " + name.padding(toLength: 13, withPad: " ", startingAt: 0) + text)
            }
            if let torch = environment.torch {
                let cuda =
                    torch.cuda
                    ? "yes (CUDA \(torch.cudaVersion ?? "?"))"
                    : torch.cudaVersion.map { "no GPU visible (torch built for CUDA \($0))" } ?? "no (CPU-only torch)"
                lines.append("  CUDA         " + cuda)
            }
            let gpus = environment.cudaGPUs
            if gpus.isEmpty {
                lines.append("  GPUs         none")
            }
            for gpu in gpus {
                let bf16 = gpu.bf16 == true ? ", bf16" : ""
                lines.append(
                    "  GPU \(gpu.index)        \(gpu.name), \(formatBytes(gpu.memoryBytes)), compute \(gpu.capability ?? "?")\(bf16)"
                )
            }
        } else {
            lines.append("python         \(report.python ?? "none found")")
        }
        lines.append("")
        lines.append("what works here")
        for check in report.checks {
            lines.append("  " + check.name.padding(toLength: 42, withPad: " ", startingAt: 0) + (check.ok ? "yes" : "no"))
            for problem in check.problems { lines.append("      " + problem) }
        }
        return lines.joined(separator: "\n")
    }
}
