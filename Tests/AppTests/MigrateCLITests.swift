import Foundation
import GRDB
@testable import Storage
import Testing

/// Only `serve` and `migrate` change a database's schema; the admin commands refuse a file at another version.
@Suite("Schema versions on the command line")
struct MigrateCLITests {
    /// A test directory with a configuration whose database is `directory.databasePath`.
    func configured() throws -> TestDirectory {
        let directory = TestDirectory()
        try testConfigurationYAML(directory: directory, routes: [("/hook", "http://127.0.0.1:1/")])
            .write(toFile: directory.configPath, atomically: true, encoding: .utf8)
        return directory
    }

    /// The migrations GRDB recorded in the file.
    func applied(_ path: String) throws -> Set<String> {
        try DatabaseQueue(path: path).read { db in try String.fetchSet(db, sql: "SELECT identifier FROM grdb_migrations") }
    }

    /// A WAL file as an older binary leaves it (migrated up to the migration before this binary's newest, whose
    /// identifier is returned) or as a newer one does (every migration, and one this binary does not know).
    func makeFile(at path: String, older: Bool = false, adding unknown: String? = nil) throws -> String {
        let migrations = SQLiteSchema.migrator.migrations
        let pool = try DatabasePool(path: path)
        try SQLiteSchema.migrator.migrate(pool, upTo: migrations[migrations.count - (older ? 2 : 1)])
        if let unknown {
            try pool.write { db in
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [unknown])
            }
        }
        try pool.close()
        return migrations[migrations.count - 1]
    }

    @Test("messages, keys and backup refuse an older file with exit 1, say what to do, and leave it unchanged; migrate upgrades it")
    func olderFile() throws {
        let directory = try configured()
        let newest = try makeFile(at: directory.databasePath, older: true)
        let before = try Data(contentsOf: URL(fileURLWithPath: directory.databasePath))
        let appliedBefore = try applied(directory.databasePath)

        for command in [["messages", "list"], ["keys", "list"], ["backup", "--output", directory.path + "/backup.db"]] {
            let result = try runCLI(command + ["--config", directory.configPath])
            #expect(result.status == 1, "\(command): \(result.output)")
            #expect(result.output.contains("older than this messagebridge"), "\(command): \(result.output)")
            #expect(result.output.contains(newest), "\(command): \(result.output)")
            #expect(result.output.contains("messagebridge migrate"), "\(command): \(result.output)")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/backup.db"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory.databasePath)) == before)
        #expect(try applied(directory.databasePath) == appliedBefore)

        let migrated = try runCLI(["migrate", "--config", directory.configPath])
        #expect(migrated.status == 0, "\(migrated.output)")
        #expect(migrated.output.contains("migrated \(directory.databasePath)"), "\(migrated.output)")
        #expect(try applied(directory.databasePath) == appliedBefore.union([newest]))
        let listed = try runCLI(["messages", "list", "--config", directory.configPath])
        #expect(listed.status == 0, "\(listed.output)")
        let again = try runCLI(["migrate", "--config", directory.configPath])
        #expect(again.status == 0 && again.output.contains("already at schema"), "\(again.output)")
    }

    @Test("a file migrated by a newer binary is refused by the admin commands and by migrate, naming the unknown migration")
    func newerFile() throws {
        let directory = try configured()
        _ = try makeFile(at: directory.databasePath, adding: "v99-from-a-newer-binary")
        for command in [["keys", "list"], ["messages", "list"], ["migrate"]] {
            let result = try runCLI(command + ["--config", directory.configPath])
            #expect(result.status == 1, "\(command): \(result.output)")
            #expect(result.output.contains("newer messagebridge") && result.output.contains("v99-from-a-newer-binary"),
                    "\(command): \(result.output)")
        }
    }

    @Test("an admin command on a missing database refuses and creates nothing; migrate creates it")
    func missingFile() throws {
        let directory = try configured()
        let result = try runCLI(["keys", "list", "--config", directory.configPath])
        #expect(result.status == 1)
        #expect(result.output.contains("no MessageBridge database at \(directory.databasePath)"), "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: directory.databasePath))

        let created = try runCLI(["migrate", "--config", directory.configPath])
        #expect(created.status == 0 && created.output.contains("created \(directory.databasePath)"), "\(created.output)")
        #expect(try runCLI(["keys", "list", "--config", directory.configPath]).status == 0)
    }

    @Test("migrate refuses while a server holds the database")
    func migrateWhileServerRuns() throws {
        let directory = try configured()
        _ = try makeFile(at: directory.databasePath, older: true)
        let lock = try ServerLock(databasePath: directory.databasePath)
        let result = try runCLI(["migrate", "--config", directory.configPath])
        withExtendedLifetime(lock) {}
        #expect(result.status == 1)
        #expect(result.output.contains("another messagebridge server"), "\(result.output)")
    }
}
