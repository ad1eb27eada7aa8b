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
        let commits = makeStoreCommits(store: store, clock: clock)
        let dispatcher = DeliveryDispatcher(
            owner: makeNodeID(),
            sink: SinkRouter(sinks: sinks),
            commitOutcomes: commits.outcomes,
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
        let intake = DeliveryIntake(dispatcher: dispatcher, commit: commits.ingest, leaseTimeout: worker.leaseTimeout)
        self.intake = intake
        self.retryWorker = RetryWorker(store: store, intake: intake, settings: worker, dueWork: retryWakeup, clock: clock, logger: logger)
    }
}

/// The durable commits of the delivery pipeline: new messages (ingest) and delivery outcomes.
struct StoreCommits: Sendable {
    /// Stores one accepted message with whatever else queued up; returns once it is durable.
    let ingest: @Sendable (IngestRecord) async throws -> IngestOutcome
    /// Writes one finished batch's outcomes with whatever else queued up; returns once they are durable.
    let outcomes: @Sendable ([DeliveryCompletion]) async throws -> Void
}

/// One item of the commit thread: a message to store, or the outcomes of a finished delivery batch.
private enum StoreWrite: Sendable {
    case record(IngestRecord)
    case completions([DeliveryCompletion])
}

/// Group commit for ingest and outcomes. When the store writes with blocking calls (SQLite), both go through one
/// dedicated thread, so the messages accepted and the deliveries finished while the previous commit ran share one
/// transaction and one fsync (with deliveries on, an outcome then costs no commit of its own, nor a hop to the
/// store's writer queue). Otherwise each has its own async committer.
func makeStoreCommits(store: any MessageStore, clock: any WallClock) -> StoreCommits {
    guard let blocking = store as? any BlockingIngestStore else {
        let ingest = GroupCommitter<IngestRecord, IngestOutcome> { batch in
            try await store.insertReportingDuplicates(batch)
        }
        let outcomes = GroupCommitter<[DeliveryCompletion], Void> { batches in
            try await store.complete(batches.count == 1 ? batches[0] : Array(batches.joined()), now: clock.now)
            return Array(repeating: (), count: batches.count)
        }
        return StoreCommits(ingest: { try await ingest.submit($0) }, outcomes: { try await outcomes.submit($0) })
    }
    let committer = ThreadGroupCommitter<StoreWrite, IngestOutcome?>(name: "ingest-commit") { batch in
        var records: [IngestRecord] = []
        var completions: [DeliveryCompletion] = []
        records.reserveCapacity(batch.count)
        for write in batch {
            switch write {
            case .record(let record): records.append(record)
            case .completions(let finished): completions.append(contentsOf: finished)
            }
        }
        var stored = try blocking.writeBlocking(records: records, completions: completions, completedAt: clock.now).makeIterator()
        return batch.map { write in
            guard case .record = write else { return nil }
            return stored.next()
        }
    }
    return StoreCommits(
        ingest: { record in
            guard let outcome = try await committer.submit(.record(record)) else {
                preconditionFailure("the commit thread returned no outcome for a stored record")
            }
            return outcome
        },
        outcomes: { completions in _ = try await committer.submit(.completions(completions)) }
    )
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

