// The torch backend without torch: the hand-off files, the launch command line, the progress protocol, the
// environment requirements, and a supervised run of stand-in "Python" programs that finish, crash, get killed,
// explain an error, or stop on request.
import Datasets
import Foundation
import ModelStores
import Models
import Testing
import TorchBackend
import Training

@Suite struct TorchHandOffTests {
    static func prepared(packing: Bool = false) throws -> PreparedRun {
        var p = TrainingParameters()
        p.epochs = 2
        p.batchSize = 3
        p.gradAccum = 2
        p.maxLength = 12
        p.packing = packing
        p.warmupSteps = 1
        p.lora = LoRAConfig(rank: 4, alpha: 8, targets: [.q, .v, .down])
        p.patience = 2
        return try PreparedRun(train: Tiny.examples(11), validation: Tiny.examples(3, seed: 5), parameters: p)
    }

    static func readLines<T: Decodable>(_ url: URL, as type: T.Type) throws -> [T] {
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(T.self, from: Data($0.utf8)) }
    }

    @Test func writesExamplesPlanAndJobAsTheNativeEngineSeesThem() throws {
        let prepared = try Self.prepared()
        let run = Tiny.temporaryFolder("handoff")
        let job = try TorchHandOff.write(
            prepared: prepared, model: URL(fileURLWithPath: "/models/tiny.gguf"), config: Tiny.config,
            baseModelName: "tiny", settings: TorchSettings(), runFolder: run)

        // Examples: the ids unchanged (after the cut to maxLength), targets exactly Batching's shifted labels.
        let train = try Self.readLines(URL(fileURLWithPath: job.train), as: TorchExample.self)
        #expect(train.count == prepared.train.count)
        for (line, example) in zip(train, prepared.train) {
            #expect(line.ids == example.ids)
            #expect(line.targets == Batching.tokenBatch([example]).targets)
            #expect(line.ids.count <= 12)
        }
        #expect(try Self.readLines(URL(fileURLWithPath: job.validation), as: TorchExample.self).count == 3)

        // Plan: the same micro-batches and the schedule's learning rate for every step.
        let plan = try Self.readLines(URL(fileURLWithPath: job.plan), as: TorchPlannedStep.self)
        #expect(plan.map(\.microBatches) == prepared.plan.map(\.microBatches))
        #expect(plan.map(\.step) == Array(1...prepared.plan.count))
        #expect(plan[0].lr == 0)  // one warm-up step starts at rate 0
        for step in plan {
            #expect(step.lr == prepared.learningRate(step: step.step))
            #expect(step.epoch == prepared.epochReached(step: step.step))
        }
        #expect(plan.last?.epoch == 2)

        // Job: GGUF path split into folder + file, PEFT module names, cadence and state seed.
        let read = try TorchHandOff.readJob(in: run)
        #expect(read == job)
        #expect(job.model.path == "/models" && job.model.ggufFile == "tiny.gguf")
        #expect(job.lora.targetModules == ["q_proj", "v_proj", "down_proj"])
        #expect(job.lora.r == 4 && job.lora.alpha == 8)
        #expect(job.patience == 2 && job.batchSize == 3)
        #expect(job.evalEvery == prepared.outline.evalEvery && job.saveEvery == prepared.outline.saveEvery)
        #expect(job.checkpointState.parameters == prepared.parameters)
        #expect(job.checkpointState.trainFingerprint == prepared.trainFingerprint)
        #expect(job.resumeFrom == nil && job.quantize == nil && job.precision == "auto")
        #expect(job.output == run.standardizedFileURL.path)

        // The initial adapter holds exactly the native engine's seeded initialisation.
        let initial = try AdapterFiles.readPEFT(
            folder: URL(fileURLWithPath: job.initialAdapter).deletingLastPathComponent(), model: Tiny.config)
        let expected = LoRAParameters(model: Tiny.config, config: prepared.parameters.lora)
        expected.initialize(seed: prepared.parameters.seed)
        #expect(initial.values.array == expected.values.array)
        #expect(initial.values.array.contains { $0 != 0 })
    }

    @Test func ggufFilesAreToldByTheirMagicNotTheirName() throws {
        let folder = Tiny.temporaryFolder("magic")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let blob = folder.appendingPathComponent("sha256-0123abcd")  // an Ollama blob
        try Data("GGUF\u{3}\0\0\0".utf8).write(to: blob)
        let other = folder.appendingPathComponent("model.safetensors")
        try Data("{}".utf8).write(to: other)
        #expect(FileProbe.isGGUF(blob))
        #expect(!FileProbe.isGGUF(other) && !FileProbe.isGGUF(folder))
        let job = try TorchHandOff.write(
            prepared: try Self.prepared(), model: blob, config: Tiny.config, baseModelName: "tiny",
            settings: TorchSettings(), runFolder: folder.appendingPathComponent("run"))
        // transformers needs the .gguf name: the hand-off links the blob under one.
        let link = URL(fileURLWithPath: job.model.path).appendingPathComponent(try #require(job.model.ggufFile))
        #expect(job.model.ggufFile == "model.gguf" && job.model.path.hasSuffix("run/torch/model"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link.path) == blob.standardizedFileURL.resolvingSymlinksInPath().path)
    }

    @Test func jobKeysAreTheContractsSnakeCaseNames() throws {
        let run = Tiny.temporaryFolder("keys")
        try TorchHandOff.write(
            prepared: try Self.prepared(packing: true), model: URL(fileURLWithPath: "/models/hf-folder"),
            config: Tiny.config, baseModelName: "org/model",
            settings: TorchSettings(quantize4Bit: true, precision: .bf16, device: "cuda"), runFolder: run,
            resumeFrom: run.appendingPathComponent("checkpoints/step-000002"))
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: TorchHandOff.jobURL(in: run))) as? [String: Any])
        for key in [
            "format", "model", "base_model_name", "lora", "initial_adapter", "train", "validation", "plan", "optimizer",
            "batch_size", "eval_every", "save_every", "keep_checkpoints", "gradient_checkpointing", "precision",
            "quantize", "device", "seed", "output", "resume_from", "stop_file", "checkpoint_state",
        ] {
            #expect(object[key] != nil, "job.json lacks \(key)")
        }
        let model = try #require(object["model"] as? [String: Any])
        #expect(model["path"] as? String == "/models/hf-folder")
        #expect(model["gguf_file"] is NSNull)
        #expect(object["quantize"] as? String == "4bit")
        #expect((object["resume_from"] as? String)?.hasSuffix("checkpoints/step-000002") == true)
        let lora = try #require(object["lora"] as? [String: Any])
        #expect(lora["use_rslora"] as? Bool == false)
        let optimizer = try #require(object["optimizer"] as? [String: Any])
        #expect((optimizer["max_grad_norm"] as? Double) == 1)
    }
}

