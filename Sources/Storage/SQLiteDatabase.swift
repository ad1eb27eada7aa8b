import Core
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

    /// Opens the database at `path`, the one way every part of MessageBridge opens its file.
    ///
    /// - Parameter migrating: true for `serve` (and ``migrate(path:)``): the file (and its directory) is created
    ///   when needed and every migration of this binary that it lacks is applied; a file a newer binary migrated is
    ///   refused. False for everything else, such as
    ///   the admin commands, which run beside a server that may be of another version: nothing is created or
    ///   migrated, and a file that is missing, empty or at another schema version than this binary's is refused with
    ///   a ``SQLiteSchemaError`` before the file is opened for writing, so the file is left as it was.
    /// - Parameter mmapSizeMiB: `sqlite.mmap_size_mb`, set on every connection of the pool.
    public static func open(path: String, migrating: Bool, mmapSizeMiB: Int = SQLiteSettings.defaultMmapSizeMiB) throws -> SQLiteDatabase {
        if migrating {
            let database = try SQLiteDatabase(openingPoolAt: path, mmapSizeMiB: mmapSizeMiB)
            // A newer binary's file is refused: this one would run on tables it does not know the shape of.
            let version = try database.writer.read { db in try SQLiteSchemaVersion(db) }
            guard version.unknown.isEmpty else { throw SQLiteSchemaError(.newer, path: path, version: version) }
            try SQLiteSchema.migrator.migrate(database.writer)
            return database
        }
        try requireCurrentSchema(path: path)
        return try SQLiteDatabase(openingPoolAt: path, mmapSizeMiB: mmapSizeMiB)
    }

    /// `messagebridge migrate`: brings the file at `path` (created when needed) to this binary's schema, and says
    /// what it did. Refuses a file that a newer binary migrated. The caller holds the ``ServerLock``, so no server
    /// is using the file meanwhile.
    public static func migrate(path: String) throws -> SQLiteMigrationReport {
        let database = try SQLiteDatabase(openingPoolAt: path)
        let before = try database.writer.read { db in try SQLiteSchemaVersion(db) }
        guard before.unknown.isEmpty else { throw SQLiteSchemaError(.newer, path: path, version: before) }
        try SQLiteSchema.migrator.migrate(database.writer)
        return SQLiteMigrationReport(
            path: path, applied: before.missing, before: before.isEmpty ? nil : before.fileDescription,
            after: SQLiteSchemaVersion.binaryDescription
        )
    }

    /// Throws unless `path` is a MessageBridge database at exactly this binary's schema. Reads through a read-only
    /// connection, so a refused file is not changed (a pool would switch a file that is not in WAL mode to WAL).
    private static func requireCurrentSchema(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw SQLiteSchemaError(.missing, path: path) }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        configuration.label = "messagebridge-schema-check"
        let version = try DatabaseQueue(path: path, configuration: configuration).read { db in
            try SQLiteSchemaVersion(db)
        }
        if version.isCurrent { return }
        if version.isEmpty { throw SQLiteSchemaError(.noSchema, path: path) }
        throw SQLiteSchemaError(version.unknown.isEmpty ? .older : .newer, path: path, version: version)
    }

    /// Opens the pool (creating the file and its directory when needed) and turns on full durability; migrates
    /// nothing. Every connection maps up to `mmapSizeMiB` of the file for its reads (SQLite caps it at its
    /// compile-time maximum, 2 GiB in Debian's build).
    private init(openingPoolAt path: String, mmapSizeMiB: Int = SQLiteSettings.defaultMmapSizeMiB) throws {
        self.path = path
        try ServerLock.createDirectory(containing: path)
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.label = "messagebridge"
        let mmapSize = mmapSizeMiB * 1024 * 1024
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA mmap_size = \(mmapSize)")
        }
        writer = try DatabasePool(path: path, configuration: configuration)
        // Opening a pool switches to WAL and sets synchronous=NORMAL, so FULL must be set afterwards.
        try writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
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
