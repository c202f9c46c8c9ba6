import ArgumentParser

struct Prepare: ParsableCommand {
    func run() throws { throw ValidationError("not built yet") }
}
