import CRdKafka
import Foundation
import Synchronization

// Connection checks: blocking metadata requests, each on a thread of its own that holds a lease on the handle.

extension ProducerCore {
    /// Asks for the cluster's metadata in the background until a broker known by its id answers, so the producer is
    /// connected (and the idempotent producer has its id) before the first record rather than after it.
    ///
    /// librdkafka drops the bootstrap connection once it learns the brokers' ids, and with sparse connections it may
    /// not connect again until its producer-id timer fires: records produced meanwhile to a topic it already knew
    /// waited ~1 s (two 500 ms turns of that timer) for their first delivery. A metadata response processed while a
    /// real broker connection is up makes librdkafka request the producer id at once. A failed request ends the
    /// attempt (the error callback reports the outage) and is not recorded; a success is, unless a fresher state was.
    func connectEarly() {
        _ = startMetadataThread(named: "kafka-producer-connect") { [self] in
            for _ in 0..<3 where !isStopRequested.load(ordering: .relaxed) {
                let (state, answeredByBootstrap) = requestMetadata(timeout: .milliseconds(500))
                guard state.isConnected else { return }
                context.setConnectionStateIfUnknown(state)
                if !answeredByBootstrap { return }
            }
        }
    }

    /// Requests the cluster's metadata on a thread of its own and records the state it finds (see
    /// `KafkaProducer.checkConnection(timeout:)`).
    func checkConnection(timeout: Duration) async -> KafkaConnectionState {
        let state = await withCheckedContinuation { (continuation: CheckedContinuation<KafkaConnectionState?, Never>) in
            let isStarted = startMetadataThread(named: "kafka-producer-metadata") { [self] in
                continuation.resume(returning: requestMetadata(timeout: timeout).0)
            }
            if !isStarted { continuation.resume(returning: nil) }
        }
        guard let state else { return .disconnected(reason: "producer is shut down") }
        context.setConnectionState(state)
        return state
    }

    /// Runs `body`, which uses the handle for blocking metadata requests, on a thread of its own: off the cooperative
    /// pool, and off the poll thread, whose delivery reports must keep flowing meanwhile. The thread holds a lease, so
    /// the handle is not destroyed under it. False (nothing run) once the producer is shutting down.
    private func startMetadataThread(named name: String, _ body: @escaping @Sendable () -> Void) -> Bool {
        let hasLease = lifecycle.withLock { state in
            guard case .running = state.phase else { return false }
            state.leases += 1
            return true
        }
        guard hasLease else { return false }
        let thread = Thread { [self] in
            body()
            lifecycle.withLock { $0.leases -= 1 }
        }
        thread.name = name
        thread.start()
        return true
    }

    /// The connection state a metadata request finds, and whether a bootstrap connection (a broker whose id is not
    /// known yet, id -1) answered it.
    private func requestMetadata(timeout: Duration) -> (KafkaConnectionState, answeredByBootstrap: Bool) {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let milliseconds = Int32(clamping: KafkaProducerConfiguration.milliseconds(timeout))
        // all_topics = 0 and no topic: the cheapest request that still returns the broker list.
        let error = rd_kafka_metadata(handle.pointer, 0, nil, &metadata, milliseconds)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            return (.disconnected(reason: String(cString: rd_kafka_err2str(error))), false)
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        return (.connected(brokerCount: Int(metadata.pointee.broker_cnt)), metadata.pointee.orig_broker_id < 0)
    }
}
