import Core
import Foundation
import Yams

/// `kafka:` (librdkafka judges its properties afterwards: KafkaSection+Validation.swift).
extension NodeReader {
    mutating func readKafka(_ node: Node?) -> KafkaSettings? {
        guard let node else { return nil }
        var kafka = KafkaSettings()
        let entries = mapping(
            node, key: "kafka",
            known: [
                "brokers", "security_protocol", "sasl_mechanism", "sasl_username", "sasl_password", "tls_enabled",
                "ca_file", "cert_file", "key_file", "timeout", "batch_size", "retry_max", "retry_backoff", "properties",
                "max_in_flight",
            ]
        )
        kafka.brokers = stringList(entries["brokers"], key: "kafka.brokers") ?? []
        if kafka.brokers.isEmpty {
            problem("kafka.brokers", entries["brokers"] ?? node, "at least one broker (host:port) is required")
        }
        for (index, broker) in kafka.brokers.enumerated() where !isHostPort(broker) {
            problem("kafka.brokers[\(index)]", entries["brokers"], "expected host:port, got \"\(broker)\"")
        }
        if let value = string(entries["security_protocol"], key: "kafka.security_protocol") {
            let allowed = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
            if allowed.contains(value.uppercased()) {
                kafka.securityProtocol = value.uppercased()
            } else {
                problem("kafka.security_protocol", entries["security_protocol"], "must be one of \(allowed.joined(separator: ", ")), got \"\(value)\"")
            }
        }
        if let value = string(entries["sasl_mechanism"], key: "kafka.sasl_mechanism") {
            let allowed = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
            if allowed.contains(value.uppercased()) {
                kafka.saslMechanism = value.uppercased()
            } else {
                problem("kafka.sasl_mechanism", entries["sasl_mechanism"], "must be one of \(allowed.joined(separator: ", ")), got \"\(value)\"")
            }
        }
        kafka.saslUsername = string(entries["sasl_username"], key: "kafka.sasl_username")
        kafka.saslPassword = string(entries["sasl_password"], key: "kafka.sasl_password")
        if let tls = bool(entries["tls_enabled"], key: "kafka.tls_enabled") { kafka.tlsEnabled = tls }
        kafka.caFile = string(entries["ca_file"], key: "kafka.ca_file")
        kafka.certFile = string(entries["cert_file"], key: "kafka.cert_file")
        kafka.keyFile = string(entries["key_file"], key: "kafka.key_file")
        if let timeout = duration(entries["timeout"], key: "kafka.timeout", minimum: .milliseconds(1)) { kafka.timeout = timeout }
        kafka.batchSize = int(entries["batch_size"], key: "kafka.batch_size", range: 1...1_000_000)
        kafka.retryMax = int(entries["retry_max"], key: "kafka.retry_max", range: 0...1_000_000)
        kafka.retryBackoff = duration(entries["retry_backoff"], key: "kafka.retry_backoff")
        if let value = int(entries["max_in_flight"], key: "kafka.max_in_flight", range: 1...1_000_000) { kafka.maxInFlight = value }
        if let properties = entries["properties"] {
            if case .mapping(let mapping) = properties {
                for (keyNode, value) in mapping {
                    guard let name = keyNode.string else { continue }
                    if let text = string(value, key: "kafka.properties.\(name)") { kafka.properties[name] = text }
                }
            } else {
                problem("kafka.properties", properties, "expected a mapping of librdkafka property names to values")
            }
        }
        if let mechanism = kafka.saslMechanism, kafka.saslUsername == nil {
            problem("kafka.sasl_username", entries["sasl_mechanism"], "is required when sasl_mechanism is \(mechanism)")
        }
        return kafka
    }

    func isHostPort(_ text: String) -> Bool {
        guard let colon = text.lastIndex(of: ":"), colon != text.startIndex else { return false }
        guard let port = Int(text[text.index(after: colon)...]) else { return false }
        return (1...65535).contains(port)
    }
}
