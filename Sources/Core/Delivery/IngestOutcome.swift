import Foundation

/// An idempotency key taken from a request (`routes[].dedup`), and until when it holds.
public struct DedupKey: Sendable, Hashable {
    /// The key, e.g. the `webhook-id` header's value.
    public var value: String
    /// After this instant the key may be used again by a new message.
    public var expiresAt: Date

    /// Makes a key.
    public init(value: String, expiresAt: Date) {
        self.value = value
        self.expiresAt = expiresAt
    }
}

/// What happened to one record of an insert batch.
public enum IngestOutcome: Sendable, Equatable {
    /// Stored as a new message.
    case stored
    /// Not stored: an earlier message on the same route holds the key and its window has not passed.
    case duplicate(of: MessageID, acceptedAt: Date)
}

extension MessageStore {
    /// Stores a batch where no record can be a duplicate worth reporting (tests, imports).
    public func insert(_ records: [IngestRecord]) async throws {
        _ = try await insertReportingDuplicates(records)
    }
}
