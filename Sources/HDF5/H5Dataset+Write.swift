extension H5Dataset {
    /// Writes the whole dataset from `values` (row-major, exactly ``elementCount`` elements).
    public func write<T: HDF5Scalar>(_ values: [T], conversion: HDF5Conversion = .exact) throws {
        try values.withUnsafeBufferPointer { try write(from: $0, conversion: conversion) }
    }

    /// Writes the whole dataset straight from `buffer` (exactly ``elementCount`` elements).
    public func write<T: HDF5Scalar>(from buffer: UnsafeBufferPointer<T>, conversion: HDF5Conversion = .exact) throws {
        try transfer(.write, .all, buffer: UnsafeMutableRawPointer(mutating: buffer.baseAddress),
                     capacity: buffer.count, type: T.self, conversion: conversion)
    }

    /// Writes whole rows starting at row `offset` along the first dimension; `values.count` must
    /// be a multiple of the row size (1 for a 1-D dataset).
    public func write<T: HDF5Scalar>(_ values: [T], offset: Int, conversion: HDF5Conversion = .exact) throws {
        try values.withUnsafeBufferPointer { try write(from: $0, offset: offset, conversion: conversion) }
    }

    /// Writes whole rows from `buffer` starting at row `offset` along the first dimension.
    public func write<T: HDF5Scalar>(from buffer: UnsafeBufferPointer<T>, offset: Int,
                                     conversion: HDF5Conversion = .exact) throws {
        try withHDF5 {
            let rows = try rowCount(for: buffer.count)
            try transfer(.write, .rows(offset: offset, count: rows), buffer: UnsafeMutableRawPointer(mutating: buffer.baseAddress),
                         capacity: buffer.count, type: T.self, conversion: conversion)
        }
    }

    /// Writes `values` into the N-D block at `start` with `count` elements per dimension.
    public func write<T: HDF5Scalar>(_ values: [T], start: [Int], count: [Int],
                                     conversion: HDF5Conversion = .exact) throws {
        try values.withUnsafeBufferPointer { try write(from: $0, start: start, count: count, conversion: conversion) }
    }

    /// Writes the N-D block at `start`/`count` straight from `buffer`.
    public func write<T: HDF5Scalar>(from buffer: UnsafeBufferPointer<T>, start: [Int], count: [Int],
                                     conversion: HDF5Conversion = .exact) throws {
        try transfer(.write, .block(start: start, count: count), buffer: UnsafeMutableRawPointer(mutating: buffer.baseAddress),
                     capacity: buffer.count, type: T.self, conversion: conversion)
    }

    /// Grows the first dimension by the rows in `values` and writes them there: streaming writes
    /// to a dataset created with `maxShape: [nil, ...]`.
    public func append<T: HDF5Scalar>(_ values: [T], conversion: HDF5Conversion = .exact) throws {
        try values.withUnsafeBufferPointer { try append(contentsOf: $0, conversion: conversion) }
    }

    /// Grows the first dimension by the rows in `buffer` and writes them there.
    public func append<T: HDF5Scalar>(contentsOf buffer: UnsafeBufferPointer<T>,
                                      conversion: HDF5Conversion = .exact) throws {
        try withHDF5 {
            let rows = try rowCount(for: buffer.count)
            var newShape = try shape
            let offset = newShape[0]
            newShape[0] += rows
            // Check the element type before growing, so a rejected write leaves the extent alone.
            let stored = try elementType
            guard conversion.allows(from: T.hdf5ElementType, to: stored) else {
                throw HDF5Error.wrongElementType(file: filePath, object: path,
                                                 expected: T.hdf5ElementType.description, found: stored.description)
            }
            try resize(to: newShape)
            try transfer(.write, .rows(offset: offset, count: rows), buffer: UnsafeMutableRawPointer(mutating: buffer.baseAddress),
                         capacity: buffer.count, type: T.self, conversion: conversion)
        }
    }

    /// The number of first-dimension rows `elements` elements fill exactly.
    private func rowCount(for elements: Int) throws -> Int {
        let shape = try self.shape
        guard !shape.isEmpty else {
            throw HDF5Error.shapeMismatch(file: filePath, object: path, message: "a scalar dataset has no rows")
        }
        let rowSize = shape.dropFirst().reduce(1, *)
        guard rowSize > 0 ? elements % rowSize == 0 : elements == 0 else {
            throw HDF5Error.shapeMismatch(
                file: filePath, object: path,
                message: "\(elements) elements are not whole rows of \(rowSize) (shape \(shape))")
        }
        return rowSize > 0 ? elements / rowSize : 0
    }
}
