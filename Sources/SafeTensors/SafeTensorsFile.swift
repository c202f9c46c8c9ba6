import Foundation

/// A safetensors file, memory-mapped: an 8-byte little-endian header length, a JSON header
/// (each tensor's `dtype`, `shape` and `data_offsets` into the data that follows, plus an
/// optional `__metadata__` of strings), then the raw little-endian data.
///
/// Opening checks the whole header against the file (every problem is one `SafeTensorsError`
/// line naming the file); the data is read only when a tensor is, straight from the mapping,
/// and the pages of a tensor read are handed back (`MappedFile.release`), so reading a file of
/// any size holds at most one tensor's pages besides the caller's buffers.
public final class SafeTensorsFile {
    /// One tensor of the header.
    public struct Entry: Equatable, Sendable {
        public let name: String
        public let dtype: SafeTensorsDType
        public let shape: [Int]
        /// Byte range within the data (after the header).
        public let dataOffsets: Range<Int>
        public init(name: String, dtype: SafeTensorsDType, shape: [Int], dataOffsets: Range<Int>) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.dataOffsets = dataOffsets
        }
        /// Number of elements (the product of `shape`; 1 for a scalar).
        public var elementCount: Int { shape.reduce(1, *) }
    }

    /// Bytes before the header: its length, a little-endian UInt64.
    public static let headerLengthSize = 8
    /// The header key that holds the file's string metadata rather than a tensor.
    public static let metadataKey = "__metadata__"

    public let path: String
    /// Every tensor, in the order of its data.
    public let entries: [Entry]
    /// `__metadata__` (empty when absent).
    public let metadata: [String: String]
    private let mapping: MappedFile
    private let dataStart: Int
    private let index: [String: Int]

    /// Maps the file at `path` and checks its header.
    public init(path: String) throws {
        self.path = path
        mapping = try MappedFile(path: path)
        let bytes = mapping.bytes
        func fail(_ kind: SafeTensorsError.Kind, _ message: String) -> SafeTensorsError {
            SafeTensorsError(path: path, kind, message)
        }
        guard bytes.count >= Self.headerLengthSize else {
            throw fail(.truncated, "is \(bytes.count) bytes long, shorter than the 8-byte header length (truncated, or not safetensors)")
        }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        let available = UInt64(bytes.count - Self.headerLengthSize)
        guard headerLength <= available else {
            throw fail(.headerPastEnd, "header length \(headerLength) runs past the end of the file (\(bytes.count) bytes): truncated, or not safetensors")
        }
        dataStart = Self.headerLengthSize + Int(headerLength)
        let dataSize = bytes.count - dataStart
        let header = Data(bytes[Self.headerLengthSize..<dataStart])
        (entries, metadata) = try Self.parseHeader(header, dataSize: dataSize, fail: fail)
        var index: [String: Int] = [:]
        for (i, entry) in entries.enumerated() { index[entry.name] = i }
        self.index = index
    }

    /// The tensor called `name`, or nil.
    public func entry(named name: String) -> Entry? {
        index[name].map { entries[$0] }
    }

    /// The raw bytes of `entry`'s data, inside the mapping (valid while this file lives).
    public func rawBytes(of entry: Entry) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapping.bytes[(dataStart + entry.dataOffsets.lowerBound)..<(dataStart + entry.dataOffsets.upperBound)])
    }

    /// Hands the pages of `entry`'s data back (after reading them through ``rawBytes(of:)``):
    /// the kernel keeps them in its page cache and maps them again if they are touched.
    public func release(_ entry: Entry) {
        mapping.release(rawBytes(of: entry))
    }

    /// Reads tensor `name` into `destination` (exactly its element count), converting F16 and
    /// BF16 to Float32. Throws for a missing tensor, another dtype or a wrong-sized buffer.
    public func read(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        guard let entry = entry(named: name) else {
            throw SafeTensorsError(path: path, .missingTensor, "has no tensor '\(name)'")
        }
        guard entry.dtype.isReadable else {
            throw SafeTensorsError(path: path, .unsupportedDType,
                                   "tensor '\(name)' is \(entry.dtype.rawValue); gpt-dist reads F32, F16 and BF16")
        }
        guard destination.count == entry.elementCount else {
            throw SafeTensorsError(path: path, .invalidArgument,
                                   "tensor '\(name)' has \(entry.elementCount) elements, the buffer \(destination.count)")
        }
        let source = rawBytes(of: entry)
        guard let out = destination.baseAddress, entry.elementCount > 0 else { return }
        // safetensors data is little-endian, as every host gpt-dist builds for.
        switch entry.dtype {
        case .f32:
            UnsafeMutableRawPointer(out).copyMemory(from: source.baseAddress!, byteCount: source.count)
        case .f16:
            for i in 0..<entry.elementCount {
                out[i] = Self.float(half: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            }
        case .bf16:
            for i in 0..<entry.elementCount {
                out[i] = Float(bitPattern: UInt32(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
            }
        default:
            preconditionFailure("isReadable covers F32, F16 and BF16")
        }
        mapping.release(source)
    }

    /// Tensor `name` as Float32 values.
    public func floats(_ name: String) throws -> [Float] {
        let count = entry(named: name)?.elementCount ?? 0
        var values = [Float](repeating: 0, count: count)
        try values.withUnsafeMutableBufferPointer { try read(name, into: $0) }
        return values
    }

    /// IEEE half precision bits as a Float32 (exact: every half is a float).
    static func float(half bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = Int(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x03FF)
        switch exponent {
        case 0:  // zero or subnormal: mantissa · 2^-24
            return Float(bitPattern: sign) + (sign == 0 ? 1 : -1) * Float(mantissa) * 0x1p-24
        case 0x1F:  // infinity or NaN
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        default:
            return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
        }
    }

    /// The tensors (in data order) and metadata of a header, checked against the data size.
    private static func parseHeader(_ header: Data, dataSize: Int,
                                    fail: (SafeTensorsError.Kind, String) -> SafeTensorsError) throws -> ([Entry], [String: String]) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: header)
        } catch {
            throw fail(.invalidHeader, "the \(header.count)-byte header is not JSON")
        }
        guard let table = object as? [String: Any] else { throw fail(.invalidHeader, "the header is not a JSON object") }
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        for (name, value) in table {
            if name == metadataKey {
                guard let pairs = value as? [String: Any] else { throw fail(.invalidHeader, "__metadata__ is not an object") }
                for (key, text) in pairs {
                    guard let text = text as? String else { throw fail(.invalidHeader, "__metadata__ '\(key)' is not a string") }
                    metadata[key] = text
                }
                continue
            }
            guard let fields = value as? [String: Any] else { throw fail(.invalidHeader, "tensor '\(name)' is not an object") }
            guard let dtypeName = fields["dtype"] as? String else { throw fail(.invalidHeader, "tensor '\(name)' has no dtype string") }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                throw fail(.unknownDType, "tensor '\(name)' has dtype '\(dtypeName)', which is not a safetensors dtype")
            }
            guard let shape = integers(fields["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail(.invalidHeader, "tensor '\(name)' has no shape of non-negative integers")
            }
            guard let offsets = integers(fields["data_offsets"]), offsets.count == 2,
                  offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw fail(.invalidHeader, "tensor '\(name)' has no data_offsets [begin, end] with 0 <= begin <= end")
            }
            var bytes = dtype.size
            for extent in shape {
                let (product, overflow) = bytes.multipliedReportingOverflow(by: extent)
                guard !overflow else { throw fail(.shapeMismatch, "tensor '\(name)' has shape \(shape), too large") }
                bytes = product
            }
            let range = offsets[0]..<offsets[1]
            guard bytes == range.count else {
                throw fail(.shapeMismatch, "tensor '\(name)' has shape \(shape) (\(bytes) bytes of \(dtype.rawValue)) but data_offsets [\(range.lowerBound), \(range.upperBound)] hold \(range.count) bytes")
            }
            guard range.upperBound <= dataSize else {
                throw fail(.outOfBounds, "tensor '\(name)' data_offsets [\(range.lowerBound), \(range.upperBound)] reach past the end of the data (\(dataSize) bytes): truncated file?")
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, dataOffsets: range))
        }
        entries.sort { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound, $0.name) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound, $1.name) }
        for (previous, next) in zip(entries, entries.dropFirst())
        where next.dataOffsets.lowerBound < previous.dataOffsets.upperBound && !next.dataOffsets.isEmpty {
            throw fail(.overlap, "tensors '\(previous.name)' [\(previous.dataOffsets.lowerBound), \(previous.dataOffsets.upperBound)] and '\(next.name)' [\(next.dataOffsets.lowerBound), \(next.dataOffsets.upperBound)] overlap")
        }
        return (entries, metadata)
    }

    /// A JSON array of whole numbers, or nil.
    private static func integers(_ value: Any?) -> [Int]? {
        guard let array = value as? [Any] else { return nil }
        var result: [Int] = []
        for element in array {
            guard let number = element as? NSNumber, let whole = Int(exactly: number.doubleValue) else { return nil }
            result.append(whole)
        }
        return result
    }
}
