// Finding the Python interpreter and the backend's Python files, building the command line that starts training
// (one process, or `accelerate launch` for several GPUs), and running the environment probe.
import Foundation
import ModelStores
import Training

/// Starts the torch backend's Python programs.
public struct TorchLauncher: Sendable {
    /// The interpreter, resolved to a path.
    public let python: URL
    /// The folder holding tailor_torch_train.py and tailor_torch_probe.py.
    public let scripts: URL

    public static let trainScript = "tailor_torch_train.py"
    public static let probeScript = "tailor_torch_probe.py"

    public init(python: URL, scripts: URL) {
        self.python = python
        self.scripts = scripts
    }

    /// Resolves the interpreter (`explicit`, else `TAILOR_PYTHON`, else `python3`) and the scripts folder.
    public init(explicitPython: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        python = try Self.resolvePython(explicitPython ?? environment["TAILOR_PYTHON"] ?? "python3", environment: environment)
        scripts = try Self.locateScripts(environment: environment)
    }

    /// A path is taken as it is; a bare name is looked up on `PATH`.
    public static func resolvePython(_ name: String, environment: [String: String]) throws -> URL {
        if let url = Executables.find(name, environment: environment) { return url }
        if name.contains("/") {
            throw TorchBackendError.unavailable(
                reason: "\((name as NSString).expandingTildeInPath) is not an executable Python interpreter; pass "
                    + "--python with the path of one (for a virtual environment: .venv/bin/python)")
        }
        throw TorchBackendError.unavailable(
            reason: "no \(name) on the PATH; the torch backend needs Python 3.9 or newer with torch, transformers and "
                + "peft (`tailor doctor` shows what is missing); pass --python PATH or set TAILOR_PYTHON")
    }

    /// The Python files ship as a resource folder next to the `tailor` binary (SwiftPM's `Tailor_TorchBackend.resources`,
    /// or `.bundle` on macOS); `TAILOR_TORCH_SCRIPTS` overrides the location.
    public static func locateScripts(environment: [String: String]) throws -> URL {
        var candidates: [URL] = []
        if let override = environment["TAILOR_TORCH_SCRIPTS"] { candidates.append(URL(fileURLWithPath: override)) }
        var executables: [URL] = []
        if let main = Bundle.main.executableURL {
            executables.append(main)
            executables.append(main.resolvingSymlinksInPath())
        }
        for executable in executables {
            let directory = executable.deletingLastPathComponent()
            for bundle in ["Tailor_TorchBackend.resources", "Tailor_TorchBackend.bundle", "Tailor_TorchBackend.bundle/Contents/Resources"] {
                candidates.append(directory.appendingPathComponent(bundle).appendingPathComponent("Python"))
            }
        }
        for candidate in candidates
        where FileManager.default.fileExists(atPath: candidate.appendingPathComponent(trainScript).path) {
            return candidate
        }
        throw TorchBackendError.unavailable(
            reason: "the torch backend's Python files are missing (looked in "
                + candidates.map(\.path).joined(separator: ", ")
                + "); keep the Tailor_TorchBackend.resources folder next to the tailor binary, or set TAILOR_TORCH_SCRIPTS")
    }

    /// True when `settings` start several processes through accelerate.
    public static func isMultiProcess(_ settings: TorchSettings, visibleGPUs: Int) -> Bool {
        (settings.gpus == 0 ? visibleGPUs : settings.gpus) > 1
    }

    /// The command that trains `job` with `settings`, given how many CUDA GPUs the probe saw.
    ///
    /// One process unless more than one GPU is used; then `accelerate launch` with DDP, or FSDP with `fsdp`.
    /// FSDP follows PEFT's guidance: full state dicts (the adapter saves as one file), `use_orig_params` off with
    /// PEFT's own wrap policy (the program installs it), and CPU-RAM-efficient loading, so only rank 0 reads the
    /// weights and the others receive them (FSDP is for models one host's RAM cannot hold once per GPU; with 4-bit
    /// weights the program also stores them as bf16 so FSDP can shard them).
    public func trainArguments(job: URL, settings: TorchSettings, visibleGPUs: Int) -> [String] {
        let script = scripts.appendingPathComponent(Self.trainScript).path
        guard Self.isMultiProcess(settings, visibleGPUs: visibleGPUs) else {
            return [python.path, "-u", script, "--job", job.path]
        }
        let processes = settings.gpus == 0 ? visibleGPUs : settings.gpus
        var arguments = [
            python.path, "-m", "accelerate.commands.launch", "--num_machines", "1", "--num_processes", "\(processes)",
            "--mixed_precision", "no", "--dynamo_backend", "no",
        ]
        if settings.fsdp {
            arguments += [
                "--use_fsdp", "--fsdp_sharding_strategy", "FULL_SHARD",
                "--fsdp_auto_wrap_policy", "TRANSFORMER_BASED_WRAP", "--fsdp_use_orig_params", "false",
                "--fsdp_state_dict_type", "FULL_STATE_DICT", "--fsdp_sync_module_states", "true",
                "--fsdp_cpu_ram_efficient_loading", "true", "--fsdp_offload_params", "false",
            ]
        } else {
            arguments.append("--multi_gpu")
        }
        return arguments + [script, "--job", job.path]
    }

    /// The environment of the backend's processes: the caller's, with unbuffered output and quiet tokenizers.
    public static func childEnvironment(_ base: [String: String] = ProcessInfo.processInfo.environment)
        -> [String: String]
    {
        var environment = base
        environment["PYTHONUNBUFFERED"] = "1"
        environment["TOKENIZERS_PARALLELISM"] = "false"
        environment["TQDM_DISABLE"] = environment["TQDM_DISABLE"] ?? "1"
        return environment
    }

    /// Runs the probe and decodes its report.
    public func probe() throws -> PythonEnvironment {
        let result: ChildProcess.Output
        do {
            result = try ChildProcess.run(
                executable: python, arguments: [scripts.appendingPathComponent(Self.probeScript).path],
                environment: Self.childEnvironment())
        } catch {
            throw TorchBackendError.unavailable(reason: "\(error)")
        }
        let stderrTail = result.stderr.split(separator: "\n").suffix(3).joined(separator: " | ")
        guard result.status == 0 else {
            throw TorchBackendError.unavailable(
                reason: "\(python.path) could not run the environment probe (exit \(result.status)): \(stderrTail); "
                    + "check that it is Python 3.9 or newer")
        }
        do { return try JSONDecoder().decode(PythonEnvironment.self, from: Data(result.stdout.utf8)) } catch {
            throw TorchBackendError.unavailable(
                reason: "\(python.path) printed an unreadable environment report (\(error)); "
                    + "is it a Python 3.9+ interpreter? \(stderrTail)")
        }
    }
}
