import Foundation

/// The events an endpoint may subscribe to. Chat's are rows of the event log written by the chat store; the
/// others are written to the same log by the webhook pipeline (`webhook.*`) and by the endpoint worker
/// (`endpoint.disabled`).
public enum EventWebhookType: String, Sendable, CaseIterable, Codable {
    case messageCreated = "message.created"
    case messageUpdated = "message.updated"
    case messageDeleted = "message.deleted"
    case reactionAdded = "reaction.added"
    case reactionRemoved = "reaction.removed"
    case memberJoined = "room.member_joined"
    case memberLeft = "room.member_left"
    /// A stored webhook was delivered to its destination.
    case webhookDelivered = "webhook.delivered"
    /// A stored webhook became a dead letter (`failed`).
    case webhookFailed = "webhook.failed"
    /// An endpoint was disabled (410 Gone, or failing for too long).
    case endpointDisabled = "endpoint.disabled"
}

/// An event type an endpoint subscribes to: an exact name (`message.created`), a family (`message.*`) or `*`.
public struct EventTypePattern: Sendable, Hashable, CustomStringConvertible {
    /// The text as given.
    public let text: String

    /// Parses a pattern; nil when it names no event type this server sends.
    public init?(_ text: String) {
        self.text = text
        guard EventWebhookType.allCases.contains(where: { Self.matches(text, $0.rawValue) }) else { return nil }
    }

    /// Whether `type` is one this pattern selects.
    public func matches(_ type: String) -> Bool { Self.matches(text, type) }

    public var description: String { text }

    private static func matches(_ pattern: String, _ type: String) -> Bool {
        if pattern == "*" { return true }
        if pattern.hasSuffix(".*") { return type.hasPrefix(pattern.dropLast()) }
        return pattern == type
    }
}
