import Core
import Foundation
import GRDB

/// Reading: single messages, their attempts, listings, counts and due times, with leased rows shown as `delivering`.
extension SQLiteMessageStore {
    public func message(id: MessageID) async throws -> StoredMessage? {
        let row = try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT \(MessageColumn.selection) FROM \(MessageColumn.joinedTables) WHERE m.id = ?", arguments: [id.rawValue])
                .map(RawMessageRow.init)
        }
        return row.flatMap(reportingLease)
    }

    /// A row as a message, `delivering` while it is leased.
    private func reportingLease(_ row: RawMessageRow) -> StoredMessage? {
        guard var message = row.storedMessage else { return nil }
        if leases.withLock({ $0.isLeased(row.seq) }) { message.status = .delivering }
        return message
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
                    // An outcome this build does not know (a newer binary wrote it) reads as the failure it most
                    // likely was; the row itself is untouched.
                    number: row[0], finishedAt: StoredTime.date(row[1]),
                    outcome: AttemptOutcome(rawValue: row[2]) ?? .failed, statusCode: row[3],
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
                    number: delivered[0], finishedAt: StoredTime.date(delivered[1]), outcome: .delivered,
                    statusCode: delivered[2], error: nil, durationSeconds: (delivered[3] as Double) / 1000
                ))
            }
            return attempts
        }
    }

    public func messages(matching query: MessageQuery) async throws -> [StoredMessage] {
        // Leased rows are `pending` or `retrying` in the file and `delivering` to everyone else.
        let leasedSeqs = query.status == nil ? "[]" : leases.withLock { table in
            Self.jsonArray(table.bySeq.keys)
        }
        let rows = try await writer.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            switch query.status {
            case nil:
                break
            case .delivering?:
                conditions.append("(m.status = 'delivering' OR m.seq IN (SELECT value FROM json_each(?)))")
                _ = arguments.append(contentsOf: [leasedSeqs])
            case .pending?, .retrying?:
                conditions.append("m.status = ? AND m.seq NOT IN (SELECT value FROM json_each(?))")
                _ = arguments.append(contentsOf: [query.status?.rawValue, leasedSeqs])
            case let status?:
                conditions.append("m.status = ?")
                _ = arguments.append(contentsOf: [status.rawValue])
            }
            if let before = query.before {
                conditions.append("m.seq < (SELECT seq FROM messages WHERE id = ?)")
                _ = arguments.append(contentsOf: [before.rawValue])
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            _ = arguments.append(contentsOf: [query.limit])
            return try RawMessageRow.fetchAll(
                db, sql: "SELECT \(MessageColumn.selection) FROM \(MessageColumn.joinedTables) \(filter) ORDER BY m.seq DESC LIMIT ?",
                arguments: arguments
            )
        }
        return rows.compactMap(reportingLease)
    }

    public func statusCounts() async throws -> [MessageStatus: Int] {
        var counts = try await writer.read { db in
            // The counts kept since `v8-message-status-counts`, a few rows whatever the number of messages: counting
            // the status index instead read every message's entry on each /status and /metrics call (/status p50
            // 65 ms at 1 000 000 messages, benchmarks/flat).
            var counts = Dictionary(uniqueKeysWithValues: MessageStatus.allCases.map { ($0, 0) })
            let rows = try Row.fetchCursor(db.cachedStatement(sql: "SELECT status, count FROM message_status_counts"))
            while let row = try rows.next() {
                // A status this build does not know (a newer binary wrote it) is left out, as it always was.
                guard let status = MessageStatus(rawValue: row[0]) else { continue }
                counts[status] = row[1]
            }
            return counts
        }
        leases.withLock { table in
            for lease in table.bySeq.values {
                counts[lease.status, default: 0] -= 1
                counts[.delivering, default: 0] += 1
            }
        }
        // The read and the leases are not one snapshot: a lease may outlive its row's change by a moment.
        for (status, count) in counts where count < 0 { counts[status] = 0 }
        return counts
    }

    public func oldestUndeliveredAcceptedAt() async throws -> Date? {
        try await writer.read { db in
            // Cheap however many messages there are: for min() over an IN list, SQLite seeks the first entry of each
            // status in the status index and reads no further (checked with EXPLAIN on SQLite 3.40).
            let oldest = try Int64.fetchOne(
                db,
                sql: """
                    SELECT accepted_at FROM messages WHERE seq = (
                        SELECT min(seq) FROM messages WHERE status IN ('pending', 'delivering', 'retrying'))
                    """
            )
            return oldest.map(StoredTime.date)
        }
    }

    /// The earliest due time of a row not leased: leased rows are due (their rows are unchanged) but taken.
    public func nextDueDate() async throws -> Date? {
        let now = clock.now
        let (cursor, expired) = leases.withLock { ($0.cursor, $0.hasExpired(now: StoredTime.milliseconds(now))) }
        if expired { return now }
        let due = try await writer.read { db -> Int64? in
            var due: Int64?
            // Index entries only: no table row is read for the leased ones walked past.
            try Self.walkDueIndex(
                db, selecting: "m.next_attempt_at, m.seq", joiningPayloads: false, keyAt: (0, 1), after: cursor, dueBy: nil
            ) { key, _ in
                if self.leases.withLock({ $0.isLeased(key.seq) }) { return true }
                due = key.nextAttemptAt
                return false
            }
            return due
        }
        return due.map(StoredTime.date)
    }
}
