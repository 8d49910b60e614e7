// The run's `metrics.jsonl` (one JSON object per step or evaluation) and its SVG loss chart.
import Foundation

/// Appends metric records to `metrics.jsonl`; on resume, records after the checkpoint's step are dropped first.
public struct MetricsLog {
    public let url: URL
    public private(set) var train: [(step: Int, loss: Double)] = []
    public private(set) var validation: [(step: Int, loss: Double)] = []

    /// Opens `url` for a run continuing after `step` (0: a fresh run, the file starts empty).
    public init(url: URL, keepingThrough step: Int) throws {
        self.url = url
        let kept = step > 0 ? Self.read(url, through: step) : (train: [], validation: [], lines: "")
        train = kept.train
        validation = kept.validation
        do { try Data(kept.lines.utf8).write(to: url, options: .atomic) } catch {
            throw TrainingError.io(
                path: url.path, reason: "cannot write metrics: \(error.localizedDescription)")
        }
    }

    /// The training and validation losses `url` records up to `step` (every step when nil), and those lines;
    /// lines that are not metric records are left out.
    public static func read(_ url: URL, through step: Int? = nil)
        -> (train: [(step: Int, loss: Double)], validation: [(step: Int, loss: Double)], lines: String)
    {
        var train: [(step: Int, loss: Double)] = [], validation: [(step: Int, loss: Double)] = []
        var lines = ""
        guard let data = FileManager.default.contents(atPath: url.path) else { return (train, validation, lines) }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard
                let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                let s = object["step"] as? Int, s <= step ?? Int.max
            else { continue }
            if let loss = object["loss"] as? Double { train.append((s, loss)) }
            if let loss = object["val_loss"] as? Double { validation.append((s, loss)) }
            lines += line + "\n"
        }
        return (train, validation, lines)
    }

    public mutating func record(_ report: StepReport) throws {
        train.append((report.step, report.loss))
        try append([
            "step": report.step, "epoch": report.epoch, "loss": report.loss,
            "lr": Double(report.learningRate),
            "grad_norm": report.gradNorm, "tokens": report.tokens,
            "tokens_per_second": report.tokensPerSecond,
        ])
    }

    public mutating func recordValidation(step: Int, loss: Double) throws {
        validation.append((step, loss))
        try append(["step": step, "val_loss": loss])
    }

    private func append(_ object: [String: Any]) throws {
        var data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        data.append(0x0A)
        do {
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: data)
        } catch {
            throw TrainingError.io(
                path: url.path, reason: "cannot append to metrics: \(error.localizedDescription)")
        }
    }
}

/// A self-contained SVG line chart of training loss (per step) and validation loss (per evaluation).
public enum LossChart {
    public static func svg(train: [(step: Int, loss: Double)], validation: [(step: Int, loss: Double)])
        -> String
    {
        let width = 720.0, height = 400.0, left = 60.0, right = 20.0, top = 30.0, bottom = 45.0
        let points = (train + validation).filter { $0.loss.isFinite }
        let maxStep = Double(max(1, points.map(\.step).max() ?? 1))
        let minStep = Double(points.map(\.step).min() ?? 0)
        var low = points.map(\.loss).min() ?? 0, high = points.map(\.loss).max() ?? 1
        if high - low < 1e-9 { low -= 0.5; high += 0.5 }
        func x(_ step: Int) -> Double {
            left + (Double(step) - minStep) / max(1, maxStep - minStep) * (width - left - right)
        }
        func y(_ loss: Double) -> Double { top + (high - loss) / (high - low) * (height - top - bottom) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        func line(_ series: [(step: Int, loss: Double)], _ color: String, _ name: String) -> String {
            let finite = series.filter { $0.loss.isFinite }
            guard !finite.isEmpty else { return "" }
            let path = finite.map { "\(f(x($0.step))),\(f(y($0.loss)))" }.joined(separator: " ")
            let dots =
                finite.count <= 60
                ? finite.map {
                    "<circle cx=\"\(f(x($0.step)))\" cy=\"\(f(y($0.loss)))\" r=\"2.5\" fill=\"\(color)\"/>"
                }
                .joined() : ""
            return
                "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(path)\"><title>\(name)</title></polyline>\(dots)\n"
        }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(f(left))" y="18">loss by step</text>

            """
        for i in 0...4 {
            let value = low + (high - low) * Double(i) / 4
            svg +=
                "<line x1=\"\(f(left))\" x2=\"\(f(width - right))\" y1=\"\(f(y(value)))\" y2=\"\(f(y(value)))\" stroke=\"#ddd\"/>"
            svg +=
                "<text x=\"\(f(left - 6))\" y=\"\(f(y(value) + 4))\" text-anchor=\"end\">\(String(format: "%.3f", value))</text>\n"
        }
        svg += "<text x=\"\(f(left))\" y=\"\(f(height - 20))\">\(Int(minStep))</text>"
        svg +=
            "<text x=\"\(f(width - right))\" y=\"\(f(height - 20))\" text-anchor=\"end\">step \(Int(maxStep))</text>\n"
        svg += line(train, "#1f77b4", "train")
        svg += line(validation, "#d62728", "validation")
        svg += "<text x=\"\(f(width - right - 150))\" y=\"18\" fill=\"#1f77b4\">— train</text>"
        svg += "<text x=\"\(f(width - right - 80))\" y=\"18\" fill=\"#d62728\">— validation</text>\n</svg>\n"
        return svg
    }
}
