import Core
import Foundation
import GRDB

extension SQLiteMessageStore: BlockingIngestStore {
    /// Inserts a batch in one transaction, deduplicating records that carry a key.
    ///
    /// A keyed record is inserted with `ON CONFLICT(route, dedup_key) DO NOTHING`, so the unique index decides:
    /// two identical requests (in one batch or in racing batches) store exactly one message. When the insert is
    /// skipped, the holder of the key is read back in the same transaction; if its window has passed, its key is
    /// cleared and the record inserted after all.
    ///
    /// A record stored already leased (`InitialState.leased`) is written `pending` and leased in memory, see
    /// ``LeaseTable``; if the transaction fails, those leases are dropped again.
    public func insertReportingDuplicates(_ records: [IngestRecord]) async throws -> [IngestOutcome] {
        let now = clock.now
        return try await writer.writeWithoutTransaction { db in
            try self.write(records: records, completions: [], now: now, completedAt: now, in: db)
        }
    }

    /// New messages and delivery outcomes in one transaction, on the caller's thread (the commit thread).
    public func writeBlocking(records: [IngestRecord], completions: [DeliveryCompletion], completedAt: Date) throws -> [IngestOutcome] {
        let now = clock.now
        return try writer.writeWithoutTransaction { db in
            try self.write(records: records, completions: completions, now: now, completedAt: completedAt, in: db)
        }
    }

    /// The one write transaction of ingest and outcomes: writes `completions` at `completedAt`, then stores
    /// `records` at `now`. Outcomes go first: none can be for a record of the same batch (its delivery starts after
    /// the commit), and if an insert fails, the leases they ended are already noted for the rewind.
    ///
    /// If the transaction fails, the leases its inserts took are dropped and the claim cursor is rewound to the rows
    /// of the leases its outcomes ended, before the writer is released, so the next claim finds them again.
    func write(
        records: [IngestRecord], completions: [DeliveryCompletion], now: Date, completedAt: Date, in db: Database
    ) throws -> [IngestOutcome] {
        var outcomes: [IngestOutcome] = []
        var ended: [LeaseTable.Key] = []
        do {
            try db.inTransaction {
                if !completions.isEmpty {
                    try writeCompletions(completions, now: StoredTime.milliseconds(completedAt), endingLeasesInto: &ended, in: db)
                }
                if !records.isEmpty {
                    outcomes = try insert(records, now: StoredTime.milliseconds(now), in: db)
                }
                return .commit
            }
        } catch {
            dropLeases(of: records)
            leases.withLock { table in
                for key in ended { table.rewind(to: key) }
            }
            throw error
        }
        return outcomes
    }

    /// Drops the leases a failed insert took.
    private func dropLeases(of records: [IngestRecord]) {
        leases.withLock { table in
            for record in records {
                guard case .leased(let owner, _) = record.initialState, let seq = table.seq(of: record.message.id)
                else { continue }
                table.release(seq: seq, heldBy: owner)
            }
        }
    }

    /// Leases are taken inside the transaction (on the writer, where claims run too), so no claim can see a
    /// committed row before its lease; the caller drops them if the transaction fails.
    private func insert(_ records: [IngestRecord], now: Int64, in db: Database) throws -> [IngestOutcome] {
        let insert = try db.cachedStatement(sql: """
            INSERT INTO messages (id, route, destination_kind, destination, status,
                next_attempt_at, accepted_at, updated_at, dedup_key, dedup_expires_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(route, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
            """)
        let insertPayload = try db.cachedStatement(sql: "INSERT INTO message_payloads (seq, headers, body) VALUES (?, ?, ?)")
        let holder = try db.cachedStatement(sql: """
            SELECT seq, id, accepted_at, dedup_expires_at FROM messages WHERE route = ? AND dedup_key = ?
            """)
        let release = try db.cachedStatement(sql: "UPDATE messages SET dedup_key = NULL WHERE seq = ?")
        var stored = 0
        var outcomes: [IngestOutcome] = []
        outcomes.reserveCapacity(records.count)
        for record in records {
            let message = record.message
            let accepted = StoredTime.milliseconds(message.acceptedAt)
            let arguments: StatementArguments = [
                message.id.rawValue, message.route, message.destination.kind.rawValue, message.destination.target,
                MessageStatus.pending.rawValue, accepted, accepted, now,
                record.dedup?.value, record.dedup.map { StoredTime.milliseconds($0.expiresAt) },
            ]
            /// Inserts the message's row and then its payload's under the row's seq; false when the dedup key's
            /// conflict skipped the row.
            func store() throws -> Bool {
                try insert.execute(arguments: arguments)
                guard db.changesCount > 0 else { return false }
                let seq = db.lastInsertedRowID
                try insertPayload.execute(arguments: [seq, Data(HeaderCoding.encode(message.headers)), Data(message.body)])
                noteStored(record, seq: seq)
                stored += 1
                return true
            }
            // Only a dedup key can make the insert skip its row (its index is the conflict target).
            guard try !store(), let key = record.dedup else {
                outcomes.append(.stored)
                continue
            }
            guard let row = try Row.fetchOne(holder, arguments: [message.route, key.value]) else {
                // The conflict target is the only unique constraint a new id can hit besides the id itself,
                // and ids are fresh UUIDv7s; a skipped insert without a key holder means the schema changed.
                fatalError("insert skipped but no message holds dedup key on route \(message.route)")
            }
            let expiresAt: Int64? = row["dedup_expires_at"]
            if let expiresAt, expiresAt <= accepted {
                try release.execute(arguments: [row["seq"] as Int64])
                // The key is free now, so the row cannot be skipped again.
                _ = try store()
                outcomes.append(.stored)
            } else {
                outcomes.append(.duplicate(of: MessageID(rawValue: row["id"]), acceptedAt: StoredTime.date(row["accepted_at"])))
            }
        }
        // New rows are counted here, all at once, rather than by a trigger (see `v8-message-status-counts`).
        if stored > 0 {
            try db.cachedStatement(sql: """
                INSERT INTO message_status_counts (status, count) VALUES (?, ?)
                ON CONFLICT (status) DO UPDATE SET count = count + excluded.count
                """).execute(arguments: [MessageStatus.pending.rawValue, stored])
        }
        return outcomes
    }

    /// A stored row is due at its accepted time: leased at once if the record asks for it, otherwise the next claim
    /// must be able to find it even if its accepted time lies behind the claim cursor.
    private func noteStored(_ record: IngestRecord, seq: Int64) {
        let key = LeaseTable.Key(nextAttemptAt: StoredTime.milliseconds(record.message.acceptedAt), seq: seq)
        leases.withLock { table in
            switch record.initialState {
            case .pending:
                table.rewind(to: key)
            case .leased(let owner, let until):
                table.lease(seq: seq, .init(
                    id: record.message.id, owner: owner, until: StoredTime.milliseconds(until), key: key, status: .pending
                ))
            }
        }
    }
}
