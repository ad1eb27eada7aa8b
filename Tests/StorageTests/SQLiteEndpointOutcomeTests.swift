import Core
import Foundation
import GRDB
@testable import Storage
import Testing

/// Outcomes of event deliveries, written in batches. Each written attempt gets its number, a delivery no longer
/// pending is left as it is, and each endpoint's failure streak follows its attempts in the batch's order. The
/// attempt that delivers is kept on the delivery row, and listed as if it were an attempts row, also after the
/// delivery is queued again.
@Suite("SQLite event delivery outcomes")
struct SQLiteEndpointOutcomeTests {
    static let base = Date(timeIntervalSince1970: 1_800_000_000)
    static let secret = "whsec_" + Data(repeating: 3, count: 32).base64EncodedString()
    static let policy = EndpointDisablePolicy(after: .seconds(86_400), afterFailures: 0)

    static func attempt(_ statusCode: Int?, error: String? = nil) -> EventDeliveryAttempt {
        EventDeliveryAttempt(
            number: 0, startedAt: base, statusCode: statusCode, durationMilliseconds: 2.5, error: error,
            responseExcerpt: statusCode.map { "{\"status\":\($0)}" }
        )
    }

    struct Row: Equatable {
        var status: String
        var attempts: Int
        var lastStatusCode: Int?
        var attemptNumbers: [Int]
    }

    /// Every delivery row, with the numbers of its attempts as the admin API lists them.
    static func rows(_ writer: DatabasePool, _ store: SQLiteEndpointStore) async throws -> [Int64: Row] {
        let states = try await writer.read { db in
            try GRDB.Row.fetchAll(db, sql: "SELECT id, status, attempt_count, last_status_code FROM webhook_deliveries")
                .map { row in (id: row[0] as Int64, status: row[1] as String, attempts: row[2] as Int, lastStatusCode: row[3] as Int?) }
        }
        var rows: [Int64: Row] = [:]
        for state in states {
            let numbers = try await store.attempts(deliveryID: state.id).map(\.number)
            rows[state.id] = Row(status: state.status, attempts: state.attempts, lastStatusCode: state.lastStatusCode, attemptNumbers: numbers)
        }
        return rows
    }

