import CHDF5
import Foundation

/// An open HDF5 file. It is also its root group ("/"): every ``H5Group`` method (groups,
/// datasets, links, attributes of the root group) works on it directly.
///
/// Writing safely is the caller's job: create the file under a temporary name with
/// ``CreateMode/failIfExists``, write, ``close()``, then rename it into place.
public final class H5File: H5Group, @unchecked Sendable {
    /// What ``create(at:mode:)`` does when a file already exists at the path.
    public enum CreateMode: Sendable {
        /// Replace the existing file.
        case truncate
        /// Throw ``HDF5Error/fileExists(file:)``.
        case failIfExists
    }

    /// How ``open(at:mode:)`` opens a file.
    public enum OpenMode: Sendable {
        case readOnly
        case readWrite
    }

    /// Whether the file was opened read-only.
    public let isReadOnly: Bool
    /// Whether datasets created in this file carry HDF5's Fletcher-32 checksum filter (each chunk
    /// checked by the library when it is read; h5py reads them as any other). Always-empty and
    /// scalar datasets, which have no chunks, carry none.
    public let checksumsDatasets: Bool

    private init(id: hid_t, filePath: String, readOnly: Bool, checksumsDatasets: Bool = false) {
        self.isReadOnly = readOnly
        self.checksumsDatasets = checksumsDatasets
        super.init(id: id, kind: .file, filePath: filePath, path: "/", owner: nil)
    }

    /// Creates a new file at `path`, replacing an existing one unless `mode` is
    /// ``CreateMode/failIfExists``; with `checksums`, every dataset created in it carries a
    /// Fletcher-32 checksum (``checksumsDatasets``).
    public static func create(at path: String, mode: CreateMode = .truncate, checksums: Bool = false) throws -> H5File {
        try withHDF5 {
            if mode == .failIfExists, FileManager.default.fileExists(atPath: path) {
                throw HDF5Error.fileExists(file: path)
            }
            let access = try fileAccessList(path)
            defer { _ = H5Pclose(access) }
            // The HDF5 1.8 object format lifts the 64 KiB limit on one attribute (dense storage);
            // HDF5 1.8+ and h5py read it.
            guard H5Pset_libver_bounds(access, H5F_LIBVER_V18, H5F_LIBVER_V18) >= 0 else {
                throw HDF5Error.cannotOpenFile(file: path, reason: takeHDF5StackMessage() ?? "H5Pset_libver_bounds failed")
            }
            let flags = mode == .truncate ? chdf5_f_acc_trunc() : chdf5_f_acc_excl()
            let id = H5Fcreate(path, flags, chdf5_p_default(), access)
            guard id >= 0 else {
                let reason = takeHDF5StackMessage() ?? "H5Fcreate failed"
                if mode == .failIfExists, FileManager.default.fileExists(atPath: path) {
                    throw HDF5Error.fileExists(file: path)
                }
                throw HDF5Error.cannotOpenFile(file: path, reason: reason)
            }
            return H5File(id: id, filePath: path, readOnly: false, checksumsDatasets: checksums)
        }
    }

    /// Creates a new file at `url` (see ``create(at:mode:)-(String,_)``).
    public static func create(at url: URL, mode: CreateMode = .truncate) throws -> H5File {
        try create(at: url.path, mode: mode)
    }

    /// Opens an existing HDF5 file. Throws ``HDF5Error/fileNotFound(file:)`` or
    /// ``HDF5Error/notHDF5File(file:)`` before asking the library to open it.
    public static func open(at path: String, mode: OpenMode = .readOnly) throws -> H5File {
        try withHDF5 {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw HDF5Error.fileNotFound(file: path)
            }
            if isDirectory.boolValue {
                throw HDF5Error.cannotOpenFile(file: path, reason: "is a directory")
            }
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw HDF5Error.cannotOpenFile(file: path, reason: "permission denied")
            }
            let signature = H5Fis_hdf5(path)
            if signature == 0 { throw HDF5Error.notHDF5File(file: path) }
            if signature < 0 {
                throw HDF5Error.cannotOpenFile(file: path, reason: takeHDF5StackMessage() ?? "H5Fis_hdf5 failed")
            }
            let access = try fileAccessList(path)
            defer { _ = H5Pclose(access) }
            let flags = mode == .readOnly ? chdf5_f_acc_rdonly() : chdf5_f_acc_rdwr()
            let id = H5Fopen(path, flags, access)
            guard id >= 0 else {
                throw HDF5Error.cannotOpenFile(file: path, reason: takeHDF5StackMessage() ?? "H5Fopen failed")
            }
            return H5File(id: id, filePath: path, readOnly: mode == .readOnly)
        }
    }

    /// Opens an existing HDF5 file at `url` (see ``open(at:mode:)-(String,_)``).
    public static func open(at url: URL, mode: OpenMode = .readOnly) throws -> H5File {
        try open(at: url.path, mode: mode)
    }

    /// Writes buffered data and metadata of the whole file to disk.
    public func flush() throws {
        try withHDF5 {
            let id = try liveID()
            guard H5Fflush(id, H5F_SCOPE_GLOBAL) >= 0 else {
                throw HDF5Error.writeFailed(file: filePath, object: "/", reason: reason("flush failed"))
            }
        }
    }

    /// File access properties: closing the file closes every object opened from it (so
    /// ``close()`` really releases the file before a rename), and file locking is used where
    /// the file system supports it but does not fail where it does not (NFS, some parallel
    /// file systems).
    private static func fileAccessList(_ path: String) throws -> hid_t {
        let access = H5Pcreate(chdf5_p_file_access())
        guard access >= 0 else {
            throw HDF5Error.cannotOpenFile(file: path, reason: takeHDF5StackMessage() ?? "H5Pcreate failed")
        }
        guard H5Pset_fclose_degree(access, H5F_CLOSE_STRONG) >= 0,
              H5Pset_file_locking(access, true, true) >= 0 else {
            _ = H5Pclose(access)
            throw HDF5Error.cannotOpenFile(file: path, reason: takeHDF5StackMessage() ?? "H5Pset failed")
        }
        return access
    }
}
