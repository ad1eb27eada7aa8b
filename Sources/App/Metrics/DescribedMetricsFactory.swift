import Metrics
import Prometheus

/// The swift-metrics factory `messagebridge serve` bootstraps: Prometheus collectors on the app's registry, each
/// created with its HELP text from ``help`` (swift-prometheus's own factory creates every one without), so that
/// `/metrics` describes every metric and `promtool check metrics` has nothing to report.
///
/// A metric created through swift-metrics under a label missing from ``help`` gets a generic text naming its label;
/// a test holds the table to the labels the code uses.
public struct DescribedMetricsFactory: MetricsFactory {
    /// The HELP text of every metric recorded through swift-metrics.
    public static let help: [String: String] = [
        "messagebridge_messages_accepted_total": "Webhooks stored and acknowledged with 202, by route.",
        "messagebridge_messages_duplicate_total": "Webhooks answered as duplicates of a stored one (dedup), by route.",
        "messagebridge_messages_delivered_total": "Stored webhooks delivered to their destination, by route and sink.",
        "messagebridge_delivery_failures_total": "Failed delivery attempts, by route, sink and reason.",
        "messagebridge_delivery_latency_seconds": "Time of one delivery attempt, by sink.",
        "messagebridge_store_failures_total": "Store writes that failed (the request was answered 5xx), by operation.",
        "messagebridge_rate_limited_total": "Requests refused by a rate limit, by limit.",
        "messagebridge_signature_failures_total": "Webhooks refused because their signature did not verify, by route and reason.",
        "messagebridge_kafka_produced_total": "Records Kafka acknowledged, by topic.",
        "messagebridge_kafka_failed_total": "Records Kafka refused or could not take, by topic and reason.",
        "messagebridge_kafka_in_flight": "Records handed to librdkafka and not yet acknowledged.",
        "circuit_breaker_state": "Circuit breaker state per destination: 0 closed, 1 half-open, 2 open.",
        "messagebridge_event_deliveries_total": "Event-webhook delivery attempts and deferrals, by endpoint and outcome.",
        "messagebridge_event_delivery_duration_seconds": "Time of one event-webhook request, by endpoint.",
        "messagebridge_event_endpoints_disabled_total": "Event-webhook endpoints disabled for failing (410 Gone or a failure streak).",
    ]

    let registry: PrometheusCollectorRegistry
    /// Timer buckets, as swift-prometheus's factory has them: 5 ms to 10 s.
    let durationBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]
    let valueBuckets: [Double] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]

    /// A factory over `registry` (the one ``AppMetrics`` renders).
    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    private func text(_ label: String) -> String {
        Self.help[label] ?? "MessageBridge metric \(label)."
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: text(label))
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: text(label))
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(name: label, labels: dimensions, help: text(label)) }
        return registry.makeValueHistogram(name: label, labels: dimensions, buckets: valueBuckets, help: text(label))
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(name: label, labels: dimensions, help: text(label))
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(name: label, labels: dimensions, buckets: durationBuckets, help: text(label))
    }

    public func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? Histogram<Double> { registry.unregisterValueHistogram(histogram) }
    }

    public func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    public func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? Histogram<Duration> { registry.unregisterDurationHistogram(histogram) }
    }
}
