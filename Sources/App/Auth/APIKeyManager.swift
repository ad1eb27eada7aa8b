import Core
import Foundation
import Logging
import WebhookSecurity
import Synchronization

/// Why a key operation was refused; safe to show to the operator (no secrets inside).
public struct APIKeyManagementError: Error, Sendable, CustomStringConvertible {
    /// What kind of refusal.
    public enum Code: String, Sendable, CaseIterable {
        /// No key matches the id or prefix.
        case notFound = "key_not_found"
        /// More than one key matches the prefix.
        case ambiguous = "key_ambiguous"
        /// The key is revoked, expired or already rotated.
        case notActive = "key_not_active"
        /// A name, scope or duration is unusable.
        case invalidInput = "invalid_input"
    }

    /// The kind of refusal, usable as a JSON error code.
    public var code: Code
    /// What went wrong, naming the key.
    public var message: String

    /// The message.
    public var description: String { message }
}

/// Creates, lists, revokes, rotates and checks API keys over an `APIKeyStore`: the one place the CLI and the
/// admin API share.
///
/// A secret exists only in the value returned by ``create(name:scope:expiresIn:now:)`` and
/// ``rotate(_:grace:now:)``; the store keeps its SHA-256 hash and a short display prefix.
///
/// Every `now:` that a call leaves out is read from ``clock``, so expiry is checked against one clock that tests
/// can move.
public final class APIKeyManager: Sendable {
    /// A newly made key and its secret, to show once.
    public struct IssuedKey: Sendable {
        /// The stored record.
        public var record: APIKeyRecord
        /// The secret; never stored or logged.
        public var secret: String
    }

    /// The store.
    public let store: any APIKeyStore
    /// `last_used_at` is written at most this often per key, so using a key costs a read, not a write.
    public let markUsedInterval: Duration
    /// What expiry, grace periods and `last_used_at` are measured against when a call names no `now`.
    public let clock: any WallClock
    private let lastMarked = Mutex<[String: Date]>([:])

    /// Makes a manager over `store`.
    public init(store: any APIKeyStore, markUsedInterval: Duration = .seconds(60), clock: any WallClock = SystemWallClock()) {
        self.store = store
        self.markUsedInterval = markUsedInterval
        self.clock = clock
    }

    /// Makes and stores a new key.
    ///
    /// - Parameter expiresIn: how long the key works; `nil` for no expiry.
    public func create(name: String, scope: APIKeyScope, expiresIn: Duration?, now: Date? = nil) async throws -> IssuedKey {
        let now = now ?? clock.now
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.count <= 200 else {
            throw APIKeyManagementError(code: .invalidInput, message: "a key needs a name of 1 to 200 characters")
        }
        if let expiresIn, expiresIn <= .zero {
            throw APIKeyManagementError(code: .invalidInput, message: "expiry must be a positive duration")
        }
        let issued = Self.makeKey(name: trimmed, scope: scope, now: now, expiresAt: expiresIn.map { now.addingTimeInterval($0.seconds) })
        try await store.insert(issued.record)
        return issued
    }

    /// Every key, newest first.
    public func list() async throws -> [APIKeyRecord] {
        try await store.keys()
    }

    /// The key named by its id, by a unique start of its id, or by its display prefix (`mb_Xq3v9TzA`).
    public func resolve(_ reference: String) async throws -> APIKeyRecord {
        let reference = reference.trimmingCharacters(in: .whitespaces)
        guard !reference.isEmpty else {
            throw APIKeyManagementError(code: .invalidInput, message: "give a key id or prefix")
        }
        if let exact = try await store.key(id: reference) { return exact }
        let keys = try await store.keys()
        var matches = keys.filter { $0.displayPrefix == reference }
        if matches.isEmpty, reference.count >= 4 {
            matches = keys.filter { $0.id.hasPrefix(reference) }
        }
        guard let first = matches.first else {
            throw APIKeyManagementError(code: .notFound, message: "no API key \(reference)")
        }
        guard matches.count == 1 else {
            throw APIKeyManagementError(
                code: .ambiguous,
                message: "\(reference) matches \(matches.count) keys (\(matches.map(\.id).joined(separator: ", "))); use the id"
            )
        }
        return first
    }

