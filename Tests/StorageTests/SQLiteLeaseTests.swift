import Core
import Foundation
import GRDB
import Storage
import Testing

/// Leases live in the store's memory, not in the rows (see `LeaseTable`): these tests check what the file says, what
/// the store reports, and that the claim cursor never strands a due message.
@Suite("SQLite leases")
struct SQLiteLeaseTests {
    /// The status column as another connection to the file sees it.
    func statusInFile(_ store: SQLiteMessageStore, _ id: MessageID) async throws -> String? {
        try await store.writer.read { db in
            try String.fetchOne(db, sql: "SELECT status FROM messages WHERE id = ?", arguments: [id.rawValue])
        }
    }

    @Test("a claim writes nothing to the row; the store reports the message delivering until its outcome")
    func claimIsARead() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        let now = Date()
        let messages = (0..<4).map { makeMessage(at: now.addingTimeInterval(Double($0) / 1000)) }
        try await store.insert(messages.map { IngestRecord(message: $0, initialState: .pending) })
        let updatedBefore = try await store.message(id: messages[0].id)?.updatedAt

        let claimed = try await store.claimDue(owner: "a", now: now.addingTimeInterval(1), leaseUntil: now.addingTimeInterval(60), limit: 3)
        #expect(claimed.map(\.message.id) == Array(messages.prefix(3).map(\.id)), "oldest due first")
        #expect(claimed.allSatisfy { $0.status == .delivering })
        #expect(try await statusInFile(store, messages[0].id) == "pending", "the row is not rewritten by a claim")
        let stored = try #require(try await store.message(id: messages[0].id))
        #expect(stored.status == .delivering)
        #expect(stored.updatedAt == updatedBefore)
        #expect(try await store.statusCounts() == [.pending: 1, .delivering: 3, .retrying: 0, .delivered: 0, .failed: 0])
        #expect(try await store.messages(matching: MessageQuery(status: .delivering)).map(\.message.id) == messages.prefix(3).reversed().map(\.id))
        #expect(try await store.messages(matching: MessageQuery(status: .pending)).map(\.message.id) == [messages[3].id])
        #expect(try await store.messages(matching: MessageQuery()).map(\.status) == [.pending, .delivering, .delivering, .delivering])
        #expect(try await !store.retry(id: messages[0].id, now: now), "a message being delivered is not retried")
        // The fourth is due; the three leased ones do not count as due.
        #expect(try await store.nextDueDate() == messages[3].acceptedAt.roundedToMilliseconds)

