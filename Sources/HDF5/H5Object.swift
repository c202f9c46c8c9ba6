import CHDF5

/// The kinds of object an HDF5 path can name.
public enum H5ObjectKind: String, Sendable, CustomStringConvertible {
    case group
    case dataset
    case namedDatatype = "named datatype"
    case unknown = "unknown object"

    public var description: String { rawValue }

    init(_ type: H5O_type_t) {
        switch type {
        case H5O_TYPE_GROUP: self = .group
        case H5O_TYPE_DATASET: self = .dataset
        case H5O_TYPE_NAMED_DATATYPE: self = .namedDatatype
        default: self = .unknown
        }
    }
}

/// An open HDF5 object (file, group or dataset). It owns its identifier and closes it when
/// released or when ``close()`` is called.
///
/// Objects keep their ``H5File`` alive, so `try H5File.open(at: p).dataset("x")` is safe; closing
/// the file explicitly closes everything opened from it (later calls throw ``HDF5Error/closed``).
/// All methods are safe to call from any thread: calls are serialised by ``HDF5Library``.
public class H5Object: @unchecked Sendable {
    enum Kind { case file, group, dataset }

    /// The identifier; guarded by the library lock. 0 once closed.
    private var rawID: hid_t
    private let kind: Kind
    /// The file this object lives in, nil for the file object itself (avoids a cycle).
    private let owner: H5File?

    /// Path of the file on disk, for messages.
    public let filePath: String
    /// Absolute path of this object inside the file ("/" for a file).
    public let path: String

    init(id: hid_t, kind: Kind, filePath: String, path: String, owner: H5File?) {
        self.rawID = id
        self.kind = kind
        self.filePath = filePath
        self.path = path
        self.owner = owner
    }

    deinit {
        withHDF5 { closeID() }
    }

    /// The file this object belongs to.
    public var file: H5File {
        // The only object without an owner is the file itself.
        owner ?? (self as! H5File)
    }

    /// Closes the object now instead of when it is released. Closing twice is harmless.
    /// Closing an ``H5File`` also closes every object opened from it.
    public func close() {
        withHDF5 { closeID() }
    }

    /// True until the object or its file is closed.
    public var isOpen: Bool {
        withHDF5 { rawID > 0 && H5Iis_valid(rawID) > 0 }
    }

    private func closeID() {
        guard rawID > 0 else { return }
        if H5Iis_valid(rawID) > 0 {
            switch kind {
            case .file: _ = H5Fclose(rawID)
            case .group: _ = H5Gclose(rawID)
            case .dataset: _ = H5Dclose(rawID)
            }
        }
        rawID = 0
        _ = H5Eclear2(chdf5_e_default())
    }

    /// The identifier, or ``HDF5Error/closed`` if this object or its file has been closed.
    /// Call under the library lock.
    func liveID() throws -> hid_t {
        guard rawID > 0, H5Iis_valid(rawID) > 0 else {
            throw HDF5Error.closed(file: filePath, object: path)
        }
        return rawID
    }

    /// Throws ``HDF5Error/writeFailed`` naming `object` (default: this object) if the file was
    /// opened read-only, before HDF5 is asked to write.
    func requireWritable(_ object: String? = nil) throws {
        if file.isReadOnly {
            throw HDF5Error.writeFailed(file: filePath, object: object ?? path, reason: "file is open read-only")
        }
    }

    /// The absolute path of `name` relative to this object.
    func absolutePath(_ name: String) -> String {
        ObjectPath.resolve(name, from: path)
    }

    /// HDF5's most specific message for the call that just failed, or `fallback`.
    func reason(_ fallback: String) -> String {
        takeHDF5StackMessage() ?? fallback
    }
}
