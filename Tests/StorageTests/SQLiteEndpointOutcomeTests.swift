import Core
import Foundation
import GRDB
@testable import Storage
import Testing

/// Outcomes of event deliveries, written in batches: successes with one statement per status code, everything else
/// row by row. Each written attempt gets its number, a delivery no longer pending is left as it is, and each
/// endpoint's failure streak follows its attempts in the batch's order.
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

    static func rows(_ writer: DatabasePool) async throws -> [Int64: Row] {
        try await writer.read { db in
            var rows: [Int64: Row] = [:]
            for row in try GRDB.Row.fetchAll(db, sql: "SELECT id, status, attempt_count, last_status_code FROM webhook_deliveries") {
                let numbers = try Int.fetchAll(
                    db, sql: "SELECT number FROM webhook_attempts WHERE delivery_id = ? ORDER BY id", arguments: [row[0] as Int64]
                )
                rows[row[0]] = Row(status: row[1], attempts: row[2], lastStatusCode: row[3], attemptNumbers: numbers)
            }
            return rows
        }
    }

    static func streak(_ writer: DatabasePool, _ endpointID: String) async throws -> Int {
        try await writer.read { db in
            try Int.fetchOne(db, sql: "SELECT consecutive_failures FROM webhook_endpoints WHERE id = ?", arguments: [endpointID]) ?? -1
        }
    }

    @Test("a mixed batch: successes by status code, a retry, a failure and a delivery no longer pending")
    func mixedBatch() async throws {
        let database = TemporaryDatabase()
        let messages = try SQLiteMessageStore(path: database.path)
        let store = SQLiteEndpointStore(database: messages.database)
        let writer = messages.database.writer
        for id in ["ep_a", "ep_b"] {
            _ = try await store.createEndpoint(EventEndpoint(
                id: id, url: "http://127.0.0.1:9/\(id)", secret: Self.secret, createdAt: Self.base, updatedAt: Self.base
            ))
        }
        try await writer.write { db in
            for index in 0..<3 {
                try db.execute(
                    sql: "INSERT INTO chat_events (type, room_id, user_id, payload, created_at) VALUES ('message.created', NULL, NULL, ?, ?)",
                    arguments: [Data("{\"n\":\(index)}".utf8), StoredTime.milliseconds(Self.base)]
                )
            }
        }
        #expect(try await store.fanOut(limit: 100, now: Self.base) == 3)
        let due = try await store.dueDeliveries(limits: ["ep_a": 10, "ep_b": 10], now: Self.base, excluding: [])
        let a = due.filter { $0.delivery.endpointID == "ep_a" }.map(\.delivery.id)
        let b = due.filter { $0.delivery.endpointID == "ep_b" }.map(\.delivery.id)
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

        var rows = try await Self.rows(writer)
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
        rows = try await Self.rows(writer)
        #expect(rows[a[2]] == Row(status: "delivered", attempts: 2, lastStatusCode: 200, attemptNumbers: [1, 2]))
        #expect(try await Self.streak(writer, "ep_a") == 0)
    }
}
