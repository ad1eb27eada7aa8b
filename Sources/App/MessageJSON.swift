import Core
import Foundation

/// The JSON shapes of a message for the command line and the admin API.
public enum MessageJSON {
    /// A message without its body, one line.
    public static func summary(_ stored: StoredMessage) -> String {
        serialize(summaryObject(stored))
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
        var object = summaryObject(stored)
        let message = stored.message
        object["headers"] = credentials.redacted(message.headers).map { ["name": $0.name, "value": $0.value] }
        if let text = String(validating: message.body, as: UTF8.self) {
            object["body"] = text
        } else {
            object["body_base64"] = Data(message.body).base64EncodedString()
        }
        object["attempts"] = attempts.map { attempt -> [String: Any] in
            var entry: [String: Any] = [
                "number": attempt.number,
                "finished_at": attempt.finishedAt.rfc3339,
                "outcome": attempt.outcome.rawValue,
                "duration_seconds": attempt.durationSeconds,
            ]
            if let code = attempt.statusCode { entry["status_code"] = code }
            if let error = attempt.error { entry["error"] = error }
            return entry
        }
        return serialize(object, pretty: true)
    }

    static func summaryObject(_ stored: StoredMessage) -> [String: Any] {
        let message = stored.message
        var object: [String: Any] = [
            "message_id": message.id.rawValue,
            "route": message.route,
            "destination": message.destination.redactedDescription,
            "status": stored.status.rawValue,
            "attempts": stored.attemptCount,
            "accepted_at": message.acceptedAt.rfc3339,
            "updated_at": stored.updatedAt.rfc3339,
            "body_bytes": message.body.count,
        ]
        if let next = stored.nextAttemptAt { object["next_attempt_at"] = next.rfc3339 }
        if let delivered = stored.deliveredAt { object["delivered_at"] = delivered.rfc3339 }
        if let error = stored.lastError { object["last_error"] = error }
        if let code = stored.lastStatusCode { object["last_status_code"] = code }
        return object
    }

    static func serialize(_ object: [String: Any], pretty: Bool = false) -> String {
        var options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        if pretty { options.insert(.prettyPrinted) }
        // The objects hold only strings, numbers and arrays/dictionaries of them, so serialisation cannot fail.
        let data = (try? JSONSerialization.data(withJSONObject: object, options: options)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
