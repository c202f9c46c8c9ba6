import ArgumentParser

struct Doctor: ParsableCommand {
    func run() throws { throw ValidationError("not built yet") }
}