    /// Revokes a key: it stops working at once.
    @discardableResult
    public func revoke(_ reference: String, now: Date? = nil) async throws -> APIKeyRecord {
        let now = now ?? clock.now
        var key = try await resolve(reference)
        guard try await store.revoke(id: key.id, now: now) else {
            throw APIKeyManagementError(code: .notActive, message: "API key \(key.id) is already revoked")
        }
        key.revokedAt = now
        return key
    }

    /// Replaces a key with a new secret of the same name and scope. The old secret keeps working for `grace`
    /// (never beyond its own expiry), so clients can switch over; the new key gets the old one's lifetime.
    public func rotate(_ reference: String, grace: Duration, now: Date? = nil) async throws -> IssuedKey {
        let now = now ?? clock.now
        guard grace >= .zero else {
            throw APIKeyManagementError(code: .invalidInput, message: "grace must not be negative")
        }
        let old = try await resolve(reference)
        guard old.isActive(at: now), old.replacedBy == nil else {
            let why = old.isRevoked ? "revoked" : old.replacedBy != nil ? "already rotated" : "expired"
            throw APIKeyManagementError(code: .notActive, message: "API key \(old.id) is \(why) and cannot be rotated")
        }
        let lifetime = old.expiresAt.map { $0.timeIntervalSince(old.createdAt) }
        let issued = Self.makeKey(name: old.name, scope: old.scope, now: now, expiresAt: lifetime.map { now.addingTimeInterval($0) })
        guard try await store.rotate(id: old.id, replacement: issued.record, oldExpiresAt: now.addingTimeInterval(grace.seconds)) else {
            throw APIKeyManagementError(code: .notActive, message: "API key \(old.id) was revoked meanwhile")
        }
        return issued
    }

    /// The active key a presented secret belongs to, or `nil` when it is unknown, expired or revoked. Records the
    /// use (at most once per ``markUsedInterval`` per key; a failed write is logged, not fatal).
    public func authenticate(_ presented: String, now: Date? = nil, logger: Logger) async throws -> APIKeyRecord? {
        let now = now ?? clock.now
        guard !presented.isEmpty, presented.utf8.count <= 512 else { return nil }
        guard let key = try await store.key(hash: APIKey.hash(presented)),
              APIKey.matches(presented, storedHash: key.hash),
              key.isActive(at: now)
        else { return nil }
        if shouldMarkUsed(key, now: now) {
            do {
                try await store.markUsed(id: key.id, at: now)
            } catch {
                logger.warning("cannot record API key use", metadata: ["key_id": "\(key.id)", "error": "\(error)"])
            }
        }
        return key
    }

    /// Active keys that expire within `window` of `now`.
    public func keysExpiringSoon(within window: Duration, now: Date? = nil) async throws -> [APIKeyRecord] {
        let now = now ?? clock.now
        let horizon = now.addingTimeInterval(window.seconds)
        return try await store.keys().filter { key in
            guard key.isActive(at: now), key.replacedBy == nil, let expiresAt = key.expiresAt else { return false }
            return expiresAt <= horizon
        }
    }

    private func shouldMarkUsed(_ key: APIKeyRecord, now: Date) -> Bool {
        lastMarked.withLock { marks in
            let last = marks[key.id] ?? key.lastUsedAt ?? .distantPast
            guard now.timeIntervalSince(last) >= markUsedInterval.seconds else { return false }
            // Claimed before the write, so concurrent requests with the same key write once.
            marks[key.id] = now
            return true
        }
    }

    static func makeKey(name: String, scope: APIKeyScope, now: Date, expiresAt: Date?) -> IssuedKey {
        let material = APIKey.generate()
        let id = "key_" + (0..<16).map { _ in String(Int.random(in: 0..<16), radix: 16) }.joined()
        let record = APIKeyRecord(
            id: id, name: name, scope: scope, hash: material.hash, displayPrefix: material.displayPrefix,
            createdAt: now, expiresAt: expiresAt
        )
        return IssuedKey(record: record, secret: material.secret)
    }
}
