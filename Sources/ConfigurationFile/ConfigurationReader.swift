import Core
import Foundation
import Yams

/// The whole file: the top-level keys, each section read by its own reader.
extension NodeReader {
    mutating func readConfiguration(_ root: Node?) -> MessageBridgeConfiguration {
        var configuration = MessageBridgeConfiguration()
        let top = mapping(
            root, key: "",
            known: ["server", "routes", "kafka", "sqlite", "remote_url", "worker", "logging", "circuit_breaker",
                    "rate_limits", "cors", "metrics", "status", "auth", "chat", "webhooks", "backup"]
        )
        configuration.server = readServer(top["server"])
        configuration.sqlite = readSQLite(top["sqlite"])
        configuration.kafka = readKafka(top["kafka"])
        configuration.remoteURL = readRemoteURL(top["remote_url"], present: top["remote_url"] != nil)
        configuration.worker = readWorker(top["worker"])
        configuration.logging = readLogging(top["logging"])
        configuration.circuitBreaker = readCircuitBreaker(top["circuit_breaker"])
        configuration.rateLimits = readRateLimits(top["rate_limits"])
        configuration.cors = readCORS(top["cors"])
        configuration.metrics = readMetrics(top["metrics"])
        configuration.status = readStatus(top["status"])
        configuration.auth = readAuth(top["auth"])
        configuration.chat = readChat(top["chat"])
        configuration.webhooks = readWebhooks(top["webhooks"])
        configuration.backup = readBackup(top["backup"])
        configuration.routes = readRoutes(top["routes"], configuration: configuration)
        return configuration
    }
}
