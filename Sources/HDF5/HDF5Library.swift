import CHDF5
import Foundation

/// Process-wide facts about the HDF5 C library and the lock that guards it.
///
/// The Debian build of HDF5 1.10 is serial and **not thread-safe**: two threads inside the library
/// at once corrupt its global state. Every call this layer makes into HDF5 (including the closes
/// done by `deinit`) therefore runs inside ``withLock(_:)``, one process-wide recursive lock. Code
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
    private static let initialised: Void = {
        _ = H5open()
        _ = H5Eset_auto2(chdf5_e_default(), nil, nil)
    }()
}

/// Shorthand used throughout the module for ``HDF5Library/withLock(_:)``.
@inline(__always)
func withHDF5<R>(_ body: () throws -> R) rethrows -> R {
    try HDF5Library.withLock(body)
}
