import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive advisory lock beside the database file, held by `messagebridge serve` for its whole life.
///
/// SQLite mode is single-node: holding the lock proves no other server delivers from this file, so leases left
/// by a crashed predecessor can be released at start-up instead of waiting for them to expire.
public final class ServerLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock for the database at `databasePath`, or throws if another server holds it.
    public init(databasePath: String) throws {
        let lockPath = databasePath + ".lock"
        do {
            try Self.createDirectory(containing: databasePath)
        } catch {
            throw ServerLockError(message: "cannot create the directory of \(databasePath): \(error.localizedDescription)")
        }
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ServerLockError(message: "cannot open \(lockPath): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw ServerLockError(message: "another messagebridge server is using \(databasePath)")
        }
        self.descriptor = descriptor
    }

    /// Creates the directory that will hold the database file at `path` (and its lock file), if it is missing.
    static func createDirectory(containing path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}

/// The database is in use by another server, or its lock file cannot be opened.
public struct ServerLockError: Error, CustomStringConvertible {
    /// What went wrong.
    public var message: String
    /// The message.
    public var description: String { message }
}
