import Core
import Foundation
import Logging
import ServiceLifecycle

/// Claims due messages in batches and hands them to the dispatcher: every `retry_interval`, and at once when a
/// retry falls due sooner or new retryable work appears. Also purges delivered messages past their retention.
final class RetryWorker: Service {
    private let store: any MessageStore
    private let dispatcher: DeliveryDispatcher
    private let settings: WorkerSettings
    private let logger: Logger
    private let wakeup: Wakeup

    init(store: any MessageStore, dispatcher: DeliveryDispatcher, settings: WorkerSettings, wakeup: Wakeup, logger: Logger) {
        self.wakeup = wakeup
        self.store = store
        self.dispatcher = dispatcher
        self.settings = settings
        self.logger = logger
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var lastPurge = ContinuousClock.now
            while !Task.isCancelled {
                let wait = await self.pass(lastPurge: &lastPurge)
                await self.wakeup.wait(timeout: wait)
            }
        }
    }

    /// Claims and dispatches what is due; returns how long to sleep before the next look.
    private func pass(lastPurge: inout ContinuousClock.Instant) async -> Duration {
        do {
            var claimedFullBatch = true
            while claimedFullBatch && !Task.isCancelled {
                let limit = min(settings.batchSize, dispatcher.freeCapacity)
                guard limit > 0 else { return .milliseconds(100) }
                let now = Date()
                let claimed = try await store.claimDue(
                    owner: dispatcher.owner,
                    now: now,
                    leaseUntil: now.addingTimeInterval(settings.leaseTimeout.seconds),
                    limit: limit
                )
                var unstarted: [NewMessage] = []
                var jobs: [DeliveryDispatcher.Job] = []
                jobs.reserveCapacity(claimed.count)
                for message in claimed {
                    guard dispatcher.reserve(for: message.message.destination) else {
                        unstarted.append(message.message)
                        continue
                    }
                    jobs.append(.init(
                        message: message.message,
                        attemptCount: message.attemptCount,
                        attemptsSinceRetry: message.attemptsSinceRetry
                    ))
                }
                // All at once, so a batching lane can take the whole claim as one batch.
                dispatcher.enqueue(jobs)
                if !unstarted.isEmpty {
                    // Their lane is full: give them back now rather than holding their lease.
                    await dispatcher.releaseUnstarted(unstarted)
                    return .milliseconds(100)
                }
                if !claimed.isEmpty {
                    logger.debug("claimed due messages", metadata: ["count": "\(claimed.count)"])
                }
                claimedFullBatch = claimed.count == limit
            }
            try await purgeIfDue(lastPurge: &lastPurge)
            guard let nextDue = try await store.nextDueDate() else { return settings.retryInterval }
            let untilDue = max(nextDue.timeIntervalSinceNow, 0.005)
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
        let purged = try await store.purgeDelivered(before: Date().addingTimeInterval(-settings.deliveredRetention.seconds))
        if purged > 0 {
            logger.info("purged delivered messages", metadata: ["count": "\(purged)"])
        }
    }
}
