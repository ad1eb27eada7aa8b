import Foundation

/// The wall clock that API key expiry and rotation grace periods are measured against: a seam, so tests move time
/// forward instead of sleeping until a key expires.
public protocol WallClock: Sendable {
    /// The current time.
    var now: Date { get }
}

/// The system's wall clock, what the server runs on.
public struct SystemWallClock: WallClock {
    /// Makes the system clock.
    public init() {}

    /// `Date()`.
    public var now: Date { Date() }
}
