import Core
import Foundation

/// The one owner of the intake sequence: reserve a slot in the message's lane → store durably (leased to this node
/// when a slot was free) → enqueue the job, or give the slot back. Ingest hands it accepted messages and the retry
/// worker the due messages it claimed; neither drives the dispatcher's reservations itself.
///
/// Data flows one way: ingress → store → dispatcher → sink. Nothing downstream calls back into this type.
struct DeliveryIntake: Sendable {
    let dispatcher: DeliveryDispatcher
    /// The durable commit of an accepted message (the group committer).
    let commit: @Sendable (IngestRecord) async throws -> IngestOutcome
    /// How long a message stored leased stays this node's before another may take it.
    let leaseTimeout: Duration

    /// The node id leases are taken under.
    var owner: String { dispatcher.owner }

    /// Stores an accepted message and, once it is durable, queues its first delivery attempt.
    ///
    /// When the message's lane has room it is stored leased to this node and queued right after the commit (no
    /// poll); when the lane is full it is stored pending and the retry worker claims it later, so memory stays
    /// bounded under any load. A duplicate (its `dedup` key is taken) and a failed commit give the slot back.
    /// - Throws: what the commit threw; nothing was stored then.
    func accept(_ message: NewMessage, dedup: DedupKey?) async throws -> IngestOutcome {
        let isLeased = dispatcher.reserve(for: message.destination)
        let state: InitialState = isLeased
            ? .leased(owner: owner, until: message.acceptedAt.addingTimeInterval(leaseTimeout.seconds))
            : .pending
        let outcome: IngestOutcome
        do {
            outcome = try await commit(IngestRecord(message: message, initialState: state, dedup: dedup))
        } catch {
            if isLeased { dispatcher.cancelReservation(for: message.destination) }
            throw error
        }
        guard isLeased else { return outcome }
        if case .duplicate = outcome {
            dispatcher.cancelReservation(for: message.destination)
        } else {
            dispatcher.enqueue(.init(message: message, attemptCount: 0, attemptsSinceRetry: 0))
        }
        return outcome
    }

    /// Queues claimed due messages, all at once so a batching lane can take the claim as one batch. Those whose
    /// lane is full go back to the store, due now, rather than holding their lease.
    /// - Returns: whether every message found a slot.
    func dispatch(claimed: [StoredMessage]) async -> Bool {
        var unstarted: [NewMessage] = []
        var jobs: [DeliveryDispatcher.Job] = []
        jobs.reserveCapacity(claimed.count)
        for stored in claimed {
            guard dispatcher.reserve(for: stored.message.destination) else {
                unstarted.append(stored.message)
                continue
            }
            jobs.append(.init(message: stored.message, attemptCount: stored.attemptCount, attemptsSinceRetry: stored.attemptsSinceRetry))
        }
        dispatcher.enqueue(jobs)
        guard unstarted.isEmpty else {
            await dispatcher.releaseUnstarted(unstarted)
            return false
        }
        return true
    }
}
