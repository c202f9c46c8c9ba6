import CHDF5

/// Which part of a dataset a read or write touches.
enum Selection {
    case all
    /// A block: `start` and `count` per dimension.
    case block(start: [Int], count: [Int])
    /// `count` rows from `offset` along dimension 0, all of every other dimension.
    case rows(offset: Int, count: Int)
}

enum TransferDirection {
    case read, write
}

extension H5Dataset {
    /// Moves `capacity` elements of `T` between `buffer` and the `selection` of the dataset.
    /// Checks the element type under `conversion`, the bounds and the buffer size first.
    func transfer<T: HDF5Scalar>(_ direction: TransferDirection, _ selection: Selection,
                                 buffer: UnsafeMutableRawPointer?, capacity: Int,
                                 type: T.Type, conversion: HDF5Conversion) throws {
        try withHDF5 {
            let id = try liveID()
            if direction == .write { try requireWritable() }
            let memoryElement = T.hdf5ElementType
            guard let memoryType = memoryElement.nativeTypeID else {
                throw HDF5Error.invalidArgument(file: filePath, object: path,
                                                message: "\(T.self) is not a numeric HDF5 type")
            }
            let stored = try elementType
            let allowed = direction == .read
                ? conversion.allows(from: stored, to: memoryElement)
                : conversion.allows(from: memoryElement, to: stored)
            guard allowed else {
                throw HDF5Error.wrongElementType(file: filePath, object: path,
                                                 expected: expectation(memoryElement, direction, conversion),
                                                 found: stored.description)
            }

            let (shape, _) = try extent()
            let block = try resolve(selection, shape: shape)
            let selected = block.map { $0.count.reduce(1, *) } ?? shape.reduce(1, *)
            guard capacity == selected else {
                let what = direction == .read ? "buffer has room for" : "got"
                throw HDF5Error.shapeMismatch(
                    file: filePath, object: path,
                    message: "\(what) \(capacity) elements but the selection \(describeSelection(block, shape)) has \(selected)")
            }
            if selected == 0 { return }

            var fileSpace = chdf5_s_all()
            var memorySpace = chdf5_s_all()
            defer {
                if fileSpace != chdf5_s_all() { _ = H5Sclose(fileSpace) }
                if memorySpace != chdf5_s_all() { _ = H5Sclose(memorySpace) }
            }
            if let block {
                fileSpace = H5Dget_space(id)
                guard fileSpace >= 0 else {
                    throw failure(direction, "cannot get dataspace")
                }
                guard H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, block.start.map { hsize_t($0) }, nil,
                                          block.count.map { hsize_t($0) }, nil) >= 0 else {
                    throw failure(direction, "cannot select hyperslab")
                }
                var memoryDims = [hsize_t(selected)]
                memorySpace = H5Screate_simple(1, &memoryDims, nil)
                guard memorySpace >= 0 else { throw failure(direction, "cannot create memory dataspace") }
            }
            let status = direction == .read
                ? H5Dread(id, memoryType, memorySpace, fileSpace, chdf5_p_default(), buffer)
                : H5Dwrite(id, memoryType, memorySpace, fileSpace, chdf5_p_default(), buffer)
            guard status >= 0 else {
                throw failure(direction, direction == .read ? "H5Dread failed" : "H5Dwrite failed")
            }
        }
    }

    /// The number of elements in `selection`, after checking it against the extent.
    func selectedCount(_ selection: Selection) throws -> Int {
        try withHDF5 {
            let (shape, _) = try extent()
            let block = try resolve(selection, shape: shape)
            return block.map { $0.count.reduce(1, *) } ?? shape.reduce(1, *)
        }
    }

    /// Checks a selection against the shape; nil means the whole dataset.
    private func resolve(_ selection: Selection, shape: [Int]) throws -> (start: [Int], count: [Int])? {
        switch selection {
        case .all:
            return nil
        case .rows(let offset, let count):
            guard !shape.isEmpty else {
                throw HDF5Error.shapeMismatch(file: filePath, object: path,
                                              message: "cannot select rows of a scalar dataset")
            }
            let start = [offset] + Array(repeating: 0, count: shape.count - 1)
            return try resolve(.block(start: start, count: [count] + shape.dropFirst()), shape: shape)
        case .block(let start, let count):
            guard start.count == shape.count, count.count == shape.count else {
                throw HDF5Error.shapeMismatch(
                    file: filePath, object: path,
                    message: "hyperslab start \(start) count \(count) does not match the rank of shape \(shape)")
            }
            for axis in shape.indices {
                let (first, length, size) = (start[axis], count[axis], shape[axis])
                guard first >= 0, length >= 0, first <= size, length <= size - first else {
                    throw HDF5Error.outOfRange(
                        file: filePath, object: path,
                        message: "hyperslab start \(start) count \(count) is outside shape \(shape) (axis \(axis))")
                }
            }
            return (start, count)
        }
    }

    private func describeSelection(_ block: (start: [Int], count: [Int])?, _ shape: [Int]) -> String {
        guard let block else { return "(whole dataset, shape \(shape))" }
        return "(start \(block.start), count \(block.count))"
    }

    private func expectation(_ memory: HDF5ElementType, _ direction: TransferDirection,
                             _ conversion: HDF5Conversion) -> String {
        switch (conversion, direction) {
        case (.exact, _): return memory.description
        case (.lossless, .read): return "a type that converts losslessly to \(memory)"
        case (.lossless, .write): return "a type \(memory) converts losslessly to"
        case (.numeric, _): return "a numeric type"
        }
    }

    private func failure(_ direction: TransferDirection, _ fallback: String) -> HDF5Error {
        direction == .read
            ? HDF5Error.readFailed(file: filePath, object: path, reason: reason(fallback))
            : HDF5Error.writeFailed(file: filePath, object: path, reason: reason(fallback))
    }
}
