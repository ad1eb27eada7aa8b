import Core
import Foundation
import Logging
import Metrics
import Security
import ServiceLifecycle
import Synchronization

/// Runs deliveries: takes leased messages (fresh from ingest or claimed by the retry worker), hands each to its
/// sink, and writes the outcome back through a group commit.
///
/// Each sink kind has its own lane with its own concurrency, so a slow HTTP endpoint never holds up Kafka (whose
/// lane keeps thousands of records in flight for librdkafka to batch). Ingest reserves a slot before it stores a
/// message as leased (`reserve(for:)`); when the lane is full the message is stored as pending instead and the
/// retry worker picks it up, so memory stays bounded under any load. A destination whose circuit breaker is open
/// is not attempted: its messages are deferred without using up a retry.
final class DeliveryDispatcher: Service {
    /// One message to deliver, leased to this node.
    struct Job: Sendable {
        var message: NewMessage
        /// Attempts already made, for numbering.
        var attemptCount: Int
        /// Attempts counted against `max_retries`.
        var attemptsSinceRetry: Int
    }

    /// The queue and concurrency limit of one sink kind.
    final class Lane: Sendable {
        let kind: String
        let concurrency: Int
        let queueLimit: Int
        let jobs: AsyncStream<Job>
        let continuation: AsyncStream<Job>.Continuation
        /// Jobs reserved, queued or running.
        let occupied = Mutex(0)

        init(kind: String, concurrency: Int) {
            self.kind = kind
            self.concurrency = concurrency
            self.queueLimit = max(concurrency * 4, 1024)
            (jobs, continuation) = AsyncStream.makeStream(of: Job.self)
        }
    }

    let owner: String
    /// Recent outcomes per destination.
    let destinationHealth: DestinationHealth
    /// The breakers, when enabled.
    let breakers: CircuitBreakerRegistry?
    private let sink: any DeliverySink
    private let policy: RetryPolicy
    private let lanes: [String: Lane]
    private let completions: GroupCommitter<DeliveryCompletion, Void>
    private let logger: Logger
    private let onRetryScheduled: @Sendable () -> Void
    private let isStopping = Atomic(false)
    private let deliveredCounters = MetricCache { Counter(label: "messagebridge_messages_delivered_total", dimensions: $0) }
    private let failureCounters = MetricCache { Counter(label: "messagebridge_delivery_failures_total", dimensions: $0) }
    private let latencyTimers = MetricCache {
        Timer(label: "messagebridge_delivery_latency_seconds", dimensions: $0, preferredDisplayUnit: .seconds)
    }

    init(
        owner: String,
        sink: any DeliverySink,
        store: any MessageStore,
        policy: RetryPolicy,
        concurrencyByKind: [String: Int],
        breakers: CircuitBreakerRegistry?,
        destinationHealth: DestinationHealth,
        logger: Logger,
        onRetryScheduled: @escaping @Sendable () -> Void
    ) {
        self.owner = owner
        self.sink = sink
        self.policy = policy
        self.breakers = breakers
        self.destinationHealth = destinationHealth
        self.logger = logger
        self.onRetryScheduled = onRetryScheduled
        self.lanes = Dictionary(uniqueKeysWithValues: concurrencyByKind.map { ($0.key, Lane(kind: $0.key, concurrency: $0.value)) })
        self.completions = GroupCommitter { batch in
            try await store.complete(batch, now: Date())
            return Array(repeating: (), count: batch.count)
        }
    }

    /// How many more jobs may be reserved now, over all lanes (the retry worker's claim size).
    var freeCapacity: Int {
        if isStopping.load(ordering: .relaxed) { return 0 }
        return lanes.values.reduce(0) { total, lane in total + max(0, lane.queueLimit - lane.occupied.withLock { $0 }) }
    }

    /// Reserves a slot for a message about to be stored as leased; false when its lane is full or stopping.
    func reserve(for destination: Destination) -> Bool {
        guard !isStopping.load(ordering: .relaxed), let lane = lanes[destination.kind] else { return false }
        return lane.occupied.withLock { count in
            guard count < lane.queueLimit else { return false }
            count += 1
            return true
        }
    }

    /// Gives back a reservation whose message was not stored.
    func cancelReservation(for destination: Destination) {
        lanes[destination.kind]?.occupied.withLock { $0 -= 1 }
    }

    /// Queues a reserved job.
    func enqueue(_ job: Job) {
        guard let lane = lanes[job.message.destination.kind] else { return }
        if case .terminated = lane.continuation.yield(job) {
            // Only after shutdown began: the lease is released at the next start (or expires on another node).
            lane.occupied.withLock { $0 -= 1 }
            logger.warning("delivery queued after shutdown", metadata: ["message_id": "\(job.message.id)"])
        }
    }

