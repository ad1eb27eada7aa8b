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

/// Per connection: closes it when its request head does not arrive in time (slow-header clients) or when it sits
/// idle between requests too long; answers `503` and closes when the server already holds `max_connections`; and
/// answers `431` for a request head over the decoder's limits (too many or too large header fields) instead of a
/// bare `400`.
///
/// Sits right after the HTTP/1 decoder, so it sees whole request parts: a head counts as arrived only once all of
/// its bytes have, which is what cuts off a client that sends its headers one byte a second. While a request is
/// being handled no timer runs: a slow handler or a long body upload is not idleness.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limits: ConnectionLimits
    private var timer: Scheduled<Void>?
    private var isActivated = false
    private var isAdmitted = false
    /// Requests whose head arrived and whose response has not ended.
    private var openRequests = 0

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
        guard isAdmitted else {
            // Over capacity: the first head gets the 503; nothing reaches the application.
            if case .head = unwrapInboundIn(data) {
                respondAndClose(context: context, status: .serviceUnavailable, code: "too_many_connections",
                                message: "the server holds its maximum number of connections; retry shortly",
                                extraHeaders: [.retryAfter: "1"])
            }
            return
        }
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

    private func activate(context: ChannelHandlerContext) {
        guard !isActivated else { return }
        isActivated = true
        isAdmitted = limits.admit()
        schedule(after: limits.requestHeadTimeout, context: context)
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
