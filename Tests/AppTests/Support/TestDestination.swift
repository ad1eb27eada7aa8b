import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A real HTTP endpoint on loopback that records what it receives and answers as the test says.
final class TestDestination: Sendable {
    /// One request as the destination saw it.
    struct Received: Sendable {
        var path: String
        var headers: HTTPFields
        var body: [UInt8]
        var at: ContinuousClock.Instant

        var webhookID: String? { headers[HTTPField.Name("X-Webhook-ID")!] }
    }

    /// How to answer the n-th request (0-based).
    typealias Behaviour = @Sendable (_ index: Int) async -> (status: HTTPResponse.Status, headers: HTTPFields, delay: Duration)

    private let received = Mutex<[Received]>([])
    private let behaviour: Mutex<Behaviour>
    private let running = Mutex<(group: ServiceGroup, task: Task<Void, any Error>)?>(nil)

    init(behaviour: @escaping Behaviour = { _ in (.ok, [:], .zero) }) {
        self.behaviour = Mutex(behaviour)
    }

    var requests: [Received] { received.withLock { $0 } }
    var receivedIDs: Set<String> { Set(requests.compactMap(\.webhookID)) }

    func setBehaviour(_ newBehaviour: @escaping Behaviour) {
        behaviour.withLock { $0 = newBehaviour }
    }

    /// Starts listening on `port` (0 picks one) and returns the port.
    func start(port: Int = 0) async throws -> Int {
        let router = Router()
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            let body = try await request.body.collect(upTo: 16 << 20)
            let index = self.received.withLock { received in
                received.append(Received(path: request.uri.path, headers: request.headers, body: Array(body.readableBytesView), at: .now))
                return received.count - 1
            }
            let answer = await self.behaviour.withLock { $0 }(index)
            if answer.delay > .zero { try? await Task.sleep(for: answer.delay) }
            return Response(status: answer.status, headers: answer.headers, body: .init(byteBuffer: ByteBuffer(string: "answer \(answer.status.code)")))
        }
        router.post("/", use: handler)
        router.post("/**", use: handler)
        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "test-destination")
        logger.logLevel = .warning
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger
        )
        let group = ServiceGroup(services: [app], logger: logger)
        let task = Task { try await group.run() }
        running.withLock { $0 = (group, task) }
        for await boundPort in portStream { return boundPort }
        throw CancellationError()
    }

    /// Stops listening; connections are refused afterwards.
    func stop() async {
        guard let (group, task) = running.withLock({ state in defer { state = nil }; return state }) else { return }
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

/// A loopback port nothing listens on, below the kernel's ephemeral range.
///
/// Below that range because outgoing connections take their source ports from it: a test that connects to a port
/// it reserved but does not listen on yet (a destination that comes up later) could otherwise get a TCP
/// self-connection on that very port, and then find it taken when it starts listening.
func unusedPort() throws -> Int {
    let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
        .split(whereSeparator: \.isWhitespace).compactMap { Int($0) } ?? []
    let ephemeralLow = range.first ?? 32768
    let candidates = ephemeralLow > 11_000 ? 10_000..<ephemeralLow : 1_024..<10_000
    for _ in 0..<200 {
        let port = Int.random(in: candidates)
        if canBind(port) { return port }
    }
    throw POSIXError(.EADDRINUSE)
}

/// Whether 127.0.0.1:`port` can be bound now.
private func canBind(_ port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held. A throwing check counts as
/// not yet.
func eventually(timeout: Duration = .seconds(15), _ condition: @Sendable () async throws -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return (try? await condition()) == true
}

/// Sends raw bytes to 127.0.0.1:`port` and returns the first bytes of the answer: for requests no well-behaved HTTP
/// client would send (broken chunk framing). Blocking, with a 5 s receive timeout, on a thread of its own.
func rawHTTPExchange(port: Int, _ request: [UInt8]) async -> String {
    await withCheckedContinuation { continuation in
        let thread = Thread {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(descriptor) }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            let connected = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            guard connected else {
                continuation.resume(returning: "")
                return
            }
            _ = request.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let received = recv(descriptor, &buffer, buffer.count, 0)
            continuation.resume(returning: received > 0 ? String(decoding: buffer[0..<received], as: UTF8.self) : "")
        }
        thread.start()
    }
}
