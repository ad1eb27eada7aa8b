import AsyncHTTPClient
import Core
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Storage
import Synchronization

/// The one composition root: `messagebridge serve` and every test build the server here.
///
/// Opens the store (and, for SQLite, takes the single-server lock and releases leases a crashed predecessor left),
/// wires ingest → group commit → dispatcher → sinks, the retry worker, and the ops endpoints. The returned
/// application runs them all as services and shuts them down in order: HTTP first (in-flight requests finish and
/// get their 202s), then the worker, then the dispatcher (in-flight deliveries finish), then the HTTP client.
///
/// - Parameter store: a store to use instead of opening `sqlite.database_path` (tests inject one they can reach
///   into); the caller then owns its locking.
public func buildApplication(
    configuration: MessageBridgeConfiguration,
    logger: Logger = Logger(label: "messagebridge"),
    store injectedStore: (any MessageStore)? = nil
) async throws -> some ApplicationProtocol {
    let store: any MessageStore
    let lock: ServerLock?
    if let injectedStore {
        store = injectedStore
        lock = nil
    } else {
        store = try SQLiteMessageStore(path: configuration.sqlite.databasePath)
        lock = try ServerLock(databasePath: configuration.sqlite.databasePath)
        let released = try await store.releaseAllLeases(now: Date())
        if released > 0 {
            logger.notice("released deliveries left in flight by the previous run", metadata: ["count": "\(released)"])
        }
    }
    let nodeID = makeNodeID()
    let worker = configuration.worker

    let routes = configuration.routes.compactMap { route -> IngestController.Route? in
        configuration.destination(for: route).map { .init(path: route.path, destination: $0) }
    }

    var clientConfiguration = HTTPClient.Configuration()
    clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, min(worker.concurrency, 512))
    clientConfiguration.redirectConfiguration = .disallow
    clientConfiguration.timeout.connect = .seconds(10)
    // A refused connection should fail the attempt now and go through our backoff, not spin inside the pool.
    clientConfiguration.connectionPool.retryConnectionEstablishment = false
    let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
    var httpOptions: [String: HTTPSink.EndpointOptions] = [:]
    if let remote = configuration.remoteURL {
        httpOptions[remote.url] = .init(timeout: remote.timeout, quickRetries: remote.retries)
    }
    let httpSink = HTTPSink(
        httpClient: httpClient,
        defaultOptions: .init(timeout: worker.httpTimeout, quickRetries: 0),
        optionsByURL: httpOptions
    )

    let retryWakeup = Wakeup()
    let dispatcher = DeliveryDispatcher(
        owner: nodeID,
        sink: SinkRouter(sinks: ["http": httpSink]),
        store: store,
        policy: RetryPolicy(maxRetries: worker.maxRetries, initialBackoff: worker.initialBackoff, maxBackoff: worker.maxBackoff),
        concurrency: worker.concurrency,
        destinationHealth: DestinationHealth(destinations: routes.map(\.destination)),
        logger: logger,
        onRetryScheduled: { retryWakeup.signal() }
    )
    let retryWorker = RetryWorker(store: store, dispatcher: dispatcher, settings: worker, wakeup: retryWakeup, logger: logger)

    let ingest = GroupCommitter<IngestRecord, Void> { batch in
        try await store.insert(batch)
        return Array(repeating: (), count: batch.count)
    }
    let shutdownFlag = ShutdownFlag()

    let router = Router(context: AppRequestContext.self)
    router.middlewares.add(RequestIDMiddleware())
    router.middlewares.add(ErrorMiddleware())
    IngestController(
        routes: routes,
        maxBodyBytes: configuration.server.maxBodyBytes,
        ingest: ingest,
        dispatcher: dispatcher,
        leaseTimeout: worker.leaseTimeout
    ).addRoutes(to: router)
    HealthController(
        store: store,
        routes: routes,
        destinationHealth: dispatcher.destinationHealth,
        startedAt: Date(),
        nodeID: nodeID,
        isShuttingDown: { shutdownFlag.isSet }
    ).addRoutes(to: router)

    var app = Application(
        router: router,
        configuration: .init(
            address: .hostname(configuration.server.host, port: configuration.server.port),
            serverName: nil
        ),
        onServerRunning: { channel in
            logger.info("server listening", metadata: [
                "address": "\(channel.localAddress?.description ?? "?")",
                "port": "\(channel.localAddress?.port ?? 0)",
                "routes": "\(routes.count)",
                "store": "\(configuration.sqlite.databasePath)",
            ])
        },
        logger: logger
    )
    app.addServices(
        ResourceService(name: "store", logger: logger) {
            // Keeps the single-server lock for the life of the process; the store closes with the last reference.
            withExtendedLifetime(lock) {}
            logger.info("store closed")
        },
        ResourceService(name: "http client", logger: logger) {
            try await httpClient.shutdown()
        },
        dispatcher,
        retryWorker,
        ResourceService(name: "shutdown flag", logger: logger) {
            shutdownFlag.set()
        }
    )
    return app
}

/// A node id unique per process: host, pid and a random suffix.
func makeNodeID() -> String {
    let host = ProcessInfo.processInfo.hostName
    let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    return "\(host)-\(ProcessInfo.processInfo.processIdentifier)-\(suffix)"
}

/// Set once graceful shutdown begins, so readiness turns false while requests drain.
final class ShutdownFlag: Sendable {
    private let flag = Atomic(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

/// A service that does nothing until graceful shutdown, then runs `onShutdown`: how resources that must close
/// after the services listed after them (the HTTP client, the store lock) join the service group's ordering.
struct ResourceService: Service {
    let name: String
    let logger: Logger
    let onShutdown: @Sendable () async throws -> Void

    init(name: String, logger: Logger, onShutdown: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.logger = logger
        self.onShutdown = onShutdown
    }

    func run() async throws {
        try? await gracefulShutdown()
        try await onShutdown()
    }
}
