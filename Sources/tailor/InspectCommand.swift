// `tailor inspect`: what Tailor sees in one model.
import ArgumentParser
import Foundation
import ModelStores
import Models

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's configuration, tokenizer, chat template and tensors.",
        discussion: """
            MODEL is a path (GGUF file or Hugging Face folder), a cached Hugging Face id, an Ollama name,
            or a name from `tailor models`.

            Examples:
              tailor inspect ~/models/SmolLM2-135M-Instruct.Q4_1.gguf
              tailor inspect HuggingFaceTB/SmolLM2-135M-Instruct
              tailor inspect smollm2:135m --json
            """)

    @Argument(help: "The model to inspect.")
    var model: String

    @OptionGroup var discovery: DiscoveryOptions

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let local = try ModelDiscovery(paths: discovery.searchPaths()).resolve(model)
        let url: URL
        switch local.format {
        case .gguf(let file): url = file
        case .huggingFace(let folder): url = folder
        }
        let inspection = try ModelInspection(url: url)
        if json {
            print(try encodeJSON(InspectionReport(inspection, model: local), pretty: true))
            return
        }
        print(render(inspection, model: local))
    }

    private func render(_ inspection: ModelInspection, model local: LocalModel) -> String {
        var lines: [String] = []
        lines.append("model          \(local.name) (\(local.source.displayName))")
        lines.append("path           \(inspection.url.path)")
        if let config = inspection.config {
            lines.append("architecture   \(config.architecture.rawValue)")
            lines.append("layers         \(config.layerCount)")
            lines.append("hidden size    \(config.hiddenSize)")
            lines.append("heads          \(config.headCount) (KV heads \(config.kvHeadCount), head dim \(config.headDim))")
            lines.append("intermediate   \(config.intermediateSize)")
            lines.append("vocabulary     \(config.vocabSize)")
            lines.append("rope theta     \(formatDecimal(Double(config.ropeTheta), digits: 1))")
            if let scaling = config.ropeScaling { lines.append("rope scaling   \(scaling)") }
            lines.append("rms norm eps   \(config.rmsNormEps)")
            lines.append("context        \(config.maxPositionEmbeddings)")
            lines.append("tied embedding \(config.tieWordEmbeddings ? "yes" : "no")")
        } else {
            lines.append("architecture   \(inspection.architectureName ?? "unknown")")
        }
        lines.append("tokenizer      \(inspection.tokenizer)")
        lines.append("chat template  \(inspection.hasChatTemplate ? "yes" : "no (ChatML will be used)")")
        lines.append("parameters     \(formatCount(inspection.parameterCount)) (\(inspection.parameterCount))")
        lines.append("trainable      \(inspection.trainable)")
        lines.append("")
        var table = TextTable(header: ["TYPE", "TENSORS", "ELEMENTS", "BYTES"])
        for entry in inspection.tensorTypes {
            table.rows.append([entry.type, "\(entry.count)", "\(entry.elements)", formatBytes(Int64(entry.bytes))])
        }
        table.rows.append(["total", "\(inspection.tensorTypes.reduce(0) { $0 + $1.count })", "",
                           formatBytes(Int64(inspection.totalBytes))])
        lines.append(table.render())
        return lines.joined(separator: "\n")
    }
}

/// `tailor inspect --json`: the inspection with plain JSON types.
struct InspectionReport: Encodable {
    struct TensorType: Encodable {
        var type: String
        var count: Int
        var elements: Int
        var bytes: Int
    }
    var name: String
    var source: String
    var path: String
    var format: String
    var architecture: String?
    var config: ModelConfig?
    var configProblem: String?
    var tokenizer: String
    var chatTemplate: Bool
    var parameters: Int
    var totalBytes: Int
    var dominantType: String?
    var trainable: Bool
    var notTrainableReason: String?
    var tensorTypes: [TensorType]

    init(_ inspection: ModelInspection, model: LocalModel) {
        name = model.name
        source = model.source.displayName
        path = inspection.url.path
        format = inspection.format.rawValue
        architecture = inspection.architectureName
        config = inspection.config
        configProblem = inspection.configProblem
        tokenizer = inspection.tokenizer.description
        chatTemplate = inspection.hasChatTemplate
        parameters = inspection.parameterCount
        totalBytes = inspection.totalBytes
        dominantType = inspection.dominantType
        if case .no(let reason) = inspection.trainable {
            trainable = false
            notTrainableReason = reason
        } else {
            trainable = true
        }
        tensorTypes = inspection.tensorTypes.map {
            TensorType(type: $0.type, count: $0.count, elements: $0.elements, bytes: $0.bytes)
        }
    }
}