    /// How many `webhook_attempts` rows the delivery has.
    static func attemptRows(_ writer: DatabasePool, _ deliveryID: Int64) async throws -> Int {
        try await writer.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM webhook_attempts WHERE delivery_id = ?", arguments: [deliveryID]) ?? -1
        }
    }

    /// The ids of `endpointID`'s deliveries in `due`, in order.
    static func ids(_ due: [DueEventDelivery], of endpointID: String) -> [Int64] {
        due.filter { $0.delivery.endpointID == endpointID }.map(\.delivery.id)
    }

    /// A store with the endpoints `ids` and `events` `message.created` events fanned out to them.
    static func makeStore(_ database: TemporaryDatabase, endpoints ids: [String], events: Int) async throws -> (SQLiteEndpointStore, DatabasePool) {
        let messages = try SQLiteMessageStore(path: database.path)
        let store = SQLiteEndpointStore(database: messages.database)
        let writer = messages.database.writer
        for id in ids {
            _ = try await store.createEndpoint(EventEndpoint(
                id: id, url: "http://127.0.0.1:9/\(id)", secret: Self.secret, createdAt: Self.base, updatedAt: Self.base
            ))
        }
        try await writer.write { db in
            for index in 0..<events {
                try db.execute(
                    sql: "INSERT INTO chat_events (type, room_id, user_id, payload, created_at) VALUES ('message.created', NULL, NULL, ?, ?)",
                    arguments: [Data("{\"n\":\(index)}".utf8), StoredTime.milliseconds(Self.base)]
                )
            }
        }
        #expect(try await store.fanOut(limit: 100, now: Self.base) == events)
        return (store, writer)
    }

    static func streak(_ writer: DatabasePool, _ endpointID: String) async throws -> Int {
        try await writer.read { db in
            try Int.fetchOne(db, sql: "SELECT consecutive_failures FROM webhook_endpoints WHERE id = ?", arguments: [endpointID]) ?? -1
        }
    }

    @Test("a mixed batch: successes by status code, a retry, a failure and a delivery no longer pending")
    func mixedBatch() async throws {
        let database = TemporaryDatabase()
        let (store, writer) = try await Self.makeStore(database, endpoints: ["ep_a", "ep_b"], events: 3)
        let due = try await store.dueDeliveries(limits: ["ep_a": 10, "ep_b": 10], now: Self.base, excluding: [:])
        let (a, b) = (Self.ids(due, of: "ep_a"), Self.ids(due, of: "ep_b"))
        #expect(a.count == 3 && b.count == 3)
        // b[2] stops being pending before its outcome arrives (as when its endpoint is disabled meanwhile).
        try await writer.write { db in
            try db.execute(sql: "UPDATE webhook_deliveries SET status = 'held' WHERE id = ?", arguments: [b[2]])
        }
        func outcome(_ id: Int64, _ endpoint: String, _ change: EventDeliveryOutcome.Change, _ attempt: EventDeliveryAttempt?) -> EventDeliveryOutcome {
            EventDeliveryOutcome(deliveryID: id, endpointID: endpoint, change: change, attempt: attempt)
        }
        let later = Self.base.addingTimeInterval(60)
        _ = try await store.record([
            outcome(a[0], "ep_a", .delivered, Self.attempt(200)),
            outcome(b[0], "ep_b", .failed, Self.attempt(400, error: "HTTP 400")),
            outcome(a[1], "ep_a", .delivered, Self.attempt(204)),
            outcome(b[1], "ep_b", .delivered, Self.attempt(200)),
            outcome(a[2], "ep_a", .retry(at: later), Self.attempt(503, error: "HTTP 503")),
            outcome(b[2], "ep_b", .delivered, Self.attempt(200)),
        ], policy: Self.policy, now: Self.base)

        var rows = try await Self.rows(writer, store)
        #expect(rows[a[0]] == Row(status: "delivered", attempts: 1, lastStatusCode: 200, attemptNumbers: [1]))
        #expect(rows[a[1]] == Row(status: "delivered", attempts: 1, lastStatusCode: 204, attemptNumbers: [1]))
        #expect(rows[a[2]] == Row(status: "pending", attempts: 1, lastStatusCode: 503, attemptNumbers: [1]))
        #expect(rows[b[0]] == Row(status: "failed", attempts: 1, lastStatusCode: 400, attemptNumbers: [1]))
        #expect(rows[b[1]] == Row(status: "delivered", attempts: 1, lastStatusCode: 200, attemptNumbers: [1]))
        #expect(rows[b[2]] == Row(status: "held", attempts: 0, lastStatusCode: nil, attemptNumbers: []))
        // ep_a: success, success, failure; ep_b: failure, then a success (the held row's outcome is not counted).
        #expect(try await Self.streak(writer, "ep_a") == 1)
        #expect(try await Self.streak(writer, "ep_b") == 0)

        // The retry succeeds: its second attempt, and ep_a's streak cleared.
        _ = try await store.record([outcome(a[2], "ep_a", .delivered, Self.attempt(200))], policy: Self.policy, now: later)
        rows = try await Self.rows(writer, store)
        #expect(rows[a[2]] == Row(status: "delivered", attempts: 2, lastStatusCode: 200, attemptNumbers: [1, 2]))
        #expect(try await Self.streak(writer, "ep_a") == 0)
    }

    @Test("each endpoint's excluded ids are left out of its own due deliveries only")
    func exclusionPerEndpoint() async throws {
        let database = TemporaryDatabase()
        let (store, _) = try await Self.makeStore(database, endpoints: ["ep_a", "ep_b"], events: 3)
        let all = try await store.dueDeliveries(limits: ["ep_a": 10, "ep_b": 10], now: Self.base, excluding: [:])
        let (a, b) = (Self.ids(all, of: "ep_a"), Self.ids(all, of: "ep_b"))
        // ep_a's set names one of ep_b's rows too: it does not hide that row from ep_b's query.
        let due = try await store.dueDeliveries(
            limits: ["ep_a": 10, "ep_b": 10], now: Self.base, excluding: ["ep_a": [a[0], b[1]], "ep_b": [b[2]]]
        )
        #expect(Self.ids(due, of: "ep_a") == [a[1], a[2]])
        #expect(Self.ids(due, of: "ep_b") == [b[0], b[1]])
        // The limit counts rows returned, not rows skipped.
        let one = try await store.dueDeliveries(limits: ["ep_a": 1], now: Self.base, excluding: ["ep_a": [a[0]]])
        #expect(one.map(\.delivery.id) == [a[1]])
    }

    @Test("the delivering attempt is kept on the row, listed with the others, and moved to the attempts rows when the delivery is queued again by a retry or a replay")
    func deliveredAttemptOnRow() async throws {
        let database = TemporaryDatabase()
        let (store, writer) = try await Self.makeStore(database, endpoints: ["ep_a"], events: 1)
        let id = try #require(try await store.dueDeliveries(limits: ["ep_a": 10], now: Self.base, excluding: [:]).first?.delivery.id)
        func attempt(_ number: Int, _ statusCode: Int, at seconds: TimeInterval, error: String? = nil) -> EventDeliveryAttempt {
            EventDeliveryAttempt(
                number: number, startedAt: Self.base.addingTimeInterval(seconds), statusCode: statusCode,
                durationMilliseconds: 2.5 + seconds, error: error, responseExcerpt: "{\"status\":\(statusCode)}"
            )
        }
        func record(_ change: EventDeliveryOutcome.Change, _ attempt: EventDeliveryAttempt, at seconds: TimeInterval) async throws {
            _ = try await store.record(
                [EventDeliveryOutcome(deliveryID: id, endpointID: "ep_a", change: change, attempt: attempt)],
                policy: Self.policy, now: Self.base.addingTimeInterval(seconds)
            )
        }
        let first = attempt(1, 503, at: 0, error: "HTTP 503")
        let second = attempt(2, 200, at: 10)
        try await record(.retry(at: Self.base.addingTimeInterval(10)), first, at: 0)
        try await record(.delivered, second, at: 10)
        #expect(try await store.attempts(deliveryID: id) == [first, second])
        #expect(try await Self.attemptRows(writer, id) == 1, "the success is on the delivery row")

        // Retried: the success moves into the attempts rows, and the next success goes on the row again.
        #expect(try await store.retryDelivery(id: id, endpointID: "ep_a", now: Self.base.addingTimeInterval(20))?.status == .pending)
        #expect(try await store.attempts(deliveryID: id) == [first, second])
        #expect(try await Self.attemptRows(writer, id) == 2)
        let third = attempt(3, 201, at: 30)
        try await record(.delivered, third, at: 30)
        #expect(try await store.attempts(deliveryID: id) == [first, second, third])
        #expect(try await Self.attemptRows(writer, id) == 2)

        // A delivered row that became held (no path of the server does this; someone with sqlite3 might) is
        // replayed without losing its success either.
        try await writer.write { db in
            try db.execute(sql: "UPDATE webhook_deliveries SET status = 'held' WHERE id = ?", arguments: [id])
        }
        #expect(try await store.replay(endpointID: "ep_a", since: Self.base, now: Self.base.addingTimeInterval(40)) == 1)
        #expect(try await store.attempts(deliveryID: id) == [first, second, third])
        #expect(try await Self.attemptRows(writer, id) == 3)
        let fourth = attempt(4, 200, at: 50)
        try await record(.delivered, fourth, at: 50)
        #expect(try await store.attempts(deliveryID: id) == [first, second, third, fourth])
        #expect(try await store.deliveries(endpointID: "ep_a", status: nil, before: nil, limit: 10).first?.attemptCount == 4)
    }
}
