import Foundation
import GRDB

/// One SQLite file, open for the life of the process: its connection pool, its schema (``SQLiteSchema``) and the
/// writer settings every store relies on (WAL, `synchronous=FULL`).
///
/// The per-aggregate stores (``SQLiteMessageStore``, ``SQLiteAPIKeyStore``, and next chat and event endpoints) are
/// made over one shared database, as GRDB's `AppDatabase` is shared by its record types: one pool per file.
public final class SQLiteDatabase: Sendable {
    /// The one connection pool for this file.
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

    /// Writes a consistent copy of the whole file (every store's tables) to `destinationPath`, also while the server
    /// keeps running. Synchronous: it is for the command line, which has no event loop to keep free.
    public func backup(to destinationPath: String) throws {
        let destination = try DatabaseQueue(path: destinationPath)
        try writer.backup(to: destination)
    }
}