@Suite struct TorchLauncherTests {
    let launcher = TorchLauncher(
        python: URL(fileURLWithPath: "/venv/bin/python"), scripts: URL(fileURLWithPath: "/opt/tailor/Python"))
    let job = URL(fileURLWithPath: "/runs/r/torch/job.json")

    @Test func oneProcessUnlessSeveralGPUs() {
        let single = ["/venv/bin/python", "-u", "/opt/tailor/Python/tailor_torch_train.py", "--job", job.path]
        #expect(launcher.trainArguments(job: job, settings: TorchSettings(), visibleGPUs: 0) == single)
        #expect(launcher.trainArguments(job: job, settings: TorchSettings(), visibleGPUs: 8) == single)
        // `all` on a one-GPU machine is one process too.
        #expect(launcher.trainArguments(job: job, settings: TorchSettings(gpus: 0), visibleGPUs: 1) == single)
    }

    @Test func severalGPUsGoThroughAccelerateWithDDPOrFSDP() {
        let ddp = launcher.trainArguments(job: job, settings: TorchSettings(gpus: 4), visibleGPUs: 8)
        #expect(Array(ddp.prefix(3)) == ["/venv/bin/python", "-m", "accelerate.commands.launch"])
        #expect(ddp.contains("--multi_gpu") && !ddp.contains("--use_fsdp"))
        #expect(value(after: "--num_processes", in: ddp) == "4")
        #expect(Array(ddp.suffix(3)) == ["/opt/tailor/Python/tailor_torch_train.py", "--job", job.path])

        let all = launcher.trainArguments(job: job, settings: TorchSettings(gpus: 0), visibleGPUs: 3)
        #expect(value(after: "--num_processes", in: all) == "3")

        let fsdp = launcher.trainArguments(job: job, settings: TorchSettings(gpus: 2, fsdp: true), visibleGPUs: 2)
        #expect(fsdp.contains("--use_fsdp") && !fsdp.contains("--multi_gpu"))
        #expect(value(after: "--fsdp_use_orig_params", in: fsdp) == "false")
        #expect(value(after: "--fsdp_state_dict_type", in: fsdp) == "FULL_STATE_DICT")
        #expect(value(after: "--fsdp_cpu_ram_efficient_loading", in: fsdp) == "true")
        #expect(TorchLauncher.isMultiProcess(TorchSettings(gpus: 0), visibleGPUs: 2))
        #expect(!TorchLauncher.isMultiProcess(TorchSettings(gpus: 0), visibleGPUs: 1))
        #expect(Array(fsdp.suffix(3)) == ["/opt/tailor/Python/tailor_torch_train.py", "--job", job.path])
    }

