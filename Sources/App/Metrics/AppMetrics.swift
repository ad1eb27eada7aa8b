import Core
import Foundation
import Prometheus
import Synchronization

/// The Prometheus registry `/metrics` exposes, and the collectors the app records into it directly.
///
/// The delivery code records through swift-metrics (`Counter(label:)`, `Timer(label:)`); those reach this registry
/// only when the process bootstrapped `MetricsSystem` with a `PrometheusMetricsFactory` over the same registry, as
/// `messagebridge serve` does (once per process). The HTTP, backlog and WebSocket collectors here are created on the
/// registry itself, so every application (tests build many in one process) has them whatever was bootstrapped.
public final class AppMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry: PrometheusCollectorRegistry

    /// Buckets for `http_request_duration_seconds`: 1 ms to 10 s.
    static let requestDurationBuckets: [Duration] = [
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    // Computed: MetricNameDescriptor is not Sendable, so it cannot be a stored static.
    static var requestsDescriptor: MetricNameDescriptor { MetricNameDescriptor(
        metricName: "http_requests", unitName: "total", helpText: "HTTP requests answered, by method, route template and status."
    ) }
    static var durationDescriptor: MetricNameDescriptor { MetricNameDescriptor(
        metricName: "http_request_duration", unitName: "seconds", helpText: "Time to answer an HTTP request, by method and route template."
    ) }
    static var backlogDescriptor: MetricNameDescriptor { MetricNameDescriptor(
        metricName: "messagebridge_backlog", unitName: "", helpText: "Stored messages in each status."
    ) }
    static var websocketDescriptor: MetricNameDescriptor { MetricNameDescriptor(
        metricName: "websocket_connections", unitName: "active", helpText: "Open WebSocket connections."
    ) }

    /// Open WebSocket connections (none are served yet, so it stays 0).
    public let websocketConnections: Prometheus.Gauge
    /// Chat messages stored (seed 004's `messages_total`).
    public let chatMessages: Prometheus.Counter
    /// Scheduled backups written.
    let backupsSucceeded: Prometheus.Counter
    /// Scheduled backups that failed.
    let backupsFailed: Prometheus.Counter
    /// When the last scheduled backup was written (Unix seconds; 0 before the first).
    let lastBackupSuccess: Prometheus.Gauge
    /// How long the oldest message not yet delivered or failed has waited (0 when none has).
    let oldestPendingAge: Prometheus.Gauge
    private let backlog: [MessageStatus: Prometheus.Gauge]
    private let backlogRefreshedAt = Mutex<ContinuousClock.Instant?>(nil)
    private let requestHandles = Mutex<[RequestLabels: RequestHandles]>([:])

    /// Registers the app's own collectors on `registry` (reusing them when another app already did).
    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        websocketConnections = registry.makeGauge(descriptor: Self.websocketDescriptor)
        chatMessages = registry.makeCounter(descriptor: MetricNameDescriptor(
            metricName: "messages", unitName: "total", helpText: "Chat messages stored."
        ))
        let backups = MetricNameDescriptor(
            metricName: "messagebridge_backups", unitName: "total", helpText: "Scheduled database backups, by outcome."
        )
        backupsSucceeded = registry.makeCounter(descriptor: backups, labels: [("outcome", "success")])
        backupsFailed = registry.makeCounter(descriptor: backups, labels: [("outcome", "failure")])
        lastBackupSuccess = registry.makeGauge(descriptor: MetricNameDescriptor(
            metricName: "messagebridge_backup_last_success_timestamp", unitName: "seconds",
            helpText: "When the last scheduled backup was written, in Unix seconds; 0 before the first."
        ))
        oldestPendingAge = registry.makeGauge(descriptor: MetricNameDescriptor(
            metricName: "messagebridge_oldest_pending_age", unitName: "seconds",
            helpText: "How long the oldest stored message not yet delivered or failed has waited; 0 when there is none."
        ))
        var backlog: [MessageStatus: Prometheus.Gauge] = [:]
        for status in MessageStatus.allCases {
            backlog[status] = registry.makeGauge(descriptor: Self.backlogDescriptor, labels: [("status", status.rawValue)])
        }
        self.backlog = backlog
    }

    /// Counts one answered request and its duration. `route` must be a route template or `unmatched`, never a
    /// raw path, so label values stay bounded.
    ///
    /// The two handles of each (method, route, status) are made once and kept: asking the registry for them on every
    /// request built their names and label strings and searched its tables under its lock, ~4 µs a request.
    func recordRequest(method: String, route: String, status: Int, duration: Duration) {
        let key = RequestLabels(method: method, route: route, status: status)
        let handles = requestHandles.withLock { $0[key] } ?? makeRequestHandles(key)
        handles.requests.increment()
        handles.duration.record(duration)
    }

    /// The labels of one request's metrics.
    private struct RequestLabels: Hashable {
        let method: String
        let route: String
        let status: Int
    }

    /// The metrics one request records.
    private struct RequestHandles: Sendable {
        let requests: Prometheus.Counter
        let duration: Prometheus.DurationHistogram
    }

    private func makeRequestHandles(_ key: RequestLabels) -> RequestHandles {
        let handles = RequestHandles(
            requests: registry.makeCounter(
                descriptor: Self.requestsDescriptor,
                labels: [("method", key.method), ("route", key.route), ("status", String(key.status))]
            ),
            duration: registry.makeDurationHistogram(
                descriptor: Self.durationDescriptor,
                labels: [("method", key.method), ("route", key.route)],
                buckets: Self.requestDurationBuckets
            )
        )
        requestHandles.withLock { $0[key] = handles }
        return handles
    }

    /// Sets `messagebridge_backlog` from `store`, unless it was refreshed less than `maximumAge` ago (so frequent
    /// scrapes cost one count query per interval). A failed count leaves the last values.
    func refreshBacklog(from store: any MessageStore, maximumAge: Duration = .seconds(5)) async throws {
        let now = ContinuousClock.now
        let isFresh = backlogRefreshedAt.withLock { last -> Bool in
            if let last, now - last < maximumAge { return true }
            last = now
            return false
        }
        guard !isFresh else { return }
        let counts = try await store.statusCounts()
        for (status, gauge) in backlog {
            gauge.set(to: Double(counts[status] ?? 0))
        }
        let oldest = try await store.oldestUndeliveredAcceptedAt()
        oldestPendingAge.set(oldest.map { max(0, Date().timeIntervalSince($0)) } ?? 0)
    }
}

extension AppMetrics {
    /// Collectors on a registry of their own: `/metrics` then shows the HTTP, backlog and WebSocket metrics, but not
    /// what swift-metrics records unless `MetricsSystem` was bootstrapped over this same registry.
    public convenience init() {
        self.init(registry: PrometheusCollectorRegistry())
    }
}
