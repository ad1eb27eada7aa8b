import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import Testing

/// Event webhooks with the real binary: `messagebridge endpoints` on the store, and `kill -9` with deliveries in
/// flight and pending loses none.
@Suite("Event webhooks and the real binary")
struct EventWebhookProcessTests {
    @Test("messagebridge endpoints: create prints the secret once, bad input exits 1 naming the problem, list, disable, enable, rotate-secret, delete")
    func command() throws {
        let directory = TestDirectory()
        try (testConfigurationYAML(directory: directory, routes: [("/hook", "http://127.0.0.1:1/")])
            + "\nwebhooks:\n  allow_networks: 127.0.0.0/8\n")
            .write(toFile: directory.configPath, atomically: true, encoding: .utf8)
        let config = ["--config", directory.configPath]
        #expect(try runCLI(["migrate"] + config).status == 0)

        let created = try runCLI(["endpoints", "create", "--url", "http://127.0.0.1:9/in", "--events", "message.*,webhook.failed", "--header", "X-Team: ops"] + config)
        #expect(created.status == 0, "\(created.output)")
        #expect(created.output.contains("\"secret\" : \"whsec_"), "\(created.output)")
        let id = try #require(created.output.firstMatch(of: /"id" : "(ep_[0-9a-f]{24})"/).map { String($0.1) })

        for (arguments, named) in [
            (["--url", "ftp://127.0.0.1/"], "invalid_url"),
            (["--url", "http://10.0.0.1/"], "10.0.0.0/8"),
            (["--url", "http://127.0.0.1:9/", "--events", "message.sent"], "unknown_event_type"),
            (["--url", "http://127.0.0.1:9/", "--secret", "whsec_dG9vc2hvcnQ="], "invalid_secret"),
        ] {
            let refused = try runCLI(["endpoints", "create"] + arguments + config)
            #expect(refused.status == 1, "\(arguments): \(refused.output)")
            #expect(refused.output.contains(named), "\(arguments): \(refused.output)")
        }
        let listed = try runCLI(["endpoints", "list"] + config)
        #expect(listed.output.contains(id) && listed.output.contains("message.*,webhook.failed"), "\(listed.output)")
        #expect(!listed.output.contains("whsec_"))
        #expect(listed.output.split(separator: "\n").count == 2, "a refused create stored nothing: \(listed.output)")

        let disabled = try runCLI(["endpoints", "disable", id] + config)
        #expect(disabled.output.contains("\"enabled\" : false"), "\(disabled.output)")
        #expect(try runCLI(["endpoints", "enable", id] + config).output.contains("\"enabled\" : true"))
        let rotated = try runCLI(["endpoints", "rotate-secret", id, "--grace", "1h"] + config)
        #expect(rotated.status == 0 && rotated.output.contains("whsec_") && rotated.output.contains("previous_secret_expires_at"), "\(rotated.output)")
        let updated = try runCLI(["endpoints", "update", id, "--description", "audit"] + config)
        #expect(updated.output.contains("\"description\" : \"audit\""), "\(updated.output)")
        #expect(try runCLI(["endpoints", "delete", id] + config).status == 0)
        let missing = try runCLI(["endpoints", "show", id] + config)
        #expect(missing.status == 1 && missing.output.contains("endpoint_not_found"), "\(missing.output)")
    }

    @Test("kill -9 with deliveries in flight and pending: after the restart every event reaches the endpoint")
    func killNineLosesNone() async throws {
        let gate = Gate()
        let receiver = TestDestination { _ in await gate.wait(); return (.ok, [:], .zero) }
        let receiverPort = try await receiver.start()
        defer { Task { gate.open(); await receiver.stop() } }
        let directory = TestDirectory()
        let port = try unusedPort()
        try (testConfigurationYAML(directory: directory, routes: [("/hook", "http://127.0.0.1:1/")], port: port)
            + "\nauth:\n  bcrypt_cost: 4\nwebhooks:\n  allow_networks: [127.0.0.0/8]\n  poll_interval: 50ms\n  max_in_flight_per_endpoint: 4\n")
            .write(toFile: directory.configPath, atomically: true, encoding: .utf8)
        let config = ["--config", directory.configPath]
        #expect(try runCLI(["migrate"] + config).status == 0)
        let created = try runCLI(["endpoints", "create", "--url", "http://127.0.0.1:\(receiverPort)/events", "--events", "message.created"] + config)
        #expect(created.status == 0, "\(created.output)")

        try await withHTTPClient { client in
            let first = try ServerProcess(configPath: directory.configPath, port: port, logPath: directory.path + "/server1.log")
            try await first.waitUntilLive(client: client)
            let token = try await ChatProcessTests.register("ann", client: client, port: port)
            let room = try #require((try await ChatProcessTests.call(client, port: port, .POST, "/api/v1/rooms", token: token, body: #"{"name":"den"}"#)["id"] as? NSNumber)?.int64Value)
            var acknowledged: Set<Int64> = []
            for index in 0..<40 {
                let json = try await ChatProcessTests.call(client, port: port, .POST, "/api/v1/rooms/\(room)/messages", token: token, body: #"{"content":"m\#(index)"}"#)
                if let id = (json["id"] as? NSNumber)?.int64Value { acknowledged.insert(id) }
            }
            #expect(acknowledged.count == 40)
            let expected = acknowledged
            // Four requests hang in the receiver (the in-flight cap); the other 36 wait as pending deliveries.
            #expect(await eventually { receiver.requests.count == 4 })
            first.signal(SIGKILL)
            #expect(try await first.waitForExit() == SIGKILL)
            let beforeRestart = receiver.requests.count
            gate.open()

            let second = try ServerProcess(configPath: directory.configPath, port: port, logPath: directory.path + "/server2.log")
            try await second.waitUntilLive(client: client)
            @Sendable func deliveredIDs() -> Set<Int64> {
                Set(receiver.requests.dropFirst(beforeRestart).compactMap { request in
                    ((SpecVerifier.body(request)["data"] as? [String: Any])?["id"] as? NSNumber)?.int64Value
                })
            }
            #expect(await eventually(timeout: .seconds(30)) { deliveredIDs() == expected }, "\(deliveredIDs().count) of 40 after the restart")
            second.signal(SIGTERM)
            #expect(try await second.waitForExit() == 0)
        }
    }
}
