import Core
import Foundation
import Logging
import ServiceLifecycle

/// Claims due messages in batches and hands them to the dispatcher: every `retry_interval`, and at once when a
/// retry falls due sooner or new retryable work appears. A backlog is claimed in growing batches (``ClaimSize``).
/// Also purges delivered messages past their retention.
final class RetryWorker: Service {
    private let store: any MessageStore
    private let intake: DeliveryIntake
    private let settings: WorkerSettings
    private let logger: Logger
    /// Signalled when the store gains work due soon (a retry scheduled, an admin retry).
    private let dueWork: Wakeup
    /// Claims and purges read the time from it.
    private let clock: any WallClock

    init(store: any MessageStore, intake: DeliveryIntake, settings: WorkerSettings, dueWork: Wakeup, clock: any WallClock, logger: Logger) {
        self.dueWork = dueWork
        self.clock = clock
        self.store = store
        self.intake = intake
        self.settings = settings
        self.logger = logger
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var lastPurge = ContinuousClock.now
            var claimSize = ClaimSize(base: self.settings.batchSize, ceiling: self.intake.dispatcher.largestBatch)
            while !Task.isCancelled {
                let wait = await self.pass(claimSize: &claimSize, lastPurge: &lastPurge)
                await self.dueWork.wait(timeout: wait)
            }
        }
    }

    /// Claims and dispatches what is due; returns how long to sleep before the next look.
    private func pass(claimSize: inout ClaimSize, lastPurge: inout ContinuousClock.Instant) async -> Duration {
        do {
            var claimedFullBatch = true
            while claimedFullBatch && !Task.isCancelled {
                let limit = min(claimSize.next, intake.dispatcher.freeCapacity)
                guard limit > 0 else {
                    // Every lane is full: deliveries wake this worker once half a lane's queue is free (100 ms at
                    // the latest).
                    intake.dispatcher.roomRequest.request()
                    return .milliseconds(100)
                }
                let now = clock.now
                let claimed = try await store.claimDue(
                    owner: intake.owner,
                    now: now,
                    leaseUntil: now.addingTimeInterval(settings.leaseTimeout.seconds),
                    limit: limit
                )
                guard await intake.dispatch(claimed: claimed) else {
                    // A lane is full and part of the claim went back to the store: look again shortly rather than
                    // at the next interval, with a small claim.
                    claimSize.reset()
                    intake.dispatcher.roomRequest.request()
                    return .milliseconds(100)
                }
                if !claimed.isEmpty {
                    logger.debug("claimed due messages", metadata: ["count": "\(claimed.count)"])
                }
                claimSize.claimed(claimed.count, asked: limit)
                claimedFullBatch = claimed.count == limit
            }
            try await purgeIfDue(lastPurge: &lastPurge)
            guard let nextDue = try await store.nextDueDate() else { return settings.retryInterval }
            let untilDue = max(nextDue.timeIntervalSince(clock.now), 0.005)
            return min(settings.retryInterval, .milliseconds(Int64(untilDue * 1000)))
        } catch is CancellationError {
            return .zero
        } catch {
            logger.error("retry worker pass failed", metadata: ["error": "\(error)"])
            return min(settings.retryInterval, .seconds(5))
        }
    }

    private func purgeIfDue(lastPurge: inout ContinuousClock.Instant) async throws {
        guard ContinuousClock.now - lastPurge > .seconds(600) else { return }
        lastPurge = .now
        let purged = try await store.purgeDelivered(before: clock.now.addingTimeInterval(-settings.deliveredRetention.seconds))
        if purged > 0 {
            logger.info("purged delivered messages", metadata: ["count": "\(purged)"])
        }
    }
}
