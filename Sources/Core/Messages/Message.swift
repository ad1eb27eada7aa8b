import Foundation

/// The kinds of sink a message can be delivered by: a closed set, so a new sink (WebSocket fan-out, event
/// webhooks) is a new case the compiler walks through every place that must handle it. The raw values are what the
/// store keeps and what metric labels say.
public enum SinkKind: String, Hashable, Sendable, CaseIterable {
    /// POST to a remote HTTP endpoint.
    case http
    /// Produce to an Apache Kafka topic.
    case kafka
}

/// Where a route's messages go.
public enum Destination: Hashable, Sendable, CustomStringConvertible {
    /// POST to a remote HTTP endpoint.
    case http(url: String)
    /// Produce to an Apache Kafka topic.
    case kafka(topic: String)

    /// The sink kind (its raw value is stored and used in metric labels).
    public var kind: SinkKind {
        switch self {
        case .http: .http
        case .kafka: .kafka
        }
    }

    /// The URL or topic.
    public var target: String {
        switch self {
        case .http(let url): url
        case .kafka(let topic): topic
        }
    }

    /// Rebuilds a destination from its stored kind and target; `nil` for a kind this build does not know.
    public init?(kind: String, target: String) {
        switch SinkKind(rawValue: kind) {
        case .http: self = .http(url: target)
        case .kafka: self = .kafka(topic: target)
        case nil: return nil
        }
    }

    /// `kind:target`, for logs.
    public var description: String { "\(kind.rawValue):\(target)" }
}

/// Where a message is in its life.
public enum MessageStatus: String, Sendable, CaseIterable, Codable {
    /// Stored, waiting for its first delivery attempt.
    case pending
    /// Claimed by a delivery worker under a lease.
    case delivering
    /// An attempt failed retryably; due again at `nextAttemptAt`.
    case retrying
    /// The destination confirmed it.
    case delivered
    /// A dead letter: attempts exhausted or a permanent failure. `messages retry` revives it.
    case failed
}

/// One HTTP header as it arrived, in order; repeated names stay repeated.
public struct MessageHeader: Hashable, Sendable, Codable {
    /// The header name as the client sent it.
    public var name: String
    /// The header value.
    public var value: String

    /// Makes a header.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A message as the ingress hands it to the store: everything needed to deliver it later.
public struct NewMessage: Sendable {
    /// The message's stable id (also the default Kafka key and `X-Webhook-ID`).
    public var id: MessageID
    /// The route template that accepted it, e.g. `/webhook/payment`.
    public var route: String
    /// Where it goes.
    public var destination: Destination
    /// The exact request body bytes.
    public var body: [UInt8]
    /// Every request header, with all its values.
    public var headers: [MessageHeader]
    /// When it was accepted.
    public var acceptedAt: Date

    /// Makes a message to store.
    public init(
        id: MessageID,
        route: String,
        destination: Destination,
        body: [UInt8],
        headers: [MessageHeader],
        acceptedAt: Date
    ) {
        self.id = id
        self.route = route
        self.destination = destination
        self.body = body
        self.headers = headers
        self.acceptedAt = acceptedAt
    }

    /// The `Content-Type` header's value, if any.
    public var contentType: String? {
        headers.first { $0.name.lowercased() == "content-type" }?.value
    }
}

/// A stored message with its delivery state.
public struct StoredMessage: Sendable {
    /// The message as accepted.
    public var message: NewMessage
    /// Its current status.
    public var status: MessageStatus
    /// Delivery attempts made so far.
    public var attemptCount: Int
    /// Attempts counted against `max_retries`: those since the last manual retry.
    public var attemptsSinceRetry: Int
    /// When the next attempt is due (for pending and retrying messages).
    public var nextAttemptAt: Date?
    /// The last error, if the last attempt failed.
    public var lastError: String?
    /// The last response status code seen from an HTTP destination.
    public var lastStatusCode: Int?
    /// When it was delivered.
    public var deliveredAt: Date?
    /// When the row last changed.
    public var updatedAt: Date

    /// Makes a stored message value.
    public init(
        message: NewMessage,
        status: MessageStatus,
        attemptCount: Int,
        attemptsSinceRetry: Int,
        nextAttemptAt: Date?,
        lastError: String?,
        lastStatusCode: Int?,
        deliveredAt: Date?,
        updatedAt: Date
    ) {
        self.message = message
        self.status = status
        self.attemptCount = attemptCount
        self.attemptsSinceRetry = attemptsSinceRetry
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
        self.lastStatusCode = lastStatusCode
        self.deliveredAt = deliveredAt
        self.updatedAt = updatedAt
    }
}

/// How one attempt ended, as recorded.
public enum AttemptOutcome: String, Sendable, Codable, CaseIterable {
    /// The destination confirmed the message.
    case delivered
    /// It failed and the message will be tried again.
    case retryable
    /// It failed and the message became a dead letter (a permanent failure, or the last allowed attempt).
    case failed
}

/// One recorded delivery attempt.
public struct DeliveryAttempt: Sendable, Codable {
    /// Which attempt (1-based).
    public var number: Int
    /// When it finished.
    public var finishedAt: Date
    /// How it ended.
    public var outcome: AttemptOutcome
    /// The HTTP status code, when there was a response.
    public var statusCode: Int?
    /// What went wrong, when it did.
    public var error: String?
    /// How long it took.
    public var durationSeconds: Double

    /// Makes an attempt record.
    public init(number: Int, finishedAt: Date, outcome: AttemptOutcome, statusCode: Int?, error: String?, durationSeconds: Double) {
        self.number = number
        self.finishedAt = finishedAt
        self.outcome = outcome
        self.statusCode = statusCode
        self.error = error
        self.durationSeconds = durationSeconds
    }
}
