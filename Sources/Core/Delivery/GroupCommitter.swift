import Synchronization

/// Turns many concurrent single-item writes into one write per batch, so that concurrent requests share one
/// transaction and one fsync.
///
/// No dedicated task: the first caller to find no commit running becomes the leader and commits everything that
/// queued up behind it; when it is done it hands leadership to the next waiter, so no caller leads twice and
/// every caller waits for at most one commit plus its own.
public final class GroupCommitter<Item: Sendable, Output: Sendable>: Sendable {
    private enum Ticket {
        case committed(Output)
        case lead
    }

    private struct Waiter {
        var item: Item
        var continuation: CheckedContinuation<Ticket, any Error>
    }

    private struct State {
        var waiters: [Waiter] = []
        var isCommitting = false
    }

    private let state = Mutex(State())
    private let maxBatchSize: Int
    private let commit: @Sendable ([Item]) async throws -> [Output]

    /// Makes a committer. `commit` writes a batch in one transaction and returns one output per item, in order.
    public init(maxBatchSize: Int = 1024, commit: @escaping @Sendable ([Item]) async throws -> [Output]) {
        precondition(maxBatchSize > 0, "a batch holds at least one item")
        self.maxBatchSize = maxBatchSize
        self.commit = commit
    }

    /// Commits `item` (with whatever else is waiting) and returns its output once it is durable.
    public func submit(_ item: Item) async throws -> Output {
        let mustLeadNow = state.withLock { state in
            if state.isCommitting { return false }
            state.isCommitting = true
            return true
        }
        if !mustLeadNow {
            let ticket = try await withCheckedThrowingContinuation { continuation in
                // Re-check under the lock: the leader may have finished between the first look and now.
                let leadInstead = state.withLock { state in
                    if state.isCommitting {
                        state.waiters.append(Waiter(item: item, continuation: continuation))
                        return false
                    }
                    state.isCommitting = true
                    return true
                }
                if leadInstead { continuation.resume(returning: .lead) }
            }
            if case .committed(let output) = ticket { return output }
        }
        return try await lead(with: item)
    }

    private func lead(with item: Item) async throws -> Output {
        let followers = state.withLock { state in
            let count = min(state.waiters.count, maxBatchSize - 1)
            let taken = Array(state.waiters.prefix(count))
            state.waiters.removeFirst(count)
            return taken
        }
        let result: Result<[Output], any Error>
        do {
            // In a task of its own: the leader is just one of the callers, and if its task is cancelled (a client
            // that hung up) the batch it carries for everyone else must still be written.
            let batch = [item] + followers.map(\.item)
            let outputs = try await Task { try await commit(batch) }.value
            precondition(outputs.count == followers.count + 1, "commit must return one output per item")
            result = .success(outputs)
        } catch {
            result = .failure(error)
        }
        let nextLeader = state.withLock { state -> Waiter? in
            if state.waiters.isEmpty {
                state.isCommitting = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        // Resume outside the lock: resuming schedules work and must not hold up other submitters.
        switch result {
        case .success(let outputs):
            for (index, follower) in followers.enumerated() {
                follower.continuation.resume(returning: .committed(outputs[index + 1]))
            }
        case .failure(let error):
            for follower in followers { follower.continuation.resume(throwing: error) }
        }
        nextLeader?.continuation.resume(returning: .lead)
        return try result.get()[0]
    }
}
