import Foundation

/// A training configuration that cannot be used, named by where it came from (a file, a line of
/// it, or a `--set` override) and the key.
public enum TrainConfigError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// The file could not be read at all.
    case unreadable(file: String, reason: String)
    /// The YAML itself is malformed.
    case syntax(file: String, line: Int, column: Int, problem: String)
    /// The document is not a `key: value` mapping.
    case notAMapping(file: String)
    case unknownKey(source: String, key: String, suggestion: String?)
    case duplicateKey(source: String, key: String)
    case wrongType(source: String, key: String, got: String, expected: String)
    /// A value of the right type that cannot work (n_embd not divisible by n_head, ...).
    case invalidValue(source: String, key: String, problem: String)
    /// A `--set` argument that is not `key=value`.
    case malformedOverride(argument: String)

    public var description: String {
        switch self {
        case .unreadable(let file, let reason):
            return "\(file): cannot read the config: \(reason)"
        case .syntax(let file, let line, let column, let problem):
            return "\(file):\(line):\(column): YAML syntax error: \(problem)"
        case .notAMapping(let file):
            return "\(file): expected `key: value` lines (a YAML mapping) at the top level"
        case .unknownKey(let source, let key, let suggestion):
            let hint = suggestion.map { " (did you mean \($0)?)" } ?? ""
            return source == "--set \(key)" ? "\(source): unknown key\(hint)" : "\(source): unknown key '\(key)'\(hint)"
        case .duplicateKey(let source, let key):
            return "\(source): \(key) is set twice"
        case .wrongType(let source, let key, let got, let expected):
            return "\(Self.place(source, key)): expected \(expected), got \(got)"
        case .invalidValue(let source, let key, let problem):
            return "\(Self.place(source, key)): \(problem)"
        case .malformedOverride(let argument):
            return "--set \(argument): expected key=value"
        }
    }

    public var errorDescription: String? { description }

    /// `source: key`, or `source` alone when it is the key's own `--set key` (the key is named once).
    private static func place(_ source: String, _ key: String) -> String {
        source == "--set \(key)" ? source : "\(source): \(key)"
    }
}
