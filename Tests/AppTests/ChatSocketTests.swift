import App
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// `/ws` with real WebSocket clients over loopback.
@Suite("Chat over WebSocket")
struct ChatSocketTests {
    @Test("two users in one room send, receive, edit and delete; acks come after the store; positions increase")
    func twoUsersTalk() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.live) { client in
            let port = try #require(client.port)
            let ann = try await client.register("ann")
            let bob = try await client.register("bob")
            let room = try await client.createRoom("den", as: ann)
            #expect(try await client.call(.post, "/api/v1/rooms/\(room)/join", headers: bob.bearer).status == .ok)
            let annSocket = SocketProbe(port: port, path: "/ws?token=\(ann.accessToken)")
            // Bob signs in with a first frame, as a browser does.
            let bobSocket = SocketProbe(port: port, path: "/ws")
            try await bobSocket.send(#"{"type":"auth","token":"\#(bob.accessToken)"}"#)
            #expect(await annSocket.wait { !$0.events("ready").isEmpty })
            #expect(await bobSocket.wait { !$0.events("ready").isEmpty })
            let metrics = String(buffer: try await client.call(.get, "/metrics").body)
            #expect(metrics.contains("\nwebsocket_connections_active 2"), "\(metrics)")

            try await annSocket.send(#"{"type":"send","room_id":\#(room),"content":"hello bob","client_id":"a-1"}"#)
            #expect(await annSocket.wait { !$0.events("ack").isEmpty })
            let ack = try #require(annSocket.events("ack").first)
            #expect(ack["ref"] as? String == "a-1")
            let messageID = try #require(((ack["data"] as? [String: Any])?["id"] as? NSNumber)?.int64Value)
            // The ack means stored: the message is in the history already.
            let history = try await client.call(.get, "/api/v1/rooms/\(room)/messages", headers: bob.bearer).jsonArray
            #expect(history.map { $0["content"] as? String } == ["hello bob"])
            #expect(await bobSocket.wait { !$0.events("message.created").isEmpty })
            let created = try #require(bobSocket.events("message.created").first)
            #expect((created["data"] as? [String: Any])?["content"] as? String == "hello bob")
            #expect((created["room_id"] as? NSNumber)?.int64Value == room)

            try await bobSocket.send(#"{"type":"send","room_id":\#(room),"content":"hi ann"}"#)
            // Two sockets race: wait for Bob's send to be stored before Ann edits, so the order is known.
            #expect(await bobSocket.wait { !$0.events("ack").isEmpty })
            try await annSocket.send(#"{"type":"edit","message_id":\#(messageID),"content":"hello, bob"}"#)
            try await annSocket.send(#"{"type":"delete","message_id":\#(messageID)}"#)
            #expect(await bobSocket.wait { !$0.events("message.deleted").isEmpty })
            #expect(await annSocket.wait { !$0.events("message.deleted").isEmpty })
            for socket in [annSocket, bobSocket] {
                let types = socket.events.compactMap { $0["type"] as? String }.filter { $0.hasPrefix("message.") }
                #expect(types == ["message.created", "message.created", "message.updated", "message.deleted"], "\(types)")
                let positions = socket.eventPositions
                #expect(positions == positions.sorted() && Set(positions).count == positions.count)
            }
            // Bob may not edit Ann's message: an error event, the socket stays open.
            try await bobSocket.send(#"{"type":"edit","message_id":\#(messageID),"content":"x","ref":"e1"}"#)
            #expect(await bobSocket.wait { $0.events("error").contains { $0["ref"] as? String == "e1" } })
            await annSocket.close()
            await bobSocket.close()
        }
    }

    @Test("a client that missed messages reconnects with since and gets exactly the missed ones, then live ones")
    func resumeWithSince() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.live) { client in
            let port = try #require(client.port)
            let ann = try await client.register("ann")
            let bob = try await client.register("bob")
            let room = try await client.createRoom("den", as: ann)
            #expect(try await client.call(.post, "/api/v1/rooms/\(room)/join", headers: bob.bearer).status == .ok)
            let first = SocketProbe(port: port, path: "/ws?token=\(bob.accessToken)")
            // `ready` is sent once the socket is registered: from then on nothing is missed.
            #expect(await first.wait { !$0.events("ready").isEmpty })
            try await client.send("one", to: room, as: ann)
            #expect(await first.wait { $0.events("message.created").count == 1 })
            let seen = try #require(first.eventPositions.last)
            await first.close()
            for index in 0..<30 { try await client.send("missed \(index)", to: room, as: ann) }
            // Resume with a frame this time, while more messages arrive concurrently.
            // The resume takes effect where the server answers it with `ready` (its ref): live messages the socket
            // got before that may come again after it; from it on, every event after `seen`, in order, once.
            let second = SocketProbe(port: port, path: "/ws?token=\(bob.accessToken)")
            try await second.send(#"{"type":"resume","since":\#(seen),"ref":"again"}"#)
            for index in 0..<10 { try await client.send("live \(index)", to: room, as: ann) }
            let afterResume = { @Sendable (probe: SocketProbe) -> [[String: Any]] in
                let events = probe.events
                guard let mark = events.firstIndex(where: { $0["type"] as? String == "ready" && $0["ref"] as? String == "again" }) else { return [] }
                return events[(mark + 1)...].filter { $0["type"] as? String == "message.created" }
            }
            #expect(await second.wait { afterResume($0).count >= 40 })
            let resumed = afterResume(second)
            let contents = resumed.compactMap { ($0["data"] as? [String: Any])?["content"] as? String }
            #expect(contents == (0..<30).map { "missed \($0)" } + (0..<10).map { "live \($0)" })
            let positions = resumed.compactMap { ($0["position"] as? NSNumber)?.int64Value }
            #expect(positions.first.map { $0 > seen } == true)
            #expect(positions == positions.sorted() && Set(positions).count == positions.count)
            // Before the resume only live messages, in order.
            try #require(positions.count == 40)
            let before = second.eventPositions.prefix(second.eventPositions.count - positions.count)
            #expect(before.allSatisfy { $0 >= positions[30] } && before.elementsEqual(before.sorted()))
            // Query-string resume from the same point gives the same sequence.
            let third = SocketProbe(port: port, path: "/ws?token=\(bob.accessToken)&since=\(seen)")
            #expect(await third.wait { $0.events("message.created").count >= 40 })
            #expect(third.eventPositions == positions)
            await second.close()
            await third.close()
        }
    }

    @Test("membership events reach the member who joined and who left; a stranger sees nothing of a private room")
    func membershipEvents() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.live) { client in
            let port = try #require(client.port)
            let ann = try await client.register("ann")
            let bob = try await client.register("bob")
            let eve = try await client.register("eve")
            let room = try await client.createRoom("secret", visibility: "private", as: ann)
            let bobSocket = SocketProbe(port: port, path: "/ws?token=\(bob.accessToken)")
            let eveSocket = SocketProbe(port: port, path: "/ws?token=\(eve.accessToken)")
            #expect(await bobSocket.wait { !$0.events("ready").isEmpty })
            #expect(await eveSocket.wait { !$0.events("ready").isEmpty })
            _ = try await client.call(.post, "/api/v1/rooms/\(room)/members", headers: ann.bearer, body: #"{"user_id":\#(bob.id)}"#)
            try await client.send("for members", to: room, as: ann)
            _ = try await client.call(.delete, "/api/v1/rooms/\(room)/members/\(bob.id)", headers: ann.bearer)
            try await client.send("after bob left", to: room, as: ann)
            #expect(await bobSocket.wait { !$0.events("room.member_left").isEmpty })
            // A marker everyone sees, so eve's socket has caught up when we look.
            try await client.send("general news", to: 1, as: ann)
            #expect(await eveSocket.wait { !$0.events("message.created").isEmpty })
            #expect(await bobSocket.wait { $0.events("message.created").count == 2 })
            let bobContents = bobSocket.events("message.created").compactMap { ($0["data"] as? [String: Any])?["content"] as? String }
            #expect(bobContents == ["for members", "general news"])
            #expect(eveSocket.events.allSatisfy { ($0["room_id"] as? NSNumber)?.int64Value != room })
            // Resuming from 0 replays exactly what bob's live socket saw.
            // (The replay also holds what came before bob's live socket opened: wait for all the live ones.)
            let replay = SocketProbe(port: port, path: "/ws?token=\(bob.accessToken)&since=0")
            let live = Set(bobSocket.eventPositions)
            #expect(await replay.wait { Set($0.eventPositions).isSuperset(of: live) })
            #expect(replay.events.allSatisfy { event in
                guard (event["room_id"] as? NSNumber)?.int64Value == room else { return true }
                return live.contains(((event["position"] as? NSNumber)?.int64Value)!)
            })
            await bobSocket.close()
            await eveSocket.close()
            await replay.close()
        }
    }

    @Test("bad frames get error events naming the problem; too many close the socket with 4002; a bad token closes with 4001")
    func badFrames() async throws {
        let fixture = try ChatApp(extra: "\nchat:\n  max_frame_errors: 4\n  max_message_bytes: 1024\n  max_frame_bytes: 4096\n")
        try await fixture.build().test(.live) { client in
            let port = try #require(client.port)
            let ann = try await client.register("ann")
            let socket = SocketProbe(port: port, path: "/ws?token=\(ann.accessToken)")
            try await socket.send("not json")
            try await socket.send(#"{"type":"shout"}"#)
            try await socket.send(#"{"type":"send","room_id":1,"content":"\#(String(repeating: "x", count: 5000))"}"#)
            #expect(await socket.wait { $0.events("error").count == 3 })
            let codes = socket.events("error").compactMap { $0["code"] as? String }
            #expect(codes == ["invalid_json", "unknown_type", "frame_too_large"])
            try await socket.send(#"{"type":"send","room_id":1}"#)
            #expect(await socket.wait { $0.hasEnded })
            #expect(socket.events("error").last?["message"] as? String == "content is required")
            #expect(socket.closeCode == 4002)
            // The server closes these at once, its close frame right behind the 101: read as bytes, since the
            // WebSocket client library sometimes loses a frame that arrives together with the upgrade response.
            for path in ["/ws?token=garbage", "/ws?token=\(ann.refreshToken)"] {
                let refused = try await RawConnection.connect(port: port)
                try await refused.sendWebSocketUpgrade(path: path)
                #expect(await refused.waitForResponse { _ in refused.webSocketCloseCode != nil }, "\(path)")
                #expect(refused.received.hasPrefix("HTTP/1.1 101"), "\(path)")
                #expect(refused.webSocketCloseCode == 4001, "\(path)")
                await refused.close()
            }
            let unauthenticated = SocketProbe(port: port, path: "/ws")
            try await unauthenticated.send(#"{"type":"send","room_id":1,"content":"x"}"#)
            #expect(await unauthenticated.wait { $0.hasEnded })
            #expect(unauthenticated.closeCode == 4001)
            // Nothing was stored by any of it.
            #expect(try await client.call(.get, "/api/v1/rooms/1/messages", headers: ann.bearer).jsonArray.isEmpty)
        }
    }

    /// Sends `count` messages of 250 000 `letter`s into the default room, four at a time: enough bytes to fill the
    /// socket buffers between the server and a client that does not read.
    private func sendLarge(_ count: Int, of letter: Character, as user: ChatUserSession, with client: some TestClientProtocol) async throws {
        let content = String(repeating: letter, count: 250_000)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for batch in 0..<4 {
                group.addTask {
                    for index in stride(from: batch, to: count, by: 4) {
                        try await client.send("\(index) \(content)", to: 1, as: user)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    @Test("a reader that falls too far behind is closed with 4008 while a fast one receives everything; it resumes without a gap")
    func slowReaderIsDropped() async throws {
        // Large messages, so that few commits fill the socket buffers between server and client quickly.
        let fixture = try ChatApp(extra: "\nchat:\n  send_buffer_events: 8\n  max_message_bytes: 262144\n  max_frame_bytes: 300000\n")
        try await fixture.build().test(.live) { client in
            let port = try #require(client.port)
            let ann = try await client.register("ann")
            let fast = SocketProbe(port: port, path: "/ws?token=\(ann.accessToken)")
            let slow = SocketProbe(port: port, path: "/ws?token=\(ann.accessToken)", reading: false)
            #expect(await fast.wait { !$0.events("ready").isEmpty })
            #expect(await eventually { try await client.call(.get, "/stats").json["active_sockets"] as? Int == 2 })
            let total = 80
            try await sendLarge(total, of: "z", as: ann, with: client)
            #expect(await fast.wait { $0.events("message.created").count == total })
            slow.startReading()
            #expect(await slow.wait { $0.hasEnded })
            #expect(slow.closeCode == 4008)
            let received = slow.eventPositions
            #expect(received.count < total)
            let fastPositions = fast.eventPositions
            #expect(Array(fastPositions.prefix(received.count)) == received)
            // Resuming from the last position it got fills the rest, exactly.
            let resumed = SocketProbe(port: port, path: "/ws?token=\(ann.accessToken)&since=\(received.last ?? 0)")
            #expect(await resumed.wait { received.count + $0.eventPositions.count >= fastPositions.count })
            #expect(received + resumed.eventPositions == fastPositions)
            await fast.close()
            await resumed.close()
        }
    }

    @Test("a reader that pauses while its socket buffers fill gets every event in order once it reads again, within send_buffer_events")
    func pausedReaderCatchesUp() async throws {
        // 20 MB of frames, more than the loopback socket buffers hold: the server's channel stops being writable and
        // the events wait in the socket's queue (at most send_buffer_events), then follow in order.
        let fixture = try ChatApp(extra: "\nchat:\n  send_buffer_events: 1000\n  max_message_bytes: 262144\n  max_frame_bytes: 300000\n")
        try await fixture.build().test(.live) { client in
            let port = try #require(client.port)
            let ann = try await client.register("ann")
            let paused = SocketProbe(port: port, path: "/ws?token=\(ann.accessToken)", reading: false)
            #expect(await eventually { try await client.call(.get, "/stats").json["active_sockets"] as? Int == 1 })
            let total = 80
            try await sendLarge(total, of: "p", as: ann, with: client)
            paused.startReading()
            #expect(await paused.wait { $0.events("message.created").count == total || $0.hasEnded })
            #expect(!paused.hasEnded)
            let positions = paused.eventPositions
            #expect(positions.count == total && positions == positions.sorted() && Set(positions).count == total)
            let stored = try await client.call(.get, "/api/v1/rooms/1/messages?limit=100", headers: ann.bearer).jsonArray
            #expect(stored.count == total)
            await paused.close()
        }
    }

    @Test("seed 004's frame posts to general as the token's user; another user_id is refused")
    func seedFrame() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.live) { client in
            let port = try #require(client.port)
            let ann = try await client.register("ann")
            let socket = SocketProbe(port: port, path: "/ws?token=\(ann.accessToken)")
            try await socket.send(#"{"user_id":\#(ann.id),"username":"ann","content":"Hello World!"}"#)
            #expect(await socket.wait { !$0.events("message.created").isEmpty })
            try await socket.send(#"{"user_id":\#(ann.id + 1),"username":"x","content":"spoof"}"#)
            #expect(await socket.wait { !$0.events("error").isEmpty })
            #expect(socket.events("error").first?["code"] as? String == "forbidden")
            let general = try await client.call(.get, "/api/v1/messages", headers: ann.bearer).jsonArray
            #expect(general.map { $0["content"] as? String } == ["Hello World!"])
            await socket.close()
        }
    }

    @Test("a socket that stops answering pings is closed by the server (1001), while an answering one stays open")
    func deadSocketsAreDropped() async throws {
        let fixture = try ChatApp(extra: "\nchat:\n  ping_interval: 2s\n")
        try await fixture.build().test(.live) { client in
            let port = try #require(client.port)
            let ann = try await client.register("ann")
            // A real client answers pings by itself.
            let alive = SocketProbe(port: port, path: "/ws?token=\(ann.accessToken)")
            #expect(await alive.wait { !$0.events("ready").isEmpty })
            // A raw connection completes the handshake and then never answers.
            let dead = try await RawConnection.connect(port: port)
            try await dead.send(
                "GET /ws?token=\(ann.accessToken) HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            #expect(await dead.waitForResponse { $0.hasPrefix("HTTP/1.1 101") })
            // After its unanswered ping (opcode 9): a close frame (opcode 8) with code 1001, going away, and the end
            // of the connection.
            #expect(await dead.waitForClose(timeout: .seconds(30)))
            let bytes = dead.receivedBytes
            #expect(bytes.contains(0x89))
            #expect(bytes.indices.contains { index in
                index + 3 < bytes.count && bytes[index] == 0x88 && bytes[index + 2] == 0x03 && bytes[index + 3] == 0xE9
            })
            #expect(!alive.hasEnded)
            await dead.close()
            await alive.close()
        }
    }

}
