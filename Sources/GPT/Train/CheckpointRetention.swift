import Foundation

/// The checkpoints a run keeps in out_dir besides `ckpt.h5` (the newest): `ckpt-best.h5` of the
/// best val loss and, with `keep_last` N > 0, `ckpt-<iter>.h5` of the last N saves. Each is a hard
/// link to the `ckpt.h5` just completed (no extra space; a copy where the file system has no hard
/// links), published by a rename, and older `ckpt-<iter>.h5` files are deleted only after the
/// newer one is in place. Resume reads them newest first (`resumeCandidates`).
public struct CheckpointRetention: Sendable {
    public let outDirectory: String
    /// How many `ckpt-<iter>.h5` to keep (0: none).
    public let keepLast: Int

    public init(outDirectory: String, keepLast: Int) {
        self.outDirectory = outDirectory
        self.keepLast = keepLast
    }

    /// `out_dir/ckpt.h5`, `out_dir/ckpt-best.h5`, `out_dir/ckpt-<iteration>.h5`.
    public var newestPath: String { path("ckpt.h5") }
    public var bestPath: String { path("ckpt-best.h5") }
    public func retainedPath(iteration: Int) -> String { path("ckpt-\(iteration).h5") }

    private func path(_ name: String) -> String { (outDirectory as NSString).appendingPathComponent(name) }

    /// After `ckpt.h5` of `iteration` is complete: keeps it as `ckpt-<iteration>.h5` (and as
    /// `ckpt-best.h5` when `isBest`), then deletes the `ckpt-<iter>.h5` beyond the last `keepLast`.
    public func retain(iteration: Int, isBest: Bool) throws {
        if isBest { try publish(newestPath, as: bestPath) }
        guard keepLast > 0 else { return }
        try publish(newestPath, as: retainedPath(iteration: iteration))
        for (_, old) in retained().dropFirst(keepLast) {
            guard unlink(old) == 0 || errno == ENOENT else {
                throw CheckpointError.writeFailed(path: old, reason: "cannot delete an old checkpoint: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// `source` under the name `target` (hard link, else copy, to `target.tmp`, then renamed).
    private func publish(_ source: String, as target: String) throws {
        let temporary = target + ".tmp"
        unlink(temporary)
        if link(source, temporary) != 0 {
            do { try FileManager.default.copyItem(atPath: source, toPath: temporary) } catch {
                unlink(temporary)
                throw CheckpointError.writeFailed(path: target, reason: "cannot link or copy \(source): \(error.localizedDescription)")
            }
        }
        guard rename(temporary, target) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw CheckpointError.writeFailed(path: target, reason: "rename from \(temporary): \(reason)")
        }
    }

    /// The `ckpt-<iter>.h5` files of out_dir, newest (highest iteration) first.
    public func retained() -> [(iteration: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: outDirectory)) ?? []
        return names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("ckpt-"), name.hasSuffix(".h5"),
                  let iteration = Int(name.dropFirst("ckpt-".count).dropLast(".h5".count)) else { return nil }
            return (iteration, path(name))
        }.sorted { $0.0 > $1.0 }
    }

    /// What `init_from: resume` tries, in order: `ckpt.h5`, then every `ckpt-<iter>.h5`, newest first.
    public var resumeCandidates: [String] { [newestPath] + retained().map(\.path) }
}
