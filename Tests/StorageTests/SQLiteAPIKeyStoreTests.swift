import Core
import Foundation
import Storage
import Testing

@Suite("SQLite API key store")
struct SQLiteAPIKeyStoreTests {
    func makeKey(id: String, hash: String, expiresAt: Date? = nil, createdAt: Date = Date()) -> APIKeyRecord {
        APIKeyRecord(
            id: id, name: "name-\(id)", scope: .ingest, hash: hash, displayPrefix: "mb_\(id)", createdAt: createdAt,
            expiresAt: expiresAt
        )
    }

    @Test("keys round-trip, are found by hash, and survive reopening the file")
    func roundTrip() async throws {
        let database = TemporaryDatabase()
        let hash = String(repeating: "ab", count: 32)
        do {
            let store = SQLiteAPIKeyStore(database: try SQLiteDatabase.open(path: database.path, migrating: true))
            let key = makeKey(id: "k1", hash: hash, expiresAt: Date(timeIntervalSince1970: 2_000_000_000))
            try await store.insert(key)
            #expect(try await store.key(hash: hash.uppercased())?.id == "k1")
            #expect(try await store.key(hash: String(repeating: "cd", count: 32)) == nil)
        }
        let reopened = SQLiteAPIKeyStore(database: try SQLiteDatabase.open(path: database.path, migrating: true))
        let key = try #require(try await reopened.key(id: "k1"))
        #expect(key.scope == .ingest)
        #expect(key.expiresAt == Date(timeIntervalSince1970: 2_000_000_000))
        #expect(key.lastUsedAt == nil && key.revokedAt == nil)
    }

    @Test("a duplicate hash is refused")
    func uniqueHash() async throws {
        let database = TemporaryDatabase()
        let store = SQLiteAPIKeyStore(database: try SQLiteDatabase.open(path: database.path, migrating: true))
        try await store.insert(makeKey(id: "a", hash: String(repeating: "1", count: 64)))
        await #expect(throws: (any Error).self) {
            try await store.insert(makeKey(id: "b", hash: String(repeating: "1", count: 64)))
        }
    }

    @Test("revoke once; rotate stores the replacement and shortens the old key's expiry in one step")
    func revokeAndRotate() async throws {
        let database = TemporaryDatabase()
        let store = SQLiteAPIKeyStore(database: try SQLiteDatabase.open(path: database.path, migrating: true))
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        try await store.insert(makeKey(id: "old", hash: String(repeating: "1", count: 64), expiresAt: now.addingTimeInterval(30)))
        try await store.insert(makeKey(id: "long", hash: String(repeating: "2", count: 64), expiresAt: now.addingTimeInterval(86_400)))

        // Grace longer than the remaining life never extends it.
        #expect(try await store.rotate(id: "old", replacement: makeKey(id: "new1", hash: String(repeating: "3", count: 64)), oldExpiresAt: now.addingTimeInterval(3600)))
        #expect(try await store.key(id: "old")?.expiresAt == now.addingTimeInterval(30))
        #expect(try await store.key(id: "old")?.replacedBy == "new1")
        #expect(try await store.key(id: "new1") != nil)

        #expect(try await store.rotate(id: "long", replacement: makeKey(id: "new2", hash: String(repeating: "4", count: 64)), oldExpiresAt: now.addingTimeInterval(60)))
        #expect(try await store.key(id: "long")?.expiresAt == now.addingTimeInterval(60))

        #expect(try await store.revoke(id: "new2", now: now))
        #expect(try await !store.revoke(id: "new2", now: now))
        #expect(try await store.key(id: "new2")?.revokedAt == now)
        // A revoked key cannot be rotated, and nothing is stored.
        #expect(try await !store.rotate(id: "new2", replacement: makeKey(id: "new3", hash: String(repeating: "5", count: 64)), oldExpiresAt: now))
        #expect(try await store.key(id: "new3") == nil)
        #expect(try await !store.rotate(id: "missing", replacement: makeKey(id: "new4", hash: String(repeating: "6", count: 64)), oldExpiresAt: now))
        #expect(try await store.keys().count == 4)
    }

    @Test("markUsed only moves last_used_at forward")
    func markUsed() async throws {
        let database = TemporaryDatabase()
        let store = SQLiteAPIKeyStore(database: try SQLiteDatabase.open(path: database.path, migrating: true))
        try await store.insert(makeKey(id: "k", hash: String(repeating: "7", count: 64)))
        let later = Date(timeIntervalSince1970: 1_900_000_000)
        try await store.markUsed(id: "k", at: later)
        try await store.markUsed(id: "k", at: later.addingTimeInterval(-100))
        #expect(try await store.key(id: "k")?.lastUsedAt == later)
    }
}
