import Core
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Runs deliveries: takes leased messages (fresh from ingest or claimed by the retry worker), hands each to its
/// sink, and writes the outcome back through a group commit.
///
/// Each sink kind has its own lane with its own concurrency, so a slow HTTP endpoint never holds up Kafka (whose
/// lane keeps thousands of records in flight for librdkafka to batch). A lane with a batch limit above one (Kafka)
/// hands whatever is queued, up to that limit, to its sink as one batch from one task and writes the batch's
/// outcomes in one transaction; the others run one task per message. Ingest reserves a slot before it stores a
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
        let kind: SinkKind
        /// Messages in flight at once.
        let concurrency: Int
        /// Messages handed to the sink in one batch; 1 runs a task per message.
        let batchLimit: Int
        let queueLimit: Int
        let queue = JobQueue()
        /// Jobs reserved, queued or running.
        let occupied = Mutex(0)
        /// Jobs handed to the sink whose outcome is not written yet.
        let running = Atomic(0)

        init(kind: SinkKind, concurrency: Int, batchLimit: Int) {
            self.kind = kind
            self.concurrency = concurrency
            self.batchLimit = max(1, min(batchLimit, concurrency))
            self.queueLimit = max(concurrency * 4, 1024)
        }
    }

    /// Jobs waiting for their lane: appended by ingest and the retry worker, taken by the lane's runner as many
    /// at a time as it has room for. One waiter (the runner), woken by new jobs, by finished jobs (room) and by
    /// `finish()`.
    final class JobQueue: Sendable {
        private struct State {
            /// Queued jobs are `jobs[head...]`: taking a prefix moves an index rather than the rest of the array.
            var jobs: [Job] = []
            var head = 0
            var isFinished = false
            var isSignalled = false
            var waiter: CheckedContinuation<Void, Never>?
        }

        private let state = Mutex(State())

        /// Appends jobs; false (nothing appended) once the queue is finished.
        func append(contentsOf jobs: some Collection<Job>) -> Bool {
            let (isAppended, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
                guard !state.isFinished else { return (false, nil) }
                state.jobs.append(contentsOf: jobs)
                return (true, Self.takeWaiter(&state))
            }
            waiter?.resume()
            return isAppended
        }

        /// No more jobs: `take` returns what is left, then nil.
        func finish() {
            let waiter = state.withLock { state in
                state.isFinished = true
                return Self.takeWaiter(&state)
            }
            waiter?.resume()
        }

        /// Wakes the runner to look again (room was freed).
        func signal() {
            let waiter = state.withLock { Self.takeWaiter(&$0) }
            waiter?.resume()
        }

        /// Waits until jobs are queued and `room()` is positive, then takes up to `room()` of them; nil once the
        /// queue is finished and empty.
        func take(room: () -> Int) async -> [Job]? {
            while true {
                let taken: [Job]?? = state.withLock { state in
                    state.isSignalled = false
                    let queued = state.jobs.count - state.head
                    if queued == 0 { return state.isFinished ? .some(nil) : nil }
                    let limit = state.isFinished ? queued : room()
                    guard limit > 0 else { return nil }
                    if limit >= queued {
                        defer { (state.jobs, state.head) = ([], 0) }
                        return state.head == 0 ? state.jobs : Array(state.jobs[state.head...])
                    }
                    defer {
                        state.head += limit
                        if state.head * 2 >= state.jobs.count {
                            state.jobs.removeFirst(state.head)
                            state.head = 0
                        }
                    }
                    return Array(state.jobs[state.head..<(state.head + limit)])
                }
                if let taken { return taken }
                await withCheckedContinuation { continuation in
                    let resumeNow = state.withLock { state in
                        if state.isSignalled { return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }

        private static func takeWaiter(_ state: inout State) -> CheckedContinuation<Void, Never>? {
            guard let waiter = state.waiter else {
                state.isSignalled = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
    }

    let owner: String
    /// Recent outcomes per destination.
    let destinationHealth: DestinationHealth
    /// The breakers, when enabled.
    let breakers: CircuitBreakerRegistry?
    private let sink: any DeliverySink
    private let policy: RetryPolicy
    private let lanes: [SinkKind: Lane]
    private let completions: GroupCommitter<[DeliveryCompletion], Void>
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
        concurrencyByKind: [SinkKind: Int],
        batchLimitByKind: [SinkKind: Int] = [:],
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
        self.lanes = Dictionary(uniqueKeysWithValues: concurrencyByKind.map { kind, concurrency in
            (kind, Lane(kind: kind, concurrency: concurrency, batchLimit: batchLimitByKind[kind] ?? 1))
        })
        self.completions = GroupCommitter { batches in
            try await store.complete(batches.count == 1 ? batches[0] : Array(batches.joined()), now: Date())
            return Array(repeating: (), count: batches.count)
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
        enqueue(CollectionOfOne(job))
    }

    /// Queues reserved jobs, waking each lane's runner once.
    func enqueue(_ jobs: some Collection<Job>) {
        var byKind: [SinkKind: [Job]] = [:]
        for job in jobs { byKind[job.message.destination.kind, default: []].append(job) }
        for (kind, laneJobs) in byKind {
            guard let lane = lanes[kind] else { continue }
            if !lane.queue.append(contentsOf: laneJobs) {
                // Only after shutdown began: the lease is released at the next start (or expires on another node).
                lane.occupied.withLock { $0 -= laneJobs.count }
                logger.warning("delivery queued after shutdown", metadata: ["count": "\(laneJobs.count)"])
            }
        }
    }

    /// Gives claimed messages that found no free slot back to the store, due now.
    func releaseUnstarted(_ messages: [NewMessage]) async {
        await write(messages.map { DeliveryCompletion(messageID: $0.id, owner: owner, change: .released, attempt: nil) }, logger: logger)
    }

    func run() async throws {
        // Cancelled, not only shut down gracefully, when another service of the group fails (the HTTP server cannot
        // bind its port, say): the lanes must end then too, or the process waits for them forever.
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    for lane in lanes.values {
                        group.addTask { await self.run(lane) }
                    }
                }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
    }

    /// Takes no more jobs: queued ones are released (due again at once), running ones finish.
    private func stop() {
        isStopping.store(true, ordering: .relaxed)
        for lane in lanes.values { lane.queue.finish() }
    }

    private func run(_ lane: Lane) async {
        await withDiscardingTaskGroup { group in
            while let jobs = await lane.queue.take(room: { min(lane.batchLimit, lane.concurrency - lane.running.load(ordering: .relaxed)) }) {
                // Counted as running before anything else: `finish` (after delivery or release) subtracts them.
                lane.running.add(jobs.count, ordering: .relaxed)
                if isStopping.load(ordering: .relaxed) {
                    await release(jobs, from: lane)
                    continue
                }
                if lane.batchLimit > 1 {
                    group.addTask { await self.deliver(batch: jobs, lane: lane) }
                } else {
                    for job in jobs {
                        group.addTask { await self.deliver(job, lane: lane) }
                    }
                }
            }
        }
    }

    /// Marks `count` jobs of `lane` done: frees their slots and lets the runner take more.
    private func finish(_ count: Int, in lane: Lane) {
        lane.occupied.withLock { $0 -= count }
        lane.running.subtract(count, ordering: .relaxed)
        lane.queue.signal()
    }

    /// Delivers a batch with one sink call and records every outcome in one write. Each message is judged on its
    /// own result: the breaker, health, metrics and retry policy see the same as for single deliveries.
    private func deliver(batch jobs: [Job], lane: Lane) async {
        defer { finish(jobs.count, in: lane) }
        var completions: [DeliveryCompletion] = []
        completions.reserveCapacity(jobs.count)
        var attempted: [(job: Job, breaker: CircuitBreaker?)] = []
        attempted.reserveCapacity(jobs.count)
        var isRetryScheduled = false
        for job in jobs {
            switch breakerCheck(job) {
            case .deferred(let completion):
                completions.append(completion)
                isRetryScheduled = true
            case .attempt(let breaker):
                attempted.append((job, breaker))
            }
        }
        if !attempted.isEmpty {
            let started = ContinuousClock.now
            let results = await sink.deliver(
                batch: attempted.map { DeliveryRequest(message: $0.job.message, attempt: $0.job.attemptCount + 1) },
                logger: logger
            )
            let elapsed = ContinuousClock.now - started
            let now = Date()
            var generator = SystemRandomNumberGenerator()
            var deliveredByRoute: [String: Int] = [:]
            // Looked up once per batch: every job of a lane goes to the same kind of sink.
            let latencyTimer = latencyTimers([("sink", lane.kind.rawValue)])
            destinationHealth.record(zip(attempted, results).lazy.map { ($0.job.message.destination, $1) }, at: now)
            for ((job, breaker), result) in zip(attempted, results) {
                let (completion, isDelivered) = outcome(
                    of: job, result: result, breaker: breaker, elapsed: elapsed, now: now, latencyTimer: latencyTimer,
                    generator: &generator
                )
                completions.append(completion)
                if isDelivered {
                    deliveredByRoute[job.message.route, default: 0] += 1
                } else if case .retry = completion.change {
                    isRetryScheduled = true
                }
            }
            for (route, count) in deliveredByRoute {
                deliveredCounters([("route", route), ("sink", lane.kind.rawValue)]).increment(by: Int64(count))
            }
        }
        await write(completions, logger: logger)
        if isRetryScheduled { onRetryScheduled() }
    }

    private func deliver(_ job: Job, lane: Lane) async {
        defer { finish(1, in: lane) }
        let message = job.message
        var logger = self.logger
        logger[metadataKey: "message_id"] = "\(message.id)"
        let breaker: CircuitBreaker?
        switch breakerCheck(job) {
        case .deferred(let completion):
            await write([completion], logger: logger)
            onRetryScheduled()
            return
        case .attempt(let found):
            breaker = found
        }
        let started = ContinuousClock.now
        let result = await sink.deliver(message, attempt: job.attemptCount + 1, logger: logger)
        let now = Date()
        destinationHealth.record(result, for: message.destination, at: now)
        var generator = SystemRandomNumberGenerator()
        let (completion, isDelivered) = outcome(
            of: job, result: result, breaker: breaker, elapsed: ContinuousClock.now - started, now: now,
            latencyTimer: latencyTimers([("sink", message.destination.kind.rawValue)]), generator: &generator
        )
        if isDelivered {
            deliveredCounters([("route", message.route), ("sink", message.destination.kind.rawValue)]).increment()
        }
        await write([completion], logger: logger)
        if case .retry = completion.change { onRetryScheduled() }
    }

    private enum BreakerCheck {
        /// Go ahead, reporting the result to this breaker (nil when breakers are off).
        case attempt(CircuitBreaker?)
        /// The destination's breaker is open: write this deferral instead (no attempt, no retry used up).
        case deferred(DeliveryCompletion)
    }

    /// Whether `job` may be attempted now, by its destination's circuit breaker.
    private func breakerCheck(_ job: Job) -> BreakerCheck {
        let breaker = breakers?.breaker(for: Self.breakerKey(for: job.message.destination))
        guard let breaker, case .denied(let retryAfter) = breaker.canAttempt() else { return .attempt(breaker) }
        let until = Date().addingTimeInterval(max(retryAfter.seconds, 0.01))
        logger.debug("delivery deferred by open circuit breaker", metadata: ["message_id": "\(job.message.id)", "until": "\(until)"])
        return .deferred(DeliveryCompletion(messageID: job.message.id, owner: owner, change: .deferred(until: until), attempt: nil))
    }

    /// What one attempt's result means for its message: breaker, latency (to `latencyTimer`), failure metrics and
    /// logs, and the completion to write. Destination health and the delivered counter are left to the caller,
    /// which may record a batch at once.
    private func outcome(
        of job: Job,
        result: DeliveryResult,
        breaker: CircuitBreaker?,
        elapsed: Duration,
        now: Date,
        latencyTimer: Timer,
        generator: inout SystemRandomNumberGenerator
    ) -> (DeliveryCompletion, isDelivered: Bool) {
        let message = job.message
        let attemptNumber = job.attemptCount + 1
        switch result {
        case .delivered, .rejected: breaker?.recordSuccess()  // a 4xx still proves the endpoint is up
        case .retryable: breaker?.recordFailure()
        }
        let change = policy.change(after: result, previousAttempts: job.attemptsSinceRetry, now: now, using: &generator)
        let attempt: DeliveryAttempt
        switch result {
        case .delivered(let statusCode):
            attempt = DeliveryAttempt(number: attemptNumber, finishedAt: now, outcome: .delivered, statusCode: statusCode, error: nil, durationSeconds: elapsed.seconds)
            latencyTimer.record(duration: .milliseconds(Int64(max(0, now.timeIntervalSince(message.acceptedAt)) * 1000)))
            logger.debug("message delivered", metadata: ["message_id": "\(message.id)", "attempt": "\(attemptNumber)"])
        case .retryable(let error), .rejected(let error):
            let outcome: AttemptOutcome = if case .failed = change { .failed } else { .retryable }
            attempt = DeliveryAttempt(number: attemptNumber, finishedAt: now, outcome: outcome, statusCode: error.statusCode, error: error.message, durationSeconds: elapsed.seconds)
            failureCounters([("route", message.route), ("reason", error.reason.rawValue)]).increment()
            logger.warning(
                "delivery attempt failed",
                metadata: [
                    "message_id": "\(message.id)", "attempt": "\(attemptNumber)", "reason": "\(error.reason.rawValue)",
                    "error": "\(error.message)", "outcome": "\(outcome.rawValue)",
                ]
            )
        }
        let completion = DeliveryCompletion(messageID: message.id, owner: owner, change: change, attempt: attempt)
        let isDelivered = if case .delivered = change { true } else { false }
        return (completion, isDelivered)
    }

    private func release(_ jobs: [Job], from lane: Lane) async {
        defer { finish(jobs.count, in: lane) }
        await write(jobs.map { DeliveryCompletion(messageID: $0.message.id, owner: owner, change: .released, attempt: nil) }, logger: logger)
    }

    private func write(_ batch: [DeliveryCompletion], logger: Logger) async {
        guard !batch.isEmpty else { return }
        do {
            // The group commit writes in a task of its own, so a delivery cancelled at the end of the shutdown
            // grace period still records what happened.
            try await completions.submit(batch)
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
            guard let components = URLComponents(string: url), let host = components.host else {
                return URLRedaction.redacted(url)
            }
            let scheme = components.scheme ?? "http"
            let port = components.port ?? (scheme == "https" ? 443 : 80)
            return "\(scheme)://\(host):\(port)"
        }
    }
}
