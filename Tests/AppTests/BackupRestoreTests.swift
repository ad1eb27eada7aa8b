import App
import AsyncHTTPClient
import Foundation
import GRDB
import HummingbirdTesting
import Storage
import Synchronization
import Testing

/// Webhooks posted until told to stop, and the ids of those acknowledged.
final class IngestLoad: Sendable {
    let ids = Mutex<[String]>([])
    let stop = Atomic(false)
    let attempts = Atomic(0)
}

@Suite("Backups and restore")
struct BackupRestoreTests {
    @Test("a backup taken under ingest load, restored, holds every message acknowledged before it began; restore refuses a running server and bad files, and keeps the replaced file")
    func backupUnderLoadAndRestore() async throws {
        let directory = TestDirectory()
        let port = try unusedPort()
        let destination = try unusedPort()
        try testConfigurationYAML(directory: directory, routes: [("/webhook/orders", "http://127.0.0.1:\(destination)/")], port: port, initialBackoff: "1h", maxBackoff: "1h")
            .write(toFile: directory.configPath, atomically: true, encoding: .utf8)
        let config = ["--config", directory.configPath]
        let backupPath = directory.path + "/backup.db"
        try await withHTTPClient { client in
            let server = try ServerProcess(configPath: directory.configPath, port: port, logPath: directory.path + "/server.log")
            try await server.waitUntilLive(client: client)
            let load = IngestLoad()
            let running = Task {
                await withTaskGroup(of: Void.self) { group in
                    for worker in 0..<8 {
                        group.addTask {
                            var index = 0
                            while !load.stop.load(ordering: .relaxed) {
                                if let id = await postWebhook(client: client, port: port, path: "/webhook/orders", body: #"{"worker":\#(worker),"n":\#(index)}"#) {
                                    load.ids.withLock { $0.append(id) }
                                }
                                index += 1
                                load.attempts.add(1, ordering: .relaxed)
                            }
                        }
                    }
                }
            }
            #expect(await eventually(timeout: .seconds(60)) { load.ids.withLock { $0.count } >= 200 }, "\(load.ids.withLock { $0.count }) acknowledged, \(load.attempts.load(ordering: .relaxed)) posted")
            let beforeBackup = Set(load.ids.withLock { $0 })
            let backup = try runCLI(["backup", "--output", backupPath] + config)
            #expect(backup.status == 0, "\(backup.output)")
            // The load goes on after the backup, then stops.
            let atBackup = load.ids.withLock { $0.count }
            #expect(await eventually(timeout: .seconds(60)) { load.ids.withLock { $0.count } >= atBackup + 50 })
            load.stop.store(true, ordering: .relaxed)
            await running.value

            let whileRunning = try runCLI(["restore", backupPath] + config)
            #expect(whileRunning.status == 1 && whileRunning.output.contains("another messagebridge server"), "\(whileRunning.output)")
            server.signal(SIGTERM)
            #expect(try await server.waitForExit() == 0)

            let verified = try runCLI(["backup", "--verify", backupPath] + config)
            #expect(verified.status == 0 && verified.output.contains("OK") && verified.output.contains("integrity check passed"), "\(verified.output)")
            let garbage = directory.path + "/garbage.db"
            try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: garbage))
            let refused = try runCLI(["backup", "--verify", garbage] + config)
            #expect(refused.status == 1, "\(refused.output)")
            #expect(try runCLI(["restore", garbage] + config).status == 1)
            #expect(try runCLI(["restore", directory.path + "/missing.db"] + config).output.contains("no such file"))

            let restored = try runCLI(["restore", backupPath] + config)
            #expect(restored.status == 0, "\(restored.output)")
            let replaced = try #require(restored.output.firstMatch(of: /kept as (\S+)/).map { String($0.1) })
            #expect(FileManager.default.fileExists(atPath: replaced))
            let ids = try await DatabaseQueue(path: directory.databasePath).read { db in try Set(String.fetchAll(db, sql: "SELECT id FROM messages")) }
            #expect(beforeBackup.isSubset(of: ids), "\(beforeBackup.subtracting(ids).count) acknowledged before the backup are missing")
            #expect(ids.count < load.ids.withLock { $0.count }, "the restored file is the backup, not the later database")

            // The restored database serves again.
            let again = try ServerProcess(configPath: directory.configPath, port: port, logPath: directory.path + "/server2.log")
            try await again.waitUntilLive(client: client)
            again.signal(SIGTERM)
            #expect(try await again.waitForExit() == 0)
        }
    }

    @Test("scheduled backups: written every interval, the oldest beyond keep removed, each counted in /metrics; every one verifies")
    func scheduledBackups() async throws {
        let directory = TestDirectory()
        let backups = directory.path + "/backups"
        let yaml = testConfigurationYAML(directory: directory, routes: [("/hook", "http://127.0.0.1:1/")])
            + "\nbackup:\n  interval: 1s\n  directory: \"\(backups)\"\n  keep: 2\n"
        let configuration = try writeConfiguration(yaml, to: directory)
        let store = try SQLiteMessageStore(path: directory.databasePath)
        let app = try await buildApplication(configuration: configuration, logger: quietLogger, store: store, metrics: TestMetrics.makeAppMetrics())
        try await app.test(.live) { client in
            @Sendable func files() -> [String] {
                ((try? FileManager.default.contentsOfDirectory(atPath: backups)) ?? []).filter { $0.hasSuffix(".db") && !$0.hasPrefix(".") }.sorted()
            }
            @Sendable func successes() async throws -> Double {
                let samples = try parsePrometheusText(String(buffer: try await client.call(.get, "/metrics").body))
                return samples.first { $0.name == "messagebridge_backups_total" && $0.labels == ["outcome": "success"] }?.value ?? 0
            }
            let before = try await successes()
            #expect(await eventually(timeout: .seconds(30)) { (try await successes()) >= before + 3 })
            #expect(files().count == 2, "\(files())")
            // The schema a new file gets: this binary's.
            let current = try SQLiteDatabase.migrate(path: directory.path + "/current.db").after
            for file in files() {
                #expect(try SQLiteDatabase.verifyBackup(at: "\(backups)/\(file)").schema == current)
            }
            let samples = try parsePrometheusText(String(buffer: try await client.call(.get, "/metrics").body))
            let last = samples.first { $0.name == "messagebridge_backup_last_success_timestamp_seconds" }?.value ?? 0
            #expect(abs(last - Date().timeIntervalSince1970) < 60)
        }
    }
}
