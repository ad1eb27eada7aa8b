import App
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Storage
import Testing

@Suite("Admin API: messages")
struct AdminMessagesTests {
    @Test("list, filter, page, show with attempts, retry one and retry all failed against real deliveries")
    func listShowRetry() async throws {
        // The destination refuses every delivery with a 400 (not retryable), so each message ends failed.
        let destination = TestDestination { _ in (.badRequest, [:], .zero) }
        let port = try await destination.start()
        defer { Task { await destination.stop() } }
        let fixture = try KeyedApp(routes: [("/orders", "http://127.0.0.1:\(port)/in")])
        let admin = try await fixture.keys.create(name: "root", scope: .admin, expiresIn: nil)
        let auth = HTTPFields.bearer(admin.secret)
        let app = try await fixture.build()
        try await app.test(.live) { client in
            var ids: [String] = []
            for index in 0..<4 {
                let response = try await client.postWebhook("/orders", body: #"{"n":\#(index)}"#)
                #expect(response.status == .accepted)
                ids.append(try #require(response.json["message_id"] as? String))
            }
            #expect(await eventually { try await fixture.store.statusCounts()[.failed] == 4 })

            // Newest first, filtered by status, paged with limit and before.
            let page = try await client.execute(uri: "/api/v1/admin/messages?status=failed&limit=3", method: .get, headers: auth) { $0 }
            #expect(page.status == .ok)
            let listed = try #require(page.json["messages"] as? [[String: Any]])
            #expect(listed.compactMap { $0["message_id"] as? String } == Array(ids.reversed().prefix(3)))
            #expect(listed.allSatisfy { $0["status"] as? String == "failed" && $0["last_status_code"] as? Int == 400 })
            let nextBefore = try #require(page.json["next_before"] as? String)
            let rest = try await client.execute(
                uri: "/api/v1/admin/messages?status=failed&limit=3&before=\(nextBefore)", method: .get, headers: auth
            ) { $0.json["messages"] as? [[String: Any]] }
            #expect(rest?.compactMap { $0["message_id"] as? String } == [ids[0]])
            let delivered = try await client.execute(uri: "/api/v1/admin/messages?status=delivered", method: .get, headers: auth) {
                $0.json["messages"] as? [[String: Any]]
            }
            #expect(delivered?.isEmpty == true)

            // One message with its body, headers and attempts.
            let shown = try await client.execute(uri: "/api/v1/admin/messages/\(ids[1])", method: .get, headers: auth) { $0 }
            #expect(shown.status == .ok)
            #expect(shown.json["body"] as? String == #"{"n":1}"#)
            let attempts = try #require(shown.json["attempts"] as? [[String: Any]])
            #expect(attempts.count == 1)
            #expect(attempts.first?["status_code"] as? Int == 400)

            // Retry one: it goes out promptly (the worker is woken; its interval is 200 ms, backoff 1 h).
            destination.setBehaviour { _ in (.ok, [:], .zero) }
            let retriedID = MessageID(rawValue: ids[1])
            let retried = try await client.execute(uri: "/api/v1/admin/messages/\(ids[1])/retry", method: .post, headers: auth) { $0 }
            #expect(retried.status == .ok)
            #expect(await eventually(timeout: .seconds(5)) { try await fixture.store.message(id: retriedID)?.status == .delivered })
            #expect(try await fixture.store.statusCounts()[.failed] == 3)

            // A delivered message cannot be retried; an unknown one is 404.
            let conflict = try await client.execute(uri: "/api/v1/admin/messages/\(ids[1])/retry", method: .post, headers: auth) { $0 }
            #expect(conflict.status == .conflict)
            #expect((conflict.json["error"] as? [String: Any])?["code"] as? String == "not_retryable")

            // Retry all failed: returns the count, and they are delivered.
            let all = try await client.execute(uri: "/api/v1/admin/messages/retry-failed", method: .post, headers: auth) { $0 }
            #expect(all.status == .ok)
            #expect(all.json["retried"] as? Int == 3)
            #expect(await eventually(timeout: .seconds(5)) { try await fixture.store.statusCounts()[.delivered] == 4 })
            #expect(destination.receivedIDs.isSuperset(of: Set(ids)))
            let none = try await client.execute(uri: "/api/v1/admin/messages/retry-failed", method: .post, headers: auth) { $0.json["retried"] as? Int }
            #expect(none == 0)
        }
    }

    @Test("bad status, limit, before or id answer 4xx JSON naming the problem")
    func badInput() async throws {
        let fixture = try KeyedApp()
        let admin = try await fixture.keys.create(name: "root", scope: .admin, expiresIn: nil)
        let auth = HTTPFields.bearer(admin.secret)
        let app = try await fixture.build()
        try await app.test(.router) { client in
            func error(_ uri: String, method: HTTPRequest.Method = .get) async throws -> (HTTPResponse.Status, String?, String?) {
                try await client.execute(uri: uri, method: method, headers: auth) { response in
                    let error = response.json["error"] as? [String: Any]
                    return (response.status, error?["code"] as? String, error?["message"] as? String)
                }
            }
            let status = try await error("/api/v1/admin/messages?status=lost")
            #expect(status.0 == .badRequest && status.1 == "invalid_status" && status.2?.contains("lost") == true)
            for limit in ["0", "-1", "abc", "100000"] {
                let bad = try await error("/api/v1/admin/messages?limit=\(limit)")
                #expect(bad.0 == .badRequest && bad.1 == "invalid_limit" && bad.2?.contains(limit) == true)
            }
            let before = try await error("/api/v1/admin/messages?before=nope")
            #expect(before.0 == .badRequest && before.1 == "invalid_before")
            let show = try await error("/api/v1/admin/messages/01ffffff-0000-7000-8000-000000000000")
            #expect(show.0 == .notFound && show.1 == "message_not_found")
            let retry = try await error("/api/v1/admin/messages/nope/retry", method: .post)
            #expect(retry.0 == .notFound && retry.1 == "message_not_found")
            let json = try await client.execute(
                uri: "/api/v1/admin/keys", method: .post, headers: auth, body: ByteBuffer(string: "not json")
            ) { Answer($0.status, ($0.json["error"] as? [String: Any])?["code"] as? String) }
            #expect(json == Answer(.badRequest, "invalid_json"))
            let duration = try await client.execute(
                uri: "/api/v1/admin/keys", method: .post, headers: auth, body: ByteBuffer(string: #"{"name":"x","expires_in":"soon"}"#)
            ) { Answer($0.status, ($0.json["error"] as? [String: Any])?["code"] as? String) }
            #expect(duration == Answer(.badRequest, "invalid_duration"))
        }
    }
}
