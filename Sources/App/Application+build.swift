import AsyncHTTPClient
import ConfigurationFile
import Core
import Foundation
import Hummingbird
import Kafka
import Logging
import Metrics
import NIOCore
import WebhookSecurity
import ServiceLifecycle
import Storage
import Synchronization

/// The paths the server serves itself, from the controllers that own them: no route may use one (or a path under
/// one). `ConfigurationLoader(reservedPaths:)` reports such a route on its key and line.
public let reservedServerPaths: [String] =
    HealthController.ownedPaths + MetricsController.ownedPaths + AdminController.ownedPaths + OpenAPIController.ownedPaths

/// The one composition root: `messagebridge serve` and every test build the server here.
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
///   grace, rate limits, circuit breakers, retry due dates); tests pass one they
///   move forward instead of sleeping.
public func buildApplication(
    configuration: MessageBridgeConfiguration,
    logger: Logger = Logger(label: "messagebridge"),
    store injectedStore: (any MessageStore)? = nil,
    metrics injectedMetrics: AppMetrics? = nil,
    apiKeyStore injectedKeyStore: (any APIKeyStore)? = nil,
    clock: any WallClock = SystemWallClock()
) async throws -> some ApplicationProtocol {
    let store: any MessageStore
    let lock: ServerLock?
    if let injectedStore {
        store = injectedStore
        lock = nil
    } else {
        // The lock first: a second server must not migrate the file under the one that holds it.
        lock = try ServerLock(databasePath: configuration.sqlite.databasePath)
        store = try SQLiteMessageStore(database: .open(path: configuration.sqlite.databasePath, migrating: true))
        let released = try await store.releaseAllLeases(now: Date())
        if released > 0 {
            logger.notice("released deliveries left in flight by the previous run", metadata: ["count": "\(released)"])
        }
    }
    let nodeID = makeNodeID()
    let worker = configuration.worker

    let routes = try makeIngestRoutes(configuration)

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
    let credentialsByRoute = Dictionary(routes.map { ($0.path, $0.credentials) }, uniquingKeysWith: { first, _ in first })
    let httpSink = HTTPSink(
        httpClient: httpClient,
        defaultOptions: .init(timeout: worker.httpTimeout, quickRetries: 0),
        optionsByURL: httpOptions,
        credentials: credentialsByRoute
    )

    var sinks: [SinkKind: any DeliverySink] = [.http: httpSink]
    var concurrencyByKind: [SinkKind: Int] = [.http: worker.concurrency]
    var batchLimitByKind: [SinkKind: Int] = [:]
    var kafkaProducer: KafkaProducer?
    if let kafka = configuration.kafka, routes.contains(where: { $0.destination.kind == .kafka }) {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(settings: kafka), logger: logger)
        kafkaProducer = producer
        let keySources = Dictionary(
            configuration.routes.compactMap { route in route.kafkaKey.map { (route.path, $0) } },
            uniquingKeysWith: { first, _ in first }
        )
        sinks[.kafka] = KafkaSink(
            producer: producer,
            keySources: keySources,
            credentials: credentialsByRoute
        )
        concurrencyByKind[.kafka] = kafka.maxInFlight
        // Several batches in flight, so librdkafka always has records to send while a finished batch is recorded.
        batchLimitByKind[.kafka] = max(1, min(kafka.maxInFlight / 4, 5_000))
    }

    let breakers = try makeCircuitBreakers(configuration.circuitBreaker, logger: logger)
    if breakers != nil {
        // Every destination's gauge exists from the start (closed), not only after its first transition.
        for key in Set(routes.map { DeliveryDispatcher.breakerKey(for: $0.destination) }) {
            Gauge(label: "circuit_breaker_state", dimensions: [("destination", key)]).record(0)
        }
    }
    let retryWakeup = Wakeup()
    let dispatcher = DeliveryDispatcher(
        owner: nodeID,
        sink: SinkRouter(sinks: sinks),
        store: store,
        policy: RetryPolicy(maxRetries: worker.maxRetries, initialBackoff: worker.initialBackoff, maxBackoff: worker.maxBackoff),
        concurrencyByKind: concurrencyByKind,
        batchLimitByKind: batchLimitByKind,
        breakers: breakers,
        destinationHealth: DestinationHealth(destinations: routes.map(\.destination)),
        logger: logger,
        dueWork: retryWakeup,
        clock: clock
    )
    let intake = DeliveryIntake(dispatcher: dispatcher, commit: makeIngestCommitter(store: store), leaseTimeout: worker.leaseTimeout)
    let retryWorker = RetryWorker(store: store, intake: intake, settings: worker, dueWork: retryWakeup, clock: clock, logger: logger)

    let shutdownFlag = ShutdownFlag()
    let appMetrics = injectedMetrics ?? AppMetrics()
    let apiKeys = APIKeyManager(store: try makeAPIKeyStore(injected: injectedKeyStore, messageStore: store), clock: clock)
    let keyAuthenticator = APIKeyAuthenticator(manager: apiKeys)

    let router = Router(context: AppRequestContext.self)
    // First: every later middleware and handler sees the path the router dispatched on.
    router.middlewares.add(CanonicalPathMiddleware())
    router.middlewares.add(HTTPMetricsMiddleware(metrics: appMetrics))
    router.middlewares.add(RequestIDMiddleware())
    if let cors = configuration.cors { router.middlewares.add(CORSMiddleware(settings: cors)) }
    router.middlewares.add(ErrorMiddleware())
    let routeMethods = RouteMethods()
    router.middlewares.add(MethodNotAllowedMiddleware(routes: routeMethods))
    if let rateLimiter = try RateLimitMiddleware(settings: configuration.rateLimits, routePaths: routes.map(\.path), clock: clock) {
        router.middlewares.add(rateLimiter)
    }
    let keyProtectedPaths = configuration.routes.filter(\.requiresAPIKey).map(\.path)
    if !keyProtectedPaths.isEmpty {
        router.middlewares.add(IngestAuthMiddleware(authenticator: keyAuthenticator, protectedPaths: keyProtectedPaths))
    }
    IngestController(
        routes: routes,
        maxBodyBytes: configuration.server.maxBodyBytes,
        intake: intake,
        clock: clock
    ).addRoutes(to: router)
    HealthController(
        store: store,
        routes: routes,
        destinationHealth: dispatcher.destinationHealth,
        breakers: breakers,
        kafkaProducer: kafkaProducer,
        startedAt: Date(),
        nodeID: nodeID,
        isShuttingDown: { shutdownFlag.isSet },
        statusGuard: EndpointGuard(access: configuration.status, authenticator: keyAuthenticator, section: "status"),
        storeProbe: StoreHealthProbe { try await store.checkHealth() }
    ).addRoutes(to: router)
    AdminController(
        store: store, keys: apiKeys, authenticator: keyAuthenticator, retryWakeup: retryWakeup,
        credentials: credentialsByRoute
    ).addRoutes(to: router)
    MetricsController(settings: configuration.metrics, metrics: appMetrics, store: store, authenticator: keyAuthenticator)
        .addRoutes(to: router)
    OpenAPIController().addRoutes(to: router)
    routeMethods.load(from: router)

    let connectionLimits = ConnectionLimits(
        requestHeadTimeout: configuration.server.requestHeadTimeout,
        idleTimeout: configuration.server.idleTimeout,
        maxConnections: configuration.server.maxConnections ?? ConnectionLimits.defaultMaxConnections()
    )
    var app = Application(
        router: router,
        server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionGuardHandler(limits: connectionLimits)])),
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
        // Shut down before the dispatcher: flushes what librdkafka holds within the grace period and fails the
        // rest back to the retry path, so the dispatcher's in-flight Kafka deliveries can finish.
        ResourceService(name: "kafka producer", logger: logger) { [kafkaProducer] in
            await kafkaProducer?.shutdown(timeout: min(configuration.server.shutdownTimeout, .seconds(10)))
        },
        retryWorker,
        APIKeyExpiryWarningService(keys: apiKeys, logger: logger),
        ResourceService(name: "shutdown flag", logger: logger) {
            shutdownFlag.set()
        }
    )
    return app
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

