import CHDF5

/// Attributes: small named values attached to a file (its root group), a group or a dataset.
///
/// In errors about one attribute the object is written `"<path> attribute '<name>'"`.
extension H5Object {
    /// Reads attribute `name` as `V`, checking the stored kind (see ``HDF5AttributeConvertible``).
    /// Reads both variable- and fixed-length strings (h5py writes variable-length ones).
    public func attribute<V: HDF5AttributeConvertible>(_ name: String, as type: V.Type = V.self) throws -> V {
        try withHDF5 {
            let stored = try attributeValue(name)
            guard let value = V(hdf5AttributeValue: stored) else {
                throw HDF5Error.wrongElementType(file: filePath, object: attributeLabel(name),
                                                 expected: V.hdf5AttributeKind, found: stored.kindDescription)
            }
            return value
        }
    }

    /// Reads attribute `name` as whatever it holds.
    public func attributeValue(_ name: String) throws -> HDF5AttributeValue {
        try withHDF5 {
            let id = try liveID()
            guard try hasAttribute(name) else {
                throw HDF5Error.attributeNotFound(file: filePath, object: path, name: name)
            }
            let attributeID = H5Aopen(id, name, chdf5_p_default())
            guard attributeID >= 0 else { throw readFailure(name, "cannot open attribute") }
            defer { _ = H5Aclose(attributeID) }
            return try readAttribute(attributeID, name)
        }
    }

    /// Stores `value` as attribute `name`, replacing any existing attribute of that name.
    public func setAttribute<V: HDF5AttributeConvertible>(_ name: String, _ value: V) throws {
        try withHDF5 {
            let id = try liveID()
            guard !name.isEmpty else {
                throw HDF5Error.invalidArgument(file: filePath, object: path, message: "empty attribute name")
            }
            try requireWritable(attributeLabel(name))
            if try hasAttribute(name) {
                guard H5Adelete(id, name) >= 0 else { throw writeFailure(name, "cannot replace attribute") }
            }
            try writeAttribute(id, name, value.hdf5AttributeValue)
        }
    }

    /// Whether the object has an attribute called `name`.
    public func hasAttribute(_ name: String) throws -> Bool {
        try withHDF5 {
            let found = H5Aexists(try liveID(), name)
            guard found >= 0 else { throw readFailure(name, "cannot look up attribute") }
            return found > 0
        }
    }

