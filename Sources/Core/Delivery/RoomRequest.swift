import Synchronization

/// A one-shot request for news of free room: the retry worker, finding every delivery lane full, asks to be told
/// when deliveries have freed room (half a lane's queue), instead of looking again only after its 100 ms pause.
/// The dispatcher checks it as each delivery finishes: one relaxed load while nobody asks.
public final class RoomRequest: Sendable {
    private let isWanted = Atomic(false)

    public init() {}

    /// Asks to be told at the next ``take()``.
    public func request() {
        isWanted.store(true, ordering: .releasing)
    }

    /// True once per request: the caller, who just freed room, tells the one who asked.
    public func take() -> Bool {
        guard isWanted.load(ordering: .relaxed) else { return false }
        return isWanted.exchange(false, ordering: .acquiringAndReleasing)
    }
}
