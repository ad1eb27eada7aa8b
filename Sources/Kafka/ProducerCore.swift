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

/// State shared with librdkafka's callbacks, which reach it through the configuration opaque.
final class ProducerContext: Sendable {
    let logger: Logger
    let inFlight = Atomic<Int>(0)
    let produced = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    private let connection = Mutex<KafkaConnectionState>(.unknown)

    init(logger: Logger) {
        self.logger = logger
    }

    var connectionState: KafkaConnectionState { connection.withLock { $0 } }

    func setConnectionState(_ state: KafkaConnectionState) {
        connection.withLock { $0 = state }
    }

    /// Records `state` unless something was learned already (a later source is fresher).
    func setConnectionStateIfUnknown(_ state: KafkaConnectionState) {
        connection.withLock { current in
            if current == .unknown { current = state }
        }
    }

    /// A confirmed record proves some broker is reachable, whatever older statistics said.
    func noteDelivery() {
        connection.withLock { state in
            if !state.isConnected { state = .connected(brokerCount: 1) }
        }
    }
}

/// The records of one `send` awaiting their delivery reports: one object and one continuation for the whole batch,
/// however many records it holds.
///
/// Each record's message opaque points at its own slot in `slots`; the slot names the batch, and its offset from
/// the first slot is the record's index, so the delivery report callback finds both without a per-record object.
///
/// `@unchecked Sendable`: a slot's outcome is written either by the sender before the record is handed to
/// librdkafka (when librdkafka refuses it) or by the poll thread in that record's delivery report, never both, and
/// it is read by the sender only after `waitForReports()` returned, i.e. after the last report released `state`'s
/// lock and resumed the sender. The slots live exactly as long as the object, which the sender keeps alive until
/// every accepted record has been reported.
final class PendingBatch: @unchecked Sendable {
    /// What became of one record.
    enum Outcome {
        case pending
        case delivered(partition: Int32, offset: Int64)
        case failed(KafkaProduceError)
    }

    struct Slot {
        var batch: Unmanaged<PendingBatch>
        var outcome: Outcome
    }

    private struct State {
        /// Records handed to librdkafka whose report has not arrived.
        var outstanding = 0
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let slots: UnsafeMutableBufferPointer<Slot>
    private let state = Mutex(State())

    init(count: Int) {
        slots = .allocate(capacity: max(count, 1))
        // Unretained: the slots belong to this object, so they never outlive it.
        slots.initialize(repeating: Slot(batch: Unmanaged.passUnretained(self), outcome: .pending))
    }

    deinit {
        slots.deinitialize()
        slots.deallocate()
    }

    var count: Int { slots.count }

    /// The message opaque for record `index`.
    func opaque(for index: Int) -> UnsafeMutableRawPointer {
        // Force-unwrap: `slots` was allocated with a capacity of at least one.
        UnsafeMutableRawPointer(slots.baseAddress! + index)
    }

    /// Counts a record about to be handed to librdkafka (before the call: its report may arrive before it returns).
    func willHandOver() {
        state.withLock { $0.outstanding += 1 }
    }

    /// Takes back `willHandOver()` for a record librdkafka refused, recording why.
    func refused(_ index: Int, with outcome: Outcome) {
        slots[index].outcome = outcome
        state.withLock { $0.outstanding -= 1 }
    }

    /// Records an outcome decided before the record reached librdkafka.
    func setOutcome(_ outcome: Outcome, at index: Int) {
        slots[index].outcome = outcome
    }

    /// The outcome of record `index`; valid once `waitForReports()` returned.
    func outcome(at index: Int) -> Outcome {
        slots[index].outcome
    }

