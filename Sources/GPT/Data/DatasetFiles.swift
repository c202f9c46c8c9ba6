import Foundation
import HDF5

/// Writes one shard file: dataset `/tokens` and the attributes of docs/dataset-format.md.
enum ShardFile {
    static func write<T: HDF5Scalar>(header: ShardHeader, tokens: [T], to path: String) throws {
        try DatasetFiles.translating(path) {
            let file = try H5File.create(at: path, mode: .truncate)
            defer { file.close() }
            try DatasetFiles.writeCommon(file, id: header.datasetID, vocabularySize: header.vocabularySize,
                                         kind: header.tokenizerKind, width: header.width, sourceFiles: header.sourceFiles)
            try file.setAttribute("split", header.split.rawValue)
            try file.setAttribute("shard_index", header.index)
            try file.setAttribute("token_count", header.tokenCount)
            try file.setAttribute("first_token", header.firstToken)
            try file.createDataset("tokens", values: tokens)
            try file.flush()
        }
    }

    /// Reads and checks a shard's header: it must be one of our shards, of dataset `info`,
    /// split `split`, index `index`, starting at `firstToken`.
    static func open(path: String, info: DatasetInfo, split: DataSplit, index: Int, firstToken: Int,
                     cache: OpenShardCache) throws -> HDF5ShardSource {
        try DatasetFiles.translating(path, corrupt: true) {
            let file = try H5File.open(at: path)
            try DatasetFiles.requireFormat(file, path: path)
            func bad(_ reason: String) -> DataError { .corruptDataset(path: path, reason: reason) }
            guard try file.attribute("dataset_id", as: String.self) == info.id else {
                throw bad("belongs to another dataset (its dataset_id differs from meta.h5's)")
            }
            let vocab = try file.attribute("vocab_size", as: Int.self)
            guard vocab == info.vocabularySize else {
                throw bad("vocab_size is \(vocab), meta.h5 says \(info.vocabularySize)")
            }
            guard try file.attribute("split", as: String.self) == split.rawValue,
                  try file.attribute("shard_index", as: Int.self) == index else {
                throw bad("its split/shard_index attributes do not match its name")
            }
            let first = try file.attribute("first_token", as: Int.self)
            guard first == firstToken else { throw bad("first_token is \(first), expected \(firstToken)") }
            let count = try file.attribute("token_count", as: Int.self)
            let tokens = try file.dataset("tokens")
            let shape = try tokens.shape
            guard shape == [count] else { throw bad("/tokens has shape \(shape), expected [\(count)] (token_count)") }
            let type = try tokens.elementType
            guard type.description == info.width.rawValue else {
                throw bad("/tokens is \(type), expected \(info.width.rawValue)")
            }
            defer {
                tokens.close()
                file.close()
            }
            let conversion: HDF5Conversion = info.width == .uint16 ? .lossless : .numeric
            // Reading the last token catches a file cut short after its metadata.
            if count > 0 {
                let last = try tokens.read(offset: count - 1, count: 1, as: Int32.self, conversion: conversion)[0]
                guard last >= 0 && Int(last) < info.vocabularySize else {
                    throw bad("token \(last) at position \(count - 1) is outside the vocabulary of \(info.vocabularySize)")
                }
            }
            return HDF5ShardSource(path: path, tokenCount: count, conversion: conversion, cache: cache)
        }
    }
}

/// Token reads from one shard, opened on first use and kept open while the cache allows.
final class HDF5ShardSource: ShardTokenSource {
    let path: String
    let tokenCount: Int
    let conversion: HDF5Conversion
    private let cache: OpenShardCache
    fileprivate var open: (file: H5File, tokens: H5Dataset)?

    init(path: String, tokenCount: Int, conversion: HDF5Conversion, cache: OpenShardCache) {
        self.path = path
        self.tokenCount = tokenCount
        self.conversion = conversion
        self.cache = cache
    }

    deinit {
        close()
        cache.closed(self)
    }