    /// Gives claimed messages that found no free slot back to the store, due now.
    func releaseUnstarted(_ messages: [NewMessage]) async {
        for message in messages {
            await write(DeliveryCompletion(messageID: message.id, owner: owner, change: .released, attempt: nil), logger: logger)
        }
    }

    func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for lane in lanes.values {
                    group.addTask { await self.run(lane) }
                }
            }
        } onGracefulShutdown: {
            self.isStopping.store(true, ordering: .relaxed)
            for lane in self.lanes.values { lane.continuation.finish() }
        }
    }

    private func run(_ lane: Lane) async {
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for await job in lane.jobs {
                if isStopping.load(ordering: .relaxed) {
                    await release(job, from: lane)
                    continue
                }
                if running >= lane.concurrency {
                    await group.next()
                    running -= 1
                }
                running += 1
                group.addTask { await self.deliver(job, lane: lane) }
            }
            await group.waitForAll()
        }
    }

    private func deliver(_ job: Job, lane: Lane) async {
        defer { lane.occupied.withLock { $0 -= 1 } }
        let message = job.message
        var logger = self.logger
        logger[metadataKey: "message_id"] = "\(message.id)"
        let breaker = breakers?.breaker(for: Self.breakerKey(for: message.destination))
        if let breaker, case .denied(let retryAfter) = breaker.canAttempt() {
            let until = Date().addingTimeInterval(max(retryAfter.seconds, 0.01))
            logger.debug("delivery deferred by open circuit breaker", metadata: ["until": "\(until)"])
            await write(DeliveryCompletion(messageID: message.id, owner: owner, change: .deferred(until: until), attempt: nil), logger: logger)
            onRetryScheduled()
            return
        }
        let attemptNumber = job.attemptCount + 1
        let started = ContinuousClock.now
        let result = await sink.deliver(message, attempt: attemptNumber, logger: logger)
        let elapsed = ContinuousClock.now - started
        let now = Date()
        destinationHealth.record(result, for: message.destination, at: now)
        switch result {
        case .delivered, .rejected: breaker?.recordSuccess()  // a 4xx still proves the endpoint is up
        case .retryable: breaker?.recordFailure()
        }
        var generator = SystemRandomNumberGenerator()
        let change = policy.change(after: result, previousAttempts: job.attemptsSinceRetry, now: now, using: &generator)
        let attempt: DeliveryAttempt
        switch result {
        case .delivered(let statusCode):
            attempt = DeliveryAttempt(number: attemptNumber, finishedAt: now, outcome: "delivered", statusCode: statusCode, error: nil, durationSeconds: elapsed.seconds)
            deliveredCounters([("route", message.route), ("sink", message.destination.kind)]).increment()
            latencyTimers([("sink", message.destination.kind)])
                .record(duration: .milliseconds(Int64(max(0, now.timeIntervalSince(message.acceptedAt)) * 1000)))
            logger.debug("message delivered", metadata: ["attempt": "\(attemptNumber)"])
        case .retryable(let error), .rejected(let error):
            let outcome = if case .failed = change { "failed" } else { "retryable" }
            attempt = DeliveryAttempt(number: attemptNumber, finishedAt: now, outcome: outcome, statusCode: error.statusCode, error: error.message, durationSeconds: elapsed.seconds)
            failureCounters([("route", message.route), ("reason", error.reason)]).increment()
            logger.warning(
                "delivery attempt failed",
                metadata: ["attempt": "\(attemptNumber)", "reason": "\(error.reason)", "error": "\(error.message)", "outcome": "\(outcome)"]
            )
        }
        await write(DeliveryCompletion(messageID: message.id, owner: owner, change: change, attempt: attempt), logger: logger)
        if case .retry = change { onRetryScheduled() }
    }

    private func release(_ job: Job, from lane: Lane) async {
        defer { lane.occupied.withLock { $0 -= 1 } }
        await write(DeliveryCompletion(messageID: job.message.id, owner: owner, change: .released, attempt: nil), logger: logger)
    }

    private func write(_ completion: DeliveryCompletion, logger: Logger) async {
        do {
            // The group commit writes in a task of its own, so a delivery cancelled at the end of the shutdown
            // grace period still records what happened.
            try await completions.submit(completion)
        } catch {
            // The lease expires and the message is delivered again: at-least-once, never lost.
            logger.error("cannot record delivery outcome", metadata: ["error": "\(error)"])
        }
    }

    /// One breaker per HTTP origin (scheme, host, port) and one for the Kafka cluster.
    static func breakerKey(for destination: Destination) -> String {
        switch destination {
        case .kafka: return "kafka"
        case .http(let url):
            guard let components = URLComponents(string: url), let host = components.host else { return url }
            let scheme = components.scheme ?? "http"
            let port = components.port ?? (scheme == "https" ? 443 : 80)
            return "\(scheme)://\(host):\(port)"
        }
    }
}
