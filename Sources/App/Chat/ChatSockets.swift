import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// The server's open `/ws` sockets, and the service whose child tasks handle their input.
///
/// A socket gets a task only while it has input (its sign-in, then each message from the client), one at a time
/// and in order; the task ends when nothing more waits. The tasks are children of this service, so shutdown waits
/// for what they are doing; shutting down first closes every open socket with 1001 (going away), which tells
/// clients to reconnect and resume.
final class ChatSockets: Service {
    let session: ChatSocketSession
    private let configuration: ChatSocketHandler.Configuration
    private let logger: Logger
    private let work: AsyncStream<ChatSocket>
    private let workContinuation: AsyncStream<ChatSocket>.Continuation
    private let sockets = Mutex<[ObjectIdentifier: ChatSocket]>([:])

    init(session: ChatSocketSession, logger: Logger) {
        self.session = session
        self.logger = logger
        configuration = ChatSocketHandler.Configuration(
            maxMessageBytes: session.settings.maxFrameBytes * 4, pingInterval: session.settings.pingInterval
        )
        (work, workContinuation) = AsyncStream.makeStream(of: ChatSocket.self)
    }

    /// The largest WebSocket frame read: four times the frame limit, so that a frame over the limit reaches the
    /// session (which answers it with an `error` event); a larger one closes the socket with 1009.
    var maxFrameSize: Int { configuration.maxMessageBytes }

    /// Sockets open now (signed in or not).
    var openCount: Int { sockets.withLock { $0.count } }

    /// Serves an upgraded `/ws` connection (on its event loop, from the upgrade): its sign-in comes from the
    /// request's `Authorization` header, `?token=` or, failing both, the first frame; `?since=` is where it resumes.
    func open(channel: any Channel, head: HTTPRequestHead) throws {
        let query = URI(head.uri).queryParameters
        let token = APIKeyAuthenticator.bearerToken(head.headers.first(name: "authorization")) ?? query["token"].map(String.init)
        let since = query["since"].flatMap { Int64(String($0)) }
        let socket = ChatSocket(channel: channel, logger: logger)
        let handler = ChatSocketHandler(
            configuration: configuration,
            first: .open(token: token, since: since),
            startDraining: { [workContinuation] in workContinuation.yield(socket) },
            onInactive: { [self] in closed(socket) }
        )
        try channel.pipeline.syncOperations.addHandler(handler)
        socket.serve(with: handler)
        sockets.withLock { $0[ObjectIdentifier(socket)] = socket }
    }

    private func closed(_ socket: ChatSocket) {
        sockets.withLock { $0[ObjectIdentifier(socket)] = nil }
        socket.detach()
        session.closed(socket)
    }

    func run() async {
        await withDiscardingTaskGroup { group in
            await withGracefulShutdownHandler {
                for await socket in work {
                    group.addTask { [session] in await socket.drain(with: session) }
                }
            } onGracefulShutdown: { [self] in
                let open = sockets.withLock { Array($0.values) }
                logger.info("closing chat sockets", metadata: ["sockets": "\(open.count)"])
                for socket in open { socket.close(1001, "server shutting down: reconnect with since") }
                workContinuation.finish()
            }
        }
    }
}

/// One open `/ws` socket as its session sees it, from any thread: its input, its outbox, and closing it. The
/// channel's handlers do the work on its event loop.
final class ChatSocket: Sendable {
    let channel: any Channel
    let logger: Logger
    /// The session's state for this socket; changed by the task that handles its input and, when the socket
    /// closes, on its event loop.
    let state = Mutex(ChatSocketSession.SocketState.new)
    private let handler: NIOLoopBoundBox<ChatSocketHandler?>

    /// Only on `channel`'s event loop.
    fileprivate init(channel: any Channel, logger: Logger) {
        self.channel = channel
        self.logger = logger
        handler = NIOLoopBoundBox(nil, eventLoop: channel.eventLoop)
    }

    fileprivate func serve(with handler: ChatSocketHandler) {
        self.handler.value = handler
    }

    /// Handles input until none waits (or the socket closes).
    fileprivate func drain(with session: ChatSocketSession) async {
        while let input = await nextInput() {
            await session.handle(input, on: self)
        }
    }

    private func nextInput() async -> ChatSocketInput? {
        let next = try? await channel.eventLoop.submit { [handler] in handler.value?.nextInput() }.get()
        return next ?? nil
    }

    /// Sends a close frame with `code` and `reason`, after whatever was queued for the socket before this call.
    func close(_ code: UInt16, _ reason: String) {
        channel.eventLoop.execute { [handler] in handler.value?.close(code: code, reason: reason) }
    }

    /// Calls `body` on the socket's event loop if it is still open; throws if it has closed, so that nothing is
    /// attached to a socket that will not say it has closed.
    func onLoopWhileOpen<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await channel.eventLoop.submit { [handler, channel] in
            guard handler.value != nil, channel.isActive else { throw ChannelError.ioOnClosedChannel }
            return try body()
        }.get()
    }

    /// Closes the socket with `code` after `delay` unless `isDone` says otherwise by then.
    func close(after delay: Duration, _ code: UInt16, _ reason: String, unless isDone: @escaping @Sendable () -> Bool) {
        channel.eventLoop.scheduleTask(in: .nanoseconds(delay.nanosecondsClamped)) { [self] in
            if !isDone() { close(code, reason) }
        }
    }

    /// The socket has closed (on its event loop): no handler any more.
    fileprivate func detach() {
        handler.value = nil
    }
}
