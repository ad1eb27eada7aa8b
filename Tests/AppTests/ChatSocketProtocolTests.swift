import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The frames a server sent on a WebSocket connection (RFC 6455 §5.2), read from the raw bytes after the 101 head.
struct WebSocketFrames {
    struct Frame {
        var opcode: UInt8
        var fin: Bool
        var payload: [UInt8]
        var text: String { String(decoding: payload, as: UTF8.self) }
        /// A close frame's code; nil for other frames.
        var closeCode: UInt16? { opcode == 0x8 && payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : nil }
    }

    /// Every complete frame after the response head.
    let frames: [Frame]

    init(_ bytes: [UInt8]) {
        guard let end = bytes.indices.dropLast(3).first(where: { bytes[$0..<$0 + 4].elementsEqual([13, 10, 13, 10]) }) else {
            frames = []
            return
        }
        var frames: [Frame] = []
        var index = end + 4
        while index + 2 <= bytes.count {
            var length = Int(bytes[index + 1] & 0x7F)
            var start = index + 2
            if length == 126 {
                guard start + 2 <= bytes.count else { break }
                length = Int(bytes[start]) << 8 | Int(bytes[start + 1])
                start += 2
            } else if length == 127 {
                guard start + 8 <= bytes.count else { break }
                length = bytes[start..<start + 8].reduce(0) { $0 << 8 | Int($1) }
                start += 8
            }
            guard start + length <= bytes.count else { break }
            frames.append(Frame(opcode: bytes[index] & 0x0F, fin: bytes[index] & 0x80 != 0, payload: Array(bytes[start..<start + length])))
            index = start + length
        }
        self.frames = frames
    }

