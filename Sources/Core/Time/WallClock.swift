import Foundation

/// The server's clock: a seam, so tests move time forward instead of sleeping until a key expires, a dedup window
/// passes, a rate limit refills or a circuit breaker's open timeout ends.
///
/// Wall time (`now`) is what is stored and shown: acceptance times, key expiry, retry due dates. Monotonic time
/// (`instant`) measures intervals that must not jump with the wall clock: token buckets and circuit breakers.
public protocol WallClock: Sendable {
    /// The current wall time.
    var now: Date { get }
    /// The current monotonic instant.
    var instant: ContinuousClock.Instant { get }
}

/// The system's wall clock, what the server runs on.
public struct SystemWallClock: WallClock {
    /// Makes the system clock.
    public init() {}

    /// `Date()`.
    public var now: Date { Date() }

    /// `ContinuousClock.now`.
    public var instant: ContinuousClock.Instant { .now }
}
