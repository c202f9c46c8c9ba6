import CHDF5
import Dispatch

/// Whole-dataset writes and reads that move the chunks of a Fletcher-32-only dataset as they
/// are stored (`H5Dwrite_chunk`, `H5Dread_chunk`), with the checksums computed and verified
/// here (``Fletcher32``) instead of by HDF5's filter: one copy of the data instead of HDF5's two
/// and its scalar checksum, and the copy and checksum of one chunk on a second thread while
/// the next is written or read. Files are the same as HDF5's filter writes (h5py reads and
/// verifies them) and a damaged chunk fails the read with HDF5's own message.
///
/// Only datasets that are chunked along their first dimension (whole trailing dimensions, as
/// ``H5Group/createDataset(_:elementType:shape:maxShape:chunks:deflateLevel:)`` chunks them),
/// stored exactly as `T` and filtered by Fletcher-32 alone take this path; any other goes
/// through `H5Dwrite`/`H5Dread`. One instance keeps its two chunk buffers for every dataset
/// it moves; use it from one thread at a time.
public final class ChecksummedChunks {
    private var buffers: [UnsafeMutableRawBufferPointer] = []
    private let worker = DispatchQueue(label: "gpt-dist.hdf5.chunks")
    private let group = DispatchGroup()
    /// The chunk the worker found damaged, or -1.
    private var damaged = -1

    public init() {}

    deinit { for buffer in buffers { buffer.deallocate() } }

    /// Writes all of `dataset` from `values` (row-major, exactly its element count).
    public func write<T: HDF5Scalar>(_ values: UnsafeBufferPointer<T>, to dataset: H5Dataset) throws {
        let shape = try dataset.shape
        let rowElements = shape.dropFirst().reduce(1, *)
        guard values.count == shape.reduce(1, *) else { return try dataset.write(from: values) }
        try write(T.self, to: dataset) { rows, destination in
            let part = UnsafeBufferPointer(rebasing: values[(rows.lowerBound * rowElements)..<(rows.upperBound * rowElements)])
            _ = destination.initialize(from: part)
        }
    }

    /// Writes all of `dataset` from what `fill` puts in each part of it: rows `rows` (along the
    /// first dimension), row-major, at the start of the buffer it is given. `fill` runs on a
    /// second thread while the part before is written; a dataset this cannot move as chunks is
    /// filled whole (in one call) and written by `H5Dwrite`.
    public func write<T: HDF5Scalar>(_ type: T.Type, to dataset: H5Dataset,
                                     rows fill: @escaping (Range<Int>, UnsafeMutableBufferPointer<T>) -> Void) throws {
        try withHDF5 {
            guard let geometry = try ChunkGeometry(dataset, T.self) else {
                let shape = try dataset.shape
                let values = [T](unsafeUninitializedCapacity: shape.reduce(1, *)) { buffer, count in
                    fill(0..<(shape.first ?? 1), buffer)
                    count = buffer.count
                }
                return try dataset.write(values)
            }
            try dataset.requireWritable()
            let id = try dataset.liveID()
            let chunkBytes = geometry.chunkBytes
            reserve(chunkBytes + 4)
            let prepare = { (chunk: Int, buffer: UnsafeMutableRawBufferPointer) in
                let rows = (chunk * geometry.chunkRows)..<min((chunk + 1) * geometry.chunkRows, geometry.rows)
                let count = rows.count * geometry.rowBytes
                fill(rows, UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]).bindMemory(to: T.self))
                if count < chunkBytes {
                    // The edge chunk is stored whole, past the extent as HDF5's fill value.
                    (buffer.baseAddress! + count).initializeMemory(as: UInt8.self, repeating: 0, count: chunkBytes - count)
                }
                let sum = Fletcher32.checksum(UnsafeRawBufferPointer(rebasing: buffer[0..<chunkBytes]))
                withUnsafeBytes(of: sum.littleEndian) { (buffer.baseAddress! + chunkBytes).copyMemory(from: $0.baseAddress!, byteCount: 4) }
            }
            var offset = [hsize_t](repeating: 0, count: geometry.rank)
            prepare(0, buffers[0])
            for chunk in 0..<geometry.chunks {
                let current = buffers[chunk % 2]
                if chunk + 1 < geometry.chunks {
                    nonisolated(unsafe) let next = buffers[(chunk + 1) % 2]
                    worker.async(group: group) { prepare(chunk + 1, next) }
                }
                offset[0] = hsize_t(chunk * geometry.chunkRows)
                let status = H5Dwrite_chunk(id, chdf5_p_default(), 0, offset, chunkBytes + 4, current.baseAddress)
                group.wait()
                guard status >= 0 else {
                    throw HDF5Error.writeFailed(file: dataset.filePath, object: dataset.path,
                                                reason: dataset.reason("H5Dwrite_chunk failed at row \(offset[0])"))
                }
            }
        }
    }

    /// Reads all of `dataset` into `destination` (exactly its element count), verifying every
    /// chunk's checksum; `conversion` applies when the dataset is read through `H5Dread`.
    public func read<T: HDF5Scalar>(_ dataset: H5Dataset, into destination: UnsafeMutableBufferPointer<T>,
                                    conversion: HDF5Conversion = .exact) throws {
        try withHDF5 {
            guard let geometry = try ChunkGeometry(dataset, T.self), destination.count == geometry.elements else {
                return try dataset.read(into: destination, conversion: conversion)
            }
            let id = try dataset.liveID()
            let target = UnsafeMutableRawBufferPointer(destination)
            let chunkBytes = geometry.chunkBytes
            reserve(chunkBytes + 4)
            damaged = -1
            let check = { [unowned self] (chunk: Int, buffer: UnsafeMutableRawBufferPointer) in
                var stored: UInt32 = 0
                withUnsafeMutableBytes(of: &stored) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[chunkBytes..<chunkBytes + 4])) }
                stored = UInt32(littleEndian: stored)
                let sum = Fletcher32.checksum(UnsafeRawBufferPointer(rebasing: buffer[0..<chunkBytes]))
                guard stored == sum || stored == Fletcher32.legacyForm(sum) else {
                    self.damaged = chunk
                    return
                }
                let start = chunk * chunkBytes, count = min(chunkBytes, target.count - start)
                (target.baseAddress! + start).copyMemory(from: buffer.baseAddress!, byteCount: count)
            }
            var offset = [hsize_t](repeating: 0, count: geometry.rank)
            var whole = true  // every chunk stored filtered at full size
            for chunk in 0..<geometry.chunks {
                let current = buffers[chunk % 2]
                offset[0] = hsize_t(chunk * geometry.chunkRows)
                var size: hsize_t = 0, mask: UInt32 = 0
                whole = H5Dget_chunk_storage_size(id, offset, &size) >= 0 && size == hsize_t(chunkBytes + 4)
                    && H5Dread_chunk(id, chdf5_p_default(), offset, &mask, current.baseAddress) >= 0 && mask == 0
                group.wait()
                if !whole || damaged >= 0 { break }
                nonisolated(unsafe) let checked = current
                worker.async(group: group) { check(chunk, checked) }
            }
            group.wait()
            if damaged >= 0 {
                throw HDF5Error.readFailed(file: dataset.filePath, object: dataset.path,
                                           reason: "data error detected by Fletcher32 checksum")
            }
            if !whole {
                // A chunk never written, or stored some other way: HDF5 reads it as it is.
                _ = takeHDF5StackMessage()
                try dataset.read(into: destination, conversion: conversion)
            }
        }
    }

    /// Two buffers of at least `bytes`.
    private func reserve(_ bytes: Int) {
        if let first = buffers.first, first.count >= bytes { return }
        for buffer in buffers { buffer.deallocate() }
        buffers = (0..<2).map { _ in .allocate(byteCount: bytes, alignment: 64) }
    }
}

