import CHDF5

/// The element type of a dataset or attribute as stored in the file, named like numpy dtypes.
public enum HDF5ElementType: Hashable, CustomStringConvertible, Sendable {
    case int8, uint8, int16, uint16, int32, uint32, int64, uint64
    case float32, float64
    /// Fixed- or variable-length text.
    case string
    /// Anything else (compound, enum, float16, opaque...), described by HDF5 type class.
    case other(String)

    public var description: String {
        switch self {
        case .int8: return "int8"
        case .uint8: return "uint8"
        case .int16: return "int16"
        case .uint16: return "uint16"
        case .int32: return "int32"
        case .uint32: return "uint32"
        case .int64: return "int64"
        case .uint64: return "uint64"
        case .float32: return "float32"
        case .float64: return "float64"
        case .string: return "string"
        case .other(let name): return name
        }
    }

    /// True for the signed and unsigned integer types.
    public var isInteger: Bool { integerLayout != nil }

    /// True for `float32` and `float64`.
    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }

    /// True for every integer and floating-point type.
    public var isNumeric: Bool { isInteger || isFloatingPoint }

    /// Bytes per element for numeric types, nil otherwise.
    public var byteCount: Int? {
        if let layout = integerLayout { return layout.bits / 8 }
        switch self {
        case .float32: return 4
        case .float64: return 8
        default: return nil
        }
    }

    /// Whether HDF5's conversion from `self` to `target` keeps every value exactly
    /// (same type, wider integer of a compatible sign, float32 to float64, or integers narrow
    /// enough for the float's mantissa).
    public func convertsLosslessly(to target: HDF5ElementType) -> Bool {
        if self == target { return true }
        if let source = integerLayout, let destination = target.integerLayout {
            if source.signed == destination.signed { return destination.bits >= source.bits }
            // Unsigned fits in a strictly wider signed type; signed never fits in unsigned.
            return !source.signed && destination.bits > source.bits
        }
        if let source = integerLayout {
            switch target {
            case .float32: return source.bits <= 16
            case .float64: return source.bits <= 32
            default: return false
            }
        }
        return self == .float32 && target == .float64
    }

    private var integerLayout: (bits: Int, signed: Bool)? {
        switch self {
        case .int8: return (8, true)
        case .uint8: return (8, false)
        case .int16: return (16, true)
        case .uint16: return (16, false)
        case .int32: return (32, true)
        case .uint32: return (32, false)
        case .int64: return (64, true)
        case .uint64: return (64, false)
        default: return nil
        }
    }

    /// The native in-memory HDF5 type for a numeric element type.
    var nativeTypeID: hid_t? {
        switch self {
        case .int8: return chdf5_t_native_int8()
        case .uint8: return chdf5_t_native_uint8()
        case .int16: return chdf5_t_native_int16()
        case .uint16: return chdf5_t_native_uint16()
        case .int32: return chdf5_t_native_int32()
        case .uint32: return chdf5_t_native_uint32()
        case .int64: return chdf5_t_native_int64()
        case .uint64: return chdf5_t_native_uint64()
        case .float32: return chdf5_t_native_float()
        case .float64: return chdf5_t_native_double()
        case .string, .other: return nil
        }
    }

    /// Classifies an HDF5 datatype. Must be called under the library lock.
    static func of(typeID: hid_t) -> HDF5ElementType {
        let typeClass = H5Tget_class(typeID)
        let size = H5Tget_size(typeID)
        if typeClass == H5T_INTEGER {
            let signed = H5Tget_sign(typeID) == H5T_SGN_2
            switch (size, signed) {
            case (1, true): return .int8
            case (1, false): return .uint8
            case (2, true): return .int16
            case (2, false): return .uint16
            case (4, true): return .int32
            case (4, false): return .uint32
            case (8, true): return .int64
            case (8, false): return .uint64
            default: return .other("\(signed ? "int" : "uint")\(size * 8)")
            }
        }
        if typeClass == H5T_FLOAT {
            switch size {
            case 4: return .float32
            case 8: return .float64
            default: return .other("float\(size * 8)")
            }
        }
        if typeClass == H5T_STRING { return .string }
        return .other(typeClassName(typeClass))
    }

    private static func typeClassName(_ typeClass: H5T_class_t) -> String {
        switch typeClass {
        case H5T_TIME: return "time"
        case H5T_BITFIELD: return "bitfield"
        case H5T_OPAQUE: return "opaque"
        case H5T_COMPOUND: return "compound"
        case H5T_REFERENCE: return "reference"
        case H5T_ENUM: return "enum"
        case H5T_VLEN: return "variable-length sequence"
        case H5T_ARRAY: return "array"
        default: return "unknown type"
        }
    }
}

/// Which element-type differences a read or write accepts between memory and file.
public enum HDF5Conversion: Sendable {
    /// The stored type must be exactly the Swift type's (the default: rejects e.g. float data
    /// where tokens are expected).
    case exact
    /// Any conversion that keeps every value, e.g. uint16 in the file read as `Int32`.
    case lossless
    /// Any numeric conversion HDF5 performs (it clamps out-of-range values and rounds floats).
    case numeric

    /// Whether data of type `source` may be converted to `target` under this policy.
    func allows(from source: HDF5ElementType, to target: HDF5ElementType) -> Bool {
        switch self {
        case .exact: return source == target
        case .lossless: return source.convertsLosslessly(to: target)
        case .numeric: return source.isNumeric && target.isNumeric
        }
    }
}
