import Foundation

/// How a message enters the store.
public enum InitialState: Sendable {
    /// Waiting for the retry worker.
    case pending
    /// Already claimed by this node's dispatcher, which delivers it right after the commit.
    case leased(owner: String, until: Date)
}

/// A message to insert and the state it starts in.
public struct IngestRecord: Sendable {
    /// The message.
    public var message: NewMessage
    /// Its first state.
    public var initialState: InitialState
    /// Its idempotency key, when the route deduplicates and the request carried one.
    public var dedup: DedupKey?

    /// Makes a record.
    public init(message: NewMessage, initialState: InitialState, dedup: DedupKey? = nil) {
        self.message = message
        self.initialState = initialState
        self.dedup = dedup
    }
}

/// What the dispatcher learned about a leased message, to be written back.
public struct DeliveryCompletion: Sendable {
    /// What happens to the message.
    public enum Change: Sendable {
        /// Delivered: done.
        case delivered
        /// Failed retryably: due again at the date.
        case retry(at: Date)
        /// Dead letter.
        case failed
        /// Not attempted (e.g. an open circuit breaker): due again at the date; no attempt is counted.
        case deferred(until: Date)
        /// Not attempted (shutdown): back to pending, due now.
        case released
    }

    /// The message.
    public var messageID: MessageID
    /// The lease owner that made the attempt; a completion from a stale owner is ignored.
    public var owner: String
    /// The new state.
    public var change: Change
    /// The attempt made, if one was.
    public var attempt: DeliveryAttempt?

    /// Makes a completion.
    public init(messageID: MessageID, owner: String, change: Change, attempt: DeliveryAttempt?) {
        self.messageID = messageID
        self.owner = owner
        self.change = change
        self.attempt = attempt
    }
}

/// A page of messages for listings.
public struct MessageQuery: Sendable {
    /// Only this status, or all.
    public var status: MessageStatus?
    /// At most this many.
    public var limit: Int
    /// Only messages accepted before this id (newest first paging).
    public var before: MessageID?

    /// Makes a query.
    public init(status: MessageStatus? = nil, limit: Int = 50, before: MessageID? = nil) {
        self.status = status
        self.limit = limit
        self.before = before
    }
}

/// Durable storage for messages and their delivery attempts: SQLite on one node, PostgreSQL across several.
///
/// Work is claimed under a lease (`claimDue`), so several workers or nodes never deliver the same message at once,
/// and a crashed node's claims come back once their lease runs out.
public protocol MessageStore: Sendable {
    /// Durably stores a batch of accepted messages in one transaction (one fsync for the whole batch). A record
    /// whose `dedup` key is already held on its route by an unexpired message is not stored; its outcome names that
    /// message instead. One outcome per record, in order.
    func insertReportingDuplicates(_ records: [IngestRecord]) async throws -> [IngestOutcome]

    /// Leases up to `limit` due messages (pending or retrying whose time has come, or delivering whose lease
    /// expired) to `owner` until `leaseUntil`, and returns them.
    func claimDue(owner: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [StoredMessage]

    /// Writes back delivery outcomes in one transaction; completions whose lease is no longer held are skipped.
    func complete(_ completions: [DeliveryCompletion], now: Date) async throws

    /// Gives every message leased by any owner back to the queue (single-node start-up after a crash).
    func releaseAllLeases(now: Date) async throws -> Int

    /// One message, if it exists.
    func message(id: MessageID) async throws -> StoredMessage?

    /// A message's attempts, oldest first.
    func attempts(messageID: MessageID) async throws -> [DeliveryAttempt]

    /// Messages, newest first.
    func messages(matching query: MessageQuery) async throws -> [StoredMessage]

    /// Makes a failed (or retrying) message due now, with a fresh attempt budget. False when there is no such
    /// message or it is not failed or retrying.
    func retry(id: MessageID, now: Date) async throws -> Bool

    /// Makes every failed message due now; returns how many.
    func retryAllFailed(now: Date) async throws -> Int

    /// How many messages are in each status.
    func statusCounts() async throws -> [MessageStatus: Int]

    /// When the oldest message not yet delivered or failed was accepted.
    func oldestUndeliveredAcceptedAt() async throws -> Date?

    /// When the next pending or retrying message falls due.
    func nextDueDate() async throws -> Date?

    /// Deletes delivered messages delivered before `date`; returns how many.
    func purgeDelivered(before date: Date) async throws -> Int

    /// Proves the store can be read and written; throws what is wrong.
    func checkHealth() async throws
}

/// A store whose batch writes are blocking calls, so a dedicated commit thread can drive them
/// (``ThreadGroupCommitter``) without a hop through Swift concurrency per batch.
public protocol BlockingIngestStore: MessageStore {
    /// Stores `records` and writes `completions` (as ``MessageStore/complete(_:now:)`` would, at `completedAt`)
    /// in one transaction, one fsync, on the caller's thread: the commit thread's batch of new
    /// messages together with the delivery outcomes that finished meanwhile. One outcome per record, in order; if it
    /// throws, neither was written.
    func writeBlocking(records: [IngestRecord], completions: [DeliveryCompletion], completedAt: Date) throws -> [IngestOutcome]
}
