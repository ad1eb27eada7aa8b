import CRdKafka
import Logging
import Synchronization

/// An idempotent (`acks=all`, `enable.idempotence=true`) Kafka producer whose `send` suspends until the broker
/// confirms the record.
///
/// librdkafka batches records internally, so many `send` calls should be in flight at once; each costs no round trip
/// of its own. Every blocking librdkafka call (`poll`, `flush`, metadata) runs on a thread the producer owns, never
/// on Swift's cooperative pool. Call `shutdown(timeout:)` before dropping the producer; dropping it without one
/// fails whatever is still unconfirmed.
public final class KafkaProducer: Sendable {
    private let core: ProducerCore
    /// How long `send` keeps retrying while librdkafka's queue is full; nil waits as long as it takes.
    private let queueFullTimeout: Duration?

    /// Checks every property with librdkafka without connecting to anything.
    ///
    /// - Throws: `KafkaConfigurationError` naming the first property librdkafka refuses, with librdkafka's text.
    public static func validate(_ configuration: KafkaProducerConfiguration) throws(KafkaConfigurationError) {
        _ = try LibrdkafkaConfiguration(configuration.librdkafkaProperties())
    }

    /// The version of the librdkafka actually loaded at run time (which may differ from the headers built against,
    /// e.g. when `LD_LIBRARY_PATH` points at a newer `librdkafka.so.1`).
    public static var librdkafkaVersion: String { String(cString: rd_kafka_version_str()) }

    /// Creates the librdkafka handle and starts its poll thread. Connecting happens in the background.
    ///
    /// - Throws: `KafkaConfigurationError` when librdkafka refuses a property or the combination of them.
    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws(KafkaConfigurationError) {
        core = try ProducerCore(configuration: configuration, logger: logger)
        queueFullTimeout = configuration.timeout > .zero ? configuration.timeout : nil
    }

    deinit {
        // Without an explicit shutdown nobody waits for the remaining records, so fail them at once rather than
        // leave their senders suspended and the poll thread running.
        core.requestShutdown(timeout: .zero, waiter: nil)
    }

    /// Enqueues one record and suspends until librdkafka reports it delivered to all in-sync replicas: a batch of one
    /// (see `send(_:)`).
    ///
    /// When librdkafka's local queue is full this waits and retries (up to the configured `timeout`) instead of
    /// failing. Cancellation is honoured only while waiting for queue space: once librdkafka holds the record it may
    /// still be delivered, so the call keeps waiting for the verdict.
    ///
    /// - Throws: `KafkaProduceError`; `isRetriable` says whether the record should be kept and sent again later
    ///   (`_CANCELLED` when cancelled before librdkafka accepted the record).
    public func send(
        topic: String,
        key: [UInt8]?,
        value: [UInt8],
        headers: [KafkaHeader] = []
    ) async throws(KafkaProduceError) -> KafkaDeliveryReport {
        try await send([KafkaRecord(topic: topic, key: key, value: value, headers: headers)])[0].get()
    }

    /// Produces every record and suspends until each has its verdict; one result per record, in order.
    ///
    /// Records are handed to librdkafka one after another from this task, with no task or continuation per record;
    /// the batch resumes once, when the last delivery report arrives. A full local queue is waited out (librdkafka
    /// frees space as reports arrive), with one deadline for the whole batch (`timeout` from the first full queue);
    /// records still unsent when it passes (`_QUEUE_FULL`) or the task is cancelled (`_CANCELLED`) fail with a
    /// retriable error and are never handed over later.
    public func send(_ records: [KafkaRecord]) async -> [Result<KafkaDeliveryReport, KafkaProduceError>] {
        guard !records.isEmpty else { return [] }
        let batch = PendingBatch(count: records.count)
        var scratch = ProduceScratch()
        var queueFullDeadline: ContinuousClock.Instant?
        var index = 0
        while index < records.count {
            switch core.handOver(records[index], index: index, of: batch, scratch: &scratch) {
            case .accepted, .refused:
                // No reset of the queue-full deadline on progress: the whole hand-over is bounded by `timeout` from
                // the first full queue, so a batch trickling into a slow broker cannot hold its early records'
                // outcomes (and leases) for longer than that.
                index += 1
            case .queueFull:
                do {
                    try await waitForQueueSpace(deadline: &queueFullDeadline)
                } catch {
                    let failure = error is CancellationError
                        ? KafkaProduceError(code: "_CANCELLED", message: "cancelled before librdkafka accepted the record", isRetriable: true)
                        : KafkaProduceError(RD_KAFKA_RESP_ERR__QUEUE_FULL)
                    for unsent in index..<records.count { batch.setOutcome(.failed(failure), at: unsent) }
                    index = records.count
                }
            }
        }
        await batch.waitForReports()
        return records.indices.map { index in
            switch batch.outcome(at: index) {
            case .delivered(let partition, let offset):
                return .success(KafkaDeliveryReport(topic: records[index].topic, partition: partition, offset: offset))
            case .failed(let error):
                return .failure(error)
            case .pending:
                fatalError("record \(index) of a batch has no outcome after every report arrived")
            }
        }
    }

    /// Sleeps briefly while librdkafka's queue is full; throws once `timeout` has passed since the first wait, or
    /// `CancellationError`.
    private func waitForQueueSpace(deadline: inout ContinuousClock.Instant?) async throws {
        if let queueFullTimeout {
            let now = ContinuousClock.now
            let limit = deadline ?? now.advanced(by: queueFullTimeout)
            deadline = limit
            if now >= limit { throw KafkaProduceError(RD_KAFKA_RESP_ERR__QUEUE_FULL) }
        }
        // The poll thread frees queue space as delivery reports arrive; a short nap lets it catch up.
        try await Task.sleep(for: .milliseconds(2))
    }

    /// The latest broker connection state learned from librdkafka's statistics, error callbacks, delivery reports
    /// and `checkConnection`.
    public var connectionState: KafkaConnectionState { core.context.connectionState }

    /// Asks the cluster for its metadata (on a thread of its own, since the call blocks) and returns, as well as
    /// records, the resulting state.
    public func checkConnection(timeout: Duration) async -> KafkaConnectionState {
        await core.checkConnection(timeout: timeout)
    }

    /// Records handed to librdkafka whose delivery report has not arrived yet.
    public var inFlightCount: Int { core.context.inFlight.load(ordering: .relaxed) }

    /// Records confirmed by the broker since the producer was created.
    public var producedCount: Int { core.context.produced.load(ordering: .relaxed) }

    /// Records whose delivery failed (after librdkafka's own retries) since the producer was created.
    public var failedCount: Int { core.context.failed.load(ordering: .relaxed) }

    /// Waits up to `timeout` for in-flight records to be confirmed, then fails the rest (their `send` throws a
    /// retriable `KafkaProduceError`), stops the poll thread and destroys the librdkafka handle.
    ///
    /// Later `send` calls throw at once. Calling it again, concurrently or afterwards, just waits for the first.
    public func shutdown(timeout: Duration) async {
        await withCheckedContinuation { continuation in
            core.requestShutdown(timeout: timeout, waiter: continuation)
        }
    }
}
