/// Why a request is refused: the HTTP status, a message that names the offending field, and the
/// field itself (OpenAI's error `param`).
struct RequestError: Error, CustomStringConvertible {
    /// HTTP status code (400, 404, 405, 413, 503, ...).
    var status: Int
    /// One line saying what is wrong; starts with the field's name when there is one.
    var message: String
    /// The request field at fault, if any.
    var field: String?
    /// OpenAI's error type.
    var type: String

    var description: String { message }

    /// A 400 for `field`: "<field>: <problem>".
    static func invalid(_ field: String, _ problem: String) -> RequestError {
        RequestError(status: 400, message: "\(field): \(problem)", field: field, type: "invalid_request_error")
    }

    /// A 400 about the body as a whole (not JSON, not an object).
    static func body(_ problem: String) -> RequestError {
        RequestError(status: 400, message: "body: \(problem)", field: nil, type: "invalid_request_error")
    }
}
