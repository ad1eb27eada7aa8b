import App
import Core
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Storage
import Synchronization
import Testing

/// The Standard Webhooks spec, implemented here from its text and not from the server's code: the signed content
/// is `id.timestamp.body`; `v1,` is base64 HMAC-SHA256 keyed with the base64 after `whsec_`; `v1a,` is base64
/// Ed25519 checked with the key after `whpk_`; several signatures are separated by spaces.
enum SpecVerifier {
    static func signedContent(_ request: TestDestination.Received) -> Data? {
        guard let id = request.headers[HTTPField.Name("webhook-id")!],
              let timestamp = request.headers[HTTPField.Name("webhook-timestamp")!]
        else { return nil }
        return Data("\(id).\(timestamp).".utf8) + Data(request.body)
    }

    static func signatures(_ request: TestDestination.Received) -> [Substring] {
        (request.headers[HTTPField.Name("webhook-signature")!] ?? "").split(separator: " ")
    }

    /// How many of the request's `v1,` signatures `secret` (`whsec_…`) produced.
    static func validHMACSignatures(_ request: TestDestination.Received, secret: String) -> Int {
        guard secret.hasPrefix("whsec_"), let key = Data(base64Encoded: String(secret.dropFirst(6))),
              let content = signedContent(request)
        else { return 0 }
        let expected = "v1," + Data(HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: key))).base64EncodedString()
        return signatures(request).filter { $0 == expected }.count
    }

    /// Whether one of the request's `v1a,` signatures verifies with `publicKey` (`whpk_…`).
    static func validEd25519Signature(_ request: TestDestination.Received, publicKey: String) -> Bool {
        guard publicKey.hasPrefix("whpk_"), let raw = Data(base64Encoded: String(publicKey.dropFirst(5))),
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw), let content = signedContent(request)
        else { return false }
        return signatures(request).contains { signature in
            guard signature.hasPrefix("v1a,"), let bytes = Data(base64Encoded: String(signature.dropFirst(4))) else { return false }
            return key.isValidSignature(bytes, for: content)
        }
    }

    static func body(_ request: TestDestination.Received) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any] ?? [:]
    }
}

/// A chat server whose event webhooks may go to loopback, with a test clock and an admin key.
struct EventWebhookApp {
    let chat: ChatApp
    let adminKey: String

    init(webhooks: String = "", allowLoopback: Bool = true) async throws {
        var section = "\nwebhooks:\n  poll_interval: 50ms\n"
        if allowLoopback { section += "  allow_networks: [\"127.0.0.0/8\", \"::1/128\"]\n" }
        section += webhooks
        chat = try ChatApp(extra: section)
        adminKey = try await chat.keys.create(name: "admin", scope: .admin, expiresIn: nil).secret
    }

    var admin: HTTPFields { [.authorization: "Bearer \(adminKey)", .contentType: "application/json"] }
}

extension TestClientProtocol {
    /// Creates an endpoint and returns the answer's JSON (with its `secret`).
    func createEndpoint(_ body: String, admin: HTTPFields) async throws -> [String: Any] {
        let response = try await call(.post, "/api/v1/admin/endpoints", headers: admin, body: body)
        #expect(response.status == .created, "\(String(buffer: response.body))")
        return response.json
    }

    func deliveries(of endpoint: String, admin: HTTPFields, status: String? = nil) async throws -> [[String: Any]] {
        let query = status.map { "?status=\($0)" } ?? ""
        let response = try await call(.get, "/api/v1/admin/endpoints/\(endpoint)/deliveries\(query)", headers: admin)
        return response.json["deliveries"] as? [[String: Any]] ?? []
    }
}

