import App
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Rooms, members, messages and history over REST, and seed 004's shapes.
@Suite("Chat rooms and messages")
struct ChatRoomsTests {
    @Test("a private room is 404 to outsiders; a public one is readable but 403 to write until joined; members and roles")
    func roomAccess() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.router) { client in
            let ann = try await client.register("ann")
            let bob = try await client.register("bob")
            let secret = try await client.createRoom("secret", visibility: "private", as: ann)
            let lobby = try await client.createRoom("lobby", as: ann)
            for path in ["/api/v1/rooms/\(secret)", "/api/v1/rooms/\(secret)/messages", "/api/v1/rooms/\(secret)/members"] {
                #expect(try await client.call(.get, path, headers: bob.bearer).status == .notFound, "\(path)")
            }
            #expect(try await client.call(.post, "/api/v1/rooms/\(secret)/join", headers: bob.bearer).status == .notFound)
            #expect(try await client.call(.post, "/api/v1/rooms/\(secret)/messages", headers: bob.bearer, body: #"{"content":"hi"}"#).status == .notFound)
            #expect(try await client.call(.get, "/api/v1/rooms/\(lobby)/messages", headers: bob.bearer).status == .ok)
            let early = try await client.call(.post, "/api/v1/rooms/\(lobby)/messages", headers: bob.bearer, body: #"{"content":"hi"}"#)
            #expect(early.status == .forbidden)
            #expect(try await client.call(.post, "/api/v1/rooms/\(lobby)/join", headers: bob.bearer).status == .ok)
            #expect(try await client.call(.post, "/api/v1/rooms/\(lobby)/join", headers: bob.bearer).status == .conflict)
            try await client.send("hi", to: lobby, as: bob)
            // Bob (a member) may not add people; Ann (owner) adds him to the private room as admin.
            let carol = try await client.register("carol")
            #expect(try await client.call(.post, "/api/v1/rooms/\(lobby)/members", headers: bob.bearer, body: #"{"user_id":\#(carol.id)}"#).status == .forbidden)
            let added = try await client.call(.post, "/api/v1/rooms/\(secret)/members", headers: ann.bearer, body: #"{"user_id":\#(bob.id),"role":"admin"}"#)
            #expect(added.status == .created)
            #expect(added.json["role"] as? String == "admin")
            let members = try await client.call(.get, "/api/v1/rooms/\(secret)/members", headers: bob.bearer).jsonArray
            #expect(Set(members.compactMap { $0["username"] as? String }) == ["ann", "bob"])
            // An admin removes a member but not the owner; the owner cannot leave while others remain.
            #expect(try await client.call(.delete, "/api/v1/rooms/\(secret)/members/\(ann.id)", headers: bob.bearer).status == .forbidden)
            #expect(try await client.call(.post, "/api/v1/rooms/\(secret)/leave", headers: ann.bearer).status == .conflict)
            #expect(try await client.call(.post, "/api/v1/rooms/\(secret)/leave", headers: bob.bearer).status == .noContent)
            #expect(try await client.call(.get, "/api/v1/rooms/\(secret)", headers: bob.bearer).status == .notFound)
            // The room list: mine only, with last message and unread count.
            let annRooms = try await client.call(.get, "/api/v1/rooms", headers: ann.bearer).jsonArray
            let lobbySummary = try #require(annRooms.first { (($0["room"] as? [String: Any])?["name"] as? String) == "lobby" })
            #expect(lobbySummary["unread_count"] as? Int == 1)
            #expect((lobbySummary["last_message"] as? [String: Any])?["content"] as? String == "hi")
            #expect(Set(annRooms.compactMap { ($0["room"] as? [String: Any])?["name"] as? String }) == ["general", "lobby", "secret"])
        }
    }

    @Test("asking twice for the direct room of a pair gives the same private room of the two")
    func directRooms() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.router) { client in
            let ann = try await client.register("ann")
            let bob = try await client.register("bob")
            let carol = try await client.register("carol")
            let first = try await client.call(.post, "/api/v1/rooms/direct", headers: ann.bearer, body: #"{"user_id":\#(bob.id)}"#)
            let second = try await client.call(.post, "/api/v1/rooms/direct", headers: bob.bearer, body: #"{"user_id":\#(ann.id)}"#)
            #expect(first.status == .ok && second.status == .ok)
            let id = try #require((first.json["id"] as? NSNumber)?.int64Value)
            #expect((second.json["id"] as? NSNumber)?.int64Value == id)
            #expect(first.json["kind"] as? String == "direct" && first.json["visibility"] as? String == "private")
            #expect(try await client.call(.get, "/api/v1/rooms/\(id)", headers: carol.bearer).status == .notFound)
            #expect(try await client.call(.post, "/api/v1/rooms/direct", headers: ann.bearer, body: #"{"user_id":9999}"#).status == .notFound)
        }
    }

    @Test("a retried send with the same client_id returns the first message and stores one; replies; edit and delete rights")
    func messagesLifecycle() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.router) { client in
            let ann = try await client.register("ann")
            let bob = try await client.register("bob")
            let room = try await client.createRoom("den", as: ann)
            #expect(try await client.call(.post, "/api/v1/rooms/\(room)/join", headers: bob.bearer).status == .ok)
            let first = try await client.call(.post, "/api/v1/rooms/\(room)/messages", headers: ann.bearer, body: #"{"content":"hello","client_id":"c-1"}"#)
            let retry = try await client.call(.post, "/api/v1/rooms/\(room)/messages", headers: ann.bearer, body: #"{"content":"hello","client_id":"c-1"}"#)
            #expect(first.status == .created && retry.status == .ok)
            let id = try #require((first.json["id"] as? NSNumber)?.int64Value)
            #expect((retry.json["id"] as? NSNumber)?.int64Value == id)
            let reply = try await client.call(.post, "/api/v1/rooms/\(room)/messages", headers: bob.bearer, body: #"{"content":"hey","reply_to":\#(id)}"#)
            #expect((reply.json["reply_to"] as? NSNumber)?.int64Value == id)
            let history = try await client.call(.get, "/api/v1/rooms/\(room)/messages", headers: bob.bearer).jsonArray
            #expect(history.map { $0["content"] as? String } == ["hello", "hey"])
            // Only the author edits; the author or a moderator deletes.
            #expect(try await client.call(.patch, "/api/v1/messages/\(id)", headers: bob.bearer, body: #"{"content":"x"}"#).status == .forbidden)
            let edited = try await client.call(.patch, "/api/v1/messages/\(id)", headers: ann.bearer, body: #"{"content":"hello, all"}"#)
            #expect(edited.json["content"] as? String == "hello, all" && edited.json["edited_at"] is String)
            let replyID = try #require((reply.json["id"] as? NSNumber)?.int64Value)
            let deleted = try await client.call(.delete, "/api/v1/messages/\(replyID)", headers: ann.bearer)
            #expect(deleted.status == .ok && deleted.json["deleted_at"] is String && deleted.json["content"] as? String == "")
            #expect(try await client.call(.delete, "/api/v1/messages/\(id)", headers: bob.bearer).status == .forbidden)
            #expect(try await client.call(.patch, "/api/v1/messages/999999", headers: ann.bearer, body: #"{"content":"x"}"#).status == .notFound)
        }
    }

    @Test("history pages before, after and around an id in a stable order; bad cursors are 400")
    func historyCursors() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.router) { client in
            let ann = try await client.register("ann")
            let room = try await client.createRoom("den", as: ann)
            var ids: [Int64] = []
            for index in 0..<12 {
                ids.append(try #require((try await client.send("m\(index)", to: room, as: ann)["id"] as? NSNumber)?.int64Value))
            }
            func page(_ query: String) async throws -> [Int64] {
                try await client.call(.get, "/api/v1/rooms/\(room)/messages?\(query)", headers: ann.bearer).jsonArray
                    .compactMap { ($0["id"] as? NSNumber)?.int64Value }
            }
            #expect(try await page("limit=5") == Array(ids[7...]))
            #expect(try await page("before=\(ids[7])&limit=5") == Array(ids[2..<7]))
            #expect(try await page("after=\(ids[2])&limit=3") == Array(ids[3..<6]))
            #expect(try await page("around=\(ids[6])&limit=4") == Array(ids[4..<8]))
            #expect(try await page("before=\(ids[0])") == [])
            for bad in ["limit=0", "limit=101", "limit=x", "before=x", "before=1&after=2"] {
                let response = try await client.call(.get, "/api/v1/rooms/\(room)/messages?\(bad)", headers: ann.bearer)
                #expect(response.status == .badRequest, "\(bad)")
            }
        }
    }

    @Test("bad message bodies: 413 over the size limit, 400 naming the field, and nothing stored")
    func badMessages() async throws {
        let fixture = try ChatApp(extra: "\nchat:\n  max_message_bytes: 1024\n  max_frame_bytes: 4096\n")
        try await fixture.build().test(.router) { client in
            let ann = try await client.register("ann")
            let room = try await client.createRoom("den", as: ann)
            let big = try await client.call(.post, "/api/v1/rooms/\(room)/messages", headers: ann.bearer, body: #"{"content":"\#(String(repeating: "é", count: 600))"}"#)
            #expect(big.status == .contentTooLarge)
            #expect(big.errorCode == "message_too_large")
            let cases: [(String, String)] = [
                (#"{}"#, "content"), (#"{"content":7}"#, "content"), (#"{"content":"  "}"#, "content"),
                (#"{"content":"x","extra":1}"#, "extra"), (#"{"content":"x","reply_to":"1"}"#, "reply_to"),
                (#"{"content":"x","client_id":""}"#, "client_id"),
            ]
            for (body, field) in cases {
                let response = try await client.call(.post, "/api/v1/rooms/\(room)/messages", headers: ann.bearer, body: body)
                #expect(response.status == .badRequest, "\(body)")
                #expect(response.errorMessage?.contains(field) == true, "\(body): \(response.errorMessage ?? "")")
            }
            #expect(try await client.call(.post, "/api/v1/rooms/999/messages", headers: ann.bearer, body: #"{"content":"x"}"#).status == .notFound)
            #expect(try await client.call(.post, "/api/v1/rooms/abc/messages", headers: ann.bearer, body: #"{"content":"x"}"#).status == .badRequest)
            #expect(try await client.call(.get, "/api/v1/rooms/\(room)/messages", headers: ann.bearer).jsonArray.isEmpty)
        }
    }

    @Test("seed 004's shapes: users list and create, messages on general with integer ids, /stats; seed 003's probe aliases")
    func seedShapes() async throws {
        let fixture = try ChatApp()
        let backend = try await fixture.keys.create(name: "backend", scope: .ingest, expiresIn: nil).secret
        let key: HTTPFields = [.authorization: "Bearer \(backend)", .contentType: "application/json"]
        try await fixture.build().test(.router) { client in
            let created = try await client.call(.post, "/api/v1/users", headers: key, body: #"{"username":"admin","email":"admin@example.com"}"#)
            #expect(created.status == .created)
            let adminID = try #require((created.json["id"] as? NSNumber)?.int64Value)
            let users = try await client.call(.get, "/api/v1/users", headers: key).jsonArray
            #expect(users.count == 1)
            #expect(users.first?["id"] as? Int == Int(adminID))
            #expect(users.first?["username"] as? String == "admin" && users.first?["email"] as? String == "admin@example.com")
            // A backend posts as the body's user_id; a user's token posts as that user, and naming another is 403.
            let posted = try await client.call(.post, "/api/v1/messages", headers: key, body: #"{"user_id":\#(adminID),"username":"admin","content":"Привет, мир!"}"#)
            #expect(posted.status == .created)
            for field in ["id", "user_id", "username", "content", "created_at"] { #expect(posted.json[field] != nil, "\(field)") }
            #expect(posted.json["id"] is Int && posted.json["user_id"] is Int)
            let ann = try await client.register("ann")
            #expect(try await client.call(.post, "/api/v1/messages", headers: ann.bearer, body: #"{"user_id":\#(adminID),"content":"spoof"}"#).status == .forbidden)
            #expect(try await client.call(.post, "/api/v1/messages", headers: ann.bearer, body: #"{"user_id":\#(ann.id),"username":"ann","content":"mine"}"#).status == .created)
            #expect(try await client.call(.post, "/api/v1/users", headers: ann.bearer, body: #"{"username":"x1x","email":"x@example.com"}"#).status == .forbidden)
            let page = try await client.call(.get, "/api/v1/messages?limit=20&offset=0", headers: ann.bearer).jsonArray
            #expect(page.map { $0["content"] as? String } == ["mine", "Привет, мир!"])
            #expect(try await client.call(.get, "/api/v1/messages?limit=1&offset=1", headers: key).jsonArray.map { $0["content"] as? String } == ["Привет, мир!"])
            let stats = try await client.call(.get, "/stats")
            #expect(stats.json["users"] as? Int == 2 && stats.json["messages"] as? Int == 2 && stats.json["rooms"] as? Int == 1)
            #expect(stats.json["active_sockets"] as? Int == 0)
            let metrics = String(buffer: try await client.call(.get, "/metrics").body)
            #expect(metrics.contains("\nmessages_total 2\n"), "\(metrics)")
            for path in ["/api/v1/health", "/api/v1/health/liveness", "/api/v1/health/readiness", "/api/v1/metrics"] {
                #expect(try await client.call(.get, path).status == .ok, "\(path)")
            }
        }
    }
}
