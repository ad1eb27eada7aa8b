import AsyncHTTPClient
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Storage
import Testing

/// Idempotent ingest: a resent webhook (same key within the window) is answered with the original's id and is
/// neither stored nor delivered again, enforced by SQLite's unique index even when the copies race.
@Suite("Idempotent ingest")
struct DedupTests {
    static let sink = "http://127.0.0.1:1/"

    /// One POST over its own connection; returns the status and the JSON body.
    static func post(
        _ client: HTTPClient, port: Int, path: String, body: String, headers: [(String, String)]
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let json = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
        return Answer(status: Int(response.status.code), messageID: json["message_id"] as? String, statusText: json["status"] as? String)
    }

    /// What one racing request got back.
    struct Answer: Sendable {
        var status: Int
        var messageID: String?
        var statusText: String?
    }

    @Test("50 concurrent identical requests store exactly one message; all answers carry its id; one 202, 49 duplicates")
    func concurrentDuplicates() async throws {
        let directory = TestDirectory()
        let (app, store) = try await makeSecurityTestApp(directory: directory, routes: """
              - path: "/webhook/std"
                destination: "\(Self.sink)"
                dedup:
                  header: webhook-id
            """)
        try await app.test(.live) { testClient async throws in
            let port = try #require(testClient.port)
            let answers = try await withHTTPClient { client in
                try await withThrowingTaskGroup(of: Answer.self) { group in
                    for _ in 0..<50 {
                        group.addTask {
                            try await Self.post(client, port: port, path: "/webhook/std", body: #"{"n":1}"#, headers: [("webhook-id", "msg_race")])
                        }
                    }
                    return try await group.reduce(into: [Answer]()) { $0.append($1) }
                }
            }
            #expect(answers.count == 50)
            #expect(answers.filter { $0.status == 202 }.count == 1)
            #expect(answers.filter { $0.status == 200 && $0.statusText == "duplicate" }.count == 49)
            let ids = Set(answers.compactMap(\.messageID))
            #expect(ids.count == 1)
            #expect(try await store.storedCount() == 1)
            let stored = try await store.messages(matching: .init())
            #expect(stored.first?.message.id.rawValue == ids.first)

            // A different key is a new message; no key at all is stored normally, every time.
            let other = try await testClient.postWebhook("/webhook/std", body: "{}", headers: .make([("webhook-id", "msg_other")]))
            #expect(other.status == .accepted)
            #expect(other.json["message_id"] as? String != ids.first)
            #expect(try await testClient.postWebhook("/webhook/std", body: "{}").status == .accepted)
            #expect(try await testClient.postWebhook("/webhook/std", body: "{}").status == .accepted)
            #expect(try await store.storedCount() == 4)
        }
    }

    @Test("a JSON field keys dedup; the duplicate answer repeats the original's id and timestamp")
    func jsonField() async throws {
        let directory = TestDirectory()
        let (app, store) = try await makeSecurityTestApp(directory: directory, routes: """
              - path: "/webhook/json"
                destination: "\(Self.sink)"
                dedup:
                  json_field: "data.object.id"
                  window: 1h
            """)
        try await app.test(.router) { client async throws in
            let first = try await client.postWebhook("/webhook/json", body: #"{"data":{"object":{"id":"pi_1"}},"n":1}"#)
            #expect(first.status == .accepted)
            let again = try await client.postWebhook("/webhook/json", body: #"{"data":{"object":{"id":"pi_1"}},"n":2}"#)
            #expect(again.status == .ok)
            #expect(again.json["status"] as? String == "duplicate")
            #expect(again.json["message_id"] as? String == first.json["message_id"] as? String)
            #expect(again.json["timestamp"] as? String == first.json["timestamp"] as? String)
            let numeric = try await client.postWebhook("/webhook/json", body: #"{"data":{"object":{"id":42}}}"#)
            #expect(numeric.status == .accepted)
            #expect(try await client.postWebhook("/webhook/json", body: #"{"data":{"object":{"id":42}}}"#).status == .ok)
            // Not JSON, or without the field: stored without a key.
            #expect(try await client.postWebhook("/webhook/json", body: "not json").status == .accepted)
            #expect(try await client.postWebhook("/webhook/json", body: #"{"data":{}}"#).status == .accepted)
        }
        #expect(try await store.storedCount() == 4)
    }

    @Test("after the window a key stores a new message again")
    func expiredWindow() async throws {
        let directory = TestDirectory()
        let clock = TestWallClock()
        let (app, store) = try await makeSecurityTestApp(directory: directory, routes: """
              - path: "/webhook/short"
                destination: "\(Self.sink)"
                dedup:
                  header: Idempotency-Key
                  window: 2s
            """, clock: clock)
        try await app.test(.router) { client async throws in
            let headers = HTTPFields.make([("Idempotency-Key", "k-1")])
            let first = try await client.postWebhook("/webhook/short", body: "{}", headers: headers)
            #expect(first.status == .accepted)
            #expect(try await client.postWebhook("/webhook/short", body: "{}", headers: headers).status == .ok)
            clock.advance(by: .milliseconds(2100))
            let later = try await client.postWebhook("/webhook/short", body: "{}", headers: headers)
            #expect(later.status == .accepted)
            #expect(later.json["message_id"] as? String != first.json["message_id"] as? String)
            // And the new message holds the key for its own window.
            let again = try await client.postWebhook("/webhook/short", body: "{}", headers: headers)
            #expect(again.status == .ok)
            #expect(again.json["message_id"] as? String == later.json["message_id"] as? String)
        }
        #expect(try await store.storedCount() == 2)
    }

    @Test("the same key on two routes is two messages")
    func keysArePerRoute() async throws {
        let directory = TestDirectory()
        let (app, store) = try await makeSecurityTestApp(directory: directory, routes: """
              - path: "/webhook/a"
                destination: "\(Self.sink)"
                dedup: { header: X-GitHub-Delivery }
              - path: "/webhook/b"
                destination: "\(Self.sink)"
                dedup: { header: X-GitHub-Delivery }
            """)
        try await app.test(.router) { client async throws in
            let headers = HTTPFields.make([("X-GitHub-Delivery", "d-1")])
            #expect(try await client.postWebhook("/webhook/a", body: "{}", headers: headers).status == .accepted)
            #expect(try await client.postWebhook("/webhook/b", body: "{}", headers: headers).status == .accepted)
        }
        #expect(try await store.storedCount() == 2)
    }
}
