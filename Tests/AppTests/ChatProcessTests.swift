import AsyncHTTPClient
import Foundation
import HummingbirdWSClient
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// Chat durability with the real binary: every acknowledged message is replayed from the event log after a
/// graceful restart and after `kill -9`.
@Suite("Chat and the real binary")
struct ChatProcessTests {
    /// Registers `username` over HTTP and returns its access token.
    static func register(_ username: String, client: HTTPClient, port: Int) async throws -> String {
        let json = try await call(client, port: port, .POST, "/api/v1/auth/register", token: nil,
                                  body: #"{"username":"\#(username)","email":"\#(username)@example.com","password":"correct horse"}"#)
        return try #require(json["access_token"] as? String)
    }

    static func call(_ client: HTTPClient, port: Int, _ method: HTTPMethod, _ path: String, token: String?, body: String?) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .seconds(10))
        let data = try await response.body.collect(upTo: 1 << 20)
        return (try? JSONSerialization.jsonObject(with: Data(data.readableBytesView))) as? [String: Any] ?? [:]
    }

    /// Connects with `since=0` and collects `message.created` ids until `expected` have arrived (or 30 s pass).
    static func replayedMessageIDs(port: Int, token: String, expected: Int) async throws -> [Int64] {
        let ids = Mutex<[Int64]>([])
        _ = try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/ws?token=\(token)&since=0", logger: quietLogger) { inbound, outbound, _ in
            let deadline = ContinuousClock.now + .seconds(30)
            for try await message in inbound.messages(maxSize: 1 << 20) {
                guard case .text(let text) = message,
                      let event = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                      event["type"] as? String == "message.created",
                      let id = ((event["data"] as? [String: Any])?["id"] as? NSNumber)?.int64Value
                else { continue }
                let count = ids.withLock { $0.append(id); return $0.count }
                if count >= expected || ContinuousClock.now > deadline { break }
            }
            try await outbound.close(.normalClosure, reason: nil)
        }
        return ids.withLock { $0 }
    }

    @Test("after a graceful restart and after kill -9, since=0 replays every acknowledged message in order")
    func replayAcrossRestarts() async throws {
        let directory = TestDirectory()
        let port = try unusedPort()
        try (testConfigurationYAML(directory: directory, routes: [("/hook", "http://127.0.0.1:1/")], port: port)
            + "\nauth:\n  bcrypt_cost: 4\n")
            .write(toFile: directory.configPath, atomically: true, encoding: .utf8)
        try await withHTTPClient { client in
            let first = try ServerProcess(configPath: directory.configPath, port: port, logPath: directory.path + "/server1.log")
            try await first.waitUntilLive(client: client)
            let token = try await Self.register("ann", client: client, port: port)
            let room = try #require((try await Self.call(client, port: port, .POST, "/api/v1/rooms", token: token, body: #"{"name":"den"}"#)["id"] as? NSNumber)?.int64Value)
            func sendMany(_ label: String, count: Int) async -> [Int64] {
                await withTaskGroup(of: Int64?.self) { group in
                    for index in 0..<count {
                        group.addTask {
                            let json = try? await Self.call(client, port: port, .POST, "/api/v1/rooms/\(room)/messages", token: token,
                                                            body: #"{"content":"\#(label) \#(index)","client_id":"\#(label)-\#(index)"}"#)
                            return (json?["id"] as? NSNumber)?.int64Value
                        }
                    }
                    return await group.reduce(into: [Int64]()) { if let id = $1 { $0.append(id) } }.sorted()
                }
            }
            let beforeRestart = await sendMany("a", count: 100)
            #expect(beforeRestart.count == 100)
            // A socket open at shutdown is told to go away (1001) before the server exits.
            let open = try await RawConnection.connect(port: port)
            try await open.sendWebSocketUpgrade(path: "/ws?token=\(token)")
            #expect(await open.waitForResponse { $0.contains("\"type\":\"ready\"") })
            first.signal(SIGTERM)
            #expect(await open.waitForResponse { _ in
                WebSocketFrames(open.receivedBytes).frames.contains { $0.opcode == 0x8 && $0.closeCode == 1001 }
            })
            #expect(try await first.waitForExit() == 0)
            await open.close()

            let second = try ServerProcess(configPath: directory.configPath, port: port, logPath: directory.path + "/server2.log")
            try await second.waitUntilLive(client: client)
            // The token signed before the restart still works: the generated key is kept in the database.
            let afterRestart = await sendMany("b", count: 100)
            #expect(afterRestart.count == 100)
            second.signal(SIGKILL)
            #expect(try await second.waitForExit() == SIGKILL)

            let third = try ServerProcess(configPath: directory.configPath, port: port, logPath: directory.path + "/server3.log")
            try await third.waitUntilLive(client: client)
            let acknowledged = beforeRestart + afterRestart
            let replayed = try await Self.replayedMessageIDs(port: port, token: token, expected: acknowledged.count)
            #expect(replayed == acknowledged, "replayed \(replayed.count) of \(acknowledged.count)")
            third.signal(SIGTERM)
            #expect(try await third.waitForExit() == 0)
        }
    }
}
