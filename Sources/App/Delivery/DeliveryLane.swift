import Core
import Synchronization

extension DeliveryDispatcher {
    /// One message to deliver, leased to this node.
    struct Job: Sendable {
        var message: NewMessage
        /// Attempts already made, for numbering.
        var attemptCount: Int
        /// Attempts counted against `max_retries`.
        var attemptsSinceRetry: Int
    }

    /// The queue and concurrency limit of one sink kind.
    final class Lane: Sendable {
        let kind: SinkKind
        /// Messages in flight at once.
        let concurrency: Int
        /// Messages handed to the sink in one batch; 1 runs a task per message.
        let batchLimit: Int
        let queueLimit: Int
        let queue = JobQueue()
        /// Jobs reserved, queued or running.
        let occupied = Mutex(0)
        /// Jobs handed to the sink whose outcome is not written yet.
        let running = Atomic(0)

        init(kind: SinkKind, concurrency: Int, batchLimit: Int) {
            self.kind = kind
            self.concurrency = concurrency
            self.batchLimit = max(1, min(batchLimit, concurrency))
            self.queueLimit = max(concurrency * 4, 1024)
        }
    }
}
