import Core
import Foundation
import GRDB

/// Maintenance: purging delivered messages, and the heartbeat that `/health` writes. Backups copy the whole file:
/// ``SQLiteDatabase/backup(to:)``.
extension SQLiteMessageStore {
    public func purgeDelivered(before date: Date) async throws -> Int {
        let cutoff = StoredTime.milliseconds(date)
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
        let nowMS = StoredTime.milliseconds(clock.now)
        try await writer.write { db in
            try db.execute(sql: "UPDATE heartbeat SET beat_at = ? WHERE id = 1", arguments: [nowMS])
        }
    }
}
