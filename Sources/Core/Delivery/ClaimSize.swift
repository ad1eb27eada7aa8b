/// How many due messages the retry worker asks the store for in one claim.
///
/// A few due retries are claimed `worker.batch_size` at a time. A backlog (a restart after an outage, or ingest
/// faster than the lanes for a while) is claimed in growing steps instead: each claim that comes back full asks for
/// twice as many as the one before, up to `ceiling`, the largest batch a lane hands its sink at once (a Kafka batch).
/// So a backlog costs a few large claims rather than many small ones, each a trip to SQLite's one writer and a batch
/// of its own down the lane; the size goes back to `batch_size` as soon as a claim finds less than it asked for, or
/// finds a lane full.
public struct ClaimSize: Sendable {
    /// The first claim's size: `worker.batch_size`.
    public let base: Int
    /// The most one claim asks for.
    public let ceiling: Int
    /// What the next claim asks for (before the lanes' free room caps it).
    public private(set) var next: Int

    /// Starts at `base`; grows up to `ceiling`, or not at all when `ceiling` is not above `base`.
    public init(base: Int, ceiling: Int) {
        self.base = max(1, base)
        self.ceiling = max(self.base, ceiling)
        self.next = self.base
    }

    /// Notes what a claim that asked for `asked` messages got: a full claim doubles the next one, a short one
    /// starts over at `base`.
    public mutating func claimed(_ count: Int, asked: Int) {
        next = count >= asked ? min(next * 2, ceiling) : base
    }

    /// Starts over at `base`: a claim found a lane full and gave messages back, so the next claims stay small
    /// until the lanes have room (a large claim would mostly be given back again).
    public mutating func reset() {
        next = base
    }
}
