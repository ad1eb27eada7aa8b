import Core
import Foundation
import GRDB

/// API keys in the same SQLite file as the messages (table `api_keys`, migration `v3-api-keys`).
public struct SQLiteAPIKeyStore: APIKeyStore {
    /// The database's pool, shared with the file's other stores.
    public let writer: DatabasePool

    /// The API keys of `database`, whose schema must be this binary's (``SQLiteDatabase/open(path:migrating:)``).
    public init(database: SQLiteDatabase) {
        writer = database.writer
    }

    public func insert(_ key: APIKeyRecord) async throws {
        try await writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO api_keys (id, name, scope, key_hash, display_prefix, created_at, expires_at,
                        last_used_at, revoked_at, replaced_by)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: Self.arguments(key)
            )
        }
    }

    public func keys() async throws -> [APIKeyRecord] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_keys ORDER BY created_at DESC, rowid DESC").compactMap(Self.record)
        }
    }

    public func key(hash: String) async throws -> APIKeyRecord? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM api_keys WHERE key_hash = ?", arguments: [hash.lowercased()])
                .flatMap(Self.record)
        }
    }

    public func key(id: String) async throws -> APIKeyRecord? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM api_keys WHERE id = ?", arguments: [id]).flatMap(Self.record)
        }
    }

    public func revoke(id: String, now: Date) async throws -> Bool {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                arguments: [StoredTime.milliseconds(now), id]
            )
            return db.changesCount > 0
        }
    }

    public func rotate(id: String, replacement: APIKeyRecord, oldExpiresAt: Date) async throws -> Bool {
        try await writer.write { db in
            try db.execute(
                sql: """
                    UPDATE api_keys SET expires_at = min(coalesce(expires_at, ?1), ?1), replaced_by = ?2
                    WHERE id = ?3 AND revoked_at IS NULL
                    """,
                arguments: [StoredTime.milliseconds(oldExpiresAt), replacement.id, id]
            )
            guard db.changesCount > 0 else { return false }
            try db.execute(
                sql: """
                    INSERT INTO api_keys (id, name, scope, key_hash, display_prefix, created_at, expires_at,
                        last_used_at, revoked_at, replaced_by)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: Self.arguments(replacement)
            )
            return true
        }
    }

    public func markUsed(id: String, at date: Date) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?",
                arguments: [StoredTime.milliseconds(date), id]
            )
        }
    }

    // MARK: Row mapping

    static func arguments(_ key: APIKeyRecord) -> StatementArguments {
        [
            key.id, key.name, key.scope.rawValue, key.hash.lowercased(), key.displayPrefix,
            StoredTime.milliseconds(key.createdAt), key.expiresAt.map(StoredTime.milliseconds),
            key.lastUsedAt.map(StoredTime.milliseconds), key.revokedAt.map(StoredTime.milliseconds), key.replacedBy,
        ]
    }

    static func record(_ row: Row) -> APIKeyRecord? {
        guard let scope = APIKeyScope(rawValue: row["scope"]) else { return nil }
        return APIKeyRecord(
            id: row["id"],
            name: row["name"],
            scope: scope,
            hash: row["key_hash"],
            displayPrefix: row["display_prefix"],
            createdAt: StoredTime.date(row["created_at"]),
            expiresAt: (row["expires_at"] as Int64?).map(StoredTime.date),
            lastUsedAt: (row["last_used_at"] as Int64?).map(StoredTime.date),
            revokedAt: (row["revoked_at"] as Int64?).map(StoredTime.date),
            replacedBy: row["replaced_by"]
        )
    }
}