    /// A hyperslab read of `range`, converted by HDF5 from the stored width to Int32.
    func read(_ range: Range<Int>, into target: UnsafeMutablePointer<Int32>) throws {
        do {
            let tokens = try openTokens()
            try tokens.read(offset: range.lowerBound, count: range.count,
                            into: UnsafeMutableBufferPointer(start: target, count: range.count), conversion: conversion)
        } catch let error as HDF5Error {
            throw DataError.corruptDataset(path: path, reason: "reading tokens \(range.lowerBound)..<\(range.upperBound): \(error.message)")
        }
    }

    private func openTokens() throws -> H5Dataset {
        if let open {
            cache.touch(self)
            return open.tokens
        }
        let file = try H5File.open(at: path)
        do {
            open = (file, try file.dataset("tokens"))
        } catch {
            file.close()
            throw error
        }
        cache.opened(self)
        return open!.tokens
    }

    func close() {
        open?.tokens.close()
        open?.file.close()
        open = nil
    }
}

/// Keeps at most `limit` shard files open (least recently used closed first), so a dataset of
/// thousands of shards does not run out of file descriptors.
final class OpenShardCache {
    let limit: Int
    private var order: [ObjectIdentifier] = []
    private var sources: [ObjectIdentifier: Unowned] = [:]
    private struct Unowned { unowned let source: HDF5ShardSource }

    init(limit: Int = 32) { self.limit = max(1, limit) }

    /// Number of shard files open now.
    var openCount: Int { order.count }

    func opened(_ source: HDF5ShardSource) {
        let id = ObjectIdentifier(source)
        order.append(id)
        sources[id] = Unowned(source: source)
        while order.count > limit {
            let oldest = order.removeFirst()
            sources.removeValue(forKey: oldest)?.source.close()
        }
    }

    func touch(_ source: HDF5ShardSource) {
        let id = ObjectIdentifier(source)
        guard order.last != id, let index = order.lastIndex(of: id) else { return }
        order.remove(at: index)
        order.append(id)
    }

    func closed(_ source: HDF5ShardSource) {
        let id = ObjectIdentifier(source)
        if let index = order.firstIndex(of: id) { order.remove(at: index) }
        sources.removeValue(forKey: id)
    }
}

/// Writes `meta.h5`.
enum MetaFile {
    static func write(_ info: DatasetInfo, to path: String) throws {
        try DatasetFiles.translating(path) {
            let file = try H5File.create(at: path, mode: .truncate)
            defer { file.close() }
            try DatasetFiles.writeCommon(file, id: info.id, vocabularySize: info.vocabularySize,
                                         kind: info.tokenizer.kind, width: info.width, sourceFiles: info.sourceFiles)
            try file.setAttribute("train_tokens", info.trainTokens)
            try file.setAttribute("val_tokens", info.valTokens)
            try file.setAttribute("train_shards", info.trainShards)
            try file.setAttribute("val_shards", info.valShards)
            try file.setAttribute("shard_tokens", info.shardTokens)
            try TokenizerStore.save(info.tokenizer, in: file.createGroup("tokenizer"))
            try file.flush()
        }
    }

    static func read(path: String) throws -> DatasetInfo {
        try DatasetFiles.translating(path, corrupt: true) {
            let file = try H5File.open(at: path)
            defer { file.close() }
            try DatasetFiles.requireFormat(file, path: path)
            guard try file.exists("tokenizer") else {
                throw DataError.corruptDataset(path: path, reason: "no /tokenizer group")
            }
            let group = try file.group("tokenizer")
            defer { group.close() }
            let tokenizer = try TokenizerStore.load(from: group)
            let vocab = try file.attribute("vocab_size", as: Int.self)
            guard vocab == tokenizer.vocabularySize else {
                throw DataError.corruptDataset(path: path, reason: "vocab_size is \(vocab) but the tokenizer has \(tokenizer.vocabularySize) tokens")
            }
            let widthName = try file.attribute("dtype", as: String.self)
            guard let width = TokenWidth(rawValue: widthName) else {
                throw DataError.corruptDataset(path: path, reason: "unknown dtype '\(widthName)'")
            }
            let info = DatasetInfo(id: try file.attribute("dataset_id", as: String.self), tokenizer: tokenizer, width: width,
                                   trainTokens: try file.attribute("train_tokens", as: Int.self),
                                   valTokens: try file.attribute("val_tokens", as: Int.self),
                                   trainShards: try file.attribute("train_shards", as: Int.self),
                                   valShards: try file.attribute("val_shards", as: Int.self),
                                   shardTokens: try file.attribute("shard_tokens", as: Int.self),
                                   sourceFiles: try file.attribute("source_files", as: [String].self))
            guard info.trainTokens >= 0, info.valTokens >= 0, info.trainShards >= 0, info.valShards >= 0 else {
                throw DataError.corruptDataset(path: path, reason: "negative token or shard counts")
            }
            return info
        }
    }
}

