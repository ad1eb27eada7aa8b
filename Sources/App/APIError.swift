import Foundation
import Hummingbird

/// An error the HTTP layer answers with `{"error": {"code": "...", "message": "..."}}` and the right status.
public struct APIError: Error, HTTPResponseError, Sendable {
    /// The response status.
    public var status: HTTPResponse.Status
    /// A stable, machine-readable code, e.g. `payload_too_large`.
    public var code: String
    /// A human-readable explanation that names the problem.
    public var message: String
    /// Extra response headers (`Allow`, `Retry-After`).
    public var headers: HTTPFields

    /// Makes an error.
    public init(_ status: HTTPResponse.Status, code: String, message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    /// The JSON error response.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        let body = #"{"error":{"code":"\#(code)","message":\#(jsonString(message))}}"#
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// 404 for a path nobody serves.
    static func notFound(_ path: String) -> APIError {
        APIError(.notFound, code: "not_found", message: "no endpoint at \(path)")
    }
}

/// A JSON string literal for `text`, escaped.
func jsonString(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case let scalar where scalar.value < 0x20:
            result += String(format: "\\u%04x", scalar.value)
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result + "\""
}
