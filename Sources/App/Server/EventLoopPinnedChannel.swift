import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Runs the jobs of the tasks that prefer it on one NIO event loop (SE-0417 task executor preference).
///
/// A connection's request handling runs on the event loop that owns its socket, so reading a request, running the
/// handler and writing the response need no thread hop; only work that waits elsewhere (the group commit's fsync)
/// leaves the loop and comes back once.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}

/// Hummingbird's HTTP/1.1 child channel, with each connection's handling pinned to its own event loop.
///
/// Handlers must therefore never block: everything they wait for is awaited (the store's writes run on the store's
/// own thread), as in a NIO channel handler.
struct EventLoopPinnedChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await base.handle(value: value, logger: logger)
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with every connection's request handling on its socket's event loop.
    static func pinnedHTTP1(configuration: HTTP1Channel.Configuration = .init()) -> HTTPServerBuilder {
        .init { responder in
            EventLoopPinnedChannel(base: HTTP1Channel(responder: responder, configuration: configuration))
        }
    }
}
