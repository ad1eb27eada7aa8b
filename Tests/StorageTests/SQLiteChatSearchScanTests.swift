import Core
import Foundation
@testable import Storage
import Testing

/// A one- or two-character search has no index to use (trigrams need three characters): it reads only the newest
/// `shortQueryScanLimit` messages of the caller's rooms, so a rare fragment cannot make it read the whole store.
@Suite("SQLite chat search: short fragments")
struct SQLiteChatSearchScanTests {
    @Test("a two-character fragment is found among the newest messages of the scan limit, not beyond it")
    func shortFragmentsReadTheNewestOnly() async throws {
        let database = TemporaryDatabase()
        let sqlite = try SQLiteDatabase.open(path: database.path, migrating: true)
        let bounded = SQLiteChatStore(database: sqlite, bus: NoChatBus(), shortQueryScanLimit: 5)
        let unbounded = SQLiteChatStore(database: sqlite, bus: NoChatBus())
        let ann = try await bounded.createUser(NewChatUser(username: "ann", email: "ann@example.com", passwordHash: nil))
        let room = try await bounded.createRoom(name: "den", topic: nil, visibility: .public, creator: ann.id)
        // "qz" only inside words, so the word index (prefix "qz*") finds neither and the fragment path runs.
        let contents = ["xqzold"] + (0..<5).map { "filler number \($0)" } + ["xqznew"]
        var ids: [Int64] = []
        for content in contents {
            ids.append(try await bounded.sendMessage(roomID: room.id, authorID: ann.id, content: content, clientID: nil, replyTo: nil).message.id)
        }
        func found(_ store: SQLiteChatStore, _ query: String) async throws -> [String] {
            try await store.search(query, visibleTo: ann.id, roomID: nil, limit: 20, offset: 0).map(\.message.content)
        }
        #expect(try await found(bounded, "qz") == ["xqznew"])
        #expect(try await found(unbounded, "qz") == ["xqznew", "xqzold"])
        // Three characters or more go through the trigram index, which has no such bound.
        #expect(Set(try await found(bounded, "xqz")) == ["xqznew", "xqzold"])
        // Deleted messages do not count: with three fillers gone, the newest five reach back to the oldest.
        for id in ids[3...5] {
            _ = try await bounded.deleteMessage(id: id, actor: ann.id)
        }
        #expect(try await found(bounded, "qz") == ["xqznew", "xqzold"])
    }
}
