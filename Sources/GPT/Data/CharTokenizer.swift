/// nanoGPT's shakespeare_char tokenizer: one id per character of the corpus's sorted character set.
///
/// "Character" means Unicode scalar (a Python `str` element), not Swift's `Character` (a grapheme
/// cluster such as "\r\n" or "e" + combining accent), so ids match Python's `sorted(set(text))`
/// exactly: scalars sorted by code point.
public struct CharTokenizer: Tokenizer, Equatable {
    public var kind: TokenizerKind { .character }
    public var vocabularySize: Int { scalars.count }

    /// The vocabulary in id order (ascending code points).
    public let scalars: [Unicode.Scalar]
    /// The vocabulary as one string, in id order: what datasets and checkpoints store.
    public var vocabulary: String {
        var text = String.UnicodeScalarView()
        text.append(contentsOf: scalars)
        return String(text)
    }

    /// Ids of ASCII scalars (-1 when absent), the fast path for the common case.
    private let asciiIDs: [Int32]
    /// Ids of the other scalars.
    private let otherIDs: [UInt32: Int32]

    /// A tokenizer over `scalars`, which must be distinct and in ascending code-point order.
    public init(scalars: [Unicode.Scalar]) throws {
        guard !scalars.isEmpty else { throw DataError.invalidVocabulary("it is empty") }
        for i in 1..<max(scalars.count, 1) where scalars[i - 1].value >= scalars[i].value {
            throw DataError.invalidVocabulary(
                "\(DataError.describe(scalars[i])) at index \(i) is out of order or repeated")
        }
        var ascii = [Int32](repeating: -1, count: 128)
        var other: [UInt32: Int32] = [:]
        for (id, scalar) in scalars.enumerated() {
            if scalar.value < 128 { ascii[Int(scalar.value)] = Int32(id) } else { other[scalar.value] = Int32(id) }
        }
        self.scalars = scalars
        self.asciiIDs = ascii
        self.otherIDs = other
    }

    /// A tokenizer whose vocabulary is the stored string `vocabulary` (sorted, distinct scalars).
    public init(vocabulary: String) throws {
        try self.init(scalars: Array(vocabulary.unicodeScalars))
    }

    /// The tokenizer of a corpus held in memory: its sorted set of scalars.
    public init(corpus: String) throws {
        var builder = CharVocabularyBuilder()
        builder.add(corpus)
        try self.init(scalars: builder.sortedScalars)
    }

    public func encode(_ text: String) throws -> [Int32] {
        var ids = [Int32]()
        ids.reserveCapacity(text.utf8.count)
        try encode(text, startingAt: 0) { ids.append($0) }
        return ids
    }

    /// Encodes `text`, handing each id to `emit`; errors count positions from `startingAt`, the
    /// scalar offset of `text` within a longer stream.
    public func encode(_ text: String, startingAt base: Int, _ emit: (Int32) -> Void) throws {
        var position = base
        for scalar in text.unicodeScalars {
            let id: Int32
            if scalar.value < 128 {
                id = asciiIDs[Int(scalar.value)]
            } else {
                id = otherIDs[scalar.value] ?? -1
            }
            if id < 0 { throw DataError.unknownCharacter(scalar, position: position) }
            emit(id)
            position += 1
        }
    }

    public func decode(_ tokens: [Int32]) -> String {
        var text = String.UnicodeScalarView()
        for id in tokens {
            text.append(id >= 0 && Int(id) < scalars.count ? scalars[Int(id)] : "\u{FFFD}")
        }
        return String(text)
    }

    public static func == (lhs: CharTokenizer, rhs: CharTokenizer) -> Bool { lhs.scalars == rhs.scalars }
}

/// Collects the character set of a corpus read piece by piece (the first pass of `prepare`).
public struct CharVocabularyBuilder: Sendable {
    private var ascii = [Bool](repeating: false, count: 128)
    private var other = Set<UInt32>()
    /// Scalars seen so far.
    public private(set) var scalarCount = 0

    public init() {}

    /// Adds the scalars of `text`.
    public mutating func add(_ text: String) {
        for scalar in text.unicodeScalars {
            if scalar.value < 128 { ascii[Int(scalar.value)] = true } else { other.insert(scalar.value) }
            scalarCount += 1
        }
    }

    /// Adds scalars given by their code points (another rank's character set); values that are
    /// not Unicode scalars are ignored.
    public mutating func add(codePoints: [UInt32]) {
        for value in codePoints where Unicode.Scalar(value) != nil {
            if value < 128 { ascii[Int(value)] = true } else { other.insert(value) }
            scalarCount += 1
        }
    }

    /// Adds the scalars another builder saw (for parallel passes).
    public mutating func merge(_ other: CharVocabularyBuilder) {
        for i in 0..<128 where other.ascii[i] { ascii[i] = true }
        self.other.formUnion(other.other)
        scalarCount += other.scalarCount
    }

    /// The distinct scalars seen, in ascending code-point order (Python's `sorted(set(text))`).
    public var sortedScalars: [Unicode.Scalar] {
        var values = (0..<128).filter { ascii[$0] }.map { UInt32($0) }
        values += other.sorted()
        return values.compactMap(Unicode.Scalar.init)
    }
}
