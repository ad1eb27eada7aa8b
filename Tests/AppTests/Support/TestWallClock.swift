import Core
import Foundation
import Synchronization

/// The system clock plus an offset that a test moves forward: keys made by the CLI (on the real clock) and by the
/// app (on this one) agree until the test advances it past an expiry, so no test sleeps until a key expires.
final class TestWallClock: WallClock {
    private let offset = Mutex<TimeInterval>(0)

    /// The real time plus everything ``advance(by:)`` added.
    var now: Date { Date().addingTimeInterval(offset.withLock { $0 }) }

    /// Moves the clock forward by `duration`.
    func advance(by duration: Duration) {
        offset.withLock { $0 += duration.seconds }
    }
}
