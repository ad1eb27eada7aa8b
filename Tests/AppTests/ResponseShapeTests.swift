import App
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Storage
import Testing

/// The JSON shapes clients and scripts read: which keys are always there, which are `null` when unset and which
/// are left out, for the admin API, the ops documents and the command line's `messages list --json` / `show`.
@Suite("Response shapes")
struct ResponseShapeTests {
    static let acceptedAt = Date(timeIntervalSince1970: 1_736_937_000)  // 2025-01-15T10:30:00Z

    static func stored(body: [UInt8], complete: Bool) -> StoredMessage {
        StoredMessage(
            message: NewMessage(
                id: MessageID(rawValue: "0194a1b2c3d4e5f60718293a4b5c6d7e"),
                route: "/webhook/orders",
                destination: .http(url: "https://user:secret@example.com/in/hook?token=abc"),
                body: body,
                headers: [
                    MessageHeader(name: "Content-Type", value: "application/json"),
                    MessageHeader(name: "Authorization", value: "Bearer abc"),
                    MessageHeader(name: "X-Signature", value: "sha256=00ff"),
                ],
                acceptedAt: acceptedAt
            ),
            status: complete ? .delivered : .pending,
            attemptCount: complete ? 2 : 0,
            attemptsSinceRetry: complete ? 2 : 0,
            nextAttemptAt: complete ? acceptedAt.addingTimeInterval(30) : nil,
            lastError: complete ? "HTTP 503 from https://example.com/in/hook" : nil,
            lastStatusCode: complete ? 503 : nil,
            deliveredAt: complete ? acceptedAt.addingTimeInterval(61) : nil,
            updatedAt: acceptedAt.addingTimeInterval(61)
        )
    }

    static let attempts = [
        DeliveryAttempt(
            number: 1, finishedAt: acceptedAt.addingTimeInterval(1), outcome: .retryable, statusCode: 503,
            error: "HTTP 503 from https://example.com/in/hook", durationSeconds: 0.25
        ),
        DeliveryAttempt(number: 2, finishedAt: acceptedAt.addingTimeInterval(61), outcome: .delivered, statusCode: nil, error: nil, durationSeconds: 2),
    ]

    @Test("messages list --json: one sorted line per message; keys of unset values are left out")
    func summaryLines() {
        #expect(MessageJSON.summary(Self.stored(body: Array("{}".utf8), complete: false)) == #"{"accepted_at":"2025-01-15T10:30:00Z","attempts":0,"body_bytes":2,"destination":"http:https://redacted@example.com/in/hook?redacted","message_id":"0194a1b2c3d4e5f60718293a4b5c6d7e","route":"/webhook/orders","status":"pending","updated_at":"2025-01-15T10:31:01Z"}"#)
        #expect(MessageJSON.summary(Self.stored(body: Array("{}".utf8), complete: true)) == #"{"accepted_at":"2025-01-15T10:30:00Z","attempts":2,"body_bytes":2,"delivered_at":"2025-01-15T10:31:01Z","destination":"http:https://redacted@example.com/in/hook?redacted","last_error":"HTTP 503 from https://example.com/in/hook","last_status_code":503,"message_id":"0194a1b2c3d4e5f60718293a4b5c6d7e","next_attempt_at":"2025-01-15T10:30:30Z","route":"/webhook/orders","status":"delivered","updated_at":"2025-01-15T10:31:01Z"}"#)
    }

