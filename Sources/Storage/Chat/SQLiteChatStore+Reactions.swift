import Core
import Foundation
import GRDB

extension SQLiteChatStore {
    /// A message the user may react to: in a room they are in, not deleted.
    private static func reactableMessage(_ db: Database, messageID: Int64, userID: Int64) throws -> ChatMessage {
        let message = try memberMessage(db, id: messageID, userID: userID).message
        guard !message.isDeleted else { throw ChatError(.conflict, "message \(messageID) is deleted") }
        return message
    }

    /// Records a reaction event when the change took (`changed`), and returns the message as it is now.
    private static func reacted(
        _ type: ChatEventType, message: ChatMessage, userID: Int64, emoji: String, changed: Bool, in transaction: inout ChatTransaction
    ) throws -> ChatMessage {
        let db = transaction.db
        if changed {
            let reaction = Reaction(messageID: message.id, roomID: message.roomID, userID: userID, username: try username(db, userID: userID), emoji: emoji)
            try transaction.record(type, roomID: message.roomID, userID: nil, payload: reaction)
        }
        // The message exists: it was read in this transaction.
        return try fetchMessage(db, id: message.id)!
    }

    public func addReaction(messageID: Int64, userID: Int64, emoji: String) async throws -> ChatMessage {
        try await write { transaction in
            let db = transaction.db
            let message = try Self.reactableMessage(db, messageID: messageID, userID: userID)
            try db.execute(sql: """
                INSERT INTO chat_reactions (message_id, user_id, emoji, created_at) VALUES (?, ?, ?, ?)
                ON CONFLICT DO NOTHING
                """, arguments: [messageID, userID, emoji, transaction.nowMilliseconds])
            // Reacting twice with the same emoji changes nothing and records nothing.
            return try Self.reacted(.reactionAdded, message: message, userID: userID, emoji: emoji, changed: db.changesCount == 1, in: &transaction)
        }
    }

    public func removeReaction(messageID: Int64, userID: Int64, emoji: String) async throws -> ChatMessage {
        try await write { transaction in
            let db = transaction.db
            let message = try Self.reactableMessage(db, messageID: messageID, userID: userID)
            try db.execute(
                sql: "DELETE FROM chat_reactions WHERE message_id = ? AND user_id = ? AND emoji = ?",
                arguments: [messageID, userID, emoji]
            )
            return try Self.reacted(.reactionRemoved, message: message, userID: userID, emoji: emoji, changed: db.changesCount == 1, in: &transaction)
        }
    }

    public func markRead(roomID: Int64, userID: Int64, messageID: Int64) async throws -> ReadReceipt {
        try await write { transaction in
            let db = transaction.db
            _ = try Self.requireMember(db, roomID: roomID, userID: userID)
            guard try Int64.fetchOne(db, sql: "SELECT room_id FROM chat_messages WHERE id = ?", arguments: [messageID]) == roomID else {
                throw ChatError(.invalid, field: "message_id", "message \(messageID) is not in room \(roomID)")
            }
            // Never backwards: reading an older message again does not make newer ones unread.
            try db.execute(sql: """
                UPDATE chat_members SET last_read_message_id = ? WHERE room_id = ? AND user_id = ? AND last_read_message_id < ?
                """, arguments: [messageID, roomID, userID, messageID])
            let moved = db.changesCount == 1
            let last = try Int64.fetchOne(db, sql: "SELECT last_read_message_id FROM chat_members WHERE room_id = ? AND user_id = ?", arguments: [roomID, userID]) ?? 0
            let receipt = ReadReceipt(roomID: roomID, userID: userID, username: try Self.username(db, userID: userID), lastReadMessageID: last)
            if moved { try transaction.record(.roomRead, roomID: roomID, userID: nil, payload: receipt) }
            return receipt
        }
    }

    public func receipts(roomID: Int64, visibleTo userID: Int64) async throws -> [ReadReceipt] {
        try await writer.read { db in
            _ = try Self.access(db, roomID: roomID, userID: userID)
            return try Row.fetchAll(db, sql: """
                SELECT m.user_id, u.username, m.last_read_message_id FROM chat_members m JOIN chat_users u ON u.id = m.user_id
                WHERE m.room_id = ? AND m.left_position IS NULL ORDER BY m.user_id
                """, arguments: [roomID]).map {
                ReadReceipt(roomID: roomID, userID: $0[0], username: $0[1], lastReadMessageID: $0[2])
            }
        }
    }
}
