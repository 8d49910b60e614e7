// `tailor bench`: fixed workloads that measure the engine and the tokenizer (no timing assertions live in tests).
import ArgumentParser
import Foundation
import Formats
import ModelStores
import Models
import Tensors
import Tokenizers
import Training

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training, generation and tokenization speed on a fixed workload.",
        discussion: """
            Each benchmark prints its figures on stdout (or JSON with --json). Scripts/bench/compare runs the same
            training workload in PyTorch + PEFT and prints both side by side.

            Examples:
              tailor bench train                       SmolLM2 from the test assets, 4 × 256 tokens, r 16
              tailor bench train --model smollm2:135m --steps 10 --threads 2
              tailor bench generate --max-tokens 128
              tailor bench tokenize --file corpus.txt
            """,
        subcommands: [BenchTrain.self, BenchGenerate.self, BenchTokenize.self])
}

/// Which model a benchmark runs on: `--model`, else SmolLM2 from the fetched test assets.
struct BenchModelOptions: ParsableArguments {
    @Option(help: "The model (path, HF id, Ollama name). Default: SmolLM2 from the test assets ($TAILOR_ASSETS).")
    var model: String?

    @OptionGroup var discovery: DiscoveryOptions

    @Option(help: "Threads for kernels and BLAS (default: all cores).")
    var threads: Int?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func resolveURL() throws -> URL {
        if let model {
            return try ModelDiscovery(paths: discovery.searchPaths()).resolve(model).format.url
        }
        let environment = ProcessInfo.processInfo.environment
        let assets = environment["TAILOR_ASSETS"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".assets")
        let url = assets.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CLIError("no --model given and \(url.path) is missing; run Scripts/fetch-assets or pass --model")
        }
        return url
    }

    var threadCount: Int { max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount) }

    func emit(_ values: KeyValuePairs<String, Any>) throws {
        if json {
            var object: [String: Any] = [:]
            for (key, value) in values { object[key] = value }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            for (key, value) in values {
                let text = (value as? Double).map { formatDecimal($0, digits: $0 < 10 ? 3 : 1) } ?? "\(value)"
                print("\(key.padding(toLength: max(24, key.count), withPad: " ", startingAt: 0)) \(text)")
            }
        }
    }
}

/// Peak resident memory of this process so far, in bytes.
func peakResidentBytes() -> Int {
    var usage = rusage()
    #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024  // kilobytes on Linux
    #else
    getrusage(RUSAGE_SELF, &usage)
    return usage.ru_maxrss  // bytes on macOS
    #endif
}

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "LoRA training steps on a fixed batch: tokens/s, ms/step, GFLOP/s and peak RSS.")

    @OptionGroup var options: BenchModelOptions

    @Option(help: "Sequences per step.") var batchSize = 4
    @Option(help: "Tokens per sequence.") var sequenceLength = 256
    @Option(help: "LoRA rank.") var rank = 16
    @Option(help: "LoRA alpha.") var alpha: Float = 32
    @Option(help: "Measured steps.") var steps = 5
    @Option(help: "Unmeasured steps first (oneDNN creates its kernels, pages are touched).") var warmupSteps = 1
    @Flag(help: "Recompute activations in backward instead of keeping them.") var checkpointing = false
    @Option(help: "Matrix products in auto, fp32 or bf16 (auto: bf16 where the CPU has it natively).")
    var precision: PrecisionSetting = .auto
    @Option(help: "How frozen weights are held: auto, f32, bf16 or quantized (as stored in the file).")
    var weights: WeightSetting = .auto

    func run() throws {
        let url = try options.resolveURL()
        let threads = options.threadCount
        setMatmulThreadCount(threads)
        let inspection = try ModelInspection(url: url)
        let (precision, precisionReason) = try self.precision.resolve()
        let (storage, storageReason) = weights.resolve(
            parameters: inspection.parameterCount, storedBytes: inspection.totalBytes, precision: precision,
            availableBytes: MemoryEstimate.availableBytes())
        let loadStart = Date()
        let frozen = try TransformerWeights(try ModelWeights.load(from: url), storage: storage)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let loadPeak = peakResidentBytes()
        let config = frozen.config
        var parameters = TrainingParameters()
        parameters.lora = LoRAConfig(rank: rank, alpha: alpha)
        parameters.checkpointing = checkpointing
        parameters.maxLength = sequenceLength
        let estimate = MemoryEstimate(
            config: config, parameters: parameters, microBatchTokens: batchSize * sequenceLength,
            precision: precision, storage: storage, parameterCount: inspection.parameterCount,
            storedBytes: inspection.totalBytes)
        let lora = LoRAParameters(model: config, config: parameters.lora)
        lora.initialize(seed: 0)
        let model = Transformer(weights: frozen, lora: lora, checkpointing: checkpointing, threads: threads,
                                maxPosition: max(sequenceLength, 16), precision: precision)
        // Deterministic pseudo-text: every position is trained, as in a pre-training style batch.
        var generator = SplitMix64(seed: 42)
        let sequences = (0..<batchSize).map { _ in
            (0..<sequenceLength).map { _ in Int32(generator.next() % UInt64(config.vocabSize)) }
        }
        let labels = sequences.map { Array($0.dropFirst()) + [-1] }
        let batch = TokenBatch(sequences: sequences, labels: labels)
        let scale = 1 / Float(batch.targetCount)
        for _ in 0..<max(warmupSteps, 0) { model.run(batch, gradScale: scale) }
        let m = FloatBuffer(count: lora.count), v = FloatBuffer(count: lora.count)
        let start = Date()
        for step in 1...max(steps, 1) {
            lora.gradients.zero()
            model.run(batch, gradScale: scale)
            adamWStep(parameters: lora.values.pointer, gradients: lora.gradients.pointer, m: m.pointer, v: v.pointer,
                      count: lora.count, step: step, learningRate: 1e-4, hyper: AdamWParameters())
        }
        let seconds = Date().timeIntervalSince(start) / Double(max(steps, 1))
        let tokens = batchSize * sequenceLength
        let flops = trainingFLOPs(config: config, rank: rank, sequences: batchSize, length: sequenceLength)
        try options.emit([
            "model": url.lastPathComponent, "threads": threads, "batch": "\(batchSize) x \(sequenceLength)",
            "precision": precision.rawValue, "precision_reason": precisionReason,
            "matmul": matmulPath(model.matmul), "weights": "\(storage.rawValue) (\(frozen.storageSummary))",
            "weights_reason": storageReason, "weights_mb": Double(frozen.bytes) / 1_048_576,
            "checkpointing": checkpointing, "blas": blasDescription(),
            "trainable_params": lora.count, "load_seconds": loadSeconds, "ms_per_step": seconds * 1000,
            "tokens_per_second": Double(tokens) / seconds, "gflops_per_second": flops / seconds / 1e9,
            "load_peak_rss_mb": Double(loadPeak) / 1_048_576,
            "estimate_mb": Double(estimate.total) / 1_048_576,
            "peak_rss_mb": Double(peakResidentBytes()) / 1_048_576,
        ])
    }
}

