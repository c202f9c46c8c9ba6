import Foundation

/// A whole file mapped read-only into memory (mmap): pages are read from disk when touched and
/// can be dropped again by the kernel, so reading a file of any size needs no copy of it.
final class MappedFile {
    /// The file's bytes (empty for an empty file).
    let bytes: UnsafeRawBufferPointer

    /// Maps the file at `path`; errors name it.
    init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw SafeTensorsError(path: path, .unreadable, "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw SafeTensorsError(path: path, .unreadable, "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw SafeTensorsError(path: path, .unreadable, "is not a regular file")
        }
        let size = Int(info.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw SafeTensorsError(path: path, .unreadable, "cannot map: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    /// Drops the whole pages inside `range` (a part of `bytes`) from this process's memory; the
    /// kernel keeps them in its page cache and maps them again if they are touched.
    func release(_ range: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, let start = range.baseAddress, range.count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let offset = start - base
        let first = (offset + page - 1) / page * page, end = (offset + range.count) / page * page
        guard end > first else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + first), end - first, MADV_DONTNEED)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}
