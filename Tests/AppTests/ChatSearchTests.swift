import App
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// `GET /api/v1/search`: words and fragments in several scripts, only in the caller's rooms, edits and deletes at once.
@Suite("Chat search")
struct ChatSearchTests {
    func search(_ client: some TestClientProtocol, _ query: String, as user: ChatUserSession, extra: String = "") async throws -> [[String: Any]] {
        let encoded = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? query
        let response = try await client.call(.get, "/api/v1/search?q=\(encoded)\(extra)", headers: user.bearer)
        #expect(response.status == .ok, "\(query): \(String(buffer: response.body))")
        return response.json["results"] as? [[String: Any]] ?? []
    }

    func contents(_ hits: [[String: Any]]) -> [String] {
        hits.compactMap { ($0["message"] as? [String: Any])?["content"] as? String }
    }

    @Test("English, Russian, Chinese and Japanese words and fragments are found, with a highlighted, escaped snippet")
    func scripts() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.router) { client in
            let ann = try await client.register("ann")
            let room = try await client.createRoom("den", as: ann)
            for text in [
                "The deployment finished <quickly> tonight", "Привет, мир! Сегодня хорошая погода",
                "我们明天在北京见面", "東京で会議があります", "unrelated chatter",
            ] {
                try await client.send(text, to: room, as: ann)
            }
            #expect(contents(try await search(client, "deployment", as: ann)) == ["The deployment finished <quickly> tonight"])
            #expect(contents(try await search(client, "deploy", as: ann)) == ["The deployment finished <quickly> tonight"])
            #expect(contents(try await search(client, "ploym", as: ann)) == ["The deployment finished <quickly> tonight"])
            #expect(contents(try await search(client, "погода", as: ann)) == ["Привет, мир! Сегодня хорошая погода"])
            #expect(contents(try await search(client, "ПРИВЕТ", as: ann)) == ["Привет, мир! Сегодня хорошая погода"])
            #expect(contents(try await search(client, "北京见面", as: ann)) == ["我们明天在北京见面"])
            #expect(contents(try await search(client, "北京", as: ann)) == ["我们明天在北京见面"])
            #expect(contents(try await search(client, "会議", as: ann)) == ["東京で会議があります"])
            #expect(contents(try await search(client, "nothing-like-this", as: ann)).isEmpty)
            let hit = try #require(try await search(client, "quickly", as: ann).first)
            let snippet = try #require(hit["snippet"] as? String)
            #expect(snippet.contains("&lt;<mark>quickly</mark>&gt;"), "\(snippet)")
            // Operators in the query are text.
            #expect(try await client.call(.get, "/api/v1/search?q=%22%20OR%20*", headers: ann.bearer).status == .ok)
            #expect(try await client.call(.get, "/api/v1/search", headers: ann.bearer).status == .badRequest)
        }
    }

    @Test("search never returns a message from a room the user is not in; room narrows it; edits and deletes show at once")
    func visibilityAndChanges() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.router) { client in
            let ann = try await client.register("ann")
            let bob = try await client.register("bob")
            let secret = try await client.createRoom("secret", visibility: "private", as: ann)
            let lobby = try await client.createRoom("lobby", as: ann)
            let hidden = try #require((try await client.send("launch codes are banana", to: secret, as: ann)["id"] as? NSNumber)?.int64Value)
            try await client.send("banana bread recipe", to: lobby, as: ann)
            // Bob is in neither room yet: nothing; in the public one after joining, never the private one.
            #expect(contents(try await search(client, "banana", as: bob)).isEmpty)
            #expect(try await client.call(.post, "/api/v1/rooms/\(lobby)/join", headers: bob.bearer).status == .ok)
            #expect(contents(try await search(client, "banana", as: bob)) == ["banana bread recipe"])
            #expect(contents(try await search(client, "anan", as: bob)) == ["banana bread recipe"])
            #expect(try await client.call(.get, "/api/v1/search?q=banana&room=\(secret)", headers: bob.bearer).status == .notFound)
            #expect(Set(contents(try await search(client, "banana", as: ann))) == ["launch codes are banana", "banana bread recipe"])
            #expect(contents(try await search(client, "banana", as: ann, extra: "&room=\(lobby)")) == ["banana bread recipe"])
            // Edited: the old words are gone, the new ones found; deleted: gone.
            _ = try await client.call(.patch, "/api/v1/messages/\(hidden)", headers: ann.bearer, body: #"{"content":"launch codes are mango"}"#)
            #expect(contents(try await search(client, "mango", as: ann)) == ["launch codes are mango"])
            #expect(contents(try await search(client, "banana", as: ann)) == ["banana bread recipe"])
            _ = try await client.call(.delete, "/api/v1/messages/\(hidden)", headers: ann.bearer)
            #expect(contents(try await search(client, "mango", as: ann)).isEmpty)
        }
    }

    @Test("results page with a cursor")
    func paging() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.router) { client in
            let ann = try await client.register("ann")
            let room = try await client.createRoom("den", as: ann)
            for index in 0..<5 { try await client.send("apple number \(index)", to: room, as: ann) }
            let first = try await client.call(.get, "/api/v1/search?q=apple&limit=3", headers: ann.bearer)
            let cursor = try #require(first.json["next_cursor"] as? String)
            let second = try await client.call(.get, "/api/v1/search?q=apple&limit=3&cursor=\(cursor)", headers: ann.bearer)
            #expect(second.json["next_cursor"] is NSNull)
            let all = contents(first.json["results"] as? [[String: Any]] ?? []) + contents(second.json["results"] as? [[String: Any]] ?? [])
            #expect(Set(all) == Set((0..<5).map { "apple number \($0)" }) && all.count == 5)
        }
    }

    @Test("word matches rank before fragment matches; a page the word matches fill holds no fragment, the next page does")
    func tiers() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.router) { client in
            let ann = try await client.register("ann")
            let room = try await client.createRoom("den", as: ann)
            // Sent first and last, so the order below is by tier, not by age.
            for text in ["bypass the ring road", "pass the salt", "password reset", "an overpass, again"] {
                try await client.send(text, to: room, as: ann)
            }
            let all = contents(try await search(client, "pass", as: ann))
            #expect(all.count == 4)
            #expect(Set(all.prefix(2)) == ["pass the salt", "password reset"], "\(all)")
            #expect(Set(all.suffix(2)) == ["bypass the ring road", "an overpass, again"], "\(all)")
            let first = try await client.call(.get, "/api/v1/search?q=pass&limit=2", headers: ann.bearer)
            #expect(Set(contents(first.json["results"] as? [[String: Any]] ?? [])) == ["pass the salt", "password reset"])
            let cursor = try #require(first.json["next_cursor"] as? String)
            let second = try await client.call(.get, "/api/v1/search?q=pass&limit=2&cursor=\(cursor)", headers: ann.bearer)
            #expect(Set(contents(second.json["results"] as? [[String: Any]] ?? [])) == ["bypass the ring road", "an overpass, again"])
            // A fragment's snippet marks the fragment.
            let hit = try #require(try await search(client, "verpas", as: ann).first)
            #expect((hit["snippet"] as? String)?.contains("<mark>") == true, "\(hit)")
        }
    }
}
