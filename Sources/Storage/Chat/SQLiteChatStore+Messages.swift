import Core
import Foundation
import GRDB

extension SQLiteChatStore {
    static let messageSelect = """
        SELECT x.id, x.user_id, u.username, x.content, x.created_at, x.room_id, x.client_id, x.reply_to,
            x.edited_at, x.deleted_at
        FROM chat_messages x JOIN chat_users u ON u.id = x.user_id
        """

    static func message(_ row: Row) -> ChatMessage {
        ChatMessage(
            id: row[0], userID: row[1], username: row[2], content: row[3], createdAt: StoredTime.date(row[4]),
            roomID: row[5], clientID: row[6], replyTo: row[7],
            editedAt: (row[8] as Int64?).map(StoredTime.date), deletedAt: (row[9] as Int64?).map(StoredTime.date)
        )
    }

    static func fetchMessage(_ db: Database, id: Int64) throws -> ChatMessage? {
        try Row.fetchOne(db.cachedStatement(sql: "\(messageSelect) WHERE x.id = ?"), arguments: [id]).map(message).map { try withReactions([$0], db: db)[0] }
    }

    /// A message and the actor's role in its room; not found also when the room is one the actor may not see
    /// (a public room the actor has not joined is forbidden).
    static func memberMessage(_ db: Database, id: Int64, userID: Int64) throws -> (message: ChatMessage, role: MemberRole) {
        guard let message = try fetchMessage(db, id: id) else { throw ChatError.messageNotFound(id) }
        do {
            return (message, try requireMember(db, roomID: message.roomID, userID: userID).role)
        } catch let error as ChatError where error.code == .notFound {
            throw ChatError.messageNotFound(id)
        }
    }