@Suite("Event webhooks")
struct EventWebhookTests {
    @Test("endpoints: create, list, show, update, disable, enable, delete; bad input is a 400 naming the field and stores nothing")
    func endpointLifecycleAndBadInput() async throws {
        let fixture = try await EventWebhookApp()
        try await fixture.chat.build().test(.live) { client in
            let admin = fixture.admin
            let created = try await client.createEndpoint(
                #"{"url":"http://127.0.0.1:9/in","description":"audit","events":["message.*","webhook.failed"],"rooms":[1],"headers":{"X-Team":"ops"},"rate_limit":50}"#,
                admin: admin
            )
            let id = try #require(created["id"] as? String)
            let secret = try #require(created["secret"] as? String)
            #expect(id.hasPrefix("ep_") && secret.hasPrefix("whsec_"))
            #expect(Data(base64Encoded: String(secret.dropFirst(6)))?.count == 32)
            #expect(created["events"] as? [String] == ["message.*", "webhook.failed"])
            #expect(created["headers"] as? [String: String] == ["X-Team": "********"])

            let bad: [(String, String, String)] = [
                (#"{"url":"ftp://127.0.0.1/x"}"#, "invalid_url", "http"),
                (#"{"url":"not a url"}"#, "invalid_url", "url"),
                (#"{"description":"no url"}"#, "missing_field", "url"),
                (#"{"url":"http://127.0.0.1:9/","events":["message.sent"]}"#, "unknown_event_type", "events[0]"),
                (#"{"url":"http://127.0.0.1:9/","events":"message.created"}"#, "invalid_field", "events"),
                (#"{"url":"http://127.0.0.1:9/","rooms":[0]}"#, "invalid_field", "rooms"),
                (#"{"url":"http://127.0.0.1:9/","routes":["hook"]}"#, "invalid_field", "routes"),
                (#"{"url":"http://127.0.0.1:9/","secret":"whsec_c2hvcnQ="}"#, "invalid_secret", "got 5"),
                (#"{"url":"http://127.0.0.1:9/","secret":"whsec_!!notbase64!!"}"#, "invalid_secret", "base64"),
                (#"{"url":"http://127.0.0.1:9/","secret":"plain-secret-that-is-long-enough-0123456789"}"#, "invalid_secret", "whsec_"),
                (#"{"url":"http://127.0.0.1:9/","headers":{"webhook-signature":"x"}}"#, "invalid_field", "webhook-signature"),
                (#"{"url":"http://127.0.0.1:9/","headers":{"X-A":"line\nbreak"}}"#, "invalid_field", "X-A"),
                (#"{"url":"http://127.0.0.1:9/","rate_limit":0}"#, "invalid_field", "rate_limit"),
                (#"{"url":"http://127.0.0.1:9/","signing":"rsa"}"#, "invalid_field", "signing"),
                (#"{"url":"http://127.0.0.1:9/","colour":"blue"}"#, "unknown_field", "colour"),
                ("[1,2]", "invalid_json", "object"),
            ]
            for (body, code, named) in bad {
                let response = try await client.call(.post, "/api/v1/admin/endpoints", headers: admin, body: body)
                let error = response.json["error"] as? [String: Any]
                #expect(response.status == .badRequest, "\(body)")
                #expect(error?["code"] as? String == code, "\(body): \(String(buffer: response.body))")
                #expect((error?["message"] as? String)?.contains(named) == true, "\(body): \(String(buffer: response.body))")
            }
            let listed = try await client.call(.get, "/api/v1/admin/endpoints", headers: admin).json["endpoints"] as? [[String: Any]] ?? []
            #expect(listed.count == 1, "a refused create stored nothing")
            #expect(listed.first?["secret"] == nil, "a listing never shows a secret")

            let updated = try await client.call(.patch, "/api/v1/admin/endpoints/\(id)", headers: admin, body: #"{"description":"audit log","rate_limit":null,"events":[]}"#)
            #expect(updated.status == .ok)
            #expect(updated.json["description"] as? String == "audit log")
            #expect(updated.json["rate_limit"] == nil)
            #expect(updated.json["events"] as? [String] == [])
            let refused = try await client.call(.patch, "/api/v1/admin/endpoints/\(id)", headers: admin, body: #"{"url":"gopher://x"}"#)
            #expect(refused.status == .badRequest)
            #expect(try await client.call(.get, "/api/v1/admin/endpoints/\(id)", headers: admin).json["url"] as? String == "http://127.0.0.1:9/in")

            let disabled = try await client.call(.post, "/api/v1/admin/endpoints/\(id)/disable", headers: admin)
            #expect(disabled.json["enabled"] as? Bool == false)
            #expect(disabled.json["disabled_reason"] as? String == "disabled by an administrator")
            let replayWhileDisabled = try await client.call(.post, "/api/v1/admin/endpoints/\(id)/replay", headers: admin, body: #"{"since":"2026-01-01T00:00:00Z"}"#)
            #expect(replayWhileDisabled.status == .conflict)
            let enabled = try await client.call(.post, "/api/v1/admin/endpoints/\(id)/enable", headers: admin)
            #expect(enabled.json["enabled"] as? Bool == true)
            let badReplay = try await client.call(.post, "/api/v1/admin/endpoints/\(id)/replay", headers: admin, body: #"{"since":"yesterday"}"#)
            #expect(badReplay.status == .badRequest)
            // Any RFC 3339 offset is a time. One held delivery: the endpoint (now on every event) was disabled, and
            // its own endpoint.disabled event was held for it.
            let offsetReplay = try await client.call(.post, "/api/v1/admin/endpoints/\(id)/replay", headers: admin, body: #"{"since":"2026-01-01T02:00:00.5+02:00"}"#)
            #expect(offsetReplay.status == .ok && offsetReplay.json["requeued"] as? Int == 1, "\(String(buffer: offsetReplay.body))")
            #expect(RFC3339.date(from: "2026-01-01T02:00:00+02:00") == RFC3339.date(from: "2026-01-01T00:00:00Z"))
            #expect(RFC3339.date(from: "2026-01-01t00:00:00-01:30")?.timeIntervalSince(RFC3339.date(from: "2026-01-01T00:00:00Z")!) == 5400)

            let readKey = try await fixture.chat.keys.create(name: "reader", scope: .read, expiresIn: nil).secret
            let reader: HTTPFields = [.authorization: "Bearer \(readKey)", .contentType: "application/json"]
            #expect(try await client.call(.get, "/api/v1/admin/endpoints", headers: reader).status == .ok)
            #expect(try await client.call(.post, "/api/v1/admin/endpoints", headers: reader, body: #"{"url":"http://127.0.0.1:9/"}"#).status == .forbidden)
            #expect(try await client.call(.get, "/api/v1/admin/endpoints").status == .unauthorized)

            #expect(try await client.call(.delete, "/api/v1/admin/endpoints/\(id)", headers: admin).status == .noContent)
            #expect(try await client.call(.get, "/api/v1/admin/endpoints/\(id)", headers: admin).status == .notFound)
            #expect(try await client.call(.delete, "/api/v1/admin/endpoints/\(id)", headers: admin).status == .notFound)
        }
    }

    @Test("every request verifies with an independent implementation of the spec; a rotation yields two valid signatures; ed25519 signs v1a")
    func signaturesAndRotation() async throws {
        let receiver = TestDestination()
        let port = try await receiver.start()
        let signedReceiver = TestDestination()
        let signedPort = try await signedReceiver.start()
        defer { Task { await receiver.stop(); await signedReceiver.stop() } }
        let fixture = try await EventWebhookApp()
        try await fixture.chat.build().test(.live) { client in
            let admin = fixture.admin
            let hmac = try await client.createEndpoint(#"{"url":"http://127.0.0.1:\#(port)/events","events":["message.created"]}"#, admin: admin)
            let firstSecret = try #require(hmac["secret"] as? String)
            let endpointID = try #require(hmac["id"] as? String)
            let ed25519 = try await client.createEndpoint(#"{"url":"http://127.0.0.1:\#(signedPort)/events","events":["message.*"],"signing":"ed25519"}"#, admin: admin)
            let publicKey = try #require(ed25519["public_key"] as? String)
            #expect(publicKey.hasPrefix("whpk_") && (ed25519["secret"] as? String)?.hasPrefix("whsk_") == true)

            let ann = try await client.register("ann")
            let room = try await client.createRoom("den", as: ann)
            let sent = try await client.send("hello receivers", to: room, as: ann)
            #expect(await eventually { receiver.requests.count == 1 && signedReceiver.requests.count == 1 })
            let first = try #require(receiver.requests.first)
            #expect(SpecVerifier.validHMACSignatures(first, secret: firstSecret) == 1)
            #expect(SpecVerifier.signatures(first).count == 1)
            #expect(first.headers[.contentType] == "application/json")
            let timestamp = try #require(first.headers[HTTPField.Name("webhook-timestamp")!].flatMap { Int64($0) })
            #expect(abs(Double(timestamp) - fixture.chat.clock.now.timeIntervalSince1970) < 60)
            #expect(first.headers[HTTPField.Name("webhook-id")!]?.hasPrefix("evt_") == true)
            let body = SpecVerifier.body(first)
            #expect(body["type"] as? String == "message.created")
            #expect(body["timestamp"] is String)
            let data = try #require(body["data"] as? [String: Any])
            #expect(data["content"] as? String == "hello receivers")
            #expect((data["id"] as? NSNumber)?.int64Value == (sent["id"] as? NSNumber)?.int64Value)
            #expect(SpecVerifier.validEd25519Signature(try #require(signedReceiver.requests.first), publicKey: publicKey))
            // A tampered body fails the same check: the verifier is not vacuous.
            var tampered = first
            tampered.body = Array(#"{"type":"message.created"}"#.utf8)
            #expect(SpecVerifier.validHMACSignatures(tampered, secret: firstSecret) == 0)

            let rotated = try await client.call(.post, "/api/v1/admin/endpoints/\(endpointID)/rotate-secret", headers: admin, body: #"{"grace":"1h"}"#)
            #expect(rotated.status == .ok)
            let secondSecret = try #require(rotated.json["secret"] as? String)
            #expect(secondSecret != firstSecret && rotated.json["previous_secret_expires_at"] is String)
            try await client.send("after the rotation", to: room, as: ann)
            #expect(await eventually { receiver.requests.count == 2 })
            let during = receiver.requests[1]
            #expect(SpecVerifier.signatures(during).count == 2)
            #expect(SpecVerifier.validHMACSignatures(during, secret: firstSecret) == 1)
            #expect(SpecVerifier.validHMACSignatures(during, secret: secondSecret) == 1)

            // Past the grace period only the new secret signs (a new account: ann's access token has expired).
            fixture.chat.clock.advance(by: .seconds(3601))
            let bob = try await client.register("bob")
            let later = try await client.createRoom("later", as: bob)
            try await client.send("after the grace period", to: later, as: bob)
            #expect(await eventually { receiver.requests.count == 3 })
            let after = receiver.requests[2]
            #expect(SpecVerifier.signatures(after).count == 1)
            #expect(SpecVerifier.validHMACSignatures(after, secret: secondSecret) == 1)
            #expect(SpecVerifier.validHMACSignatures(after, secret: firstSecret) == 0)
        }
    }

    @Test("failures follow the retry schedule on the test clock, Retry-After stretches it, and a spent schedule fails the delivery")
    func retrySchedule() async throws {
        let receiver = TestDestination { index in
            index < 2 ? (.internalServerError, [:], .zero) : (.ok, [:], .zero)
        }
        let port = try await receiver.start()
        let patient = TestDestination { _ in (.serviceUnavailable, [.retryAfter: "120"], .zero) }
        let patientPort = try await patient.start()
        defer { Task { await receiver.stop(); await patient.stop() } }
        let fixture = try await EventWebhookApp(webhooks: "  retry_schedule: [5s, 5m]\n  retry_jitter: 0.1\n")
        let clock = fixture.chat.clock
        try await fixture.chat.build().test(.live) { client in
            let admin = fixture.admin
            let endpoint = try #require(try await client.createEndpoint(#"{"url":"http://127.0.0.1:\#(port)/","events":["message.created"]}"#, admin: admin)["id"] as? String)
            let ann = try await client.register("ann")
            let room = try await client.createRoom("den", as: ann)
            try await client.send("retry me", to: room, as: ann)

            @Sendable func delivery() async throws -> [String: Any] { try await client.deliveries(of: endpoint, admin: admin).first ?? [:] }
            // The wait from the end of the last attempt (started_at + duration) to next_attempt_at: independent of
            // how long this test takes to look. The schedule counts from when the outcome is handled, a moment after
            // the attempt's end (the test clock moves with real time between advances), so each check allows up to
            // half a second above the bound: on a loaded machine that moment is more than 10 ms.
            @Sendable func wait(after record: [String: Any]) throws -> TimeInterval {
                let next = try #require((record["next_attempt_at"] as? String).flatMap(Timestamp.parse))
                let last = try #require((record["attempts"] as? [[String: Any]])?.last)
                let started = try #require((last["started_at"] as? String).flatMap(Timestamp.parse))
                let duration = try #require((last["duration_ms"] as? NSNumber)?.doubleValue)
                return next.timeIntervalSince(started) - duration / 1000
            }
            @Sendable func nextAttempt() async throws -> TimeInterval { try wait(after: try await delivery()) }
            #expect(await eventually { (try? await delivery()["attempt_count"] as? Int) == 1 })
            #expect(receiver.requests.count == 1)
            let firstWait = try await nextAttempt()
            #expect(firstWait >= 4.49 && firstWait <= 6.0, "5 s ± 10 %, got \(firstWait)")

            clock.advance(by: .seconds(6))
            #expect(await eventually { (try? await delivery()["attempt_count"] as? Int) == 2 })
            let secondWait = try await nextAttempt()
            #expect(secondWait >= 269.99 && secondWait <= 330.5, "5 min ± 10 %, got \(secondWait)")
            #expect(receiver.requests.count == 2)

            clock.advance(by: .seconds(331))
            #expect(await eventually { (try? await delivery()["status"] as? String) == "delivered" })
            let attempts = try #require(try await delivery()["attempts"] as? [[String: Any]])
            #expect(attempts.map { $0["status_code"] as? Int } == [500, 500, 200])
            #expect(attempts.map { $0["number"] as? Int } == [1, 2, 3])
            #expect((attempts.first?["response_excerpt"] as? String)?.contains("answer 500") == true)
            // The same webhook-id on every attempt.
            #expect(Set(receiver.requests.compactMap { $0.headers[HTTPField.Name("webhook-id")!] }).count == 1)

            // Retry-After: 120 s, more than the schedule's 5 s, within the 1 h bound.
            let patientEndpoint = try #require(try await client.createEndpoint(#"{"url":"http://127.0.0.1:\#(patientPort)/","events":["message.created"]}"#, admin: admin)["id"] as? String)
            try await client.send("wait for me", to: room, as: ann)
            @Sendable func patientDelivery() async throws -> [String: Any] { try await client.deliveries(of: patientEndpoint, admin: admin).first ?? [:] }
            #expect(await eventually { (try? await patientDelivery()["attempt_count"] as? Int) == 1 })
            let stretched = try wait(after: try await patientDelivery())
            #expect(stretched >= 119.99 && stretched <= 120.5, "Retry-After 120 s, got \(stretched)")
            clock.advance(by: .seconds(121))
            #expect(await eventually { (try? await patientDelivery()["attempt_count"] as? Int) == 2 })
            clock.advance(by: .seconds(331))
            // Three attempts, the schedule's all: the delivery failed.
            #expect(await eventually { (try? await patientDelivery()["status"] as? String) == "failed" })
            #expect(try await patientDelivery()["attempt_count"] as? Int == 3)
        }
    }

    @Test("410 disables at once; failures in a row disable and emit endpoint.disabled; held events are replayed after enabling")
    func disablingAndReplay() async throws {
        let gone = TestDestination { _ in (.gone, [:], .zero) }
        let gonePort = try await gone.start()
        let failing = TestDestination { _ in (.badGateway, [:], .zero) }
        let failingPort = try await failing.start()
        let watcher = TestDestination()
        let watcherPort = try await watcher.start()
        defer { Task { await gone.stop(); await failing.stop(); await watcher.stop() } }
        let fixture = try await EventWebhookApp(webhooks: "  retry_schedule: [1h]\n  disable_after_failures: 2\n")
        try await fixture.chat.build().test(.live) { client in
            let admin = fixture.admin
            let watcherID = try #require(try await client.createEndpoint(#"{"url":"http://127.0.0.1:\#(watcherPort)/","events":["endpoint.disabled"]}"#, admin: admin)["id"] as? String)
            let goneID = try #require(try await client.createEndpoint(#"{"url":"http://127.0.0.1:\#(gonePort)/","events":["message.created"]}"#, admin: admin)["id"] as? String)
            let failingID = try #require(try await client.createEndpoint(#"{"url":"http://127.0.0.1:\#(failingPort)/","events":["message.created"]}"#, admin: admin)["id"] as? String)
            let ann = try await client.register("ann")
            let room = try await client.createRoom("den", as: ann)
            try await client.send("one", to: room, as: ann)

            @Sendable func endpoint(_ id: String) async throws -> [String: Any] { try await client.call(.get, "/api/v1/admin/endpoints/\(id)", headers: admin).json }
            #expect(await eventually { (try? await endpoint(goneID)["enabled"] as? Bool) == false })
            #expect((try await endpoint(goneID)["disabled_reason"] as? String)?.contains("410") == true)
            #expect(gone.requests.count == 1)
            #expect(try await client.deliveries(of: goneID, admin: admin, status: "held").count == 1)

            // The failing endpoint's first failure is one in a row; a second message makes two: disabled.
            #expect(await eventually { (try? await endpoint(failingID)["consecutive_failures"] as? Int) == 1 })
            #expect(try await endpoint(failingID)["enabled"] as? Bool == true)
            try await client.send("two", to: room, as: ann)
            #expect(await eventually { (try? await endpoint(failingID)["enabled"] as? Bool) == false })
            #expect((try await endpoint(failingID)["disabled_reason"] as? String)?.contains("2 attempts in a row") == true)

            // endpoint.disabled reached the watcher for both.
            #expect(await eventually { watcher.requests.count == 2 })
            let disabledIDs = Set(watcher.requests.compactMap { (SpecVerifier.body($0)["data"] as? [String: Any])?["endpoint_id"] as? String })
            #expect(disabledIDs == [goneID, failingID])
            #expect(watcher.requests.allSatisfy { SpecVerifier.body($0)["type"] as? String == "endpoint.disabled" })
            _ = watcherID

            // Events while disabled are kept, not sent: "one" and "two" (their retries were pending) and "three".
            try await client.send("three", to: room, as: ann)
            #expect(await eventually { (try? await client.deliveries(of: failingID, admin: admin, status: "held").count) == 3 })
            #expect(failing.requests.count == 2)

            // Enabled again, the receiver healthy: nothing is sent until the replay, then every held event is.
            failing.setBehaviour { _ in (.ok, [:], .zero) }
            let enabled = try await client.call(.post, "/api/v1/admin/endpoints/\(failingID)/enable", headers: admin)
            #expect(enabled.json["consecutive_failures"] as? Int == 0)
            try await client.send("four", to: room, as: ann)
            #expect(await eventually { failing.requests.count == 3 })
            let replay = try await client.call(.post, "/api/v1/admin/endpoints/\(failingID)/replay", headers: admin, body: #"{"since":"2020-01-01T00:00:00Z"}"#)
            #expect(replay.json["requeued"] as? Int == 3, "\(String(buffer: replay.body))")
            #expect(await eventually { (try? await client.deliveries(of: failingID, admin: admin, status: "delivered").count) == 4 })
            let contents = Set(failing.requests.compactMap { (SpecVerifier.body($0)["data"] as? [String: Any])?["content"] as? String })
            #expect(contents == ["one", "two", "three", "four"])

            // One delivery replayed on its own: the same webhook-id again.
            let delivered = try await client.deliveries(of: failingID, admin: admin, status: "delivered")
            let one = try #require(delivered.last)
            let oneID = (one["id"] as? NSNumber)?.int64Value ?? 0
            let attemptsBefore = try #require(one["attempts"] as? [[String: Any]])
            #expect(attemptsBefore.last?["status_code"] as? Int == 200)
            let retried = try await client.call(.post, "/api/v1/admin/endpoints/\(failingID)/deliveries/\(oneID)/retry", headers: admin)
            #expect(retried.json["status"] as? String == "pending")
            #expect(await eventually { failing.requests.count == 7 })
            #expect(failing.requests.last?.headers[HTTPField.Name("webhook-id")!] == one["webhook_id"] as? String)
            // Every earlier attempt is still listed, the successful one included, and the new one after them.
            @Sendable func attemptsOfOne() async throws -> [[String: Any]] {
                let all = try await client.deliveries(of: failingID, admin: admin, status: "delivered")
                return all.first { ($0["id"] as? NSNumber)?.int64Value == oneID }?["attempts"] as? [[String: Any]] ?? []
            }
            let expectedCount = attemptsBefore.count + 1
            #expect(await eventually { (try? await attemptsOfOne().count) == expectedCount })
            let attemptsAfter = try await attemptsOfOne()
            #expect(attemptsAfter.map { $0["number"] as? Int } == (1...expectedCount).map { Optional($0) })
            #expect(attemptsAfter.prefix(attemptsBefore.count).map { $0["started_at"] as? String } == attemptsBefore.map { $0["started_at"] as? String })
            #expect(attemptsAfter.prefix(attemptsBefore.count).map { $0["status_code"] as? Int } == attemptsBefore.map { $0["status_code"] as? Int })
            #expect(attemptsAfter.last?["status_code"] as? Int == 200)
        }
    }

    @Test("the SSRF guard refuses loopback, private, link-local and metadata addresses, and a name that resolves to loopback, at create and at delivery")
    func ssrfGuard() async throws {
        let receiver = TestDestination()
        let port = try await receiver.start()
        defer { Task { await receiver.stop() } }
        let guarded = try await EventWebhookApp(allowLoopback: false)
        try await guarded.chat.build().test(.live) { client in
            for (url, network) in [
                ("http://127.0.0.1:\(port)/", "127.0.0.0/8"), ("http://10.20.30.40/hook", "10.0.0.0/8"),
                ("http://169.254.169.254/latest/meta-data/", "169.254.0.0/16"), ("http://[::1]:8080/", "::1/128"),
                ("http://localhost:\(port)/", "localhost resolves to"), ("https://192.168.1.1/", "192.168.0.0/16"),
                ("http://[fd00:ec2::254]/", "fc00:0:0:0:0:0:0:0/7"),
            ] {
                let response = try await client.call(.post, "/api/v1/admin/endpoints", headers: guarded.admin, body: #"{"url":"\#(url)"}"#)
                #expect(response.status == .badRequest, "\(url)")
                let message = (response.json["error"] as? [String: Any])?["message"] as? String ?? ""
                #expect(message.contains(network) || message.contains(network.split(separator: "/")[0]), "\(url): \(message)")
            }
            #expect((try await client.call(.get, "/api/v1/admin/endpoints", headers: guarded.admin).json["endpoints"] as? [Any])?.isEmpty == true)
        }

        // An endpoint stored while loopback was allowed is refused at delivery once it no longer is.
        let directory = guarded.chat.directory
        let allowed = try EventWebhookApp.reopen(directory: directory, allowLoopback: true)
        let endpointID = try await allowed.create({
            var changes = EndpointManager.Changes()
            changes.url = "http://127.0.0.1:\(port)/"
            changes.events = ["message.created"]
            return changes
        }()).endpoint.id
        try await guarded.chat.build().test(.live) { client in
            let ann = try await client.register("ann")
            let room = try await client.createRoom("den", as: ann)
            try await client.send("not for loopback", to: room, as: ann)
            #expect(await eventually { (try? await client.deliveries(of: endpointID, admin: guarded.admin).first?["attempt_count"] as? Int) == 1 })
            let delivery = try #require(try await client.deliveries(of: endpointID, admin: guarded.admin).first)
            #expect((delivery["last_error"] as? String)?.contains("SSRF") == true, "\(delivery)")
            #expect(receiver.requests.isEmpty)
        }
    }

    @Test("a slow receiver holds only its own deliveries: the others' all arrive while it has exactly its in-flight cap")
    func slowReceiverIsolation() async throws {
        let gate = Gate()
        let slow = TestDestination { _ in await gate.wait(); return (.ok, [:], .zero) }
        let slowPort = try await slow.start()
        let fast = TestDestination()
        let fastPort = try await fast.start()
        defer { Task { gate.open(); await slow.stop(); await fast.stop() } }
        let fixture = try await EventWebhookApp(webhooks: "  max_in_flight_per_endpoint: 2\n")
        let app = try await buildApplication(
            configuration: fixture.chat.configuration, logger: quietLogger, store: fixture.chat.store,
            metrics: TestMetrics.makeAppMetrics(), clock: fixture.chat.clock
        )
        try await app.test(.live) { client in
            let slowID = try #require(try await client.createEndpoint(#"{"url":"http://127.0.0.1:\#(slowPort)/","events":["message.created"]}"#, admin: fixture.admin)["id"] as? String)
            _ = try await client.createEndpoint(#"{"url":"http://127.0.0.1:\#(fastPort)/","events":["message.created"]}"#, admin: fixture.admin)
            let ann = try await client.register("ann")
            let room = try await client.createRoom("den", as: ann)
            for index in 0..<12 { try await client.send("m\(index)", to: room, as: ann) }
            #expect(await eventually { fast.requests.count == 12 })
            #expect(await eventually { slow.requests.count == 2 })
            #expect(slow.requests.count == 2, "the slow endpoint has its cap in flight and no more")
            gate.open()
            #expect(await eventually { (try? await client.deliveries(of: slowID, admin: fixture.admin, status: "delivered").count) == 12 })
            #expect(slow.requests.count == 12)

            let samples = try parsePrometheusText(String(buffer: try await client.call(.get, "/metrics").body))
            let delivered = samples.first { $0.name == "messagebridge_event_deliveries_total" && $0.labels == ["endpoint": slowID, "outcome": "delivered"] }
            #expect(delivered?.value == 12)
        }
    }

    @Test("an endpoint's rate limit spaces its requests; another endpoint is not slowed by it")
    func rateLimit() async throws {
        let limited = TestDestination()
        let limitedPort = try await limited.start()
        let free = TestDestination()
        let freePort = try await free.start()
        defer { Task { await limited.stop(); await free.stop() } }
        let fixture = try await EventWebhookApp()
        try await fixture.chat.build().test(.live) { client in
            _ = try await client.createEndpoint(#"{"url":"http://127.0.0.1:\#(limitedPort)/","events":["message.created"],"rate_limit":2}"#, admin: fixture.admin)
            _ = try await client.createEndpoint(#"{"url":"http://127.0.0.1:\#(freePort)/","events":["message.created"]}"#, admin: fixture.admin)
            let ann = try await client.register("ann")
            let room = try await client.createRoom("den", as: ann)
            // The endpoint's bucket is made at its first request, after the first send began: two tokens then, one
            // more each half second, so the sixth request cannot arrive earlier than two seconds after that start.
            // (Measured from the send, not from the first arrival, which a slow connection can delay.)
            let sendStart = ContinuousClock.now
            for index in 0..<6 { try await client.send("m\(index)", to: room, as: ann) }
            #expect(await eventually { free.requests.count == 6 && limited.requests.count == 6 })
            let last = try #require(limited.requests.map(\.at).max())
            #expect(last - sendStart >= .milliseconds(1900), "six requests at 2/s came within \(last - sendStart)")
        }
    }

    @Test("webhook.delivered and webhook.failed come from the webhook pipeline, filtered by route")
    func pipelineEvents() async throws {
        let destination = TestDestination { index in index == 0 ? (.ok, [:], .zero) : (.badRequest, [:], .zero) }
        let destinationPort = try await destination.start()
        let receiver = TestDestination()
        let receiverPort = try await receiver.start()
        defer { Task { await destination.stop(); await receiver.stop() } }
        // Routes that deliver to the test destination (the chat fixture's one route goes nowhere).
        let directory = TestDirectory()
        let clock = TestWallClock()
        var yaml = testConfigurationYAML(directory: directory, routes: [("/orders", "http://127.0.0.1:\(destinationPort)/"), ("/other", "http://127.0.0.1:\(destinationPort)/")])
        yaml += "\nauth:\n  bcrypt_cost: 4\nwebhooks:\n  poll_interval: 50ms\n  allow_networks: [\"127.0.0.0/8\"]\n"
        let configuration = try writeConfiguration(yaml, to: directory)
        let store = try SQLiteMessageStore(path: directory.databasePath, clock: clock)
        let adminKey = try await APIKeyManager(store: SQLiteAPIKeyStore(database: store.database), clock: clock).create(name: "a", scope: .admin, expiresIn: nil).secret
        let admin: HTTPFields = [.authorization: "Bearer \(adminKey)", .contentType: "application/json"]
        let app = try await buildApplication(configuration: configuration, logger: quietLogger, store: store, clock: clock)
        try await app.test(.live) { client in
            _ = try await client.createEndpoint(#"{"url":"http://127.0.0.1:\#(receiverPort)/","events":["webhook.*"],"routes":["/orders"]}"#, admin: admin)
            let first = try await client.postWebhook("/orders", body: #"{"order":1}"#)
            #expect(first.status == .accepted)
            #expect(await eventually { receiver.requests.count == 1 })
            // Delivered, then a permanent failure (400) makes the next a dead letter; /other is filtered out.
            _ = try await client.postWebhook("/other", body: #"{"order":2}"#)
            _ = try await client.postWebhook("/orders", body: #"{"order":3}"#)
            #expect(await eventually { receiver.requests.count == 2 })
            let bodies = receiver.requests.map(SpecVerifier.body)
            #expect(bodies.map { $0["type"] as? String } == ["webhook.delivered", "webhook.failed"])
            let delivered = try #require(bodies[0]["data"] as? [String: Any])
            #expect(delivered["message_id"] as? String == first.json["message_id"] as? String)
            #expect(delivered["route"] as? String == "/orders")
            #expect(delivered["status_code"] as? Int == 200)
            let failed = try #require(bodies[1]["data"] as? [String: Any])
            #expect(failed["status_code"] as? Int == 400)
            #expect((failed["last_error"] as? String)?.contains("400") == true)
            #expect(destination.requests.count == 3)
        }
    }
}

/// A latch a test opens once; until then `wait()` suspends.
final class Gate: Sendable {
    private let state = Mutex<(isOpen: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.isOpen { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

extension EventWebhookApp {
    /// An endpoint manager on `directory`'s database, with or without loopback allowed: what the command line uses.
    static func reopen(directory: TestDirectory, allowLoopback: Bool) throws -> EndpointManager {
        var settings = EventWebhookSettings()
        if allowLoopback { settings.allowNetworks = [CIDRBlock("127.0.0.0/8")!] }
        let database = try SQLiteDatabase.open(path: directory.databasePath, migrating: false)
        return EndpointManager(store: SQLiteEndpointStore(database: database), settings: settings)
    }
}
