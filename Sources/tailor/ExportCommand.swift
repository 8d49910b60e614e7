// `tailor export`: turn a run folder's adapter into what other runtimes load (PEFT, GGUF adapter, merged HF/GGUF, Ollama).
import ArgumentParser
import Foundation
import ModelStores
import Models
import TorchBackend
import Training

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a run's adapter for PEFT, llama.cpp, Ollama, or as a merged model.",
        discussion: """
            --to peft        a PEFT adapter folder (adapter_config.json, adapter_model.safetensors) with a README.md
            --to gguf-lora   a GGUF LoRA adapter for llama.cpp (--lora) and Ollama (ADAPTER)
            --to merged      a Hugging Face folder with W + s·B·A folded in (--dtype bf16, f16 or f32)
            --to gguf        the merged model as a GGUF with the base GGUF's tokenizer and template (--dtype f16, q8_0 or f32)
            --to ollama      a Modelfile: FROM base + ADAPTER where Ollama applies adapters to the family (llama, mistral,
                             qwen2 GGUFs), else FROM a merged GGUF (always with --merged); --create runs ollama create
                             (and falls back to the merged GGUF when that Ollama refuses the adapter)

            Examples:
              tailor export runs/X --to peft --output my-adapter
              tailor export runs/X --to gguf-lora --output adapter.gguf
              tailor export runs/X --to merged --dtype f16 --output merged/
              tailor export runs/X --to ollama --output ollama/ --create --name my-model
            """)

    enum Target: String, ExpressibleByArgument, CaseIterable {
        case peft, ggufLoRA = "gguf-lora", merged, gguf, ollama
    }

    @Argument(help: ArgumentHelp("The run folder written by `tailor train`.", valueName: "run")) var runPath: String
    @Option(help: "peft, gguf-lora, merged, gguf or ollama.") var to: Target
    @Option(help: "Where to write (default: a name inside the run folder).") var output: String?
    @Option(help: "Storage type: bf16 (default), f16 or f32 for merged; f16 (default), q8_0 or f32 for gguf and ollama.")
    var dtype: String?
    @Flag(help: "ollama: build from a merged GGUF instead of base + ADAPTER.") var merged = false
    @Flag(help: "ollama: run `ollama create` when ollama is on PATH.") var create = false
    @Option(help: "ollama: the model name for `ollama create` (default: the run folder's name).") var name: String?

    func validate() throws {
        switch to {
        case .merged where dtype.map { RunExport.MergedType(rawValue: $0) == nil } ?? false:
            throw ValidationError("--dtype \(dtype ?? "") is not available for merged: use bf16, f16 or f32")
        case .gguf, .ollama:
            if let dtype, MergedModel.GGUFStorage(rawValue: dtype) == nil {
                throw ValidationError("--dtype \(dtype) is not available for \(to.rawValue): use f16, q8_0 or f32")
            }
        case .peft, .ggufLoRA:
            if dtype != nil { throw ValidationError("--dtype is for merged, gguf and ollama exports") }
        default: break
        }
        if (merged || create || name != nil) && to != .ollama {
            throw ValidationError("--merged, --create and --name are for --to ollama")
        }
    }

    func run() throws {
        let export = try RunExport(RunFolder(URL(fileURLWithPath: runPath)))
        func destination(_ name: String) -> URL { output.map { URL(fileURLWithPath: $0) } ?? export.run.defaultExport(name) }
        let storage = MergedModel.GGUFStorage(rawValue: dtype ?? "f16") ?? .f16
        switch to {
        case .peft:
            let folder = destination("export-peft")
            try export.peft(to: folder)
            print("wrote PEFT adapter to \(folder.path)")
            print("load it with: PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(BASE), \"\(folder.path)\")")
        case .ggufLoRA:
            report(try export.ggufAdapter(to: destination("adapter.gguf")))
        case .merged:
            let type = RunExport.MergedType(rawValue: dtype ?? "bf16") ?? .bf16
            let folder = destination("export-merged")
            let notes = try export.merged(to: folder, type: type)
            print("wrote merged model (\(type.torchName)) to \(folder.path)")
            for note in notes { print("note: \(note)") }
        case .gguf:
            let url = destination("merged-\(storage.rawValue).gguf")
            try export.gguf(to: url, storage: storage)
            print("wrote merged GGUF (\(storage.rawValue.uppercased())) to \(url.path)")
        case .ollama:
            try exportOllama(export, folder: destination("export-ollama"), storage: storage)
        }
    }

    private func report(_ adapter: RunExport.GGUFAdapter) {
        print("wrote GGUF LoRA adapter to \(adapter.url.path) (\(adapter.tensors) tensors, alpha \(adapter.alpha), rank \(adapter.rank))")
        if adapter.rsLoRA {
            print("note: rsLoRA scale alpha/√r is stored as adapter.lora.alpha = alpha·√r, since llama.cpp divides by r")
        }
    }

    private func exportOllama(_ export: RunExport, folder: URL, storage: MergedModel.GGUFStorage) throws {
        var written = try export.ollama(to: folder, merged: merged, storage: storage)
        say(written)
        let modelName = name ?? export.run.name.lowercased()
        let command = ["ollama", "create", modelName, "-f", written.modelfileURL.path]
        print("create it with: \(command.joined(separator: " "))")
        guard create else { return }
        guard let ollama = Executables.find("ollama") else {
            throw CLIError("--create needs `ollama` on PATH; install Ollama or run the command above yourself")
        }
        let environment = ProcessInfo.processInfo.environment
        var result = try ChildProcess.run(executable: ollama, arguments: Array(command.dropFirst()), environment: environment)
        if result.status != 0 && written.route == .adapter {
            // DESIGN.md §4 trap 11: newer Ollama refuses ADAPTER at create time; a merged GGUF always works.
            let said = (result.stderr + result.stdout).trimmingCharacters(in: .whitespacesAndNewlines)
            print("ollama create refused the adapter (\(said)); falling back to a merged GGUF")
            written = try export.ollama(to: folder, merged: true, storage: storage)
            say(written)
            result = try ChildProcess.run(executable: ollama, arguments: Array(command.dropFirst()), environment: environment)
        }
        guard result.status == 0 else {
            throw CLIError("ollama create failed (exit \(result.status)): \(result.stderr + result.stdout)")
        }
        print("created Ollama model \(modelName): ollama run \(modelName)")
    }

    private func say(_ written: RunExport.Ollama) {
        switch written.route {
        case .adapter:
            print("route: FROM base + ADAPTER (Ollama applies GGUF adapters to this family; --merged writes a merged GGUF instead)")
            print("wrote GGUF LoRA adapter to \(written.written.path)")
        case .merged(let reason):
            print("route: merged GGUF (\(reason))")
            print("wrote merged GGUF to \(written.written.path)")
        }
        print("wrote \(written.modelfileURL.path)")
        if written.modelfile.family == nil {
            print("note: the chat template is not ChatML, Llama 3, Mistral or Gemma; no TEMPLATE written, Ollama uses the GGUF's own")
        }
    }
}
