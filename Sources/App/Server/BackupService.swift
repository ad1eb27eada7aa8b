import Core
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import Storage

/// Scheduled online backups (`backup.interval`): every interval a consistent copy of the whole database goes to
/// `backup.directory` as `messagebridge-<time>.db`, written beside the running server (SQLite's online backup;
/// writers are not stopped), fsync'd and renamed into place; the oldest beyond `backup.keep` are removed. Each
/// outcome is logged and counted (`messagebridge_backups_total{outcome}`, and
/// `messagebridge_backup_last_success_timestamp_seconds`).
struct BackupService: Service {
    let database: SQLiteDatabase
    let interval: Duration
    let directory: String
    let keep: Int
    let metrics: AppMetrics
    let clock: any WallClock
    let logger: Logger

    init(settings: BackupSettings, interval: Duration, database: SQLiteDatabase, metrics: AppMetrics, clock: any WallClock, logger: Logger) {
        self.database = database
        self.interval = interval
        let databaseDirectory = (database.path as NSString).deletingLastPathComponent
        self.directory = settings.directory ?? (databaseDirectory.isEmpty ? "." : databaseDirectory) + "/backups"
        self.keep = settings.keep
        self.metrics = metrics
        self.clock = clock
        self.logger = logger
    }

    func run() async throws {
        logger.info("scheduled backups on", metadata: ["interval": "\(interval)", "directory": "\(directory)", "keep": "\(keep)"])
        while true {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            await backUp()
        }
    }

    /// One backup, off the cooperative pool (SQLite's backup API blocks while it copies).
    func backUp() async {
        let started = ContinuousClock.now
        let now = clock.now
        do {
            let path = try await NIOThreadPool.singleton.runIfActive { [database, directory, keep] in
                try database.writeScheduledBackup(into: directory, keep: keep, now: now)
            }
            metrics.backupsSucceeded.increment()
            metrics.lastBackupSuccess.set(now.timeIntervalSince1970)
            logger.info("backup written", metadata: ["path": "\(path)", "duration": "\(ContinuousClock.now - started)"])
        } catch {
            metrics.backupsFailed.increment()
            logger.error("backup failed", metadata: ["directory": "\(directory)", "error": "\(error)"])
        }
    }
}
