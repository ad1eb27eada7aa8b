import Core
import Foundation
import Hummingbird

/// The JSON shapes of a message for the command line and the admin API.
public enum MessageJSON {
    /// A message without its body, one line.
    public static func summary(_ stored: StoredMessage) -> String {
        JSONOutput.string(MessageSummary(stored))
    }

    /// A message with its body, headers and attempts, pretty-printed.
    ///
    /// Credential headers (``CredentialHeaders``) show as `[redacted]`: a route may keep one for its destination,
    /// but no reader of the admin API or the command line sees its value.
    public static func detail(
        _ stored: StoredMessage,
        attempts: [DeliveryAttempt],
        credentials: CredentialHeaders = .standard
    ) -> String {
        JSONOutput.string(MessageDetail(stored, attempts: attempts, credentials: credentials), prettyPrinted: true)
    }
}

/// A stored message without its body: a line of `messages list --json`, an entry of `GET /api/v1/admin/messages`.
///
/// Keys of unset values (`next_attempt_at`, `delivered_at`, `last_error`, `last_status_code`) are left out, not
/// `null`.
struct MessageSummary: Encodable, Sendable {
    /// The message id.
    var messageID: String
    /// The route that accepted it.
    var route: String
    /// The destination with its credentials redacted (``Destination/redactedDescription``).
    var destination: String
    /// `pending`, `delivering`, `retrying`, `delivered` or `failed`.
    var status: String
    /// How many attempts were made.
    var attempts: Int
    /// When it was accepted.
    var acceptedAt: String
    /// When its row last changed.
    var updatedAt: String
    /// The body's size.
    var bodyBytes: Int
    /// When the next attempt is due.
    var nextAttemptAt: String?
    /// When it was delivered.
    var deliveredAt: String?
    /// The last attempt's error.
    var lastError: String?
    /// The last HTTP status seen from the destination.
    var lastStatusCode: Int?

    enum CodingKeys: String, CodingKey {
        case messageID = "message_id"
        case route, destination, status, attempts
        case acceptedAt = "accepted_at"
        case updatedAt = "updated_at"
        case bodyBytes = "body_bytes"
        case nextAttemptAt = "next_attempt_at"
        case deliveredAt = "delivered_at"
        case lastError = "last_error"
        case lastStatusCode = "last_status_code"
    }

    /// The summary of `stored`.
    init(_ stored: StoredMessage) {
        let message = stored.message
        messageID = message.id.rawValue
        route = message.route
        destination = message.destination.redactedDescription
        status = stored.status.rawValue
        attempts = stored.attemptCount
        acceptedAt = message.acceptedAt.rfc3339
        updatedAt = stored.updatedAt.rfc3339
        bodyBytes = message.body.count
        nextAttemptAt = stored.nextAttemptAt?.rfc3339
        deliveredAt = stored.deliveredAt?.rfc3339
        lastError = stored.lastError
        lastStatusCode = stored.lastStatusCode
    }
}

/// A stored message with its headers, body and attempts: `messages show`, `GET /api/v1/admin/messages/{id}`.
///
/// The summary's keys, plus `headers`, `attempts`, and the body as `body` (valid UTF-8) or `body_base64` (anything
/// else): exactly one of the two.
struct MessageDetail: ResponseEncodable, Sendable {
    /// One stored header, credentials redacted.
    struct Header: Encodable, Sendable {
        /// The header's name as received.
        var name: String
        /// Its value, or `[redacted]`.
        var value: String
    }

    /// One delivery attempt; `status_code` and `error` are left out when unset.
    struct Attempt: Encodable, Sendable {
        /// 1 for the first attempt.
        var number: Int
        /// When it ended.
        var finishedAt: String
        /// How it ended: `delivered`, `retryable` or `failed` (``AttemptOutcome``).
        var outcome: String
        /// How long it took.
        var durationSeconds: Double
        /// The destination's HTTP status, if it answered.
        var statusCode: Int?
        /// Why it failed, if it did.
        var error: String?

        enum CodingKeys: String, CodingKey {
            case number, outcome, error
            case finishedAt = "finished_at"
            case durationSeconds = "duration_seconds"
            case statusCode = "status_code"
        }

        /// The JSON form of `attempt`.
        init(_ attempt: DeliveryAttempt) {
            number = attempt.number
            finishedAt = attempt.finishedAt.rfc3339
            outcome = attempt.outcome.rawValue
            durationSeconds = attempt.durationSeconds
            statusCode = attempt.statusCode
            error = attempt.error
        }
    }

    /// The summary's fields.
    var summary: MessageSummary
    /// The stored headers, in order, credentials redacted.
    var headers: [Header]
    /// The body, when it is valid UTF-8.
    var body: String?
    /// The body in base64, when it is not.
    var bodyBase64: String?
    /// Every attempt, oldest first.
    var attempts: [Attempt]

    enum CodingKeys: String, CodingKey {
        case headers, body, attempts
        case bodyBase64 = "body_base64"
    }

    /// The detail of `stored`, its headers redacted by `credentials`.
    init(_ stored: StoredMessage, attempts: [DeliveryAttempt], credentials: CredentialHeaders) {
        let message = stored.message
        summary = MessageSummary(stored)
        headers = credentials.redacted(message.headers).map { Header(name: $0.name, value: $0.value) }
        if let text = String(validating: message.body, as: UTF8.self) {
            body = text
        } else {
            bodyBase64 = Data(message.body).base64EncodedString()
        }
        self.attempts = attempts.map(Attempt.init)
    }

    /// The summary's keys and this type's in one object (the encoder sorts them).
    func encode(to encoder: any Encoder) throws {
        try summary.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(headers, forKey: .headers)
        try container.encodeIfPresent(body, forKey: .body)
        try container.encodeIfPresent(bodyBase64, forKey: .bodyBase64)
        try container.encode(attempts, forKey: .attempts)
    }
}
