import App
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Reactions and read receipts (issue 14, first part), over REST and the socket.
@Suite("Chat reactions and receipts")
struct ChatReactionsTests {
    @Test("one reaction per user and emoji, counted per emoji with who reacted, shown in history; only single emoji; members only")
    func reactions() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.router) { client in
            let ann = try await client.register("ann")
            let bob = try await client.register("bob")
            let eve = try await client.register("eve")
            let room = try await client.createRoom("den", as: ann)
            #expect(try await client.call(.post, "/api/v1/rooms/\(room)/join", headers: bob.bearer).status == .ok)
            let id = try #require((try await client.send("hello", to: room, as: ann)["id"] as? NSNumber)?.int64Value)
            for (user, emoji) in [(ann, "👍"), (bob, "👍"), (bob, "👍"), (bob, "🇺🇦"), (ann, "👩‍💻")] {
                let response = try await client.call(.post, "/api/v1/messages/\(id)/reactions", headers: user.bearer, body: #"{"emoji":"\#(emoji)"}"#)
                #expect(response.status == .ok, "\(emoji)")
            }
            let history = try await client.call(.get, "/api/v1/rooms/\(room)/messages", headers: bob.bearer).jsonArray
            let reactions = try #require(history.first?["reactions"] as? [[String: Any]])
            #expect(reactions.map { $0["emoji"] as? String } == ["👍", "🇺🇦", "👩‍💻"])
            #expect(reactions.map { $0["count"] as? Int } == [2, 1, 1])
            #expect((reactions.first?["user_ids"] as? [NSNumber])?.map(\.int64Value) == [ann.id, bob.id])
            for bad in ["1", "a", "👍👍", "", "thumbs"] {
                let response = try await client.call(.post, "/api/v1/messages/\(id)/reactions", headers: bob.bearer, body: #"{"emoji":"\#(bad)"}"#)
                #expect(response.status == .badRequest, "\(bad)")
                #expect(response.errorMessage?.contains("emoji") == true)
            }
            // Eve is not in the room: she may read the public room but not react.
            #expect(try await client.call(.post, "/api/v1/messages/\(id)/reactions", headers: eve.bearer, body: #"{"emoji":"👍"}"#).status == .forbidden)
            let removed = try await client.call(.delete, "/api/v1/messages/\(id)/reactions?emoji=%F0%9F%91%8D", headers: bob.bearer)
            #expect(removed.status == .ok)
            let after = try #require(removed.json["reactions"] as? [[String: Any]])
            #expect(after.first?["count"] as? Int == 1)
            #expect(try await client.call(.post, "/api/v1/messages/999999/reactions", headers: bob.bearer, body: #"{"emoji":"👍"}"#).status == .notFound)
        }
    }

    @Test("marking read never goes backwards, drives the unread count, and is visible to the room as receipts")
    func receipts() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.router) { client in
            let ann = try await client.register("ann")
            let bob = try await client.register("bob")
            let room = try await client.createRoom("den", as: ann)
            #expect(try await client.call(.post, "/api/v1/rooms/\(room)/join", headers: bob.bearer).status == .ok)
            var ids: [Int64] = []
            for index in 0..<3 { ids.append(try #require((try await client.send("m\(index)", to: room, as: ann)["id"] as? NSNumber)?.int64Value)) }
            func unread() async throws -> Int? {
                try await client.call(.get, "/api/v1/rooms", headers: bob.bearer).jsonArray
                    .first { ($0["room"] as? [String: Any])?["id"] as? Int == Int(room) }?["unread_count"] as? Int
            }
            #expect(try await unread() == 3)
            let read = try await client.call(.post, "/api/v1/rooms/\(room)/read", headers: bob.bearer, body: #"{"message_id":\#(ids[1])}"#)
            #expect(read.status == .ok)
            #expect(try await unread() == 1)
            _ = try await client.call(.post, "/api/v1/rooms/\(room)/read", headers: bob.bearer, body: #"{"message_id":\#(ids[0])}"#)
            #expect(try await unread() == 1)
            let receipts = try await client.call(.get, "/api/v1/rooms/\(room)/receipts", headers: ann.bearer).jsonArray
            let bobs = try #require(receipts.first { ($0["user_id"] as? NSNumber)?.int64Value == bob.id })
            #expect((bobs["last_read_message_id"] as? NSNumber)?.int64Value == ids[1])
            #expect(try await client.call(.post, "/api/v1/rooms/\(room)/read", headers: bob.bearer, body: #"{"message_id":999999}"#).status == .badRequest)
            #expect(try await client.call(.post, "/api/v1/rooms/\(room)/read", headers: bob.bearer, body: #"{}"#).status == .badRequest)
        }
    }

    @Test("two users see each other's reactions and receipts live on their sockets")
    func liveReactionsAndReceipts() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.live) { client in
            let port = try #require(client.port)
            let ann = try await client.register("ann")
            let bob = try await client.register("bob")
            let room = try await client.createRoom("den", as: ann)
            #expect(try await client.call(.post, "/api/v1/rooms/\(room)/join", headers: bob.bearer).status == .ok)
            let annSocket = SocketProbe(port: port, path: "/ws?token=\(ann.accessToken)")
            let bobSocket = SocketProbe(port: port, path: "/ws?token=\(bob.accessToken)")
            #expect(await annSocket.wait { !$0.events("ready").isEmpty })
            #expect(await bobSocket.wait { !$0.events("ready").isEmpty })
            let id = try #require((try await client.send("hello", to: room, as: ann)["id"] as? NSNumber)?.int64Value)
            try await bobSocket.send(#"{"type":"react","message_id":\#(id),"emoji":"🎉","ref":"r1"}"#)
            #expect(await annSocket.wait { !$0.events("reaction.added").isEmpty })
            let added = try #require(annSocket.events("reaction.added").first?["data"] as? [String: Any])
            #expect(added["emoji"] as? String == "🎉" && (added["user_id"] as? NSNumber)?.int64Value == bob.id)
            try await bobSocket.send(#"{"type":"read","room_id":\#(room),"message_id":\#(id)}"#)
            #expect(await annSocket.wait { !$0.events("room.read").isEmpty })
            let receipt = try #require(annSocket.events("room.read").first?["data"] as? [String: Any])
            #expect((receipt["last_read_message_id"] as? NSNumber)?.int64Value == id)
            try await bobSocket.send(#"{"type":"unreact","message_id":\#(id),"emoji":"🎉"}"#)
            #expect(await annSocket.wait { !$0.events("reaction.removed").isEmpty })
            try await bobSocket.send(#"{"type":"react","message_id":\#(id),"emoji":"x","ref":"bad"}"#)
            #expect(await bobSocket.wait { $0.events("error").contains { $0["ref"] as? String == "bad" } })
            await annSocket.close()
            await bobSocket.close()
        }
    }

    @Test("typing reaches the other members only, limited per socket; presence goes online and offline for those who share a room")
    func typingAndPresence() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.live) { client in
            let port = try #require(client.port)
            let ann = try await client.register("ann")
            let bob = try await client.register("bob")
            let room = try await client.createRoom("den", visibility: "private", as: ann)
            _ = try await client.call(.post, "/api/v1/rooms/\(room)/members", headers: ann.bearer, body: #"{"user_id":\#(bob.id)}"#)
            let annSocket = SocketProbe(port: port, path: "/ws?token=\(ann.accessToken)")
            #expect(await annSocket.wait { !$0.events("ready").isEmpty })
            let bobSocket = SocketProbe(port: port, path: "/ws?token=\(bob.accessToken)")
            #expect(await bobSocket.wait { !$0.events("ready").isEmpty })
            // Ann shares rooms with Bob (general and den): she hears him come online.
            #expect(await annSocket.wait { $0.events("presence").contains { ($0["user_id"] as? NSNumber)?.int64Value == bob.id && $0["status"] as? String == "online" } })
            let presence = try await client.call(.get, "/api/v1/users/presence?user_ids=\(ann.id),\(bob.id),9999", headers: ann.bearer).jsonArray
            #expect(presence.map { $0["status"] as? String } == ["online", "online"])
            for _ in 0..<5 { try await bobSocket.send(#"{"type":"typing","room_id":\#(room)}"#) }
            #expect(await annSocket.wait { !$0.events("typing").isEmpty })
            try await bobSocket.send(#"{"type":"ping","ref":"after-typing"}"#)
            #expect(await bobSocket.wait { !$0.events("pong").isEmpty })
            // Five in a burst (well within a second, unless the machine stalls): fewer passed on; none to the sender;
            // nothing stored.
            #expect(annSocket.events("typing").count < 5)
            #expect(bobSocket.events("typing").isEmpty)
            #expect(try await client.call(.get, "/api/v1/rooms/\(room)/messages", headers: ann.bearer).jsonArray.isEmpty)
            // Typing into a room one is not in is refused.
            let eve = try await client.register("eve")
            let eveSocket = SocketProbe(port: port, path: "/ws?token=\(eve.accessToken)")
            try await eveSocket.send(#"{"type":"typing","room_id":\#(room),"ref":"t"}"#)
            #expect(await eveSocket.wait { $0.events("error").contains { $0["ref"] as? String == "t" } })
            await bobSocket.close()
            #expect(await annSocket.wait { $0.events("presence").contains { ($0["user_id"] as? NSNumber)?.int64Value == bob.id && $0["status"] as? String == "offline" && $0["last_seen_at"] is String } })
            let after = try await client.call(.get, "/api/v1/users/presence?user_ids=\(bob.id)", headers: ann.bearer).jsonArray
            #expect(after.first?["status"] as? String == "offline" && after.first?["last_seen_at"] is String)
            await annSocket.close()
            await eveSocket.close()
        }
    }

    @Test("presence reaches only those who share a room, and follows joins and leaves")
    func presenceFollowsMembership() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.live) { client in
            let port = try #require(client.port)
            let ann = try await client.register("ann")
            let bob = try await client.register("bob")
            let carl = try await client.register("carl")
            // Carl leaves the default room: he shares no room with anyone.
            let carlRooms = try await client.call(.get, "/api/v1/rooms", headers: carl.bearer).jsonArray
            let general = try #require(carlRooms.compactMap { $0["room"] as? [String: Any] }.first { $0["name"] as? String == "general" }?["id"] as? Int)
            #expect(try await client.call(.post, "/api/v1/rooms/\(general)/leave", headers: carl.bearer).status == .noContent)
            @Sendable func presence(_ user: ChatUserSession, in socket: SocketProbe, _ status: String) -> Bool {
                socket.events("presence").contains { ($0["user_id"] as? NSNumber)?.int64Value == user.id && $0["status"] as? String == status }
            }
            let annSocket = SocketProbe(port: port, path: "/ws?token=\(ann.accessToken)")
            #expect(await annSocket.wait { !$0.events("ready").isEmpty })
            let carlSocket = SocketProbe(port: port, path: "/ws?token=\(carl.accessToken)")
            #expect(await carlSocket.wait { !$0.events("ready").isEmpty })
            // Bob, who shares general with Ann, connects after Carl: his presence reaches Ann's socket after any of
            // Carl's would have (both go through her socket's event loop in order).
            let bobSocket = SocketProbe(port: port, path: "/ws?token=\(bob.accessToken)")
            #expect(await annSocket.wait { presence(bob, in: $0, "online") })
            #expect(!presence(carl, in: annSocket, "online"), "Carl shares no room with Ann")
            #expect(try await client.call(.get, "/api/v1/users/presence?user_ids=\(carl.id)", headers: ann.bearer).jsonArray.isEmpty)

            // Ann adds Carl to a room of hers: from then on each sees the other.
            let den = try await client.createRoom("den", visibility: "private", as: ann)
            _ = try await client.call(.post, "/api/v1/rooms/\(den)/members", headers: ann.bearer, body: #"{"user_id":\#(carl.id)}"#)
            #expect(await eventually {
                try await client.call(.get, "/api/v1/users/presence?user_ids=\(carl.id)", headers: ann.bearer).jsonArray
                    .map { $0["status"] as? String } == ["online"]
            })
            await carlSocket.close()
            #expect(await annSocket.wait { presence(carl, in: $0, "offline") })
            #expect(!presence(carl, in: bobSocket, "offline"), "Bob shares no room with Carl")

            // Carl leaves the room again: Ann no longer sees him.
            #expect(try await client.call(.post, "/api/v1/rooms/\(den)/leave", headers: carl.bearer).status == .noContent)
            #expect(await eventually {
                try await client.call(.get, "/api/v1/users/presence?user_ids=\(carl.id)", headers: ann.bearer).jsonArray.isEmpty
            })
            await annSocket.close()
            await bobSocket.close()
        }
    }

}