    /// A frame as a client sends it: masked (unless `masked` is false), payloads under 64 KiB.
    static func client(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, masked: Bool = true) -> [UInt8] {
        var frame: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        let maskBit: UInt8 = masked ? 0x80 : 0
        if payload.count < 126 {
            frame.append(maskBit | UInt8(payload.count))
        } else {
            frame += [maskBit | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        guard masked else { return frame + payload }
        let key: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        return frame + key + payload.enumerated().map { $0.element ^ key[$0.offset % 4] }
    }
}

/// The WebSocket protocol of `/ws` below the chat frames, with a raw TCP client: what a well-behaved library never
/// sends, and what it does by itself (fragments, pings).
@Suite("Chat socket protocol")
struct ChatSocketProtocolTests {
    /// A signed-in raw socket, once its `ready` frame has arrived.
    private func open(port: Int, token: String) async throws -> RawConnection {
        let connection = try await RawConnection.connect(port: port)
        try await connection.sendWebSocketUpgrade(path: "/ws?token=\(token)")
        #expect(await connection.waitForResponse { $0.contains("\"type\":\"ready\"") })
        return connection
    }

    private func frames(_ connection: RawConnection) -> [WebSocketFrames.Frame] {
        WebSocketFrames(connection.receivedBytes).frames
    }

    @Test("a client's ping gets a pong with its payload; a message in fragments is put together; close is answered")
    func pingFragmentsAndClose() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.live) { client in
            let port = try #require(client.port)
            let ann = try await client.register("ann")
            let socket = try await open(port: port, token: ann.accessToken)
            try await socket.send(bytes: WebSocketFrames.client(0x9, Array("are you there".utf8)))
            #expect(await socket.waitForResponse { _ in frames(socket).contains { $0.opcode == 0xA } })
            #expect(frames(socket).first { $0.opcode == 0xA }?.text == "are you there")
            // `{"type":"ping","ref":"r1"}` in three frames, with a ping between two of them (control frames may
            // come between the fragments of a message).
            try await socket.send(bytes: WebSocketFrames.client(0x1, Array(#"{"type":"pi"#.utf8), fin: false))
            try await socket.send(bytes: WebSocketFrames.client(0x0, Array(#"ng","re"#.utf8), fin: false))
            try await socket.send(bytes: WebSocketFrames.client(0x9, Array("between".utf8)))
            try await socket.send(bytes: WebSocketFrames.client(0x0, Array(#"f":"r1"}"#.utf8)))
            #expect(await socket.waitForResponse { _ in frames(socket).contains { $0.opcode == 0x1 && $0.text.contains(#""ref":"r1""#) } })
            let reply = try #require(frames(socket).first { $0.opcode == 0x1 && $0.text.contains(#""ref":"r1""#) })
            #expect(reply.text.contains(#""type":"pong""#))
            #expect(frames(socket).filter { $0.opcode == 0xA }.map(\.text) == ["are you there", "between"])
            // The client closes: the server answers with the same code and closes the connection.
            try await socket.send(bytes: WebSocketFrames.client(0x8, [0x03, 0xE8]))
            #expect(await socket.waitForClose())
            #expect(frames(socket).last?.closeCode == 1000)
            #expect(await eventually { try await client.call(.get, "/stats").json["active_sockets"] as? Int == 0 })
        }
    }

    @Test("protocol violations close the socket with their code (1002, 1007, 1009), and store nothing")
    func violations() async throws {
        let fixture = try ChatApp(extra: "\nchat:\n  max_message_bytes: 512\n  max_frame_bytes: 1536\n")
        try await fixture.build().test(.live) { client in
            let port = try #require(client.port)
            let ann = try await client.register("ann")
            let send = Array(#"{"type":"send","room_id":1,"content":"x"}"#.utf8)
            let cases: [(String, [[UInt8]], UInt16)] = [
                ("an unmasked frame", [WebSocketFrames.client(0x1, send, masked: false)], 1002),
                ("a continuation with no message", [WebSocketFrames.client(0x0, send)], 1002),
                ("a new message inside a fragmented one", [WebSocketFrames.client(0x1, send, fin: false), WebSocketFrames.client(0x1, send)], 1002),
                ("text that is not UTF-8", [WebSocketFrames.client(0x1, [0x7B, 0xFF, 0xFE, 0x7D])], 1007),
                ("a reserved opcode", [WebSocketFrames.client(0x3, [])], 1002),
                // 4 × max_frame_bytes per message (6 144 bytes): seven fragments of 1 000 bytes are over it.
                ("a message over the limit in fragments", (0..<7).map { WebSocketFrames.client($0 == 0 ? 0x1 : 0x0, Array(repeating: 0x20, count: 1000), fin: false) }, 1009),
            ]
            for (name, sent, code) in cases {
                let socket = try await open(port: port, token: ann.accessToken)
                for frame in sent { try await socket.send(bytes: frame) }
                #expect(await socket.waitForClose(), "\(name)")
                #expect(frames(socket).last?.closeCode == code, "\(name)")
            }
            #expect(try await client.call(.get, "/api/v1/rooms/1/messages", headers: ann.bearer).jsonArray.isEmpty)
        }
    }

    @Test("an upgrade to another path is refused with 400; one after other requests on a connection is redirected to a new one")
    func upgradesElsewhere() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.live) { client in
            let port = try #require(client.port)
            let ann = try await client.register("ann")
            let elsewhere = try await RawConnection.connect(port: port)
            try await elsewhere.sendWebSocketUpgrade(path: "/api/v1/rooms")
            #expect(await elsewhere.waitForResponse { $0.contains("\r\n\r\n") })
            #expect(elsewhere.received.hasPrefix("HTTP/1.1 400"))
            #expect(await elsewhere.waitForClose())
            let late = try await RawConnection.connect(port: port)
            try await late.send("GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(await late.waitForResponse { $0.hasPrefix("HTTP/1.1 200") })
            try await late.sendWebSocketUpgrade(path: "/ws?token=\(ann.accessToken)")
            #expect(await late.waitForResponse { $0.contains("HTTP/1.1 307") })
            #expect(late.received.contains("Location: /ws?token=\(ann.accessToken)"))
            #expect(await late.waitForClose())
        }
    }
}
