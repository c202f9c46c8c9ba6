import CHDF5

/// An HDF5 group: a directory of named links to groups and datasets.
///
/// Paths given to its methods are relative to the group, or absolute when they start with "/".
public class H5Group: H5Object, @unchecked Sendable {
    /// Whether `name` leads to an existing object (false, not an error, when an intermediate
    /// group is missing).
    public func exists(_ name: String) throws -> Bool {
        try withHDF5 {
            let id = try liveID()
            return linkExists(id, name)
        }
    }

    /// The kind of object at `name`, or nil when nothing is there.
    public func kind(of name: String) throws -> H5ObjectKind? {
        try withHDF5 {
            let id = try liveID()
            guard linkExists(id, name) else { return nil }
            return try objectInfo(id, name).kind
        }
    }

    /// Creates a group at `name`, creating missing intermediate groups too.
    /// Throws ``HDF5Error/objectExists(file:object:)`` if something is already there.
    @discardableResult
    public func createGroup(_ name: String) throws -> H5Group {
        try withHDF5 {
            let id = try liveID()
            let target = absolutePath(name)
            if linkExists(id, name) { throw HDF5Error.objectExists(file: filePath, object: target) }
            try requireWritable(target)
            let linkCreation = try intermediateGroupLinkList(target)
            defer { _ = H5Pclose(linkCreation) }
            let groupID = H5Gcreate2(id, name, linkCreation, chdf5_p_default(), chdf5_p_default())
            guard groupID >= 0 else {
                throw HDF5Error.writeFailed(file: filePath, object: target, reason: reason("cannot create group"))
            }
            return H5Group(id: groupID, kind: .group, filePath: filePath, path: target, owner: file)
        }
    }

    /// Opens the existing group at `name`.
    public func group(_ name: String) throws -> H5Group {
        try withHDF5 {
            let id = try liveID()
            let target = try requireObject(id, name, kind: .group)
            let groupID = H5Gopen2(id, ObjectPath.libraryName(name), chdf5_p_default())
            guard groupID >= 0 else {
                throw HDF5Error.readFailed(file: filePath, object: target, reason: reason("cannot open group"))
            }
            return H5Group(id: groupID, kind: .group, filePath: filePath, path: target, owner: file)
        }
    }

    /// Opens the group at `name`, creating it (and intermediate groups) if it is missing.
    public func openOrCreateGroup(_ name: String) throws -> H5Group {
        try withHDF5 {
            try exists(name) ? group(name) : createGroup(name)
        }
    }

