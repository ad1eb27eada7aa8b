import CRdKafka
import Foundation
import Logging
import Synchronization

/// A librdkafka client handle.
///
/// `@unchecked Sendable`: librdkafka documents `rd_kafka_t` as thread-safe, and the calls made through it from
/// several threads (`rd_kafka_produceva`, `rd_kafka_poll`, `rd_kafka_flush`, `rd_kafka_metadata`,
/// `rd_kafka_outq_len`) are all meant to be called concurrently. The one call that is not, `rd_kafka_destroy`,
/// happens exactly once, on the poll thread, after `ProducerCore.lifecycle` guarantees that no produce call is
/// running and that no metadata request holds a lease (see `ProducerCore.drainAndDestroy`).
struct KafkaHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// Owns the librdkafka handle and the thread that polls it. Separate from `KafkaProducer` so that the poll thread
/// can keep it alive while the public object is released (its `deinit` triggers the shutdown).
final class ProducerCore: Sendable {
    let handle: KafkaHandle
    let context: ProducerContext
    /// Where the producer is between running and closed, and what shutdown must wait for; producing, metadata
    /// requests and shutdown (each in its own file) all go through this lock.
    let lifecycle = Mutex(Lifecycle())
    /// Read on every turn of the poll loop, so kept apart from `lifecycle` to avoid contending with `enqueue`.
    let isStopRequested = Atomic<Bool>(false)

    /// The state behind `lifecycle`.
    struct Lifecycle: ~Copyable {
        enum Phase { case running, draining, closed }
        var phase = Phase.running
        var drainTimeout = Duration.zero
        /// Metadata requests using the handle from threads other than the poll thread.
        var leases = 0
        var shutdownWaiters: [CheckedContinuation<Void, Never>] = []
    }

    init(configuration: KafkaProducerConfiguration, logger: Logger) throws(KafkaConfigurationError) {
        let context = ProducerContext(logger: logger)
        var conf = try LibrdkafkaConfiguration(configuration.librdkafkaProperties())
        // Force-unwrap: `LibrdkafkaConfiguration.init` only returns with a configuration in place.
        let confPointer = conf.pointer!
        // Unretained: `context` is stored in `self` below, and `self` outlives the handle (see `drainAndDestroy`).
        rd_kafka_conf_set_opaque(confPointer, Unmanaged.passUnretained(context).toOpaque())
        setLibrdkafkaCallbacks(on: confPointer, includingStatistics: configuration.statisticsInterval != nil)
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, confPointer, &errstr, errstr.count) else {
            throw KafkaConfigurationError(key: nil, message: decodeCString(errstr))
        }
        // rd_kafka_new took ownership of the configuration.
        _ = conf.take()
        self.handle = KafkaHandle(pointer: rk)
        self.context = context
        logger.debug(
            "Kafka producer created",
            metadata: [
                "kafka.brokers": "\(configuration.brokers.joined(separator: ","))",
                "kafka.security_protocol": "\(configuration.effectiveSecurityProtocol)",
                "kafka.librdkafka_version": "\(KafkaProducer.librdkafkaVersion)",
            ]
        )
        let thread = Thread { [self] in runPollLoop() }
        thread.name = "kafka-producer-poll"
        thread.start()
        connectEarly()
    }
}