/// Opening a dataset folder, and the pieces shared by its files.
enum DatasetFiles {
    static func open(directory: String, openShardLimit: Int = 32) throws -> (info: DatasetInfo, splits: [DataSplit: SplitReader]) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DataError.notADataset(path: directory, reason: "no such folder")
        }
        let folder = URL(fileURLWithPath: directory)
        let metaPath = folder.appendingPathComponent(DatasetInfo.metaFileName).path
        guard FileManager.default.fileExists(atPath: metaPath) else {
            throw DataError.notADataset(path: directory, reason: "no \(DatasetInfo.metaFileName) (run gpt-dist prepare, or it did not finish)")
        }
        let info = try MetaFile.read(path: metaPath)
        var splits: [DataSplit: SplitReader] = [:]
        let cache = OpenShardCache(limit: openShardLimit)
        for split in DataSplit.allCases {
            var shards: [ShardTokenSource] = []
            var position = 0
            for index in 0..<info.shards(split) {
                let path = folder.appendingPathComponent(ShardSpec.fileName(split: split, index: index)).path
                guard FileManager.default.fileExists(atPath: path) else {
                    throw DataError.corruptDataset(path: path, reason: "missing (meta.h5 lists \(info.shards(split)) \(split.rawValue) shards)")
                }
                let shard = try ShardFile.open(path: path, info: info, split: split, index: index, firstToken: position, cache: cache)
                position += shard.tokenCount
                shards.append(shard)
            }
            guard position == info.tokens(split) else {
                throw DataError.corruptDataset(path: metaPath, reason: "\(split.rawValue)_tokens is \(info.tokens(split)) but the shards hold \(position)")
            }
            splits[split] = SplitReader(shards: shards)
        }
        return (info, splits)
    }

    static func writeCommon(_ file: H5File, id: String, vocabularySize: Int, kind: TokenizerKind,
                            width: TokenWidth, sourceFiles: [String]) throws {
        try file.setAttribute("format", DatasetInfo.format)
        try file.setAttribute("format_version", DatasetInfo.formatVersion)
        try file.setAttribute("dataset_id", id)
        try file.setAttribute("vocab_size", vocabularySize)
        try file.setAttribute("tokenizer", kind.rawValue)
        try file.setAttribute("dtype", width.rawValue)
        try file.setAttribute("source_files", sourceFiles)
    }

    /// Throws unless `file` carries our `format` attribute and a version we read.
    static func requireFormat(_ file: H5File, path: String) throws {
        guard try file.hasAttribute("format"),
              try file.attribute("format", as: String.self) == DatasetInfo.format else {
            throw DataError.notADataset(path: path, reason: "an HDF5 file without format = \(DatasetInfo.format)")
        }
        let version = try file.attribute("format_version", as: Int.self)
        guard version == DatasetInfo.formatVersion else {
            throw DataError.notADataset(path: path, reason: "format_version \(version); this build reads \(DatasetInfo.formatVersion)")
        }
    }

    /// Runs `body`, turning HDF5 errors into one-line `DataError`s that name `path`.
    static func translating<R>(_ path: String, corrupt: Bool = false, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as HDF5Error {
            let detail = (error.object.map { "\($0): " } ?? "") + error.message
            if corrupt {
                if case .notHDF5File = error { throw DataError.notADataset(path: path, reason: "not an HDF5 file") }
                throw DataError.corruptDataset(path: path, reason: detail)
            }
            throw DataError.writeFailed(path: path, reason: detail)
        }
    }
}
