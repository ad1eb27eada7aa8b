import Core
import Foundation
import GRDB
@testable import Storage
import Testing

/// `GET /api/v1/rooms`' summaries: the unread count stops at `unreadCountLimit`, so listing the rooms of a member who
/// never read a very large room does not read every one of its messages.
@Suite("SQLite chat room summaries")
struct SQLiteChatRoomSummaryTests {
    @Test("the unread count is exact below the limit and stops at it above; the last message is the newest either way")
    func unreadCountStopsAtTheLimit() async throws {
        let database = TemporaryDatabase()
        let sqlite = try SQLiteDatabase.open(path: database.path, migrating: true)
        let store = SQLiteChatStore(database: sqlite, bus: NoChatBus())
        let ann = try await store.createUser(NewChatUser(username: "ann", email: "ann@example.com", passwordHash: nil))
        let bob = try await store.createUser(NewChatUser(username: "bob", email: "bob@example.com", passwordHash: nil))
        let room = try await store.createRoom(name: "big", topic: nil, visibility: .public, creator: ann.id)
        _ = try await store.join(roomID: room.id, userID: bob.id)
        func summary(for userID: Int64) async throws -> RoomSummary {
            try #require(try await store.rooms(of: userID).first { $0.room.id == room.id })
        }

        let first = try await store.sendMessage(roomID: room.id, authorID: ann.id, content: "hello", clientID: nil, replyTo: nil)
        #expect(try await summary(for: bob.id).unreadCount == 1)
        #expect(try await summary(for: ann.id).unreadCount == 0)

        // Past the limit: rows written straight into the file (as a large room's history would be), all by ann.
        let extra = SQLiteChatStore.unreadCountLimit + 5
        try await sqlite.writer.write { db in
            for index in 0..<extra {
                try db.execute(
                    sql: "INSERT INTO chat_messages (room_id, user_id, content, created_at) VALUES (?, ?, ?, ?)",
                    arguments: [room.id, ann.id, "message \(index)", 1_800_000_000_000 + Int64(index)]
                )
            }
        }
        let newest = try await sqlite.writer.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM chat_messages") }
        let bobs = try await summary(for: bob.id)
        #expect(bobs.unreadCount == SQLiteChatStore.unreadCountLimit)
        #expect(bobs.lastMessage?.id == newest)
        #expect(try await summary(for: ann.id).unreadCount == 0)

        // Read up to three before the newest: exact again.
        let readTo = try #require(newest) - 3
        _ = try await store.markRead(roomID: room.id, userID: bob.id, messageID: readTo)
        #expect(try await summary(for: bob.id).unreadCount == 3)
        // Deleted messages are not unread.
        _ = try await store.deleteMessage(id: try #require(newest), actor: ann.id)
        #expect(try await summary(for: bob.id).unreadCount == 2)
        #expect(first.message.id < readTo)
    }
}