        try await store.complete(claimed.map { DeliveryCompletion(messageID: $0.message.id, owner: "a", change: .delivered, attempt: nil) }, now: now)
        #expect(try await store.statusCounts() == [.pending: 1, .delivering: 0, .retrying: 0, .delivered: 3, .failed: 0])
        #expect(try await statusInFile(store, messages[0].id) == "delivered")
        // A second process (here: a second store on the same file) sees no leases: crash recovery needs no cleanup.
        let reopened = try SQLiteMessageStore(path: database.path)
        #expect(try await reopened.message(id: messages[3].id)?.status == .pending)
    }

    @Test("a message accepted behind the claim cursor, released, or retried is still claimed")
    func nothingStrandedBehindTheCursor() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        let now = Date()
        let first = (0..<3).map { makeMessage(at: now.addingTimeInterval(Double($0))) }
        try await store.insert(first.map { IngestRecord(message: $0, initialState: .pending) })
        let at = now.addingTimeInterval(10)
        let lease = at.addingTimeInterval(60)
        let claimed = try await store.claimDue(owner: "a", now: at, leaseUntil: lease, limit: 10)
        #expect(claimed.count == 3)

        // Accepted before the cursor's position but committed after the claim (an ingest commit racing a claim).
        let late = makeMessage(at: now.addingTimeInterval(0.5))
        try await store.insert([IngestRecord(message: late, initialState: .pending)])
        #expect(try await store.claimDue(owner: "b", now: at, leaseUntil: lease, limit: 10).map(\.message.id) == [late.id])

        // Released (due now) and deferred into the past: both behind the cursor, both found again.
        try await store.complete([
            DeliveryCompletion(messageID: first[0].id, owner: "a", change: .released, attempt: nil),
            DeliveryCompletion(messageID: first[1].id, owner: "a", change: .deferred(until: now), attempt: nil),
        ], now: at)
        let again = try await store.claimDue(owner: "c", now: at, leaseUntil: lease, limit: 10)
        #expect(Set(again.map(\.message.id)) == [first[0].id, first[1].id])

        // A failed message retried by hand.
        let attempt = DeliveryAttempt(number: 1, finishedAt: at, outcome: .failed, statusCode: 400, error: "HTTP 400", durationSeconds: 0)
        try await store.complete([DeliveryCompletion(messageID: first[2].id, owner: "a", change: .failed, attempt: attempt)], now: at)
        #expect(try await store.claimDue(owner: "d", now: at, leaseUntil: lease, limit: 10).isEmpty)
        #expect(try await store.retry(id: first[2].id, now: now))
        #expect(try await store.claimDue(owner: "d", now: at, leaseUntil: lease, limit: 10).map(\.message.id) == [first[2].id])
    }

    @Test("a change made by another process behind the cursor is found once the claim scan restarts")
    func otherProcessChange() async throws {
        let database = TemporaryDatabase()
        let server = try SQLiteMessageStore(path: database.path)
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let messages = (0..<2).map { makeMessage(at: t0.addingTimeInterval(Double($0))) }
        try await server.insert(messages.map { IngestRecord(message: $0, initialState: .pending) })
        let lease = t0.addingTimeInterval(600)
        #expect(try await server.claimDue(owner: "a", now: t0.addingTimeInterval(2), leaseUntil: lease, limit: 10).count == 2)
        let attempt = DeliveryAttempt(number: 1, finishedAt: t0, outcome: .failed, statusCode: 400, error: "HTTP 400", durationSeconds: 0)
        try await server.complete([DeliveryCompletion(messageID: messages[0].id, owner: "a", change: .failed, attempt: attempt)], now: t0)
        // `messagebridge messages retry` while the server runs: its own store on the file, due at a time the
        // server's claims have already passed.
        let command = try SQLiteMessageStore(path: database.path)
        #expect(try await command.retry(id: messages[0].id, now: t0))
        #expect(try await server.claimDue(owner: "a", now: t0.addingTimeInterval(3), leaseUntil: lease, limit: 10).isEmpty,
                "the server cannot see that change until its scan restarts")
        let later = t0.addingTimeInterval(13)
        #expect(try await server.claimDue(owner: "a", now: later, leaseUntil: lease, limit: 10).map(\.message.id) == [messages[0].id])
    }

    @Test("when writing outcomes fails, nothing changes and the messages can be claimed again")
    func failedOutcomeWrite() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        let now = Date()
        let messages = (0..<3).map { makeMessage(at: now.addingTimeInterval(Double($0) / 1000)) }
        try await store.insert(messages.map { IngestRecord(message: $0, initialState: .pending) })
        let claimed = try await store.claimDue(owner: "a", now: now.addingTimeInterval(1), leaseUntil: now.addingTimeInterval(60), limit: 10)
        #expect(claimed.count == 3)
        // A real SQLite failure inside the outcome transaction.
        try await store.writer.write { db in
            try db.execute(sql: "CREATE TEMP TRIGGER refuse BEFORE UPDATE OF status ON messages BEGIN SELECT RAISE(ABORT, 'refused'); END")
        }
        let attempt = DeliveryAttempt(number: 1, finishedAt: now, outcome: .delivered, statusCode: nil, error: nil, durationSeconds: 0.001)
        await #expect(throws: (any Error).self) {
            try await store.complete(claimed.map { DeliveryCompletion(messageID: $0.message.id, owner: "a", change: .delivered, attempt: attempt) }, now: now)
        }
        try await store.writer.write { db in try db.execute(sql: "DROP TRIGGER refuse") }
        #expect(try await store.statusCounts()[.delivered] == 0)
        let again = try await store.claimDue(owner: "b", now: now.addingTimeInterval(1), leaseUntil: now.addingTimeInterval(60), limit: 10)
        #expect(Set(again.map(\.message.id)) == Set(messages.map(\.id)), "claimable again at once, not after the lease")
    }

    @Test("an insert that fails leaves no lease behind")
    func failedLeasedInsert() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        let now = Date()
        try await store.writer.write { db in
            try db.execute(sql: "CREATE TEMP TRIGGER refuse AFTER INSERT ON messages WHEN NEW.route = '/bad' BEGIN SELECT RAISE(ABORT, 'refused'); END")
        }
        let good = makeMessage(at: now)
        let bad = makeMessage(route: "/bad", at: now)
        let lease = InitialState.leased(owner: "a", until: now.addingTimeInterval(60))
        await #expect(throws: (any Error).self) {
            try await store.insert([IngestRecord(message: good, initialState: lease), IngestRecord(message: bad, initialState: lease)])
        }
        #expect(try await store.statusCounts() == [.pending: 0, .delivering: 0, .retrying: 0, .delivered: 0, .failed: 0])
        try await store.insert([IngestRecord(message: good, initialState: .pending)])
        #expect(try await store.message(id: good.id)?.status == .pending, "no lease left from the failed batch")
    }

    @Test("new messages and delivery outcomes written by the commit thread share one transaction")
    func recordsAndOutcomesTogether() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let earlier = (0..<2).map { makeMessage(at: now.addingTimeInterval(Double($0) / 1000)) }
        _ = try store.writeBlocking(records: earlier.map {
            IngestRecord(message: $0, initialState: .leased(owner: "a", until: now.addingTimeInterval(60)))
        }, completions: [], completedAt: now)
        let fresh = makeMessage(at: now.addingTimeInterval(1))
        let attempt = DeliveryAttempt(number: 1, finishedAt: now, outcome: .delivered, statusCode: 204, error: nil, durationSeconds: 0.002)
        let failure = DeliveryAttempt(number: 1, finishedAt: now, outcome: .retryable, statusCode: 503, error: "HTTP 503", durationSeconds: 0.003)
        let outcomes = try store.writeBlocking(
            records: [IngestRecord(message: fresh, initialState: .leased(owner: "a", until: now.addingTimeInterval(60)))],
            completions: [
                DeliveryCompletion(messageID: earlier[0].id, owner: "a", change: .delivered, attempt: attempt),
                DeliveryCompletion(messageID: earlier[1].id, owner: "a", change: .retry(at: now.addingTimeInterval(5)), attempt: failure),
            ],
            completedAt: now.addingTimeInterval(2)
        )
        #expect(outcomes == [.stored])
        let delivered = try #require(try await store.message(id: earlier[0].id))
        #expect(delivered.status == .delivered && delivered.lastStatusCode == 204)
        #expect(delivered.deliveredAt == now && delivered.updatedAt == now.addingTimeInterval(2), "the attempt's finish; the commit's time")
        let retrying = try #require(try await store.message(id: earlier[1].id))
        #expect(retrying.status == .retrying && retrying.lastError == "HTTP 503" && retrying.nextAttemptAt == now.addingTimeInterval(5))
        #expect(try await store.attempts(messageID: earlier[1].id).map(\.statusCode) == [503])
        #expect(try await store.message(id: fresh.id)?.status == .delivering, "stored, and leased in memory")
        #expect(try await store.statusCounts() == [.pending: 0, .delivering: 1, .retrying: 1, .delivered: 1, .failed: 0])
        #expect(try await store.claimDue(owner: "b", now: now.addingTimeInterval(10), leaseUntil: now.addingTimeInterval(70), limit: 10)
            .map(\.message.id) == [earlier[1].id], "the retry is due; the new message is leased to a")
    }

    @Test("when the shared transaction fails, neither its new messages nor its outcomes are written, and both can be tried again")
    func failedRecordsAndOutcomes() async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        let now = Date()
        let earlier = (0..<3).map { makeMessage(at: now.addingTimeInterval(Double($0) / 1000)) }
        try await store.insert(earlier.map { IngestRecord(message: $0, initialState: .pending) })
        let claimed = try await store.claimDue(owner: "a", now: now.addingTimeInterval(1), leaseUntil: now.addingTimeInterval(60), limit: 10)
        #expect(claimed.count == 3)
        try await store.writer.write { db in
            try db.execute(sql: "CREATE TEMP TRIGGER refuse AFTER INSERT ON messages WHEN NEW.route = '/bad' BEGIN SELECT RAISE(ABORT, 'refused'); END")
        }
        let bad = makeMessage(route: "/bad", at: now.addingTimeInterval(1))
        let attempt = DeliveryAttempt(number: 1, finishedAt: now, outcome: .delivered, statusCode: 200, error: nil, durationSeconds: 0.001)
        #expect(throws: (any Error).self) {
            try store.writeBlocking(
                records: [IngestRecord(message: bad, initialState: .leased(owner: "a", until: now.addingTimeInterval(60)))],
                completions: claimed.map { DeliveryCompletion(messageID: $0.message.id, owner: "a", change: .delivered, attempt: attempt) },
                completedAt: now.addingTimeInterval(1)
            )
        }
        #expect(try await store.statusCounts() == [.pending: 3, .delivering: 0, .retrying: 0, .delivered: 0, .failed: 0])
        #expect(try await store.message(id: bad.id) == nil)
        let again = try await store.claimDue(owner: "b", now: now.addingTimeInterval(1), leaseUntil: now.addingTimeInterval(60), limit: 10)
        #expect(Set(again.map(\.message.id)) == Set(earlier.map(\.id)), "claimable again at once, not after the lease")
        try await store.writer.write { db in try db.execute(sql: "DROP TRIGGER refuse") }
        #expect(try store.writeBlocking(records: [IngestRecord(message: bad, initialState: .pending)], completions: [], completedAt: now) == [.stored])
    }

    /// Random inserts (some accepted in the past, some leased at once), claims, outcomes and lease expiries against
    /// a model of which messages are due and unleased: a claim must return only such messages, and a claim that
    /// returns fewer than it may must have returned all of them.
    @Test("random operations never strand a due message or hand out a leased one", arguments: [1, 2, 3, 4, 5, 6])
    func randomOperations(seed: UInt64) async throws {
        let database = TemporaryDatabase()
        let store = try SQLiteMessageStore(path: database.path)
        var random = SplitMix64(seed: seed)
        struct Model { var dueAt: Int64?; var owner: String?; var leaseUntil: Int64 = 0 }
        var model: [MessageID: Model] = [:]
        var clock: Int64 = 1_800_000_000_000
        func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }
        func claimable(at now: Int64) -> Set<MessageID> {
            Set(model.filter { _, m in m.dueAt.map { $0 <= now } == true && m.owner == nil }.keys)
        }
        /// What a claim does first: leases that ran out end (a completion for them is then ignored).
        func expireLeases(at now: Int64) {
            for (id, entry) in model where entry.owner != nil && entry.leaseUntil <= now { model[id]?.owner = nil }
        }
        for _ in 0..<300 {
            clock += Int64(random.next() % 40)
            switch random.next() % 10 {
            case 0...2:
                let count = Int(random.next() % 4) + 1
                let records = (0..<count).map { _ -> IngestRecord in
                    let accepted = clock - Int64(random.next() % 60)  // sometimes behind the cursor
                    let message = makeMessage(at: date(accepted))
                    if random.next() % 3 == 0 {
                        let until = clock + Int64(random.next() % 200)
                        model[message.id] = Model(dueAt: accepted, owner: "ingest", leaseUntil: until)
                        return IngestRecord(message: message, initialState: .leased(owner: "ingest", until: date(until)))
                    }
                    model[message.id] = Model(dueAt: accepted)
                    return IngestRecord(message: message, initialState: .pending)
                }
                try await store.insert(records)
            case 3...5:
                let limit = Int(random.next() % 5) + 1
                let owner = "w\(random.next() % 3)"
                let until = clock + Int64(random.next() % 200) + 1
                expireLeases(at: clock)
                let expected = claimable(at: clock)
                let claimed = try await store.claimDue(owner: owner, now: date(clock), leaseUntil: date(until), limit: limit)
                let ids = Set(claimed.map(\.message.id))
                #expect(ids.count == claimed.count)
                #expect(ids.isSubset(of: expected), "only due, unleased messages are claimed")
                if claimed.count < limit {
                    #expect(ids == expected, "a short claim leaves nothing due behind")
                }
                for id in ids {
                    model[id]?.owner = owner
                    model[id]?.leaseUntil = until
                }
            default:
                let held = model.filter { $0.value.owner != nil }.map(\.key).sorted { $0.rawValue < $1.rawValue }
                guard !held.isEmpty else { continue }
                var completions: [DeliveryCompletion] = []
                for id in held.prefix(Int(random.next() % 4) + 1) {
                    let owner = model[id]!.owner!
                    let attempt = DeliveryAttempt(number: 1, finishedAt: date(clock), outcome: .failed, statusCode: nil, error: nil, durationSeconds: 0)
                    let change: DeliveryCompletion.Change
                    switch random.next() % 5 {
                    case 0: change = .delivered
                    case 4: change = .failed
                    case 1: change = .retry(at: date(clock + Int64(random.next() % 50)))
                    case 2: change = .deferred(until: date(clock - Int64(random.next() % 50)))
                    default: change = .released
                    }
                    completions.append(DeliveryCompletion(messageID: id, owner: owner, change: change, attempt: attempt))
                }
                try await store.complete(completions, now: date(clock))
                for completion in completions {
                    // Every one of these holds its lease (the model ends leases exactly when the store does).
                    guard var entry = model[completion.messageID] else { continue }
                    switch completion.change {
                    case .delivered, .failed: entry.dueAt = nil
                    case .retry(let at), .deferred(let at): entry.dueAt = Int64((at.timeIntervalSince1970 * 1000).rounded())
                    case .released: entry.dueAt = clock
                    }
                    entry.owner = nil
                    model[completion.messageID] = entry
                }
            }
        }
        // Finally everything due is claimable, once every lease has run out.
        clock += 1_000
        expireLeases(at: clock)
        let rest = try await store.claimDue(owner: "end", now: date(clock), leaseUntil: date(clock + 1), limit: 100_000)
        #expect(Set(rest.map(\.message.id)) == claimable(at: clock))
    }
}

/// A small deterministic random source, so a failing seed can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Date {
    /// The store keeps milliseconds.
    var roundedToMilliseconds: Date {
        Date(timeIntervalSince1970: (timeIntervalSince1970 * 1000).rounded() / 1000)
    }
}
