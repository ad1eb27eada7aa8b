import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import Synchronization

/// The limits every HTTP connection lives under (`server.request_head_timeout`, `server.idle_timeout`,
/// `server.max_connections`), shared by all connections of one server.
final class ConnectionLimits: Sendable {
    /// How long a new connection may take to deliver its first complete request head.
    let requestHeadTimeout: Duration
    /// How long a keep-alive connection may wait, after a response, for the next complete request head.
    let idleTimeout: Duration
    /// Open connections at most.
    let maxConnections: Int
    private let openConnections = Atomic<Int>(0)

    init(requestHeadTimeout: Duration, idleTimeout: Duration, maxConnections: Int) {
        self.requestHeadTimeout = requestHeadTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
    }

    /// The cap when the configuration sets none: 10 000, or the descriptor limit less 128 when that is lower.
    static func defaultMaxConnections() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 10_000 }
        // RLIM_INFINITY is the all-ones value, which clamps to Int.max.
        let descriptors = Int(clamping: limit.rlim_cur)
        return max(16, min(10_000, descriptors - 128))
    }

    /// Connections open now (over-capacity ones excluded).
    var openCount: Int { openConnections.load(ordering: .relaxed) }

    /// Counts a new connection in; false (and not counted) when the cap is reached.
    func admit() -> Bool {
        let count = openConnections.add(1, ordering: .relaxed).newValue
        guard count > maxConnections else { return true }
        openConnections.subtract(1, ordering: .relaxed)
        return false
    }

    /// Counts an admitted connection out.
    func release() {
        openConnections.subtract(1, ordering: .relaxed)
    }
}

/// Per connection, in front of everything else (raw bytes, before the HTTP decoder and the WebSocket upgrade
/// handler): counts the connection against `max_connections` (one over gets `503` and is closed), closes it when
/// its first request head does not arrive complete within `request_head_timeout` (slow-header clients), and answers
/// `431` for a first head with too many or too large header fields.
///
/// It works on bytes because the WebSocket upgrade pipeline holds the first request back until it has decided
/// whether it upgrades: no HTTP-level handler exists before the first head is complete. Once it is, this handler
/// only passes bytes through; ``ConnectionGuardHandler`` takes over for the requests that follow.
final class ConnectionGateHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Below the HTTP decoder's own limits (80 KiB, 1000 fields), so this handler's `431` comes first.
    static let maxHeadBytes = 64 * 1024
    static let maxHeadLines = 1000

    private let limits: ConnectionLimits
    private var timer: Scheduled<Void>?
    private var isActivated = false
    private var isAdmitted = false
    private var isRejected = false
    private var isHeadComplete = false
    private var headBytes = 0
    private var headLines = 0
    /// The last bytes seen, to find a `\r\n\r\n` that spans two reads.
    private var tail: [UInt8] = []

    init(limits: ConnectionLimits) {
        self.limits = limits
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { activate(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
    }

    func channelActive(context: ChannelHandlerContext) {
        activate(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        if isAdmitted {
            isAdmitted = false
            limits.release()
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if isRejected { return }
        guard isAdmitted else {
            // Over capacity: the first bytes get the 503; nothing reaches the application.
            reject(context: context, status: "503 Service Unavailable", code: "too_many_connections",
                   message: "the server holds its maximum number of connections; retry shortly", extraHeaders: "Retry-After: 1\r\n")
            return
        }
        if !isHeadComplete {
            let buffer = unwrapInboundIn(data)
            scan(buffer.readableBytesView)
            if !isHeadComplete && (headBytes > Self.maxHeadBytes || headLines > Self.maxHeadLines) {
                reject(context: context, status: "431 Request Header Fields Too Large", code: "headers_too_large",
                       message: "the request head has too many or too large header fields")
                return
            }
            if isHeadComplete { cancelTimer() }
        }
        context.fireChannelRead(data)
    }

    /// Counts head bytes and lines up to the blank line that ends the head.
    private func scan(_ bytes: ByteBufferView) {
        for byte in bytes {
            headBytes += 1
            // Over a limit before the head ended: stop here, so the caller refuses it.
            if headBytes > Self.maxHeadBytes || headLines > Self.maxHeadLines { return }
            tail.append(byte)
            if tail.count > 4 { tail.removeFirst() }
            if byte == UInt8(ascii: "\n") {
                headLines += 1
                if tail.suffix(4) == [13, 10, 13, 10] || tail.suffix(2) == [10, 10] {
                    isHeadComplete = true
                    return
                }
            }
        }
    }

    private func activate(context: ChannelHandlerContext) {
        guard !isActivated else { return }
        isActivated = true
        isAdmitted = limits.admit()
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: .nanoseconds(limits.requestHeadTimeout.nanosecondsClamped)) {
            let (handler, context) = loopBound.value
            handler.timer = nil
            guard !handler.isHeadComplete else { return }
            context.close(promise: nil)
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }

    /// Answers with a complete HTTP response written as bytes (no HTTP encoder sits before this handler), then
    /// closes; whatever else arrives is dropped.
    private func reject(context: ChannelHandlerContext, status: String, code: String, message: String, extraHeaders: String = "") {
        isRejected = true
        cancelTimer()
        let body = #"{"error":{"code":"\#(code)","message":"\#(message)"}}"#
        let response = "HTTP/1.1 \(status)\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\(extraHeaders)\r\n\(body)"
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response))).whenComplete { _ in
            loopBound.value.close(promise: nil)
        }
    }
}

