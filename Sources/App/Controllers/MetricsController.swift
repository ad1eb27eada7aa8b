import Core
import Hummingbird
import Logging
import NIOCore

/// `GET /metrics` in the Prometheus text format, optionally limited to some networks (`metrics.allow`) and to
/// holders of an admin- or read-scope key (`metrics.require_api_key`).
struct MetricsController {
    let settings: MetricsSettings
    let metrics: AppMetrics
    let store: any MessageStore
    let authenticator: APIKeyAuthenticator

    func addRoutes(to router: Router<AppRequestContext>) {
        guard settings.isEnabled else { return }
        router.get("/metrics") { request, context in
            try await scrape(request, context: context)
        }
    }

    func scrape(_ request: Request, context: AppRequestContext) async throws -> Response {
        if !settings.allow.isEmpty {
            let peer = context.remoteAddress?.ipAddress
            guard let peer, settings.allow.contains(where: { $0.contains(peer) }) else {
                throw APIError(.forbidden, code: "forbidden", message: "metrics are not served to this address")
            }
        }
        if settings.requiresAPIKey {
            try await authenticator.authenticate(request, context: context, allowed: [.admin, .read])
        }
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
