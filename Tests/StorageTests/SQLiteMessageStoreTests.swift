import Core
import Foundation
import GRDB
@testable import Storage
import Testing

/// A fresh database file in its own temporary directory, removed when the test ends.
final class TemporaryDatabase {
    let directory: String
    let path: String

    init() {
        directory = NSTemporaryDirectory() + "mb-storage-\(UUID().uuidString)"
        path = directory + "/messages.db"
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The file as an older binary leaves it: migrated up to and including `migration`, open for writing its rows.
    func makeOlderFile(upTo migration: String) throws -> DatabaseQueue {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let queue = try DatabaseQueue(path: path)
        try SQLiteSchema.migrator.migrate(queue, upTo: migration)
        return queue
    }
}

func makeMessage(route: String = "/hook", body: String = #"{"n":1}"#, at date: Date = Date()) -> NewMessage {
    NewMessage(
        id: MessageID.make(at: date),
        route: route,
        destination: .http(url: "http://127.0.0.1:1/x"),
        body: Array(body.utf8),
        headers: [
            MessageHeader(name: "Content-Type", value: "application/json"),
            MessageHeader(name: "X-Multi", value: "one"),
            MessageHeader(name: "X-Multi", value: "two: with colon"),
            MessageHeader(name: "X-Empty", value: ""),
        ],
        acceptedAt: date
    )
}

@Suite("SQLite store")
struct SQLiteMessageStoreTests {
    @Test("every connection of the pool, readers too, maps the file as sqlite.mmap_size_mb says; 0 maps nothing")
    func mmapSize() async throws {
        let database = TemporaryDatabase()
        for (mebibytes, expected) in [(8, 8 * 1024 * 1024), (0, 0)] {
            let opened = try SQLiteDatabase.open(path: database.path, migrating: true, mmapSizeMiB: mebibytes)
            #expect(try await opened.writer.read { db in try Int.fetchOne(db, sql: "PRAGMA mmap_size") } == expected)
            #expect(try await opened.writer.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA mmap_size") } == expected)
        }
    }

    @Test("the database runs in WAL mode with synchronous=FULL")
    func durabilitySettings() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        #expect(try await store.synchronousMode() == 2)
        #expect(try await store.journalMode() == "wal")
        // Claims and outcomes must leave the writer connection at FULL for ingest.
        let now = Date()
        let message = makeMessage(at: now)
        try await store.insert([IngestRecord(message: message, initialState: .pending)])
        _ = try await store.claimDue(owner: "a", now: now, leaseUntil: now.addingTimeInterval(60), limit: 10)
        try await store.complete([DeliveryCompletion(messageID: message.id, owner: "a", change: .delivered, attempt: nil)], now: now)
        #expect(try await store.synchronousMode() == 2)
        #expect(try await store.message(id: message.id)?.status == .delivered)
    }

