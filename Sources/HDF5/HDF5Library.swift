import CHDF5
import Foundation

/// Process-wide facts about the HDF5 C library and the lock that guards it.
///
/// The module in brief:
/// ```swift
/// let file = try H5File.create(at: tmp, mode: .failIfExists)   // then close + rename
/// try file.setAttribute("n_layer", 12)
/// let wte = try file.createDataset("/model/transformer.wte.weight", values: weights, shape: [vocab, dim])
/// try file.link(target: wte.path, as: "/model/lm_head.weight")
/// file.close()
///
/// let shard = try H5File.open(at: path)
/// let tokens = try shard.dataset("tokens")                    // uint16 in the file
/// let window = try tokens.read(offset: start, count: n + 1, as: Int32.self, conversion: .lossless)
/// ```
/// Failures are ``HDF5Error`` values whose description names the file and object.
///
/// HDF5 builds are not thread-safe unless configured with `--enable-threadsafe` (two threads inside
/// the library at once corrupt its global state), and this layer must not depend on how the
/// installed library was built. Every call this layer makes into HDF5 (including the closes done
/// by `deinit`) therefore runs inside ``withLock(_:)``, one process-wide recursive lock. Code
/// outside this module that calls the C API directly must do the same.
public enum HDF5Library {
    /// The linked library's version, e.g. `"1.10.8"`.
    public static var version: String {
        let (major, minor, release) = versionComponents
        return "\(major).\(minor).\(release)"
    }

    /// The linked library's version as numbers, e.g. `(1, 10, 8)`.
    public static var versionComponents: (major: Int, minor: Int, release: Int) {
        withLock {
            var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
            _ = H5get_libversion(&major, &minor, &release)
            return (Int(major), Int(minor), Int(release))
        }
    }

    /// How many files, groups, datasets, named datatypes and attributes are open in the whole
    /// process; 0 once every ``H5Object`` has been released. Useful to check for leaks.
    public static var openObjectCount: Int {
        withLock { max(0, Int(H5Fget_obj_count(chdf5_f_obj_all_files(), chdf5_f_obj_all()))) }
    }

    /// Runs `body` holding the lock that serialises all use of the (non-thread-safe) library.
    ///
    /// The lock is recursive, so `body` may call back into this module. The first call also
    /// initialises the library and silences its own error-stack printing: failures surface as
    /// ``HDF5Error`` values instead of text on stderr.
    public static func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        _ = initialised
        return try body()
    }

    private static let lock = NSRecursiveLock()

    /// Evaluated once, under the lock, before any other call into HDF5.
    /// The library is not closed at exit: after a write that failed for lack of space, HDF5 1.10's
    /// own exit handler crashes closing the file it could not close (this layer closes every
    /// file it opens, so nothing is left to flush then).
    private static let initialised: Void = {
        _ = H5dont_atexit()
        _ = H5open()
        _ = H5Eset_auto2(chdf5_e_default(), nil, nil)
    }()
}

/// Shorthand used throughout the module for ``HDF5Library/withLock(_:)``.
@inline(__always)
func withHDF5<R>(_ body: () throws -> R) rethrows -> R {
    try HDF5Library.withLock(body)
}
