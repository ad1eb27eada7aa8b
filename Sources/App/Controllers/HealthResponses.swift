import Core
import Foundation
import Hummingbird
import Kafka

/// `GET /health/live`: always `{"status": "alive"}`.
struct Liveness: ResponseEncodable, Sendable {
    /// `alive`.
    var status = "alive"
}

/// `GET /health/ready`: `ready`, or `not_ready` with the reason (left out when ready).
struct Readiness: ResponseEncodable, Sendable {
    /// `ready` or `not_ready`.
    var status: String
    /// Why not: the store's problem, or `shutting down`.
    var reason: String?
}

/// `GET /health`: the overall status, the version and each component's health.
struct HealthReport: ResponseEncodable, Sendable {
    /// The store: `up`, or `down` with the error.
    struct StoreComponent: Encodable, Sendable {
        /// `up` or `down`.
        var status: String
        /// What the store check reported; left out when up.
        var error: String?
    }

    /// The components checked.
    struct Components: Encodable, Sendable {
        /// The store.
        var store: StoreComponent
        /// Each destination by its redacted name.
        var destinations: [String: DestinationReport]
        /// The Kafka producer; left out when no route delivers to Kafka.
        var kafka: KafkaReport?
    }

    /// `healthy`, `degraded` or `unhealthy`.
    var status: String
    /// ``MessageBridgeVersion/current``.
    var version: String
    /// The components checked.
    var components: Components
}

/// `GET /status`: version, uptime, routes, message counts, destinations, breakers and Kafka.
///
/// `oldest_pending_age_seconds` and `kafka` are always present, `null` when there is nothing to report.
struct StatusReport: ResponseEncodable, Sendable {
    /// A configured route and where it delivers.
    struct RouteSummary: Encodable, Sendable {
        /// The route's path.
        var path: String
        /// Its destination with credentials redacted (``Destination/redactedDescription``).
        var destination: String
    }

    /// ``MessageBridgeVersion/current``.
    var version: String
    /// This process's node id (the lease owner).
    var nodeID: String
    /// When the server started.
    var startedAt: String
    /// Whole seconds since then.
    var uptimeSeconds: Int
    /// The configured routes.
    var routes: [RouteSummary]
    /// How many messages are in each status (every status, zeros included).
    var messages: [String: Int]
    /// How long the oldest message not yet delivered or failed has waited; `null` when there is none.
    var oldestPendingAgeSeconds: Double?
    /// Each destination by its redacted name.
    var destinations: [String: DestinationReport]
    /// Each circuit breaker's state by destination; empty when breakers are off.
    var circuitBreakers: [String: String]
    /// The Kafka producer; `null` when no route delivers to Kafka.
    var kafka: KafkaReport?

    enum CodingKeys: String, CodingKey {
        case version, routes, messages, destinations, kafka
        case nodeID = "node_id"
        case startedAt = "started_at"
        case uptimeSeconds = "uptime_seconds"
        case oldestPendingAgeSeconds = "oldest_pending_age_seconds"
        case circuitBreakers = "circuit_breakers"
    }

    /// Written out because two optionals are `null` when unset, where the synthesized encoding leaves them out.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(version, forKey: .version)
        try container.encode(nodeID, forKey: .nodeID)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(uptimeSeconds, forKey: .uptimeSeconds)
        try container.encode(routes, forKey: .routes)
        try container.encode(messages, forKey: .messages)
        try container.encode(oldestPendingAgeSeconds, forKey: .oldestPendingAgeSeconds)
        try container.encode(destinations, forKey: .destinations)
        try container.encode(circuitBreakers, forKey: .circuitBreakers)
        try container.encode(kafka, forKey: .kafka)
    }
}

/// One destination's recent delivery record; the `last_*` keys are left out until there is one.
struct DestinationReport: Encodable, Sendable {
    /// `ok`, or `failing` after a failed attempt with no success since.
    var status: String
    /// Failed attempts since the last success.
    var consecutiveFailures: Int
    /// The last successful delivery.
    var lastSuccessAt: String?
    /// The last failed attempt.
    var lastFailureAt: String?
    /// The last failure's error.
    var lastError: String?

    enum CodingKeys: String, CodingKey {
        case status
        case consecutiveFailures = "consecutive_failures"
        case lastSuccessAt = "last_success_at"
        case lastFailureAt = "last_failure_at"
        case lastError = "last_error"
    }

    /// The report of `entry`.
    init(_ entry: DestinationHealth.Entry) {
        status = entry.consecutiveFailures == 0 ? "ok" : "failing"
        consecutiveFailures = entry.consecutiveFailures
        lastSuccessAt = entry.lastSuccessAt?.rfc3339
        lastFailureAt = entry.lastFailureAt?.rfc3339
        lastError = entry.lastError
    }

    /// Each destination's report by its name with credentials redacted (``URLRedaction``).
    static func byRedactedName(_ entries: [String: DestinationHealth.Entry]) -> [String: DestinationReport] {
        Dictionary(entries.map { (URLRedaction.redacted($0.key), DestinationReport($0.value)) }, uniquingKeysWith: { _, last in last })
    }
}

/// The Kafka producer's counters and connection: `brokers` only when up, `error` only when down.
struct KafkaReport: Encodable, Sendable {
    /// Records handed to librdkafka and not yet reported.
    var inFlight: Int
    /// Records acknowledged by the brokers.
    var produced: Int
    /// Records that failed.
    var failed: Int
    /// `up`, `down` or `unknown`.
    var status: String
    /// How many brokers the producer reaches; left out unless up.
    var brokers: Int?
    /// librdkafka's explanation; left out unless down.
    var error: String?

    enum CodingKeys: String, CodingKey {
        case produced, failed, status, brokers, error
        case inFlight = "in_flight"
    }

    /// The report of `producer`'s counters, with `state` as its connection.
    init(_ state: KafkaConnectionState, producer: KafkaProducer) {
        inFlight = producer.inFlightCount
        produced = producer.producedCount
        failed = producer.failedCount
        switch state {
        case .connected(let brokerCount):
            status = "up"
            brokers = brokerCount
        case .disconnected(let reason):
            status = "down"
            error = reason
        case .unknown:
            status = "unknown"
        }
    }
}
