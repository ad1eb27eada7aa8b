import Foundation

/// What an API key may do.
public enum APIKeyScope: String, Sendable, CaseIterable, Codable {
    /// Everything, including the admin API's writes and key management.
    case admin
    /// Posting webhooks to routes that require a key.
    case ingest
    /// The admin API's GET endpoints.
    case read
}

/// One stored API key: everything but the secret, which is kept only as its SHA-256 hash.
public struct APIKeyRecord: Sendable, Equatable {
    /// A stable id, e.g. `key_3f2a...`.
    public var id: String
    /// A human name, e.g. `deploy-bot`.
    public var name: String
    /// What the key may do.
    public var scope: APIKeyScope
    /// Lower-case hex SHA-256 of the secret.
    public var hash: String
    /// The secret's first characters, e.g. `mb_Xq3v9TzA`, to tell keys apart in listings.
    public var displayPrefix: String
    /// When the key was made.
    public var createdAt: Date
    /// When the key stops working, if ever.
    public var expiresAt: Date?
    /// When the key was last used (updated at most about once a minute).
    public var lastUsedAt: Date?
    /// When the key was revoked, if it was.
    public var revokedAt: Date?
    /// The key that replaced this one on rotation, if any.
    public var replacedBy: String?

    /// Makes a record.
    public init(
        id: String, name: String, scope: APIKeyScope, hash: String, displayPrefix: String, createdAt: Date,
        expiresAt: Date? = nil, lastUsedAt: Date? = nil, revokedAt: Date? = nil, replacedBy: String? = nil
    ) {
        self.id = id
        self.name = name
        self.scope = scope
        self.hash = hash
        self.displayPrefix = displayPrefix
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.lastUsedAt = lastUsedAt
        self.revokedAt = revokedAt
        self.replacedBy = replacedBy
    }

    /// Whether the key is past its expiry at `now`.
    public func isExpired(at now: Date) -> Bool {
        expiresAt.map { $0 <= now } ?? false
    }

    /// Whether the key has been revoked.
    public var isRevoked: Bool { revokedAt != nil }

    /// Whether the key authenticates requests at `now`.
    public func isActive(at now: Date) -> Bool {
        !isRevoked && !isExpired(at: now)
    }

    /// `active`, `expired` or `revoked`, for listings.
    public func state(at now: Date) -> String {
        isRevoked ? "revoked" : isExpired(at: now) ? "expired" : "active"
    }
}

/// Durable storage for API keys: SQLite on one node, PostgreSQL across several.
public protocol APIKeyStore: Sendable {
    /// Stores a new key.
    func insert(_ key: APIKeyRecord) async throws

    /// Every key, newest first.
    func keys() async throws -> [APIKeyRecord]

    /// The key whose secret hashes to `hash`, if any (revoked and expired ones included).
    func key(hash: String) async throws -> APIKeyRecord?

    /// The key with this id, if any.
    func key(id: String) async throws -> APIKeyRecord?

    /// Marks a key revoked at `now`; false when there is no such key or it was already revoked.
    func revoke(id: String, now: Date) async throws -> Bool

    /// In one transaction: stores `replacement`, and makes the old key expire at `oldExpiresAt` (never later than
    /// it already would) and records what replaced it. False (and nothing stored) when the old key does not exist
    /// or is revoked.
    func rotate(id: String, replacement: APIKeyRecord, oldExpiresAt: Date) async throws -> Bool

    /// Records that the key was used at `date`.
    func markUsed(id: String, at date: Date) async throws
}
