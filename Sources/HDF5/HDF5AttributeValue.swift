/// The value of an attribute, as stored: integers are int64, reals float64 (``floats`` float32),
/// strings variable-length UTF-8, booleans h5py's `FALSE`/`TRUE` int8 enum.
public enum HDF5AttributeValue: Equatable, Sendable, CustomStringConvertible {
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case ints([Int])
    case doubles([Double])
    case floats([Float])
    case strings([String])

    /// What kind of value this is, for error messages: "int64", "float64[3]", "string"...
    public var kindDescription: String {
        switch self {
        case .bool: return "bool"
        case .int: return "int64"
        case .double: return "float64"
        case .string: return "string"
        case .ints(let values): return "int64[\(values.count)]"
        case .doubles(let values): return "float64[\(values.count)]"
        case .floats(let values): return "float32[\(values.count)]"
        case .strings(let values): return "string[\(values.count)]"
        }
    }

    public var description: String {
        switch self {
        case .bool(let value): return String(value)
        case .int(let value): return String(value)
        case .double(let value): return String(value)
        case .string(let value): return value.debugDescription
        case .ints(let values): return values.description
        case .doubles(let values): return values.description
        case .floats(let values): return values.description
        case .strings(let values): return values.description
        }
    }
}

/// A Swift type that can be stored as an attribute and read back with a type check.
///
/// Reading accepts stored values that convert without surprise: an integer attribute reads as
/// `Double`, a one-element array as a scalar, a scalar as a one-element array, float64 arrays as
/// `[Float]`. Anything else throws ``HDF5Error/wrongElementType``.
public protocol HDF5AttributeConvertible {
    /// The value to store.
    var hdf5AttributeValue: HDF5AttributeValue { get }
    /// The Swift value for a stored value, or nil if the stored kind does not fit.
    init?(hdf5AttributeValue: HDF5AttributeValue)
    /// The name of the expected kind, for error messages.
    static var hdf5AttributeKind: String { get }
}

extension HDF5AttributeValue: HDF5AttributeConvertible {
    public var hdf5AttributeValue: HDF5AttributeValue { self }
    public init?(hdf5AttributeValue: HDF5AttributeValue) { self = hdf5AttributeValue }
    public static var hdf5AttributeKind: String { "any attribute" }
}

extension Bool: HDF5AttributeConvertible {
    public var hdf5AttributeValue: HDF5AttributeValue { .bool(self) }
    /// Reads h5py booleans, and the integers 0 and 1.
    public init?(hdf5AttributeValue value: HDF5AttributeValue) {
        switch value {
        case .bool(let value): self = value
        case .int(0): self = false
        case .int(1): self = true
        default: return nil
        }
    }
    public static var hdf5AttributeKind: String { "a boolean" }
}

extension Int: HDF5AttributeConvertible {
    public var hdf5AttributeValue: HDF5AttributeValue { .int(self) }
    public init?(hdf5AttributeValue value: HDF5AttributeValue) {
        switch value {
        case .int(let value): self = value
        case .ints(let values) where values.count == 1: self = values[0]
        default: return nil
        }
    }
    public static var hdf5AttributeKind: String { "an integer" }
}

extension Double: HDF5AttributeConvertible {
    public var hdf5AttributeValue: HDF5AttributeValue { .double(self) }
    public init?(hdf5AttributeValue value: HDF5AttributeValue) {
        switch value {
        case .double(let value): self = value
        case .int(let value): self = Double(value)
        case .doubles(let values) where values.count == 1: self = values[0]
        case .floats(let values) where values.count == 1: self = Double(values[0])
        case .ints(let values) where values.count == 1: self = Double(values[0])
        default: return nil
        }
    }
    public static var hdf5AttributeKind: String { "a number" }
}

extension String: HDF5AttributeConvertible {
    public var hdf5AttributeValue: HDF5AttributeValue { .string(self) }
    public init?(hdf5AttributeValue value: HDF5AttributeValue) {
        switch value {
        case .string(let value): self = value
        case .strings(let values) where values.count == 1: self = values[0]
        default: return nil
        }
    }
    public static var hdf5AttributeKind: String { "a string" }
}

extension Array: HDF5AttributeConvertible where Element: HDF5AttributeArrayElement {
    public var hdf5AttributeValue: HDF5AttributeValue { Element.hdf5AttributeValue(of: self) }
    public init?(hdf5AttributeValue value: HDF5AttributeValue) {
        guard let values = Element.hdf5Array(from: value) else { return nil }
        self = values
    }
    public static var hdf5AttributeKind: String { Element.hdf5ArrayKind }
}

/// Element types of array attributes: `Int`, `Double`, `Float`, `String`.
public protocol HDF5AttributeArrayElement {
    /// The value to store for an array of this element.
    static func hdf5AttributeValue(of values: [Self]) -> HDF5AttributeValue
    /// The array for a stored value, or nil if the stored kind does not fit.
    static func hdf5Array(from value: HDF5AttributeValue) -> [Self]?
    /// The name of the expected kind, for error messages.
    static var hdf5ArrayKind: String { get }
}

extension Int: HDF5AttributeArrayElement {
    public static func hdf5AttributeValue(of values: [Int]) -> HDF5AttributeValue { .ints(values) }
    public static func hdf5Array(from value: HDF5AttributeValue) -> [Int]? {
        switch value {
        case .ints(let values): return values
        case .int(let value): return [value]
        default: return nil
        }
    }
    public static var hdf5ArrayKind: String { "an integer array" }
}

extension Double: HDF5AttributeArrayElement {
    public static func hdf5AttributeValue(of values: [Double]) -> HDF5AttributeValue { .doubles(values) }
    public static func hdf5Array(from value: HDF5AttributeValue) -> [Double]? {
        switch value {
        case .doubles(let values): return values
        case .floats(let values): return values.map(Double.init)
        case .ints(let values): return values.map(Double.init)
        case .double(let value): return [value]
        case .int(let value): return [Double(value)]
        default: return nil
        }
    }
    public static var hdf5ArrayKind: String { "a number array" }
}

extension Float: HDF5AttributeArrayElement {
    public static func hdf5AttributeValue(of values: [Float]) -> HDF5AttributeValue { .floats(values) }
    public static func hdf5Array(from value: HDF5AttributeValue) -> [Float]? {
        switch value {
        case .floats(let values): return values
        case .doubles(let values): return values.map(Float.init)
        case .ints(let values): return values.map(Float.init)
        case .double(let value): return [Float(value)]
        case .int(let value): return [Float(value)]
        default: return nil
        }
    }
    public static var hdf5ArrayKind: String { "a number array" }
}

extension String: HDF5AttributeArrayElement {
    public static func hdf5AttributeValue(of values: [String]) -> HDF5AttributeValue { .strings(values) }
    public static func hdf5Array(from value: HDF5AttributeValue) -> [String]? {
        switch value {
        case .strings(let values): return values
        case .string(let value): return [value]
        default: return nil
        }
    }
    public static var hdf5ArrayKind: String { "a string array" }
}
