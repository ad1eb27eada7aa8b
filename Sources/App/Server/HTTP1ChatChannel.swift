import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// HTTP/1 with the `/ws` upgrade: Hummingbird's HTTP/1 channel for every other request, and for `/ws` a WebSocket
/// served by channel handlers alone (``ChatSocketHandler``), with no task per connection once it is upgraded.
///
/// It is `HTTP1WebSocketUpgradeChannel` of hummingbird-websocket with one difference: that channel runs each
/// WebSocket in a task (its handler, reader, auto-ping and async channel), which is ~24 KB per idle socket; a chat
/// server holds tens of thousands of mostly idle sockets. The WebSocket protocol itself (framing, masking, the
/// upgrade handshake) is swift-nio's `NIOWebSocket`, as in hummingbird-websocket.
struct HTTP1ChatChannel: ServerChildChannel, HTTPChannelHandler {
    enum UpgradeResult: Sendable {
        /// A WebSocket, now served by its channel handlers.
        case webSocket
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// An upgrade request for a path that is not a WebSocket: answered 400.
        case failedUpgrade(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
    }

    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    private let additionalChannelHandlers: @Sendable () -> [any RemovableChannelHandler]
    private let maxFrameSize: Int
    private let sockets: ChatSockets

    /// - Parameters:
    ///   - responder: answers every HTTP request.
    ///   - additionalChannelHandlers: put after the HTTP codec of every HTTP (not upgraded) connection.
    ///   - maxFrameSize: the largest WebSocket frame read; a larger one closes the socket with 1009.
    ///   - sockets: where upgraded `/ws` connections go.
    init(
        responder: @escaping HTTPChannelHandler.Responder,
        additionalChannelHandlers: @escaping @Sendable () -> [any RemovableChannelHandler],
        maxFrameSize: Int,
        sockets: ChatSockets
    ) {
        self.responder = Self.redirectingLateUpgrades(responder)
        self.additionalChannelHandlers = additionalChannelHandlers
        self.maxFrameSize = maxFrameSize
        self.sockets = sockets
    }

    /// Read buffers start at 1 KiB (NIO's default is 2 KiB), enough for a request head with a token, and grow with
    /// larger reads (up to NIO's 64 KiB). A connection keeps its read buffer between reads, so this is memory that
    /// every idle socket holds.
    static let readBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 1024, maximum: 65536)

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.syncOptions?.setOption(.recvAllocator, value: Self.readBuffers)
            let upgradeAttempted = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
            let sockets = self.sockets
            let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                maxFrameSize: maxFrameSize,
                shouldUpgrade: { channel, head in
                    upgradeAttempted.value = true
                    let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                    return channel.eventLoop.makeSucceededFuture(path == "/ws" ? HTTPHeaders() : nil)
                },
                upgradePipelineHandler: { channel, head in
                    channel.eventLoop.makeCompletedFuture {
                        try sockets.open(channel: channel, head: head)
                        return .webSocket
                    }
                }
            )
            let additionalChannelHandlers = self.additionalChannelHandlers
            let notUpgrading = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let operations = channel.pipeline.syncOperations
                        try operations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try operations.addHandlers(additionalChannelHandlers())
                        try operations.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        return upgradeAttempted.value ? .failedUpgrade(asyncChannel) : .notUpgraded(asyncChannel)
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: notUpgrading)
            // As Hummingbird's own channels: NIOAsyncChannel orders pipelined requests, Hummingbird maps errors,
            // and swift-http-types has validated the response headers already.
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            let limits = HTTP1Channel.Configuration.DecoderConfiguration()
            configuration.decoderConfiguration.maxHeaderFieldSize = limits.maxHeaderFieldSize
            configuration.decoderConfiguration.maxHeaderListSize = limits.maxHeaderListSize
            configuration.decoderConfiguration.maxHeaderFieldCount = limits.maxHeaderFieldCount
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            return Value(upgradeResult: result, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgradeResult.get() {
            case .webSocket:
                // The socket lives on in its channel handlers; this task ends here.
                return
            case .notUpgraded(let http1):
                await handleHTTP(asyncChannel: http1, logger: logger)
            case .failedUpgrade(let http1):
                await Self.refuseUpgrade(http1, logger: logger)
            }
        } catch let error as ChannelError where error == .inputClosed {
            logger.trace("connection closed before its first request")
        } catch {
            logger.debug("connection ended before its first request", metadata: ["error": "\(error)"])
        }
    }

    /// `400` with no body, and the connection closed: an upgrade to a path that is not a WebSocket.
    private static func refuseUpgrade(_ asyncChannel: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, logger: Logger) async {
        do {
            try await asyncChannel.executeThenClose { _, outbound in
                let head = HTTPResponse(status: .badRequest, headerFields: [.connection: "close", .contentLength: "0"])
                try await outbound.write(contentsOf: [.head(head), .end(nil)])
            }
        } catch {
            logger.trace("could not answer a refused upgrade", metadata: ["error": "\(error)"])
        }
    }

    /// NIO upgrades only a connection's first request. A WebSocket upgrade that arrives after other requests on a
    /// keep-alive connection is redirected to the same URI with the connection closed, so that the client retries
    /// it as the first request of a new one (what hummingbird-websocket does).
    private static func redirectingLateUpgrades(_ responder: @escaping HTTPChannelHandler.Responder) -> HTTPChannelHandler.Responder {
        struct LateUpgradeRedirected: Error {}
        return { request, responseWriter, channel in
            guard request.headers[.upgrade]?.lowercased() == "websocket" else {
                try await responder(request, responseWriter, channel)
                return
            }
            var location = request.uri.path
            if let query = request.uri.query { location += "?\(query)" }
            let response = HTTPResponse(status: .temporaryRedirect, headerFields: [.connection: "close", .location: location])
            try await responseWriter.writeResponse(response)
            throw LateUpgradeRedirected()
        }
    }
}