    /// Names of the object's attributes, in name order.
    public func attributeNames() throws -> [String] {
        try withHDF5 {
            let id = try liveID()
            var info = H5O_info_t()
            guard H5Oget_info2(id, &info, UInt32(H5O_INFO_NUM_ATTRS)) >= 0 else {
                throw HDF5Error.readFailed(file: filePath, object: path, reason: reason("cannot count attributes"))
            }
            return try (0..<info.num_attrs).map { index in
                let length = H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, chdf5_p_default())
                guard length >= 0 else {
                    throw HDF5Error.readFailed(file: filePath, object: path, reason: reason("cannot read attribute name"))
                }
                var bytes = [CChar](repeating: 0, count: Int(length) + 1)
                guard H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &bytes, bytes.count,
                                         chdf5_p_default()) >= 0 else {
                    throw HDF5Error.readFailed(file: filePath, object: path, reason: reason("cannot read attribute name"))
                }
                return String(cString: bytes)
            }
        }
    }

    /// Removes attribute `name`.
    public func deleteAttribute(_ name: String) throws {
        try withHDF5 {
            let id = try liveID()
            guard try hasAttribute(name) else {
                throw HDF5Error.attributeNotFound(file: filePath, object: path, name: name)
            }
            try requireWritable(attributeLabel(name))
            guard H5Adelete(id, name) >= 0 else { throw writeFailure(name, "cannot delete attribute") }
        }
    }

    // MARK: - Internals (called under the lock)

    private func attributeLabel(_ name: String) -> String { "\(path) attribute '\(name)'" }

    private func readFailure(_ name: String, _ fallback: String) -> HDF5Error {
        HDF5Error.readFailed(file: filePath, object: attributeLabel(name), reason: reason(fallback))
    }

    private func writeFailure(_ name: String, _ fallback: String) -> HDF5Error {
        HDF5Error.writeFailed(file: filePath, object: attributeLabel(name), reason: reason(fallback))
    }

    private func readAttribute(_ attributeID: hid_t, _ name: String) throws -> HDF5AttributeValue {
        let typeID = H5Aget_type(attributeID)
        guard typeID >= 0 else { throw readFailure(name, "cannot get attribute type") }
        defer { _ = H5Tclose(typeID) }
        let space = H5Aget_space(attributeID)
        guard space >= 0 else { throw readFailure(name, "cannot get attribute dataspace") }
        defer { _ = H5Sclose(space) }
        let isScalar = H5Sget_simple_extent_type(space) == H5S_SCALAR
        let points = H5Sget_simple_extent_npoints(space)
        guard points >= 0 else { throw readFailure(name, "cannot count attribute elements") }
        let count = Int(points)

        func readNumbers<T: HDF5Scalar & Numeric>(_: T.Type) throws -> [T] {
            var values = [T](repeating: 0, count: count)
            if count > 0 {
                let status = values.withUnsafeMutableBytes { H5Aread(attributeID, T.hdf5NativeTypeID, $0.baseAddress) }
                guard status >= 0 else {
                    throw readFailure(name, "cannot read attribute")
                }
            }
            return values
        }

        if H5Tget_class(typeID) == H5T_ENUM {
            return try readEnum(attributeID, typeID, count: count, isScalar: isScalar, name: name)
        }
        let element = HDF5ElementType.of(typeID: typeID)
        if element.isInteger {
            let values = try readNumbers(Int64.self).map { Int($0) }
            return isScalar ? .int(values[0]) : .ints(values)
        }
        if element == .float64 || (element == .float32 && isScalar) {
            let values = try readNumbers(Double.self)
            return isScalar ? .double(values[0]) : .doubles(values)
        }
        if element == .float32 {
            return .floats(try readNumbers(Float.self))
        }
        if element == .string {
            let values = try readStrings(attributeID, typeID, space, count: count, name: name)
            return isScalar ? .string(values[0]) : .strings(values)
        }
        throw HDF5Error.wrongElementType(file: filePath, object: attributeLabel(name),
                                         expected: "an integer, number or string", found: element.description)
    }

    /// Reads an integer enum: h5py's booleans as `.bool`, any other as its integer values.
    private func readEnum(_ attributeID: hid_t, _ typeID: hid_t, count: Int, isScalar: Bool,
                          name: String) throws -> HDF5AttributeValue {
        let base = H5Tget_super(typeID)
        guard base >= 0 else { throw readFailure(name, "cannot get enum base type") }
        defer { _ = H5Tclose(base) }
        let signed = H5Tget_sign(base) == H5T_SGN_2
        // Enums cannot be converted to integers by HDF5: read them as the native version of the
        // enum type, then widen the raw values by hand.
        let memoryType = H5Tget_native_type(typeID, H5T_DIR_ASCEND)
        guard memoryType >= 0 else { throw readFailure(name, "cannot get native enum type") }
        defer { _ = H5Tclose(memoryType) }
        let size = H5Tget_size(memoryType)
        guard [1, 2, 4, 8].contains(size) else {
            throw HDF5Error.wrongElementType(file: filePath, object: attributeLabel(name),
                                             expected: "an integer, number or string", found: "enum of \(size) bytes")
        }
        var bytes = [UInt8](repeating: 0, count: size * count)
        if count > 0 {
            let status = bytes.withUnsafeMutableBytes { H5Aread(attributeID, memoryType, $0.baseAddress) }
            guard status >= 0 else { throw readFailure(name, "cannot read enum attribute") }
        }
        let values: [Int] = bytes.withUnsafeBytes { raw in
            (0..<count).map { index in
                let offset = index * size
                switch (size, signed) {
                case (1, true): return Int(raw.load(fromByteOffset: offset, as: Int8.self))
                case (1, false): return Int(raw.load(fromByteOffset: offset, as: UInt8.self))
                case (2, true): return Int(raw.loadUnaligned(fromByteOffset: offset, as: Int16.self))
                case (2, false): return Int(raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
                case (4, true): return Int(raw.loadUnaligned(fromByteOffset: offset, as: Int32.self))
                case (4, false): return Int(raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
                default: return Int(truncatingIfNeeded: raw.loadUnaligned(fromByteOffset: offset, as: Int64.self))
                }
            }
        }
        if isScalar, let value = values.first, isBooleanEnum(typeID) { return .bool(value != 0) }
        return isScalar ? .int(values[0]) : .ints(values)
    }

    /// Whether an enum type is h5py's boolean: exactly the members FALSE = 0 and TRUE = 1.
    private func isBooleanEnum(_ typeID: hid_t) -> Bool {
        guard H5Tget_nmembers(typeID) == 2 else { return false }
        let names = (0..<2).compactMap { index -> String? in
            guard let name = H5Tget_member_name(typeID, UInt32(index)) else { return nil }
            defer { H5free_memory(name) }
            return String(cString: name)
        }
        return Set(names) == ["FALSE", "TRUE"]
    }

    private func readStrings(_ attributeID: hid_t, _ typeID: hid_t, _ space: hid_t, count: Int,
                             name: String) throws -> [String] {
        guard let strings = StringElements.read(typeID: typeID, space: space, count: count, {
            H5Aread(attributeID, $0, $1)
        }) else {
            throw readFailure(name, "cannot read string attribute")
        }
        return strings
    }

    private func writeAttribute(_ id: hid_t, _ name: String, _ value: HDF5AttributeValue) throws {
        switch value {
        case .bool(let value): try writeBool(id, name, value)
        case .int(let value): try writeNumbers(id, name, [Int64(value)], scalar: true)
        case .ints(let values): try writeNumbers(id, name, values.map { Int64($0) }, scalar: false)
        case .double(let value): try writeNumbers(id, name, [value], scalar: true)
        case .doubles(let values): try writeNumbers(id, name, values, scalar: false)
        case .floats(let values): try writeNumbers(id, name, values, scalar: false)
        case .string(let value): try writeStrings(id, name, [value], scalar: true)
        case .strings(let values): try writeStrings(id, name, values, scalar: false)
        }
    }

    /// A scalar dataspace or a 1-D one of `count` elements (an empty array has extent [0], which
    /// h5py reads as an empty numpy array).
    private func attributeSpace(_ name: String, count: Int, scalar: Bool) throws -> hid_t {
        let space: hid_t
        if scalar {
            space = H5Screate(H5S_SCALAR)
        } else {
            var dims = [hsize_t(count)]
            space = H5Screate_simple(1, &dims, nil)
        }
        guard space >= 0 else { throw writeFailure(name, "cannot create attribute dataspace") }
        return space
    }

    private func writeNumbers<T: HDF5Scalar>(_ id: hid_t, _ name: String, _ values: [T], scalar: Bool) throws {
        let space = try attributeSpace(name, count: values.count, scalar: scalar)
        defer { _ = H5Sclose(space) }
        let attributeID = H5Acreate2(id, name, T.hdf5NativeTypeID, space, chdf5_p_default(), chdf5_p_default())
        guard attributeID >= 0 else { throw writeFailure(name, "cannot create attribute") }
        defer { _ = H5Aclose(attributeID) }
        if values.isEmpty { return }
        let status = values.withUnsafeBytes { H5Awrite(attributeID, T.hdf5NativeTypeID, $0.baseAddress) }
        guard status >= 0 else {
            throw writeFailure(name, "cannot write attribute")
        }
    }

    /// Writes a boolean as h5py does: an int8 enum with members FALSE = 0 and TRUE = 1.
    private func writeBool(_ id: hid_t, _ name: String, _ value: Bool) throws {
        let space = try attributeSpace(name, count: 1, scalar: true)
        defer { _ = H5Sclose(space) }
        let enumType = H5Tenum_create(chdf5_t_native_int8())
        guard enumType >= 0 else { throw writeFailure(name, "cannot create enum type") }
        defer { _ = H5Tclose(enumType) }
        var falseValue: Int8 = 0, trueValue: Int8 = 1
        guard H5Tenum_insert(enumType, "FALSE", &falseValue) >= 0,
              H5Tenum_insert(enumType, "TRUE", &trueValue) >= 0 else {
            throw writeFailure(name, "cannot create enum type")
        }
        let attributeID = H5Acreate2(id, name, enumType, space, chdf5_p_default(), chdf5_p_default())
        guard attributeID >= 0 else { throw writeFailure(name, "cannot create attribute") }
        defer { _ = H5Aclose(attributeID) }
        var stored: Int8 = value ? 1 : 0
        guard H5Awrite(attributeID, enumType, &stored) >= 0 else {
            throw writeFailure(name, "cannot write attribute")
        }
    }

    /// Writes variable-length UTF-8 strings, as h5py does.
    private func writeStrings(_ id: hid_t, _ name: String, _ values: [String], scalar: Bool) throws {
        let space = try attributeSpace(name, count: values.count, scalar: scalar)
        defer { _ = H5Sclose(space) }
        let stringType = StringElements.makeVariableLengthUTF8Type()
        guard stringType >= 0 else { throw writeFailure(name, "cannot create string type") }
        defer { _ = H5Tclose(stringType) }
        let attributeID = H5Acreate2(id, name, stringType, space, chdf5_p_default(), chdf5_p_default())
        guard attributeID >= 0 else { throw writeFailure(name, "cannot create attribute") }
        defer { _ = H5Aclose(attributeID) }
        if values.isEmpty { return }
        let status = StringElements.withCStringPointers(values) { H5Awrite(attributeID, stringType, $0) }
        guard status >= 0 else {
            throw writeFailure(name, "cannot write attribute")
        }
    }
}
