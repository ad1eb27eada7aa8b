import App
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Storage
import Synchronization
import Testing

/// An app over a real SQLite file, with the key manager tests use to make keys in the same database, both on a
/// wall clock the test can move forward.
struct KeyedApp {
    let directory = TestDirectory()
    let clock = TestWallClock()
    let store: SQLiteMessageStore
    let keys: APIKeyManager
    let configuration: MessageBridgeConfiguration

    init(routes: [(path: String, destination: String)] = [("/hook", "http://127.0.0.1:1/")], extra: String = "") throws {
        var yaml = testConfigurationYAML(directory: directory, routes: routes, initialBackoff: "1h", maxBackoff: "1h")
        yaml += extra
        configuration = try writeConfiguration(yaml, to: directory)
        store = try SQLiteMessageStore(path: directory.databasePath)
        keys = APIKeyManager(store: SQLiteAPIKeyStore(database: store.database), clock: clock)
    }

    func build(metrics: AppMetrics? = nil) async throws -> some ApplicationProtocol {
        try await buildApplication(configuration: configuration, logger: quietLogger, store: store, metrics: metrics, clock: clock)
    }
}

/// A response's status and the code of its JSON error body, if any.
struct Answer: Equatable, CustomStringConvertible {
    var status: HTTPResponse.Status
    var code: String?

    init(_ status: HTTPResponse.Status, _ code: String? = nil) {
        self.status = status
        self.code = code
    }

    var description: String { "\(status.code) \(code ?? "-")" }
}

extension TestClientProtocol {
    /// A GET with an optional bearer key; returns the status and the error code of a JSON error body.
    func get(_ uri: String, key: String?) async throws -> Answer {
        try await execute(uri: uri, method: .get, headers: key.map(HTTPFields.bearer) ?? [:]) { response in
            Answer(response.status, (response.json["error"] as? [String: Any])?["code"] as? String)
        }
    }
}

@Suite("API key authentication")
struct APIKeyAuthTests {
    static let adminGET = "/api/v1/admin/messages"

    @Test("an admin key works; no key, a malformed header or an unknown key is 401 unauthorized JSON")
    func adminKeyAndUnauthorized() async throws {
        let fixture = try KeyedApp()
        let admin = try await fixture.keys.create(name: "ops", scope: .admin, expiresIn: nil)
        #expect(admin.secret.hasPrefix("mb_") && admin.secret.count >= 43)
        let app = try await fixture.build()
        try await app.test(.router) { client in
            #expect(try await client.get(Self.adminGET, key: admin.secret).status == .ok)
            let missing = try await client.execute(uri: Self.adminGET, method: .get) { $0 }
            #expect(missing.status == .unauthorized)
            #expect((missing.json["error"] as? [String: Any])?["code"] as? String == "unauthorized")
            #expect(missing.headers[.wwwAuthenticate] == "Bearer")
            #expect(try await client.get(Self.adminGET, key: admin.secret + "x") == Answer(.unauthorized, "unauthorized"))
            #expect(try await client.get(Self.adminGET, key: "mb_" + String(repeating: "A", count: 43)) == Answer(.unauthorized, "unauthorized"))
            let basic = try await client.execute(uri: Self.adminGET, method: .get, headers: [.authorization: "Basic \(admin.secret)"]) { $0.status }
            #expect(basic == .unauthorized)
        }
    }

