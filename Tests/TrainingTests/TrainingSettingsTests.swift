// Every setting of the table through resolve → config.json → --resume, and through a YAML file.
import Foundation
import TestSupport
import Testing

@testable import Training

/// The shared samples as the values a flag of the setting's type gives.
enum SettingSamples {
    static func value(_ setting: TrainingSetting, _ text: String) -> SettingValue {
        switch setting.kind {
        case .int: return Int(text).map(SettingValue.int) ?? .string(text)
        case .double: return .double(Double(text)!)
        case .bool: return .bool(text == "true")
        case .string, .list: return .string(text)
        }
    }

    static func pair(_ setting: TrainingSetting) throws -> (SettingValue, SettingValue) {
        let (value, other) = try #require(TrainingSettingSamples.values[setting.name])
        return (Self.value(setting, value), Self.value(setting, other))
    }

    /// `backend` and `gpus`, both string settings.
    static func context(for name: String) -> [String: SettingValue] {
        TrainingSettingSamples.context(for: name).mapValues(SettingValue.string)
    }
}

@Suite struct TrainingSettingsTests {
    @Test func everySettingHasSamples() {
        #expect(Set(TrainingSettings.table.map(\.name)) == Set(TrainingSettingSamples.values.keys))
        #expect(TrainingSettings.table.count == Set(TrainingSettings.table.map(\.name)).count)
    }

    /// A default the help states as a value ("(default 3)", "(default cosine)") is the table's default.
    @Test func helpStatesTheTablesDefaults() throws {
        var checked = 0
        for setting in TrainingSettings.table {
            guard let range = setting.help.range(of: "(default ") else { continue }
            let stated = setting.help[range.upperBound...].prefix { $0 != ")" && $0 != ";" }
            guard !stated.hasPrefix(":") else { continue }  // "(default: a tenth of the run)" is a rule, not a value
            let actual = try #require(setting.defaultValue, "\(setting.flag) has no default but its help states one")
            if let number = Double(stated), case .double(let value) = actual {
                #expect(abs(Double(Float(number)) - value) <= 1e-12 * abs(value), "\(setting.flag): \(stated) vs \(value)")
            } else {
                #expect(actual.description == String(stated), "\(setting.flag): help says \(stated), default is \(actual)")
            }
            checked += 1
        }
        #expect(checked >= 12)
    }

    /// `field` reads from YAML as a mapping as well as a list of NAME=FIELD.
    @Test func fieldMappingsReadFromAYAMLMapping() throws {
        let file = try TrainingSettings.settings(yaml: "field:\n  role: from\n  messages: dialog\n", file: "run.yaml")
        let config = try TrainingSettings.resolve(file: file, flags: [:])
        #expect(config.fields == ["role": "from", "messages": "dialog"])
        #expect(try config.dataSettings().fieldMapping == ["role": "from", "messages": "dialog"])
    }

    @Test func everySettingIsSavedAndRestoredOrRefusedOnResume() throws {
        for setting in TrainingSettings.table {
            let (value, other) = try SettingSamples.pair(setting)
            let context = SettingSamples.context(for: setting.name)
            let config = try TrainingSettings.resolve(flags: context.merging([setting.name: value]) { $1 })
            let defaults = try TrainingSettings.resolve(flags: context)
            #expect(setting.read(config) != setting.read(defaults), "\(setting.name) had no effect")

            // config.json keeps it.
            let saved = try JSONDecoder().decode(TrainingConfig.self, from: try config.json())
            #expect(saved == config, "\(setting.name) not kept by config.json")

            // --resume restores it, accepts it given again unchanged, and refuses or takes another value.
            #expect(try TrainingSettings.resume(saved, flags: [:]) == saved)
            #expect(try TrainingSettings.resume(saved, flags: [setting.name: value]) == saved)
            switch setting.resume {
            case .kept:
                #expect(throws: TrainingError.self) { try TrainingSettings.resume(saved, flags: [setting.name: other]) }
                do {
                    _ = try TrainingSettings.resume(saved, flags: [setting.name: other])
                } catch {
                    #expect("\(error)".contains(setting.flag), "\(error)")
                }
            case .changeable:
                let resumed = try TrainingSettings.resume(saved, flags: [setting.name: other])
                var expected = saved
                try setting.apply(&expected, other)
                #expect(resumed == expected && setting.read(resumed) != setting.read(saved), "\(setting.name)")
            }
        }
    }

    @Test func everySettingReadsTheSameFromYAML() throws {
        for setting in TrainingSettings.table {
            let (value, _) = try SettingSamples.pair(setting)
            let context = SettingSamples.context(for: setting.name)
            let entries = context.merging([setting.name: value]) { $1 }
            // Keys as a user writes them, some with underscores; list settings as YAML sequences.
            let yaml = entries.map { key, value -> String in
                let written = key == setting.name ? key.replacingOccurrences(of: "-", with: "_") : key
                if setting.kind == .list, key == setting.name {
                    return "\(written): [\("\(value)".split(separator: ",").joined(separator: ", "))]"
                }
                return "\(written): \(value)"
            }.joined(separator: "\n")
            let file = try TrainingSettings.settings(yaml: yaml, file: "run.yaml")
            #expect(try TrainingSettings.resolve(file: file, flags: [:]) == TrainingSettings.resolve(flags: entries),
                    "\(setting.name): \(yaml)")
        }
    }

    @Test func flagsWinOverTheFileAndBadFilesAreRefusedByKey() throws {
        let file = try TrainingSettings.settings(yaml: "epochs: 2\nrank: 4", file: "run.yaml")
        let config = try TrainingSettings.resolve(file: file, flags: ["epochs": .int(5)])
        #expect(config.parameters.epochs == 5 && config.parameters.lora.rank == 4)
        for (yaml, fragment) in [
            ("epoch: 2", "unknown setting epoch"), ("epochs: two", "epochs should be a whole number"),
            ("- 1", "mapping"), ("packing: 3", "packing should be true or false"),
        ] {
            do {
                _ = try TrainingSettings.settings(yaml: yaml, file: "run.yaml")
                Issue.record("\(yaml) was accepted")
            } catch {
                #expect("\(error)".contains("run.yaml") && "\(error)".contains(fragment), "\(error)")
            }
        }
        #expect(throws: TrainingError.torchOnlySetting(setting: "--gpus")) {
            try TrainingSettings.resolve(flags: ["gpus": .string("2")])
        }
        #expect(throws: TrainingError.self) {
            try TrainingSettings.resolve(flags: ["backend": .string("torch"), "weights": .string("bf16")])
        }
        #expect(throws: TrainingError.self) { try TrainingSettings.resolve(flags: ["learning-rate": .double(-1)]) }
    }
}