    /// Names of the links directly in this group, in name order.
    public func childNames() throws -> [String] {
        try withHDF5 {
            let id = try liveID()
            var info = H5G_info_t()
            guard H5Gget_info(id, &info) >= 0 else {
                throw HDF5Error.readFailed(file: filePath, object: path, reason: reason("cannot list group"))
            }
            return try (0..<info.nlinks).map { index in
                let length = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0,
                                                chdf5_p_default())
                guard length >= 0 else {
                    throw HDF5Error.readFailed(file: filePath, object: path, reason: reason("cannot read link name"))
                }
                var bytes = [CChar](repeating: 0, count: Int(length) + 1)
                guard H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &bytes, bytes.count,
                                         chdf5_p_default()) >= 0 else {
                    throw HDF5Error.readFailed(file: filePath, object: path, reason: reason("cannot read link name"))
                }
                return String(cString: bytes)
            }
        }
    }

    /// Absolute paths of every dataset below this group, depth first in name order. A dataset
    /// reachable under several names (hard links) is listed under each.
    public func datasetPaths() throws -> [String] {
        try withHDF5 {
            var paths: [String] = []
            for child in try childNames() {
                let childPath = absolutePath(child)
                switch try kind(of: child) {
                case .dataset?: paths.append(childPath)
                case .group?: paths += try group(child).datasetPaths()
                default: break
                }
            }
            return paths
        }
    }

    /// Removes the link at `name`. The object itself goes away when no link points to it.
    public func deleteLink(_ name: String) throws {
        try withHDF5 {
            let id = try liveID()
            let target = absolutePath(name)
            guard linkExists(id, name) else { throw HDF5Error.objectNotFound(file: filePath, object: target) }
            try requireWritable(target)
            guard H5Ldelete(id, name, chdf5_p_default()) >= 0 else {
                throw HDF5Error.writeFailed(file: filePath, object: target, reason: reason("cannot delete link"))
            }
        }
    }

    /// Makes `name` a hard link to the existing object at `target`: both names then refer to the
    /// same data (e.g. `link(target: "/model/transformer.wte.weight", as: "/model/lm_head.weight")`).
    /// Missing intermediate groups of `name` are created.
    public func link(target: String, as name: String) throws {
        try withHDF5 {
            let id = try liveID()
            _ = try requireObject(id, target, kind: nil)
            let newPath = absolutePath(name)
            if linkExists(id, name) { throw HDF5Error.objectExists(file: filePath, object: newPath) }
            try requireWritable(newPath)
            let linkCreation = try intermediateGroupLinkList(newPath)
            defer { _ = H5Pclose(linkCreation) }
            guard H5Lcreate_hard(id, target, id, name, linkCreation, chdf5_p_default()) >= 0 else {
                throw HDF5Error.writeFailed(file: filePath, object: newPath,
                                            reason: reason("cannot link to \(absolutePath(target))"))
            }
        }
    }

    /// Whether the paths `first` and `second` name the very same object (hard links to it).
    public func isSameObject(_ first: String, _ second: String) throws -> Bool {
        try withHDF5 {
            let id = try liveID()
            _ = try requireObject(id, first, kind: nil)
            _ = try requireObject(id, second, kind: nil)
            let a = try objectInfo(id, first), b = try objectInfo(id, second)
            return a.fileNumber == b.fileNumber && a.address == b.address
        }
    }

    /// How many hard links point to the object at `name`.
    public func linkCount(_ name: String) throws -> Int {
        try withHDF5 {
            let id = try liveID()
            _ = try requireObject(id, name, kind: nil)
            return try objectInfo(id, name).referenceCount
        }
    }

    // MARK: - Internals shared with the dataset extension (all called under the lock)

    /// True when every component of `name` exists and the final link resolves to an object.
    func linkExists(_ id: hid_t, _ name: String) -> Bool {
        let prefixes = ObjectPath.prefixes(name)
        if prefixes.isEmpty { return true }  // "", "." and "/" name this group or the root
        for prefix in prefixes where H5Lexists(id, prefix, chdf5_p_default()) <= 0 {
            _ = H5Eclear2(chdf5_e_default())
            return false
        }
        let resolves = H5Oexists_by_name(id, name, chdf5_p_default()) > 0
        _ = H5Eclear2(chdf5_e_default())
        return resolves
    }

    /// Checks `name` exists (and is of `kind` if given); returns its absolute path.
    func requireObject(_ id: hid_t, _ name: String, kind: H5ObjectKind?) throws -> String {
        let target = absolutePath(name)
        guard linkExists(id, name) else { throw HDF5Error.objectNotFound(file: filePath, object: target) }
        if let kind {
            let found = try objectInfo(id, name).kind
            guard found == kind else {
                throw HDF5Error.wrongObjectType(file: filePath, object: target,
                                                expected: kind.description, found: found.description)
            }
        }
        return target
    }

    struct ObjectInfo {
        var kind: H5ObjectKind
        var fileNumber: UInt
        var address: haddr_t
        var referenceCount: Int
    }

    func objectInfo(_ id: hid_t, _ name: String) throws -> ObjectInfo {
        var info = H5O_info_t()
        let name = ObjectPath.libraryName(name)
        guard H5Oget_info_by_name2(id, name, &info, UInt32(H5O_INFO_BASIC), chdf5_p_default()) >= 0 else {
            throw HDF5Error.readFailed(file: filePath, object: absolutePath(name),
                                       reason: reason("cannot get object info"))
        }
        return ObjectInfo(kind: H5ObjectKind(info.type), fileNumber: info.fileno, address: info.addr,
                          referenceCount: Int(info.rc))
    }

    /// A link-creation property list that creates missing intermediate groups.
    func intermediateGroupLinkList(_ target: String) throws -> hid_t {
        let list = H5Pcreate(chdf5_p_link_create())
        guard list >= 0 else {
            throw HDF5Error.writeFailed(file: filePath, object: target, reason: reason("H5Pcreate failed"))
        }
        guard H5Pset_create_intermediate_group(list, 1) >= 0 else {
            _ = H5Pclose(list)
            throw HDF5Error.writeFailed(file: filePath, object: target, reason: reason("H5Pset failed"))
        }
        return list
    }
}
