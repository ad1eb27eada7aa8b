import Core
import Logging

/// Sends each message to the sink for its destination kind; the one `DeliverySink` the dispatcher sees.
struct SinkRouter: DeliverySink {
    let sinks: [String: any DeliverySink]

    func deliver(_ message: NewMessage, attempt: Int, logger: Logger) async -> DeliveryResult {
        guard let sink = sinks[message.destination.kind] else {
            return .retryable(DeliveryError(
                reason: "no_sink",
                message: "no \(message.destination.kind) sink is configured on this node"
            ))
        }
        return await sink.deliver(message, attempt: attempt, logger: logger)
    }
}
