import CHDF5

/// An N-D array of numbers in an HDF5 file.
///
/// Reads and writes check the element type against the Swift type under an ``HDF5Conversion``
/// policy (``HDF5Conversion/exact`` unless you say otherwise), check buffer sizes and hyperslab
/// bounds before calling HDF5, and go straight between your memory and the file.
public final class H5Dataset: H5Object, @unchecked Sendable {
    /// Size of each dimension (empty for a scalar dataset).
    public var shape: [Int] {
        get throws { try withHDF5 { try extent().shape } }
    }

    /// Upper bound of each dimension; nil for an unlimited dimension.
    public var maxShape: [Int?] {
        get throws { try withHDF5 { try extent().maxShape } }
    }

    /// Number of dimensions.
    public var rank: Int {
        get throws { try shape.count }
    }

    /// Total number of elements (the product of ``shape``).
    public var elementCount: Int {
        get throws { try shape.reduce(1, *) }
    }

    /// The element type stored in the file.
    public var elementType: HDF5ElementType {
        get throws {
            try withHDF5 {
                let typeID = H5Dget_type(try liveID())
                guard typeID >= 0 else {
                    throw HDF5Error.readFailed(file: filePath, object: path, reason: reason("cannot get datatype"))
                }
                defer { _ = H5Tclose(typeID) }
                return HDF5ElementType.of(typeID: typeID)
            }
        }
    }

    /// The chunk shape, or nil for a contiguous (unchunked) dataset.
    public var chunkShape: [Int]? {
        get throws {
            try withHDF5 {
                let creation = H5Dget_create_plist(try liveID())
                guard creation >= 0 else {
                    throw HDF5Error.readFailed(file: filePath, object: path, reason: reason("cannot get creation properties"))
                }
                defer { _ = H5Pclose(creation) }
                guard H5Pget_layout(creation) == H5D_CHUNKED else { return nil }
                var dims = [hsize_t](repeating: 0, count: 32)
                let rank = H5Pget_chunk(creation, Int32(dims.count), &dims)
                guard rank >= 0 else {
                    throw HDF5Error.readFailed(file: filePath, object: path, reason: reason("cannot get chunks"))
                }
                return dims.prefix(Int(rank)).map { Int($0) }
            }
        }
    }

    /// Whether the dataset carries the Fletcher-32 checksum filter (see ``H5File/checksumsDatasets``).
    public var isChecksummed: Bool {
        get throws {
            try withHDF5 {
                let creation = H5Dget_create_plist(try liveID())
                guard creation >= 0 else {
                    throw HDF5Error.readFailed(file: filePath, object: path, reason: reason("cannot get creation properties"))
                }
                defer { _ = H5Pclose(creation) }
                var flags: UInt32 = 0, count = 0
                return H5Pget_filter_by_id2(creation, H5Z_filter_t(H5Z_FILTER_FLETCHER32), &flags, &count, nil, 0, nil, nil) >= 0
            }
        }
    }

    /// Throws ``HDF5Error/wrongElementType`` unless the stored element type is `expected`.
    public func requireElementType(_ expected: HDF5ElementType) throws {
        let found = try elementType
        guard found == expected else {
            throw HDF5Error.wrongElementType(file: filePath, object: path,
                                             expected: expected.description, found: found.description)
        }
    }

    /// Throws ``HDF5Error/wrongElementType`` unless the stored element type is `T`'s.
    public func requireElementType<T: HDF5Scalar>(_ type: T.Type) throws {
        try requireElementType(T.hdf5ElementType)
    }

    /// Throws ``HDF5Error/shapeMismatch`` unless the dataset's shape is `expected`.
    public func requireShape(_ expected: [Int]) throws {
        let found = try shape
        guard found == expected else {
            throw HDF5Error.shapeMismatch(file: filePath, object: path,
                                          message: "shape is \(found), expected \(expected)")
        }
    }

    /// Changes the extent (within ``maxShape``; chunked datasets only). Data outside the new
    /// extent is discarded; new elements read as zero.
    public func resize(to newShape: [Int]) throws {
        try withHDF5 {
            let id = try liveID()
            try requireWritable()
            let (shape, maxShape) = try extent()
            guard newShape.count == shape.count else {
                throw HDF5Error.shapeMismatch(file: filePath, object: path,
                                              message: "cannot resize shape \(shape) to \(newShape): rank differs")
            }
            guard try chunkShape != nil else {
                throw HDF5Error.invalidArgument(
                    file: filePath, object: path,
                    message: "cannot resize a dataset with fixed-size (unchunked) storage; create it with maxShape")
            }
            for (size, limit) in zip(newShape, maxShape) where size < 0 || (limit.map { size > $0 } ?? false) {
                throw HDF5Error.outOfRange(file: filePath, object: path,
                                           message: "cannot resize to \(newShape): maximum shape is \(describe(maxShape))")
            }
            guard H5Dset_extent(id, newShape.map { hsize_t($0) }) >= 0 else {
                throw HDF5Error.writeFailed(file: filePath, object: path,
                                            reason: reason("cannot resize to \(newShape)"))
            }
        }
    }

    // MARK: - Internals (called under the lock)

    /// Current and maximum dimensions from the dataspace.
    func extent() throws -> (shape: [Int], maxShape: [Int?]) {
        let space = H5Dget_space(try liveID())
        guard space >= 0 else {
            throw HDF5Error.readFailed(file: filePath, object: path, reason: reason("cannot get dataspace"))
        }
        defer { _ = H5Sclose(space) }
        let rank = H5Sget_simple_extent_ndims(space)
        guard rank >= 0 else {
            throw HDF5Error.readFailed(file: filePath, object: path, reason: reason("cannot get rank"))
        }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        var maxDims = [hsize_t](repeating: 0, count: Int(rank))
        guard H5Sget_simple_extent_dims(space, &dims, &maxDims) >= 0 else {
            throw HDF5Error.readFailed(file: filePath, object: path, reason: reason("cannot get dimensions"))
        }
        return (dims.map { Int($0) }, maxDims.map { $0 == chdf5_s_unlimited() ? nil : Int($0) })
    }
}
