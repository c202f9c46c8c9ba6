extension H5Dataset {
    /// Reads the whole dataset, flattened in row-major order.
    ///
    /// - Parameter conversion: which stored element types are accepted for `T`; e.g.
    ///   `try tokens.read(as: Int32.self, conversion: .lossless)` reads uint16 tokens as Int32.
    public func read<T: HDF5Scalar>(as type: T.Type = T.self, conversion: HDF5Conversion = .exact) throws -> [T] {
        try readArray(.all, conversion: conversion)
    }

    /// Reads the whole dataset into `buffer`, which must hold exactly ``elementCount`` elements.
    public func read<T: HDF5Scalar>(into buffer: UnsafeMutableBufferPointer<T>,
                                    conversion: HDF5Conversion = .exact) throws {
        try transfer(.read, .all, buffer: UnsafeMutableRawPointer(buffer.baseAddress), capacity: buffer.count,
                     type: T.self, conversion: conversion)
    }

    /// Reads `count` rows starting at row `offset` along the first dimension (for a 1-D dataset:
    /// elements `offset..<offset+count`), without loading the rest of the dataset.
    public func read<T: HDF5Scalar>(offset: Int, count: Int, as type: T.Type = T.self,
                                    conversion: HDF5Conversion = .exact) throws -> [T] {
        try readArray(.rows(offset: offset, count: count), conversion: conversion)
    }

    /// Reads `count` rows from row `offset` into `buffer` (which must hold exactly that many elements).
    public func read<T: HDF5Scalar>(offset: Int, count: Int, into buffer: UnsafeMutableBufferPointer<T>,
                                    conversion: HDF5Conversion = .exact) throws {
        try transfer(.read, .rows(offset: offset, count: count), buffer: UnsafeMutableRawPointer(buffer.baseAddress),
                     capacity: buffer.count, type: T.self, conversion: conversion)
    }

    /// Reads the N-D block of `count` elements per dimension starting at `start`, flattened in
    /// row-major order.
    public func read<T: HDF5Scalar>(start: [Int], count: [Int], as type: T.Type = T.self,
                                    conversion: HDF5Conversion = .exact) throws -> [T] {
        try readArray(.block(start: start, count: count), conversion: conversion)
    }

    /// Reads the N-D block at `start`/`count` into `buffer` (which must hold exactly its elements).
    public func read<T: HDF5Scalar>(start: [Int], count: [Int], into buffer: UnsafeMutableBufferPointer<T>,
                                    conversion: HDF5Conversion = .exact) throws {
        try transfer(.read, .block(start: start, count: count), buffer: UnsafeMutableRawPointer(buffer.baseAddress),
                     capacity: buffer.count, type: T.self, conversion: conversion)
    }

    /// Reads a selection into a new array without zero-filling it first. The selection is
    /// checked against the extent before anything is allocated.
    private func readArray<T: HDF5Scalar>(_ selection: Selection, conversion: HDF5Conversion) throws -> [T] {
        try withHDF5 {
            let count = try selectedCount(selection)
            return try [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                try transfer(.read, selection, buffer: UnsafeMutableRawPointer(buffer.baseAddress), capacity: count,
                             type: T.self, conversion: conversion)
                initialized = count
            }
        }
    }
}
