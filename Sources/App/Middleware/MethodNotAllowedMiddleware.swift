import Hummingbird
import Synchronization

/// The methods each registered path answers, read from the router once every route is added, so a 405's `Allow`
/// is always the router's own truth.
final class RouteMethods: Sendable {
    private struct Entry: Sendable {
        /// The route template as the router writes it, e.g. `/api/v1/admin/messages/{id}`.
        var template: String
        /// The template's segments; `{name}` and `*` match any one segment, `**` the rest of the path.
        var segments: [String]
        var methods: Set<String>
    }

    private let entries = Mutex<[Entry]>([])

    /// Records every route of `router`.
    func load(from router: Router<AppRequestContext>) {
        var byTemplate: [String: Set<String>] = [:]
        for route in router.routes {
            byTemplate[route.path.description, default: []].insert(route.method.rawValue)
        }
        let loaded = byTemplate.map { template, methods in
            Entry(template: template, segments: template.split(separator: "/").map(String.init), methods: methods)
        }
        entries.withLock { $0 = loaded }
    }

    /// The template a path resolves to (for the metrics' `route` label) and the methods it answers (sorted,
    /// comma-separated, for `Allow`); nil when no route has that path.
    ///
    /// Like the router, a literal segment wins over a capture: `/api/v1/admin/messages/retry-failed` is that
    /// route, not `/api/v1/admin/messages/{id}`.
    func allow(for path: String) -> (template: String, methods: String)? {
        let segments = path.split(separator: "/")
        let best = entries.withLock { entries in
            entries.filter { Self.matches($0.segments, segments) }
                .max { Self.specificity($0.segments).lexicographicallyPrecedes(Self.specificity($1.segments)) }
        }
        return best.map { ($0.template, $0.methods.sorted().joined(separator: ", ")) }
    }

    /// Per segment: 2 for a literal, 1 for a capture or `*`, 0 for `**`.
    private static func specificity(_ template: [String]) -> [Int] {
        template.map { part in
            part == "**" ? 0 : (part == "*" || (part.hasPrefix("{") && part.hasSuffix("}"))) ? 1 : 2
        }
    }

    private static func matches(_ template: [String], _ path: [Substring]) -> Bool {
        for (index, part) in template.enumerated() {
            if part == "**" { return true }
            guard index < path.count else { return false }
            if part == "*" || (part.hasPrefix("{") && part.hasSuffix("}")) { continue }
            if part != path[index] { return false }
        }
        return template.count == path.count
    }
}

/// `405 method_not_allowed` with `Allow` for any method a path has no handler for (`GET` on a webhook route,
/// `TRACE`, `PROPFIND`, ...), instead of the router's 404: the path exists, only the method is wrong.
///
/// The router finds no responder for such a method and falls through to its not-found responder; this middleware
/// turns that 404 into a 405 for every path the router knows. The path is canonical (``CanonicalPathMiddleware``).
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let routes: RouteMethods

    func handle(
        _ request: Request,
        context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let path = request.uri.path
            guard let (template, allow) = routes.allow(for: path) else { throw error }
            // Counted under the route it names, like the route's own answers.
            context.coreContext.endpointPath.value = template
            throw APIError(
                .methodNotAllowed, code: "method_not_allowed",
                message: "\(request.method) is not allowed on \(path); use \(allow)", headers: [.allow: allow]
            )
        }
    }
}
