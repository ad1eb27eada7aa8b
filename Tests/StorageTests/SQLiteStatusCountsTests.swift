import Core
import Foundation
import GRDB
@testable import Storage
import Testing

/// The per-status counts that `/status` and `/metrics` read (`message_status_counts`, migration
/// `v8-message-status-counts`: new rows counted by the store's ingest, status changes and deletes by triggers): after
/// every kind of write, by the server's store or by anything else that writes the file, they must equal a count of the
/// rows themselves.
@Suite("SQLite status counts")
struct SQLiteStatusCountsTests {
    static let base = Date(timeIntervalSince1970: 1_800_000_000)

    /// The kept counts, leaving out statuses no row has (a status whose last row left keeps a row of 0).
    func keptCounts(_ writer: some DatabaseReader) async throws -> [String: Int] {
        try await writer.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT status, count FROM message_status_counts WHERE count <> 0")
            return Dictionary(uniqueKeysWithValues: rows.map { ($0[0] as String, $0[1] as Int) })
        }
    }

    /// The rows counted, status by status.
    func countedRows(_ writer: some DatabaseReader) async throws -> [String: Int] {
        try await writer.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT status, count(*) FROM messages GROUP BY status")
            return Dictionary(uniqueKeysWithValues: rows.map { ($0[0] as String, $0[1] as Int) })
        }
    }

    /// Checks that the kept counts are the rows' and that the store reports `expected` (leases included).
    func expectCounts(
        _ store: SQLiteMessageStore, _ expected: [MessageStatus: Int], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let kept = try await keptCounts(store.writer)
        #expect(kept == (try await countedRows(store.writer)), "kept counts against the rows", sourceLocation: sourceLocation)
        var all = Dictionary(uniqueKeysWithValues: MessageStatus.allCases.map { ($0, 0) })
        all.merge(expected) { _, new in new }
        #expect(try await store.statusCounts() == all, sourceLocation: sourceLocation)
    }

    func lease(for seconds: TimeInterval = 600) -> InitialState {
        .leased(owner: "a", until: Self.base.addingTimeInterval(seconds))
    }

    func attempt(_ outcome: AttemptOutcome) -> DeliveryAttempt {
        DeliveryAttempt(number: 1, finishedAt: Self.base, outcome: outcome, statusCode: 503, error: "HTTP 503", durationSeconds: 0.01)
    }

    @Test("counts stay exact through ingest, duplicates, claims, every outcome, manual retries, crash recovery and purge")
    func exactThroughTheStoresWrites() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        let base = Self.base
        try await expectCounts(store, [:])

        // Ingest: pending rows, rows leased at once (delivering), a duplicate (not stored) and a key whose window has
        // passed (its holder's key is cleared, which changes no status).
        let messages = (0..<10).map { makeMessage(at: base.addingTimeInterval(Double($0) / 1000)) }
        let keyed = IngestRecord(
            message: makeMessage(at: base), initialState: .pending, dedup: DedupKey(value: "k", expiresAt: base.addingTimeInterval(1))
        )
        let outcomes = try await store.insertReportingDuplicates(
            messages.prefix(4).map { IngestRecord(message: $0, initialState: .pending) }
                + messages.dropFirst(4).map { IngestRecord(message: $0, initialState: lease()) }
                + [keyed, IngestRecord(message: makeMessage(at: base), initialState: .pending, dedup: keyed.dedup)]
        )
        #expect(outcomes.filter { $0 == .stored }.count == 11)
        try await expectCounts(store, [.pending: 5, .delivering: 6])
        let later = base.addingTimeInterval(2)
        let reused = IngestRecord(
            message: makeMessage(at: later), initialState: .pending, dedup: DedupKey(value: "k", expiresAt: later.addingTimeInterval(1))
        )
        #expect(try await store.insertReportingDuplicates([reused]) == [.stored])
        try await expectCounts(store, [.pending: 6, .delivering: 6])

        // Claims write nothing; the leases show as delivering.
        let claimed = try await store.claimDue(owner: "b", now: later, leaseUntil: later.addingTimeInterval(600), limit: 2)
        #expect(claimed.count == 2)
        try await expectCounts(store, [.pending: 4, .delivering: 8])

        // Every outcome, in one call and on its own.
        try await store.complete([
            DeliveryCompletion(messageID: messages[4].id, owner: "a", change: .delivered, attempt: nil),
            DeliveryCompletion(messageID: messages[5].id, owner: "a", change: .delivered, attempt: attempt(.delivered)),
            DeliveryCompletion(messageID: messages[6].id, owner: "a", change: .retry(at: later), attempt: attempt(.retryable)),
            DeliveryCompletion(messageID: messages[7].id, owner: "a", change: .failed, attempt: attempt(.failed)),
            DeliveryCompletion(messageID: messages[8].id, owner: "a", change: .deferred(until: later), attempt: nil),
            DeliveryCompletion(messageID: messages[9].id, owner: "someone-else", change: .failed, attempt: attempt(.failed)),
        ], now: base)
        try await expectCounts(store, [.pending: 5, .delivering: 3, .retrying: 1, .delivered: 2, .failed: 1])
        try await store.complete(
            claimed.map { DeliveryCompletion(messageID: $0.message.id, owner: "b", change: .released, attempt: nil) }, now: later
        )
        try await expectCounts(store, [.pending: 7, .delivering: 1, .retrying: 1, .delivered: 2, .failed: 1])

        // A retrying message that fails again keeps its status: the counts do not move.
        let retried = try await store.claimDue(owner: "c", now: later, leaseUntil: later.addingTimeInterval(600), limit: 100)
        #expect(retried.count == 8)
        let again = try #require(retried.first { $0.message.id == messages[6].id })
        try await store.complete([
            DeliveryCompletion(messageID: again.message.id, owner: "c", change: .retry(at: later), attempt: attempt(.retryable))
        ], now: later)
        try await expectCounts(store, [.delivering: 8, .retrying: 1, .delivered: 2, .failed: 1])
        try await store.complete(retried.filter { $0.message.id != messages[6].id }.map {
            DeliveryCompletion(messageID: $0.message.id, owner: "c", change: .failed, attempt: attempt(.failed))
        }, now: later)
        try await expectCounts(store, [.delivering: 1, .retrying: 1, .delivered: 2, .failed: 8])

        // Manual retries, one and all.
        #expect(try await store.retry(id: messages[6].id, now: later))
        try await expectCounts(store, [.pending: 1, .delivering: 1, .delivered: 2, .failed: 8])
        #expect(try await store.retryAllFailed(now: later) == 8)
        try await expectCounts(store, [.pending: 9, .delivering: 1, .delivered: 2])

        // Crash recovery, with a row an older version left `delivering` in the file (it has had an attempt, so it
        // comes back retrying).
        try await store.writer.write { db in
            try db.execute(sql: "UPDATE messages SET status = 'delivering' WHERE id = ?", arguments: [messages[0].id.rawValue])
        }
        try await expectCounts(store, [.pending: 8, .delivering: 2, .delivered: 2])
        #expect(try await store.releaseAllLeases(now: later) == 2)
        try await expectCounts(store, [.pending: 9, .retrying: 1, .delivered: 2])

        // Purge (retention) deletes delivered rows.
        let all = try await store.claimDue(owner: "d", now: later, leaseUntil: later.addingTimeInterval(600), limit: 100)
        try await store.complete(all.map { DeliveryCompletion(messageID: $0.message.id, owner: "d", change: .delivered, attempt: nil) }, now: later)
        try await expectCounts(store, [.delivered: 12])
        #expect(try await store.purgeDelivered(before: later) == 2)
        try await expectCounts(store, [.delivered: 10])
        #expect(try await store.purgeDelivered(before: later.addingTimeInterval(1)) == 10)
        try await expectCounts(store, [:])
    }

    @Test("another process's changes are counted: an admin command's store on the file, and plain SQL")
    func writesFromOutsideTheServer() async throws {
        let database = TemporaryDatabase()
        let server = try SQLiteMessageStore(path: database.path)
        let messages = (0..<6).map { makeMessage(at: Self.base.addingTimeInterval(Double($0))) }
        try await server.insert(messages.map { IngestRecord(message: $0, initialState: lease()) })
        try await server.complete(messages.map {
            DeliveryCompletion(messageID: $0.id, owner: "a", change: .failed, attempt: attempt(.failed))
        }, now: Self.base)
        try await expectCounts(server, [.failed: 6])

        // `messages retry --all-failed` beside the server: its own store, opened without migrating.
        let command = SQLiteMessageStore(database: try SQLiteDatabase.open(path: database.path, migrating: false))
        #expect(try await command.retry(id: messages[0].id, now: Self.base))
        #expect(try await command.retryAllFailed(now: Self.base) == 5)
        try await expectCounts(server, [.pending: 6])

        // Someone with sqlite3: a status change of several rows, a delete of several, and a status this build does
        // not know (counted in the table, left out of the store's report). New rows come only through the store's
        // ingest, which counts them itself.
        let queue = try DatabaseQueue(path: database.path)
        try await queue.write { db in
            try db.execute(sql: "UPDATE messages SET status = 'delivered' WHERE id IN (?, ?, ?)", arguments: [
                messages[0].id.rawValue, messages[1].id.rawValue, messages[2].id.rawValue,
            ])
            try db.execute(sql: "DELETE FROM messages WHERE id IN (?, ?)", arguments: [messages[0].id.rawValue, messages[3].id.rawValue])
            try db.execute(sql: "UPDATE messages SET status = 'archived' WHERE id = ?", arguments: [messages[4].id.rawValue])
        }
        try queue.close()
        #expect(try await keptCounts(server.writer) == ["pending": 1, "delivered": 2, "archived": 1])
        try await expectCounts(server, [.pending: 1, .delivered: 2])
        // A delete of every row, which SQLite would otherwise do without visiting them.
        try await server.writer.write { db in try db.execute(sql: "DELETE FROM messages") }
        try await expectCounts(server, [:])
    }

    @Test("a file from the previous schema with messages in it is migrated with their counts, which then stay exact")
    func migrationCountsExistingRows() async throws {
        let database = TemporaryDatabase()
        let old = try database.makeOlderFile(upTo: "v7-event-webhooks")
        // Rows as the previous release leaves them, in every status it writes and one a legacy version left behind.
        let statuses = Array(repeating: "delivered", count: 7) + ["pending", "pending", "retrying", "failed", "failed", "delivering"]
        try await old.write { db in
            for (index, status) in statuses.enumerated() {
                let id = MessageID.make(at: Self.base.addingTimeInterval(Double(index)))
                try db.execute(
                    sql: """
                        INSERT INTO messages (id, route, destination_kind, destination, status, attempt_count,
                            next_attempt_at, accepted_at, updated_at)
                        VALUES (?, '/hook', 'http', 'http://127.0.0.1:1/x', ?, 0, ?, ?, ?)
                        """,
                    arguments: [
                        id.rawValue, status, ["pending", "retrying"].contains(status) ? 1_800_000_000_000 + index : nil,
                        1_800_000_000_000 + index, 1_800_000_000_000,
                    ]
                )
                try db.execute(
                    sql: "INSERT INTO message_payloads (seq, headers, body) VALUES (?, ?, ?)",
                    arguments: [db.lastInsertedRowID, Data("Content-Type: application/json\n".utf8), Data("{}".utf8)]
                )
            }
        }
        try old.close()

        let store = try SQLiteMessageStore(path: database.path)
        #expect(try await keptCounts(store.writer) == ["delivered": 7, "pending": 2, "retrying": 1, "failed": 2, "delivering": 1])
        try await expectCounts(store, [.delivered: 7, .pending: 2, .retrying: 1, .failed: 2, .delivering: 1])

        // The legacy row is given back at start, then everything due is delivered.
        #expect(try await store.releaseAllLeases(now: Self.base) == 1)
        try await expectCounts(store, [.delivered: 7, .pending: 3, .retrying: 1, .failed: 2])
        let due = Self.base.addingTimeInterval(3600)
        let claimed = try await store.claimDue(owner: "a", now: due, leaseUntil: due.addingTimeInterval(60), limit: 100)
        #expect(claimed.count == 4)
        try await store.complete(claimed.map { DeliveryCompletion(messageID: $0.message.id, owner: "a", change: .delivered, attempt: nil) }, now: due)
        try await expectCounts(store, [.delivered: 11, .failed: 2])
    }
}
