import Core
import Synchronization

extension DeliveryDispatcher {
    /// Jobs waiting for their lane: appended by ingest and the retry worker, taken by the lane's runner as many
    /// at a time as it has room for. One waiter (the runner), woken by new jobs, by finished jobs (room) and by
    /// `finish()`.
    final class JobQueue: Sendable {
        private struct State {
            /// Queued jobs are `jobs[head...]`: taking a prefix moves an index rather than the rest of the array.
            var jobs: [Job] = []
            var head = 0
            var isFinished = false
            var isSignalled = false
            var waiter: CheckedContinuation<Void, Never>?
        }

        private let state = Mutex(State())

        /// Appends jobs; false (nothing appended) once the queue is finished.
        func append(contentsOf jobs: some Collection<Job>) -> Bool {
            let (isAppended, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
                guard !state.isFinished else { return (false, nil) }
                state.jobs.append(contentsOf: jobs)
                return (true, Self.takeWaiter(&state))
            }
            waiter?.resume()
            return isAppended
        }

        /// No more jobs: `take` returns what is left, then nil.
        func finish() {
            let waiter = state.withLock { state in
                state.isFinished = true
                return Self.takeWaiter(&state)
            }
            waiter?.resume()
        }

        /// Wakes the runner to look again (room was freed).
        func signal() {
            let waiter = state.withLock { Self.takeWaiter(&$0) }
            waiter?.resume()
        }

        /// Waits until jobs are queued and `room()` is positive, then takes up to `room()` of them; nil once the
        /// queue is finished and empty.
        func take(room: () -> Int) async -> [Job]? {
            while true {
                let taken: [Job]?? = state.withLock { state in
                    state.isSignalled = false
                    let queued = state.jobs.count - state.head
                    if queued == 0 { return state.isFinished ? .some(nil) : nil }
                    let limit = state.isFinished ? queued : room()
                    guard limit > 0 else { return nil }
                    if limit >= queued {
                        defer { (state.jobs, state.head) = ([], 0) }
                        return state.head == 0 ? state.jobs : Array(state.jobs[state.head...])
                    }
                    defer {
                        state.head += limit
                        if state.head * 2 >= state.jobs.count {
                            state.jobs.removeFirst(state.head)
                            state.head = 0
                        }
                    }
                    return Array(state.jobs[state.head..<(state.head + limit)])
                }
                if let taken { return taken }
                await withCheckedContinuation { continuation in
                    let resumeNow = state.withLock { state in
                        if state.isSignalled { return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }

        private static func takeWaiter(_ state: inout State) -> CheckedContinuation<Void, Never>? {
            guard let waiter = state.waiter else {
                state.isSignalled = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
    }
}
