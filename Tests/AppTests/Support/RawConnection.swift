import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A plain TCP connection to the server under test, for what an HTTP client library will not do: send a request
/// head a byte at a time, hold a connection idle, send malformed or oversized heads, and see exactly when the
/// server closes.
final class RawConnection: Sendable {
    private let channel: any Channel
    private let collector: Collector

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let bytes = Mutex<[UInt8]>([])

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            bytes.withLock { $0.append(contentsOf: buffer.readableBytesView) }
        }
    }

    private init(channel: any Channel, collector: Collector) {
        self.channel = channel
        self.collector = collector
    }

    /// Connects to `127.0.0.1:port`.
    static func connect(port: Int) async throws -> RawConnection {
        let collector = Collector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: false)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        return RawConnection(channel: channel, collector: collector)
    }

    /// Sends `text` as it is.
    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text))
    }

    /// Sends `bytes` as they are.
    func send(bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// Everything the server has sent so far, as text.
    var received: String { String(decoding: collector.bytes.withLock { $0 }, as: UTF8.self) }

    /// Everything the server has sent so far, as bytes.
    var receivedBytes: [UInt8] { collector.bytes.withLock { $0 } }

    /// Whether the server has closed the connection.
    var isClosed: Bool { !channel.isActive }

    /// Waits until the server closes the connection (the channel's close future), at most `timeout`; true if it did.
    func waitForClose(timeout: Duration = .seconds(30)) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { [channel] in
                try? await channel.closeFuture.get()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let closed = await group.next() ?? false
            group.cancelAll()
            // The close future completes when the channel closes; close it so the first task ends if time ran out.
            if !closed { try? await channel.close() }
            return closed
        }
    }

    /// Waits until `received` satisfies `condition`, at most `timeout`.
    func waitForResponse(timeout: Duration = .seconds(30), _ condition: @escaping @Sendable (String) -> Bool) async -> Bool {
        await waitUntil(timeout: timeout) { condition(self.received) }
    }

    /// Sends a WebSocket upgrade request for `path`.
    func sendWebSocketUpgrade(path: String) async throws {
        try await send(
            "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
    }

    /// The close code of the first WebSocket frame after the response head, once a close frame (opcode 8, with a
    /// code) has arrived there; nil until then or if the first frame is another one.
    var webSocketCloseCode: UInt16? {
        let bytes = receivedBytes
        guard let end = bytes.indices.dropLast(3).first(where: { bytes[$0..<$0 + 4].elementsEqual([13, 10, 13, 10]) }) else { return nil }
        let frame = bytes[(end + 4)...]
        guard frame.count >= 4, frame[frame.startIndex] == 0x88, frame[frame.startIndex + 1] & 0x7F >= 2 else { return nil }
        return UInt16(frame[frame.startIndex + 2]) << 8 | UInt16(frame[frame.startIndex + 3])
    }

    /// Closes the connection from this side.
    func close() async {
        try? await channel.close()
    }

    private func waitUntil(timeout: Duration, _ condition: @Sendable () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }
}
