import Core

/// The embedded store's leases, held in memory instead of in the message rows.
///
/// One server process owns a SQLite file (``ServerLock``), so a lease only has to be visible inside that process: a
/// crash loses the leases together with the deliveries they guarded, and the messages, whose rows a claim never
/// changed, are simply due again at the next start. Keeping leases here makes a claim a read (no row rewritten, no
/// index entry moved) and leaves the single SQLite writer free for what must be durable: accepting messages and
/// recording outcomes.
///
/// A leased message stays `pending` or `retrying` in its row; the store reports it as `delivering`.
///
/// Claims walk the due index, ordered by ``Key`` (`next_attempt_at`, then `seq`), skipping leased rows. So that a
/// claim does not walk past every message in flight again, the table keeps a ``cursor`` with this invariant: every
/// due row ordered before the cursor is leased. Whatever can put an unleased due row before it (an insert whose
/// accepted time lies behind it, a completion or manual retry that makes a row due, an expired lease) moves the
/// cursor back with ``rewind(to:)``. What the process cannot see (another process changing the file, such as
/// `messagebridge messages retry` while the server runs, or the wall clock stepping back) is caught by
/// ``restartIfDue(now:)``: at most every ``restartInterval`` a claim starts from the beginning again.
struct LeaseTable {
    /// A row's position in the due index.
    struct Key: Comparable {
        var nextAttemptAt: Int64
        var seq: Int64

        static func < (lhs: Key, rhs: Key) -> Bool {
            (lhs.nextAttemptAt, lhs.seq) < (rhs.nextAttemptAt, rhs.seq)
        }
    }

    struct Lease {
        var id: MessageID
        var owner: String
        var until: Int64
        /// Where the row sits in the due index (its row is not changed while leased).
        var key: Key
        /// The row's status, `pending` or `retrying`, which listings report as `delivering` meanwhile.
        var status: MessageStatus
    }

    private(set) var bySeq: [Int64: Lease] = [:]
    private var seqByID: [MessageID: Int64] = [:]
    /// Due rows ordered at or before this key are all leased; nil: scan from the start.
    private(set) var cursor: Key?
    /// The earliest `until` among the leases, so expiry is looked for only when one can have happened.
    private var earliestUntil = Int64.max
    /// When a claim last started from the beginning (milliseconds).
    private var restartedAt: Int64?
    /// How often a claim starts from the beginning regardless of the cursor (milliseconds).
    static let restartInterval: Int64 = 10_000

    var count: Int { bySeq.count }

    /// The sequence number of `id`'s row while it is leased.
    func seq(of id: MessageID) -> Int64? { seqByID[id] }

    func isLeased(_ seq: Int64) -> Bool { bySeq[seq] != nil }

    /// Leases a row.
    mutating func lease(seq: Int64, _ lease: Lease) {
        if let previous = bySeq[seq] { seqByID[previous.id] = nil }
        bySeq[seq] = lease
        seqByID[lease.id] = seq
        earliestUntil = min(earliestUntil, lease.until)
    }

    /// Ends the lease on `seq` if `owner` still holds it.
    mutating func release(seq: Int64, heldBy owner: String) {
        guard let lease = bySeq[seq], lease.owner == owner else { return }
        bySeq[seq] = nil
        seqByID[lease.id] = nil
    }

    /// Ends every lease and forgets the cursor; returns how many there were.
    mutating func removeAll() -> Int {
        let count = bySeq.count
        self = LeaseTable()
        return count
    }

    /// Makes sure the next claim looks at `key` (a row that is, or is about to be, due and unleased).
    mutating func rewind(to key: Key) {
        guard let cursor else { return }
        let justBefore = Key(nextAttemptAt: key.nextAttemptAt, seq: key.seq - 1)
        if justBefore < cursor { self.cursor = justBefore }
    }

    /// Moves the cursor forward after a claim looked at every due row up to `key`.
    mutating func advance(to key: Key) {
        if cursor.map({ $0 < key }) ?? true { cursor = key }
    }

    /// Drops leases that ran out by `now`, so their rows can be claimed again.
    mutating func expire(now: Int64) {
        guard earliestUntil <= now else { return }
        earliestUntil = .max
        for (seq, lease) in bySeq {
            if lease.until <= now {
                bySeq[seq] = nil
                seqByID[lease.id] = nil
                rewind(to: lease.key)
            } else {
                earliestUntil = min(earliestUntil, lease.until)
            }
        }
    }

    /// Forgets the cursor if it has not been forgotten for ``restartInterval``: the next scan walks the leased rows
    /// at the head of the due index once (index entries only), and finds anything stranded.
    mutating func restartIfDue(now: Int64) {
        if let restartedAt, now >= restartedAt, now - restartedAt < Self.restartInterval { return }
        restartedAt = now
        cursor = nil
    }

    /// True if some lease ran out by `now`.
    func hasExpired(now: Int64) -> Bool { earliestUntil <= now }
}
