import AsyncHTTPClient
import Foundation
import Synchronization
import Testing

@Suite("The real binary")
struct ProcessTests {
    @Test("kill -9 right after the 202s loses nothing: every acknowledged id arrives after restart")
    func crashSafety() async throws {
        let directory = TestDirectory()
        let destinationPort = try unusedPort()
        let serverPort = try unusedPort()
        try testConfigurationYAML(
            directory: directory, routes: [("/webhook/payment", "http://127.0.0.1:\(destinationPort)/in")],
            port: serverPort, initialBackoff: "100ms", maxBackoff: "500ms"
        ).write(toFile: directory.configPath, atomically: true, encoding: .utf8)
        try await withHTTPClient { client in
        let first = try ServerProcess(configPath: directory.configPath, port: serverPort, logPath: directory.path + "/server1.log")
        try await first.waitUntilLive(client: client)
        let acknowledged = await withTaskGroup(of: String?.self) { group in
            for index in 0..<200 {
                group.addTask { await postWebhook(client: client, port: serverPort, path: "/webhook/payment", body: #"{"n":\#(index)}"#) }
            }
            return await group.reduce(into: [String]()) { if let id = $1 { $0.append(id) } }
        }
        first.signal(SIGKILL)
        #expect(try await first.waitForExit() == SIGKILL)
        #expect(acknowledged.count == 200)

        let destination = TestDestination()
        let second = try ServerProcess(configPath: directory.configPath, port: serverPort, logPath: directory.path + "/server2.log")
        try await second.waitUntilLive(client: client)
        _ = try await destination.start(port: destinationPort)
        let allArrived = await eventually(timeout: .seconds(30)) { destination.receivedIDs.isSuperset(of: acknowledged) }
        #expect(allArrived, "missing \(Set(acknowledged).subtracting(destination.receivedIDs).count) of \(acknowledged.count)")
        second.signal(SIGTERM)
        #expect(try await second.waitForExit() == 0)
        await destination.stop()
        }
    }

    @Test("SIGTERM under load: in-flight requests finish, the process exits 0, and every acknowledged message is delivered")
    func gracefulShutdown() async throws {
        let directory = TestDirectory()
        let destination = TestDestination { _ in (.ok, [:], .milliseconds(30)) }
        let destinationPort = try await destination.start()
        let serverPort = try unusedPort()
        try testConfigurationYAML(
            directory: directory, routes: [("/hook", "http://127.0.0.1:\(destinationPort)/in")], port: serverPort
        ).write(toFile: directory.configPath, atomically: true, encoding: .utf8)
        try await withHTTPClient { client in
        let server = try ServerProcess(configPath: directory.configPath, port: serverPort, logPath: directory.path + "/server.log")
        try await server.waitUntilLive(client: client)
        let acknowledged = SharedIDs()
        let refusedAfterStop = SharedFlag()
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<16 {
                group.addTask {
                    for index in 0..<400 {
                        if let id = await postWebhook(client: client, port: serverPort, path: "/hook", body: #"{"w":\#(worker),"n":\#(index)}"#) {
                            acknowledged.append(id)
                        } else if refusedAfterStop.isSet {
                            return
                        }
                    }
                }
            }
            group.addTask {
                while acknowledged.count < 300 { try? await Task.sleep(for: .milliseconds(5)) }
                server.signal(SIGTERM)
                refusedAfterStop.set()
            }
        }
        #expect(try await server.waitForExit() == 0, "log: \(server.log.suffix(2000))")
        let ids = acknowledged.all
        #expect(ids.count >= 300)

        // Whatever was not delivered before the exit is delivered by the next run. A new client: the old one's
        // pool backs off after the refused connections of the shutdown.
        let restarted = try ServerProcess(configPath: directory.configPath, port: serverPort, logPath: directory.path + "/server2.log")
        try await withHTTPClient { client in try await restarted.waitUntilLive(client: client) }
        let allArrived = await eventually(timeout: .seconds(30)) { destination.receivedIDs.isSuperset(of: ids) }
        #expect(allArrived, "missing \(Set(ids).subtracting(destination.receivedIDs).count) of \(ids.count)")
        restarted.signal(SIGINT)
        #expect(try await restarted.waitForExit() == 0)
        await destination.stop()
        }
    }

    @Test("bad configurations exit 1 and name the key", arguments: [
        ("server:\n  port: 70000\nroutes:\n  - path: /a\n    destination: http://x/\n", "server.port"),
        ("routes:\n  - path: /a\n    destination: http://x/\nworker:\n  retry_interval: soon\n", "worker.retry_interval"),
        ("routes:\n  - path: /a\n    destination: http://x/\nworkers:\n  batch_size: 5\n", "workers"),
        ("routes:\n  - path: /a\n", "routes[0]"),
        ("routes:\n  - queue: events\n    destination: http://x/\n", "routes[0].path"),
        ("routes:\n  - path: /a\n    queue: t\n", "routes[0].queue"),
        ("routes:\n  - path: /a\n    destination: http://x/\nremote_url:\n  timeout: 5s\n", "remote_url.url"),
        ("routes:\n  - path: /a\n    destination: http://x/\nkafka:\n  brokers: []\n", "kafka.brokers"),
    ])
    func badConfiguration(yaml: String, key: String) throws {
        let directory = TestDirectory()
        try yaml.write(toFile: directory.configPath, atomically: true, encoding: .utf8)
        let checked = try runCLI(["check-config", directory.configPath])
        #expect(checked.status == 1)
        #expect(checked.output.contains(key), "output: \(checked.output)")
        let served = try runCLI(["serve", "--config", directory.configPath])
        #expect(served.status == 1)
        #expect(served.output.contains(key))
    }

    @Test("a good configuration passes check-config; init writes one that does")
    func initAndCheck() throws {
        let directory = TestDirectory()
        let written = try runCLI(["init", "--output", directory.configPath])
        #expect(written.status == 0)
        #expect(try runCLI(["check-config", directory.configPath]).status == 0)
        #expect(try runCLI(["init", "--output", directory.configPath]).status == 1, "init must not overwrite")
        #expect(try runCLI(["check-config", directory.path + "/missing.yaml"]).status == 1)
    }

    @Test("a port already in use stops the server with exit 2 and the reason, instead of leaving it running without a listener")
    func portInUse() async throws {
        let directory = TestDirectory()
        // Another listener on the port: the server's bind fails after every other component has started.
        let occupant = TestDestination()
        let port = try await occupant.start()
        try testConfigurationYAML(directory: directory, routes: [("/hook", "http://127.0.0.1:1/")], port: port)
            .write(toFile: directory.configPath, atomically: true, encoding: .utf8)
        let server = try ServerProcess(configPath: directory.configPath, port: port, logPath: directory.path + "/server.log")
        #expect(try await server.waitForExit(timeout: .seconds(15)) == 2)
        #expect(server.log.contains("Address already in use"), "log: \(server.log)")
        // The reason names the address and port (NIO's own error names neither).
        #expect(server.log.contains(":\(port): the address is already in use"), "log: \(server.log)")
        await occupant.stop()
    }

    @Test("a second server on the same database refuses to start with exit 1")
    func singleServerLock() async throws {
        let directory = TestDirectory()
        let serverPort = try unusedPort()
        try testConfigurationYAML(directory: directory, routes: [("/hook", "http://127.0.0.1:1/")], port: serverPort)
            .write(toFile: directory.configPath, atomically: true, encoding: .utf8)
        try await withHTTPClient { client in
        let first = try ServerProcess(configPath: directory.configPath, port: serverPort, logPath: directory.path + "/1.log")
        try await first.waitUntilLive(client: client)
        let second = try runCLI(["serve", "--config", directory.configPath])
        #expect(second.status == 1)
        #expect(second.output.contains("another messagebridge server"))
        let backup = try runCLI(["backup", "--config", directory.configPath, "--output", directory.path + "/backup.db"])
        #expect(backup.status == 0)
        #expect(FileManager.default.fileExists(atPath: directory.path + "/backup.db"))
        first.signal(SIGTERM)
        #expect(try await first.waitForExit() == 0)
        }
    }
}

/// Ids collected by concurrent senders.
final class SharedIDs: Sendable {
    private let ids = Mutex<[String]>([])
    func append(_ id: String) { ids.withLock { $0.append(id) } }
    var count: Int { ids.withLock { $0.count } }
    var all: [String] { ids.withLock { $0 } }
}

/// A flag set once by one task and read by others.
final class SharedFlag: Sendable {
    private let flag = Atomic(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}