/// Floating-point operations of one LoRA training step actually executed by the engine: frozen projections forward
/// and input-gradient backward (no weight gradient), the LoRA products, lm_head both ways, and attention
/// (two products forward, five backward, over full T×T tiles).
func trainingFLOPs(config: ModelConfig, rank: Int, sequences: Int, length: Int) -> Double {
    let n = Double(sequences * length)
    let targets = LoRATarget.allCases
    var linear = 0.0, adapter = 0.0
    for target in targets {
        let (input, output) = target.features(config)
        linear += Double(input * output)
        adapter += Double(rank * (input + output))
    }
    let layers = Double(config.layerCount)
    let projections = layers * (4 * n * linear + 6 * n * adapter)
    let head = 4 * n * Double(config.vocabSize * config.hiddenSize)
    let attention = layers * Double(sequences * config.headCount) * 7 * 2 * Double(length * length * config.headDim)
    return projections + head + attention
}

struct BenchGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Prompt processing and generation speed with the KV cache.")

    @OptionGroup var options: BenchModelOptions
    @Option(help: "Prompt tokens.") var promptTokens = 128
    @Option(help: "Generated tokens (end of sequence suppressed).") var maxTokens = 128
    @Option(help: "Prompt products in auto, fp32 or bf16 (decoding reads the stored weights either way).")
    var precision: PrecisionSetting = .fp32
    @Option(help: "How frozen weights are held: quantized (as stored in the file), f32 or bf16.")
    var weights: WeightStorage = .quantized

    func run() throws {
        let url = try options.resolveURL()
        setMatmulThreadCount(options.threadCount)
        let (precision, _) = try self.precision.resolve()
        let weights = try TransformerWeights(try ModelWeights.load(from: url), storage: self.weights)
        let model = Transformer(weights: weights, lora: nil, threads: options.threadCount,
                                maxPosition: promptTokens + maxTokens + 1, precision: precision)
        var generator = SplitMix64(seed: 7)
        let prompt = (0..<promptTokens).map { _ in Int32(generator.next() % UInt64(weights.config.vocabSize)) }
        var start = Date()
        _ = model.decode(prompt, cache: KVCache(config: weights.config, capacity: promptTokens))
        let promptSeconds = Date().timeIntervalSince(start)
        start = Date()
        let tokens = Generator(model: model).generate(
            prompt: Array(prompt.prefix(1)), maxTokens: maxTokens, sampling: .greedy,
            stopTokens: Set(weights.config.eosTokenIds.map(Int32.init)), minTokens: maxTokens)
        let generateSeconds = Date().timeIntervalSince(start)
        try options.emit([
            "model": url.lastPathComponent, "threads": options.threadCount,
            "precision": precision.rawValue, "matmul": matmulPath(model.matmul),
            "weights": "\(self.weights.rawValue) (\(weights.storageSummary))",
            "decode": decodePath(weights),
            "prompt_tokens_per_second": Double(promptTokens) / promptSeconds,
            "generated_tokens": tokens.count,
            "generation_tokens_per_second": Double(tokens.count) / generateSeconds,
            "peak_rss_mb": Double(peakResidentBytes()) / 1_048_576,
        ])
    }
}

