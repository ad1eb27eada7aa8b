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
        return try await writer.write { db in
            let rows = try Row.fetchAll(
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
            return rows.compactMap(Self.storedMessage)
        }
    }

    public func complete(_ completions: [DeliveryCompletion], now: Date) async throws {
        let nowMS = Self.milliseconds(now)
        try await writer.write { db in
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
            for completion in completions {
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

    public func attempts(messageID: MessageID) async throws -> [DeliveryAttempt] {
        try await writer.read { db in
            try Row.fetchAll(
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
        guard let destination = Destination(kind: row[2], target: row[3]),
              let status = MessageStatus(rawValue: row[6])
        else { return nil }
        let headers: Data = row[4]
        let body: Data = row[5]
        let attemptCount: Int = row[7]
        let attemptBase: Int = row[8]
        return StoredMessage(
            message: NewMessage(
                id: MessageID(rawValue: row[0]),
                route: row[1],
                destination: destination,
                body: [UInt8](body),
                headers: HeaderCoding.decode([UInt8](headers)),
                acceptedAt: date(row[12])
            ),
            status: status,
            attemptCount: attemptCount,
            attemptsSinceRetry: attemptCount - attemptBase,
            nextAttemptAt: (row[9] as Int64?).map(date),
            lastError: row[10],
            lastStatusCode: row[11],
            deliveredAt: (row[14] as Int64?).map(date),
            updatedAt: date(row[13])
        )
    }

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
