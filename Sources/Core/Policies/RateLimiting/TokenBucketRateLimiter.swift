import Synchronization

/// Limits how often each key (an API key, a client address, a source) may act, with one token bucket per key.
///
/// A bucket holds up to `burst` tokens and refills continuously at `limit` tokens per `period`; each request takes
/// one token. Memory is bounded: a bucket that has refilled to full is indistinguishable from a new one and is
/// dropped when space is needed, and past ``Configuration/maximumKeys`` the least recently used buckets go too.
///
/// Thread-safe; the clock is a parameter so callers and tests decide what "now" is.
public final class TokenBucketRateLimiter: Sendable {
    /// The rate, burst and memory bound of a limiter.
    public struct Configuration: Hashable, Sendable {
        /// Tokens added per ``period``.
        public var limit: Int
        /// The interval over which ``limit`` tokens are added.
        public var period: Duration
        /// The bucket's capacity: how many requests may arrive at once after a quiet spell.
        public var burst: Int
        /// The most keys tracked at once; beyond it idle and least recently used buckets are dropped.
        public var maximumKeys: Int

        /// Creates a configuration; `burst` defaults to `limit`, so a full period's allowance may arrive at once.
        public init(limit: Int, period: Duration, burst: Int? = nil, maximumKeys: Int = 10_000) {
            self.limit = limit
            self.period = period
            self.burst = burst ?? limit
            self.maximumKeys = maximumKeys
        }

        /// Throws when a value is out of range, for use while validating a configuration file.
        public func validate() throws(PolicyConfigurationError) {
            guard self.limit > 0 else {
                throw PolicyConfigurationError(code: .invalidValue, message: "rate limit must be greater than zero")
            }
            guard self.period > .zero else {
                throw PolicyConfigurationError(
                    code: .invalidValue, message: "rate limit period must be greater than zero")
            }
            guard self.burst > 0 else {
                throw PolicyConfigurationError(code: .invalidValue, message: "rate limit burst must be greater than zero")
            }
            guard self.maximumKeys > 0 else {
                throw PolicyConfigurationError(
                    code: .invalidValue, message: "rate limiter maximum keys must be greater than zero")
            }
        }
    }

    /// Whether a request may proceed.
    public enum Decision: Hashable, Sendable {
        /// The request took a token; `remaining` whole tokens are left.
        case allowed(remaining: Int)
        /// The bucket is empty; one token will be available after `retryAfter`.
        case limited(retryAfter: Duration)

        /// Whether the request may proceed.
        public var isAllowed: Bool {
            if case .allowed = self { true } else { false }
        }

        /// Whole seconds for a `Retry-After` header, rounded up and at least 1 so a client never retries at once;
        /// `nil` when allowed.
        public var retryAfterSeconds: Int? {
            guard case .limited(let retryAfter) = self else {
                return nil
            }
            // A millisecond of slack keeps floating-point noise (360.000000001 s) from adding a whole second.
            return max(1, Int((retryAfter.seconds - 0.001).rounded(.up)))
        }
    }

    private struct Bucket {
        var tokens: Double
        var updatedAt: ContinuousClock.Instant
    }

    /// The limiter's settings.
    public let configuration: Configuration
    private let tokensPerSecond: Double
    private let secondsPerToken: Double
    private let buckets: Mutex<[String: Bucket]>

    /// Creates a limiter.
    ///
    /// - Throws: ``PolicyConfigurationError`` when ``Configuration/validate()`` would.
    public init(configuration: Configuration) throws(PolicyConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
        self.tokensPerSecond = Double(configuration.limit) / configuration.period.seconds
        self.secondsPerToken = configuration.period.seconds / Double(configuration.limit)
        self.buckets = Mutex([:])
    }

    /// Takes one token from `key`'s bucket if it has one.
    ///
    /// - Parameters:
    ///   - key: Who is acting; keep its cardinality bounded by authentication where possible.
    ///   - now: The current instant; pass a fixed instant in tests.
    public func acquire(key: String, now: ContinuousClock.Instant = .now) -> Decision {
        let capacity = Double(self.configuration.burst)
        return self.buckets.withLock { buckets in
            var bucket: Bucket
            if let existing = buckets[key] {
                bucket = existing
                self.refill(&bucket, now: now)
            } else {
                if buckets.count >= self.configuration.maximumKeys {
                    self.makeRoom(in: &buckets, now: now)
                }
                bucket = Bucket(tokens: capacity, updatedAt: now)
            }
            let decision: Decision
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                decision = .allowed(remaining: Int(bucket.tokens.rounded(.down)))
            } else {
                let wait = (1 - bucket.tokens) * self.secondsPerToken
                decision = .limited(retryAfter: .nanoseconds(Int64((wait * 1e9).rounded(.up))))
            }
            buckets[key] = bucket
            return decision
        }
    }

    /// Drops every bucket that has refilled to full, which loses no information; call it periodically to return
    /// memory after a burst of distinct keys.
    ///
    /// - Returns: How many buckets were dropped.
    @discardableResult
    public func removeIdleBuckets(now: ContinuousClock.Instant = .now) -> Int {
        self.buckets.withLock { buckets in
            let before = buckets.count
            self.removeFull(from: &buckets, now: now)
            return before - buckets.count
        }
    }

    /// How many keys are tracked, for a gauge and for tests of the memory bound.
    public var trackedKeyCount: Int {
        self.buckets.withLock { $0.count }
    }

    private func refill(_ bucket: inout Bucket, now: ContinuousClock.Instant) {
        // A caller's clock may step back across threads; never let that drain tokens.
        let elapsed = max(0, (now - bucket.updatedAt).seconds)
        bucket.tokens = min(Double(self.configuration.burst), bucket.tokens + elapsed * self.tokensPerSecond)
        bucket.updatedAt = max(bucket.updatedAt, now)
    }

    private func removeFull(from buckets: inout [String: Bucket], now: ContinuousClock.Instant) {
        let capacity = Double(self.configuration.burst)
        buckets = buckets.filter { _, bucket in
            var refilled = bucket
            self.refill(&refilled, now: now)
            return refilled.tokens < capacity
        }
    }

    /// Frees room for a new key: first the lossless way, then by forgetting the least recently used keys.
    ///
    /// Evicting down to 90% rather than by one key keeps the O(n log n) sort rare when many new keys arrive, as
    /// they do when an attacker rotates addresses.
    private func makeRoom(in buckets: inout [String: Bucket], now: ContinuousClock.Instant) {
        self.removeFull(from: &buckets, now: now)
        let maximumKeys = self.configuration.maximumKeys
        guard buckets.count >= maximumKeys else {
            return
        }
        let target = max(0, min(maximumKeys - 1, maximumKeys * 9 / 10))
        let oldestFirst = buckets.sorted { $0.value.updatedAt < $1.value.updatedAt }
        for (key, _) in oldestFirst.prefix(buckets.count - target) {
            buckets.removeValue(forKey: key)
        }
    }
}
