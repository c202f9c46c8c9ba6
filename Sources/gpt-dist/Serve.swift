import ArgumentParser
import Serve

/// `gpt-dist serve --checkpoint C ...`: parses the options and runs the completion server.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a checkpoint over HTTP: OpenAI-style /v1/completions (streaming too), batched decoding.",
        discussion: "Routes: POST /v1/completions, GET /v1/models, /health, /metrics (Prometheus), / (a page to try it). SIGTERM finishes the completions in flight, then exits.")

    @Option(help: "The checkpoint (ckpt.h5).")
    var checkpoint: String

    @Option(help: "Take the tokenizer from this dataset folder (for checkpoints without /tokenizer).")
    var data: String?

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 = any free port; the start line names it).")
    var port = 8080

    @Option(help: "Compute threads (0 = every core).")
    var threads = 0

    @Option(help: "Most completions decoded together in one step.")
    var maxBatch = 16

    @Option(help: "Most completions waiting for a slot; one more gets 503 with Retry-After.")
    var maxQueue = 64

    @Option(help: "Largest request body in bytes; a larger one gets 413.")
    var maxBodyBytes = 1 << 20

    func validate() throws {
        if !(0...65535).contains(port) { throw ValidationError("--port: must be in 0...65535, got \(port)") }
        if threads < 0 { throw ValidationError("--threads: must be >= 0 (0 = every core), got \(threads)") }
        if !(1...1024).contains(maxBatch) { throw ValidationError("--max-batch: must be in 1...1024, got \(maxBatch)") }
        if maxQueue < 0 { throw ValidationError("--max-queue: must be >= 0, got \(maxQueue)") }
        if maxBodyBytes < 1024 { throw ValidationError("--max-body-bytes: must be at least 1024, got \(maxBodyBytes)") }
    }

    func run() throws {
        do {
            try CompletionServer.run(ServeOptions(checkpoint: checkpoint, dataDirectory: data, host: host, port: port,
                                                  threads: threads, maxBatch: maxBatch, maxQueue: maxQueue,
                                                  maxBodyBytes: maxBodyBytes))
        } catch {
            printError(error)
            throw ExitCode.failure
        }
    }
}
