import Foundation

/// Errors of the metrics files, naming the file.
public enum MetricsError: Error, CustomStringConvertible, LocalizedError {
    case cannotOpen(path: String, reason: String)
    case cannotWrite(path: String, reason: String)
    case noRecords(path: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): return "\(path): cannot open: \(reason)"
        case .cannotWrite(let path, let reason): return "\(path): cannot write: \(reason)"
        case .noRecords(let path): return "\(path): no metrics records to plot"
        }
    }
    public var errorDescription: String? { description }
}

/// `out_dir/metrics.jsonl`: one JSON object per line, appended and flushed as each arrives so a
/// crashed or interrupted run keeps everything logged up to then. The file is created with the
/// first record, so a run that fails before logging anything leaves none behind.
public final class MetricsLog {
    public let path: String
    private var handle: FileHandle?

    /// A log appending to `path` (created, if need be, by the first `append`); throws now when
    /// its folder is not writable.
    public init(path: String) throws {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        guard access(directory.isEmpty ? "." : directory, W_OK) == 0 else {
            throw MetricsError.cannotOpen(path: path, reason: "its folder is not writable")
        }
    }

    deinit { try? handle?.close() }

    /// Appends one record as one line (a single write, straight to the file).
    public func append(_ record: MetricsRecord) throws {
        let handle = try openedHandle()
        do { try handle.write(contentsOf: Data((record.jsonLine + "\n").utf8)) } catch {
            throw MetricsError.cannotWrite(path: path, reason: error.localizedDescription)
        }
    }

    private func openedHandle() throws -> FileHandle {
        if let handle { return handle }
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw MetricsError.cannotOpen(path: path, reason: "cannot create the file")
            }
        }
        guard let opened = FileHandle(forWritingAtPath: path) else {
            throw MetricsError.cannotOpen(path: path, reason: "not writable")
        }
        do { try opened.seekToEnd() } catch {
            throw MetricsError.cannotOpen(path: path, reason: error.localizedDescription)
        }
        handle = opened
        return opened
    }

    /// Every record of the file at `path`, in order. Lines that are not records (a line cut short
    /// by a crash) are skipped. When a resumed run logs an iteration again, the records it
    /// replaces (same event, that iteration or later) are dropped so the curves never fold back.
    public static func read(path: String) throws -> [MetricsRecord] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw MetricsError.cannotOpen(path: path, reason: FileManager.default.fileExists(atPath: path) ? "not readable" : "no such file")
        }
        var records: [MetricsRecord] = []
        var lastIteration: [MetricsRecord.Event: Int] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let record = MetricsRecord(jsonLine: String(line)) else { continue }
            if let last = lastIteration[record.event], record.iter <= last {
                records.removeAll { $0.event == record.event && $0.iter >= record.iter }
            }
            lastIteration[record.event] = record.iter
            records.append(record)
        }
        return records
    }
}
