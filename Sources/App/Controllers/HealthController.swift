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
    /// The paths this controller serves or keeps for itself (`/stats` is reserved for the statistics endpoint).
    static let ownedPaths = ["/health", "/status", "/stats"]

    let store: any MessageStore
    let routes: [IngestController.Route]
    let destinationHealth: DestinationHealth
    let breakers: CircuitBreakerRegistry?
    let kafkaProducer: KafkaProducer?
    let startedAt: Date
    let nodeID: String
    let isShuttingDown: @Sendable () -> Bool
    /// Who may read `/status` (`status:`).
    let statusGuard: EndpointGuard
    /// The store check, shared by `/health` and `/health/ready`.
    let storeProbe: StoreHealthProbe

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/health/live") { _, _ in
            jsonResponse(.ok, ["status": "alive"])
        }
        router.get("/health/ready") { _, context in
            let storeProblem = await storeProbe.problem(logger: context.logger)
            let isReady = storeProblem == nil && !isShuttingDown()
            var body: [String: Any] = ["status": isReady ? "ready" : "not_ready"]
            if let storeProblem { body["reason"] = "store: \(storeProblem)" } else if !isReady { body["reason"] = "shutting down" }
            return jsonResponse(isReady ? .ok : .serviceUnavailable, body)
        }
        router.get("/health") { _, context in
            let storeProblem = await storeProbe.problem(logger: context.logger)
            let destinations = destinationHealth.snapshot
            let failing = destinations.filter { $0.value.consecutiveFailures > 0 }
            let baseStatus = storeProblem != nil || isShuttingDown() ? "unhealthy" : failing.isEmpty ? "healthy" : "degraded"
            var components: [String: Any] = [
                "store": storeProblem.map { ["status": "down", "error": $0] } ?? ["status": "up"],
            ]
            var destinationDetail: [String: Any] = [:]
            for (name, entry) in destinations {
                destinationDetail[URLRedaction.redacted(name)] = describe(entry)
            }
            components["destinations"] = destinationDetail
            var isKafkaDown = false
            if let kafkaProducer {
                let state = await kafkaProducer.checkConnection(timeout: .seconds(2))
                isKafkaDown = !state.isConnected
                components["kafka"] = describe(state, producer: kafkaProducer)
            }
            let status = baseStatus == "healthy" && isKafkaDown ? "degraded" : baseStatus
            let body: [String: Any] = [
                "status": status,
                "version": MessageBridgeVersion.current,
                "components": components,
            ]
            return jsonResponse(status == "unhealthy" ? .serviceUnavailable : .ok, body)
        }
        router.get("/status") { request, context in
            try await statusGuard.check(request, context: context)
            let counts = try await store.statusCounts()
            let oldest = try await store.oldestUndeliveredAcceptedAt()
            var countsBody: [String: Any] = [:]
            for (status, count) in counts { countsBody[status.rawValue] = count }
            var destinationDetail: [String: Any] = [:]
            for (name, entry) in destinationHealth.snapshot { destinationDetail[URLRedaction.redacted(name)] = describe(entry) }
            let body: [String: Any] = [
                "version": MessageBridgeVersion.current,
                "node_id": nodeID,
                "started_at": RFC3339.string(from: startedAt),
                "uptime_seconds": Int(Date().timeIntervalSince(startedAt)),
                "routes": routes.map { ["path": $0.path, "destination": $0.destination.redactedDescription] },
                "messages": countsBody,
                "oldest_pending_age_seconds": oldest.map { max(0, Date().timeIntervalSince($0)) } ?? NSNull(),
                "destinations": destinationDetail,
                "circuit_breakers": (breakers?.states() ?? [:]).mapValues(\.rawValue),
                "kafka": kafkaProducer.map { describe($0.connectionState, producer: $0) } ?? NSNull(),
            ]
            return jsonResponse(.ok, body)
        }
    }

    private func describe(_ state: KafkaConnectionState, producer: KafkaProducer) -> [String: Any] {
        var detail: [String: Any] = [
            "in_flight": producer.inFlightCount,
            "produced": producer.producedCount,
            "failed": producer.failedCount,
        ]
        switch state {
        case .connected(let brokerCount):
            detail["status"] = "up"
            detail["brokers"] = brokerCount
        case .disconnected(let reason):
            detail["status"] = "down"
            detail["error"] = reason
        case .unknown:
            detail["status"] = "unknown"
        }
        return detail
    }

    private func describe(_ entry: DestinationHealth.Entry) -> [String: Any] {
        var detail: [String: Any] = [
            "status": entry.consecutiveFailures == 0 ? "ok" : "failing",
            "consecutive_failures": entry.consecutiveFailures,
        ]
        if let date = entry.lastSuccessAt { detail["last_success_at"] = RFC3339.string(from: date) }
        if let date = entry.lastFailureAt { detail["last_failure_at"] = RFC3339.string(from: date) }
        if let error = entry.lastError { detail["last_error"] = error }
        return detail
    }
}

/// A JSON response from a dictionary (for the few small, irregular ops documents).
func jsonResponse(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
    Response(
        status: status,
        headers: [.contentType: "application/json; charset=utf-8"],
        body: .init(byteBuffer: ByteBuffer(string: MessageJSON.serialize(object)))
    )
}
