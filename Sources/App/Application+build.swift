import AsyncHTTPClient
import ConfigurationFile
import Core
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Kafka
import Logging
import Metrics
import NIOCore
import ServiceLifecycle
import Storage
import Synchronization
import WebhookSecurity

/// The paths the server serves itself, from the controllers that own them: no route may use one (or a path under
/// one). `ConfigurationLoader(reservedPaths:)` reports such a route on its key and line.
public let reservedServerPaths: [String] =
    HealthController.ownedPaths + MetricsController.ownedPaths + AdminController.ownedPaths + OpenAPIController.ownedPaths
        + WebClientController.ownedPaths + Chat.ownedPaths

/// The one composition root: `messagebridge serve` and every test build the server here, in four steps: the store,
/// delivery (sinks, dispatcher, intake, retry worker), the router (middleware and one controller per feature), and
/// the application with its services in shutdown order.
///
/// Opens the store (and, for SQLite, takes the single-server lock and releases leases a crashed predecessor left),
/// wires ingest → group commit → dispatcher → sinks, the retry worker, and the ops endpoints. The returned
/// application runs them all as services and shuts them down in order: HTTP first (in-flight requests finish and
/// get their 202s), then the worker, then the dispatcher (in-flight deliveries finish), then the HTTP client.
///
/// - Parameter store: a store to use instead of opening `sqlite.database_path` (tests inject one they can reach
///   into); the caller then owns its locking.
/// - Parameter metrics: the Prometheus registry (wrapped) that `/metrics` renders; `messagebridge serve` passes the
///   one it bootstrapped `MetricsSystem` with. A fresh registry when nil.
/// - Parameter apiKeyStore: where API keys live; the SQLite store's file when nil.
/// - Parameter clock: the clock of everything timed (acceptance times and dedup windows, key expiry and rotation
///   grace, rate limits, circuit breakers, retry due dates); tests pass one they move forward instead of sleeping.
public func buildApplication(
    configuration: MessageBridgeConfiguration,
    logger: Logger = Logger(label: "messagebridge"),
    store injectedStore: (any MessageStore)? = nil,
    metrics injectedMetrics: AppMetrics? = nil,
    apiKeyStore injectedKeyStore: (any APIKeyStore)? = nil,
    clock: any WallClock = SystemWallClock()
) async throws -> some ApplicationProtocol {
    let (store, lock) = try await openStore(configuration, injected: injectedStore, clock: clock, logger: logger)
    let routes = try makeIngestRoutes(configuration)
    let delivery = try Delivery(configuration: configuration, routes: routes, store: store, clock: clock, logger: logger)
    let apiKeys = APIKeyManager(store: try makeAPIKeyStore(injected: injectedKeyStore, messageStore: store), clock: clock)
    let metrics = injectedMetrics ?? AppMetrics()
    let events = try await EventWebhooks(
        configuration: configuration, messageStore: store, breakers: delivery.breakers, clock: clock, logger: logger
    )
    let chat = try await Chat(
        configuration: configuration, messageStore: store, keys: APIKeyAuthenticator(manager: apiKeys), metrics: metrics,
        clock: clock, logger: logger, onEvents: { [worker = events.worker] in worker.noteNewEvents() }
    )
    let shutdownFlag = ShutdownFlag()
    let router = try makeRouter(
        configuration: configuration, routes: routes, store: store, delivery: delivery, chat: chat, events: events,
        apiKeys: apiKeys, metrics: metrics, isShuttingDown: { shutdownFlag.isSet }, clock: clock
    )

    let connectionLimits = ConnectionLimits(
        requestHeadTimeout: configuration.server.requestHeadTimeout,
        idleTimeout: configuration.server.idleTimeout,
        maxConnections: configuration.server.maxConnections ?? ConnectionLimits.defaultMaxConnections()
    )
    let sockets = chat.makeSockets(logger: logger)
    var app = Application(
        router: router,
        server: HTTPServerBuilder { responder in
            // HTTP/1 with the `/ws` upgrade, behind the connection gate (admission, first-head timeout and size).
            GatedChildChannel(
                inner: HTTP1ChatChannel(
                    responder: responder,
                    additionalChannelHandlers: { [ConnectionGuardHandler(limits: connectionLimits)] },
                    maxFrameSize: sockets.maxFrameSize,
                    sockets: sockets
                ),
                limits: connectionLimits
            )
        },
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
    // Shut down in reverse: the HTTP server first (added by Hummingbird), then these from last to first.
    app.addServices(
        ResourceService(name: "store", logger: logger) {
            // Keeps the single-server lock for the life of the process; the store closes with the last reference.
            withExtendedLifetime(lock) {}
            logger.info("store closed")
        },
        ResourceService(name: "http client", logger: logger) {
            try await delivery.httpClient.shutdown()
        },
        ResourceService(name: "event webhook client", logger: logger) {
            try await events.httpClient.shutdown()
        },
        // Shut down before its client: requests in flight finish (within webhooks.timeout) and are recorded.
        events.worker,
        delivery.dispatcher,
        // Shut down before the dispatcher: flushes what librdkafka holds within the grace period and fails the
        // rest back to the retry path, so the dispatcher's in-flight Kafka deliveries can finish.
        ResourceService(name: "kafka producer", logger: logger) { [kafkaProducer = delivery.kafkaProducer] in
            await kafkaProducer?.shutdown(timeout: min(configuration.server.shutdownTimeout, .seconds(10)))
        },
        delivery.retryWorker,
        APIKeyExpiryWarningService(keys: apiKeys, logger: logger),
        chat.makeAttachmentPurge(logger: logger),
        // Shut down after the server stops accepting: every open socket is closed with 1001.
        sockets,
        ResourceService(name: "shutdown flag", logger: logger) {
            shutdownFlag.set()
        }
    )
    if let interval = configuration.backup.interval, let sqlite = store as? SQLiteMessageStore {
        app.addServices(BackupService(
            settings: configuration.backup, interval: interval, database: sqlite.database, metrics: metrics, clock: clock, logger: logger
        ))
    }
    return app
}

/// Step 1: the store. The injected one (tests), or the SQLite file: the single-server lock first (a second server
/// must not migrate the file under the one that holds it), then open and migrate, then release the leases a
/// crashed predecessor left.
func openStore(
    _ configuration: MessageBridgeConfiguration,
    injected: (any MessageStore)?,
    clock: any WallClock,
    logger: Logger
) async throws -> (any MessageStore, ServerLock?) {
    if let injected { return (injected, nil) }
    let lock = try ServerLock(databasePath: configuration.sqlite.databasePath)
    let store = try SQLiteMessageStore(
        database: .open(path: configuration.sqlite.databasePath, migrating: true, mmapSizeMiB: configuration.sqlite.mmapSizeMiB),
        clock: clock
    )
    let released = try await store.releaseAllLeases(now: clock.now)
    if released > 0 {
        logger.notice("released deliveries left in flight by the previous run", metadata: ["count": "\(released)"])
    }
    return (store, lock)
}

/// The configured routes, resolved: destinations, checked verifiers. Throws a configuration error for a route on a
/// path the server serves itself (a configuration loaded without `reservedPaths`) or a verifier that cannot be built.
func makeIngestRoutes(_ configuration: MessageBridgeConfiguration) throws -> [IngestController.Route] {
    var problems: [ConfigurationProblem] = []
    var routes: [IngestController.Route] = []
    for (index, route) in configuration.routes.enumerated() {
        if reservedServerPaths.contains(where: { route.path == $0 || route.path.hasPrefix($0 + "/") }) {
            problems.append(.init(key: "routes[\(index)].path", line: nil, message: "\(route.path) is reserved for the server's own endpoints"))
            continue
        }
        guard let destination = configuration.destination(for: route) else { continue }
        var verifier: WebhookVerifier?
        do {
            verifier = try route.verification?.makeVerifier()
        } catch {
            problems.append(.init(key: "routes[\(index)].verify", line: nil, message: error.message))
            continue
        }
        routes.append(.init(
            path: route.path, destination: destination,
            verification: verifier.map(RouteVerification.init), dedup: route.dedup, credentials: route.credentialHeaders
        ))
    }
    if !problems.isEmpty { throw ConfigurationError(problems: problems) }
    return routes
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