struct BenchTokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize", abstract: "Encoding speed in MB/s, on one core and on all cores.")

    @OptionGroup var options: BenchModelOptions
    @Option(help: "A UTF-8 text file to encode (default: 10 MB of generated English-like text).")
    var file: String?
    @Option(help: "Write the text used to this file (to run the same text through another tokenizer).")
    var saveText: String?

    func run() throws {
        let url = try options.resolveURL()
        let tokenizer = try Tokenizer.load(url)
        let text: String
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw CLIError("cannot read \(file): no such file or not readable")
            }
            text = String(decoding: data, as: UTF8.self)
        } else {
            text = syntheticEnglish(bytes: 10_000_000, seed: 1)
        }
        if let saveText { try text.write(toFile: saveText, atomically: true, encoding: .utf8) }
        let megabytes = Double(text.utf8.count) / 1e6
        var start = Date()
        let ids = tokenizer.encode(text, addSpecialTokens: false)
        let single = Date().timeIntervalSince(start)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        start = Date()
        let batched = tokenizer.encodeBatch(lines, addSpecialTokens: false)
        let all = Date().timeIntervalSince(start)
        try options.emit([
            "model": url.lastPathComponent, "megabytes": megabytes, "tokens": ids.count,
            "one_core_mb_per_second": megabytes / single,
            "all_cores_mb_per_second": megabytes / all, "cores": ProcessInfo.processInfo.activeProcessorCount,
            "batched_tokens": batched.reduce(0) { $0 + $1.count },
        ])
    }
}

/// Pseudo-English from a seeded generator: common words, capitals, numbers and punctuation in varied order,
/// so the tokenizer's piece cache sees a realistic spread rather than one repeated paragraph.
func syntheticEnglish(bytes: Int, seed: UInt64) -> String {
    let words = """
        the of and to in a is that for it as was with be by on not he this are or his from at which but have an \
        they you were her she there been one all we their has would when if so no will more about can said them \
        what out who some time up into other could than then its only do these two first any new may like over \
        after also model training data tokens learning fine-tuning adapter weights gradient loss evaluation dataset \
        language question answer example because through where before between while during without however \
        government university research development community information international experience particularly
        """.split(separator: " ").map(String.init)
    var generator = SplitMix64(seed: seed)
    var text = ""
    text.reserveCapacity(bytes + 64)
    var sentenceStart = true
    while text.utf8.count < bytes {
        let roll = generator.next() % 100
        var word = words[Int(generator.next() % UInt64(words.count))]
        if roll < 4 { word = String(generator.next() % 100_000) }
        if sentenceStart { word = word.prefix(1).uppercased() + word.dropFirst() }
        text += word
        sentenceStart = false
        switch generator.next() % 40 {
        case 0: text += ". "; sentenceStart = true
        case 1: text += ", "
        case 2: text += ".\n"; sentenceStart = true
        case 3: text += "? "; sentenceStart = true
        default: text += " "
        }
    }
    return text
}

/// The kernel path the products took: library and ISA, and the oneDNN bf16 implementations that ran.
func matmulPath(_ engine: MatmulEngine) -> String {
    let implementations = engine.bf16Implementations
    return "\(MatmulKernels.current); \(engine.precision.rawValue) products"
        + (implementations.isEmpty ? "" : " (\(implementations.joined(separator: ", ")))")
}

/// How single-token products read the weights: which stored types multiply int16 activations in integer kernels
/// (and on which ISA), which multiply Float32 activations.
func decodePath(_ weights: TransformerWeights) -> String {
    var integer: [String] = [], float: [String] = []
    for matrix in weights.matrices where matrix !== weights.embedding || matrix === weights.outputHead {
        if case .packed(let format) = matrix.layout, format.hasIntegerDot {
            if !integer.contains(format.name) { integer.append(format.name) }
        } else if !float.contains(matrix.layout.name) {
            float.append(matrix.layout.name)
        }
    }
    var parts: [String] = []
    if !integer.isEmpty {
        parts.append("int16 activations x \(integer.joined(separator: ", ")) (\(GGUFQuantization.integerKernelISA ?? "?"))")
    }
    if !float.isEmpty { parts.append("fp32 activations x \(float.joined(separator: ", "))") }
    return parts.joined(separator: "; ")
}

extension WeightStorage: ExpressibleByArgument {}
extension PrecisionSetting: ExpressibleByArgument {}
extension WeightSetting: ExpressibleByArgument {}
