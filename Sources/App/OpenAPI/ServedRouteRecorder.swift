import HTTPTypes
import Hummingbird

/// One route the router serves: a method and a path as the router writes it (`/api/v1/admin/keys/{id}`).
package struct ServedRoute: Hashable, Sendable, CustomStringConvertible {
    /// The method, e.g. `GET`.
    package var method: HTTPRequest.Method
    /// The path, with captures as `{name}`.
    package var path: String

    /// `GET /health`.
    package var description: String { "\(method) \(path)" }
}

/// Hands the router `buildApplication` builds to whoever asked for it, so a test can list the routes the server
/// really serves (`Router.routes`) and hold the OpenAPI document to them, without a hand-kept copy.
///
/// Bind ``current`` around a `buildApplication` call; ``OpenAPIController`` registers the router it is added to.
/// The router is a reference, so routes added after that are listed too. Unbound (every real server), this does
/// nothing.
package final class ServedRouteRecorder: @unchecked Sendable {
    /// The recorder for the `buildApplication` call running in this task, if a test bound one.
    @TaskLocal package static var current: ServedRouteRecorder?

    // Unchecked Sendable: written once, inside `buildApplication`, and read by the same test after that call
    // returns; the router is not otherwise shared.
    private var router: Router<AppRequestContext>?

    /// Makes an empty recorder.
    package init() {}

    /// Keeps `router` for ``routes``.
    func record(_ router: Router<AppRequestContext>) {
        self.router = router
    }

    /// Every route of the recorded router, in the router's order; `nil` when no router was recorded.
    package var routes: [ServedRoute]? {
        router?.routes.map { ServedRoute(method: $0.method, path: $0.path.description) }
    }
}
