import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A streamed completion read as it arrives (URLSession's data delegate): the answer's status
/// and headers, then each server-sent event's data in order, each parsed on arrival.
final class EventStream: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let lock = NSCondition()
    private var buffer = Data()
    private var events: [String] = []
    private var finished = false
    private var failure: Error?
    private(set) var status = 0
    private(set) var headers: [String: String] = [:]
    private var session: URLSession!
    private var task: URLSessionDataTask!

    /// Starts POSTing `object` to `url`.
    init(_ url: URL, _ object: [String: Any]) throws {
        super.init()
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.httpBody = try JSONSerialization.data(withJSONObject: object)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        session = URLSession(configuration: .ephemeral, delegate: self, delegateQueue: nil)
        task = session.dataTask(with: request)
        task.resume()
    }

    /// The data of event `index` (waiting up to `timeout` seconds for it), or nil if the stream
    /// ended before it.
    func event(_ index: Int, timeout: TimeInterval = 60) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock(); defer { lock.unlock() }
        while events.count <= index && !finished {
            if !lock.wait(until: deadline) { return nil }
        }
        return index < events.count ? events[index] : nil
    }

    /// Every event's data, once the stream has ended (waiting up to `timeout` seconds).
    func all(timeout: TimeInterval = 120) throws -> [String] {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock(); defer { lock.unlock() }
        while !finished {
            if !lock.wait(until: deadline) { throw FixtureError("the stream did not end in \(timeout) s") }
        }
        if let failure { throw failure }
        return events
    }

    /// Closes the connection mid-stream (the client goes away).
    func cancel() { task.cancel() }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        if let http = response as? HTTPURLResponse {
            lock.lock()
            status = http.statusCode
            for (k, v) in http.allHeaderFields { headers["\(k)".lowercased()] = "\(v)" }
            lock.unlock()
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        lock.lock()
        buffer += data
        // Events end with a blank line; each is "data: <payload>".
        while let end = buffer.range(of: Data("\n\n".utf8)) {
            let event = String(decoding: buffer[buffer.startIndex..<end.lowerBound], as: UTF8.self)
            buffer.removeSubrange(buffer.startIndex..<end.upperBound)
            events.append(event.hasPrefix("data: ") ? String(event.dropFirst(6)) : "unexpected: " + event)
        }
        lock.broadcast()
        lock.unlock()
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        lock.lock()
        failure = error
        if error == nil && !buffer.isEmpty { events.append("unterminated: " + String(decoding: buffer, as: UTF8.self)) }
        finished = true
        lock.broadcast()
        lock.unlock()
        session.finishTasksAndInvalidate()
    }
}
