import CHDF5

extension H5Group {
    /// Creates an N-D dataset of `type` with the given `shape` (missing intermediate groups are
    /// created). Its contents read as zero until written.
    ///
    /// - Parameters:
    ///   - maxShape: per-dimension upper bound for ``H5Dataset/resize(to:)``; `nil` in an entry
    ///     means unlimited. Leave out for a fixed-size dataset.
    ///   - chunks: chunk shape. Required by HDF5 for resizable or compressed datasets, so one of
    ///     about 1 MiB is chosen when it is needed and not given.
    ///   - deflateLevel: gzip level 0...9 to compress chunks, or nil.
    @discardableResult
    public func createDataset<T: HDF5Scalar>(
        _ name: String, of type: T.Type, shape: [Int], maxShape: [Int?]? = nil,
        chunks: [Int]? = nil, deflateLevel: Int? = nil
    ) throws -> H5Dataset {
        try createDataset(name, elementType: T.hdf5ElementType, shape: shape, maxShape: maxShape,
                          chunks: chunks, deflateLevel: deflateLevel)
    }

    /// Creates a dataset holding `values` with the given `shape` (1-D `[values.count]` if nil).
    @discardableResult
    public func createDataset<T: HDF5Scalar>(
        _ name: String, values: [T], shape: [Int]? = nil, maxShape: [Int?]? = nil,
        chunks: [Int]? = nil, deflateLevel: Int? = nil
    ) throws -> H5Dataset {
        try withHDF5 {
            let dataset = try createDataset(name, of: T.self, shape: shape ?? [values.count],
                                            maxShape: maxShape, chunks: chunks, deflateLevel: deflateLevel)
            do {
                try dataset.write(values)
            } catch {
                // Do not leave a half-made dataset behind.
                dataset.close()
                _ = try? deleteLink(name)
                throw error
            }
            return dataset
        }
    }

