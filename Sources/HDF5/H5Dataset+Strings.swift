import CHDF5

extension H5Dataset {
    /// Reads a dataset of fixed- or variable-length strings, flattened in row-major order.
    /// Throws ``HDF5Error/wrongElementType`` for a numeric dataset.
    public func readStrings() throws -> [String] {
        try withHDF5 {
            let id = try liveID()
            let typeID = H5Dget_type(id)
            guard typeID >= 0 else {
                throw HDF5Error.readFailed(file: filePath, object: path, reason: reason("cannot get datatype"))
            }
            defer { _ = H5Tclose(typeID) }
            let stored = HDF5ElementType.of(typeID: typeID)
            guard stored == .string else {
                throw HDF5Error.wrongElementType(file: filePath, object: path, expected: "string",
                                                 found: stored.description)
            }
            let space = H5Dget_space(id)
            guard space >= 0 else {
                throw HDF5Error.readFailed(file: filePath, object: path, reason: reason("cannot get dataspace"))
            }
            defer { _ = H5Sclose(space) }
            let count = H5Sget_simple_extent_npoints(space)
            guard count >= 0, let strings = StringElements.read(typeID: typeID, space: space, count: Int(count), {
                H5Dread(id, $0, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), $1)
            }) else {
                throw HDF5Error.readFailed(file: filePath, object: path, reason: reason("cannot read strings"))
            }
            return strings
        }
    }
}

extension H5Group {
    /// Creates a dataset of variable-length UTF-8 strings (as h5py stores `str`) holding `values`
    /// with the given `shape` (1-D `[values.count]` if nil).
    @discardableResult
    public func createDataset(_ name: String, strings values: [String], shape: [Int]? = nil) throws -> H5Dataset {
        try withHDF5 {
            let id = try liveID()
            let target = absolutePath(name)
            let shape = shape ?? [values.count]
            guard !ObjectPath.components(name).isEmpty else {
                throw HDF5Error.invalidArgument(file: filePath, object: target, message: "empty dataset name")
            }
            guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == values.count else {
                throw HDF5Error.shapeMismatch(file: filePath, object: target,
                                              message: "\(values.count) strings do not fill shape \(shape)")
            }
            if linkExists(id, name) { throw HDF5Error.objectExists(file: filePath, object: target) }
            try requireWritable(target)
            let dims = shape.map { hsize_t($0) }
            let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(shape.count), dims, nil)
            guard space >= 0 else {
                throw HDF5Error.writeFailed(file: filePath, object: target, reason: reason("cannot create dataspace"))
            }
            defer { _ = H5Sclose(space) }
            let stringType = StringElements.makeVariableLengthUTF8Type()
            guard stringType >= 0 else {
                throw HDF5Error.writeFailed(file: filePath, object: target, reason: reason("cannot create string type"))
            }
            defer { _ = H5Tclose(stringType) }
            let linkCreation = try intermediateGroupLinkList(target)
            defer { _ = H5Pclose(linkCreation) }
            let datasetID = H5Dcreate2(id, name, stringType, space, linkCreation, chdf5_p_default(), chdf5_p_default())
            guard datasetID >= 0 else {
                throw HDF5Error.writeFailed(file: filePath, object: target, reason: reason("cannot create dataset"))
            }
            let dataset = H5Dataset(id: datasetID, kind: .dataset, filePath: filePath, path: target, owner: file)
            if !values.isEmpty {
                let status = StringElements.withCStringPointers(values) {
                    H5Dwrite(datasetID, stringType, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), $0)
                }
                guard status >= 0 else {
                    let failure = HDF5Error.writeFailed(file: filePath, object: target, reason: reason("cannot write strings"))
                    dataset.close()
                    _ = H5Ldelete(id, name, chdf5_p_default())
                    throw failure
                }
            }
            return dataset
        }
    }
}
