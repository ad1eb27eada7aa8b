import Core
import Foundation
import Hummingbird

/// `GET /api/v1/admin/messages`: a page of summaries, newest first.
struct MessagePage: ResponseEncodable, Sendable {
    /// The page.
    var messages: [MessageSummary]
    /// How many are on the page.
    var count: Int
    /// The `before` value for the next page: only present when the page is full.
    var nextBefore: String?

    enum CodingKeys: String, CodingKey {
        case messages, count
        case nextBefore = "next_before"
    }
}

/// `POST /api/v1/admin/messages/{id}/retry`: the message is due now.
struct MessageRetried: ResponseEncodable, Sendable {
    /// The message retried.
    var messageID: String
    /// Always `pending`.
    var status: String

    enum CodingKeys: String, CodingKey {
        case messageID = "message_id"
        case status
    }
}

/// `POST /api/v1/admin/messages/retry-failed`: how many failed messages are due now.
struct FailedMessagesRetried: ResponseEncodable, Sendable {
    /// How many were failed and are now pending.
    var retried: Int
}

/// `GET /api/v1/admin/keys`: every key, never a secret or hash.
struct KeyList: ResponseEncodable, Sendable {
    /// The keys.
    var keys: [KeyDocument]
}

/// The JSON shape of an API key: never its hash; its secret only in the answer that issued it.
///
/// `expires_at`, `last_used_at` and `revoked_at` are always present, `null` when unset; `replaced_by` only for a
/// rotated key; `secret` only when created or rotated; `old_key_valid_until` only when rotated.
struct KeyDocument: ResponseEncodable, Sendable {
    /// The key's id (`key_...`).
    var id: String
    /// Its human name.
    var name: String
    /// `admin`, `read` or `ingest`.
    var scope: String
    /// The display prefix that tells keys apart in a list.
    var prefix: String
    /// `active`, `expired` or `revoked`, at the time of the answer.
    var status: String
    /// When it was created.
    var createdAt: String
    /// When it expires; `null` for never.
    var expiresAt: String?
    /// When it last authenticated a request; `null` for never.
    var lastUsedAt: String?
    /// When it was revoked; `null` while it is not.
    var revokedAt: String?
    /// The key that replaced it by rotation; left out when none did.
    var replacedBy: String?
    /// The new key's secret, shown once: left out except when creating or rotating.
    var secret: String?
    /// Until when the rotated key's old secret keeps working: left out except when rotating.
    var oldKeyValidUntil: String?

    enum CodingKeys: String, CodingKey {
        case id, name, scope, prefix, status, secret
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case lastUsedAt = "last_used_at"
        case revokedAt = "revoked_at"
        case replacedBy = "replaced_by"
        case oldKeyValidUntil = "old_key_valid_until"
    }

    /// The document of `key`, its status as of `now`; no secret.
    init(_ key: APIKeyRecord, now: Date) {
        id = key.id
        name = key.name
        scope = key.scope.rawValue
        prefix = key.displayPrefix
        status = key.state(at: now)
        createdAt = key.createdAt.rfc3339
        expiresAt = key.expiresAt?.rfc3339
        lastUsedAt = key.lastUsedAt?.rfc3339
        revokedAt = key.revokedAt?.rfc3339
        replacedBy = key.replacedBy
    }

    /// Written out because three optionals are `null` when unset, where the synthesized encoding leaves them out.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(scope, forKey: .scope)
        try container.encode(prefix, forKey: .prefix)
        try container.encode(status, forKey: .status)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encode(lastUsedAt, forKey: .lastUsedAt)
        try container.encode(revokedAt, forKey: .revokedAt)
        try container.encodeIfPresent(replacedBy, forKey: .replacedBy)
        try container.encodeIfPresent(secret, forKey: .secret)
        try container.encodeIfPresent(oldKeyValidUntil, forKey: .oldKeyValidUntil)
    }
}
