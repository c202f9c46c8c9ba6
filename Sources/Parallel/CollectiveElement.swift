/// The MPI datatypes the collectives carry; each `CollectiveElement` names one.
public enum CollectiveDatatype: String, Sendable {
    case float32, float64, int32, int64, uint64

    /// Bytes per element.
    public var byteCount: Int {
        switch self {
        case .float32, .int32: return 4
        case .float64, .int64, .uint64: return 8
        }
    }
}

/// A Swift number type the collectives can move: it names its MPI datatype and knows how to
/// turn a sum into an average. Float, Double, Int32, Int64 and UInt64 conform.
public protocol CollectiveElement: Numeric, Comparable, Sendable {
    /// The MPI datatype with this type's layout.
    static var collectiveDatatype: CollectiveDatatype { get }
    /// Divides every element by `divisor` (turns an allreduce sum into the average).
    static func divide(_ buffer: UnsafeMutableBufferPointer<Self>, by divisor: Int)
}

extension CollectiveElement where Self: BinaryFloatingPoint {
    /// Correctly rounded division of each element (one rounding, like PyTorch's `div_`).
    public static func divide(_ buffer: UnsafeMutableBufferPointer<Self>, by divisor: Int) {
        guard divisor != 1 else { return }
        let d = Self(divisor)
        for i in buffer.indices { buffer[i] /= d }
    }
}

extension CollectiveElement where Self: BinaryInteger {
    /// Division truncating toward zero.
    public static func divide(_ buffer: UnsafeMutableBufferPointer<Self>, by divisor: Int) {
        guard divisor != 1 else { return }
        let d = Self(divisor)
        for i in buffer.indices { buffer[i] /= d }
    }
}

extension Float: CollectiveElement {
    public static var collectiveDatatype: CollectiveDatatype { .float32 }
}

extension Double: CollectiveElement {
    public static var collectiveDatatype: CollectiveDatatype { .float64 }
}

extension Int32: CollectiveElement {
    public static var collectiveDatatype: CollectiveDatatype { .int32 }
}

extension Int64: CollectiveElement {
    public static var collectiveDatatype: CollectiveDatatype { .int64 }
}

extension UInt64: CollectiveElement {
    public static var collectiveDatatype: CollectiveDatatype { .uint64 }
}
