import NIOCore
import NIOWebSocket
import Synchronization

/// One socket's way out: the frames the hub and the session send to it, written on its channel's event loop by a
/// ``ChatSocketWriter`` in the channel's pipeline.
///
/// A live event reaches a socket without waking a task: the hub builds the event's frame once and, per event loop,
/// runs one job that writes the same bytes to each of that loop's recipients and flushes each once. While the socket
/// catches up (the backlog from `since`, at the start or after a `resume`), live items wait in a bounded queue and
/// follow the backlog, merged at the seam by position; they wait there too while the channel is not writable (the
/// client reads slower than it is sent to). When that queue is full the socket is too slow: nothing more is
/// written, and the session closes it with ``ChatCloseCode/tooSlow`` so that the client resumes from its last
/// position instead of the server holding an unbounded backlog for it.
final class ChatSocketOutbox: Sendable {
    enum Item: Sendable {
        /// An event of the log, written only if its position is past what the socket has already sent.
        case event(position: Int64, frame: ByteBuffer)
        /// A frame for the client (ready, ack, error, presence, typing), written as is.
        case reply(ByteBuffer)
    }

    let userID: Int64
    let eventLoop: any EventLoop
    /// When this socket last passed on a typing frame, per room (see ``ChatSocketSession``).
    let typingSent = Mutex<[Int64: ContinuousClock.Instant]>([:])
    private let writer: NIOLoopBound<ChatSocketWriter>

    private init(userID: Int64, writer: ChatSocketWriter, eventLoop: any EventLoop) {
        self.userID = userID
        self.eventLoop = eventLoop
        self.writer = NIOLoopBound(writer, eventLoop: eventLoop)
    }

    /// Puts a writer into `channel`'s pipeline (a WebSocket channel, after its frame encoder), catching up from
    /// `position` (live items wait) until ``finishCatchUp()``. Only on the channel's event loop. `onOverflow` is
    /// called (on the event loop) once, when the socket is too slow, with the last position written to it.
    static func attach(
        to channel: any Channel, userID: Int64, capacity: Int, position: Int64, onOverflow: @escaping @Sendable (Int64) -> Void
    ) throws -> ChatSocketOutbox {
        let writer = ChatSocketWriter(capacity: capacity, position: position, onOverflow: onOverflow)
        let operations = channel.pipeline.syncOperations
        try operations.addHandler(writer, position: .after(try operations.handler(type: WebSocketFrameEncoder.self)))
        return ChatSocketOutbox(userID: userID, writer: writer, eventLoop: channel.eventLoop)
    }

    /// Queues `item` from any thread, and flushes it.
    func deliver(_ item: Item) {
        eventLoop.execute { [writer] in
            writer.value.deliver(item)
            writer.value.flushIfNeeded()
        }
    }

    /// Queues a reply from any thread.
    func deliver(reply: String) {
        deliver(.reply(ByteBuffer(string: reply)))
    }

    /// Writes `item` without flushing: only on the outbox's event loop, followed by ``flushOnLoop()``.
    func deliverOnLoop(_ item: Item) {
        writer.value.deliver(item)
    }

    /// Flushes what ``deliverOnLoop(_:)`` wrote: only on the outbox's event loop.
    func flushOnLoop() {
        writer.value.flushIfNeeded()
    }

    /// Writes backlog `frames` while catching up; returns when the last is written to the socket, so that the next
    /// page is read only then.
    func writeBacklog(_ frames: [(position: Int64, frame: ByteBuffer)]) async throws {
        try await eventLoop.flatSubmit { [writer, eventLoop] in
            writer.value.writeBacklog(frames, on: eventLoop)
        }.get()
    }

    /// Starts catching up from `position` (a new socket's first backlog, or a `resume`): `ready` is written after
    /// everything queued before it, unless the socket is catching up already.
    func beginCatchUp(ready: ByteBuffer, position: Int64) async throws {
        try await eventLoop.submit { [writer] in
            writer.value.beginCatchUp(ready: ready, position: position)
        }.get()
    }

    /// The backlog is sent: what waited meanwhile follows, and live items are written as they come.
    func finishCatchUp() async throws {
        try await eventLoop.submit { [writer] in
            writer.value.finishCatchUp()
        }.get()
    }
}

