/// The text of a completion as its tokens arrive: which part may be sent to the client now, and
/// where a stop string ends it. Text that could still turn out to begin a stop string, or whose
/// last character is not whole yet (a byte-level BPE token can end inside one), is held back.
struct CompletionText {
    /// The stop strings, as Unicode scalars.
    private let stops: [[Unicode.Scalar]]
    /// The decoded completion so far (cut at a stop string once one is found).
    private(set) var scalars: [Unicode.Scalar] = []
    /// How many scalars of `scalars` have been released.
    private(set) var released = 0
    /// Whether a stop string has been found.
    private(set) var stopped = false

    init(stop: [String]) {
        stops = stop.map { Array($0.unicodeScalars) }
    }

    /// The whole text released so far.
    var text: String { Self.string(scalars[..<released]) }

    /// Takes the decoding of every completion token so far (`final`: no more will come) and
    /// returns the text newly safe to send (maybe empty). After a stop string is found, `stopped`
    /// is true and `scalars` ends right before it.
    mutating func update(decoded: String, final: Bool) -> String {
        precondition(!stopped, "CompletionText: update after a stop")
        var all = Array(decoded.unicodeScalars)
        // Earliest stop string occurrence in the completion (not in the prompt).
        if let cut = earliestStop(in: all) {
            stopped = true
            all.removeSubrange(cut...)
            scalars = all
            return release(upTo: all.count)
        }
        scalars = all
        if final { return release(upTo: all.count) }
        var safe = all.count
        if all.last == "\u{FFFD}" { safe -= 1 }   // maybe a character whose bytes are still coming
        // Hold back the longest tail that is the start of a stop string.
        var hold = 0
        for stop in stops {
            for length in stride(from: min(stop.count - 1, safe), to: hold, by: -1)
                where all[(safe - length)..<safe].elementsEqual(stop[..<length]) {
                hold = length
                break
            }
        }
        return release(upTo: safe - hold)
    }

    private mutating func release(upTo end: Int) -> String {
        guard end > released else { return "" }
        let piece = Self.string(scalars[released..<end])
        released = end
        return piece
    }

    private func earliestStop(in all: [Unicode.Scalar]) -> Int? {
        var best: Int?
        for stop in stops where stop.count <= all.count {
            for start in 0...(all.count - stop.count) where all[start..<(start + stop.count)].elementsEqual(stop) {
                if best.map({ start < $0 }) ?? true { best = start }
                break
            }
        }
        return best
    }

    private static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}
