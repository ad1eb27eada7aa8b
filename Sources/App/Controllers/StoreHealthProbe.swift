import Logging
import Synchronization

/// The store check behind `/health` and `/health/ready`: a real write, reused for ``maximumAge`` so that a probe
/// flood (or an unauthenticated caller) costs at most one write per window instead of one per request.
final class StoreHealthProbe: Sendable {
    /// How long one check's result answers later probes.
    static let defaultMaximumAge: Duration = .seconds(2)

    private struct Cached {
        var problem: String?
        var checkedAt: ContinuousClock.Instant
    }

    private let check: @Sendable () async throws -> Void
    private let now: @Sendable () -> ContinuousClock.Instant
    private let maximumAge: Duration
    private let cached = Mutex<Cached?>(nil)

    /// - Parameters:
    ///   - check: the real check (a write to the store); throws when the store cannot be written.
    ///   - now: the clock (tests advance their own).
    init(
        maximumAge: Duration = StoreHealthProbe.defaultMaximumAge,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
        check: @escaping @Sendable () async throws -> Void
    ) {
        self.check = check
        self.now = now
        self.maximumAge = maximumAge
    }

    /// Nil when the store is writable, else what a client may read about why not.
    func problem(logger: Logger) async -> String? {
        let start = now()
        if let recent = cached.withLock({ $0 }), start - recent.checkedAt < maximumAge {
            return recent.problem
        }
        var problem: String?
        do {
            try await check()
        } catch {
            logger.warning("store health check failed", metadata: ["error": "\(error)"])
            problem = "cannot write to the store"
        }
        cached.withLock { $0 = Cached(problem: problem, checkedAt: start) }
        return problem
    }
}
