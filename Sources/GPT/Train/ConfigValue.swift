/// One setting's value as it is written in a YAML file, a `--set` override or a checkpoint's
/// `/config` attributes.
public enum ConfigValue: Equatable, Sendable, CustomStringConvertible {
    case int(Int)
    case double(Double)
    case bool(Bool)
    case string(String)
    /// An optional setting left unset (`vocab_size: null`: take it from the dataset).
    case null

    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .double(let v): return String(v)
        case .bool(let v): return v ? "true" : "false"
        case .string(let v): return v
        case .null: return "null"
        }
    }
}

/// The type a setting has, which decides how its text is read.
public enum ConfigValueKind: Sendable {
    case int
    case optionalInt
    case double
    case bool
    case string

    /// How an error message names what was expected.
    var expectation: String {
        switch self {
        case .int: return "an integer"
        case .optionalInt: return "an integer or null"
        case .double: return "a number"
        case .bool: return "true or false"
        case .string: return "a string"
        }
    }

    /// Reads `text` (a YAML plain scalar or a `--set` value) as this kind, or nil when it is not one.
    /// `quoted` text is only ever a string.
    func parse(_ text: String, quoted: Bool = false) -> ConfigValue? {
        let t = text.trimmingCharacters(in: .whitespaces)
        switch self {
        case .string:
            return .string(text)
        case .bool:
            if quoted { return nil }
            switch t {
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            default: return nil
            }
        case .int, .optionalInt:
            if quoted { return nil }
            if self == .optionalInt, ConfigValueKind.isNull(t) { return .null }
            let digits = t.replacingOccurrences(of: "_", with: "")
            if let v = Int(digits) { return .int(v) }
            // `max_iters: 5e3` is an integer written as a float; accept it when exact.
            if let d = Double(digits), d.isFinite, d == d.rounded(), abs(d) < 9.0e15 { return .int(Int(d)) }
            return nil
        case .double:
            if quoted { return nil }
            let digits = t.replacingOccurrences(of: "_", with: "")
            if let d = Double(digits), d.isFinite { return .double(d) }
            return nil
        }
    }

    static func isNull(_ t: String) -> Bool {
        ["null", "Null", "NULL", "~", "none", "None", ""].contains(t)
    }
}

import Foundation
