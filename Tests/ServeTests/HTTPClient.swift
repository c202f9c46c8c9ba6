import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP answer as the tests see it.
struct HTTPAnswer {
    var status: Int
    var headers: [String: String]   // lower-cased names
    var body: Data
    var text: String { String(decoding: body, as: UTF8.self) }
    /// The body as a JSON object (empty when it is not one).
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    /// The error's message and param of an OpenAI-style error body.
    var errorMessage: String { (json["error"] as? [String: Any])?["message"] as? String ?? "" }
    var errorParam: String? { (json["error"] as? [String: Any])?["param"] as? String }
}

/// Synchronous HTTP over URLSession (FoundationNetworking), for the tests.
enum HTTPClient {
    static let session: URLSession = {
        let config = URLSessionConfiguration.ephemeral
        config.httpMaximumConnectionsPerHost = 64
        config.timeoutIntervalForRequest = 120
        return URLSession(configuration: config)
    }()

    /// Sends one request and waits for the whole answer.
    static func send(_ url: URL, method: String = "GET", body: Data? = nil, contentType: String = "application/json") throws -> HTTPAnswer {
        var request = URLRequest(url: url)
        request.httpMethod = method
        if let body {
            request.httpBody = body
            request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        }
        let done = DispatchSemaphore(value: 0)
        var result: Result<HTTPAnswer, Error> = .failure(FixtureError("no answer"))
        session.dataTask(with: request) { data, response, error in
            if let error {
                result = .failure(error)
            } else if let http = response as? HTTPURLResponse {
                var headers: [String: String] = [:]
                for (k, v) in http.allHeaderFields { headers["\(k)".lowercased()] = "\(v)" }
                result = .success(HTTPAnswer(status: http.statusCode, headers: headers, body: data ?? Data()))
            }
            done.signal()
        }.resume()
        guard done.wait(timeout: .now() + 120) == .success else { throw FixtureError("\(method) \(url): no answer in 120 s") }
        return try result.get()
    }

    /// POSTs a JSON object.
    static func post(_ url: URL, _ object: [String: Any]) throws -> HTTPAnswer {
        try send(url, method: "POST", body: try JSONSerialization.data(withJSONObject: object))
    }

    /// POSTs several JSON objects at once and returns the answers in order.
    static func postConcurrently(_ url: URL, _ objects: [[String: Any]]) throws -> [HTTPAnswer] {
        var answers = [Result<HTTPAnswer, Error>](repeating: .failure(FixtureError("not sent")), count: objects.count)
        let lock = NSLock(), group = DispatchGroup()
        for i in objects.indices {
            group.enter()
            // A thread each, so every request is in flight at once whatever the core count.
            Thread {
                let r = Result { try post(url, objects[i]) }
                lock.lock(); answers[i] = r; lock.unlock()
                group.leave()
            }.start()
        }
        group.wait()
        return try answers.map { try $0.get() }
    }
}
