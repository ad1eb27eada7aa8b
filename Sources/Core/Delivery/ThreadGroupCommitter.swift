import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// Group commit on a dedicated thread, for stores whose batch write is a blocking call (SQLite).
///
/// Submitters queue their item and suspend once; the commit thread takes everything queued, writes it with one
/// blocking call (one transaction, one fsync), and resumes each submitter with its output. While it writes, the next
/// batch queues up. Compared with ``GroupCommitter`` (whose commit is `async`) there is no leader hand-off, no task per
/// batch and no hop into the store's own queue: a request costs one suspension, resumed by the thread.
///
/// The thread ends when the committer is released.
public final class ThreadGroupCommitter<Item: Sendable, Output: Sendable>: Sendable {
    private let core: Core

    /// Makes a committer and starts its thread. `commit` writes a batch (at most `maxBatchSize` items) in one
    /// transaction and returns one output per item, in order; it runs only on the committer's thread.
    public init(name: String, maxBatchSize: Int = 1024, commit: @escaping @Sendable ([Item]) throws -> [Output]) {
        precondition(maxBatchSize > 0, "a batch holds at least one item")
        core = Core(maxBatchSize: maxBatchSize, commit: commit)
        let core = self.core
        Thread {
            setCurrentThreadName(name)
            core.run()
        }.start()
    }

    deinit {
        core.stop()
    }

    /// Commits `item` (with whatever else is queued) and returns its output once it is durable.
    ///
    /// A cancelled caller still waits for its commit: once queued, the item is written, and the caller must learn
    /// whether it was.
    public func submit(_ item: Item) async throws -> Output {
        try await withUnsafeThrowingContinuation { continuation in
            core.enqueue(Waiter(item: item, continuation: continuation))
        }
    }

    fileprivate struct Waiter {
        var item: Item
        // Unsafe rather than checked: the commit thread resumes every waiter exactly once (after a commit, or with
        // an error when stopped), and this is the per-request hot path.
        var continuation: UnsafeContinuation<Output, any Error>
    }

    /// The state the thread shares with submitters; it does not keep the committer alive, so releasing the
    /// committer stops the thread.
    private final class Core: Sendable {
        private struct State {
            var waiters: [Waiter] = []
            /// The thread is (or is about to be) awake: no signal is needed to get a new item written.
            var isAwake = false
            var isStopped = false
        }

        private let state = Mutex(State())
        private let wakeups = DispatchSemaphore(value: 0)
        private let maxBatchSize: Int
        private let commit: @Sendable ([Item]) throws -> [Output]

        init(maxBatchSize: Int, commit: @escaping @Sendable ([Item]) throws -> [Output]) {
            self.maxBatchSize = maxBatchSize
            self.commit = commit
        }

        func enqueue(_ waiter: Waiter) {
            let outcome = state.withLock { state -> (signal: Bool, rejected: Waiter?) in
                if state.isStopped { return (false, waiter) }
                state.waiters.append(waiter)
                if state.isAwake { return (false, nil) }
                state.isAwake = true
                return (true, nil)
            }
            if let rejected = outcome.rejected {
                rejected.continuation.resume(throwing: CancellationError())
            } else if outcome.signal {
                wakeups.signal()
            }
        }

        func stop() {
            state.withLock { $0.isStopped = true }
            wakeups.signal()
        }

        func run() {
            while true {
                wakeups.wait()
                while true {
                    let (batch, isStopped) = state.withLock { state -> ([Waiter], Bool) in
                        let count = min(state.waiters.count, maxBatchSize)
                        let taken = Array(state.waiters.prefix(count))
                        state.waiters.removeFirst(count)
                        if taken.isEmpty { state.isAwake = false }
                        return (taken, state.isStopped)
                    }
                    if batch.isEmpty {
                        if isStopped { return }
                        break
                    }
                    write(batch)
                }
            }
        }

        private func write(_ batch: [Waiter]) {
            do {
                let outputs = try commit(batch.map(\.item))
                precondition(outputs.count == batch.count, "commit must return one output per item")
                for (waiter, output) in zip(batch, outputs) { waiter.continuation.resume(returning: output) }
            } catch {
                for waiter in batch { waiter.continuation.resume(throwing: error) }
            }
        }
    }
}

/// Names the calling thread for the kernel (at most 15 bytes on Linux), so it shows up under its own name in `top -H`,
/// perf and the benchmarks' per-thread CPU rather than under its creator's (Foundation's `Thread.name` does not
/// reliably reach the kernel on Linux).
func setCurrentThreadName(_ name: String) {
    #if os(Linux)
    // pthread_setname_np is not visible from Swift's Glibc module; the kernel reads the same name from here.
    guard let file = fopen("/proc/thread-self/comm", "w") else { return }
    fputs(String(decoding: name.utf8.prefix(15), as: UTF8.self), file)
    fclose(file)
    #else
    Thread.current.name = name
    #endif
}
