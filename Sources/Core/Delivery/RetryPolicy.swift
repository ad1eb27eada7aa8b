import Foundation

/// When to try a message again, and when to give up.
public struct RetryPolicy: Sendable {
    /// Failed attempts before a message is a dead letter; 0 means never give up.
    public var maxRetries: Int
    /// Delay after the first failure.
    public var initialBackoff: Duration
    /// The longest delay computed from backoff (a destination's `Retry-After` may ask for more).
    public var maxBackoff: Duration
    /// Each delay is scaled by a random factor in `1 - jitter ... 1 + jitter`, so that messages that failed
    /// together do not all come back together.
    public var jitter: Double

    /// Makes a policy.
    public init(maxRetries: Int, initialBackoff: Duration, maxBackoff: Duration, jitter: Double = 0.2) {
        self.maxRetries = maxRetries
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.jitter = jitter
    }

    /// Whether a message that has failed `failedAttempts` times must stop being retried.
    public func isExhausted(failedAttempts: Int) -> Bool {
        maxRetries > 0 && failedAttempts >= maxRetries
    }

    /// The wait before the next attempt after `failedAttempts` failures (1-based): exponential, capped, jittered,
    /// and never shorter than what the destination asked for.
    public func delay(
        afterFailedAttempts failedAttempts: Int,
        retryAfter: Duration? = nil,
        using generator: inout some RandomNumberGenerator
    ) -> Duration {
        let exponent = min(max(failedAttempts - 1, 0), 40)
        let base = min(initialBackoff.seconds * Double(1 << UInt64(exponent)), maxBackoff.seconds)
        let factor = jitter > 0 ? Double.random(in: (1 - jitter)...(1 + jitter), using: &generator) : 1
        var seconds = min(base * factor, maxBackoff.seconds)
        if let retryAfter { seconds = max(seconds, retryAfter.seconds) }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// `delay(afterFailedAttempts:retryAfter:using:)` with the system's random numbers.
    public func delay(afterFailedAttempts failedAttempts: Int, retryAfter: Duration? = nil) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(afterFailedAttempts: failedAttempts, retryAfter: retryAfter, using: &generator)
    }
}

extension RetryPolicy {
    /// What a message becomes after an attempt with `result`, given the attempts it had already used since its
    /// last manual retry.
    public func change(
        after result: DeliveryResult,
        previousAttempts: Int,
        now: Date,
        using generator: inout some RandomNumberGenerator
    ) -> DeliveryCompletion.Change {
        switch result {
        case .delivered:
            return .delivered
        case .rejected:
            return .failed
        case .retryable(let error):
            let failedAttempts = previousAttempts + 1
            if isExhausted(failedAttempts: failedAttempts) { return .failed }
            let wait = delay(afterFailedAttempts: failedAttempts, retryAfter: error.retryAfter, using: &generator)
            return .retry(at: now.addingTimeInterval(wait.seconds))
        }
    }
}
