import Core
import Foundation
import GRDB
import Logging
import Synchronization

/// The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is on disk before the
/// caller hears about it.
public final class SQLiteMessageStore: MessageStore {
    /// The one connection pool for this file, for the life of the process.
    public let writer: DatabasePool
    /// The file's path.
    public let path: String
    /// Leases of messages being delivered, changed only on the writer (see ``LeaseTable``).
    let leases = Mutex(LeaseTable())

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

    /// Walks the due index from the lease cursor, skipping leased rows, and leases what it finds in memory: a read,
    /// no row is written (see ``LeaseTable``). It runs on the writer, where every change to the leases is made, so the
    /// rows it reads and the leases it checks agree.
    public func claimDue(owner: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [StoredMessage] {
        let nowMS = Self.milliseconds(now)
        let untilMS = Self.milliseconds(leaseUntil)
        let copied = try await writer.write { db -> CopiedRows in
            let cursor = self.leases.withLock { table in
                table.expire(now: nowMS)
                table.restartIfDue(now: nowMS)
                return table.cursor
            }
            // Leases change only inside the writer (claims, ingest, outcomes) or by expiring above, so what is
            // unleased now stays unleased until this closure returns; the lock is taken per row, not for the scan.
            var copied = CopiedRows()
            var scanned: LeaseTable.Key?
            if limit > 0 {
                // The row itself, in one pass along the due index (next_attempt_at and seq are columns 9 and 15).
                try Self.walkDueIndex(
                    db, selecting: Self.columns, joiningPayloads: true, keyAt: (9, 15), after: cursor, dueBy: nowMS
                ) { key, statement in
                    scanned = key
                    // Only bytes are copied here; Swift values are made once the writer is released.
                    if !self.leases.withLock({ $0.isLeased(key.seq) }) { copied.appendCurrentRow(of: statement) }
                    return copied.count < limit
                }
            }
            self.leases.withLock { table in
                for index in 0..<copied.count {
                    let seq = copied.seq(at: index)
                    table.lease(seq: seq, .init(
                        id: MessageID(rawValue: copied.id(at: index)), owner: owner, until: untilMS,
                        key: .init(nextAttemptAt: copied.nextAttemptAt(at: index), seq: seq),
                        status: copied.status(at: index)
                    ))
                }
                if let scanned { table.advance(to: scanned) }
            }
            return copied
        }
        // Decoded here rather than inside `write`, so the writer thread (which ingest also waits for) is free sooner.
        return (0..<copied.count).compactMap { index in
            var message = copied.rawRow(at: index).storedMessage
            message?.status = .delivering
            return message
        }
    }

    /// Steps through the due index in claim order, from just after `cursor`, over rows due by `dueBy` (all when
    /// nil), until `body` returns false. `columns` (of `messages m`, and of `message_payloads p` when
    /// `joiningPayloads`) are selected; `keyAt` names the positions of `next_attempt_at` and `seq` among them. `body`
    /// gets the statement standing on the row.
    private static func walkDueIndex(
        _ db: Database, selecting columns: String, joiningPayloads: Bool, keyAt position: (nextAttemptAt: Int, seq: Int),
        after cursor: LeaseTable.Key?, dueBy: Int64?, _ body: (LeaseTable.Key, Statement) throws -> Bool
    ) throws {
        // INDEXED BY: left alone, the planner prefers messages_status and sorts.
        let statement = try db.cachedStatement(sql: """
            SELECT \(columns) FROM messages m INDEXED BY messages_due
            \(joiningPayloads ? "JOIN message_payloads p ON p.seq = m.seq" : "")
            WHERE m.status IN ('pending', 'retrying') AND m.next_attempt_at >= ? AND m.next_attempt_at <= ?
            ORDER BY m.next_attempt_at, m.seq
            """)
        let rows = try Row.fetchCursor(statement, arguments: [cursor?.nextAttemptAt ?? Int64.min, dueBy ?? Int64.max])
        while let row = try rows.next() {
            // next_attempt_at is never NULL in this index.
            let key = LeaseTable.Key(nextAttemptAt: row[position.nextAttemptAt], seq: row[position.seq])
            if let cursor, key <= cursor { continue }
            guard try body(key, statement) else { return }
        }
    }

    /// Writes outcomes for the completions whose owner still holds the lease, and ends those leases. Delivered ones
    /// are written with one statement per group sharing their attempt's fields (the attempt that delivered goes on
    /// the message row, see `attempts(messageID:)`); the others, one statement each plus their attempts row.
    public func complete(_ completions: [DeliveryCompletion], now: Date) async throws {
        let nowMS = Self.milliseconds(now)
        try await writer.writeWithoutTransaction { db in
            // Where the ended leases' rows sit, in case the transaction fails after they ended (its rows unchanged):
            // rewound to before the writer is released, so the next claim finds them again.
            var ended: [LeaseTable.Key] = []
            do {
                try db.inTransaction {
                    try self.writeCompletions(completions, now: nowMS, endingLeasesInto: &ended, in: db)
                    return .commit
                }
            } catch {
                self.leases.withLock { table in
                    for key in ended { table.rewind(to: key) }
                }
                throw error
            }
        }
    }

    /// `complete`'s transaction: ends the leases still held by each completion's owner (noting where their rows sit
    /// in `ended`) and writes those outcomes.
    private func writeCompletions(
        _ completions: [DeliveryCompletion], now nowMS: Int64, endingLeasesInto ended: inout [LeaseTable.Key], in db: Database
    ) throws {
        // Deliveries grouped by what their attempt recorded: a batch delivered by one sink call shares it.
        var delivered: [DeliveredFields: [Int64]] = [:]
        var others: [(seq: Int64, completion: DeliveryCompletion)] = []
        ended.reserveCapacity(completions.count)
        leases.withLock { table in
            for completion in completions {
                guard let seq = table.seq(of: completion.messageID), let lease = table.bySeq[seq],
                      lease.owner == completion.owner
                else { continue }  // stale: another owner holds the lease, or nobody does
                if case .delivered = completion.change, let attempt = completion.attempt {
                    delivered[DeliveredFields(attempt), default: []].append(seq)
                } else {
                    others.append((seq, completion))
                }
                table.release(seq: seq, heldBy: lease.owner)
                ended.append(lease.key)
                // A row due again now or soon must not sit behind the cursor unleased.
                switch completion.change {
                case .retry(let date), .deferred(let date):
                    table.rewind(to: .init(nextAttemptAt: Self.milliseconds(date), seq: seq))
                case .released:
                    table.rewind(to: .init(nextAttemptAt: nowMS, seq: seq))
                case .delivered, .failed:
                    break
                }
            }
        }
        if !delivered.isEmpty {
            // The rows are looked up through the JSON array of seqs (not the other way round, which would scan
            // messages); one statement per group of equal fields.
            let update = try db.cachedStatement(sql: """
                UPDATE messages SET status = 'delivered', attempt_count = attempt_count + 1,
                    next_attempt_at = NULL, delivered_at = ?, last_error = NULL, last_status_code = ?,
                    delivered_duration_ms = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?
                WHERE seq IN (SELECT value FROM json_each(?)) AND +status IN ('pending', 'retrying')
                """)
            for (fields, seqs) in delivered {
                try update.execute(arguments: [
                    fields.finishedAt, fields.statusCode, fields.durationMilliseconds, nowMS,
                    Self.jsonArray(seqs),
                ])
            }
        }
        try Self.writeOutcomes(others, now: nowMS, in: db)
    }

    /// Outcomes other than a delivery with its attempt: one update each, plus the attempt's row.
    private static func writeOutcomes(_ outcomes: [(seq: Int64, completion: DeliveryCompletion)], now nowMS: Int64, in db: Database) throws {
        guard !outcomes.isEmpty else { return }
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
            WHERE seq = ?8 AND status IN ('pending', 'retrying')
            """)
        let insertAttempt = try db.cachedStatement(sql: """
            INSERT INTO attempts (message_seq, number, finished_at, outcome, status_code, error, duration_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for (seq, completion) in outcomes {
            let status: String, nextAttempt: Int64?, deliveredAt: Int64?
            switch completion.change {
            case .delivered: (status, nextAttempt, deliveredAt) = ("delivered", nil, nowMS)
            case .retry(let date): (status, nextAttempt, deliveredAt) = ("retrying", milliseconds(date), nil)
            case .failed: (status, nextAttempt, deliveredAt) = ("failed", nil, nil)
            case .deferred(let date): (status, nextAttempt, deliveredAt) = ("requeue", milliseconds(date), nil)
            case .released: (status, nextAttempt, deliveredAt) = ("requeue", nowMS, nil)
            }
            let attempt = completion.attempt
            try update.execute(arguments: [
                status, attempt == nil ? 0 : 1, nextAttempt, deliveredAt, attempt?.error, attempt?.statusCode,
                nowMS, seq,
            ])
            if db.changesCount > 0, let attempt {
                try insertAttempt.execute(arguments: [
                    seq, attempt.number, milliseconds(attempt.finishedAt), attempt.outcome.rawValue,
                    attempt.statusCode, attempt.error, attempt.durationSeconds * 1000,
                ])
            }
        }
    }

    /// What a delivery's attempt writes to its row, in the row's units.
    struct DeliveredFields: Hashable {
        var finishedAt: Int64
        var statusCode: Int?
        var durationMilliseconds: Double

        init(_ attempt: DeliveryAttempt) {
            finishedAt = SQLiteMessageStore.milliseconds(attempt.finishedAt)
            statusCode = attempt.statusCode
            let duration = attempt.durationSeconds * 1000
            durationMilliseconds = duration.isFinite ? duration : 0
        }
    }

    /// Ends every lease this process holds, and gives back rows an older version left `delivering` in the file.
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
            let legacy = db.changesCount
            return legacy + self.leases.withLock { $0.removeAll() }
        }
    }

