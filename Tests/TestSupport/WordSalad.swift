/// Deterministic word salad over `words`: sentences of 7 to 11 words, the first capitalised,
/// ended by one of `.`, `,`, `!`, `?` and a newline, until the text holds `characters` characters.
/// Learnable (spelling, spaces, line breaks), ASCII, the same on every run.
public func wordSalad(words: [String], characters: Int) -> String {
    var state: UInt64 = 0x2545_F491_4F6C_DD1D
    func next() -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int(state >> 33)
    }
    var text = ""
    var line = 0
    while text.count < characters {
        let word = words[next() % words.count]
        text += line == 0 ? word.capitalized : word
        line += 1
        if line > 6 + next() % 5 {
            text += [".\n", ",\n", "!\n", "?\n"][next() % 4]
            line = 0
        } else {
            text += " "
        }
    }
    return text
}