    /// The messages with their reactions and attachments filled in: two queries for the whole page.
    static func withReactions(_ messages: [ChatMessage], db: Database) throws -> [ChatMessage] {
        guard !messages.isEmpty else { return messages }
        let ids = messages.map(\.id)
        let rows = try Row.fetchAll(db.cachedStatement(sql: """
            SELECT message_id, emoji, user_id FROM chat_reactions
            WHERE message_id IN (\(ids.map { _ in "?" }.joined(separator: ",")))
            ORDER BY created_at, user_id
            """), arguments: StatementArguments(ids))
        var counts: [Int64: [ReactionCount]] = [:]
        for row in rows {
            let messageID: Int64 = row[0]
            let emoji: String = row[1]
            let userID: Int64 = row[2]
            if let index = counts[messageID]?.firstIndex(where: { $0.emoji == emoji }) {
                counts[messageID]![index].count += 1
                counts[messageID]![index].userIDs.append(userID)
            } else {
                counts[messageID, default: []].append(ReactionCount(emoji: emoji, count: 1, userIDs: [userID]))
            }
        }
        var files: [Int64: [ChatAttachment]] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: """
            SELECT \(attachmentColumns) FROM chat_attachments a
            WHERE a.message_id IN (\(ids.map { _ in "?" }.joined(separator: ","))) ORDER BY a.id
            """), arguments: StatementArguments(ids)) {
            let attachment = Self.attachment(row)
            files[attachment.messageID ?? 0, default: []].append(attachment)
        }
        return messages.map { message in
            var message = message
            message.reactions = counts[message.id] ?? []
            // A deleted message keeps no files in view.
            message.attachments = message.isDeleted ? [] : files[message.id] ?? []
            return message
        }
    }

    public func sendMessage(
        roomID: Int64, authorID: Int64, content: String, clientID: String?, replyTo: Int64?, attachmentIDs: [Int64] = []
    ) async throws -> SentMessage {
        try await write { transaction in
            let db = transaction.db
            if let clientID, let earlier = try Row.fetchOne(
                db, sql: "\(Self.messageSelect) WHERE x.user_id = ? AND x.client_id = ?", arguments: [authorID, clientID]
            ).map(Self.message) {
                // A retried send: the first result, nothing new. Another room with the same client id is a mistake.
                guard earlier.roomID == roomID else {
                    throw ChatError(.conflict, field: "client_id", "client_id \(clientID) was already used in another room")
                }
                return SentMessage(message: earlier, position: nil, isRepeat: true)
            }
            _ = try Self.requireMember(db, roomID: roomID, userID: authorID)
            if let replyTo {
                let target = try Int64.fetchOne(db, sql: "SELECT room_id FROM chat_messages WHERE id = ?", arguments: [replyTo])
                guard target == roomID else {
                    throw ChatError(.invalid, field: "reply_to", "message \(replyTo) is not in room \(roomID)")
                }
            }
            let now = transaction.nowMilliseconds
            try db.execute(sql: """
                INSERT INTO chat_messages (room_id, user_id, client_id, content, reply_to, created_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [roomID, authorID, clientID, content, replyTo, now])
            let id = db.lastInsertedRowID
            for attachmentID in Set(attachmentIDs) {
                try db.execute(sql: """
                    UPDATE chat_attachments SET message_id = ? WHERE id = ? AND user_id = ? AND room_id = ? AND message_id IS NULL
                    """, arguments: [id, attachmentID, authorID, roomID])
                guard db.changesCount == 1 else {
                    throw ChatError(.invalid, field: "attachment_ids", "attachment \(attachmentID) is not an unsent upload of yours to room \(roomID)")
                }
            }
            // The author has read everything up to their own message.
            try db.execute(
                sql: "UPDATE chat_members SET last_read_message_id = ? WHERE room_id = ? AND user_id = ?",
                arguments: [id, roomID, authorID]
            )
            var message = ChatMessage(
                id: id, userID: authorID, username: try Self.username(db, userID: authorID), content: content,
                createdAt: transaction.now, roomID: roomID, clientID: clientID, replyTo: replyTo, editedAt: nil, deletedAt: nil
            )
            if !attachmentIDs.isEmpty { message = try Self.withReactions([message], db: db)[0] }
            let position = try transaction.record(.messageCreated, roomID: roomID, userID: nil, payload: message)
            return SentMessage(message: message, position: position, isRepeat: false)
        }
    }

    public func editMessage(id: Int64, actor: Int64, content: String) async throws -> ChatMessage {
        try await write { transaction in
            let db = transaction.db
            var (message, _) = try Self.memberMessage(db, id: id, userID: actor)
            guard message.userID == actor else { throw ChatError(.forbidden, "only the author may edit a message") }
            guard !message.isDeleted else { throw ChatError(.conflict, "message \(id) is deleted") }
            message.content = content
            message.editedAt = transaction.now
            try db.execute(
                sql: "UPDATE chat_messages SET content = ?, edited_at = ? WHERE id = ?",
                arguments: [content, transaction.nowMilliseconds, id]
            )
            try transaction.record(.messageUpdated, roomID: message.roomID, userID: nil, payload: message)
            return message
        }
    }

    public func deleteMessage(id: Int64, actor: Int64) async throws -> ChatMessage {
        try await write { transaction in
            let db = transaction.db
            var (message, role) = try Self.memberMessage(db, id: id, userID: actor)
            guard message.userID == actor || role.canModerate else {
                throw ChatError(.forbidden, "only the author or a room owner or admin may delete a message")
            }
            // Deleting twice changes nothing and says so the same way.
            if message.isDeleted { return message }
            message.content = ""
            message.deletedAt = transaction.now
            try db.execute(
                sql: "UPDATE chat_messages SET content = '', deleted_at = ? WHERE id = ?",
                arguments: [transaction.nowMilliseconds, id]
            )
            try transaction.record(.messageDeleted, roomID: message.roomID, userID: nil, payload: message)
            return message
        }
    }

    public func message(id: Int64, visibleTo userID: Int64) async throws -> ChatMessage {
        try await writer.read { db in
            guard let message = try Self.fetchMessage(db, id: id) else { throw ChatError.messageNotFound(id) }
            do {
                _ = try Self.access(db, roomID: message.roomID, userID: userID)
            } catch {
                throw ChatError.messageNotFound(id)
            }
            return message
        }
    }

    public func history(roomID: Int64, visibleTo userID: Int64, cursor: HistoryCursor, limit: Int) async throws -> [ChatMessage] {
        try await writer.read { db in
            _ = try Self.access(db, roomID: roomID, userID: userID)
            func page(_ condition: String, _ order: String, _ id: Int64?, _ count: Int) throws -> [ChatMessage] {
                var arguments: StatementArguments = [roomID]
                if let id { arguments += [id] }
                arguments += [count]
                // A cursor, decoding each row where SQLite has it, instead of `fetchAll`, which copies every row
                // into a `Row` first.
                let rows = try Row.fetchCursor(
                    db.cachedStatement(sql: "\(Self.messageSelect) WHERE x.room_id = ? \(condition) ORDER BY x.id \(order) LIMIT ?"),
                    arguments: arguments
                )
                var messages: [ChatMessage] = []
                messages.reserveCapacity(count)
                while let row = try rows.next() { messages.append(Self.message(row)) }
                return messages
            }
            let messages: [ChatMessage]
            switch cursor {
            case .latest:
                messages = try page("", "DESC", nil, limit).reversed()
            case .before(let id):
                messages = try page("AND x.id < ?", "DESC", id, limit).reversed()
            case .after(let id):
                messages = try page("AND x.id > ?", "ASC", id, limit)
            case .around(let id):
                let older = try page("AND x.id < ?", "DESC", id, limit / 2).reversed()
                let newer = try page("AND x.id >= ?", "ASC", id, limit - older.count)
                messages = Array(older) + newer
            }
            return try Self.withReactions(messages, db: db)
        }
    }

    public func defaultRoomMessages(limit: Int, offset: Int) async throws -> [ChatMessage] {
        try await writer.read { db in
            let page = try Row.fetchAll(db, sql: """
                \(Self.messageSelect) WHERE x.room_id = (SELECT id FROM chat_rooms WHERE is_default = 1)
                AND x.deleted_at IS NULL ORDER BY x.id DESC LIMIT ? OFFSET ?
                """, arguments: [limit, offset]).map(Self.message)
            return try Self.withReactions(page, db: db)
        }
    }
}
