import Core
import Testing

@Suite("Token bucket rate limiter")
struct TokenBucketRateLimiterTests {
    let start = ContinuousClock.now

    @Test func allowsBurstThenLimitsWithSensibleRetryAfter() throws {
        // 60 per minute: one token a second, up to 5 at once.
        let limiter = try TokenBucketRateLimiter(configuration: .init(limit: 60, period: .seconds(60), burst: 5))
        for remaining in (0..<5).reversed() {
            #expect(limiter.acquire(key: "client", now: self.start) == .allowed(remaining: remaining))
        }
        let decision = limiter.acquire(key: "client", now: self.start)
        #expect(!decision.isAllowed)
        #expect(decision == .limited(retryAfter: .seconds(1)))
        #expect(decision.retryAfterSeconds == 1)

        // Half a second later the next token is half a second away; Retry-After still rounds up to a whole second.
        let later = limiter.acquire(key: "client", now: self.start + .milliseconds(500))
        guard case .limited(let retryAfter) = later else {
            Issue.record("expected the bucket to still be empty, got \(later)")
            return
        }
        #expect(retryAfter > .milliseconds(499) && retryAfter <= .milliseconds(501))
        #expect(later.retryAfterSeconds == 1)
    }

    @Test func retryAfterReflectsSlowRates() throws {
        // 10 per hour: a token every 6 minutes.
        let limiter = try TokenBucketRateLimiter(configuration: .init(limit: 10, period: .seconds(3600), burst: 1))
        #expect(limiter.acquire(key: "k", now: self.start).isAllowed)
        #expect(limiter.acquire(key: "k", now: self.start).retryAfterSeconds == 360)
    }

    @Test func refillsAfterThePeriod() throws {
        let limiter = try TokenBucketRateLimiter(configuration: .init(limit: 3, period: .seconds(10)))
        for _ in 0..<3 {
            #expect(limiter.acquire(key: "k", now: self.start).isAllowed)
        }
        #expect(!limiter.acquire(key: "k", now: self.start + .seconds(3)).isAllowed)
        // One token per 10/3 seconds: after 3.4 s exactly one is back.
        #expect(limiter.acquire(key: "k", now: self.start + .milliseconds(3400)) == .allowed(remaining: 0))
        #expect(!limiter.acquire(key: "k", now: self.start + .milliseconds(3400)).isAllowed)
        // After a full period the bucket is full again, and never fuller than the burst.
        #expect(limiter.acquire(key: "k", now: self.start + .seconds(100)) == .allowed(remaining: 2))
    }

    @Test func keysAreIndependent() throws {
        let limiter = try TokenBucketRateLimiter(configuration: .init(limit: 1, period: .seconds(60)))
        #expect(limiter.acquire(key: "alice", now: self.start).isAllowed)
        #expect(!limiter.acquire(key: "alice", now: self.start).isAllowed)
        #expect(limiter.acquire(key: "bob", now: self.start).isAllowed)
    }

    @Test func evictionBoundsMemory() throws {
        let limiter = try TokenBucketRateLimiter(
            configuration: .init(limit: 1, period: .seconds(60), maximumKeys: 100))
        for index in 0..<1_000 {
            _ = limiter.acquire(key: "client-\(index)", now: self.start + .milliseconds(index))
            #expect(limiter.trackedKeyCount <= 100)
        }
        // The most recently active key survived and is still limited: eviction drops the least recently used.
        #expect(!limiter.acquire(key: "client-999", now: self.start + .seconds(1)).isAllowed)
    }

    @Test func removesFullBucketsWithoutLosingState() throws {
        let limiter = try TokenBucketRateLimiter(configuration: .init(limit: 1, period: .seconds(10)))
        _ = limiter.acquire(key: "old", now: self.start)
        _ = limiter.acquire(key: "recent", now: self.start + .seconds(8))
        #expect(limiter.removeIdleBuckets(now: self.start + .seconds(12)) == 1)
        #expect(limiter.trackedKeyCount == 1)
        #expect(!limiter.acquire(key: "recent", now: self.start + .seconds(12)).isAllowed)
        #expect(limiter.acquire(key: "old", now: self.start + .seconds(12)).isAllowed)
    }

    @Test func isSafeUnderConcurrentUse() async throws {
        let limiter = try TokenBucketRateLimiter(configuration: .init(limit: 100, period: .seconds(3600)))
        let now = self.start
        let allowed = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    (0..<50).reduce(0) { count, _ in count + (limiter.acquire(key: "shared", now: now).isAllowed ? 1 : 0) }
                }
            }
            return await group.reduce(0, +)
        }
        #expect(allowed == 100)
    }

    @Test func rejectsInvalidConfiguration() {
        #expect(throws: PolicyConfigurationError.self) { try TokenBucketRateLimiter(configuration: .init(limit: 0, period: .seconds(1))) }
        #expect(throws: PolicyConfigurationError.self) { try TokenBucketRateLimiter(configuration: .init(limit: 1, period: .zero)) }
        #expect(throws: PolicyConfigurationError.self) { try TokenBucketRateLimiter(configuration: .init(limit: 1, period: .seconds(1), burst: 0)) }
    }
}
