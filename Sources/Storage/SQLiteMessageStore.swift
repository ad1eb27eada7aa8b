import Core
import Foundation
import GRDB
import Synchronization

/// Messages in the embedded database: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is on disk
/// before the caller hears about it.
///
/// By concern: claims and leases (`+Claims`), ingest with deduplication (`+Ingest`), delivery outcomes
/// (`+Outcomes`), manual retries (`+Retries`), reads (`+Queries`), purge and heartbeat (`+Maintenance`); rows are
/// read by the column order defined once in ``MessageColumn``.
public final class SQLiteMessageStore: MessageStore {
    /// The database this store's tables live in, shared with the other stores of the file.
    public let database: SQLiteDatabase
    /// `database`'s pool, held here too so every call reaches it directly.
    public let writer: DatabasePool
    /// Leases of messages being delivered, changed only on the writer (see ``LeaseTable``).
    let leases = Mutex(LeaseTable())
    /// The time of ingest (dedup windows), of lease expiry and of the health heartbeat.
    let clock: any WallClock
    /// Which outcomes are also written to the event log (`webhook.delivered`, `webhook.failed`), for event-webhook
    /// endpoints: bit 0 delivered, bit 1 failed. Off (nothing extra written) while no endpoint subscribes.
    let outcomeEvents = Atomic<UInt8>(0)

    /// The messages of `database`, whose schema must be this binary's (``SQLiteDatabase/open(path:migrating:)``),
    /// timed by `clock` (the server's one clock; tests pass one they move).
    public init(database: SQLiteDatabase, clock: any WallClock = SystemWallClock()) {
        self.database = database
        self.clock = clock
        writer = database.writer
    }

    /// Opens (creating when needed) the database at `path` and migrates it, as `serve` does: for tests and tools
    /// that own the file. Admin commands open theirs with ``SQLiteDatabase/open(path:migrating:)`` and `false`.
    public convenience init(path: String, clock: any WallClock = SystemWallClock()) throws {
        self.init(database: try SQLiteDatabase.open(path: path, migrating: true), clock: clock)
    }

    /// The file's path.
    public var path: String { database.path }

    /// The writer connection's `synchronous` setting (2 = FULL), for tests and `/health`.
    public func synchronousMode() async throws -> Int {
        try await database.synchronousMode()
    }

    /// The journal mode (`wal`).
    public func journalMode() async throws -> String {
        try await database.journalMode()
    }

    /// Whether delivering a message, and its becoming a dead letter, also append `webhook.delivered` and
    /// `webhook.failed` to the event log, in the same transaction as the outcome. Set from the endpoints that
    /// subscribe to them (disabled ones included: their events are kept for a replay).
    public func recordOutcomeEvents(delivered: Bool, failed: Bool) {
        outcomeEvents.store((delivered ? 1 : 0) | (failed ? 2 : 0), ordering: .relaxed)
    }

    // MARK: Units

    /// Row seqs as a JSON array, for `json_each(?)`: one bound argument however many rows a statement names.
    static func jsonArray(_ seqs: some Sequence<Int64>) -> String {
        "[" + seqs.map(String.init).joined(separator: ",") + "]"
    }
}
