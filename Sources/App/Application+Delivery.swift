import AsyncHTTPClient
import ConfigurationFile
import Core
import Foundation
import Kafka
import Logging
import Metrics

/// Step 2 of the composition root: everything that delivers. The HTTP and Kafka sinks, the circuit breakers, the
/// dispatcher with a lane per sink kind, the intake that ingest and the retry worker hand messages to, and the
/// retry worker itself.
struct Delivery {
    let httpClient: HTTPClient
    let kafkaProducer: KafkaProducer?
    let breakers: CircuitBreakerRegistry?
    let dispatcher: DeliveryDispatcher
    let intake: DeliveryIntake
    let retryWorker: RetryWorker
    /// Signalled when the store gains work due soon (a retry scheduled, an admin retry).
    let dueWork: Wakeup
    /// Credential policies by route path, for the sinks and the admin API.
    let credentialsByRoute: [String: CredentialHeaders]

    init(
        configuration: MessageBridgeConfiguration,
        routes: [IngestController.Route],
        store: any MessageStore,
        clock: any WallClock,
        logger: Logger
    ) throws {
        let worker = configuration.worker
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, min(worker.concurrency, 512))
        clientConfiguration.redirectConfiguration = .disallow
        // No tracer is bootstrapped: a span per request would go to the no-op tracer, and its attributes cost ~5 % of
        // an event delivery's CPU (the egress benchmark's profile).
        clientConfiguration.tracing.tracer = nil
        clientConfiguration.timeout.connect = .seconds(10)
        // A refused connection should fail the attempt now and go through our backoff, not spin inside the pool.
        clientConfiguration.connectionPool.retryConnectionEstablishment = false
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        self.httpClient = httpClient
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
        self.dueWork = retryWakeup
        let dispatcher = DeliveryDispatcher(
            owner: makeNodeID(),
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
        self.kafkaProducer = kafkaProducer
        self.breakers = breakers
        self.credentialsByRoute = credentialsByRoute
        self.dispatcher = dispatcher
        let intake = DeliveryIntake(dispatcher: dispatcher, commit: makeIngestCommitter(store: store), leaseTimeout: worker.leaseTimeout)
        self.intake = intake
        self.retryWorker = RetryWorker(store: store, intake: intake, settings: worker, dueWork: retryWakeup, clock: clock, logger: logger)
    }
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

