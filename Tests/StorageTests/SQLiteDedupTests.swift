import Core
import Foundation
import GRDB
import Storage
import Testing

/// Deduplicating inserts: the unique index on (route, dedup_key) decides, inside one group-commit batch too.
@Suite("SQLite dedup")
struct SQLiteDedupTests {
    func record(_ key: String?, route: String = "/hook", at date: Date = Date(), window: TimeInterval = 3600) -> IngestRecord {
        IngestRecord(
            message: makeMessage(route: route, at: date), initialState: .pending,
            dedup: key.map { DedupKey(value: $0, expiresAt: date.addingTimeInterval(window)) }
        )
    }

    @Test("one batch with the same key twice stores one message and reports the second as its duplicate")
    func duplicatesInsideOneBatch() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        let batch = [record("k"), record("k"), record(nil), record(nil), record("k", route: "/other"), record("k")]
        let outcomes = try await store.insertReportingDuplicates(batch)
        let first = batch[0].message
        let original = IngestOutcome.duplicate(of: first.id, acceptedAt: Date(timeIntervalSince1970: (first.acceptedAt.timeIntervalSince1970 * 1000).rounded() / 1000))
        #expect(outcomes == [.stored, original, .stored, .stored, .stored, original])
        #expect(try await store.statusCounts().values.reduce(0, +) == 4)
    }

    @Test("an expired key is released and taken by the new message, in the same transaction")
    func expiredKeyIsReused() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        let old = record("k", at: Date().addingTimeInterval(-10), window: 5)
        #expect(try await store.insertReportingDuplicates([old]) == [.stored])
        let fresh = record("k")
        #expect(try await store.insertReportingDuplicates([fresh, record("k")]) == [.stored, .duplicate(of: fresh.message.id, acceptedAt: Date(timeIntervalSince1970: (fresh.message.acceptedAt.timeIntervalSince1970 * 1000).rounded() / 1000))])
        let holders = try await store.writer.read { db in
            try String.fetchAll(db, sql: "SELECT id FROM messages WHERE dedup_key = 'k'")
        }
        #expect(holders == [fresh.message.id.rawValue])
        #expect(try await store.statusCounts().values.reduce(0, +) == 2)
    }
}
