import Core
import Foundation
import GRDB
import Logging

/// The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is on disk before the
/// caller hears about it.
public final class SQLiteMessageStore: MessageStore {
    /// The one connection pool for this file, for the life of the process.
    public let writer: DatabasePool
    /// The file's path.
    public let path: String

    /// Opens (creating when needed) the database at `path`, migrates it, and turns on full durability.
    public init(path: String) throws {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.label = "messagebridge"
        writer = try DatabasePool(path: path, configuration: configuration)
        // Opening a pool switches to WAL and sets synchronous=NORMAL, so FULL must be set afterwards.
        try writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        try SQLiteSchema.migrator.migrate(writer)
    }

    /// The writer connection's `synchronous` setting (2 = FULL), for tests and `/health`.
    public func synchronousMode() async throws -> Int {
        try await writer.writeWithoutTransaction { db in
            try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1
        }
    }

    /// The journal mode (`wal`).
    public func journalMode() async throws -> String {
        try await writer.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    // MARK: Writing

    public func claimDue(owner: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [StoredMessage] {
        let nowMS = Self.milliseconds(now)
        let rows = try await writer.write { db in
            try RawMessageRow.fetchAll(
                db,
                sql: """
                    UPDATE messages SET status = 'delivering', lease_owner = ?, lease_until = ?, updated_at = ?
                    WHERE seq IN (
                        SELECT seq FROM messages WHERE status IN ('pending', 'retrying') AND next_attempt_at <= ?
                        UNION ALL
                        SELECT seq FROM messages WHERE status = 'delivering' AND lease_until <= ?
                        LIMIT ?
                    )
                    RETURNING \(Self.columns)
                    """,
                arguments: [owner, Self.milliseconds(leaseUntil), nowMS, nowMS, nowMS, limit]
            )
        }
        // Decoded here rather than inside `write`, so the writer thread (which ingest also waits for) is free sooner.
        return rows.compactMap(\.storedMessage)
    }

    /// Delivered completions are written with one statement per call (the attempt that delivered goes on the
    /// message row, see `attempts(messageID:)`); the others, one statement each plus their attempts row.
    public func complete(_ completions: [DeliveryCompletion], now: Date) async throws {
        let nowMS = Self.milliseconds(now)
        var deliveredByOwner: [String: String] = [:]  // owner -> JSON array of [id, finished_at, status_code, duration_ms]
        var others: [DeliveryCompletion] = []
        for completion in completions {
            guard case .delivered = completion.change, let attempt = completion.attempt else {
                others.append(completion)
                continue
            }
            Self.appendDeliveredJSON(completion.messageID, attempt, to: &deliveredByOwner[completion.owner, default: ""])
        }
        let deliveredLists = deliveredByOwner
        let undelivered = others
        try await writer.write { db in
            for (owner, list) in deliveredLists {
                // Looked up through the JSON array (not the other way round, which would scan messages); the lease
                // condition skips messages whose lease this owner no longer holds. json_extract rather than `->>`,
                // which needs SQLite 3.38 (Ubuntu 22.04 has 3.37); UPDATE ... FROM needs 3.33.
                try db.execute(
                    sql: """
                        UPDATE messages SET status = 'delivered', attempt_count = attempt_count + 1,
                            next_attempt_at = NULL, delivered_at = d.finished_at, last_error = NULL,
                            last_status_code = d.status_code, delivered_duration_ms = d.duration_ms,
                            lease_owner = NULL, lease_until = NULL, updated_at = ?
                        FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS finished_at,
                                     json_extract(value, '$[2]') AS status_code, json_extract(value, '$[3]') AS duration_ms
                              FROM json_each(?)) AS d
                        WHERE messages.id = d.id AND +messages.status = 'delivering' AND messages.lease_owner = ?
                        """,
                    arguments: [nowMS, "[" + list + "]", owner]
                )
            }
            guard !undelivered.isEmpty else { return }
            let update = try db.cachedStatement(sql: """
                UPDATE messages SET
                    status = CASE ?1 WHEN 'requeue' THEN (CASE WHEN attempt_count > 0 THEN 'retrying' ELSE 'pending' END)
                                     ELSE ?1 END,
                    attempt_count = attempt_count + ?2,
                    next_attempt_at = ?3,
                    delivered_at = ?4,
                    last_error = CASE WHEN ?2 = 1 THEN ?5 ELSE last_error END,
                    last_status_code = CASE WHEN ?2 = 1 THEN ?6 ELSE last_status_code END,
                    lease_owner = NULL, lease_until = NULL, updated_at = ?7
                WHERE id = ?8 AND status = 'delivering' AND lease_owner = ?9
                RETURNING seq
                """)
            let insertAttempt = try db.cachedStatement(sql: """
                INSERT INTO attempts (message_seq, number, finished_at, outcome, status_code, error, duration_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            for completion in undelivered {
                let status: String, nextAttempt: Int64?, deliveredAt: Int64?
                switch completion.change {
                case .delivered: (status, nextAttempt, deliveredAt) = ("delivered", nil, nowMS)
                case .retry(let date): (status, nextAttempt, deliveredAt) = ("retrying", Self.milliseconds(date), nil)
                case .failed: (status, nextAttempt, deliveredAt) = ("failed", nil, nil)
                case .deferred(let date): (status, nextAttempt, deliveredAt) = ("requeue", Self.milliseconds(date), nil)
                case .released: (status, nextAttempt, deliveredAt) = ("requeue", nowMS, nil)
                }
                let attempt = completion.attempt
                let seq = try Int64.fetchOne(update, arguments: [
                    status, attempt == nil ? 0 : 1, nextAttempt, deliveredAt, attempt?.error, attempt?.statusCode,
                    nowMS, completion.messageID.rawValue, completion.owner,
                ])
                if let seq, let attempt {
                    try insertAttempt.execute(arguments: [
                        seq, attempt.number, Self.milliseconds(attempt.finishedAt), attempt.outcome,
                        attempt.statusCode, attempt.error, attempt.durationSeconds * 1000,
                    ])
                }
            }
        }
    }

    /// Appends `[id, finished_at_ms, status_code, duration_ms]` to a JSON array's body.
    static func appendDeliveredJSON(_ id: MessageID, _ attempt: DeliveryAttempt, to list: inout String) {
        if !list.isEmpty { list += "," }
        list += "["
        appendJSONString(id.rawValue, to: &list)
        list += ","
        list += String(milliseconds(attempt.finishedAt))
        list += ","
        list += attempt.statusCode.map { String($0) } ?? "null"
        list += ","
        let duration = attempt.durationSeconds * 1000
        list += duration.isFinite ? String(duration) : "0"
        list += "]"
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    static func appendJSONString(_ value: String, to json: inout String) {
        json += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": json += "\\\""
            case "\\": json += "\\\\"
            case "\u{00}"..."\u{1F}": json += String(format: "\\u%04x", scalar.value)
            default: json.unicodeScalars.append(scalar)
            }
        }
        json += "\""
    }

    public func releaseAllLeases(now: Date) async throws -> Int {
        let nowMS = Self.milliseconds(now)
        return try await writer.write { db in
            try db.execute(
                sql: """
                    UPDATE messages SET status = CASE WHEN attempt_count > 0 THEN 'retrying' ELSE 'pending' END,
                        next_attempt_at = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?
                    WHERE status = 'delivering'
                    """,
                arguments: [nowMS, nowMS]
            )
            return db.changesCount
        }
    }

    public func retry(id: MessageID, now: Date) async throws -> Bool {
        let nowMS = Self.milliseconds(now)
        return try await writer.write { db in
            try db.execute(
                sql: """
                    UPDATE messages SET status = 'pending', next_attempt_at = ?, attempt_base = attempt_count,
                        updated_at = ?
                    WHERE id = ? AND status IN ('failed', 'retrying')
                    """,
                arguments: [nowMS, nowMS, id.rawValue]
            )
            return db.changesCount > 0
        }
    }

    public func retryAllFailed(now: Date) async throws -> Int {
        let nowMS = Self.milliseconds(now)
        return try await writer.write { db in
            try db.execute(
                sql: """
                    UPDATE messages SET status = 'pending', next_attempt_at = ?, attempt_base = attempt_count,
                        updated_at = ?
                    WHERE status = 'failed'
                    """,
                arguments: [nowMS, nowMS]
            )
            return db.changesCount
        }
    }

    public func purgeDelivered(before date: Date) async throws -> Int {
        let cutoff = Self.milliseconds(date)
        var total = 0
        // Small transactions, so a large purge never holds the writer long enough to stall ingest.
        while true {
            let deleted = try await writer.write { db in
                try db.execute(
                    sql: """
                        DELETE FROM messages WHERE seq IN (
                            SELECT seq FROM messages WHERE status = 'delivered' AND delivered_at < ? ORDER BY seq LIMIT 500
                        )
                        """,
                    arguments: [cutoff]
                )
                return db.changesCount
            }
            total += deleted
            if deleted < 500 { return total }
        }
    }

    public func checkHealth() async throws {
        let nowMS = Self.milliseconds(Date())
        try await writer.write { db in
            try db.execute(sql: "UPDATE heartbeat SET beat_at = ? WHERE id = 1", arguments: [nowMS])
        }
    }

    // MARK: Reading

    public func message(id: MessageID) async throws -> StoredMessage? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM messages WHERE id = ?", arguments: [id.rawValue])
                .flatMap(Self.storedMessage)
        }
    }

    /// The attempts table's rows, and, for a message delivered since `v4-delivered-attempt-on-message`, the
    /// delivering attempt, which lives on the message row.
    public func attempts(messageID: MessageID) async throws -> [DeliveryAttempt] {
        try await writer.read { db in
            var attempts = try Row.fetchAll(
                db,
                sql: """
                    SELECT a.number, a.finished_at, a.outcome, a.status_code, a.error, a.duration_ms
                    FROM attempts a JOIN messages m ON m.seq = a.message_seq
                    WHERE m.id = ? ORDER BY a.id
                    """,
                arguments: [messageID.rawValue]
            ).map { row in
                DeliveryAttempt(
                    number: row[0], finishedAt: Self.date(row[1]), outcome: row[2], statusCode: row[3],
                    error: row[4], durationSeconds: (row[5] as Double) / 1000
                )
            }
            let delivered = try Row.fetchOne(
                db,
                sql: """
                    SELECT attempt_count, delivered_at, last_status_code, delivered_duration_ms FROM messages
                    WHERE id = ? AND status = 'delivered' AND delivered_duration_ms IS NOT NULL
                    """,
                arguments: [messageID.rawValue]
            )
            if let delivered {
                attempts.append(DeliveryAttempt(
                    number: delivered[0], finishedAt: Self.date(delivered[1]), outcome: "delivered",
                    statusCode: delivered[2], error: nil, durationSeconds: (delivered[3] as Double) / 1000
                ))
            }
            return attempts
        }
    }

    public func messages(matching query: MessageQuery) async throws -> [StoredMessage] {
        try await writer.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let status = query.status {
                conditions.append("status = ?")
                _ = arguments.append(contentsOf: [status.rawValue])
            }
            if let before = query.before {
                conditions.append("seq < (SELECT seq FROM messages WHERE id = ?)")
                _ = arguments.append(contentsOf: [before.rawValue])
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            _ = arguments.append(contentsOf: [query.limit])
            return try Row.fetchAll(
                db,
                sql: "SELECT \(Self.columns) FROM messages \(filter) ORDER BY seq DESC LIMIT ?",
                arguments: arguments
            ).compactMap(Self.storedMessage)
        }
    }

    public func statusCounts() async throws -> [MessageStatus: Int] {
        try await writer.read { db in
            var counts: [MessageStatus: Int] = [:]
            for status in MessageStatus.allCases { counts[status] = 0 }
            for row in try Row.fetchAll(db, sql: "SELECT status, count(*) FROM messages GROUP BY status") {
                if let status = MessageStatus(rawValue: row[0]) { counts[status] = row[1] }
            }
            return counts
        }
    }

    public func oldestUndeliveredAcceptedAt() async throws -> Date? {
        try await writer.read { db in
            let oldest = try Int64.fetchOne(
                db,
                sql: """
                    SELECT accepted_at FROM messages WHERE seq = (
                        SELECT min(seq) FROM messages WHERE status IN ('pending', 'delivering', 'retrying'))
                    """
            )
            return oldest.map(Self.date)
        }
    }

    public func nextDueDate() async throws -> Date? {
        try await writer.read { db in
            try Int64.fetchOne(
                db,
                sql: "SELECT min(next_attempt_at) FROM messages WHERE status IN ('pending', 'retrying')"
            ).map(Self.date)
        }
    }

    // MARK: Backup

    /// Writes a consistent copy of the database to `destinationPath` while the server keeps running.
    /// Synchronous: it is for the command line, which has no event loop to keep free.
    public func backup(to destinationPath: String) throws {
        let destination = try DatabaseQueue(path: destinationPath)
        try writer.backup(to: destination)
    }

    // MARK: Row mapping

    static let columns = """
        id, route, destination_kind, destination, headers, body, status, attempt_count, attempt_base,
        next_attempt_at, last_error, last_status_code, accepted_at, updated_at, delivered_at
        """

    /// Reads a row selected with `columns`, by position: looking columns up by name lowercases each name on every
    /// access, which shows in profiles when thousands of rows are claimed a second.
    static func storedMessage(_ row: Row) -> StoredMessage? {
        RawMessageRow(row).storedMessage
    }

    /// A row selected with `columns`, copied out as plain values: GRDB's `Row` may not leave the writer's closure,
    /// and turning these into a `StoredMessage` (header decoding, allocations) need not hold the writer.
    struct RawMessageRow: Sendable {
        var id: String, route: String, destinationKind: String, destination: String
        var headers: Data, body: Data, status: String
        var attemptCount: Int, attemptBase: Int, nextAttemptAt: Int64?, lastError: String?, lastStatusCode: Int?
        var acceptedAt: Int64, updatedAt: Int64, deliveredAt: Int64?

        init(_ row: Row) {
            (id, route, destinationKind, destination, headers, body, status) = (row[0], row[1], row[2], row[3], row[4], row[5], row[6])
            (attemptCount, attemptBase, nextAttemptAt, lastError, lastStatusCode) = (row[7], row[8], row[9], row[10], row[11])
            (acceptedAt, updatedAt, deliveredAt) = (row[12], row[13], row[14])
        }

        static func fetchAll(_ db: Database, sql: String, arguments: StatementArguments) throws -> [RawMessageRow] {
            try Row.fetchCursor(db, sql: sql, arguments: arguments).map(RawMessageRow.init).reduce(into: []) { $0.append($1) }
        }

        var storedMessage: StoredMessage? {
            guard let destination = Destination(kind: destinationKind, target: self.destination),
                  let status = MessageStatus(rawValue: status)
            else { return nil }
            return StoredMessage(
                message: NewMessage(
                    id: MessageID(rawValue: id),
                    route: route,
                    destination: destination,
                    body: [UInt8](body),
                    headers: HeaderCoding.decode([UInt8](headers)),
                    acceptedAt: SQLiteMessageStore.date(acceptedAt)
                ),
                status: status,
                attemptCount: attemptCount,
                attemptsSinceRetry: attemptCount - attemptBase,
                nextAttemptAt: nextAttemptAt.map(SQLiteMessageStore.date),
                lastError: lastError,
                lastStatusCode: lastStatusCode,
                deliveredAt: deliveredAt.map(SQLiteMessageStore.date),
                updatedAt: SQLiteMessageStore.date(updatedAt)
            )
        }
    }

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
