import Foundation
import Yams

/// Where each setting's value came from, so errors found later can name the file or `--set`.
public struct ConfigSources: Sendable, Equatable {
    /// Source of a setting that no file or override mentions.
    public var defaultSource: String
    var byKey: [String: String] = [:]

    public init(defaultSource: String) { self.defaultSource = defaultSource }

    /// The file (with line) or `--set key` that set `key`, else the default source.
    public func source(of key: String) -> String { byKey[key] ?? defaultSource }

    mutating func record(_ key: String, _ source: String) { byKey[key] = source }

    /// True when a file or an override set `key` (false when it has its default).
    public func isSet(_ key: String) -> Bool { byKey[key] != nil }

    /// For a problem between several keys: the `--set` that touched one of them, else the file
    /// line of the first one that is set, else the default source.
    public func source(ofAny keys: [String]) -> String {
        if let overridden = keys.compactMap({ byKey[$0] }).first(where: { $0.hasPrefix("--set") }) { return overridden }
        return keys.compactMap { byKey[$0] }.first ?? defaultSource
    }
}

extension TrainConfig {
    /// Reads `file` (nanoGPT key names, YAML), applies `overrides` (`key=value` each, as given to
    /// `--set`), and checks every value that can be checked without the data or the ranks.
    public static func load(file: String, overrides: [String] = []) throws -> (TrainConfig, ConfigSources) {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: file) ? "not UTF-8 text or not readable" : "no such file"
            throw TrainConfigError.unreadable(file: file, reason: reason)
        }
        return try parse(yaml: text, file: file, overrides: overrides)
    }

    /// As `load(file:overrides:)` on YAML text already read; `file` names it in errors.
    public static func parse(yaml: String, file: String, overrides: [String] = []) throws -> (TrainConfig, ConfigSources) {
        var config = TrainConfig()
        var sources = ConfigSources(defaultSource: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw syntaxError(error, file: file)
        }
        if let root {
            guard case .mapping(let mapping) = root else { throw TrainConfigError.notAMapping(file: file) }
            var seen = Set<String>()
            for (keyNode, valueNode) in mapping {
                let line = keyNode.mark.map { "\(file):\($0.line)" } ?? file
                guard case .scalar(let keyScalar) = keyNode else {
                    throw TrainConfigError.notAMapping(file: line)
                }
                let name = keyScalar.string
                guard let key = TrainConfig.key(named: name) else {
                    throw TrainConfigError.unknownKey(source: line, key: name, suggestion: suggestion(for: name))
                }
                guard seen.insert(name).inserted else { throw TrainConfigError.duplicateKey(source: line, key: name) }
                let value = try read(valueNode, as: key, source: line)
                config.setValue(value, for: key)
                sources.record(name, line)
            }
        }
        for argument in overrides {
            let (key, value) = try parseOverride(argument)
            config.setValue(value, for: key)
            sources.record(key.name, "--set \(key.name)")
        }
        try config.validate(sources: sources)
        return (config, sources)
    }

    /// One `--set key=value` argument, typed by the key.
    public static func parseOverride(_ argument: String) throws -> (TrainConfigKey, ConfigValue) {
        guard let equals = argument.firstIndex(of: "=") else { throw TrainConfigError.malformedOverride(argument: argument) }
        let name = argument[..<equals].trimmingCharacters(in: .whitespaces)
        let text = String(argument[argument.index(after: equals)...])
        guard !name.isEmpty else { throw TrainConfigError.malformedOverride(argument: argument) }
        guard let key = TrainConfig.key(named: name) else {
            throw TrainConfigError.unknownKey(source: "--set \(name)", key: name, suggestion: suggestion(for: name))
        }
        guard let value = key.kind.parse(text) else {
            throw TrainConfigError.wrongType(source: "--set \(name)", key: name, got: quote(text), expected: key.kind.expectation)
        }
        return (key, value)
    }

    private static func read(_ node: Node, as key: TrainConfigKey, source: String) throws -> ConfigValue {
        switch node {
        case .scalar(let scalar):
            let quoted = scalar.style == .singleQuoted || scalar.style == .doubleQuoted
            // An empty value (`vocab_size:`) is YAML's null; a string key does not accept it.
            if key.kind == .string, !quoted, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
                throw TrainConfigError.wrongType(source: source, key: key.name, got: "null", expected: key.kind.expectation)
            }
            guard let value = key.kind.parse(scalar.string, quoted: quoted) else {
                let got = ConfigValueKind.isNull(scalar.string) && !quoted ? "null" : quote(scalar.string)
                throw TrainConfigError.wrongType(source: source, key: key.name, got: got, expected: key.kind.expectation)
            }
            return value
        case .mapping:
            throw TrainConfigError.wrongType(source: source, key: key.name, got: "a mapping", expected: key.kind.expectation)
        case .sequence:
            throw TrainConfigError.wrongType(source: source, key: key.name, got: "a list", expected: key.kind.expectation)
        }
    }

    private static func quote(_ text: String) -> String { "\"\(text)\"" }

    private static func syntaxError(_ error: YamlError, file: String) -> TrainConfigError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
             .composer(_, let problem, let mark, _):
            return .syntax(file: file, line: mark.line, column: mark.column, problem: problem)
        default:
            let oneLine = "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
            return .syntax(file: file, line: 1, column: 1, problem: oneLine)
        }
    }
}
