import Core
import Foundation
import GRDB

/// Claims: leasing due messages in memory (see ``LeaseTable``), walking the due index, and ending every lease at
/// start-up.
extension SQLiteMessageStore {
    /// Walks the due index from the lease cursor, skipping leased rows, and leases what it finds in memory: a read,
    /// no row is written (see ``LeaseTable``). It runs on the writer, where every change to the leases is made, so the
    /// rows it reads and the leases it checks agree.
    public func claimDue(owner: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [StoredMessage] {
        let nowMS = StoredTime.milliseconds(now)
        let untilMS = StoredTime.milliseconds(leaseUntil)
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
                // The row itself, in one pass along the due index.
                try Self.walkDueIndex(
                    db, selecting: MessageColumn.selection, joiningPayloads: true,
                    keyAt: (MessageColumn.nextAttemptAt.rawValue, MessageColumn.seq.rawValue), after: cursor, dueBy: nowMS
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
    static func walkDueIndex(
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

    /// Ends every lease this process holds, and gives back rows an older version left `delivering` in the file.
    public func releaseAllLeases(now: Date) async throws -> Int {
        let nowMS = StoredTime.milliseconds(now)
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
}
