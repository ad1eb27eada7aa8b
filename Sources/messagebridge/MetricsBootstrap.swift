import App
import Metrics
import Prometheus

/// Points swift-metrics at a new Prometheus registry and returns the app's collectors over the same registry, so
/// `/metrics` shows both what the delivery code records through swift-metrics and the app's own metrics.
///
/// `MetricsSystem.bootstrap` may run only once per process: `serve` calls this once, before building the app.
func bootstrapPrometheusMetrics() -> AppMetrics {
    let registry = PrometheusCollectorRegistry()
    MetricsSystem.bootstrap(DescribedMetricsFactory(registry: registry))
    return AppMetrics(registry: registry)
}
