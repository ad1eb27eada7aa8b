import Core
import Logging

/// Sends each message to the sink for its destination kind; the one `DeliverySink` the dispatcher sees.
struct SinkRouter: DeliverySink {
    let sinks: [SinkKind: any DeliverySink]

    func deliver(_ message: NewMessage, attempt: Int, logger: Logger) async -> DeliveryResult {
        guard let sink = sinks[message.destination.kind] else { return Self.noSink(message.destination.kind) }
        return await sink.deliver(message, attempt: attempt, logger: logger)
    }

    /// Hands each kind's share of the batch to its sink as one batch (a dispatcher lane holds one kind, so that is
    /// normally the whole batch).
    func deliver(batch: [DeliveryRequest], logger: Logger) async -> [DeliveryResult] {
        var indicesByKind: [SinkKind: [Int]] = [:]
        for (index, request) in batch.enumerated() {
            indicesByKind[request.message.destination.kind, default: []].append(index)
        }
        var results = [DeliveryResult?](repeating: nil, count: batch.count)
        for (kind, indices) in indicesByKind {
            let share = indices.count == batch.count ? batch : indices.map { batch[$0] }
            let shareResults: [DeliveryResult]
            if let sink = sinks[kind] {
                shareResults = await sink.deliver(batch: share, logger: logger)
            } else {
                shareResults = Array(repeating: Self.noSink(kind), count: share.count)
            }
            for (position, index) in indices.enumerated() { results[index] = shareResults[position] }
        }
        // Force-unwrap: every index belongs to exactly one kind, whose results were stored above.
        return results.map { $0! }
    }

    /// Retryable: another node (or this one after a configuration change) may have the sink.
    private static func noSink(_ kind: SinkKind) -> DeliveryResult {
        .retryable(DeliveryError(reason: .noSink, message: "no \(kind.rawValue) sink is configured on this node"))
    }
}
