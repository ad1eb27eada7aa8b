import Core
import Foundation
import Logging
import Metrics

/// What the dispatcher does with each attempt's result: the breaker's verdict before it, and after it the
/// breaker, latency and failure metrics, logs, the retry policy's decision and the completion written to the store.
extension DeliveryDispatcher {
    enum BreakerCheck {
        /// Go ahead, reporting the result to this breaker (nil when breakers are off).
        case attempt(CircuitBreaker?)
        /// The destination's breaker is open: write this deferral instead (no attempt, no retry used up).
        case deferred(DeliveryCompletion)
    }

    /// Whether `job` may be attempted now, by its destination's circuit breaker.
    func breakerCheck(_ job: Job) -> BreakerCheck {
        let breaker = breakers?.breaker(for: Self.breakerKey(for: job.message.destination))
        guard let breaker, case .denied(let retryAfter) = breaker.canAttempt(now: clock.instant) else { return .attempt(breaker) }
        let until = clock.now.addingTimeInterval(max(retryAfter.seconds, 0.01))
        logger.debug("delivery deferred by open circuit breaker", metadata: ["message_id": "\(job.message.id)", "until": "\(until)"])
        return .deferred(DeliveryCompletion(messageID: job.message.id, owner: owner, change: .deferred(until: until), attempt: nil))
    }

    /// What one attempt's result means for its message: breaker, latency (to `latencyTimer`), failure metrics and
    /// logs, and the completion to write. Destination health and the delivered counter are left to the caller,
    /// which may record a batch at once.
    func outcome(
        of job: Job,
        result: DeliveryResult,
        breaker: CircuitBreaker?,
        elapsed: Duration,
        now: Date,
        latencyTimer: Timer,
        logger: Logger,
        generator: inout SystemRandomNumberGenerator
    ) -> (DeliveryCompletion, isDelivered: Bool) {
        let message = job.message
        let attemptNumber = job.attemptCount + 1
        switch result {
        case .delivered, .rejected: breaker?.recordSuccess()  // a 4xx still proves the endpoint is up
        case .retryable: breaker?.recordFailure(now: clock.instant)
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

    func release(_ jobs: [Job], from lane: Lane) async {
        defer { finish(jobs.count, in: lane) }
        await write(jobs.map { DeliveryCompletion(messageID: $0.message.id, owner: owner, change: .released, attempt: nil) }, logger: logger)
    }

    func write(_ batch: [DeliveryCompletion], logger: Logger) async {
        guard !batch.isEmpty else { return }
        do {
            // Once queued, the group commit writes the batch even if this task is cancelled (at the end of the
            // shutdown grace period), so what happened is still recorded.
            try await commitOutcomes(batch)
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