/// Per connection, once its first request head has arrived (see ``ConnectionGateHandler``): closes it when it sits
/// idle between requests too long or when a later request head does not arrive in time, and answers `431` for a
/// later head over the decoder's limits instead of a bare `400`.
///
/// Sits right after the HTTP/1 decoder, so it sees whole request parts: a head counts as arrived only once all of
/// its bytes have. While a request is being handled no timer runs: a slow handler or a long body upload is not
/// idleness.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limits: ConnectionLimits
    private var timer: Scheduled<Void>?
    /// Requests whose head arrived and whose response has not ended.
    private var openRequests = 0

    init(limits: ConnectionLimits) {
        self.limits = limits
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            openRequests += 1
            cancelTimer()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), openRequests > 0 {
            openRequests -= 1
            if openRequests == 0 { schedule(after: limits.idleTimeout, context: context) }
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parserError = error as? HTTPParserError, parserError == .headerOverflow {
            cancelTimer()
            respondAndClose(context: context, status: .requestHeaderFieldsTooLarge, code: "headers_too_large",
                            message: "the request head has too many or too large header fields")
            return
        }
        context.fireErrorCaught(error)
    }

    private func schedule(after delay: Duration, context: ChannelHandlerContext) {
        cancelTimer()
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: .nanoseconds(delay.nanosecondsClamped)) {
            let (handler, context) = loopBound.value
            handler.timer = nil
            // A head that arrived since (a pipelined request) keeps the connection.
            guard handler.openRequests == 0 else { return }
            context.close(promise: nil)
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }

    private func respondAndClose(
        context: ChannelHandlerContext,
        status: HTTPResponse.Status,
        code: String,
        message: String,
        extraHeaders: HTTPFields = [:]
    ) {
        let body = ByteBuffer(string: #"{"error":{"code":"\#(code)","message":"\#(message)"}}"#)
        var fields: HTTPFields = [
            .contentType: "application/json; charset=utf-8",
            .contentLength: String(body.readableBytes),
            .connection: "close",
        ]
        fields.append(contentsOf: extraHeaders)
        context.write(wrapOutboundOut(.head(HTTPResponse(status: status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            loopBound.value.close(promise: nil)
        }
    }
}

/// A server child channel with a ``ConnectionGateHandler`` in front of whatever `inner` sets up.
struct GatedChildChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value
    let inner: Inner
    let limits: ConnectionLimits

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ConnectionGateHandler(limits: limits))
        }.flatMap {
            inner.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
