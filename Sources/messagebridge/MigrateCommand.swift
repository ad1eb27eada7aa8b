import ArgumentParser
import Foundation
import Storage

/// `messagebridge migrate`: brings the database to this binary's schema, as `serve` does at start. The admin commands
/// never migrate; they refuse a file at another schema version and point here.
struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the database, or bring its schema up to this binary's version (serve does this too)."
    )

    @OptionGroup var config: ConfigOption

    func run() throws {
        let path = try config.load().sqlite.databasePath
        do {
            // Held while migrating, so no running server (of any version) has the file changed under it.
            let lock = try ServerLock(databasePath: path)
            let report = try withExtendedLifetime(lock) { try SQLiteDatabase.migrate(path: path) }
            print(report.description)
        } catch let error as ServerLockError {
            printError("\(error.message); stop it first (or let it migrate: `serve` migrates at start)")
            throw ExitCode(1)
        } catch let error as SQLiteSchemaError {
            printError(error.description)
            throw ExitCode(1)
        } catch {
            printError("cannot migrate the store at \(path): \(error)")
            throw ExitCode(1)
        }
    }
}

extension ConfigOption {
    /// Opens the configured database for an admin command (`messages`, `keys`, `backup`), which never creates or
    /// migrates it: a file that is missing or at another schema version than this binary's is refused with what to
    /// do, and exit 1.
    func openDatabase() throws -> SQLiteDatabase {
        let path = try load().sqlite.databasePath
        do {
            return try SQLiteDatabase.open(path: path, migrating: false)
        } catch let error as SQLiteSchemaError {
            printError(error.description)
            throw ExitCode(1)
        } catch {
            printError("cannot open the store at \(path): \(error)")
            throw ExitCode(1)
        }
    }
}
