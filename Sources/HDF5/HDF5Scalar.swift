import CHDF5

/// A Swift number type whose memory layout is a native HDF5 numeric type, so arrays of it can be
/// read and written without copying.
///
/// Conformances are provided for the fixed-width integers, `Int`/`UInt` (64-bit here), `Float`
/// and `Double`. Only conform a type whose layout really is ``hdf5ElementType``.
public protocol HDF5Scalar {
    /// The element type this Swift type is stored as.
    static var hdf5ElementType: HDF5ElementType { get }
}

extension Int8: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .int8 } }
extension UInt8: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .uint8 } }
extension Int16: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .int16 } }
extension UInt16: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .uint16 } }
extension Int32: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .int32 } }
extension UInt32: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .uint32 } }
extension Int64: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .int64 } }
extension UInt64: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .uint64 } }
extension Float: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .float32 } }
extension Double: HDF5Scalar { public static var hdf5ElementType: HDF5ElementType { .float64 } }

extension Int: HDF5Scalar {
    public static var hdf5ElementType: HDF5ElementType {
        MemoryLayout<Int>.size == 8 ? .int64 : .int32
    }
}

extension UInt: HDF5Scalar {
    public static var hdf5ElementType: HDF5ElementType {
        MemoryLayout<UInt>.size == 8 ? .uint64 : .uint32
    }
}

extension HDF5Scalar {
    /// The native HDF5 memory type for this Swift type.
    static var hdf5NativeTypeID: hid_t {
        // Every conforming element type is numeric, so this is never nil for a valid conformance.
        hdf5ElementType.nativeTypeID ?? chdf5_t_native_uint8()
    }
}
