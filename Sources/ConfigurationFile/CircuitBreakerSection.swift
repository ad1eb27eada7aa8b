import Core
import Foundation
import Yams

/// `circuit_breaker:`.
extension NodeReader {
    mutating func readCircuitBreaker(_ node: Node?) -> CircuitBreakerSettings {
        var settings = CircuitBreakerSettings()
        let entries = mapping(
            node, key: "circuit_breaker", known: ["enabled", "failure_threshold", "open_timeout", "success_threshold"]
        )
        if let value = bool(entries["enabled"], key: "circuit_breaker.enabled") { settings.isEnabled = value }
        if let value = int(entries["failure_threshold"], key: "circuit_breaker.failure_threshold", range: 1...10_000) {
            settings.failureThreshold = value
        }
        if let value = duration(entries["open_timeout"], key: "circuit_breaker.open_timeout", minimum: .milliseconds(1)) {
            settings.openTimeout = value
        }
        if let value = int(entries["success_threshold"], key: "circuit_breaker.success_threshold", range: 1...10_000) {
            settings.successThreshold = value
        }
        return settings
    }
}
