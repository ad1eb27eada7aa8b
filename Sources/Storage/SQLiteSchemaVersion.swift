import GRDB

/// Where a database file's schema stands against this binary's migrations (``SQLiteSchema``).
///
/// A schema version is the number of this binary's migrations a file has completed, in registration order, shown
/// with the name of the last one: "version 5 (v5-payloads-apart)".
struct SQLiteSchemaVersion {
    /// This binary's migrations the file has, in registration order.
    var applied: [String]
    /// This binary's migrations the file lacks.
    var missing: [String]
    /// Migrations the file has that this binary does not know: a newer binary migrated it.
    var unknown: [String]
    /// How many of this binary's migrations are complete (every one before them applied too).
    var completedCount: Int

    /// Reads the file's applied migrations (GRDB's `grdb_migrations` table; none when it does not exist).
    init(_ db: Database, migrator: DatabaseMigrator = SQLiteSchema.migrator) throws {
        let identifiers = try migrator.appliedIdentifiers(db)
        let registered = migrator.migrations
        applied = try migrator.appliedMigrations(db)
        missing = registered.filter { !identifiers.contains($0) }
        unknown = identifiers.subtracting(registered).sorted()
        completedCount = try migrator.completedMigrations(db).count
    }

    /// The file has no migrations at all: a new, empty file, or not a MessageBridge database.
    var isEmpty: Bool { applied.isEmpty && unknown.isEmpty }
    /// The file has exactly this binary's migrations.
    var isCurrent: Bool { missing.isEmpty && unknown.isEmpty }

    /// The file's version, as a person reads it.
    var fileDescription: String {
        Self.describe(count: completedCount, last: completedCount > 0 ? SQLiteSchema.migrator.migrations[completedCount - 1] : nil)
    }

    /// This binary's version, as a person reads it.
    static var binaryDescription: String {
        let migrations = SQLiteSchema.migrator.migrations
        return describe(count: migrations.count, last: migrations.last)
    }

    private static func describe(count: Int, last: String?) -> String {
        last.map { "version \(count) (\($0))" } ?? "version 0 (no migrations)"
    }
}

/// A database file that an admin command (`messages`, `keys`, `backup`) will not use, because only `serve` and
/// `migrate` change a file's schema: it is missing, holds no MessageBridge schema, or is at another schema version
/// than this binary's. The description says which versions, and what to do.
public struct SQLiteSchemaError: Error, CustomStringConvertible {
    /// Why the file was refused.
    public enum Reason: Sendable {
        /// There is no file at the path.
        case missing
        /// The file has no MessageBridge migrations (new and empty, or some other SQLite file).
        case noSchema
        /// The file lacks migrations this binary has: an older binary made it.
        case older
        /// The file has migrations this binary does not know: a newer binary migrated it.
        case newer
    }

    /// Why.
    public let reason: Reason
    /// The database file.
    public let path: String
    /// What went wrong and what to do, for the person at the command line.
    public let description: String

    init(_ reason: Reason, path: String, version: SQLiteSchemaVersion? = nil) {
        self.reason = reason
        self.path = path
        let expected = SQLiteSchemaVersion.binaryDescription
        switch reason {
        case .missing:
            description = "no MessageBridge database at \(path); run `messagebridge migrate` (or `serve`) first to "
                + "create it, or check sqlite.database_path"
        case .noSchema:
            description = "\(path) holds no MessageBridge schema; check sqlite.database_path, or run "
                + "`messagebridge migrate` (or `serve`) to create the schema there"
        case .older:
            description = "the database at \(path) is at schema \(version?.fileDescription ?? "?"), older than this "
                + "messagebridge, which expects schema \(expected); run `messagebridge migrate` (or `serve`) with this "
                + "binary to upgrade it (a server of the older version must be stopped first), or use the "
                + "messagebridge binary that matches the file"
        case .newer:
            description = "the database at \(path) was migrated by a newer messagebridge: it has schema migrations this "
                + "binary does not know (\((version?.unknown ?? []).joined(separator: ", "))); this messagebridge "
                + "expects schema \(expected); use the messagebridge binary that migrated the file"
        }
    }
}

/// What `messagebridge migrate` did to a file.
public struct SQLiteMigrationReport: Sendable, CustomStringConvertible {
    /// The database file.
    public var path: String
    /// The migrations just applied, in order; empty when the file was already current.
    public var applied: [String]
    /// The file's version before, as a person reads it; nil when the file was new.
    public var before: String?
    /// The file's version now: this binary's.
    public var after: String

    /// One line for the command line.
    public var description: String {
        guard let before else { return "created \(path) at schema \(after)" }
        if applied.isEmpty { return "\(path) is already at schema \(after)" }
        return "migrated \(path) from schema \(before) to \(after) (applied \(applied.joined(separator: ", ")))"
    }
}
