import Foundation

/// Everything that can go wrong in the HDF5 layer.
///
/// Every case names the file, and (where there is one) the object path inside it, so that the
/// one-line ``description`` is enough to act on, e.g.
/// `"/data/train.h5: /tokens: element type is float32, expected uint16"`.
public enum HDF5Error: Error, CustomStringConvertible, LocalizedError, Equatable, Sendable {
    /// No file at the path.
    case fileNotFound(file: String)
    /// The path exists but does not hold an HDF5 file.
    case notHDF5File(file: String)
    /// Creating with ``H5File/CreateMode/failIfExists`` but something is already at the path.
    case fileExists(file: String)
    /// The library refused to open or create the file (permissions, locking, corruption...).
    case cannotOpenFile(file: String, reason: String)
    /// No object (or attribute, written `object@name`) at the path.
    case objectNotFound(file: String, object: String)
    /// The object has no attribute called `name`.
    case attributeNotFound(file: String, object: String, name: String)
    /// Creating an object or link where one already exists.
    case objectExists(file: String, object: String)
    /// The object is a group where a dataset was expected, or the other way round.
    case wrongObjectType(file: String, object: String, expected: String, found: String)
    /// The stored element type is not the one asked for (and no allowed conversion exists).
    case wrongElementType(file: String, object: String, expected: String, found: String)
    /// Buffer, value count or rank does not fit the dataset or selection.
    case shapeMismatch(file: String, object: String, message: String)
    /// A hyperslab (or resize) reaches outside the dataset's extent.
    case outOfRange(file: String, object: String, message: String)
    /// A bad argument that is not a shape or range problem (empty name, negative size...).
    case invalidArgument(file: String, object: String, message: String)
    /// The object (or its file) was closed before this call.
    case closed(file: String, object: String)
    /// A read the library reported as failed.
    case readFailed(file: String, object: String, reason: String)
    /// A write, create, link, delete or flush the library reported as failed.
    case writeFailed(file: String, object: String, reason: String)

    /// The file the error is about.
    public var file: String {
        switch self {
        case .fileNotFound(let file), .notHDF5File(let file), .fileExists(let file),
             .cannotOpenFile(let file, _), .objectNotFound(let file, _), .attributeNotFound(let file, _, _), .objectExists(let file, _),
             .wrongObjectType(let file, _, _, _), .wrongElementType(let file, _, _, _),
             .shapeMismatch(let file, _, _), .outOfRange(let file, _, _),
             .invalidArgument(let file, _, _), .closed(let file, _),
             .readFailed(let file, _, _), .writeFailed(let file, _, _):
            return file
        }
    }

    /// The object path inside the file, or nil for errors about the file as a whole.
    public var object: String? {
        switch self {
        case .fileNotFound, .notHDF5File, .fileExists, .cannotOpenFile:
            return nil
        case .objectNotFound(_, let object), .objectExists(_, let object), .attributeNotFound(_, let object, _),
             .wrongObjectType(_, let object, _, _), .wrongElementType(_, let object, _, _),
             .shapeMismatch(_, let object, _), .outOfRange(_, let object, _),
             .invalidArgument(_, let object, _), .closed(_, let object),
             .readFailed(_, let object, _), .writeFailed(_, let object, _):
            return object
        }
    }

    /// What is wrong, without the file and object names.
    public var message: String {
        switch self {
        case .fileNotFound: return "no such file"
        case .notHDF5File: return "is not an HDF5 file"
        case .fileExists: return "already exists (refusing to overwrite it)"
        case .cannotOpenFile(_, let reason): return "cannot open: \(reason)"
        case .objectNotFound: return "no such object"
        case .attributeNotFound(_, _, let name): return "no attribute '\(name)'"
        case .objectExists: return "already exists"
        case .wrongObjectType(_, _, let expected, let found): return "is a \(found), expected a \(expected)"
        case .wrongElementType(_, _, let expected, let found):
            return "element type is \(found), expected \(expected)"
        case .shapeMismatch(_, _, let message), .outOfRange(_, _, let message),
             .invalidArgument(_, _, let message):
            return message
        case .closed: return "is closed"
        case .readFailed(_, _, let reason): return "read failed: \(reason)"
        case .writeFailed(_, _, let reason): return "write failed: \(reason)"
        }
    }

    /// One line: `file: object: message`.
    public var description: String {
        if let object { return "\(file): \(object): \(message)" }
        return "\(file): \(message)"
    }

    public var errorDescription: String? { description }
}
