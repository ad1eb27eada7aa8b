import Core
import Foundation
import Hummingbird
import Kafka
import Logging
import ServiceLifecycle
import Synchronization

/// `/health`, `/health/live`, `/health/ready` and `/status`.
///
/// Destination URLs appear with their userinfo and query string redacted (``URLRedaction``): these documents are
/// readable without a key (`/status` can be limited with `status.allow` and `status.require_api_key`).
struct HealthController {
    /// The paths this controller serves.
    static let ownedPaths = ["/health", "/status", "/api/v1/health"]

    let store: any MessageStore
    let routes: [IngestController.Route]
    let destinationHealth: DestinationHealth
    let breakers: CircuitBreakerRegistry?
    let kafkaProducer: KafkaProducer?
    let startedAt: Date
    /// The server's clock: uptime and the oldest message's age are read against it.
    let clock: any WallClock
    let nodeID: String
    let isShuttingDown: @Sendable () -> Bool
    /// Who may read `/status` (`status:`).
    let statusGuard: EndpointGuard
    /// The store check, shared by `/health` and `/health/ready`.
    let storeProbe: StoreHealthProbe

    /// `/health`, `/health/live`, `/health/ready` and `/status`, mounted at the root.
    var endpoints: RouteCollection<AppRequestContext> {
        let router = RouteCollection(context: AppRequestContext.self)
        // Seed 003's probe paths are aliases of the same three.
        for path in ["/health/live", "/api/v1/health/liveness"] {
            router.get(RouterPath(path)) { _, _ in Liveness() }
        }
        for path in ["/health/ready", "/api/v1/health/readiness"] {
            router.get(RouterPath(path)) { _, context in try await readiness(context) }
        }
        for path in ["/health", "/api/v1/health"] {
            router.get(RouterPath(path)) { _, context in try await health(context) }
        }
        router.get("/status") { request, context in
            try await statusGuard.check(request, context: context)
            let counts = try await store.statusCounts()
            let oldest = try await store.oldestUndeliveredAcceptedAt()
            let now = clock.now
            return StatusReport(
                version: MessageBridgeVersion.current,
                nodeID: nodeID,
                startedAt: startedAt.rfc3339,
                uptimeSeconds: Int(now.timeIntervalSince(startedAt)),
                routes: routes.map { .init(path: $0.path, destination: $0.destination.redactedDescription) },
                messages: Dictionary(counts.map { ($0.key.rawValue, $0.value) }, uniquingKeysWith: { first, _ in first }),
                oldestPendingAgeSeconds: oldest.map { max(0, now.timeIntervalSince($0)) },
                destinations: DestinationReport.byRedactedName(destinationHealth.snapshot),
                circuitBreakers: (breakers?.states() ?? [:]).mapValues(\.rawValue),
                kafka: kafkaProducer.map { KafkaReport($0.connectionState, producer: $0) }
            )
        }
        return router
    }

    private func readiness(_ context: AppRequestContext) async throws -> EditedResponse<Readiness> {
        let storeProblem = await storeProbe.problem(logger: context.logger)
        let isReady = storeProblem == nil && !isShuttingDown()
        let reason = storeProblem.map { "store: \($0)" } ?? (isReady ? nil : "shutting down")
        return EditedResponse(
            status: isReady ? .ok : .serviceUnavailable,
            response: Readiness(status: isReady ? "ready" : "not_ready", reason: reason)
        )
    }

    private func health(_ context: AppRequestContext) async throws -> EditedResponse<HealthReport> {
        let storeProblem = await storeProbe.problem(logger: context.logger)
        let destinations = destinationHealth.snapshot
        let failing = destinations.filter { $0.value.consecutiveFailures > 0 }
        let baseStatus = storeProblem != nil || isShuttingDown() ? "unhealthy" : failing.isEmpty ? "healthy" : "degraded"
        var components = HealthReport.Components(
            store: .init(status: storeProblem == nil ? "up" : "down", error: storeProblem),
            destinations: DestinationReport.byRedactedName(destinations)
        )
        var isKafkaDown = false
        if let kafkaProducer {
            let state = await kafkaProducer.checkConnection(timeout: .seconds(2))
            isKafkaDown = !state.isConnected
            components.kafka = KafkaReport(state, producer: kafkaProducer)
        }
        let status = baseStatus == "healthy" && isKafkaDown ? "degraded" : baseStatus
        return EditedResponse(
            status: status == "unhealthy" ? .serviceUnavailable : .ok,
            response: HealthReport(status: status, version: MessageBridgeVersion.current, components: components)
        )
    }
}
