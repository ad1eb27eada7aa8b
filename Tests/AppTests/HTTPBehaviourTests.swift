import App
import Core
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Storage
import Testing

@Suite("HTTP behaviour")
struct HTTPBehaviourTests {
    func makeApp(directory: TestDirectory, store: SQLiteMessageStore, maxBodyBytes: Int? = nil) async throws -> some ApplicationProtocol {
        let configuration = try writeConfiguration(
            testConfigurationYAML(directory: directory, routes: [("/hook", "http://127.0.0.1:1/")], initialBackoff: "1h", maxBackoff: "1h", maxBodyBytes: maxBodyBytes),
            to: directory
        )
        return try await buildApplication(configuration: configuration, logger: quietLogger, store: store)
    }

    @Test("unknown paths are 404 JSON, wrong methods 405 with Allow, and every response has a request id")
    func routingErrors() async throws {
        let directory = TestDirectory()
        let store = try SQLiteMessageStore(path: directory.databasePath)
        let app = try await makeApp(directory: directory, store: store)
        try await app.test(.router) { client in
            let missing = try await client.execute(uri: "/nope", method: .post) { $0 }
            #expect(missing.status == .notFound)
            #expect((missing.json["error"] as? [String: Any])?["code"] as? String == "not_found")
            #expect(missing.headers[HTTPField.Name("X-Request-ID")!]?.isEmpty == false)
            let wrong = try await client.execute(uri: "/hook", method: .get) { $0 }
            #expect(wrong.status == .methodNotAllowed)
            #expect(wrong.headers[.allow] == "POST")
            #expect((wrong.json["error"] as? [String: Any])?["code"] as? String == "method_not_allowed")
        }
        #expect(try await store.statusCounts().values.reduce(0, +) == 0)
    }

    @Test("bodies over max_body_bytes get 413 and store nothing")
    func payloadTooLarge() async throws {
        let directory = TestDirectory()
        let store = try SQLiteMessageStore(path: directory.databasePath)
        let app = try await makeApp(directory: directory, store: store, maxBodyBytes: 1024)
        try await app.test(.live) { client in
            let big = String(repeating: "x", count: 4096)
            let response = try await client.postWebhook("/hook", body: big)
            #expect(response.status == .contentTooLarge)
            #expect((response.json["error"] as? [String: Any])?["code"] as? String == "payload_too_large")
            let fits = try await client.postWebhook("/hook", body: String(repeating: "y", count: 1024))
            #expect(fits.status == .accepted)
        }
        #expect(try await store.statusCounts().values.reduce(0, +) == 1)
    }

    @Test("a chunked body over the limit is 413 and broken chunk framing is 400, never 500; nothing is stored")
    func malformedBodies() async throws {
        let directory = TestDirectory()
        let store = try SQLiteMessageStore(path: directory.databasePath)
        let app = try await makeApp(directory: directory, store: store, maxBodyBytes: 1024)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let chunk = String(repeating: "a", count: 2048)
            let tooLarge = await rawHTTPExchange(port: port, Array((
                "POST /hook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n\(chunk)\r\n0\r\n\r\n"
            ).utf8))
            #expect(tooLarge.hasPrefix("HTTP/1.1 413"), "answer: \(tooLarge.prefix(200))")
            let broken = await rawHTTPExchange(port: port, Array(
                "POST /hook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n".utf8
            ))
            #expect(broken.hasPrefix("HTTP/1.1 400"), "answer: \(broken.prefix(200))")
            #expect(try await client.execute(uri: "/health/live", method: .get) { $0.status } == .ok)
        }
        #expect(try await store.statusCounts().values.reduce(0, +) == 0)
    }

    @Test("an unwritable store answers 503, never 202, and stores nothing; health reports it")
    func storeUnwritable() async throws {
        let directory = TestDirectory()
        let store = try SQLiteMessageStore(path: directory.databasePath)
        let app = try await makeApp(directory: directory, store: store)
        try await app.test(.live) { client in
            #expect(try await client.execute(uri: "/health/ready", method: .get) { $0.status } == .ok)
            // Cap the file at its current size: the next page SQLite needs fails with SQLITE_FULL, as on a full disk.
            try await store.writer.writeWithoutTransaction { db in
                let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
                try db.execute(sql: "PRAGMA max_page_count = \(pages)")
            }
            let body = String(repeating: "z", count: 64 * 1024)
            for _ in 0..<5 {
                let response = try await client.postWebhook("/hook", body: body)
                #expect(response.status == .serviceUnavailable)
                #expect((response.json["error"] as? [String: Any])?["code"] as? String == "store_unavailable")
            }
            #expect(try await store.statusCounts().values.reduce(0, +) == 0)
        }
    }

    @Test("health, liveness, readiness and status report real state")
    func opsEndpoints() async throws {
        let directory = TestDirectory()
        let store = try SQLiteMessageStore(path: directory.databasePath)
        let app = try await makeApp(directory: directory, store: store)
        try await app.test(.live) { client in
            let live = try await client.execute(uri: "/health/live", method: .get) { $0 }
            #expect(live.status == .ok)
            let health = try await client.execute(uri: "/health", method: .get) { $0 }
            #expect(health.status == .ok)
            #expect(((health.json["components"] as? [String: Any])?["store"] as? [String: Any])?["status"] as? String == "up")
            _ = try await client.postWebhook("/hook", body: "{}")
            #expect(await eventually { try await store.statusCounts()[.retrying] == 1 })
            let degraded = try await client.execute(uri: "/health", method: .get) { $0 }
            #expect(degraded.json["status"] as? String == "degraded")
            let status = try await client.execute(uri: "/status", method: .get) { $0 }
            #expect(status.status == .ok)
            let json = status.json
            #expect(json["version"] as? String == MessageBridgeVersion.current)
            #expect((json["messages"] as? [String: Any])?["retrying"] as? Int == 1)
            #expect((json["routes"] as? [[String: Any]])?.first?["path"] as? String == "/hook")
            #expect((json["oldest_pending_age_seconds"] as? Double).map { $0 >= 0 } == true)
            #expect(json["uptime_seconds"] is Int)
        }
    }
}
