import Core
import Foundation
import GRDB
@testable import Storage
import Testing

/// Files at other schema versions than this binary's, made the way older and newer binaries leave them.
enum SchemaFixture {
    static var migrations: [String] { SQLiteSchema.migrator.migrations }
    /// "version N (identifier)" for this binary's newest migration.
    static var current: String { "version \(migrations.count) (\(migrations[migrations.count - 1]))" }
    /// The same for the migration before it.
    static var previous: String { "version \(migrations.count - 1) (\(migrations[migrations.count - 2]))" }

    /// A WAL file migrated only up to the migration before this binary's newest, as an older binary leaves it.
    static func makeOlderFile(at path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true
        )
        let pool = try DatabasePool(path: path)
        try SQLiteSchema.migrator.migrate(pool, upTo: migrations[migrations.count - 2])
        try pool.close()
    }

    /// A file with every migration of this binary and one it does not know, as a newer binary leaves it.
    static func makeNewerFile(at path: String, unknown: String = "v99-from-a-newer-binary") throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true
        )
        let pool = try DatabasePool(path: path)
        try SQLiteSchema.migrator.migrate(pool)
        try pool.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [unknown])
        }
        try pool.close()
    }

    static func appliedIdentifiers(at path: String) throws -> Set<String> {
        try DatabaseQueue(path: path).read { db in try SQLiteSchema.migrator.appliedIdentifiers(db) }
    }
}

@Suite("SQLite schema versions: only serve and migrate migrate")
struct SQLiteSchemaVersionTests {
    func refusal(_ path: String) throws -> SQLiteSchemaError {
        do {
            _ = try SQLiteDatabase.open(path: path, migrating: false)
        } catch let error as SQLiteSchemaError {
            return error
        }
        Issue.record("opened \(path) without migrating")
        throw CancellationError()
    }

    @Test("an older file is refused without migrating, naming both versions and what to do, and is left unchanged")
    func olderRefused() throws {
        let database = TemporaryDatabase()
        try SchemaFixture.makeOlderFile(at: database.path)
        let before = try Data(contentsOf: URL(fileURLWithPath: database.path))

        let error = try refusal(database.path)
        #expect(error.reason == .older)
        #expect(error.description.contains(SchemaFixture.previous), "\(error)")
        #expect(error.description.contains(SchemaFixture.current), "\(error)")
        #expect(error.description.contains("messagebridge migrate"), "\(error)")
        #expect(error.description.contains(database.path))

        #expect(try Data(contentsOf: URL(fileURLWithPath: database.path)) == before)
        #expect(try SchemaFixture.appliedIdentifiers(at: database.path) == Set(SchemaFixture.migrations.dropLast()))
    }

    @Test("a file migrated by a newer binary is refused, naming the unknown migration; migrate and serve refuse it too")
    func newerRefused() throws {
        let database = TemporaryDatabase()
        try SchemaFixture.makeNewerFile(at: database.path, unknown: "v99-from-a-newer-binary")

        let error = try refusal(database.path)
        #expect(error.reason == .newer)
        #expect(error.description.contains("v99-from-a-newer-binary"), "\(error)")
        #expect(error.description.contains(SchemaFixture.current), "\(error)")
        #expect(throws: SQLiteSchemaError.self) { try SQLiteDatabase.migrate(path: database.path) }
        // serve (which opens migrating) refuses it as well.
        #expect(throws: SQLiteSchemaError.self) { try SQLiteDatabase.open(path: database.path, migrating: true) }
        #expect(try SchemaFixture.appliedIdentifiers(at: database.path).count == SchemaFixture.migrations.count + 1)
    }

    @Test("a missing file is refused and not created; an empty one is refused and stays empty")
    func missingAndEmpty() throws {
        let database = TemporaryDatabase()
        #expect(try refusal(database.path).reason == .missing)
        #expect(!FileManager.default.fileExists(atPath: database.path))

        try FileManager.default.createDirectory(atPath: database.directory, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: database.path, contents: Data()))
        let error = try refusal(database.path)
        #expect(error.reason == .noSchema)
        #expect(error.description.contains("messagebridge migrate"))
        #expect(try FileManager.default.attributesOfItem(atPath: database.path)[.size] as? Int == 0)
    }

    @Test("migrate brings an older file up to date; it then opens without migrating, with full durability")
    func migrateOlder() async throws {
        let database = TemporaryDatabase()
        try SchemaFixture.makeOlderFile(at: database.path)

        let report = try SQLiteDatabase.migrate(path: database.path)
        #expect(report.applied == [SchemaFixture.migrations[SchemaFixture.migrations.count - 1]])
        #expect(report.description.contains("from schema \(SchemaFixture.previous) to \(SchemaFixture.current)"), "\(report)")
        #expect(try SchemaFixture.appliedIdentifiers(at: database.path) == Set(SchemaFixture.migrations))

        let opened = try SQLiteDatabase.open(path: database.path, migrating: false)
        #expect(try await opened.synchronousMode() == 2)
        let store = SQLiteMessageStore(database: opened)
        _ = try await store.insertReportingDuplicates([IngestRecord(message: makeMessage(), initialState: .pending)])
        #expect(try await store.messages(matching: MessageQuery(limit: 10)).count == 1)

        #expect(try SQLiteDatabase.migrate(path: database.path).description.contains("already at schema \(SchemaFixture.current)"))
    }

    @Test("migrate creates a new file at this binary's schema")
    func migrateNew() throws {
        let database = TemporaryDatabase()
        let report = try SQLiteDatabase.migrate(path: database.path)
        #expect(report.description == "created \(database.path) at schema \(SchemaFixture.current)")
        #expect(try SchemaFixture.appliedIdentifiers(at: database.path) == Set(SchemaFixture.migrations))
    }
}
