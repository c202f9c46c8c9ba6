// Placeholder until the HDF5 layer lands (branch hdf5).
enum DatasetFiles {
    static func open(directory: String) throws -> (info: DatasetInfo, splits: [DataSplit: SplitReader]) {
        throw DataError.notADataset(path: directory, reason: "HDF5 layer not built yet")
    }
}
enum ShardFile {
    static func write<T: FixedWidthInteger>(header: ShardHeader, tokens: [T], to path: String) throws {
        throw DataError.writeFailed(path: path, reason: "HDF5 layer not built yet")
    }
}
enum MetaFile {
    static func write(_ info: DatasetInfo, to path: String) throws {
        throw DataError.writeFailed(path: path, reason: "HDF5 layer not built yet")
    }
}
