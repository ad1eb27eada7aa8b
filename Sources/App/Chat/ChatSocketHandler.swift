import Foundation
import HummingbirdWebSocket
import NIOCore
import NIOWebSocket

/// What a socket hands its session, in order: the upgrade request's sign-in, then each complete message.
enum ChatSocketInput: Sendable {
    /// The socket is open: `token` from the `Authorization` header or `?token=`, `since` from `?since=`.
    case open(token: String?, since: Int64?)
    case message(WebSocketMessage)
}

/// The WebSocket protocol of one `/ws` connection, on its channel's event loop, after swift-nio's frame decoder:
/// control frames (pong for ping, the close handshake), fragmented messages put together, UTF-8 checked, pings that
/// drop a peer that stops answering, and inbound backpressure.
///
/// Complete messages go to the socket's session through ``ChatSocket``: a task runs only while the socket has input
/// to handle, so an idle socket is its channel and a few objects. Writes of live events bypass this handler
/// (``ChatSocketWriter`` sits before it, after the frame encoder); this one writes only control frames.
final class ChatSocketHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    struct Configuration: Sendable {
        /// The largest message (all its fragments); a larger one closes the socket with 1009.
        var maxMessageBytes: Int
        /// How often an idle peer is pinged; one that has not answered the last ping by the next is closed (1001).
        var pingInterval: Duration
        /// How long the peer has to answer a close frame before the connection is closed anyway.
        var closeTimeout: Duration = .seconds(15)
    }

    /// Inputs that may wait for the session before the handler stops reading from the peer.
    static let maxWaitingInputs = 16

    private let configuration: Configuration
    private let onInactive: () -> Void
    private var context: ChannelHandlerContext?
    /// Inputs not yet taken by the session, and whether a task is taking them. Room for one to start with (it
    /// grows as needed): an idle socket's queue is empty, and NIO's default of 16 would cost it ~600 bytes.
    private var waiting = CircularBuffer<ChatSocketInput>(initialCapacity: 1)
    private var isDraining = false
    /// A `read` held back while too many inputs wait.
    private var isReadHeld = false
    /// The first fragments of a message not yet complete.
    private var fragments: (opcode: WebSocketOpcode, data: ByteBuffer)?
    private var isAwaitingPong = false
    private var pingTimer: RepeatedTask?
    private var closeTimer: Scheduled<Void>?
    private var hasSentClose = false
    private let startDraining: () -> Void

    /// - Parameters:
    ///   - startDraining: called (on the event loop) when input waits and no task is taking it.
    ///   - onInactive: called (on the event loop) once, when the connection has closed.
    init(configuration: Configuration, first: ChatSocketInput, startDraining: @escaping () -> Void, onInactive: @escaping () -> Void) {
        self.configuration = configuration
        self.startDraining = startDraining
        self.onInactive = onInactive
        waiting.append(first)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let interval = TimeAmount.nanoseconds(configuration.pingInterval.nanosecondsClamped)
        pingTimer = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            loopBound.value.ping()
        }
        if !isDraining {
            isDraining = true
            startDraining()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        end()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        end()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard !hasSentClose || frame.opcode == .connectionClose else { return }
        // No extension is negotiated, so no reserved bit may be set; a client's frames are masked (RFC 6455 §5.1).
        guard !frame.rsv1, !frame.rsv2, !frame.rsv3, frame.maskKey != nil else {
            return fail(.protocolError, "frames must be masked, with no reserved bit set")
        }
        switch frame.opcode {
        case .connectionClose:
            receivedClose(frame)
        case .ping:
            guard frame.fin, frame.data.readableBytes <= 125 else { return fail(.protocolError, "a ping must be one frame of 125 bytes at most") }
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .pong:
            isAwaitingPong = false
        case .text, .binary:
            guard fragments == nil else { return fail(.protocolError, "a new message began before the last one ended") }
            collect(frame.unmaskedData, opcode: frame.opcode, isLast: frame.fin)
        case .continuation:
            guard let first = fragments?.opcode else { return fail(.protocolError, "a continuation frame without a message") }
            collect(frame.unmaskedData, opcode: first, isLast: frame.fin)
        default:
            fail(.protocolError, "unknown opcode")
        }
    }

    /// Holds the peer's next read back while too many inputs wait for the session.
    func read(context: ChannelHandlerContext) {
        if waiting.count >= Self.maxWaitingInputs {
            isReadHeld = true
        } else {
            context.read()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Protocol errors are answered by NIOWebSocket's error handler before they reach here; anything else ends
        // the connection.
        context.close(promise: nil)
    }

    // MARK: The session's side

    /// The next input for the session, or nil (and no task is draining any more) when none waits or the socket is
    /// closing.
    func nextInput() -> ChatSocketInput? {
        guard !hasSentClose, context != nil, let input = waiting.popFirst() else {
            isDraining = false
            waiting.removeAll()
            return nil
        }
        if isReadHeld, waiting.count < Self.maxWaitingInputs, let context {
            isReadHeld = false
            context.read()
        }
        return input
    }

    /// Sends a close frame with `code` and `reason` (once; later calls do nothing), and closes the connection when
    /// the peer answers it, or after `closeTimeout`.
    func close(code: UInt16, reason: String) {
        guard !hasSentClose, let context else { return }
        sendClose(code: code, reason: reason, context: context)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        closeTimer = context.eventLoop.scheduleTask(in: .nanoseconds(configuration.closeTimeout.nanosecondsClamped)) {
            loopBound.value.close(promise: nil)
        }
    }

    /// Writes a close frame (`code` and at most 123 bytes of `reason`, or an empty one without a code); nothing is
    /// sent after it.
    @discardableResult
    private func sendClose(code: UInt16?, reason: String, context: ChannelHandlerContext) -> EventLoopFuture<Void> {
        hasSentClose = true
        fragments = nil
        var data = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        if let code {
            data.writeInteger(code)
            // A control frame's payload is at most 125 bytes.
            data.writeString(String(decoding: reason.utf8.prefix(123), as: UTF8.self))
        }
        return context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)))
    }

    /// Sends a close frame, then closes the connection once it is written.
    private func closeNow(code: UInt16?, reason: String, context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        sendClose(code: code, reason: reason, context: context).whenComplete { _ in
            loopBound.value.close(promise: nil)
        }
    }

    // MARK: Protocol

    private func collect(_ data: ByteBuffer, opcode: WebSocketOpcode, isLast: Bool) {
        var message = data
        if var first = fragments?.data {
            fragments = nil
            first.writeImmutableBuffer(data)
            message = first
        }
        guard message.readableBytes <= configuration.maxMessageBytes else {
            return fail(.messageTooLarge, "messages are at most \(configuration.maxMessageBytes) bytes")
        }
        guard isLast else {
            fragments = (opcode, message)
            return
        }
        if opcode == .text {
            guard let text = String(validating: message.readableBytesView, as: UTF8.self) else {
                return fail(.dataInconsistentWithMessage, "text messages must be UTF-8")
            }
            enqueue(.message(.text(text)))
        } else {
            enqueue(.message(.binary(message)))
        }
    }

    private func enqueue(_ input: ChatSocketInput) {
        waiting.append(input)
        guard !isDraining else { return }
        isDraining = true
        startDraining()
    }

    /// The peer's close frame: the closing handshake's answer (the connection closes now), or its start (answered
    /// with the same code, then the connection closes).
    private func receivedClose(_ frame: WebSocketFrame) {
        guard let context else { return }
        if hasSentClose {
            context.close(promise: nil)
            return
        }
        var data = frame.unmaskedData
        closeNow(code: data.readInteger(as: UInt16.self), reason: "", context: context)
    }

    private func ping() {
        guard let context, !hasSentClose else { return }
        if isAwaitingPong {
            // No answer to the last ping within an interval: the peer is gone (or stuck).
            return fail(.goingAway, "ping timeout")
        }
        isAwaitingPong = true
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer())), promise: nil)
    }

    /// A protocol violation: a close frame with `code`, and the connection closed.
    private func fail(_ code: WebSocketErrorCode, _ reason: String) {
        guard let context else { return }
        var data = ByteBuffer()
        data.write(webSocketErrorCode: code)
        closeNow(code: data.readInteger(as: UInt16.self), reason: reason, context: context)
    }

    private func end() {
        pingTimer?.cancel()
        pingTimer = nil
        closeTimer?.cancel()
        closeTimer = nil
        waiting.removeAll()
        fragments = nil
        guard context != nil else { return }
        context = nil
        onInactive()
    }
}