    @Test("a read key may GET but not POST; an ingest key gets 403 forbidden on the admin API")
    func scopes() async throws {
        let fixture = try KeyedApp()
        let read = try await fixture.keys.create(name: "dashboard", scope: .read, expiresIn: nil)
        let ingest = try await fixture.keys.create(name: "provider", scope: .ingest, expiresIn: nil)
        let app = try await fixture.build()
        try await app.test(.router) { client in
            #expect(try await client.get(Self.adminGET, key: read.secret).status == .ok)
            #expect(try await client.get("/api/v1/admin/keys", key: read.secret).status == .ok)
            let post = try await client.execute(uri: "/api/v1/admin/messages/retry-failed", method: .post, headers: .bearer(read.secret)) { $0 }
            #expect(post.status == .forbidden)
            #expect((post.json["error"] as? [String: Any])?["code"] as? String == "forbidden")
            #expect(try await client.get(Self.adminGET, key: ingest.secret) == Answer(.forbidden, "forbidden"))
            let create = try await client.execute(
                uri: "/api/v1/admin/keys", method: .post, headers: .bearer(read.secret), body: ByteBuffer(string: #"{"name":"x"}"#)
            ) { $0.status }
            #expect(create == .forbidden)
        }
    }

    @Test("a key stops working when it expires")
    func expiry() async throws {
        let fixture = try KeyedApp()
        let app = try await fixture.build()
        try await app.test(.router) { client in
            let shortLived = try await fixture.keys.create(name: "temp", scope: .admin, expiresIn: .seconds(3600))
            #expect(try await client.get(Self.adminGET, key: shortLived.secret).status == .ok)
            fixture.clock.advance(by: .seconds(3600 + 1))
            #expect(try await client.get(Self.adminGET, key: shortLived.secret) == Answer(.unauthorized, "unauthorized"))
        }
        let listed = try #require(try await fixture.keys.list().first)
        #expect(listed.state(at: fixture.clock.now) == "expired")
    }

    @Test("create over HTTP shows the secret once; list never shows a secret or hash; revoke makes the key 401")
    func createListRevokeOverHTTP() async throws {
        let fixture = try KeyedApp()
        let admin = try await fixture.keys.create(name: "root", scope: .admin, expiresIn: nil)
        let app = try await fixture.build()
        try await app.test(.router) { client in
            let created = try await client.execute(
                uri: "/api/v1/admin/keys", method: .post, headers: .bearer(admin.secret),
                body: ByteBuffer(string: #"{"name":"ci","scope":"read","expires_in":"90d"}"#)
            ) { $0 }
            #expect(created.status == .created)
            let secret = try #require(created.json["secret"] as? String)
            let id = try #require(created.json["id"] as? String)
            #expect(created.json["scope"] as? String == "read")
            #expect(created.json["expires_at"] is String)
            #expect(try await client.get(Self.adminGET, key: secret).status == .ok)

            let listing = try await client.execute(uri: "/api/v1/admin/keys", method: .get, headers: .bearer(admin.secret)) { $0 }
            let text = String(buffer: listing.body)
            #expect(!text.contains(secret))
            #expect(!text.contains(admin.secret))
            #expect(!text.contains(admin.record.hash))
            #expect(!text.contains("\"secret\""))
            let keys = try #require(listing.json["keys"] as? [[String: Any]])
            #expect(Set(keys.compactMap { $0["id"] as? String }) == [id, admin.record.id])

            let bad = try await client.execute(
                uri: "/api/v1/admin/keys", method: .post, headers: .bearer(admin.secret),
                body: ByteBuffer(string: #"{"name":"x","scope":"superuser"}"#)
            ) { $0 }
            #expect(bad.status == .badRequest)
            #expect((bad.json["error"] as? [String: Any])?["code"] as? String == "invalid_scope")

            let revoked = try await client.execute(uri: "/api/v1/admin/keys/\(id)", method: .delete, headers: .bearer(admin.secret)) { $0 }
            #expect(revoked.status == .ok)
            #expect(revoked.json["status"] as? String == "revoked")
            #expect(try await client.get(Self.adminGET, key: secret) == Answer(.unauthorized, "unauthorized"))
            let again = try await client.execute(uri: "/api/v1/admin/keys/\(id)", method: .delete, headers: .bearer(admin.secret)) { $0.status }
            #expect(again == .conflict)
            let unknown = try await client.execute(uri: "/api/v1/admin/keys/key_nope", method: .delete, headers: .bearer(admin.secret)) { $0 }
            #expect(unknown.status == .notFound)
            #expect((unknown.json["error"] as? [String: Any])?["code"] as? String == "key_not_found")
        }
    }

    @Test("rotation: the new key works at once, the old one within the grace period and not after it")
    func rotation() async throws {
        let fixture = try KeyedApp()
        let admin = try await fixture.keys.create(name: "root", scope: .admin, expiresIn: nil)
        let worker = try await fixture.keys.create(name: "worker", scope: .read, expiresIn: .seconds(3600))
        let app = try await fixture.build()
        try await app.test(.router) { client in
            let rotated = try await client.execute(
                uri: "/api/v1/admin/keys/\(worker.record.displayPrefix)/rotate", method: .post, headers: .bearer(admin.secret),
                body: ByteBuffer(string: #"{"grace":"10m"}"#)
            ) { $0 }
            #expect(rotated.status == .created)
            let newSecret = try #require(rotated.json["secret"] as? String)
            #expect(newSecret != worker.secret)
            #expect(rotated.json["scope"] as? String == "read")
            #expect(rotated.json["name"] as? String == "worker")
            #expect(try await client.get(Self.adminGET, key: newSecret).status == .ok)
            #expect(try await client.get(Self.adminGET, key: worker.secret).status == .ok)
            // Past the grace period, well within the hour the new key inherited.
            fixture.clock.advance(by: .seconds(600 + 1))
            #expect(try await client.get(Self.adminGET, key: worker.secret) == Answer(.unauthorized, "unauthorized"))
            #expect(try await client.get(Self.adminGET, key: newSecret).status == .ok)
            // A key that was already rotated cannot be rotated again.
            let twice = try await client.execute(
                uri: "/api/v1/admin/keys/\(worker.record.id)/rotate", method: .post, headers: .bearer(admin.secret)
            ) { $0 }
            #expect(twice.status == .conflict)
            #expect((twice.json["error"] as? [String: Any])?["code"] as? String == "key_not_active")
        }
        let old = try #require(try await fixture.keys.store.key(id: worker.record.id))
        #expect(old.replacedBy != nil)
    }

    @Test("last_used_at is recorded on use, at most once a minute per key")
    func lastUsed() async throws {
        let fixture = try KeyedApp()
        let admin = try await fixture.keys.create(name: "root", scope: .admin, expiresIn: nil)
        #expect(admin.record.lastUsedAt == nil)
        let app = try await fixture.build()
        try await app.test(.router) { client in
            #expect(try await client.get(Self.adminGET, key: admin.secret).status == .ok)
            let first = try #require(try await fixture.keys.store.key(id: admin.record.id)?.lastUsedAt)
            try await Task.sleep(for: .milliseconds(50))
            for _ in 0..<3 { #expect(try await client.get(Self.adminGET, key: admin.secret).status == .ok) }
            #expect(try await fixture.keys.store.key(id: admin.record.id)?.lastUsedAt == first)
        }
    }

    @Test("a route with require_api_key takes ingest and admin keys, refuses others with 401/403")
    func protectedRoute() async throws {
        let fixture = try KeyedApp(routes: [("/open", "http://127.0.0.1:1/"), ("/secure", "http://127.0.0.1:1/")])
        // Mark the second route protected by rewriting the config text.
        var yaml = try String(contentsOfFile: fixture.directory.configPath, encoding: .utf8)
        yaml = yaml.replacingOccurrences(
            of: "  - path: \"/secure\"\n", with: "  - path: \"/secure\"\n    require_api_key: true\n"
        )
        let configuration = try writeConfiguration(yaml, to: fixture.directory)
        #expect(configuration.routes.map(\.requiresAPIKey) == [false, true])
        let ingest = try await fixture.keys.create(name: "provider", scope: .ingest, expiresIn: nil)
        let admin = try await fixture.keys.create(name: "root", scope: .admin, expiresIn: nil)
        let read = try await fixture.keys.create(name: "dash", scope: .read, expiresIn: nil)
        let app = try await buildApplication(configuration: configuration, logger: quietLogger, store: fixture.store)
        try await app.test(.router) { client in
            #expect(try await client.postWebhook("/open", body: "{}").status == .accepted)
            let none = try await client.postWebhook("/secure", body: "{}")
            #expect(none.status == .unauthorized)
            #expect((none.json["error"] as? [String: Any])?["code"] as? String == "unauthorized")
            var headers: HTTPFields = [.contentType: "application/json"]
            headers[.authorization] = "Bearer \(ingest.secret)"
            #expect(try await client.postWebhook("/secure", body: "{}", headers: headers).status == .accepted)
            headers[.authorization] = "Bearer \(admin.secret)"
            #expect(try await client.postWebhook("/secure", body: "{}", headers: headers).status == .accepted)
            headers[.authorization] = "Bearer \(read.secret)"
            #expect(try await client.postWebhook("/secure", body: "{}", headers: headers).status == .forbidden)
        }
        let secureCount = try await fixture.store.messages(matching: MessageQuery(limit: 100)).filter { $0.message.route == "/secure" }.count
        #expect(secureCount == 2)
    }

    @Test("keys expiring within 7 days are logged as warnings; others are not")
    func expiryWarnings() async throws {
        let fixture = try KeyedApp()
        _ = try await fixture.keys.create(name: "soon", scope: .admin, expiresIn: .seconds(3 * 86_400))
        _ = try await fixture.keys.create(name: "later", scope: .admin, expiresIn: .seconds(30 * 86_400))
        _ = try await fixture.keys.create(name: "never", scope: .admin, expiresIn: nil)
        let expiring = try await fixture.keys.keysExpiringSoon(within: .seconds(7 * 86_400))
        #expect(expiring.map(\.name) == ["soon"])
        let captured = CapturedLogs()
        let logger = Logger(label: "expiry-test") { _ in captured.handler }
        let service = APIKeyExpiryWarningService(keys: fixture.keys, logger: logger)
        #expect(await service.warn() == 1)
        let lines = captured.entries
        #expect(lines.count == 1)
        #expect(lines.first?.level == .warning)
        #expect(lines.first?.message == "API key expires soon")
        #expect(lines.first?.metadata["key_name"] == "soon")
    }
}

/// Log lines kept in memory, to assert on what a component logged.
final class CapturedLogs: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let storage = Mutex<[Entry]>([])
    var entries: [Entry] { storage.withLock { $0 } }

    var handler: Handler { Handler(logs: self) }

    struct Handler: LogHandler {
        let logs: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
            logs.storage.withLock {
                $0.append(Entry(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
            }
        }
    }
}