/// Group commit for ingest: on a dedicated thread when the store writes with blocking calls (SQLite), else with
/// the async committer.
func makeIngestCommitter(store: any MessageStore) -> @Sendable (IngestRecord) async throws -> IngestOutcome {
    if let blocking = store as? any BlockingIngestStore {
        let committer = ThreadGroupCommitter<IngestRecord, IngestOutcome>(name: "ingest-commit") { batch in
            try blocking.insertReportingDuplicatesBlocking(batch)
        }
        return { record in try await committer.submit(record) }
    }
    let committer = GroupCommitter<IngestRecord, IngestOutcome> { batch in
        try await store.insertReportingDuplicates(batch)
    }
    return { record in try await committer.submit(record) }
}

/// One breaker per destination, with transitions logged and exported as `circuit_breaker_state{destination}`.
func makeCircuitBreakers(_ settings: CircuitBreakerSettings, logger: Logger) throws -> CircuitBreakerRegistry? {
    guard settings.isEnabled else { return nil }
    return try CircuitBreakerRegistry(
        configuration: .init(
            failureThreshold: settings.failureThreshold,
            openTimeout: settings.openTimeout,
            successThreshold: settings.successThreshold
        ),
        onTransition: { destination, transition in
            Gauge(label: "circuit_breaker_state", dimensions: [("destination", destination)])
                .record(transition.to.gaugeValue)
            let metadata: Logger.Metadata = [
                "destination": "\(destination)", "from": "\(transition.from.rawValue)", "to": "\(transition.to.rawValue)",
            ]
            if transition.to == .open {
                logger.warning("circuit breaker opened", metadata: metadata)
            } else {
                logger.notice("circuit breaker changed state", metadata: metadata)
            }
        }
    )
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