/// How a dataset that ``ChecksummedChunks`` can move is chunked.
struct ChunkGeometry {
    let rank: Int
    /// Elements of the dataset.
    let elements: Int
    /// Its first dimension, and the bytes of one index of it.
    let rows: Int, rowBytes: Int
    /// Rows (first-dimension indices) per chunk.
    let chunkRows: Int
    let chunks: Int
    /// Bytes of one chunk's data (before the checksum).
    let chunkBytes: Int

    /// Nil unless `dataset` is chunked along dimension 0 only, stored exactly as `T` and
    /// filtered by Fletcher-32 alone (called under the lock).
    init?<T: HDF5Scalar>(_ dataset: H5Dataset, _ type: T.Type) throws {
        let shape = try dataset.shape
        guard !shape.isEmpty, let chunkShape = try dataset.chunkShape, chunkShape.count == shape.count,
              Array(chunkShape.dropFirst()) == Array(shape.dropFirst()), shape.allSatisfy({ $0 > 0 }),
              let memoryType = T.hdf5ElementType.nativeTypeID else { return nil }
        let id = try dataset.liveID()
        let fileType = H5Dget_type(id)
        guard fileType >= 0 else { return nil }
        defer { _ = H5Tclose(fileType) }
        guard H5Tequal(fileType, memoryType) > 0, H5Tget_size(fileType) == MemoryLayout<T>.stride else { return nil }
        let creation = H5Dget_create_plist(id)
        guard creation >= 0 else { return nil }
        defer { _ = H5Pclose(creation) }
        var flags: UInt32 = 0, valueCount = 0, config: UInt32 = 0
        guard H5Pget_nfilters(creation) == 1,
              H5Pget_filter2(creation, 0, &flags, &valueCount, nil, 0, nil, &config) == H5Z_filter_t(H5Z_FILTER_FLETCHER32)
        else { return nil }
        rank = shape.count
        elements = shape.reduce(1, *)
        rows = shape[0]
        rowBytes = shape.dropFirst().reduce(1, *) * MemoryLayout<T>.stride
        chunkRows = chunkShape[0]
        chunks = (shape[0] + chunkRows - 1) / chunkRows
        chunkBytes = chunkShape.reduce(1, *) * MemoryLayout<T>.stride
    }
}

extension H5Dataset {
    /// The bytes of the chunk at `offset` as stored (filtered: data, then the checksum), and its
    /// filter mask; for tests that compare what HDF5 and ``ChecksummedChunks`` write.
    func storedChunk(at offset: [Int]) throws -> (bytes: [UInt8], filterMask: UInt32) {
        try withHDF5 {
            let id = try liveID()
            let start = offset.map { hsize_t($0) }
            var size: hsize_t = 0, mask: UInt32 = 0
            guard H5Dget_chunk_storage_size(id, start, &size) >= 0 else {
                throw HDF5Error.readFailed(file: filePath, object: path, reason: reason("no chunk at \(offset)"))
            }
            var bytes = [UInt8](repeating: 0, count: Int(size))
            guard H5Dread_chunk(id, chdf5_p_default(), start, &mask, &bytes) >= 0 else {
                throw HDF5Error.readFailed(file: filePath, object: path, reason: reason("H5Dread_chunk failed"))
            }
            return (bytes, mask)
        }
    }
}