    /// A message being delivered is not retried (it is neither failed nor retrying while leased).
    public func retry(id: MessageID, now: Date) async throws -> Bool {
        let nowMS = Self.milliseconds(now)
        return try await writer.write { db in
            guard self.leases.withLock({ $0.seq(of: id) }) == nil else { return false }
            let seq = try Int64.fetchOne(
                db,
                sql: """
                    UPDATE messages SET status = 'pending', next_attempt_at = ?, attempt_base = attempt_count,
                        updated_at = ?
                    WHERE id = ? AND status IN ('failed', 'retrying')
                    RETURNING seq
                    """,
                arguments: [nowMS, nowMS, id.rawValue]
            )
            guard let seq else { return false }
            self.leases.withLock { $0.rewind(to: .init(nextAttemptAt: nowMS, seq: seq)) }
            return true
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
            self.leases.withLock { $0.rewind(to: .init(nextAttemptAt: nowMS, seq: Int64.min + 1)) }
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
        let row = try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM \(Self.messagesWithPayloads) WHERE m.id = ?", arguments: [id.rawValue])
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
                    number: row[0], finishedAt: Self.date(row[1]),
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
                    number: delivered[0], finishedAt: Self.date(delivered[1]), outcome: .delivered,
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
                db, sql: "SELECT \(Self.columns) FROM \(Self.messagesWithPayloads) \(filter) ORDER BY m.seq DESC LIMIT ?",
                arguments: arguments
            )
        }
        return rows.compactMap(reportingLease)
    }

    public func statusCounts() async throws -> [MessageStatus: Int] {
        var counts = try await writer.read { db in
            // One count per status, each a range of the status index: about three times cheaper than GROUP BY,
            // which compares every entry's status text (this runs on every /status and /metrics scrape).
            let count = try db.cachedStatement(sql: "SELECT count(*) FROM messages WHERE status = ?")
            var counts: [MessageStatus: Int] = [:]
            for status in MessageStatus.allCases {
                counts[status] = try Int.fetchOne(count, arguments: [status.rawValue]) ?? 0
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

    /// The earliest due time of a row not leased: leased rows are due (their rows are unchanged) but taken.
    public func nextDueDate() async throws -> Date? {
        let (cursor, expired) = leases.withLock { ($0.cursor, $0.hasExpired(now: Self.milliseconds(Date()))) }
        if expired { return Date() }
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
        return due.map(Self.date)
    }

    // MARK: Backup

    /// Writes a consistent copy of the database to `destinationPath` while the server keeps running.
    /// Synchronous: it is for the command line, which has no event loop to keep free.
    public func backup(to destinationPath: String) throws {
        let destination = try DatabaseQueue(path: destinationPath)
        try writer.backup(to: destination)
    }

    // MARK: Row mapping

    /// A whole message: selected with ``columns``, whose names refer to `m` and `p`.
    static let messagesWithPayloads = "messages m JOIN message_payloads p ON p.seq = m.seq"

    static let columns = """
        m.id, m.route, m.destination_kind, m.destination, p.headers, p.body, m.status, m.attempt_count,
        m.attempt_base, m.next_attempt_at, m.last_error, m.last_status_code, m.accepted_at, m.updated_at,
        m.delivered_at, m.seq
        """

    /// A row selected with `columns`, copied out as plain values: GRDB's `Row` may not leave the writer's closure,
    /// and turning these into a `StoredMessage` (header decoding, allocations) need not hold the writer. Read by
    /// position: looking columns up by name lowercases each name on every access, which shows in profiles when
    /// thousands of rows are claimed a second.
    struct RawMessageRow: Sendable {
        var id: String, route: String, destinationKind: String, destination: String
        /// Encoded (``HeaderCoding``); a slice, so a claim's rows can share the bytes they were copied into.
        var headers: ArraySlice<UInt8>, body: [UInt8], status: String
        var attemptCount: Int, attemptBase: Int, nextAttemptAt: Int64?, lastError: String?, lastStatusCode: Int?
        var acceptedAt: Int64, updatedAt: Int64, deliveredAt: Int64?, seq: Int64

        init(_ row: Row) {
            (id, route, destinationKind, destination, status) = (row[0], row[1], row[2], row[3], row[6])
            (headers, body) = (ArraySlice(row[4] as Data), [UInt8](row[5] as Data))
            (attemptCount, attemptBase, nextAttemptAt, lastError, lastStatusCode) = (row[7], row[8], row[9], row[10], row[11])
            (acceptedAt, updatedAt, deliveredAt, seq) = (row[12], row[13], row[14], row[15])
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
                    body: body,
                    headers: HeaderCoding.decode(headers),
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

    /// Row seqs as a JSON array, for `json_each(?)`: one bound argument however many rows a statement names.
    static func jsonArray(_ seqs: some Sequence<Int64>) -> String {
        "[" + seqs.map(String.init).joined(separator: ",") + "]"
    }

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
