import ArgumentParser

struct TokenizerCommand: ParsableCommand {
    func run() throws { throw ValidationError("not built yet") }
}
