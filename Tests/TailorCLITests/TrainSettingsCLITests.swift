// Every `tailor train` setting through its flag → config.json (`--print-config`) → `--resume`, and through the same
// key in a --config YAML file; the flags and the library's settings table must name the same settings.
import Foundation
import TestSupport
import Testing
import Training

@Suite struct TrainSettingsCLITests {
    static let data = TestPaths.fixtures.appendingPathComponent("training/smoke.jsonl").path

    /// `--name value`, or `--name` / `--no-name` for a switch.
    static func flag(_ setting: TrainingSetting, _ text: String) -> [String] {
        setting.kind == .bool ? [text == "true" ? setting.flag : "--no-" + setting.name] : [setting.flag, text]
    }

    /// The model settings must name files that exist: the two fetched GGUFs.
    static func sample(_ setting: TrainingSetting) throws -> (String, String) {
        if setting.name == "model" {
            return (try TestPaths.require(TestPaths.smolLM2).path, try TestPaths.require(TestPaths.gemma3).path)
        }
        return try #require(TrainingSettingSamples.values[setting.name])
    }

    static func config(_ result: TailorResult) throws -> TrainingConfig {
        try JSONDecoder().decode(TrainingConfig.self, from: Data(result.stdout.utf8))
    }

    @Test func everyFlagReachesConfigJSONAndResumeKeepsOrRefusesIt() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tailor-settings-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let model = try TestPaths.require(TestPaths.smolLM2).path
        let flags = try TailorProcess.run(["train", "--help"]).stdout
        for setting in TrainingSettings.table {
            let (value, other) = try Self.sample(setting)
            let run = root.appendingPathComponent(setting.name)
            var entries = ["model": model, "data": Self.data, "output": run.path]
            entries.merge(TrainingSettingSamples.context(for: setting.name)) { $1 }
            entries[setting.name] = value
            let arguments = entries.keys.sorted().flatMap { Self.flag(TrainingSettings.named($0), entries[$0]!) }

            // The flag exists, is spelled as the table names it, and lands in config.json as the table reads it.
            #expect(flags.contains(setting.flag + " ") || flags.contains(setting.flag + "/"), "train has no \(setting.flag)")
            let printed = try TailorProcess.run(["train"] + arguments + ["--print-config"])
            #expect(printed.status == 0, "\(setting.flag): \(printed.stderr)")
            guard printed.status == 0 else { continue }
            let saved = try Self.config(printed)
            let valueInFile = setting.read(saved)
            var otherEntries = entries
            otherEntries[setting.name] = other
            let otherRun = try TailorProcess.run(["train"] + otherEntries.keys.sorted().flatMap {
                Self.flag(TrainingSettings.named($0), otherEntries[$0]!)
            } + ["--print-config"])
            #expect(otherRun.status == 0, "\(setting.flag) \(other): \(otherRun.stderr)")
            if otherRun.status == 0 {
                let otherInFile = setting.read(try Self.config(otherRun))
                #expect(valueInFile != nil && valueInFile != otherInFile,
                        "\(setting.flag) did not reach config.json")
            }

            // The same setting from a YAML file (its key written with underscores) gives the same configuration.
            let yaml = root.appendingPathComponent("\(setting.name).yaml")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            let typed = entries.keys.sorted().map { key -> String in
                let kind = TrainingSettings.named(key).kind
                let quoted = kind == .string || kind == .list
                return "\(key.replacingOccurrences(of: "-", with: "_")): " + (quoted ? "\"\(entries[key]!)\"" : entries[key]!)
            }
            try typed.joined(separator: "\n").write(to: yaml, atomically: true, encoding: .utf8)
            let fromFile = try TailorProcess.run(["train", "--config", yaml.path, "--print-config"])
            #expect(fromFile.status == 0, "\(setting.name) in YAML: \(fromFile.stderr)")
            if fromFile.status == 0 { #expect(try Self.config(fromFile) == saved, "\(setting.name) in YAML") }

            // --resume: nothing given restores the run; the other value is refused by name, or taken where the
            // setting belongs to the machine.
            try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
            try Data(printed.stdout.utf8).write(to: run.appendingPathComponent("config.json"))
            let restored = try TailorProcess.run(["train", "--resume", run.path, "--print-config"])
            var expected = saved
            expected.output = run.path  // a resumed run lives where --resume points
            #expect(restored.status == 0 && (try? Self.config(restored)) == expected, "\(setting.flag): \(restored.stderr)")
            let changed = try TailorProcess.run(
                ["train", "--resume", run.path] + Self.flag(setting, other) + ["--print-config"])
            switch setting.resume {
            case .kept:
                #expect(changed.status != 0, "\(setting.flag) changed on --resume was accepted")
                #expect(changed.stderr.contains(setting.flag) && !changed.stderr.contains("Usage:"), "\(changed.stderr)")
            case .changeable:
                #expect(changed.status == 0, "\(setting.flag): \(changed.stderr)")
                if changed.status == 0 {
                    #expect(setting.read(try Self.config(changed)) != valueInFile, "\(setting.flag) ignored on --resume")
                }
            }
        }
    }
}
