// The progress protocol of the torch backend: lines on its stdout that start with `@tailor ` and carry one JSON
// object with an "event" key. Every other line (library warnings, progress bars, tracebacks) is log text. Readers
// ignore keys they do not know, so the program can add fields without breaking older Tailors.
import Foundation

/// One decoded protocol line.
public enum TorchMessage: Sendable, Equatable {
    case note(String)
    /// The model is loaded and training begins; `device` and `precision` are for the log.
    case started(device: String, precision: String, worldSize: Int, startStep: Int)
    case step(step: Int, loss: Double, learningRate: Float, gradNorm: Double, tokens: Int, seconds: Double)
    case evaluation(step: Int, loss: Double, isBest: Bool)
    case checkpoint(step: Int, folder: String)
    case stoppedEarly(step: Int, bestStep: Int, bestLoss: Double)
    case nonFinite(step: Int, what: String, checkpoint: String?)
    case interrupted(step: Int)
    case finished(TorchFinish)
    /// The program could not go on; the message says what failed and what to do.
    case error(String)
}

/// The `finished` event's figures.
public struct TorchFinish: Sendable, Equatable {
    public var steps: Int
    public var finalLoss: Double?
    public var bestValidationLoss: Double?
    public var bestStep: Int?
    public var firstValidationLoss: Double?
    public var stoppedEarly: Bool
    public var adapterIsBest: Bool
    /// The program's peak memory and where ("GPU": the CUDA allocator's peak; "RAM": its resident set).
    public var peakMemoryBytes: Int64?
    public var memoryDevice: String?

    public init(
        steps: Int, finalLoss: Double?, bestValidationLoss: Double?, bestStep: Int?, firstValidationLoss: Double?,
        stoppedEarly: Bool, adapterIsBest: Bool, peakMemoryBytes: Int64? = nil, memoryDevice: String? = nil
    ) {
        self.peakMemoryBytes = peakMemoryBytes
        self.memoryDevice = memoryDevice
        self.steps = steps
        self.finalLoss = finalLoss
        self.bestValidationLoss = bestValidationLoss
        self.bestStep = bestStep
        self.firstValidationLoss = firstValidationLoss
        self.stoppedEarly = stoppedEarly
        self.adapterIsBest = adapterIsBest
    }
}

/// Reads protocol lines.
public enum TorchProtocol {
    public static let prefix = "@tailor "

    /// What a line of the program's stdout is.
    public enum Line: Sendable, Equatable {
        case message(TorchMessage)
        /// Not a protocol line: text for the log.
        case text(String)
        /// A protocol line that does not decode (an event without its fields, or broken JSON).
        case malformed(line: String, reason: String)
        /// A well-formed event this Tailor does not know; ignored.
        case unknown(event: String)
    }

    /// Classifies and decodes one line (without its newline).
    public static func parse(_ line: String) -> Line {
        guard line.hasPrefix(prefix) else { return .text(line) }
        let body = line.dropFirst(prefix.count)
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] else {
            return .malformed(line: line, reason: "not a JSON object")
        }
        guard let event = object["event"] as? String else {
            return .malformed(line: line, reason: "no \"event\" key")
        }
        let fields = Fields(object: object)
        do {
            switch event {
            case "note":
                return .message(.note(try fields.string("message")))
            case "started":
                return .message(
                    .started(
                        device: fields.optionalString("device") ?? "?",
                        precision: fields.optionalString("precision") ?? "?",
                        worldSize: fields.optionalInt("world_size") ?? 1,
                        startStep: fields.optionalInt("start_step") ?? 0))
            case "step":
                return .message(
                    .step(
                        step: try fields.int("step"), loss: try fields.double("loss"),
                        learningRate: Float(try fields.double("lr")), gradNorm: try fields.double("grad_norm"),
                        tokens: try fields.int("tokens"), seconds: try fields.double("seconds")))
            case "evaluation":
                // A NaN loss arrives as null.
                let loss = fields.object["loss"] is NSNull ? Double.nan : try fields.double("loss")
                return .message(
                    .evaluation(step: try fields.int("step"), loss: loss, isBest: try fields.bool("is_best")))
            case "checkpoint":
                return .message(.checkpoint(step: try fields.int("step"), folder: try fields.string("folder")))
            case "stopped_early":
                return .message(
                    .stoppedEarly(
                        step: try fields.int("step"), bestStep: try fields.int("best_step"),
                        bestLoss: try fields.double("best_loss")))
            case "non_finite":
                return .message(
                    .nonFinite(
                        step: try fields.int("step"), what: try fields.string("what"),
                        checkpoint: fields.optionalString("checkpoint")))
            case "interrupted":
                return .message(.interrupted(step: try fields.int("step")))
            case "finished":
                return .message(
                    .finished(
                        TorchFinish(
                            steps: try fields.int("steps"), finalLoss: fields.optionalDouble("final_loss"),
                            bestValidationLoss: fields.optionalDouble("best_validation_loss"),
                            bestStep: fields.optionalInt("best_step"),
                            firstValidationLoss: fields.optionalDouble("first_validation_loss"),
                            stoppedEarly: fields.optionalBool("stopped_early") ?? false,
                            adapterIsBest: fields.optionalBool("adapter_is_best") ?? false,
                            peakMemoryBytes: fields.optionalInt("peak_memory_bytes").map(Int64.init),
                            memoryDevice: fields.optionalString("memory_device"))))
            case "error":
                return .message(.error(try fields.string("message")))
            default:
                return .unknown(event: event)
            }
        } catch let missing as Fields.Missing {
            return .malformed(line: line, reason: "\(event) event: \(missing.description)")
        } catch {
            return .malformed(line: line, reason: "\(error)")
        }
    }

    /// Typed access to a decoded JSON object; JSON numbers may arrive as integers or floats.
    struct Fields {
        let object: [String: Any]

        struct Missing: Error, CustomStringConvertible {
            let key: String
            let expected: String
            var description: String { "\"\(key)\" missing or not \(expected)" }
        }

        func optionalDouble(_ key: String) -> Double? {
            if let value = object[key] as? Double { return value }
            return (object[key] as? Int).map(Double.init)
        }
        func optionalInt(_ key: String) -> Int? {
            guard let number = optionalDouble(key), number == number.rounded(), abs(number) < 1e15 else { return nil }
            return Int(number)
        }
        func optionalString(_ key: String) -> String? { object[key] as? String }
        func optionalBool(_ key: String) -> Bool? { object[key] as? Bool }

        func double(_ key: String) throws -> Double {
            guard let value = optionalDouble(key) else { throw Missing(key: key, expected: "a number") }
            return value
        }
        func int(_ key: String) throws -> Int {
            guard let value = optionalInt(key) else { throw Missing(key: key, expected: "an integer") }
            return value
        }
        func string(_ key: String) throws -> String {
            guard let value = optionalString(key) else { throw Missing(key: key, expected: "a string") }
            return value
        }
        func bool(_ key: String) throws -> Bool {
            guard let value = optionalBool(key) else { throw Missing(key: key, expected: "true or false") }
            return value
        }
    }
}
