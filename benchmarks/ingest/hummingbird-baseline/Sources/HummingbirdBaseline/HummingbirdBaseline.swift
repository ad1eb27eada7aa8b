import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// `HummingbirdBaseline PORT [pinned]`: POST /accept reads the body and answers 202 with a fixed JSON body of the
/// shape and length of MessageBridge's answer and an `X-Request-ID`, like the benchmark's nginx. Hummingbird's stock
/// HTTP/1.1 server, as MessageBridge runs it; with `pinned`, each connection's handling runs on its socket's event loop
/// instead (SE-0417 task executor preference), an alternative that was measured and not adopted.
@main
struct HummingbirdBaseline {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2, let port = Int(arguments[1]) else {
            print("usage: HummingbirdBaseline PORT [pinned]")
            return
        }
        let body = #"{"message_id":"01a205fa-34e9-7dd4-a8cd-4fc32c9154c8","status":"accepted","timestamp":"2026-11-23T01:16:53Z"}"#
        let requestID = HTTPField.Name("X-Request-ID")!
        let router = Router()
        router.post("/accept") { request, _ -> Response in
            _ = try await request.body.collect(upTo: 1 << 20)
            return Response(
                status: .accepted,
                headers: [.contentType: "application/json", requestID: "0123456789abcdef-000000000001"],
                body: .init(byteBuffer: ByteBuffer(string: body))
            )
        }
        var logger = Logger(label: "baseline")
        logger.logLevel = .warning
        let server: HTTPServerBuilder = arguments.dropFirst(2).first == "pinned"
            ? .init { responder in PinnedChannel(base: HTTP1Channel(responder: responder)) }
            : .http1()
        let app = Application(router: router, server: server, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        try await app.runService()
    }
}

/// Runs a task's jobs on one NIO event loop.
final class LoopExecutor: TaskExecutor {
    let eventLoop: any EventLoop
    init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

struct PinnedChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> { base.setup(channel: channel, logger: logger) }
    func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(LoopExecutor(value.channel.eventLoop)) { await base.handle(value: value, logger: logger) }
    }
}
