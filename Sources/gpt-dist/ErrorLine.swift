import ArgumentParser
import Foundation

/// The one error style of every command: `gpt-dist <command>: error: <message>`, a single line
/// on standard error (`... error: rank N: <message>` when one rank of a job speaks for itself).
enum ErrorLine {
    /// The command being run, as typed: "gpt-dist train", "gpt-dist tokenizer encode", or
    /// "gpt-dist" when no subcommand is named. Set by `GPTDist.main` before parsing.
    static var command = "gpt-dist"

    /// The command path that `arguments` (without the program name) select: the leading
    /// arguments that name a subcommand, one level at a time.
    static func commandPath(for arguments: [String], root: ParsableCommand.Type) -> String {
        var names = ["gpt-dist"]
        var current = root
        for argument in arguments {
            guard let next = current.configuration.subcommands.first(where: { $0._commandName == argument }) else { break }
            names.append(argument)
            current = next
        }
        return names.joined(separator: " ")
    }

    /// What begins every error line: `gpt-dist <command>: error: `.
    static var prefix: String { "\(command): error: " }

    /// The line for `message` (its first line only), without the newline.
    static func text(_ message: String, rank: Int? = nil) -> String {
        let first = message.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? message
        return prefix + (rank.map { "rank \($0): " } ?? "") + first
    }

    /// Writes the line for `message` to standard error.
    static func write(_ message: String, rank: Int? = nil) {
        FileHandle.standardError.write(Data((text(message, rank: rank) + "\n").utf8))
    }
}

/// Prints `error` as the one error line of this command (see `ErrorLine`).
func printError(_ error: Error, rank: Int? = nil) {
    ErrorLine.write("\(error)", rank: rank)
}

/// A command-line mistake found while running (after argument parsing), printed as one line.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
