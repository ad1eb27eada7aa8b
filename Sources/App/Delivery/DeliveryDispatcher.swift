import Core
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Runs deliveries: takes leased messages (fresh from ingest or claimed by the retry worker), hands each to its
/// sink, and writes the outcome back through the store's group commit.
///
/// Each sink kind has its own lane with its own concurrency, so a slow HTTP endpoint never holds up Kafka (whose
/// lane keeps thousands of records in flight for librdkafka to batch). A lane with a batch limit above one (Kafka)
/// hands whatever is queued, up to that limit, to its sink as one batch from one task and writes the batch's
/// outcomes in one transaction; the others run one task per message, each a batch of one through the same path.
/// ``DeliveryIntake`` reserves a slot before a message is stored as leased (`reserve(for:)`); when the lane is full
/// the message is stored as pending instead and the retry worker picks it up, so memory stays bounded under any
/// load. A destination whose circuit breaker is open is not attempted: its messages are deferred without using up a
/// retry. The parts live apart: the lanes and jobs (DeliveryLane.swift), their queue (DeliveryJobQueue.swift), and
/// what each result means (DeliveryOutcomes.swift).
final class DeliveryDispatcher: Service {
    let owner: String
    /// Recent outcomes per destination.
    let destinationHealth: DestinationHealth
    /// The breakers, when enabled.
    let breakers: CircuitBreakerRegistry?
    let sink: any DeliverySink
    let policy: RetryPolicy
    private let lanes: [SinkKind: Lane]
    /// Writes a batch's outcomes durably (the store's group commit, see ``makeStoreCommits(store:clock:)``).
    let commitOutcomes: @Sendable ([DeliveryCompletion]) async throws -> Void
    let logger: Logger
    /// Signalled when an outcome makes work due soon (a retry, a deferral): the store's news for its readers, so
    /// the dispatcher never calls back into the retry worker that feeds it.
    private let dueWork: Wakeup
    /// Outcome times, retry due dates, and the circuit breakers' intervals.
    let clock: any WallClock
    private let isStopping = Atomic(false)
    /// Set by the retry worker when it finds every lane full; deliveries wake it (`dueWork`) once half a lane's
    /// queue is free.
    let roomRequest = RoomRequest()
    let deliveredCounters = MetricCache { Counter(label: "messagebridge_messages_delivered_total", dimensions: $0) }
    let failureCounters = MetricCache { Counter(label: "messagebridge_delivery_failures_total", dimensions: $0) }
    let latencyTimers = MetricCache {
        Timer(label: "messagebridge_delivery_latency_seconds", dimensions: $0, preferredDisplayUnit: .seconds)
    }

    init(
        owner: String,
        sink: any DeliverySink,
        commitOutcomes: @escaping @Sendable ([DeliveryCompletion]) async throws -> Void,
        policy: RetryPolicy,
        concurrencyByKind: [SinkKind: Int],
        batchLimitByKind: [SinkKind: Int] = [:],
        breakers: CircuitBreakerRegistry?,
        destinationHealth: DestinationHealth,
        logger: Logger,
        dueWork: Wakeup,
        clock: any WallClock = SystemWallClock()
    ) {
        self.owner = owner
        self.sink = sink
        self.policy = policy
        self.breakers = breakers
        self.destinationHealth = destinationHealth
        self.logger = logger
        self.dueWork = dueWork
        self.clock = clock
        self.lanes = Dictionary(uniqueKeysWithValues: concurrencyByKind.map { kind, concurrency in
            (kind, Lane(kind: kind, concurrency: concurrency, batchLimit: batchLimitByKind[kind] ?? 1))
        })
        self.commitOutcomes = commitOutcomes
    }

    /// The largest batch any lane hands its sink at once (the most the retry worker claims at once).
    var largestBatch: Int { lanes.values.map(\.batchLimit).max() ?? 1 }

    /// How many more jobs may be reserved now, over all lanes (caps the retry worker's claim size).
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
                        group.addTask { await self.deliver(batch: [job], lane: lane) }
                    }
                }
            }
        }
    }

    /// Marks `count` jobs of `lane` done: frees their slots and lets the runner take more.
    func finish(_ count: Int, in lane: Lane) {
        let occupied = lane.occupied.withLock { occupied in
            occupied -= count
            return occupied
        }
        lane.running.subtract(count, ordering: .relaxed)
        lane.queue.signal()
        // The retry worker found the lanes full and waits: wake it once half this lane's queue is free, so that it
        // refills the queue before it runs dry, in claims of a useful size.
        if occupied <= lane.queueLimit / 2, roomRequest.take() { dueWork.signal() }
    }

    /// Delivers jobs with one sink call and records every outcome in one write. A lane that runs one task per
    /// message calls this with a batch of one, so every delivery takes the same path: breaker, health, metrics,
    /// retry policy and recording. Each message is judged on its own result.
    private func deliver(batch jobs: [Job], lane: Lane) async {
        defer { finish(jobs.count, in: lane) }
        var logger = self.logger
        if jobs.count == 1 { logger[metadataKey: "message_id"] = "\(jobs[0].message.id)" }
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
            let results: [DeliveryResult]
            if attempted.count == 1 {
                // One message: one plain sink call, no batch bookkeeping.
                let job = attempted[0].job
                results = [await sink.deliver(job.message, attempt: job.attemptCount + 1, logger: logger)]
            } else {
                results = await sink.deliver(
                    batch: attempted.map { DeliveryRequest(message: $0.job.message, attempt: $0.job.attemptCount + 1) },
                    logger: logger
                )
            }
            let elapsed = ContinuousClock.now - started
            let now = clock.now
            var generator = SystemRandomNumberGenerator()
            var deliveredByRoute: [String: Int] = [:]
            // Looked up once per batch: every job of a lane goes to the same kind of sink.
            let latencyTimer = latencyTimers([("sink", lane.kind.rawValue)])
            destinationHealth.record(zip(attempted, results).lazy.map { ($0.job.message.destination, $1) }, at: now)
            for ((job, breaker), result) in zip(attempted, results) {
                let (completion, isDelivered) = outcome(
                    of: job, result: result, breaker: breaker, elapsed: elapsed, now: now, latencyTimer: latencyTimer,
                    logger: logger, generator: &generator
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
        // The store now holds work due soon: tell whoever claims due work (the retry worker) not to wait its interval.
        if isRetryScheduled { dueWork.signal() }
    }
}
