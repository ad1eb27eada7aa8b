import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// What a backup file holds, once checked: its integrity, its schema version, and how much is in it.
public struct SQLiteBackupReport: Sendable, CustomStringConvertible {
    public var path: String
    /// The file's schema version, as a person reads it.
    public var schema: String
    /// Stored webhooks.
    public var messages: Int
    /// Rows of the event log (chat and event webhooks).
    public var events: Int
    public var bytes: Int64

    public var description: String {
        "\(path): OK (integrity check passed; schema \(schema); \(messages) stored webhooks, \(events) events; \(bytes) bytes)"
    }
}

/// A backup that may not be restored, and why.
public struct SQLiteBackupError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

extension SQLiteDatabase {
    /// Checks a backup file without changing it: SQLite's `integrity_check`, and a MessageBridge schema this binary
    /// knows (the same version, or an older one that `serve` will migrate). Refuses anything else.
    public static func verifyBackup(at path: String) throws -> SQLiteBackupReport {
        guard FileManager.default.fileExists(atPath: path) else { throw SQLiteBackupError(message: "\(path): no such file") }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.label = "messagebridge-backup-check"
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw SQLiteBackupError(message: "\(path): not an SQLite database (\(error))")
        }
        return try queue.read { db in
            let integrity: [String]
            do {
                integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check")
            } catch {
                throw SQLiteBackupError(message: "\(path): not an SQLite database, or damaged (\(error))")
            }
            guard integrity == ["ok"] else {
                throw SQLiteBackupError(message: "\(path): the integrity check failed: \(integrity.prefix(5).joined(separator: "; "))")
            }
            let version = try SQLiteSchemaVersion(db)
            if version.isEmpty { throw SQLiteBackupError(message: "\(path): holds no MessageBridge schema") }
            guard version.unknown.isEmpty else {
                throw SQLiteBackupError(message: "\(path): made by a newer MessageBridge (schema \(version.fileDescription), this binary has \(SQLiteSchemaVersion.binaryDescription)); restore it with that binary")
            }
            let tables = Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'"))
            let messages = tables.contains("messages") ? try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM messages") ?? 0 : 0
            let events = tables.contains("chat_events") ? try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM chat_events") ?? 0 : 0
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
            return SQLiteBackupReport(path: path, schema: version.fileDescription, messages: messages, events: events, bytes: size)
        }
    }

    /// Replaces the database at `databasePath` with the backup at `backupPath`: takes the server lock first (so it
    /// refuses while a server holds the file), verifies the backup, moves the current file and its `-wal`/`-shm`
    /// aside to `<file>.replaced-<time>` (kept, never deleted), and puts a copy of the backup in its place
    /// (written, fsync'd, then renamed, so a crash leaves either the old name empty or the whole copy).
    /// Returns the report of the restored backup and where the replaced file went (nil when there was none).
    public static func restore(backup backupPath: String, to databasePath: String, now: Date = Date()) throws -> (report: SQLiteBackupReport, replaced: String?) {
        let lock = try ServerLock(databasePath: databasePath)
        defer { withExtendedLifetime(lock) {} }
        let report = try verifyBackup(at: backupPath)
        let manager = FileManager.default
        let directory = (databasePath as NSString).deletingLastPathComponent
        let staging = (directory.isEmpty ? "." : directory) + "/.restore-\(UUID().uuidString).db"
        try copyDurably(from: backupPath, to: staging)
        var replaced: String?
        if manager.fileExists(atPath: databasePath) {
            let stamp = Self.stamp(now)
            let aside = "\(databasePath).replaced-\(stamp)"
            for suffix in ["", "-wal", "-shm"] where manager.fileExists(atPath: databasePath + suffix) {
                try manager.moveItem(atPath: databasePath + suffix, toPath: aside + suffix)
            }
            replaced = aside
        }
        guard rename(staging, databasePath) == 0 else {
            throw SQLiteBackupError(message: "cannot move the restored copy into place: \(String(cString: strerror(errno)))")
        }
        syncDirectory(of: databasePath)
        return (report, replaced)
    }

    /// Writes an online backup of the whole file into `directory` as `messagebridge-<time>.db` (through a hidden
    /// temporary name, fsync'd, then renamed), and removes the oldest of that form beyond `keep`. Returns the path.
    public func writeScheduledBackup(into directory: String, keep: Int, now: Date) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let final = "\(directory)/messagebridge-\(Self.stamp(now)).db"
        let temporary = "\(directory)/.messagebridge-\(UUID().uuidString).db.partial"
        do {
            let destination = try DatabaseQueue(path: temporary)
            try writer.backup(to: destination)
            try destination.close()
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: temporary))
            try handle.synchronize()
            try handle.close()
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        guard rename(temporary, final) == 0 else {
            throw SQLiteBackupError(message: "cannot name the backup \(final): \(String(cString: strerror(errno)))")
        }
        Self.syncDirectory(of: final)
        let backups = try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasPrefix("messagebridge-") && $0.hasSuffix(".db") }
            .sorted()
        for old in backups.dropLast(max(keep, 1)) {
            try? FileManager.default.removeItem(atPath: "\(directory)/\(old)")
        }
        return final
    }

    /// `20261201T120000Z` (sortable, no colons).
    static func stamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec)
    }

    private static func copyDurably(from source: String, to destination: String) throws {
        guard let input = FileHandle(forReadingAtPath: source) else { throw SQLiteBackupError(message: "cannot read \(source)") }
        defer { try? input.close() }
        guard FileManager.default.createFile(atPath: destination, contents: nil, attributes: [.posixPermissions: 0o600]),
              let output = FileHandle(forWritingAtPath: destination)
        else { throw SQLiteBackupError(message: "cannot write \(destination)") }
        defer { try? output.close() }
        while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
            try output.write(contentsOf: chunk)
        }
        try output.synchronize()
    }

    private static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let descriptor = Glibc.open(directory.isEmpty ? "." : directory, O_RDONLY)
        if descriptor >= 0 {
            fsync(descriptor)
            close(descriptor)
        }
    }
}