    /// Called from the delivery report callback for the record whose opaque is `slot`.
    static func report(_ outcome: Outcome, slot: UnsafeMutablePointer<Slot>) {
        let batch = slot.pointee.batch.takeUnretainedValue()
        slot.pointee.outcome = outcome
        let waiter = batch.state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.outstanding -= 1
            guard state.outstanding == 0 else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Returns once every record handed to librdkafka has its delivery report.
    func waitForReports() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state in
                if state.outstanding == 0 { return true }
                state.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}

/// What happened when one record was offered to librdkafka.
enum HandOver {
    /// librdkafka holds it; its delivery report will follow.
    case accepted
    /// librdkafka's local queue is full: try again once reports have freed space.
    case queueFull
    /// Refused for good (or the producer is shut down).
    case refused(KafkaProduceError)
}

/// Reusable buffers for building `rd_kafka_produceva` arguments, so a batch does not allocate per record.
struct ProduceScratch {
    var bytes: [UInt8] = []
    var headerOffsets: [(name: Int, value: Int, count: Int)] = []
    var fields: [rd_kafka_vu_t] = []
}

/// Owns the librdkafka handle and the thread that polls it. Separate from `KafkaProducer` so that the poll thread
/// can keep it alive while the public object is released (its `deinit` triggers the shutdown).
final class ProducerCore: Sendable {
    let handle: KafkaHandle
    let context: ProducerContext
    private let lifecycle = Mutex(Lifecycle())
    /// Read on every turn of the poll loop, so kept apart from `lifecycle` to avoid contending with `enqueue`.
    private let isStopRequested = Atomic<Bool>(false)

    private struct Lifecycle: ~Copyable {
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
        rd_kafka_conf_set_dr_msg_cb(confPointer, deliveryReportCallback)
        rd_kafka_conf_set_error_cb(confPointer, errorCallback)
        rd_kafka_conf_set_log_cb(confPointer, logCallback)
        if configuration.statisticsInterval != nil {
            rd_kafka_conf_set_stats_cb(confPointer, statisticsCallback)
        }
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

    /// Asks for the cluster's metadata in the background until a broker known by its id answers, so the producer is
    /// connected (and the idempotent producer has its id) before the first record rather than after it.
    ///
    /// librdkafka drops the bootstrap connection once it learns the brokers' ids, and with sparse connections it may
    /// not connect again until its producer-id timer fires: records produced meanwhile to a topic it already knew
    /// waited ~1 s (two 500 ms turns of that timer) for their first delivery. A metadata response processed while a
    /// real broker connection is up makes librdkafka request the producer id at once. A failed request ends the
    /// attempt (the error callback reports the outage) and is not recorded; a success is, unless a fresher state was.
    private func connectEarly() {
        _ = startMetadataThread(named: "kafka-producer-connect") { [self] in
            for _ in 0..<3 where !isStopRequested.load(ordering: .relaxed) {
                let (state, answeredByBootstrap) = requestMetadata(timeout: .milliseconds(500))
                guard state.isConnected else { return }
                context.setConnectionStateIfUnknown(state)
                if !answeredByBootstrap { return }
            }
        }
    }

    // MARK: Producing

    /// Offers record `index` of `batch` to librdkafka. On `.accepted` its delivery report completes the slot.
    func handOver(_ record: KafkaRecord, index: Int, of batch: PendingBatch, scratch: inout ProduceScratch) -> HandOver {
        batch.willHandOver()
        // Holding the lock across the (non-blocking) produce call is what lets `drainAndDestroy` know no producer is
        // still touching the handle once the phase has left `.running`.
        let outcome: HandOver = lifecycle.withLock { state in
            guard case .running = state.phase else { return .refused(.producerShutDown) }
            // Counted before the call: the delivery report may arrive (and decrement) before produceva returns.
            context.inFlight.add(1, ordering: .relaxed)
            guard let error = produce(record, opaque: batch.opaque(for: index), scratch: &scratch) else {
                return .accepted
            }
            context.inFlight.subtract(1, ordering: .relaxed)
            defer { rd_kafka_error_destroy(error) }
            if rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL { return .queueFull }
            return .refused(
                KafkaProduceError(
                    code: String(cString: rd_kafka_error_name(error)),
                    message: String(cString: rd_kafka_error_string(error)),
                    isRetriable: rd_kafka_error_is_retriable(error) != 0
                )
            )
        }
        switch outcome {
        case .accepted: break  // The delivery report completes the slot.
        case .queueFull: batch.refused(index, with: .pending)
        case .refused(let error): batch.refused(index, with: .failed(error))
        }
        return outcome
    }

