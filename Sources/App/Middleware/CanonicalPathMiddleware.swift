import Core
import HTTPTypes
import Hummingbird

/// Rewrites a request whose path is not in its canonical form (`//webhook/internal`, `/webhook//internal`,
/// `/webhook/internal/`, `webhook/internal`, an absolute-form target) to the path the router dispatched it on, so
/// that every middleware and handler after this one (API key requirements, per-path rate limits, CORS, metrics and
/// status access) sees exactly that path. First in the chain, before anything that looks at the path.
///
/// Hummingbird resolves the route before running the router's middlewares, and the router skips empty segments;
/// this middleware makes the request agree with that resolution. The query string is kept as it was.
struct CanonicalPathMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(
        _ request: Request,
        context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        let path = request.uri.path
        let target = request.head.path ?? path
        // Origin-form targets that are already canonical pass untouched (one scan of the path).
        if RequestPath.isCanonical(path), target.utf8.first == UInt8(ascii: "/") {
            return try await next(request, context)
        }
        var head = request.head
        head.path = RequestPath.canonical(path) + (request.uri.query.map { "?" + $0 } ?? "")
        return try await next(Request(head: head, body: request.body), context)
    }
}