    /// Creates a dataset of a numeric `elementType` (see the generic overload).
    @discardableResult
    public func createDataset(
        _ name: String, elementType: HDF5ElementType, shape: [Int], maxShape: [Int?]? = nil,
        chunks: [Int]? = nil, deflateLevel: Int? = nil
    ) throws -> H5Dataset {
        try withHDF5 {
            let id = try liveID()
            let target = absolutePath(name)
            func invalid(_ message: String) -> HDF5Error {
                HDF5Error.invalidArgument(file: filePath, object: target, message: message)
            }
            guard let fileType = elementType.nativeTypeID else {
                throw invalid("cannot create a dataset of \(elementType) elements")
            }
            guard !ObjectPath.components(name).isEmpty else { throw invalid("empty dataset name") }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw invalid("negative dimension in shape \(shape)") }
            if let maxShape {
                guard maxShape.count == shape.count else {
                    throw HDF5Error.shapeMismatch(file: filePath, object: target,
                                                  message: "maxShape \(describe(maxShape)) has a different rank than shape \(shape)")
                }
                for (size, limit) in zip(shape, maxShape) {
                    if let limit, limit < size {
                        throw invalid("maxShape \(describe(maxShape)) is smaller than shape \(shape)")
                    }
                }
            }
            if let level = deflateLevel, !(0...9).contains(level) {
                throw invalid("deflate level \(level) is not in 0...9")
            }
            let resizable = maxShape.map { zip(shape, $0).contains { size, limit in limit != size } } ?? false
            var chunkShape = chunks
            var deflateLevel = deflateLevel
            var checksum = file.checksumsDatasets && !shape.isEmpty
            if chunkShape == nil, resizable || deflateLevel != nil || checksum {
                let fixedEmpty = shape.indices.contains { shape[$0] == 0 && (maxShape?[$0] ?? (maxShape == nil ? 0 : nil)) == 0 }
                if fixedEmpty {
                    // Always empty: HDF5 cannot chunk a fixed zero-length dimension, nor is there
                    // anything to compress or check.
                    deflateLevel = nil
                    checksum = false
                } else {
                    chunkShape = Self.defaultChunks(shape: shape, maxShape: maxShape,
                                                    elementSize: elementType.byteCount ?? 1)
                }
            }
            if let chunkShape {
                guard chunkShape.count == shape.count, !shape.isEmpty else {
                    throw HDF5Error.shapeMismatch(file: filePath, object: target,
                                                  message: "chunks \(chunkShape) do not match the rank of shape \(shape)")
                }
                guard chunkShape.allSatisfy({ $0 > 0 }) else { throw invalid("chunk sizes must be positive, got \(chunkShape)") }
                for (index, chunk) in chunkShape.enumerated() {
                    if let limit = maxShape?[index] ?? (maxShape == nil ? shape[index] : nil), chunk > limit {
                        throw invalid("chunks \(chunkShape) exceed the maximum shape")
                    }
                }
            }
            if linkExists(id, name) { throw HDF5Error.objectExists(file: filePath, object: target) }
            try requireWritable(target)

            let dims = shape.map { hsize_t($0) }
            let maxDims = (maxShape ?? shape.map { Optional($0) }).map { $0.map { hsize_t($0) } ?? chdf5_s_unlimited() }
            let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(shape.count), dims, maxDims)
            guard space >= 0 else {
                throw HDF5Error.writeFailed(file: filePath, object: target, reason: reason("cannot create dataspace"))
            }
            defer { _ = H5Sclose(space) }
            let creation = H5Pcreate(chdf5_p_dataset_create())
            guard creation >= 0 else {
                throw HDF5Error.writeFailed(file: filePath, object: target, reason: reason("H5Pcreate failed"))
            }
            defer { _ = H5Pclose(creation) }
            if let chunkShape {
                guard H5Pset_chunk(creation, Int32(chunkShape.count), chunkShape.map { hsize_t($0) }) >= 0 else {
                    throw HDF5Error.writeFailed(file: filePath, object: target, reason: reason("cannot set chunks"))
                }
            }
            if let level = deflateLevel {
                guard H5Pset_deflate(creation, UInt32(level)) >= 0 else {
                    throw HDF5Error.writeFailed(file: filePath, object: target, reason: reason("cannot set deflate"))
                }
            }
            if checksum {
                guard H5Pset_fletcher32(creation) >= 0 else {
                    throw HDF5Error.writeFailed(file: filePath, object: target, reason: reason("cannot set the Fletcher-32 filter"))
                }
            }
            let linkCreation = try intermediateGroupLinkList(target)
            defer { _ = H5Pclose(linkCreation) }
            let datasetID = H5Dcreate2(id, name, fileType, space, linkCreation, creation, chdf5_p_default())
            guard datasetID >= 0 else {
                throw HDF5Error.writeFailed(file: filePath, object: target, reason: reason("cannot create dataset"))
            }
            return H5Dataset(id: datasetID, kind: .dataset, filePath: filePath, path: target, owner: file)
        }
    }

    /// Opens the existing dataset at `name`.
    public func dataset(_ name: String) throws -> H5Dataset {
        try withHDF5 {
            let id = try liveID()
            let target = try requireObject(id, name, kind: .dataset)
            let datasetID = H5Dopen2(id, name, chdf5_p_default())
            guard datasetID >= 0 else {
                throw HDF5Error.readFailed(file: filePath, object: target, reason: reason("cannot open dataset"))
            }
            return H5Dataset(id: datasetID, kind: .dataset, filePath: filePath, path: target, owner: file)
        }
    }

    /// Chunks of roughly 1 MiB: whole trailing dimensions, as many leading rows as fit.
    private static func defaultChunks(shape: [Int], maxShape: [Int?]?, elementSize: Int) -> [Int] {
        let target = max(1, (1 << 20) / max(1, elementSize))
        var chunks = shape.map { max(1, $0) }
        for index in chunks.indices {
            if let limit = maxShape?[index] ?? (maxShape == nil ? shape[index] : nil) {
                chunks[index] = max(1, min(chunks[index], limit))
            }
        }
        guard !chunks.isEmpty else { return chunks }
        let rowElements = chunks.dropFirst().reduce(1, *)
        let rows = max(1, target / max(1, rowElements))
        let firstLimit = maxShape?[0] ?? (maxShape == nil ? shape[0] : nil)
        chunks[0] = max(1, firstLimit.map { min(rows, max(1, $0)) } ?? rows)
        return chunks
    }
}

/// "[3, unlimited]" for a maxShape.
func describe(_ maxShape: [Int?]) -> String {
    "[" + maxShape.map { $0.map(String.init) ?? "unlimited" }.joined(separator: ", ") + "]"
}
