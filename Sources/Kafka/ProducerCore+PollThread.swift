import CRdKafka
import Foundation
import Logging
import Synchronization

// The poll thread: it serves librdkafka's callbacks until a shutdown is requested, then flushes, purges and
// destroys the handle, so that no blocking librdkafka call ever runs on the cooperative pool.

extension ProducerCore {
    /// The body of the poll thread started by `init`: polls until a shutdown is requested, then drains and destroys.
    func runPollLoop() {
        while !isStopRequested.load(ordering: .acquiring) {
            // Serves delivery reports, errors, statistics; the timeout only bounds how late a shutdown is noticed.
            rd_kafka_poll(handle.pointer, 100)
        }
        drainAndDestroy()
    }

    /// Asks the poll thread to drain and destroy the handle; `waiter` is resumed once that is done.
    func requestShutdown(timeout: Duration, waiter: CheckedContinuation<Void, Never>?) {
        let isClosed = lifecycle.withLock { state in
            switch state.phase {
            case .running:
                state.phase = .draining
                state.drainTimeout = timeout
            case .draining:
                break
            case .closed:
                return true
            }
            if let waiter { state.shutdownWaiters.append(waiter) }
            return false
        }
        if isClosed {
            waiter?.resume()
        } else {
            isStopRequested.store(true, ordering: .releasing)
        }
    }

    private func drainAndDestroy() {
        let rk = handle.pointer
        // `phase` left `.running` under the lock before the stop flag was set, so no `enqueue` can start a produce
        // call any more; the ones that were running finished before that lock was released.
        let timeout = lifecycle.withLock { $0.drainTimeout }
        let flushResult = rd_kafka_flush(rk, Int32(clamping: KafkaProducerConfiguration.milliseconds(timeout)))
        if flushResult != RD_KAFKA_RESP_ERR_NO_ERROR {
            context.logger.warning(
                "Kafka producer shutting down with unconfirmed records",
                metadata: ["kafka.unconfirmed": "\(rd_kafka_outq_len(rk))"]
            )
            // Purging makes librdkafka emit a failed delivery report (_PURGE_QUEUE / _PURGE_INFLIGHT) for every
            // remaining record, which resumes its sender with a retriable error.
            rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
            let giveUp = ContinuousClock.now.advanced(by: .seconds(10))
            while rd_kafka_outq_len(rk) > 0, ContinuousClock.now < giveUp {
                rd_kafka_poll(rk, 50)
            }
        }
        // A metadata request in progress is bounded by its own timeout.
        while lifecycle.withLock({ $0.leases }) > 0 {
            usleep(10_000)
        }
        rd_kafka_destroy(rk)
        let remaining = context.inFlight.load(ordering: .relaxed)
        if remaining != 0 {
            context.logger.error(
                "Kafka producer destroyed with records whose delivery report never arrived",
                metadata: ["kafka.unconfirmed": "\(remaining)"]
            )
        }
        context.setConnectionState(.disconnected(reason: "producer is shut down"))
        let waiters = lifecycle.withLock { state in
            state.phase = .closed
            defer { state.shutdownWaiters = [] }
            return state.shutdownWaiters
        }
        for waiter in waiters { waiter.resume() }
        context.logger.debug("Kafka producer shut down")
    }
}
