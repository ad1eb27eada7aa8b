import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Synchronization

/// Gives every request an id (the client's `X-Request-ID` when it is sane, else a new one), puts it in the
/// logger's metadata so every log line carries it, and returns it in the response.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(
        _ request: Request,
        context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        let requestID = Self.usableID(request.headers[.xRequestID]) ?? Self.makeID()
        context.requestID = requestID
        context.logger[metadataKey: "request_id"] = .string(requestID)
        // One id per log line: ours (it honours the client's X-Request-ID and goes back in the response), not
        // also Hummingbird's own.
        context.logger[metadataKey: "hb.request.id"] = nil
        var response = try await next(request, context)
        response.headers[.xRequestID] = requestID
        return response
    }

    /// A client id is honoured only if short and printable, so it cannot flood or forge log lines.
    static func usableID(_ value: String?) -> String? {
        guard let value, !value.isEmpty, value.utf8.count <= 128,
              value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") })
        else { return nil }
        return value
    }

    /// A random per-process prefix and a counter: unique, and no `getrandom` system call per request.
    static func makeID() -> String {
        let sequence = requestCounter.add(1, ordering: .relaxed).newValue
        return processPrefix + String(sequence, radix: 16).leftPadded(12)
    }

    private static let processPrefix = String(UInt64.random(in: 0...UInt64.max), radix: 16).leftPadded(16) + "-"
    private static let requestCounter = Atomic<UInt64>(0)
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

extension HTTPField.Name {
    /// `X-Request-ID`.
    static let xRequestID = HTTPField.Name("X-Request-ID")!
}
