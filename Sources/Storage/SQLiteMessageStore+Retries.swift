import Core
import Foundation
import GRDB

/// Manual retries (`messages retry`, the admin API): failed messages made due again with a fresh attempt budget.
extension SQLiteMessageStore {
    /// A message being delivered is not retried (it is neither failed nor retrying while leased).
    public func retry(id: MessageID, now: Date) async throws -> Bool {
        let nowMS = StoredTime.milliseconds(now)
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
        let nowMS = StoredTime.milliseconds(now)
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
}