    /// Calls `rd_kafka_produceva` (the non-variadic form of `rd_kafka_producev`, which Swift cannot import), with
    /// every pointer valid for the duration of the call; librdkafka copies key, value and headers
    /// (`RD_KAFKA_MSG_F_COPY`), so nothing needs to outlive it.
    private func produce(_ record: KafkaRecord, opaque: UnsafeMutableRawPointer, scratch: inout ProduceScratch) -> OpaquePointer? {
        // One buffer holds the NUL-terminated header names, the header values, and a final spare byte whose address
        // stands in for empty keys and values: librdkafka reads a NULL pointer as a null (absent) key or value, which
        // is not what an empty array means.
        scratch.bytes.removeAll(keepingCapacity: true)
        scratch.headerOffsets.removeAll(keepingCapacity: true)
        for header in record.headers {
            let nameOffset = scratch.bytes.count
            scratch.bytes.append(contentsOf: header.name.utf8)
            scratch.bytes.append(0)
            let valueOffset = scratch.bytes.count
            let valueCount = header.appendValue(to: &scratch.bytes)
            scratch.headerOffsets.append((nameOffset, valueOffset, valueCount))
        }
        scratch.bytes.append(0)
        let fieldCount = 5 + record.headers.count
        if scratch.fields.count < fieldCount {
            scratch.fields.append(contentsOf: repeatElement(rd_kafka_vu_t(), count: fieldCount - scratch.fields.count))
        }
        let headerOffsets = scratch.headerOffsets
        return scratch.bytes.withUnsafeMutableBufferPointer { scratchBuffer in
            // Force-unwrap: the buffer holds at least the spare byte, so it has storage.
            let scratchBase = UnsafeMutableRawPointer(scratchBuffer.baseAddress!)
            let spare = scratchBase + (scratchBuffer.count - 1)
            return scratch.fields.withUnsafeMutableBufferPointer { fields in
                record.topic.withCString { topicPointer in
                    record.value.withUnsafeBytes { valueBytes in
                        withOptionalBytes(record.key) { keyBytes in
                            fields[0].vtype = RD_KAFKA_VTYPE_TOPIC
                            fields[0].u.cstr = topicPointer
                            fields[1].vtype = RD_KAFKA_VTYPE_VALUE
                            fields[1].u.mem.ptr = valueBytes.count > 0 ? UnsafeMutableRawPointer(mutating: valueBytes.baseAddress) : spare
                            fields[1].u.mem.size = valueBytes.count
                            fields[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS
                            fields[2].u.i = RD_KAFKA_MSG_F_COPY
                            fields[3].vtype = RD_KAFKA_VTYPE_OPAQUE
                            fields[3].u.ptr = opaque
                            var count = 4
                            if let keyBytes {
                                fields[count].vtype = RD_KAFKA_VTYPE_KEY
                                fields[count].u.mem.ptr = keyBytes.count > 0 ? UnsafeMutableRawPointer(mutating: keyBytes.baseAddress) : spare
                                fields[count].u.mem.size = keyBytes.count
                                count += 1
                            }
                            for offsets in headerOffsets {
                                fields[count].vtype = RD_KAFKA_VTYPE_HEADER
                                fields[count].u.header.name = UnsafePointer((scratchBase + offsets.name).assumingMemoryBound(to: CChar.self))
                                fields[count].u.header.val = UnsafeRawPointer(scratchBase + offsets.value)
                                fields[count].u.header.size = offsets.count
                                count += 1
                            }
                            // Force-unwrap: `fields` holds at least five elements (grown above).
                            return rd_kafka_produceva(handle.pointer, fields.baseAddress!, count)
                        }
                    }
                }
            }
        }
    }

    // MARK: Connection checks

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

    // MARK: Poll thread and shutdown

    private func runPollLoop() {
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

private func withOptionalBytes<Result>(
    _ bytes: [UInt8]?,
    _ body: (UnsafeRawBufferPointer?) -> Result
) -> Result {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
}

// MARK: librdkafka callbacks
//
// Plain functions so that they convert to `@convention(c)` pointers: they capture nothing and find their state
// through the opaques. librdkafka invokes the delivery report, error and statistics callbacks from `rd_kafka_poll` /
// `rd_kafka_flush`, i.e. on the poll thread; the log callback may run on any librdkafka thread.

private func context(_ opaque: UnsafeMutableRawPointer?) -> ProducerContext? {
    guard let opaque else { return nil }
    return Unmanaged<ProducerContext>.fromOpaque(opaque).takeUnretainedValue()
}

private func deliveryReportCallback(
    _ rk: OpaquePointer?,
    _ message: UnsafePointer<rd_kafka_message_t>?,
    _ contextOpaque: UnsafeMutableRawPointer?
) {
    guard let message, let messageOpaque = message.pointee._private, let context = context(contextOpaque) else {
        return
    }
    let slot = messageOpaque.assumingMemoryBound(to: PendingBatch.Slot.self)
    context.inFlight.subtract(1, ordering: .relaxed)
    let error = message.pointee.err
    if error == RD_KAFKA_RESP_ERR_NO_ERROR {
        context.produced.add(1, ordering: .relaxed)
        context.noteDelivery()
        PendingBatch.report(.delivered(partition: message.pointee.partition, offset: message.pointee.offset), slot: slot)
    } else {
        context.failed.add(1, ordering: .relaxed)
        PendingBatch.report(.failed(KafkaProduceError(error)), slot: slot)
    }
}

private func errorCallback(
    _ rk: OpaquePointer?,
    _ error: Int32,
    _ reason: UnsafePointer<CChar>?,
    _ contextOpaque: UnsafeMutableRawPointer?
) {
    guard let context = context(contextOpaque) else { return }
    let code = rd_kafka_resp_err_t(error)
    let reasonText = reason.map { String(cString: $0) } ?? ""
    if code == RD_KAFKA_RESP_ERR__FATAL, let rk {
        // An idempotent producer that hits a fatal error (e.g. a broken sequence) refuses all further records.
        var errstr = [CChar](repeating: 0, count: 512)
        let fatal = rd_kafka_fatal_error(rk, &errstr, errstr.count)
        context.logger.critical(
            "Kafka producer hit a fatal error and can no longer produce",
            metadata: ["kafka.error": "\(String(cString: rd_kafka_err2name(fatal)))", "kafka.reason": "\(decodeCString(errstr))"]
        )
        context.setConnectionState(.disconnected(reason: decodeCString(errstr)))
        return
    }
    if code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN {
        context.setConnectionState(.disconnected(reason: reasonText))
    }
    context.logger.warning(
        "Kafka client error",
        metadata: ["kafka.error": "\(String(cString: rd_kafka_err2name(code)))", "kafka.reason": "\(reasonText)"]
    )
}

private func logCallback(
    _ rk: OpaquePointer?,
    _ level: Int32,
    _ facility: UnsafePointer<CChar>?,
    _ text: UnsafePointer<CChar>?
) {
    guard let rk, let context = context(rd_kafka_opaque(rk)) else { return }
    let facilityText = facility.map { String(cString: $0) } ?? ""
    // librdkafka uses syslog levels. It logs every failed broker connection (facility FAIL) as an error, though it
    // reconnects on its own and the error callback already tracks the outage: a warning keeps alerts for real errors.
    let logLevel: Logger.Level =
        switch level {
        case ...2: .critical
        case 3: facilityText == "FAIL" ? .warning : .error
        case 4: .warning
        case 5: .notice
        case 6: .info
        default: .debug
        }
    context.logger.log(
        level: logLevel,
        "librdkafka: \(text.map { String(cString: $0) } ?? "")",
        metadata: ["kafka.facility": "\(facilityText)"]
    )
}

private func statisticsCallback(
    _ rk: OpaquePointer?,
    _ json: UnsafeMutablePointer<CChar>?,
    _ length: Int,
    _ contextOpaque: UnsafeMutableRawPointer?
) -> Int32 {
    guard let json, let context = context(contextOpaque) else { return 0 }
    let data = Data(bytes: json, count: length)
    guard let statistics = try? JSONDecoder().decode(LibrdkafkaStatistics.self, from: data) else { return 0 }
    // Only real brokers count: not librdkafka's internal and logical (coordinator) pseudo-brokers.
    let brokers = statistics.brokers.values.filter { $0.source == "configured" || $0.source == "learned" }
    let upCount = brokers.count { $0.state == "UP" }
    if upCount > 0 {
        context.setConnectionState(.connected(brokerCount: upCount))
    } else if brokers.contains(where: { $0.state == "DOWN" }) {
        // Brokers still in INIT or CONNECT say nothing yet; with sparse connections an idle producer keeps some there.
        context.setConnectionState(.disconnected(reason: "no broker connection is up"))
    }
    // 0: librdkafka frees `json`.
    return 0
}

/// The slice of librdkafka's statistics JSON that the connection state needs.
private struct LibrdkafkaStatistics: Decodable {
    struct Broker: Decodable {
        var state: String
        var source: String
    }

    var brokers: [String: Broker]
}
