@testable import App
import Logging
import Synchronization
import Testing

@Suite("Store health probe")
struct StoreHealthProbeTests {
    /// A clock the test moves by hand.
    final class ManualClock: Sendable {
        private let instant = Mutex(ContinuousClock.now)
        var now: ContinuousClock.Instant { instant.withLock { $0 } }
        func advance(by duration: Duration) { instant.withLock { $0 += duration } }
    }

    @Test("300 probes within the window cost one store write; the next window checks again; a failure is reported")
    func reusesRecentCheck() async throws {
        let clock = ManualClock()
        let writes = Atomic(0)
        let failing = Atomic(false)
        let probe = StoreHealthProbe(maximumAge: .seconds(2), now: { clock.now }) {
            writes.add(1, ordering: .relaxed)
            if failing.load(ordering: .relaxed) { throw CancellationError() }
        }
        let logger = Logger(label: "test")
        for _ in 0..<300 { #expect(await probe.problem(logger: logger) == nil) }
        #expect(writes.load(ordering: .relaxed) == 1)
        clock.advance(by: .seconds(2))
        failing.store(true, ordering: .relaxed)
        #expect(await probe.problem(logger: logger) == "cannot write to the store")
        #expect(await probe.problem(logger: logger) == "cannot write to the store")
        #expect(writes.load(ordering: .relaxed) == 2)
    }
}