/// The channel handler behind a ``ChatSocketOutbox``: it sits after the WebSocket frame encoder, so what it writes is
/// encoded like the WebSocket library's own frames (which pass through it), with the same payload buffer shared by
/// every recipient of an event. It stops writing once a close frame has gone out, the channel is gone, or the
/// socket fell too far behind. The server negotiates no WebSocket extension, so frames need no per-socket
/// transformation.
final class ChatSocketWriter: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let capacity: Int
    private let onOverflow: @Sendable (Int64) -> Void
    private var context: ChannelHandlerContext?
    /// While set, live items wait in `waiting` (the backlog is being written).
    private var isCatchingUp = true
    /// Live items not written yet: while catching up, or while the channel is not writable. At most `capacity`.
    /// Room for one to start with: an idle socket's queue is empty (see ``ChatSocketHandler``).
    private var waiting = CircularBuffer<ChatSocketOutbox.Item>(initialCapacity: 1)
    private var needsFlush = false
    /// Set once nothing more may be written: a close frame went out, the channel closed, or the socket overflowed.
    private var isDone = false
    private var lastSent: Int64

    init(capacity: Int, position: Int64, onOverflow: @escaping @Sendable (Int64) -> Void) {
        self.capacity = capacity
        self.lastSent = position
        self.onOverflow = onOverflow
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, !isCatchingUp { drainWaiting(whileWritable: true) }
        context.fireChannelWritabilityChanged()
    }

    /// The WebSocket library's own frames (pings, pongs, close) pass on; after a close frame nothing else is sent.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if unwrapOutboundIn(data).opcode == .connectionClose { stop() }
        context.write(data, promise: promise)
    }

    func deliver(_ item: ChatSocketOutbox.Item) {
        guard !isDone, let context else { return }
        if isCatchingUp || !waiting.isEmpty || !context.channel.isWritable {
            guard waiting.count < capacity else {
                overflow()
                return
            }
            waiting.append(item)
            return
        }
        write(item)
    }

    func flushIfNeeded() {
        guard needsFlush, let context else { return }
        needsFlush = false
        context.flush()
    }

    func writeBacklog(_ frames: [(position: Int64, frame: ByteBuffer)], on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        guard let context, !isDone else { return eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
        let fresh = frames.filter { $0.position > lastSent }
        guard let last = fresh.last else { return eventLoop.makeSucceededVoidFuture() }
        for frame in fresh.dropLast() { context.write(frameData(frame.frame), promise: nil) }
        lastSent = last.position
        let promise = eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(frameData(last.frame), promise: promise)
        return promise.futureResult
    }

    func beginCatchUp(ready: ByteBuffer, position: Int64) {
        // What waited goes first, unless the socket is catching up already (its first backlog): then it waits on.
        if !isCatchingUp { drainWaiting(whileWritable: false) }
        guard !isDone, let context else { return }
        context.write(frameData(ready), promise: nil)
        context.flush()
        isCatchingUp = true
        lastSent = position
    }

    func finishCatchUp() {
        isCatchingUp = false
        drainWaiting(whileWritable: false)
    }

    // MARK: Writing

    private func write(_ item: ChatSocketOutbox.Item) {
        guard let context else { return }
        switch item {
        case .event(let position, let frame):
            guard position > lastSent else { return }
            lastSent = position
            context.write(frameData(frame), promise: nil)
        case .reply(let frame):
            context.write(frameData(frame), promise: nil)
        }
        needsFlush = true
    }

    /// Writes what waited, in order: all of it (it is bounded), or while the channel stays writable.
    private func drainWaiting(whileWritable: Bool) {
        guard let context else { return }
        while !isDone, let item = waiting.first, !whileWritable || context.channel.isWritable {
            waiting.removeFirst()
            write(item)
        }
        flushIfNeeded()
    }

    private func frameData(_ frame: ByteBuffer) -> NIOAny {
        wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: frame))
    }

    private func overflow() {
        stop()
        onOverflow(lastSent)
    }

    private func stop() {
        isDone = true
        waiting.removeAll()
    }
}