    func value(after flag: String, in arguments: [String]) -> String? {
        arguments.firstIndex(of: flag).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
    }

    @Test func pythonIsAPathOrANameOnThePath() throws {
        let folder = Tiny.temporaryFolder("path")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let python = folder.appendingPathComponent("python3")
        try "#!/bin/sh\n".write(to: python, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: python.path)
        #expect(try TorchLauncher.resolvePython("python3", environment: ["PATH": "/nowhere:\(folder.path)"]) == python)
        #expect(try TorchLauncher.resolvePython(python.path, environment: [:]) == python)
        #expect {
            try TorchLauncher.resolvePython("python3", environment: ["PATH": "/nowhere"])
        } throws: { "\($0)".contains("no python3 on the PATH") && "\($0)".contains("--python") }
        #expect {
            try TorchLauncher.resolvePython(folder.appendingPathComponent("missing").path, environment: [:])
        } throws: { "\($0)".contains("is not an executable Python interpreter") }
    }

    @Test func settingsThatCannotWorkAreRefused() {
        #expect(throws: TrainingError.self) { try TorchSettings(gpus: 1, fsdp: true).validate() }
        #expect(throws: TrainingError.self) { try TorchSettings(quantize4Bit: true, device: "cpu").validate() }
        #expect(throws: TrainingError.self) { try TorchSettings(device: "tpu").validate() }
        #expect(throws: Never.self) { try TorchSettings(gpus: 0, fsdp: true).validate() }
    }
}

@Suite struct TorchProtocolTests {
    @Test func decodesEveryEvent() {
        func message(_ line: String) -> TorchMessage? {
            if case .message(let m) = TorchProtocol.parse(line) { return m }
            return nil
        }
        #expect(message(#"@tailor {"event":"note","message":"loading"}"#) == .note("loading"))
        #expect(
            message(#"@tailor {"event":"started","device":"cuda:0 (H200)","precision":"bf16","world_size":2}"#)
                == .started(device: "cuda:0 (H200)", precision: "bf16", worldSize: 2, startStep: 0))
        #expect(
            message(#"@tailor {"event":"step","step":3,"loss":2.5,"lr":0.0002,"grad_norm":1,"tokens":812,"seconds":0.5,"new":1}"#)
                == .step(step: 3, loss: 2.5, learningRate: 0.0002, gradNorm: 1, tokens: 812, seconds: 0.5))
        #expect(
            message(#"@tailor {"event":"evaluation","step":10,"loss":1.5,"is_best":true}"#)
                == .evaluation(step: 10, loss: 1.5, isBest: true))
        // Non-finite numbers travel as null (JSON has no NaN).
        guard case .evaluation(_, let nan, false)? = message(#"@tailor {"event":"evaluation","step":3,"loss":null,"is_best":false}"#)
        else {
            Issue.record("a null validation loss must decode")
            return
        }
        #expect(nan.isNaN)
        #expect(
            message(#"@tailor {"event":"checkpoint","step":20,"folder":"/r/checkpoints/step-000020"}"#)
                == .checkpoint(step: 20, folder: "/r/checkpoints/step-000020"))
        #expect(
            message(#"@tailor {"event":"stopped_early","step":40,"best_step":20,"best_loss":1.25}"#)
                == .stoppedEarly(step: 40, bestStep: 20, bestLoss: 1.25))
        #expect(
            message(#"@tailor {"event":"non_finite","step":7,"what":"loss","checkpoint":null}"#)
                == .nonFinite(step: 7, what: "loss", checkpoint: nil))
        #expect(message(#"@tailor {"event":"interrupted","step":12}"#) == .interrupted(step: 12))
        #expect(
            message(#"@tailor {"event":"finished","steps":5,"final_loss":1.5,"best_validation_loss":null,"stopped_early":false,"adapter_is_best":false,"peak_memory_bytes":5368709120,"memory_device":"GPU"}"#)
                == .finished(
                    TorchFinish(
                        steps: 5, finalLoss: 1.5, bestValidationLoss: nil, bestStep: nil, firstValidationLoss: nil,
                        stoppedEarly: false, adapterIsBest: false, peakMemoryBytes: 5_368_709_120,
                        memoryDevice: "GPU")))
        #expect(message(#"@tailor {"event":"error","message":"CUDA out of memory"}"#) == .error("CUDA out of memory"))
    }

    @Test func otherLinesAreLogTextUnknownEventsAreSkippedBrokenOnesNamed() {
        #expect(TorchProtocol.parse("Loading checkpoint shards: 100%") == .text("Loading checkpoint shards: 100%"))
        #expect(TorchProtocol.parse(#"{"event":"step"}"#) == .text(#"{"event":"step"}"#))
        #expect(TorchProtocol.parse(#"@tailor {"event":"gpu_memory","bytes":1}"#) == .unknown(event: "gpu_memory"))
        guard case .malformed(_, let reason) = TorchProtocol.parse(#"@tailor {"event":"step","step":1}"#) else {
            Issue.record("a step without its figures must be malformed")
            return
        }
        #expect(reason.contains("\"loss\""))
        guard case .malformed = TorchProtocol.parse("@tailor {not json") else {
            Issue.record("broken JSON must be malformed")
            return
        }
        guard case .malformed = TorchProtocol.parse(#"@tailor {"step":1}"#) else {
            Issue.record("an object without an event must be malformed")
            return
        }
    }
}

@Suite struct TorchRequirementsTests {
    static func environment(
        packages: [String: String?], cuda: Bool = false, gpus: Int = 0, errors: [String: String]? = nil
    ) -> PythonEnvironment {
        PythonEnvironment(
            python: "3.12.3", executable: "/usr/bin/python3", packages: packages, errors: errors,
            torch: packages["torch"] == nil ? nil : PythonEnvironment.Torch(cuda: cuda, cudaVersion: cuda ? "12.4" : nil),
            gpus: (0..<gpus).map {
                PythonEnvironment.GPU(index: $0, name: "GPU \($0)", memoryBytes: 80 << 30, capability: "8.0", bf16: true)
            })
    }
    static let full: [String: String?] = [
        "torch": "2.5.1+cu124", "transformers": "4.46.0", "peft": "0.13.2", "safetensors": "0.4.5",
        "gguf": "0.10.0", "accelerate": "1.1.0", "bitsandbytes": "0.44.1",
    ]

