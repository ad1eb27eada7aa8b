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
    public func insertReportingDuplicates(_ records: [IngestRecord]) async throws -> [IngestOutcome] {
        let now = Self.milliseconds(Date())
        return try await writer.write { db in try Self.insert(records, now: now, in: db) }
    }

    /// The same, as a blocking call on the caller's thread (the ingest commit thread).
    public func insertReportingDuplicatesBlocking(_ records: [IngestRecord]) throws -> [IngestOutcome] {
        let now = Self.milliseconds(Date())
        return try writer.write { db in try Self.insert(records, now: now, in: db) }
    }

    private static func insert(_ records: [IngestRecord], now: Int64, in db: Database) throws -> [IngestOutcome] {
        let insert = try db.cachedStatement(sql: """
            INSERT INTO messages (id, route, destination_kind, destination, headers, body, status,
                next_attempt_at, lease_owner, lease_until, accepted_at, updated_at, dedup_key, dedup_expires_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(route, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
            """)
        let holder = try db.cachedStatement(sql: """
            SELECT seq, id, accepted_at, dedup_expires_at FROM messages WHERE route = ? AND dedup_key = ?
            """)
        let release = try db.cachedStatement(sql: "UPDATE messages SET dedup_key = NULL WHERE seq = ?")
        var outcomes: [IngestOutcome] = []
        outcomes.reserveCapacity(records.count)
        for record in records {
            let message = record.message
            let accepted = Self.milliseconds(message.acceptedAt)
            let status: String, nextAttempt: Int64?, owner: String?, leaseUntil: Int64?
            switch record.initialState {
            case .pending:
                (status, nextAttempt, owner, leaseUntil) = (MessageStatus.pending.rawValue, accepted, nil, nil)
            case .leased(let leaseOwner, let until):
                (status, nextAttempt, owner, leaseUntil) = (
                    MessageStatus.delivering.rawValue, nil, leaseOwner, Self.milliseconds(until)
                )
            }
            let arguments: StatementArguments = [
                message.id.rawValue, message.route, message.destination.kind, message.destination.target,
                Data(HeaderCoding.encode(message.headers)), Data(message.body), status,
                nextAttempt, owner, leaseUntil, accepted, now,
                record.dedup?.value, record.dedup.map { Self.milliseconds($0.expiresAt) },
            ]
            try insert.execute(arguments: arguments)
            guard db.changesCount == 0, let key = record.dedup else {
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
                try insert.execute(arguments: arguments)
                outcomes.append(.stored)
            } else {
                outcomes.append(.duplicate(of: MessageID(rawValue: row["id"]), acceptedAt: Self.date(row["accepted_at"])))
            }
        }
        return outcomes
    }
}
