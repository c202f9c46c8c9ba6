import CHDF5
import Foundation

/// Reading and writing strings, shared by attributes and datasets. Called under the library lock.
enum StringElements {
    /// Reads `count` strings stored with type `typeID` (fixed- or variable-length) over `space`;
    /// `read(memoryType, buffer)` is H5Aread or H5Dread. Returns nil if the read failed.
    static func read(typeID: hid_t, space: hid_t, count: Int,
                     _ read: (hid_t, UnsafeMutableRawPointer?) -> herr_t) -> [String]? {
        guard count > 0 else { return [] }
        let memoryType = H5Tcopy(typeID)
        guard memoryType >= 0 else { return nil }
        defer { _ = H5Tclose(memoryType) }

        if H5Tis_variable_str(typeID) > 0 {
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            let status = pointers.withUnsafeMutableBytes { read(memoryType, $0.baseAddress) }
            guard status >= 0 else { return nil }
            let strings = pointers.map { $0.map { String(cString: $0) } ?? "" }
            // HDF5 allocated the strings; hand them back.
            _ = pointers.withUnsafeMutableBytes {
                H5Dvlen_reclaim(memoryType, space, chdf5_p_default(), $0.baseAddress)
            }
            return strings
        }

        let size = H5Tget_size(typeID)
        guard size > 0 else { return Array(repeating: "", count: count) }
        var bytes = [UInt8](repeating: 0, count: size * count)
        let status = bytes.withUnsafeMutableBytes { read(memoryType, $0.baseAddress) }
        guard status >= 0 else { return nil }
        let spacePadded = H5Tget_strpad(typeID) == H5T_STR_SPACEPAD
        return (0..<count).map { index in
            var field = bytes[(index * size)..<((index + 1) * size)]
            if let end = field.firstIndex(of: 0) { field = field[..<end] }
            if spacePadded { while field.last == 0x20 { field = field.dropLast() } }
            return String(decoding: field, as: UTF8.self)
        }
    }

    /// A new variable-length UTF-8 string type (as h5py writes `str`), or -1. Caller closes it.
    static func makeVariableLengthUTF8Type() -> hid_t {
        let stringType = H5Tcopy(chdf5_t_c_s1())
        guard stringType >= 0 else { return -1 }
        guard H5Tset_size(stringType, chdf5_t_variable()) >= 0,
              H5Tset_cset(stringType, H5T_CSET_UTF8) >= 0 else {
            _ = H5Tclose(stringType)
            return -1
        }
        return stringType
    }

    /// Calls `body` with a buffer of C string pointers to `values`, valid for the call
    /// (HDF5 copies variable-length strings while writing).
    static func withCStringPointers<R>(_ values: [String], _ body: (UnsafeRawPointer?) -> R) -> R {
        let pointers = values.map { UnsafePointer<CChar>(strdup($0)) }
        defer { pointers.forEach { free(UnsafeMutablePointer(mutating: $0)) } }
        return pointers.withUnsafeBytes { body($0.baseAddress) }
    }
}
