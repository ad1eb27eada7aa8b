import Core
import Hummingbird
import Logging
import NIOCore

/// `GET /metrics` in the Prometheus text format, optionally limited to some networks (`metrics.allow`) and to
/// holders of an admin- or read-scope key (`metrics.require_api_key`).
struct MetricsController {
    /// The paths this controller serves.
    static let ownedPaths = ["/metrics", "/api/v1/metrics"]

    let settings: MetricsSettings
    let metrics: AppMetrics
    let store: any MessageStore
    let authenticator: APIKeyAuthenticator

    /// `/metrics`, mounted at the root; none when `metrics.enabled` is false.
    var endpoints: RouteCollection<AppRequestContext> {
        let router = RouteCollection(context: AppRequestContext.self)
        guard settings.isEnabled else { return router }
        // `/api/v1/metrics` is seed 003's path for the same page.
        for path in ["/metrics", "/api/v1/metrics"] {
            router.get(RouterPath(path)) { request, context in try await scrape(request, context: context) }
        }
        return router
    }

    func scrape(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await EndpointGuard(access: settings.access, authenticator: authenticator, section: "metrics")
            .check(request, context: context)
        do {
            try await metrics.refreshBacklog(from: store)
        } catch {
            // Serve the other metrics with the last backlog values rather than failing the scrape.
            context.logger.warning("cannot refresh backlog metrics", metadata: ["error": "\(error)"])
        }
        var buffer = ByteBuffer()
        buffer.writeBytes(metrics.registry.emitToBuffer())
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: buffer)
        )
    }
}
