import Core
import Foundation
import Yams

/// `worker:`.
extension NodeReader {
    mutating func readWorker(_ node: Node?) -> WorkerSettings {
        var worker = WorkerSettings()
        let entries = mapping(
            node, key: "worker",
            known: [
                "retry_interval", "batch_size", "max_retries", "initial_backoff", "max_backoff", "concurrency",
                "lease_timeout", "delivered_retention", "http_timeout",
            ]
        )
        if let value = duration(entries["retry_interval"], key: "worker.retry_interval", minimum: .milliseconds(10)) {
            worker.retryInterval = value
        }
        if let value = int(entries["batch_size"], key: "worker.batch_size", range: 1...10_000) { worker.batchSize = value }
        if let value = int(entries["max_retries"], key: "worker.max_retries", range: 0...1_000_000) { worker.maxRetries = value }
        if let value = duration(entries["initial_backoff"], key: "worker.initial_backoff", minimum: .milliseconds(1)) {
            worker.initialBackoff = value
        }
        if let value = duration(entries["max_backoff"], key: "worker.max_backoff", minimum: .milliseconds(1)) {
            worker.maxBackoff = value
        }
        if let value = int(entries["concurrency"], key: "worker.concurrency", range: 1...100_000) { worker.concurrency = value }
        if let value = duration(entries["lease_timeout"], key: "worker.lease_timeout", minimum: .seconds(1)) {
            worker.leaseTimeout = value
        }
        if let value = duration(entries["delivered_retention"], key: "worker.delivered_retention") {
            worker.deliveredRetention = value
        }
        if let value = duration(entries["http_timeout"], key: "worker.http_timeout", minimum: .milliseconds(1)) {
            worker.httpTimeout = value
        }
        if worker.maxBackoff < worker.initialBackoff {
            problem("worker.max_backoff", entries["max_backoff"] ?? node, "must not be shorter than worker.initial_backoff")
        }
        return worker
    }
}