    @Test("an inserted message reads back byte for byte, headers with all values in order")
    func roundTrip() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        var message = makeMessage()
        message.body = [0, 255, 10, 13, 0x7B]
        try await store.insert([IngestRecord(message: message, initialState: .pending)])
        let stored = try #require(try await store.message(id: message.id))
        #expect(stored.message.body == message.body)
        #expect(stored.message.headers == message.headers)
        #expect(stored.message.route == "/hook")
        #expect(stored.message.destination == message.destination)
        #expect(stored.status == .pending)
        // A second process opening the same file sees it too.
        let reopened = try SQLiteMessageStore(path: database.path)
        #expect(try await reopened.message(id: message.id) != nil)
    }

    @Test("a claim returns every field byte for byte; deliveries in one call keep each one's own finish time, status and duration")
    func claimRoundTripAndDeliveredFields() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        let now = Date()
        var binary = makeMessage(at: now)
        binary.body = [0, 255, 10, 13, 0x7B, 0]
        binary.headers.append(MessageHeader(name: "X-Unicode", value: "naïve ☃"))
        var empty = makeMessage(at: now)
        empty.body = []
        empty.headers = []
        var kafka = makeMessage(route: "/a/rather/long/route/template/{id}", at: now)
        kafka.destination = .kafka(topic: "a-topic-name-longer-than-fifteen-bytes")
        let messages = [binary, empty, kafka]
        try await store.insert(messages.map { IngestRecord(message: $0, initialState: .pending) })
        // One fails first, so its claim carries an attempt count and a last error.
        let first = try await store.claimDue(owner: "a", now: now, leaseUntil: now.addingTimeInterval(60), limit: 10)
        #expect(first.count == 3)
        let failed = DeliveryAttempt(number: 1, finishedAt: now, outcome: .retryable, statusCode: 502, error: "HTTP 502: bad gateway", durationSeconds: 0.5)
        try await store.complete([
            DeliveryCompletion(messageID: binary.id, owner: "a", change: .retry(at: now), attempt: failed),
            DeliveryCompletion(messageID: empty.id, owner: "a", change: .released, attempt: nil),
            DeliveryCompletion(messageID: kafka.id, owner: "a", change: .released, attempt: nil),
        ], now: now)

        let claimed = try await store.claimDue(owner: "b", now: now, leaseUntil: now.addingTimeInterval(60), limit: 10)
        let byID = Dictionary(uniqueKeysWithValues: claimed.map { ($0.message.id, $0) })
        #expect(byID.count == 3)
        for message in messages {
            let got = try #require(byID[message.id])
            #expect(got.message.body == message.body)
            #expect(got.message.headers == message.headers)
            #expect(got.message.route == message.route)
            #expect(got.message.destination == message.destination)
            #expect(abs(got.message.acceptedAt.timeIntervalSince(message.acceptedAt)) < 0.001)
            #expect(got.status == .delivering)
        }
        #expect(byID[binary.id]?.attemptCount == 1)
        #expect(byID[binary.id]?.lastError == "HTTP 502: bad gateway")
        #expect(byID[binary.id]?.lastStatusCode == 502)
        #expect(byID[empty.id]?.attemptCount == 0)
        #expect(byID[empty.id]?.lastError == nil)

        // Two share their attempt's fields (one sink batch), the third has its own.
        let batchAttempt = DeliveryAttempt(number: 2, finishedAt: now.addingTimeInterval(1), outcome: .delivered, statusCode: nil, error: nil, durationSeconds: 0.25)
        let ownAttempt = DeliveryAttempt(number: 1, finishedAt: now.addingTimeInterval(2), outcome: .delivered, statusCode: 204, error: nil, durationSeconds: 0.75)
        try await store.complete([
            DeliveryCompletion(messageID: binary.id, owner: "b", change: .delivered, attempt: batchAttempt),
            DeliveryCompletion(messageID: kafka.id, owner: "b", change: .delivered, attempt: batchAttempt),
            DeliveryCompletion(messageID: empty.id, owner: "b", change: .delivered, attempt: ownAttempt),
        ], now: now)
        for (message, attempt) in [(binary, batchAttempt), (kafka, batchAttempt), (empty, ownAttempt)] {
            let stored = try #require(try await store.message(id: message.id))
            #expect(stored.status == .delivered)
            #expect(stored.lastStatusCode == attempt.statusCode)
            #expect(stored.deliveredAt.map { abs($0.timeIntervalSince(attempt.finishedAt)) < 0.001 } == true)
            let last = try #require(try await store.attempts(messageID: message.id).last)
            #expect(last.outcome.rawValue == "delivered")
            #expect(last.statusCode == attempt.statusCode)
            #expect(abs(last.durationSeconds - attempt.durationSeconds) < 0.001)
        }
        #expect(try await store.statusCounts()[.delivered] == 3)
    }

    @Test("claims lease due messages once; an expired lease can be claimed again")
    func leases() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        let now = Date()
        let messages = (0..<5).map { _ in makeMessage(at: now) }
        try await store.insert(messages.map { IngestRecord(message: $0, initialState: .pending) })
        let leased = makeMessage(at: now)
        try await store.insert([IngestRecord(message: leased, initialState: .leased(owner: "a", until: now.addingTimeInterval(60)))])

        let first = try await store.claimDue(owner: "a", now: now, leaseUntil: now.addingTimeInterval(60), limit: 3)
        let second = try await store.claimDue(owner: "b", now: now, leaseUntil: now.addingTimeInterval(60), limit: 10)
        #expect(first.count == 3)
        #expect(second.count == 2, "the leased message and those claimed by a must not be claimed by b")
        #expect(Set(first.map(\.message.id)).isDisjoint(with: second.map(\.message.id)))
        #expect(try await store.claimDue(owner: "c", now: now, leaseUntil: now.addingTimeInterval(60), limit: 10).isEmpty)

        let later = now.addingTimeInterval(61)
        let reclaimed = try await store.claimDue(owner: "c", now: later, leaseUntil: later.addingTimeInterval(60), limit: 10)
        #expect(reclaimed.count == 6, "every lease expired")
    }

    @Test("completions move messages through their statuses and record attempts; stale owners are ignored")
    func completions() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        let now = Date()
        let message = makeMessage(at: now)
        try await store.insert([IngestRecord(message: message, initialState: .leased(owner: "a", until: now.addingTimeInterval(60)))])
        let failedAttempt = DeliveryAttempt(number: 1, finishedAt: now, outcome: .retryable, statusCode: 503, error: "HTTP 503: busy", durationSeconds: 0.01)
        try await store.complete([
            DeliveryCompletion(messageID: message.id, owner: "someone-else", change: .delivered, attempt: failedAttempt)
        ], now: now)
        #expect(try await store.message(id: message.id)?.status == .delivering, "a stale owner changes nothing")

        try await store.complete([
            DeliveryCompletion(messageID: message.id, owner: "a", change: .retry(at: now.addingTimeInterval(5)), attempt: failedAttempt)
        ], now: now)
        var stored = try #require(try await store.message(id: message.id))
        #expect(stored.status == .retrying)
        #expect(stored.attemptCount == 1)
        #expect(stored.lastStatusCode == 503)
        #expect(try await store.nextDueDate().map { abs($0.timeIntervalSince(now) - 5) < 0.01 } == true)
        #expect(try await store.claimDue(owner: "a", now: now, leaseUntil: now.addingTimeInterval(60), limit: 10).isEmpty)

        let due = now.addingTimeInterval(5)
        let claimed = try await store.claimDue(owner: "b", now: due, leaseUntil: due.addingTimeInterval(60), limit: 10)
        #expect(claimed.map(\.attemptsSinceRetry) == [1])
        let delivered = DeliveryAttempt(number: 2, finishedAt: due, outcome: .delivered, statusCode: 200, error: nil, durationSeconds: 0.01)
        try await store.complete([DeliveryCompletion(messageID: message.id, owner: "b", change: .delivered, attempt: delivered)], now: due)
        stored = try #require(try await store.message(id: message.id))
        #expect(stored.status == .delivered)
        #expect(stored.deliveredAt != nil)
        let attempts = try await store.attempts(messageID: message.id)
        #expect(attempts.map(\.outcome.rawValue) == ["retryable", "delivered"])
        #expect(attempts.map(\.statusCode) == [503, 200])
        #expect(attempts.first?.error == "HTTP 503: busy")
        #expect(try await store.statusCounts()[.delivered] == 1)
    }

    @Test("one completion call mixing delivered, retry, failed, deferred and released writes each; stale leases are skipped")
    func bulkCompletions() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        let now = Date()
        let lease = InitialState.leased(owner: "a", until: now.addingTimeInterval(60))
        let messages = (0..<12).map { makeMessage(body: #"{"n":\#($0)}"#, at: now.addingTimeInterval(Double($0) / 1000)) }
        // Message 11 is stored pending, never leased: a delivered completion must not touch it.
        try await store.insert(messages.enumerated().map { index, message in
            IngestRecord(message: message, initialState: index == 11 ? .pending : lease)
        })

        // Force-unwrap: every call below names one of the three outcomes.
        func attempt(_ number: Int, _ outcome: String, status: Int? = nil, error: String? = nil, ms: Double = 7) -> DeliveryAttempt {
            DeliveryAttempt(number: number, finishedAt: now, outcome: AttemptOutcome(rawValue: outcome)!, statusCode: status, error: error, durationSeconds: ms / 1000)
        }
        var completions: [DeliveryCompletion] = (0..<6).map {
            DeliveryCompletion(messageID: messages[$0].id, owner: "a", change: .delivered, attempt: attempt(1, "delivered", status: $0 == 0 ? 204 : nil, ms: Double($0 + 1)))
        }
        completions.append(DeliveryCompletion(messageID: messages[6].id, owner: "a", change: .retry(at: now.addingTimeInterval(30)), attempt: attempt(1, "retryable", error: "_MSG_TIMED_OUT: Local: Message timed out")))
        completions.append(DeliveryCompletion(messageID: messages[7].id, owner: "a", change: .failed, attempt: attempt(1, "failed", error: "MSG_SIZE_TOO_LARGE: too large")))
        completions.append(DeliveryCompletion(messageID: messages[8].id, owner: "a", change: .deferred(until: now.addingTimeInterval(20)), attempt: nil))
        completions.append(DeliveryCompletion(messageID: messages[9].id, owner: "a", change: .released, attempt: nil))
        // Stale: "someone-else" does not hold message 10's lease, and nobody holds message 11's.
        completions.append(DeliveryCompletion(messageID: messages[10].id, owner: "someone-else", change: .delivered, attempt: attempt(1, "delivered")))
        completions.append(DeliveryCompletion(messageID: messages[11].id, owner: "a", change: .delivered, attempt: attempt(2, "delivered")))
        try await store.complete(completions, now: now)

        for index in 0..<6 {
            let stored = try #require(try await store.message(id: messages[index].id))
            #expect(stored.status == .delivered)
            #expect(stored.attemptCount == 1)
            #expect(stored.lastError == nil)
            let attempts = try await store.attempts(messageID: messages[index].id)
            #expect(attempts.count == 1, "`messages show` still lists the delivering attempt")
            #expect(attempts.first?.number == 1)
            #expect(attempts.first?.outcome.rawValue == "delivered")
            #expect(attempts.first?.statusCode == (index == 0 ? 204 : nil))
            #expect(attempts.first.map { abs($0.durationSeconds - Double(index + 1) / 1000) < 1e-9 } == true)
            #expect(attempts.first.map { abs($0.finishedAt.timeIntervalSince(now)) < 0.002 } == true)
        }
        let retrying = try #require(try await store.message(id: messages[6].id))
        #expect(retrying.status == .retrying)
        #expect(retrying.lastError == "_MSG_TIMED_OUT: Local: Message timed out")
        #expect(try await store.attempts(messageID: messages[6].id).map(\.outcome.rawValue) == ["retryable"])
        #expect(try await store.message(id: messages[7].id)?.status == .failed)
        #expect(try await store.attempts(messageID: messages[7].id).map(\.error) == ["MSG_SIZE_TOO_LARGE: too large"])
        let deferred = try #require(try await store.message(id: messages[8].id))
        #expect(deferred.status == .pending)
        #expect(deferred.attemptCount == 0)
        #expect(try await store.message(id: messages[9].id)?.status == .pending)
        let stale = try #require(try await store.message(id: messages[10].id))
        #expect(stale.status == .delivering, "a completion from an owner without the lease changes nothing")
        #expect(stale.attemptCount == 0)
        #expect(try await store.attempts(messageID: messages[10].id).isEmpty)
        #expect(try await store.message(id: messages[11].id)?.status == .pending, "a message not delivering is not marked delivered")
        #expect(try await store.attempts(messageID: messages[11].id).isEmpty)
        #expect(try await store.statusCounts()[.delivered] == 6)

        // A later retry-then-deliver lists the failed attempt from its row and the delivering one from the message.
        let due = now.addingTimeInterval(30)
        let reclaimed = try await store.claimDue(owner: "c", now: due, leaseUntil: due.addingTimeInterval(60), limit: 100)
        #expect(reclaimed.map(\.message.id).contains(messages[6].id))
        try await store.complete([DeliveryCompletion(messageID: messages[6].id, owner: "c", change: .delivered, attempt: attempt(2, "delivered"))], now: due)
        #expect(try await store.attempts(messageID: messages[6].id).map(\.number) == [1, 2])
        #expect(try await store.attempts(messageID: messages[6].id).map(\.outcome.rawValue) == ["retryable", "delivered"])
    }

    @Test("delivered completions in bulk: thousands in one call, each message once")
    func manyDeliveredInOneCall() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        let now = Date()
        let messages = (0..<5_000).map { makeMessage(at: now.addingTimeInterval(Double($0) / 1_000_000)) }
        try await store.insert(messages.map { IngestRecord(message: $0, initialState: .pending) })
        let claimed = try await store.claimDue(owner: "a", now: now.addingTimeInterval(1), leaseUntil: now.addingTimeInterval(60), limit: 10_000)
        #expect(claimed.count == 5_000)
        #expect(claimed.first?.message.headers == messages[0].headers, "claimed rows decode completely")
        let attempt = DeliveryAttempt(number: 1, finishedAt: now, outcome: .delivered, statusCode: nil, error: nil, durationSeconds: 0.003)
        try await store.complete(claimed.map { DeliveryCompletion(messageID: $0.message.id, owner: "a", change: .delivered, attempt: attempt) }, now: now)
        #expect(try await store.statusCounts() == [.pending: 0, .delivering: 0, .retrying: 0, .delivered: 5_000, .failed: 0])
        #expect(try await store.attempts(messageID: messages[4_999].id).map(\.outcome.rawValue) == ["delivered"])
    }

    @Test("manual retry revives failed messages with a fresh attempt budget")
    func manualRetry() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        let now = Date()
        let messages = (0..<3).map { _ in makeMessage(at: now) }
        try await store.insert(messages.map { IngestRecord(message: $0, initialState: .leased(owner: "a", until: now.addingTimeInterval(60))) })
        let attempt = DeliveryAttempt(number: 1, finishedAt: now, outcome: .failed, statusCode: 400, error: "HTTP 400", durationSeconds: 0)
        try await store.complete(messages.map { DeliveryCompletion(messageID: $0.id, owner: "a", change: .failed, attempt: attempt) }, now: now)
        #expect(try await store.statusCounts()[.failed] == 3)
        #expect(try await store.retry(id: messages[0].id, now: now))
        #expect(try await !store.retry(id: MessageID(rawValue: "nope"), now: now))
        #expect(try await store.retryAllFailed(now: now) == 2)
        let claimed = try await store.claimDue(owner: "b", now: now, leaseUntil: now.addingTimeInterval(60), limit: 10)
        #expect(claimed.count == 3)
        #expect(claimed.allSatisfy { $0.attemptsSinceRetry == 0 && $0.attemptCount == 1 })
    }

    @Test("releasing leases after a crash makes in-flight messages due at once")
    func releaseAfterCrash() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        let now = Date()
        let message = makeMessage(at: now)
        try await store.insert([IngestRecord(message: message, initialState: .leased(owner: "dead", until: now.addingTimeInterval(600)))])
        #expect(try await store.releaseAllLeases(now: now) == 1)
        let claimed = try await store.claimDue(owner: "new", now: now, leaseUntil: now.addingTimeInterval(60), limit: 10)
        #expect(claimed.map(\.message.id) == [message.id])
    }

    @Test("listing pages newest first and filters by status; purge removes only old delivered messages")
    func listingAndPurge() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        let base = Date(timeIntervalSince1970: 1_800_000_000)
        let messages = (0..<10).map { makeMessage(at: base.addingTimeInterval(Double($0))) }
        try await store.insert(messages.map { IngestRecord(message: $0, initialState: .leased(owner: "a", until: base.addingTimeInterval(600))) })
        let page = try await store.messages(matching: MessageQuery(limit: 4))
        #expect(page.map(\.message.id) == messages.reversed().prefix(4).map(\.id))
        let next = try await store.messages(matching: MessageQuery(limit: 4, before: page.last?.message.id))
        #expect(next.map(\.message.id) == Array(messages.reversed())[4..<8].map(\.id))

        try await store.complete(messages.prefix(6).map { DeliveryCompletion(messageID: $0.id, owner: "a", change: .delivered, attempt: nil) }, now: base)
        #expect(try await store.messages(matching: MessageQuery(status: .delivered, limit: 100)).count == 6)
        #expect(try await store.purgeDelivered(before: base.addingTimeInterval(-1)) == 0)
        #expect(try await store.purgeDelivered(before: base.addingTimeInterval(1)) == 6)
        // A purged message's payload goes with it.
        #expect(try await store.writer.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM message_payloads") } == 4)
        #expect(try await store.statusCounts()[.delivering] == 4)
        #expect(try await store.oldestUndeliveredAcceptedAt() == messages[6].acceptedAt)
    }

    @Test("a file written before payloads moved to their own table opens with every message intact, and delivers")
    func payloadMigration() async throws {
        let database = TemporaryDatabase()
        // The schema as the previous release left it, with two messages in its layout (payload in the row).
        let old = try database.makeOlderFile(upTo: "v4-delivered-attempt-on-message")
        let accepted = Date(timeIntervalSince1970: 1_700_000_000)
        let body: [UInt8] = [0x00, 0xFF, 0x7B, 0x0A]
        let headers = "Content-Type: application/json\nX-Multi: one\nX-Multi: two: with colon"
        let ids = [MessageID.make(at: accepted), MessageID.make(at: accepted)]
        try await old.write { db in
            for (index, id) in ids.enumerated() {
                try db.execute(
                    sql: """
                        INSERT INTO messages (id, route, destination_kind, destination, headers, body, status,
                            attempt_count, next_attempt_at, accepted_at, updated_at, delivered_at)
                        VALUES (?, '/hook', 'kafka', 'events', ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        id.rawValue, Data(headers.utf8), Data(body), index == 0 ? "delivered" : "pending",
                        index == 0 ? 1 : 0, index == 0 ? nil : 1_700_000_000_000, 1_700_000_000_000,
                        1_700_000_000_000, index == 0 ? 1_700_000_000_500 : nil,
                    ]
                )
            }
        }
        try old.close()

        let store = try SQLiteMessageStore(path: database.path)
        for id in ids {
            let message = try #require(try await store.message(id: id)).message
            #expect(message.body == body)
            #expect(message.headers == [
                MessageHeader(name: "Content-Type", value: "application/json"),
                MessageHeader(name: "X-Multi", value: "one"),
                MessageHeader(name: "X-Multi", value: "two: with colon"),
            ])
            #expect(message.destination == .kafka(topic: "events"))
        }
        #expect(try await store.message(id: ids[0])?.status == .delivered)
        let columns = try await store.writer.read { try $0.columns(in: "messages").map(\.name) }
        #expect(!columns.contains("body") && !columns.contains("headers"))
        // The pending one is claimed with its payload and delivered as usual.
        let now = Date()
        let claimed = try await store.claimDue(owner: "a", now: now, leaseUntil: now.addingTimeInterval(60), limit: 10)
        #expect(claimed.map(\.message.id) == [ids[1]])
        #expect(claimed.first?.message.body == body)
        try await store.complete([DeliveryCompletion(messageID: ids[1], owner: "a", change: .delivered, attempt: nil)], now: now)
        #expect(try await store.statusCounts()[.delivered] == 2)
    }

    @Test("a full disk fails the insert with an error and stores nothing")
    func diskFull() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        try await store.writer.writeWithoutTransaction { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            try db.execute(sql: "PRAGMA max_page_count = \(pages)")
        }
        var big = makeMessage()
        big.body = Array(repeating: 0x41, count: 64 * 1024)
        await #expect(throws: (any Error).self) {
            try await store.insert([IngestRecord(message: big, initialState: .pending)])
        }
        #expect(try await store.message(id: big.id) == nil)
    }
}
