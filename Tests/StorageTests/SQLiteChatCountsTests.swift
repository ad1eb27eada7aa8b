import Core
import Foundation
import GRDB
@testable import Storage
import Testing

/// What `/stats` reads (`chat_counts`, migration `v10-chat-counts`, kept by triggers): after every kind of write, by
/// the store or by anything else that writes the file, the counts must equal a count of the rows themselves.
@Suite("SQLite chat counts")
struct SQLiteChatCountsTests {
    /// The rows themselves, counted as the kept counts count them.
    func countedRows(_ writer: some DatabaseReader) async throws -> ChatCounts {
        try await writer.read { db in
            ChatCounts(
                users: try Int.fetchOne(db, sql: "SELECT count(*) FROM chat_users") ?? -1,
                rooms: try Int.fetchOne(db, sql: "SELECT count(*) FROM chat_rooms") ?? -1,
                messages: try Int.fetchOne(db, sql: "SELECT count(*) FROM chat_messages WHERE deleted_at IS NULL") ?? -1
            )
        }
    }

    /// Checks that the kept counts are the rows' and that users and messages are as expected; rooms may include
    /// the default room the store makes on first use, so they are checked against `rooms` when given.
    func expectCounts(
        _ store: SQLiteChatStore, _ writer: DatabasePool, users: Int, rooms: Int? = nil, messages: Int,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let kept = try await store.counts()
        #expect(kept == (try await countedRows(writer)), "kept counts against the rows", sourceLocation: sourceLocation)
        #expect(kept.users == users && kept.messages == messages, "\(kept)", sourceLocation: sourceLocation)
        if let rooms { #expect(kept.rooms == rooms, "\(kept)", sourceLocation: sourceLocation) }
    }

    @Test("counts stay exact through accounts, rooms, sends, deletes, and writes made by hand with sqlite3")
    func exactThroughEveryWrite() async throws {
        let database = TemporaryDatabase()
        let sqlite = try SQLiteDatabase.open(path: database.path, migrating: true)
        let store = SQLiteChatStore(database: sqlite, bus: NoChatBus())
        try await expectCounts(store, sqlite.writer, users: 0, messages: 0)

        let ann = try await store.createUser(NewChatUser(username: "ann", email: "ann@example.com", passwordHash: nil))
        let bob = try await store.createUser(NewChatUser(username: "bob", email: "bob@example.com", passwordHash: nil))
        // Making the first account makes the default room too.
        let roomsBefore = try await store.counts().rooms
        let room = try await store.createRoom(name: "general-ish", topic: nil, visibility: .public, creator: ann.id)
        _ = try await store.join(roomID: room.id, userID: bob.id)
        let direct = try await store.directRoom(between: ann.id, and: bob.id)
        try await expectCounts(store, sqlite.writer, users: 2, rooms: roomsBefore + 2, messages: 0)

        var sent: [Int64] = []
        for index in 0..<5 {
            let author = index.isMultiple(of: 2) ? ann.id : bob.id
            let message = try await store.sendMessage(roomID: room.id, authorID: author, content: "m\(index)", clientID: "c\(index)", replyTo: nil)
            sent.append(message.message.id)
        }
        _ = try await store.sendMessage(roomID: direct.id, authorID: ann.id, content: "hi", clientID: nil, replyTo: nil)
        // A retried send stores nothing new.
        _ = try await store.sendMessage(roomID: room.id, authorID: ann.id, content: "m0", clientID: "c0", replyTo: nil)
        try await expectCounts(store, sqlite.writer, users: 2, rooms: roomsBefore + 2, messages: 6)

        // A soft delete, twice (the second changes nothing), and an edit (no change to the count).
        _ = try await store.deleteMessage(id: sent[0], actor: ann.id)
        _ = try await store.deleteMessage(id: sent[0], actor: ann.id)
        _ = try await store.editMessage(id: sent[1], actor: bob.id, content: "edited")
        try await expectCounts(store, sqlite.writer, users: 2, rooms: roomsBefore + 2, messages: 5)

        let ids = sent
        // By hand: an undelete, a hard delete of a live and of a deleted message, a message inserted already
        // deleted, a user and a room removed.
        try await sqlite.writer.write { db in
            try db.execute(sql: "UPDATE chat_messages SET deleted_at = NULL WHERE id = ?", arguments: [ids[0]])
            try db.execute(sql: "UPDATE chat_messages SET deleted_at = 1 WHERE id = ?", arguments: [ids[2]])
            try db.execute(sql: "DELETE FROM chat_messages WHERE id IN (?, ?)", arguments: [ids[2], ids[3]])
            try db.execute(sql: """
                INSERT INTO chat_messages (room_id, user_id, content, created_at, deleted_at) VALUES (?, ?, '', 1, 1)
                """, arguments: [room.id, ann.id])
            try db.execute(sql: "INSERT INTO chat_users (username, email, created_at, updated_at) VALUES ('cy', 'cy@example.com', 1, 1)")
            try db.execute(sql: "DELETE FROM chat_users WHERE username = 'cy'")
        }
        try await expectCounts(store, sqlite.writer, users: 2, rooms: roomsBefore + 2, messages: 4)

        // Every message deleted in one statement, which SQLite would otherwise do without visiting the rows.
        try await sqlite.writer.write { db in
            try db.execute(sql: "DELETE FROM chat_search_words; DELETE FROM chat_search_trigrams")
            try db.execute(sql: "DELETE FROM chat_messages")
        }
        try await expectCounts(store, sqlite.writer, users: 2, rooms: roomsBefore + 2, messages: 0)
    }

    @Test("a file from the previous schema with chat in it is migrated with its counts, which then stay exact")
    func migrationCountsExistingRows() async throws {
        let database = TemporaryDatabase()
        let old = try database.makeOlderFile(upTo: "v9-delivered-attempt-on-delivery")
        try await old.write { db in
            for name in ["ann", "bob", "cy"] {
                try db.execute(
                    sql: "INSERT INTO chat_users (username, email, created_at, updated_at) VALUES (?, ?, 1, 1)",
                    arguments: [name, "\(name)@example.com"]
                )
            }
            try db.execute(sql: """
                INSERT INTO chat_rooms (name, visibility, kind, created_by, created_at, updated_at) VALUES ('r', 'public', 'room', 1, 1, 1);
                INSERT INTO chat_members (room_id, user_id, role, joined_at, joined_position) VALUES (1, 1, 'owner', 1, 0);
                """)
            for index in 0..<4 {
                try db.execute(sql: """
                    INSERT INTO chat_messages (room_id, user_id, content, created_at, deleted_at) VALUES (1, 1, ?, 1, ?)
                    """, arguments: ["m\(index)", index == 3 ? 2 : nil])
            }
        }
        try old.close()

        let sqlite = try SQLiteDatabase.open(path: database.path, migrating: true)
        let store = SQLiteChatStore(database: sqlite, bus: NoChatBus())
        try await expectCounts(store, sqlite.writer, users: 3, rooms: 1, messages: 3)
        _ = try await store.sendMessage(roomID: 1, authorID: 1, content: "new", clientID: nil, replyTo: nil)
        try await expectCounts(store, sqlite.writer, users: 3, rooms: 1, messages: 4)
    }
}