    @Test("messages show: pretty, sorted, credentials redacted, body as text or base64, attempts without unset keys")
    func detailDocument() {
        let credentials = CredentialHeaders(signatureHeaders: ["X-Signature"], forwarded: [])
        let text = MessageJSON.detail(Self.stored(body: Array(#"{"n":"é/ü"}"#.utf8), complete: true), attempts: Self.attempts, credentials: credentials)
        #expect(text == """
            {
              "accepted_at" : "2025-01-15T10:30:00Z",
              "attempts" : [
                {
                  "duration_seconds" : 0.25,
                  "error" : "HTTP 503 from https://example.com/in/hook",
                  "finished_at" : "2025-01-15T10:30:01Z",
                  "number" : 1,
                  "outcome" : "retryable",
                  "status_code" : 503
                },
                {
                  "duration_seconds" : 2,
                  "finished_at" : "2025-01-15T10:31:01Z",
                  "number" : 2,
                  "outcome" : "delivered"
                }
              ],
              "body" : "{\\"n\\":\\"é/ü\\"}",
              "body_bytes" : 13,
              "delivered_at" : "2025-01-15T10:31:01Z",
              "destination" : "http:https://redacted@example.com/in/hook?redacted",
              "headers" : [
                {
                  "name" : "Content-Type",
                  "value" : "application/json"
                },
                {
                  "name" : "Authorization",
                  "value" : "[redacted]"
                },
                {
                  "name" : "X-Signature",
                  "value" : "[redacted]"
                }
              ],
              "last_error" : "HTTP 503 from https://example.com/in/hook",
              "last_status_code" : 503,
              "message_id" : "0194a1b2c3d4e5f60718293a4b5c6d7e",
              "next_attempt_at" : "2025-01-15T10:30:30Z",
              "route" : "/webhook/orders",
              "status" : "delivered",
              "updated_at" : "2025-01-15T10:31:01Z"
            }
            """)

        let binary = MessageJSON.detail(Self.stored(body: [0xff, 0x00, 0x10], complete: false), attempts: [])
        #expect(binary == """
            {
              "accepted_at" : "2025-01-15T10:30:00Z",
              "attempts" : [

              ],
              "body_base64" : "/wAQ",
              "body_bytes" : 3,
              "destination" : "http:https://redacted@example.com/in/hook?redacted",
              "headers" : [
                {
                  "name" : "Content-Type",
                  "value" : "application/json"
                },
                {
                  "name" : "Authorization",
                  "value" : "[redacted]"
                },
                {
                  "name" : "X-Signature",
                  "value" : "sha256=00ff"
                }
              ],
              "message_id" : "0194a1b2c3d4e5f60718293a4b5c6d7e",
              "route" : "/webhook/orders",
              "status" : "pending",
              "updated_at" : "2025-01-15T10:31:01Z"
            }
            """)
    }

    /// The body as JSON, keeping `null` apart from an absent key.
    static func object(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    @Test("API keys: expires_at, last_used_at and revoked_at are null when unset; replaced_by, secret and old_key_valid_until only when they apply")
    func keyShapes() async throws {
        let fixture = try KeyedApp()
        let admin = try await fixture.keys.create(name: "root", scope: .admin, expiresIn: nil)
        let auth = HTTPFields.bearer(admin.secret)
        let app = try await fixture.build()
        try await app.test(.router) { client in
            let always: Set<String> = ["id", "name", "scope", "prefix", "status", "created_at", "expires_at", "last_used_at", "revoked_at"]

            let created = try await client.execute(
                uri: "/api/v1/admin/keys", method: .post, headers: auth, body: ByteBuffer(string: #"{"name":"ci","scope":"read"}"#)
            ) { $0 }
            #expect(created.status == .created)
            #expect(created.headers[.contentType] == "application/json; charset=utf-8")
            let key = try Self.object(created)
            #expect(Set(key.keys) == always.union(["secret"]))
            #expect(key["expires_at"] is NSNull && key["last_used_at"] is NSNull && key["revoked_at"] is NSNull)
            #expect(key["scope"] as? String == "read" && key["status"] as? String == "active" && key["secret"] is String)
            let id = try #require(key["id"] as? String)

            let expiring = try Self.object(try await client.execute(
                uri: "/api/v1/admin/keys", method: .post, headers: auth, body: ByteBuffer(string: #"{"name":"tmp","expires_in":"1h"}"#)
            ) { $0 })
            #expect(expiring["expires_at"] is String)

            let rotated = try await client.execute(
                uri: "/api/v1/admin/keys/\(id)/rotate", method: .post, headers: auth, body: ByteBuffer(string: #"{"grace":"1h"}"#)
            ) { $0 }
            #expect(rotated.status == .created)
            let replacement = try Self.object(rotated)
            #expect(Set(replacement.keys) == always.union(["secret", "old_key_valid_until"]))
            #expect(replacement["old_key_valid_until"] is String)

            let listed = try await client.execute(uri: "/api/v1/admin/keys", method: .get, headers: auth) { $0 }
            #expect(listed.status == .ok)
            let body = try Self.object(listed)
            #expect(Set(body.keys) == ["keys"])
            let keys = try #require(body["keys"] as? [[String: Any]])
            #expect(keys.count == 4)
            for listedKey in keys {
                let replaced = listedKey["id"] as? String == id
                #expect(Set(listedKey.keys) == (replaced ? always.union(["replaced_by"]) : always), "\(listedKey)")
                #expect(listedKey["last_used_at"] is NSNull || listedKey["id"] as? String == admin.record.id)
            }
            let old = try #require(keys.first { $0["id"] as? String == id })
            #expect(old["replaced_by"] as? String == replacement["id"] as? String)

            let revoked = try await client.execute(uri: "/api/v1/admin/keys/\(id)", method: .delete, headers: auth) { $0 }
            #expect(revoked.status == .ok)
            let revokedKey = try Self.object(revoked)
            #expect(Set(revokedKey.keys) == always.union(["replaced_by"]))
            #expect(revokedKey["revoked_at"] is String && revokedKey["status"] as? String == "revoked")
        }
    }

    @Test("admin messages: the listed summary is the command line's; next_before only on a full page; retry answers")
    func messageShapes() async throws {
        let fixture = try KeyedApp()
        let admin = try await fixture.keys.create(name: "root", scope: .admin, expiresIn: nil)
        let auth = HTTPFields.bearer(admin.secret)
        let app = try await fixture.build()
        try await app.test(.router) { client in
            let accepted = try await client.postWebhook("/hook", body: #"{"a":"b/c"}"#)
            let id = try #require(accepted.json["message_id"] as? String)
            // The first attempt meets a closed port; the message then waits an hour, so what is read below holds still.
            #expect(await eventually { try await fixture.store.message(id: MessageID(rawValue: id))?.status == .retrying })
            let stored = try #require(try await fixture.store.message(id: MessageID(rawValue: id)))
            let attempts = try await fixture.store.attempts(messageID: MessageID(rawValue: id))
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(MessageJSON.summary(stored).utf8)) as? NSDictionary)

            let page = try Self.object(try await client.execute(uri: "/api/v1/admin/messages", method: .get, headers: auth) { $0 })
            #expect(Set(page.keys) == ["messages", "count"])
            #expect(page["count"] as? Int == 1)
            let listed = try #require((page["messages"] as? [[String: Any]])?.first)
            #expect(NSDictionary(dictionary: listed) == summary)

            let full = try Self.object(try await client.execute(uri: "/api/v1/admin/messages?limit=1", method: .get, headers: auth) { $0 })
            #expect(Set(full.keys) == ["messages", "count", "next_before"])
            #expect(full["next_before"] as? String == id)

            let shown = try await client.execute(uri: "/api/v1/admin/messages/\(id)", method: .get, headers: auth) { $0 }
            #expect(shown.status == .ok)
            #expect(shown.headers[.contentType] == "application/json; charset=utf-8")
            let detail = try Self.object(shown)
            let cli = try #require(try JSONSerialization.jsonObject(with: Data(MessageJSON.detail(stored, attempts: attempts).utf8)) as? NSDictionary)
            #expect(NSDictionary(dictionary: detail) == cli)
            let detailKeys = Set((summary.allKeys as? [String]) ?? []).union(["headers", "body", "attempts"])
            #expect(Set(detail.keys) == detailKeys)
            #expect(detail["body"] as? String == #"{"a":"b/c"}"#)
            let headers = try #require(detail["headers"] as? [[String: Any]])
            #expect(!headers.isEmpty && headers.allSatisfy { Set($0.keys) == ["name", "value"] })
            let attempt = try #require((detail["attempts"] as? [[String: Any]])?.first)
            #expect(Set(attempt.keys) == ["number", "finished_at", "outcome", "duration_seconds", "error"])
            #expect(attempt["duration_seconds"] is Double)

            let retryFailed = try await client.execute(uri: "/api/v1/admin/messages/retry-failed", method: .post, headers: auth) { $0 }
            #expect(retryFailed.status == .ok)
            #expect(String(buffer: retryFailed.body) == #"{"retried":0}"#)
        }
    }

    @Test("a failed message: shown as the command line shows it, attempts included; retrying answers its id and pending")
    func failedMessageShapes() async throws {
        let fixture = try KeyedApp()
        let admin = try await fixture.keys.create(name: "root", scope: .admin, expiresIn: nil)
        let auth = HTTPFields.bearer(admin.secret)
        let app = try await fixture.build()
        try await app.test(.router) { client in
            let accepted = try await client.postWebhook("/hook", body: "{}")
            let id = try #require(accepted.json["message_id"] as? String)
            let messageID = MessageID(rawValue: id)
            #expect(await eventually { try await fixture.store.message(id: messageID)?.status == .retrying })
            // Failed through the store, as a delivery refused with a 400 leaves it (two hours on, past the backoff).
            let later = Date().addingTimeInterval(7200)
            let claimed = try await fixture.store.claimDue(owner: "shape-test", now: later, leaseUntil: later.addingTimeInterval(60), limit: 10)
            #expect(claimed.map(\.message.id) == [messageID])
            try await fixture.store.complete([DeliveryCompletion(
                messageID: messageID, owner: "shape-test", change: .failed,
                attempt: DeliveryAttempt(number: 1, finishedAt: later, outcome: .failed, statusCode: 400, error: "HTTP 400", durationSeconds: 0.5)
            )], now: later)

            let stored = try #require(try await fixture.store.message(id: messageID))
            let attempts = try await fixture.store.attempts(messageID: messageID)
            let cli = try #require(try JSONSerialization.jsonObject(with: Data(MessageJSON.detail(stored, attempts: attempts).utf8)) as? NSDictionary)
            let shown = try await client.execute(uri: "/api/v1/admin/messages/\(id)", method: .get, headers: auth) { $0 }
            #expect(shown.status == .ok)
            let detail = try Self.object(shown)
            #expect(NSDictionary(dictionary: detail) == cli)
            #expect(detail["last_status_code"] as? Int == 400 && detail["last_error"] is String && detail["delivered_at"] == nil)
            let attempt = try #require((detail["attempts"] as? [[String: Any]])?.last)
            #expect(Set(attempt.keys) == ["number", "finished_at", "outcome", "duration_seconds", "status_code", "error"])

            let retry = try await client.execute(uri: "/api/v1/admin/messages/\(id)/retry", method: .post, headers: auth) { $0 }
            #expect(retry.status == .ok)
            #expect(String(buffer: retry.body) == #"{"message_id":"\#(id)","status":"pending"}"#)
        }
    }

    @Test("health and status: fixed bodies, absent optional keys, and null kafka and oldest age on an empty store")
    func opsShapes() async throws {
        let directory = TestDirectory()
        let (app, _) = try await makeTestApp(
            testConfigurationYAML(directory: directory, routes: [("/hook", "http://user:pw@127.0.0.1:1/in?token=x")]),
            directory: directory
        )
        try await app.test(.router) { client in
            let live = try await client.execute(uri: "/health/live", method: .get) { $0 }
            #expect(live.status == .ok)
            #expect(live.headers[.contentType] == "application/json; charset=utf-8")
            #expect(String(buffer: live.body) == #"{"status":"alive"}"#)

            let ready = try await client.execute(uri: "/health/ready", method: .get) { $0 }
            #expect(ready.status == .ok)
            #expect(String(buffer: ready.body) == #"{"status":"ready"}"#)

            let health = try await client.execute(uri: "/health", method: .get) { $0 }
            #expect(health.status == .ok)
            let body = try Self.object(health)
            #expect(Set(body.keys) == ["status", "version", "components"])
            #expect(body["status"] as? String == "healthy" && body["version"] as? String == MessageBridgeVersion.current)
            let components = try #require(body["components"] as? [String: Any])
            #expect(Set(components.keys) == ["store", "destinations"])
            #expect(components["store"] as? [String: String] == ["status": "up"])
            let destinations = try #require(components["destinations"] as? [String: Any])
            #expect(Set(destinations.keys) == ["http:http://redacted@127.0.0.1:1/in?redacted"])
            let destination = try #require(destinations.values.first as? [String: Any])
            #expect(Set(destination.keys) == ["status", "consecutive_failures"])
            #expect(destination["status"] as? String == "ok" && destination["consecutive_failures"] as? Int == 0)

            let status = try await client.execute(uri: "/status", method: .get) { $0 }
            #expect(status.status == .ok)
            let document = try Self.object(status)
            #expect(Set(document.keys) == [
                "version", "node_id", "started_at", "uptime_seconds", "routes", "messages", "oldest_pending_age_seconds",
                "destinations", "circuit_breakers", "kafka",
            ])
            #expect(document["kafka"] is NSNull && document["oldest_pending_age_seconds"] is NSNull)
            #expect(document["uptime_seconds"] is Int && document["started_at"] is String && document["node_id"] is String)
            #expect(document["routes"] as? [[String: String]] == [["path": "/hook", "destination": "http:http://redacted@127.0.0.1:1/in?redacted"]])
            #expect(document["messages"] as? [String: Int] == Dictionary(uniqueKeysWithValues: MessageStatus.allCases.map { ($0.rawValue, 0) }))
            #expect(document["circuit_breakers"] is [String: Any])
            #expect(Set((document["destinations"] as? [String: Any] ?? [:]).keys) == ["http:http://redacted@127.0.0.1:1/in?redacted"])

            _ = try await client.postWebhook("/hook", body: "{}")
            let after = try Self.object(try await client.execute(uri: "/status", method: .get) { $0 })
            #expect(after["oldest_pending_age_seconds"] is Double)
            #expect((after["messages"] as? [String: Int])?.values.reduce(0, +) == 1)
        }
    }
}
