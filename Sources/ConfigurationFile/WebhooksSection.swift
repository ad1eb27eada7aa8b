import Core
import Foundation
import Yams

/// `webhooks:`: outgoing event webhooks.
extension NodeReader {
    mutating func readWebhooks(_ node: Node?) -> EventWebhookSettings {
        var settings = EventWebhookSettings()
        let key = "webhooks"
        let entries = mapping(node, key: key, known: [
            "retry_schedule", "retry_jitter", "retry_after_max", "timeout", "disable_after", "disable_after_failures",
            "rotation_grace", "concurrency", "max_in_flight_per_endpoint", "allow_networks", "response_excerpt_bytes",
            "poll_interval",
        ])
        if let delays = stringList(entries["retry_schedule"], key: "\(key).retry_schedule") {
            var schedule: [Duration] = []
            for (index, text) in delays.enumerated() {
                guard let delay = ConfigDuration.parse(text) else {
                    problem("\(key).retry_schedule[\(index)]", entries["retry_schedule"], "expected a duration such as 5s or 30m, got \"\(text)\"")
                    continue
                }
                schedule.append(delay)
            }
            if schedule.count > 100 {
                problem("\(key).retry_schedule", entries["retry_schedule"], "at most 100 retries, got \(schedule.count)")
            }
            settings.retrySchedule = schedule
        }
        if let text = string(entries["retry_jitter"], key: "\(key).retry_jitter") {
            if let value = Double(text), (0...0.5).contains(value) {
                settings.retryJitter = value
            } else {
                problem("\(key).retry_jitter", entries["retry_jitter"], "expected a fraction from 0 to 0.5 (0.1 = ±10 %), got \"\(text)\"")
            }
        }
        if let value = duration(entries["retry_after_max"], key: "\(key).retry_after_max") { settings.retryAfterMax = value }
        if let value = duration(entries["timeout"], key: "\(key).timeout", minimum: .milliseconds(1)) { settings.timeout = value }
        if let value = duration(entries["disable_after"], key: "\(key).disable_after", minimum: .seconds(1)) { settings.disableAfter = value }
        if let value = int(entries["disable_after_failures"], key: "\(key).disable_after_failures", range: 0...1_000_000) {
            settings.disableAfterFailures = value
        }
        if let value = duration(entries["rotation_grace"], key: "\(key).rotation_grace") { settings.rotationGrace = value }
        if let value = int(entries["concurrency"], key: "\(key).concurrency", range: 1...4096) { settings.concurrency = value }
        if let value = int(entries["max_in_flight_per_endpoint"], key: "\(key).max_in_flight_per_endpoint", range: 1...4096) {
            settings.maxInFlightPerEndpoint = value
        }
        if let value = int(entries["response_excerpt_bytes"], key: "\(key).response_excerpt_bytes", range: 0...65_536) {
            settings.responseExcerptBytes = value
        }
        if let value = duration(entries["poll_interval"], key: "\(key).poll_interval", minimum: .milliseconds(10)) {
            settings.pollInterval = value
        }
        // The environment variable replaces the list; it is a comma-separated one.
        let networks = string(nil, key: "\(key).allow_networks").map { text in
            text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        } ?? stringList(entries["allow_networks"], key: "\(key).allow_networks") ?? []
        for (index, text) in networks.enumerated() {
            if let block = CIDRBlock(text) {
                settings.allowNetworks.append(block)
            } else {
                problem("\(key).allow_networks[\(index)]", entries["allow_networks"], "expected an IP address or CIDR range such as 127.0.0.0/8, got \"\(text)\"")
            }
        }
        return settings
    }
}
