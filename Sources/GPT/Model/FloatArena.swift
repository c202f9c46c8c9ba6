/// One zeroed Float allocation carved into pieces, each starting a multiple of 16 floats from the
/// start, so the activations of a model (or a generator's cache) are a single allocation made
/// once. The owner sizes it (with room for the rounding) and deallocates `storage`.
struct FloatArena {
    let storage: UnsafeMutableBufferPointer<Float>
    /// Floats handed out so far (rounding included).
    private(set) var used = 0

    init(capacity: Int) {
        storage = .allocate(capacity: capacity)
        storage.initialize(repeating: 0)
    }

    /// The next `count` floats; traps if the owner's sizing left too little room (a programming
    /// error, not an input error).
    mutating func take(_ count: Int) -> FloatPointer {
        let piece = storage.baseAddress! + used
        used += (count + 15) / 16 * 16
        precondition(used <= storage.count, "FloatArena: \(used) floats taken from \(storage.count)")
        return piece
    }
}
