import Core
import Dispatch
import Foundation
import GRDB
import GRDBSQLite
import Synchronization

/// WAL checkpoints on a thread and connection of their own, instead of inside the commit that crosses SQLite's
/// auto-checkpoint threshold.
///
/// By default SQLite checkpoints on the connection that commits, right after the commit: every ~1 000 pages of WAL,
/// one commit (and every request waiting on the group commit behind it) also copies the WAL into the database file
/// and fsyncs it, tens of milliseconds on this kind of disk. Here the writer's auto-checkpoint is off and a WAL hook
/// on it (called after each commit with the WAL's size in pages) wakes this thread past the same threshold, which
/// runs a PASSIVE checkpoint on its own connection: it copies what no reader still needs while the writer goes on
/// appending, and never waits for (or blocks) the writer. Durability is the WAL's fsync at each commit, unchanged.
final class SQLiteCheckpointer: Sendable {
    /// WAL pages after which a checkpoint runs: SQLite's own auto-checkpoint default.
    static let thresholdPages: Int32 = 1000

    private let core: Core

    /// Starts the thread; its own connection to the WAL database at `path` opens with the first checkpoint.
    init(path: String) {
        core = Core(path: path)
        let core = self.core
        Thread {
            setCurrentThreadName("sqlite-checkpoint")
            core.run()
        }.start()
    }

    deinit {
        core.stop()
    }

    /// Moves `writer`'s checkpoints here: its auto-checkpoint off, and its commits wake this thread. Only on the
    /// writer's connection, once.
    func takeCheckpoints(of writer: Database) throws {
        try writer.execute(sql: "PRAGMA wal_autocheckpoint = 0")
        // The hook's context is retained for good: the pool (and so this connection) may outlive the checkpointer,
        // held by a store, and a commit then must find a live object (one small one per opened file).
        let context = Unmanaged.passRetained(core.requests).toOpaque()
        sqlite3_wal_hook(writer.sqliteConnection, { context, _, _, pages in
            if pages >= SQLiteCheckpointer.thresholdPages, let context {
                Unmanaged<Requests>.fromOpaque(context).takeUnretainedValue().request()
            }
            return SQLITE_OK
        }, context)
    }

    /// Checkpoints done and WAL frames copied, for tests.
    var counts: (checkpoints: Int, framesCopied: Int) { core.requests.counts }

    /// What the writer's commits ask of the thread, and what it did.
    private final class Requests: Sendable {
        private struct State {
            /// A checkpoint is asked for and not started yet: the thread has been (or is being) woken.
            var isRequested = false
            var isStopped = false
            var checkpoints = 0
            var framesCopied = 0
        }

        private let state = Mutex(State())
        private let wakeups = DispatchSemaphore(value: 0)

        /// From the writer's thread, inside its commit: sets a flag and, the first time since the last checkpoint
        /// began, wakes the thread.
        func request() {
            let wake = state.withLock { state in
                defer { state.isRequested = true }
                return !state.isRequested && !state.isStopped
            }
            if wake { wakeups.signal() }
        }

        func stop() {
            state.withLock { $0.isStopped = true }
            wakeups.signal()
        }

        /// Waits for a request; false once stopped.
        func next() -> Bool {
            wakeups.wait()
            return state.withLock { state in
                state.isRequested = false
                return !state.isStopped
            }
        }

        func done(copying frames: Int) {
            state.withLock { state in
                state.checkpoints += 1
                state.framesCopied += max(0, frames)
            }
        }

        var counts: (checkpoints: Int, framesCopied: Int) {
            state.withLock { ($0.checkpoints, $0.framesCopied) }
        }
    }

    private final class Core: Sendable {
        let requests = Requests()
        private let path: String

        init(path: String) {
            self.path = path
        }

        func stop() {
            requests.stop()
        }

        func run() {
            var connection: DatabaseQueue?
            while requests.next() {
                // A connection that cannot open, or a failed checkpoint (the file busy, an I/O error), leaves the WAL
                // as it is; the next commit past the threshold asks again.
                if connection == nil { connection = try? Self.open(path) }
                let copied = (try? connection?.writeWithoutTransaction { db in try db.checkpoint(.passive) })??.checkpointedFrameCount
                requests.done(copying: copied ?? 0)
            }
        }

        private static func open(_ path: String) throws -> DatabaseQueue {
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            configuration.label = "messagebridge-checkpoint"
            return try DatabaseQueue(path: path, configuration: configuration)
        }
    }
}
