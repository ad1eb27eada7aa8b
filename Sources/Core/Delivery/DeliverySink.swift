import Logging

/// Something that can hand a message to its destination: an HTTP endpoint, a Kafka topic, later WebSocket
/// fan-out and event webhooks. The dispatcher and the retry worker drive every sink the same way.
public protocol DeliverySink: Sendable {
    /// Makes one delivery attempt. Never throws: every outcome is a `DeliveryResult`.
    func deliver(_ message: NewMessage, attempt: Int, logger: Logger) async -> DeliveryResult

    /// Makes one attempt for each message; one result per message, in order. Sinks that can hand many messages
    /// to their destination at once (Kafka) implement it; the default makes the attempts concurrently, one
    /// `deliver(_:attempt:logger:)` each.
    func deliver(batch: [DeliveryRequest], logger: Logger) async -> [DeliveryResult]
}

/// One message of a batch delivery and the number of the attempt being made.
public struct DeliveryRequest: Sendable {
    /// The message.
    public var message: NewMessage
    /// The attempt's number (1 for the first).
    public var attempt: Int

    /// Makes a request.
    public init(message: NewMessage, attempt: Int) {
        self.message = message
        self.attempt = attempt
    }
}

extension DeliverySink {
    /// Concurrent single deliveries.
    public func deliver(batch: [DeliveryRequest], logger: Logger) async -> [DeliveryResult] {
        await withTaskGroup(of: (Int, DeliveryResult).self) { group in
            for (index, request) in batch.enumerated() {
                group.addTask { (index, await deliver(request.message, attempt: request.attempt, logger: logger)) }
            }
            var results = [DeliveryResult?](repeating: nil, count: batch.count)
            for await (index, result) in group { results[index] = result }
            // Force-unwrap: the group ran one task per index, and each stored its result.
            return results.map { $0! }
        }
    }
}

/// What one delivery attempt came to.
public enum DeliveryResult: Sendable {
    /// The destination confirmed the message.
    case delivered(statusCode: Int?)
    /// A failure worth retrying: network errors, timeouts, 408, 429, 5xx, broker errors.
    case retryable(DeliveryError)
    /// A failure that retrying will not fix (other 4xx): the message becomes a dead letter.
    case rejected(DeliveryError)
}

/// Why an attempt failed, in a word: a closed set, safe as the `reason` metric label and listed in the README.
public enum DeliveryFailureReason: String, Sendable, CaseIterable {
    /// The destination did not answer in time.
    case timeout
    /// The connection could not be made or broke.
    case connection
    /// A 5xx answer.
    case http5xx = "http_5xx"
    /// A 4xx answer other than 408 and 429.
    case http4xx = "http_4xx"
    /// A 429 answer.
    case http429 = "http_429"
    /// The broker or librdkafka reported an error.
    case kafka
    /// No sink is configured for the message's destination kind.
    case noSink = "no_sink"
    /// The attempt was cancelled (shutdown's grace period ended).
    case cancelled
    /// A message reached a sink of the wrong kind: a bug, recorded rather than crashing.
    case `internal`
}

/// Why an attempt failed.
public struct DeliveryError: Error, Sendable, CustomStringConvertible {
    /// A short, bounded reason, safe as a metric label.
    public var reason: DeliveryFailureReason
    /// A human-readable explanation (a response body excerpt, a client error).
    public var message: String
    /// The response status code, when there was a response.
    public var statusCode: Int?
    /// How long the destination asked us to wait (`Retry-After`).
    public var retryAfter: Duration?

    /// Makes a delivery error.
    public init(reason: DeliveryFailureReason, message: String, statusCode: Int? = nil, retryAfter: Duration? = nil) {
        self.reason = reason
        self.message = message
        self.statusCode = statusCode
        self.retryAfter = retryAfter
    }

    /// `reason: message`.
    public var description: String { "\(reason.rawValue): \(message)" }
}
