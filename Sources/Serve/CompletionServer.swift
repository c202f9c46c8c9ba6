import Foundation
import GPT
import NIOCore
import NIOHTTP1
import NIOPosix

/// `gpt-dist serve`: loads a checkpoint, starts the batching engine and an HTTP server
/// (SwiftNIO, one event loop) in front of it, and runs until SIGTERM or SIGINT, which stop new
/// connections and completions, let every accepted completion finish and be written, and exit.
public enum CompletionServer {
    /// Serves `options` until a termination signal; throws when the checkpoint cannot be used or
    /// the address cannot be bound.
    public static func run(_ options: ServeOptions) throws {
        let (model, contents) = try Checkpoint.loadModel(path: options.checkpoint, threads: options.threads)
        let datasetTokenizer = try options.dataDirectory.map { try TokenLoader(directory: $0).tokenizer }
        let tokenizer = try Checkpoint.tokenizer(of: contents, path: options.checkpoint, dataset: datasetTokenizer,
                                                 datasetPath: options.dataDirectory)
        let metrics = ServerMetrics()
        let delay = ProcessInfo.processInfo.environment["GPT_DIST_TEST_STEP_DELAY_MS"].flatMap(Int.init) ?? 0
        let engine = BatchEngine(decoder: BatchDecoder(model: model, slots: options.maxBatch), maxQueue: options.maxQueue,
                                 metrics: metrics, stepDelayMilliseconds: delay)
        let context = ServerContext(engine: engine, tokenizer: tokenizer, model: describe(model.config, contents, options.checkpoint, tokenizer),
                                    maxBodyBytes: options.maxBodyBytes, metrics: metrics)
        engine.start()

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(HTTPHandler(server: context))
                }
            }
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
        let channel: Channel
        do {
            channel = try bootstrap.bind(host: options.host, port: options.port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw ServeError("cannot listen on \(options.host):\(options.port): \(error)")
        }
        let port = channel.localAddress?.port ?? options.port
        let cfg = model.config
        say("gpt-dist serve: \(context.model.id) (\(cfg.nLayer)×\(cfg.nHead)×\(cfg.nEmbd), context \(cfg.blockSize), "
            + "\(tokenizer.kind.rawValue) tokenizer), max batch \(options.maxBatch), max queue \(options.maxQueue)")
        say("gpt-dist serve: listening on http://\(options.host):\(port)")

        // SIGTERM and SIGINT: stop listening, drain, then exit.
        let signals = [SIGTERM, SIGINT].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                say("gpt-dist serve: \(number == SIGTERM ? "SIGTERM" : "SIGINT"): finishing the completions in flight")
                engine.drain()
                channel.close(promise: nil)
            }
            source.resume()
            return source
        }
        try? channel.closeFuture.wait()
        engine.drain()
        engine.waitUntilFinished()
        context.inFlight.wait()
        signals.forEach { $0.cancel() }
        try? group.syncShutdownGracefully()
        say("gpt-dist serve: stopped")
    }

    /// The served model's entry of `/v1/models`: its id (the checkpoint's folder and file name),
    /// the checkpoint file's time and the model's shape.
    static func describe(_ config: GPTConfig, _ contents: CheckpointContents, _ path: String,
                         _ tokenizer: any Tokenizer) -> ModelList.Model {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().lastPathComponent
        let name = url.deletingPathExtension().lastPathComponent
        let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? nil
        return ModelList.Model(id: folder.isEmpty || folder == "/" ? name : "\(folder)/\(name)",
                               created: Int((modified ?? Date()).timeIntervalSince1970),
                               nLayer: config.nLayer, nHead: config.nHead, nEmbd: config.nEmbd, blockSize: config.blockSize,
                               vocabSize: config.vocabSize, parameters: contents.parameters.count,
                               tokenizer: tokenizer.kind.rawValue)
    }

    /// One line on standard output, written at once.
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}

/// Why the server cannot start.
public struct ServeError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
