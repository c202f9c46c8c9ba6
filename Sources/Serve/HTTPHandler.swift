import Foundation
import GPT
import NIOCore
import NIOHTTP1

/// One connection's requests (NIOHTTP1 parses and frames them; this routes and answers):
/// `GET /`, `/health`, `/v1/models`, `/metrics` and `POST /v1/completions`, whole or streamed as
/// server-sent events. A body over the limit gets 413 and the connection is closed; a closed
/// connection cancels its completion.
final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: ServerContext
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    /// The body is over the limit: it is read and dropped, and answered with 413.
    private var refused = false
    /// Bytes of a refused body read so far.
    private var discarded = 0
    /// The 413 has been sent (the connection closes after it).
    private var refusalSent = false
    /// The completion this connection waits for, and what it has collected.
    private var job: CompletionJob?
    private var collected = ""
    /// The JSON writer of its objects (its id, creation time and model).
    private var json = CompletionJSON(id: "", created: 0, model: "")
    /// False once the client has gone: nothing more is written.
    private var isOpen = true

    init(server: ServerContext) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body.removeAll(keepingCapacity: true)
            refused = false
            discarded = 0
            refusalSent = false
            if let length = h.headers.first(name: "content-length").flatMap(Int.init), length > server.maxBodyBytes {
                refused = true
            }
            // A client that waits for 100 Continue (curl does past 1 KiB) gets it, or the refusal at once.
            if h.headers.first(name: "expect")?.lowercased() == "100-continue" {
                if refused {
                    refuseBody(context)
                } else {
                    context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: .continue))),
                                          promise: nil)
                }
            }
        case .body(let buffer):
            if !refused && body.count + buffer.readableBytes > server.maxBodyBytes {
                refused = true
                body.removeAll()
            }
            guard !refused else {
                // Read what the client still sends (so it reads the answer), up to a bound.
                discarded += buffer.readableBytes
                if discarded > 16 * server.maxBodyBytes && !refusalSent { refuseBody(context) }
                return
            }
            body += buffer.readableBytesView
        case .end:
            guard let head else { return }
            if refused {
                if !refusalSent { refuseBody(context) }
                return
            }
            route(context, head)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        isOpen = false
        if let job { server.engine.cancel(job) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    private func refuseBody(_ context: ChannelHandlerContext) {
        refusalSent = true
        sendError(context, RequestError(status: 413, message: "body: larger than the limit of \(server.maxBodyBytes) bytes",
                                        field: nil, type: "invalid_request_error"), route: "other", close: true)
    }

    /// The routes, by path and method.
    private func route(_ context: ChannelHandlerContext, _ head: HTTPRequestHead) {
        let path = String(head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        let routes: [String: HTTPMethod] = ["/": .GET, "/health": .GET, "/v1/models": .GET, "/metrics": .GET,
                                            "/v1/completions": .POST]
        guard let method = routes[path] else {
            sendError(context, RequestError(status: 404, message: "no route \(path) (try /, /health, /v1/models, /metrics, /v1/completions)",
                                            field: nil, type: "not_found_error"), route: "other")
            return
        }
        guard head.method == method else {
            sendError(context, RequestError(status: 405, message: "\(path) takes \(method.rawValue), not \(head.method.rawValue)",
                                            field: nil, type: "invalid_request_error"),
                      route: path, extraHeaders: [("Allow", method.rawValue)])
            return
        }
        switch path {
        case "/":
            send(context, status: 200, contentType: "text/html; charset=utf-8", body: Array(PlaygroundPage.html.utf8), route: path)
        case "/health":
            let draining = server.engine.isDraining
            send(context, status: draining ? 503 : 200, contentType: "application/json",
                 body: Array((draining ? #"{"status":"draining"}"# : #"{"status":"ok"}"#).utf8), route: path)
        case "/v1/models":
            send(context, status: 200, contentType: "application/json", body: encodeJSON(ModelList(data: [server.model])), route: path)
        case "/metrics":
            send(context, status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8",
                 body: Array(server.metrics.render().utf8), route: path)
        default:
            startCompletion(context)
        }
    }

    private func startCompletion(_ context: ChannelHandlerContext) {
        let request: CompletionRequest
        do {
            request = try CompletionRequest.parse(body, tokenizer: server.tokenizer, blockSize: server.model.blockSize,
                                                  vocabSize: server.model.vocabSize, model: server.model.id)
        } catch let error as RequestError {
            sendError(context, error, route: "/v1/completions")
            return
        } catch {
            sendError(context, RequestError(status: 500, message: "\(error)", field: nil, type: "server_error"), route: "/v1/completions")
            return
        }
        let loop = context.eventLoop
        // The engine's thread posts; the event loop is woken only when the box was empty and then
        // takes every event posted so far, writing them with one flush (a loop busy with other
        // connections, or slower than the tokens, gets them in batches instead of a wake-up each).
        let mailbox = EventMailbox()
        let job = CompletionJob(request: request, tokenizer: server.tokenizer) { event in
            if mailbox.post(event) { loop.execute { self.deliver(mailbox, context) } }
        }
        server.inFlight.enter()
        do {
            try server.engine.submit(job)
        } catch {
            server.inFlight.leave()
            let draining = (error as? BatchEngine.Refusal) == .shuttingDown
            sendError(context, RequestError(status: 503, message: draining ? "the server is shutting down"
                                                : "the queue is full (\(server.engine.queueLimit) completions waiting); retry later",
                                            field: nil, type: "server_busy"),
                      route: "/v1/completions", extraHeaders: [("Retry-After", "1")], close: draining)
            return
        }
        self.job = job
        collected = ""
        json = CompletionJSON(id: server.nextID(), created: Int(Date().timeIntervalSince1970), model: server.model.id)
        if request.stream {
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "text/event-stream")
            headers.add(name: "Cache-Control", value: "no-cache")
            headers.add(name: "Connection", value: keepAlive(head) ? "keep-alive" : "close")
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head?.version ?? .http1_1, status: .ok,
                                                                          headers: headers))), promise: nil)
        }
    }

    /// Every event posted to `mailbox` so far, on this connection's event loop, then one flush.
    private func deliver(_ mailbox: EventMailbox, _ context: ChannelHandlerContext) {
        for event in mailbox.take() { handle(event, context) }
        if isOpen { context.flush() }
    }

    /// An engine event, on this connection's event loop (text events are written, not flushed).
    private func handle(_ event: CompletionEvent, _ context: ChannelHandlerContext) {
        guard let job else { return }
        let stream = job.request.stream
        if !isOpen {
            // The client is gone: only the accounting is left.
            switch event {
            case .text: break
            case .finished(let reason, let usage):
                self.job = nil
                server.metrics.completion(reason: reason.rawValue, usage: usage)
                server.inFlight.leave()
            case .aborted:
                self.job = nil
                server.inFlight.leave()
            }
            return
        }
        switch event {
        case .text(let piece):
            if stream {
                writeEvent(context, chunk(piece, reason: nil, usage: nil))
            } else {
                collected += piece
            }
        case .finished(let reason, let usage):
            self.job = nil
            server.metrics.completion(reason: reason.rawValue, usage: usage)
            if stream {
                writeEvent(context, chunk("", reason: reason, usage: usage))
                writeEvent(context, Array("[DONE]".utf8))
                finishStream(context)
                server.metrics.request(route: "/v1/completions", status: 200)
            } else {
                send(context, status: 200, contentType: "application/json", body: chunk(collected, reason: reason, usage: usage),
                     route: "/v1/completions").whenComplete { _ in self.server.inFlight.leave() }
            }
        case .aborted(let problem):
            self.job = nil
            guard let problem else { server.inFlight.leave(); return }   // cancelled: the client is gone
            let error = RequestError(status: 500, message: problem, field: nil, type: "server_error")
            if stream {
                writeEvent(context, encodeJSON(ErrorResponse(error)))
                finishStream(context)
                server.metrics.request(route: "/v1/completions", status: 500)
            } else {
                sendError(context, error, route: "/v1/completions").whenComplete { _ in self.server.inFlight.leave() }
            }
        }
    }

    /// One completion object, as JSON.
    private func chunk(_ text: String, reason: FinishReason?, usage: Usage?) -> [UInt8] {
        json.bytes(text: text, reason: reason, usage: usage)
    }

    /// One server-sent event `data: <data>` (written; the caller flushes).
    private func writeEvent(_ context: ChannelHandlerContext, _ data: [UInt8]) {
        var buffer = context.channel.allocator.buffer(capacity: data.count + 8)
        buffer.writeString("data: ")
        buffer.writeBytes(data)
        buffer.writeString("\n\n")
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
    }

    private func finishStream(_ context: ChannelHandlerContext) {
        let close = !keepAlive(head)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            self.server.inFlight.leave()
            if close { context.close(promise: nil) }
        }
    }

    private func keepAlive(_ head: HTTPRequestHead?) -> Bool {
        (head?.isKeepAlive ?? false) && !server.engine.isDraining
    }

    @discardableResult
    private func sendError(_ context: ChannelHandlerContext, _ error: RequestError, route: String,
                           extraHeaders: [(String, String)] = [], close: Bool = false) -> EventLoopFuture<Void> {
        send(context, status: error.status, contentType: "application/json", body: encodeJSON(ErrorResponse(error)),
             route: route, extraHeaders: extraHeaders, close: close)
    }

    /// A whole response; the connection is closed after it unless the client keeps it alive.
    @discardableResult
    private func send(_ context: ChannelHandlerContext, status: Int, contentType: String, body: [UInt8], route: String,
                      extraHeaders: [(String, String)] = [], close: Bool = false) -> EventLoopFuture<Void> {
        let keep = !close && keepAlive(head)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: keep ? "keep-alive" : "close")
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        let responseHead = HTTPResponseHead(version: head?.version ?? .http1_1, status: HTTPResponseStatus(statusCode: status),
                                            headers: headers)
        context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keep { done.whenComplete { _ in context.close(promise: nil) } }
        server.metrics.request(route: route, status: status)
        return done
    }
}

/// One completion's events on their way from the engine's thread to its connection's event loop.
final class EventMailbox: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [CompletionEvent] = []
    private var spare: [CompletionEvent] = []
    private var scheduled = false

    /// Adds `event`; true when the box was empty and nobody is about to take it: the caller then
    /// schedules a `take()` on the event loop.
    func post(_ event: CompletionEvent) -> Bool {
        lock.lock(); defer { lock.unlock() }
        events.append(event)
        if scheduled { return false }
        scheduled = true
        return true
    }

    /// Everything posted since the last take, oldest first.
    func take() -> [CompletionEvent] {
        lock.lock(); defer { lock.unlock() }
        scheduled = false
        swap(&events, &spare)
        events.removeAll(keepingCapacity: true)
        return spare
    }
}
