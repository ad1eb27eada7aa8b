import Core
import Foundation
import GRDB

extension SQLiteChatStore {
    static let attachmentColumns =
        "a.id, a.room_id, a.user_id, a.message_id, a.filename, a.content_type, a.size, a.sha256, a.created_at, a.storage_name"

    static func attachment(_ row: Row) -> ChatAttachment {
        ChatAttachment(
            id: row[0], roomID: row[1], userID: row[2], messageID: row[3], filename: row[4], contentType: row[5],
            size: row[6], sha256: row[7], createdAt: StoredTime.date(row[8])
        )
    }

    public func createAttachment(
        roomID: Int64, userID: Int64, filename: String, contentType: String, size: Int64, sha256: String, storageName: String
    ) async throws -> ChatAttachment {
        try await write { transaction in
            let db = transaction.db
            _ = try Self.requireMember(db, roomID: roomID, userID: userID)
            try db.execute(sql: """
                INSERT INTO chat_attachments (room_id, user_id, filename, content_type, size, sha256, storage_name, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [roomID, userID, filename, contentType, size, sha256, storageName, transaction.nowMilliseconds])
            return ChatAttachment(
                id: db.lastInsertedRowID, roomID: roomID, userID: userID, messageID: nil, filename: filename,
                contentType: contentType, size: size, sha256: sha256, createdAt: transaction.now
            )
        }
    }

    public func attachment(id: Int64, visibleTo userID: Int64) async throws -> (attachment: ChatAttachment, storageName: String) {
        try await writer.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT \(Self.attachmentColumns) FROM chat_attachments a WHERE a.id = ?", arguments: [id])
            else { throw ChatError(.notFound, "no attachment \(id)") }
            let attachment = Self.attachment(row)
            // Members only: to anyone else (a public room's reader included) the file does not exist.
            guard (try? Self.requireMember(db, roomID: attachment.roomID, userID: userID)) != nil else {
                throw ChatError(.notFound, "no attachment \(id)")
            }
            if let messageID = attachment.messageID,
               try Int64.fetchOne(db, sql: "SELECT deleted_at FROM chat_messages WHERE id = ?", arguments: [messageID]) != nil {
                throw ChatError(.notFound, "no attachment \(id)")
            }
            return (attachment, row[9])
        }
    }

    public func purgeAttachments(before cutoff: Date) async throws -> [String] {
        try await write { transaction in
            let db = transaction.db
            let limit = StoredTime.milliseconds(cutoff)
            let condition = """
                (a.message_id IS NULL AND a.created_at < ?1)
                OR a.message_id IN (SELECT id FROM chat_messages WHERE deleted_at IS NOT NULL AND deleted_at < ?1)
                """
            let names = try String.fetchAll(db, sql: "SELECT a.storage_name FROM chat_attachments a WHERE \(condition)", arguments: [limit])
            try db.execute(sql: "DELETE FROM chat_attachments AS a WHERE \(condition)", arguments: [limit])
            return names
        }
    }
}
