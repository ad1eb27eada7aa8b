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

    // MARK: Units

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