    @Test func everythingInstalledRunsEverySetting() {
        let environment = Self.environment(packages: Self.full, cuda: true, gpus: 4)
        for settings in [
            TorchSettings(), TorchSettings(quantize4Bit: true), TorchSettings(gpus: 4, fsdp: true),
            TorchSettings(gpus: 0),
        ] {
            #expect(TorchNeeds(settings: settings, modelIsGGUF: true).problems(in: environment, python: "py").isEmpty)
        }
    }

    @Test func missingOrOldPackagesComeWithThePipLine() throws {
        var packages = Self.full
        packages["peft"] = .some(nil)
        packages["transformers"] = "4.30.2"
        let problems = TorchNeeds(settings: TorchSettings(), modelIsGGUF: true).problems(
            in: Self.environment(packages: packages), python: "/venv/bin/python")
        let line = try #require(problems.first)
        #expect(problems.count == 1)
        #expect(line.contains("peft") && line.contains("transformers 4.30.2 (need 4.45+)"))
        #expect(line.hasSuffix(#"/venv/bin/python -m pip install "transformers>=4.45" "peft>=0.12""#))
        // gguf only matters for GGUF models.
        packages = Self.full
        packages["gguf"] = .some(nil)
        #expect(
            TorchNeeds(settings: TorchSettings(), modelIsGGUF: false).problems(
                in: Self.environment(packages: packages), python: "py"
            ).isEmpty)
        #expect(
            TorchNeeds(settings: TorchSettings(), modelIsGGUF: true).problems(
                in: Self.environment(packages: packages), python: "py"
            ).first?.contains(#""gguf>=0.10""#) == true)
    }

    @Test func quantizationAndSeveralGPUsNeedCUDA() {
        let cpu = Self.environment(packages: Self.full)
        let quantized = TorchNeeds(settings: TorchSettings(quantize4Bit: true), modelIsGGUF: false)
        #expect(quantized.problems(in: cpu, python: "py").first?.contains("--quantize 4bit needs a CUDA GPU") == true)
        let tooMany = TorchNeeds(settings: TorchSettings(gpus: 4), modelIsGGUF: false).problems(
            in: Self.environment(packages: Self.full, cuda: true, gpus: 2), python: "py")
        #expect(tooMany == ["--gpus 4 asks for more GPUs than the 2 torch sees; use --gpus 2 or all"])
        let broken = Self.environment(
            packages: Self.full, cuda: true, gpus: 1, errors: ["bitsandbytes": "libcudart.so.12: cannot open"])
        #expect(
            quantized.problems(in: broken, python: "py")
                == ["bitsandbytes is installed but does not load: libcudart.so.12: cannot open"])
    }

    @Test func versionsCompareByTheirNumbers() {
        #expect(TorchNeeds.isOlder("4.9.0", than: "4.45"))
        #expect(!TorchNeeds.isOlder("4.45", than: "4.45"))
        #expect(!TorchNeeds.isOlder("2.5.1+cu124", than: "2.1"))
        #expect(!TorchNeeds.isOlder("0.13.0.dev0", than: "0.12"))
        #expect(TorchNeeds.isOlder("0.9", than: "0.10"))
    }
}
