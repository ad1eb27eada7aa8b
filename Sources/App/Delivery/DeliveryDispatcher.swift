import Core
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Runs deliveries: takes leased messages (fresh from ingest or claimed by the retry worker), hands each to its
/// sink with bounded concurrency, and writes the outcome back through a group commit.
///
/// Ingest reserves a slot before it stores a message as leased (`reserve()`); when the queue is full the message
/// is stored as pending instead and the retry worker picks it up, so memory stays bounded under any load.
final class DeliveryDispatcher: Service {
    /// One message to deliver, leased to this node.
    struct Job: Sendable {
        var message: NewMessage
        /// Attempts already made, for numbering.
        var attemptCount: Int
        /// Attempts counted against `max_retries`.
        var attemptsSinceRetry: Int
    }

    let owner: String
    private let sink: any DeliverySink
    private let policy: RetryPolicy
    private let concurrency: Int
    private let queueLimit: Int
    private let completions: GroupCommitter<DeliveryCompletion, Void>
    private let logger: Logger
    private let onRetryScheduled: @Sendable () -> Void
    /// Recent outcomes per destination.
    let destinationHealth: DestinationHealth
    private let jobs: AsyncStream<Job>
    private let jobsContinuation: AsyncStream<Job>.Continuation
    /// Jobs reserved, queued or running.
    private let occupied = Mutex(0)
    private let isStopping = Atomic(false)

    init(
        owner: String,
        sink: any DeliverySink,
        store: any MessageStore,
        policy: RetryPolicy,
        concurrency: Int,
        destinationHealth: DestinationHealth,
        logger: Logger,
        onRetryScheduled: @escaping @Sendable () -> Void
    ) {
        self.owner = owner
        self.sink = sink
        self.policy = policy
        self.concurrency = concurrency
        self.destinationHealth = destinationHealth
        self.queueLimit = max(concurrency * 8, 1024)
        self.logger = logger
        self.onRetryScheduled = onRetryScheduled
        self.completions = GroupCommitter { batch in
            try await store.complete(batch, now: Date())
            return Array(repeating: (), count: batch.count)
        }
        (jobs, jobsContinuation) = AsyncStream.makeStream(of: Job.self)
    }

    /// How many more jobs may be reserved now.
    var freeCapacity: Int {
        isStopping.load(ordering: .relaxed) ? 0 : max(0, queueLimit - occupied.withLock { $0 })
    }

    /// Reserves a slot for a message about to be stored as leased; false when full or stopping.
    func reserve() -> Bool {
        if isStopping.load(ordering: .relaxed) { return false }
        return occupied.withLock { count in
            guard count < queueLimit else { return false }
            count += 1
            return true
        }
    }

    /// Gives back a reservation whose message was not stored.
    func cancelReservation() {
        occupied.withLock { $0 -= 1 }
    }

    /// Queues a reserved job.
    func enqueue(_ job: Job) {
        if case .terminated = jobsContinuation.yield(job) {
            // Only after shutdown: the lease is released at the next start (or expires on another node).
            occupied.withLock { $0 -= 1 }
            logger.warning("delivery queued after shutdown", metadata: ["message_id": "\(job.message.id)"])
        }
    }

    func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                var running = 0
                for await job in jobs {
                    if isStopping.load(ordering: .relaxed) {
                        await release(job)
                        continue
                    }
                    if running >= concurrency {
                        await group.next()
                        running -= 1
                    }
                    running += 1
                    group.addTask { await self.deliver(job) }
                }
                await group.waitForAll()
            }
        } onGracefulShutdown: {
            self.isStopping.store(true, ordering: .relaxed)
            self.jobsContinuation.finish()
        }
    }

    private func deliver(_ job: Job) async {
        defer { occupied.withLock { $0 -= 1 } }
        let message = job.message
        var logger = self.logger
        logger[metadataKey: "message_id"] = "\(message.id)"
        let attemptNumber = job.attemptCount + 1
        let started = ContinuousClock.now
        let result = await sink.deliver(message, attempt: attemptNumber, logger: logger)
        let elapsed = ContinuousClock.now - started
        let now = Date()
        destinationHealth.record(result, for: message.destination, at: now)
        var generator = SystemRandomNumberGenerator()
        let change = policy.change(after: result, previousAttempts: job.attemptsSinceRetry, now: now, using: &generator)
        let attempt: DeliveryAttempt
        switch result {
        case .delivered(let statusCode):
            attempt = DeliveryAttempt(number: attemptNumber, finishedAt: now, outcome: "delivered", statusCode: statusCode, error: nil, durationSeconds: elapsed.seconds)
            Counter(label: "messagebridge_messages_delivered_total", dimensions: [("route", message.route), ("sink", message.destination.kind)]).increment()
            Timer(label: "messagebridge_delivery_latency_seconds", dimensions: [("sink", message.destination.kind)], preferredDisplayUnit: .seconds)
                .record(duration: .milliseconds(Int64(max(0, now.timeIntervalSince(message.acceptedAt)) * 1000)))
            logger.debug("message delivered", metadata: ["attempt": "\(attemptNumber)"])
        case .retryable(let error), .rejected(let error):
            let outcome = if case .failed = change { "failed" } else { "retryable" }
            attempt = DeliveryAttempt(number: attemptNumber, finishedAt: now, outcome: outcome, statusCode: error.statusCode, error: error.message, durationSeconds: elapsed.seconds)
            Counter(label: "messagebridge_delivery_failures_total", dimensions: [("route", message.route), ("reason", error.reason)]).increment()
            logger.warning(
                "delivery attempt failed",
                metadata: ["attempt": "\(attemptNumber)", "reason": "\(error.reason)", "error": "\(error.message)", "outcome": "\(outcome)"]
            )
        }
        await write(DeliveryCompletion(messageID: message.id, owner: owner, change: change, attempt: attempt), logger: logger)
        if case .retry = change { onRetryScheduled() }
    }

    private func release(_ job: Job) async {
        defer { occupied.withLock { $0 -= 1 } }
        await write(DeliveryCompletion(messageID: job.message.id, owner: owner, change: .released, attempt: nil), logger: logger)
    }

    private func write(_ completion: DeliveryCompletion, logger: Logger) async {
        do {
            // Its own task, so a delivery cancelled at the end of the shutdown grace period still records what
            // happened; awaited, so nothing outlives the dispatcher.
            try await Task { try await completions.submit(completion) }.value
        } catch {
            // The lease expires and the message is delivered again: at-least-once, never lost.
            logger.error("cannot record delivery outcome", metadata: ["error": "\(error)"])
        }
    }
}
