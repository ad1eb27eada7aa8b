import Core
import Foundation
import GRDB

extension SQLiteChatStore {
    static let userColumns = "u.id, u.username, u.email, u.display_name, u.created_at"

    static func user(_ row: Row, from offset: Int = 0) -> ChatUser {
        ChatUser(
            id: row[offset], username: row[offset + 1], email: row[offset + 2], displayName: row[offset + 3],
            createdAt: StoredTime.date(row[offset + 4])
        )
    }

    public func createUser(_ user: NewChatUser) async throws -> ChatUser {
        try await write { transaction in
            let db = transaction.db
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM chat_users WHERE username = ?", arguments: [user.username]) == true {
                throw ChatError(.conflict, field: "username", "the username \(user.username) is taken")
            }
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM chat_users WHERE email = ?", arguments: [user.email]) == true {
                throw ChatError(.conflict, field: "email", "an account with this email exists")
            }
            let now = transaction.nowMilliseconds
            try db.execute(sql: """
                INSERT INTO chat_users (username, email, display_name, password_hash, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [user.username, user.email, user.displayName, user.passwordHash, now, now])
            let id = db.lastInsertedRowID
            if let inviteCodeHash = user.inviteCodeHash {
                try db.execute(
                    sql: "UPDATE chat_invites SET used_by = ?, used_at = ? WHERE code_hash = ? AND used_by IS NULL",
                    arguments: [id, now, inviteCodeHash]
                )
                guard db.changesCount == 1 else {
                    throw ChatError(.invalid, field: "invite_code", "the invite code is unknown or used")
                }
            }
            let created = ChatUser(id: id, username: user.username, email: user.email, displayName: user.displayName, createdAt: transaction.now)
            // Seed 004's clients talk in a default room everyone is in.
            let general = try Self.ensureDefaultRoom(&transaction)
            _ = try Self.insertMember(&transaction, roomID: general, user: created, role: .member)
            return created
        }
    }

    public func user(id: Int64) async throws -> ChatUser? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.userColumns) FROM chat_users u WHERE u.id = ?", arguments: [id]).map { Self.user($0) }
        }
    }

    public func credentials(login: String) async throws -> (user: ChatUser, passwordHash: String?)? {
        try await writer.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT \(Self.userColumns), u.password_hash FROM chat_users u WHERE u.username = ?1 OR u.email = ?1
                ORDER BY u.username = ?1 DESC LIMIT 1
                """, arguments: [login])
            else { return nil }
            return (Self.user(row), row[5])
        }
    }

    public func users(limit: Int, offset: Int) async throws -> [ChatUser] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.userColumns) FROM chat_users u ORDER BY u.id LIMIT ? OFFSET ?", arguments: [limit, offset])
                .map { Self.user($0) }
        }
    }

    public func updateDisplayName(userID: Int64, displayName: String?) async throws -> ChatUser {
        try await write { transaction in
            try transaction.db.execute(
                sql: "UPDATE chat_users SET display_name = ?, updated_at = ? WHERE id = ?",
                arguments: [displayName, transaction.nowMilliseconds, userID]
            )
            guard transaction.db.changesCount == 1,
                  let row = try Row.fetchOne(transaction.db, sql: "SELECT \(Self.userColumns) FROM chat_users u WHERE u.id = ?", arguments: [userID])
            else { throw ChatError.userNotFound(userID) }
            return Self.user(row)
        }
    }

    public func changePassword(userID: Int64, passwordHash: String, keepingFamily: String?) async throws {
        try await write { transaction in
            let now = transaction.nowMilliseconds
            try transaction.db.execute(
                sql: "UPDATE chat_users SET password_hash = ?, updated_at = ? WHERE id = ?",
                arguments: [passwordHash, now, userID]
            )
            guard transaction.db.changesCount == 1 else { throw ChatError.userNotFound(userID) }
            try transaction.db.execute(sql: """
                UPDATE chat_refresh_families SET revoked_at = ?
                WHERE user_id = ? AND revoked_at IS NULL AND family IS NOT ?
                """, arguments: [now, userID, keepingFamily])
        }
    }

    public func createInvite(codeHash: String) async throws {
        try await write { transaction in
            try transaction.db.execute(
                sql: "INSERT INTO chat_invites (code_hash, created_at) VALUES (?, ?)",
                arguments: [codeHash, transaction.nowMilliseconds]
            )
        }
    }

    public func storeRefreshToken(_ record: RefreshTokenRecord) async throws {
        try await write { transaction in
            let now = transaction.nowMilliseconds
            try transaction.db.execute(sql: """
                INSERT INTO chat_refresh_families (family, user_id, created_at) VALUES (?, ?, ?)
                ON CONFLICT(family) DO NOTHING
                """, arguments: [record.family, record.userID, now])
            try Self.insertToken(record, db: transaction.db, now: now)
        }
    }

    private static func insertToken(_ record: RefreshTokenRecord, db: Database, now: Int64) throws {
        try db.execute(sql: """
            INSERT INTO chat_refresh_tokens (id, family, user_id, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)
            """, arguments: [record.id, record.family, record.userID, now, StoredTime.milliseconds(record.expiresAt)])
    }

    public func purgeRefreshTokens(expiredBefore cutoff: Date) async throws -> Int {
        try await write { transaction in
            let db = transaction.db
            try db.execute(sql: "DELETE FROM chat_refresh_tokens WHERE expires_at < ?", arguments: [StoredTime.milliseconds(cutoff)])
            let count = db.changesCount
            if count > 0 {
                try db.execute(sql: """
                    DELETE FROM chat_refresh_families
                    WHERE NOT EXISTS (SELECT 1 FROM chat_refresh_tokens t WHERE t.family = chat_refresh_families.family)
                    """)
            }
            return count
        }
    }

    public func rotateRefreshToken(id: String, next: RefreshTokenRecord) async throws -> RefreshRotation {
        try await write { transaction in
            let db = transaction.db
            let now = transaction.nowMilliseconds
            guard let row = try Row.fetchOne(db, sql: """
                SELECT t.family, t.user_id, t.expires_at, t.used_at, f.revoked_at FROM chat_refresh_tokens t
                JOIN chat_refresh_families f ON f.family = t.family WHERE t.id = ?
                """, arguments: [id])
            else { return RefreshRotation.rejected }
            let family: String = row[0]
            let userID: Int64 = row[1]
            let expiresAt: Int64 = row[2]
            let usedAt: Int64? = row[3]
            let revokedAt: Int64? = row[4]
            if revokedAt != nil || expiresAt <= now { return .rejected }
            if usedAt != nil {
                // A used token presented again: someone holds a copy. End the whole session.
                try db.execute(sql: "UPDATE chat_refresh_families SET revoked_at = ? WHERE family = ?", arguments: [now, family])
                return .reuseDetected
            }
            guard next.family == family, next.userID == userID else {
                fatalError("a rotated refresh token must stay in its family and with its user")
            }
            try db.execute(sql: "UPDATE chat_refresh_tokens SET used_at = ? WHERE id = ?", arguments: [now, id])
            try Self.insertToken(next, db: db, now: now)
            return .rotated(userID: userID)
        }
    }

    public func revokeRefreshFamily(_ family: String, userID: Int64) async throws {
        try await write { transaction in
            try transaction.db.execute(
                sql: "UPDATE chat_refresh_families SET revoked_at = ? WHERE family = ? AND user_id = ? AND revoked_at IS NULL",
                arguments: [transaction.nowMilliseconds, family, userID]
            )
        }
    }

    /// The secret stored under `name`, stored first as `generate()` returns it when there is none yet.
    public func serverSecret(named name: String, generate: @escaping @Sendable () -> String) async throws -> String {
        try await write { transaction in
            if let value = try String.fetchOne(transaction.db, sql: "SELECT value FROM server_secrets WHERE name = ?", arguments: [name]) {
                return value
            }
            let value = generate()
            try transaction.db.execute(
                sql: "INSERT INTO server_secrets (name, value, created_at) VALUES (?, ?, ?)",
                arguments: [name, value, transaction.nowMilliseconds]
            )
            return value
        }
    }
}
