import Foundation

/// The output folder of `prepare`: checked to be new or empty (by rank 0, which creates it when
/// needed; the other ranks of a multi-rank run join it), and every file this rank writes into it
/// remembered so a failure can remove them (and the folder, when this rank created it).
final class OutputFolder {
    let path: String
    private let created: Bool
    private var written: [String] = []

    /// Checks that `path` is an empty folder or does not exist, and creates it in that case.
    init(path: String) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw DataError.writeFailed(path: path, reason: "--out exists and is a file, not a folder")
            }
            let contents = (try? fm.contentsOfDirectory(atPath: path)) ?? ["?"]
            guard contents.isEmpty else { throw DataError.outputExists(path: path) }
            created = false
        } else {
            do {
                try fm.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw DataError.writeFailed(path: path, reason: "cannot create the output folder")
            }
            created = true
        }
        self.path = path
    }

    /// The folder rank 0 checked or created: it must be visible here too (all ranks write into
    /// one folder, so it must be on a file system they share).
    init(joining path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DataError.writeFailed(path: path, reason: "rank 0 made this output folder but this rank cannot see it; --out must be on a file system every rank shares")
        }
        self.path = path
        created = false
    }

    func url(_ name: String) -> String { URL(fileURLWithPath: path).appendingPathComponent(name).path }

    /// The path of `name` in the folder, remembered for cleanup.
    func track(_ name: String) -> String {
        let full = url(name)
        written.append(full)
        return full
    }

    func rename(_ from: String, to: String) throws {
        guard Foundation.rename(from, to) == 0 else {
            throw DataError.writeFailed(path: to, reason: String(cString: strerror(errno)))
        }
    }

    /// Removes the files this rank wrote.
    func removeFilesWritten() {
        let fm = FileManager.default
        for file in written { try? fm.removeItem(atPath: file) }
    }

    /// Removes the folder (and whatever is in it) when this rank created it.
    func removeFolderIfCreated() {
        if created { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Removes this rank's files, then the folder when this rank created it.
    func removeEverythingWritten() {
        removeFilesWritten()
        removeFolderIfCreated()
    }
}
