// Human-readable numbers and plain-text tables for the terminal.

/// Formats a byte count with binary-free decimal units, as file managers show sizes ("98.4 MB").
func formatBytes(_ bytes: Int64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1000 && unit < units.count - 1 {
        value /= 1000
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : "\(formatDecimal(value, digits: value < 10 ? 2 : 1)) \(units[unit])"
}

/// Formats a parameter count the way model cards do ("134.5M", "7.2B").
func formatCount(_ count: Int) -> String {
    let value = Double(count)
    if value >= 1e9 { return formatDecimal(value / 1e9, digits: 1) + "B" }
    if value >= 1e6 { return formatDecimal(value / 1e6, digits: 1) + "M" }
    if value >= 1e3 { return formatDecimal(value / 1e3, digits: 1) + "K" }
    return "\(count)"
}

/// Formats `value` with a fixed number of decimals without Foundation's locale-dependent formatters.
func formatDecimal(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (abs(value) * scale).rounded()
    let whole = Int(rounded / scale)
    var text = (value < 0 && rounded != 0 ? "-" : "") + "\(whole)"
    if digits > 0 {
        let fraction = Int(rounded - Double(whole) * scale)
        let digitsText = String(fraction)
        text += "." + String(repeating: "0", count: digits - digitsText.count) + digitsText
    }
    return text
}

/// A left-aligned plain-text table: a header row, then one row per item, columns padded to the widest cell.
struct TextTable {
    var header: [String]
    var rows: [[String]] = []

    func render() -> String {
        let widths = header.indices.map { column in
            ([header] + rows).map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}
