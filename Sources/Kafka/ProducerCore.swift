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

    /// A confirmed record proves some broker is reachable, whatever older statistics said.
    func noteDelivery() {
        connection.withLock { state in
            if !state.isConnected { state = .connected(brokerCount: 1) }
        }
    }
}

/// One record awaiting its delivery report. It travels through librdkafka as the message opaque, retained once,
/// and is released by `deliveryReportCallback`, which librdkafka calls exactly once per accepted message.
final class PendingDelivery: Sendable {
    let topic: String
    let continuation: CheckedContinuation<ProduceAttempt, any Error>

    init(topic: String, continuation: CheckedContinuation<ProduceAttempt, any Error>) {
        self.topic = topic
        self.continuation = continuation
    }
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
    }

    // MARK: Producing

    /// Hands one record to librdkafka, or resumes `continuation` at once when that is impossible.
    func enqueue(
        topic: String,
        key: [UInt8]?,
        value: [UInt8],
        headers: [KafkaHeader],
        continuation: CheckedContinuation<ProduceAttempt, any Error>
    ) {
        let opaque = Unmanaged.passRetained(PendingDelivery(topic: topic, continuation: continuation)).toOpaque()
        // Holding the lock across the (non-blocking) produce call is what lets `drainAndDestroy` know no producer is
        // still touching the handle once the phase has left `.running`.
        let outcome: Result<Void, KafkaProduceError>? = lifecycle.withLock { state in
            guard case .running = state.phase else { return .failure(.producerShutDown) }
            // Counted before the call: the delivery report may arrive (and decrement) before produceva returns.
            context.inFlight.add(1, ordering: .relaxed)
            guard let error = produce(topic: topic, key: key, value: value, headers: headers, opaque: opaque) else {
                return .success(())
            }
            context.inFlight.subtract(1, ordering: .relaxed)
            defer { rd_kafka_error_destroy(error) }
            if rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL { return nil }
            return .failure(
                KafkaProduceError(
                    code: String(cString: rd_kafka_error_name(error)),
                    message: String(cString: rd_kafka_error_string(error)),
                    isRetriable: rd_kafka_error_is_retriable(error) != 0
                )
            )
        }
        switch outcome {
        case .success:
            break  // The delivery report callback owns the box now.
        case .none:
            Unmanaged<PendingDelivery>.fromOpaque(opaque).release()
            continuation.resume(returning: .queueFull)
        case .failure(let error):
            Unmanaged<PendingDelivery>.fromOpaque(opaque).release()
            continuation.resume(throwing: error)
        }
    }

    /// Calls `rd_kafka_produceva` (the non-variadic form of `rd_kafka_producev`, which Swift cannot import), with
    /// every pointer valid for the duration of the call; librdkafka copies key, value and headers
    /// (`RD_KAFKA_MSG_F_COPY`), so nothing needs to outlive it.
    private func produce(
        topic: String,
        key: [UInt8]?,
        value: [UInt8],
        headers: [KafkaHeader],
        opaque: UnsafeMutableRawPointer
    ) -> OpaquePointer? {
        // One buffer holds the NUL-terminated header names, the header values, and a final spare byte whose address
        // stands in for empty keys and values: librdkafka reads a NULL pointer as a null (absent) key or value, which
        // is not what an empty array means.
        var scratch: [UInt8] = []
        var headerOffsets: [(name: Int, value: Int, count: Int)] = []
        if !headers.isEmpty {
            headerOffsets.reserveCapacity(headers.count)
            for header in headers {
                let nameOffset = scratch.count
                scratch.append(contentsOf: header.name.utf8)
                scratch.append(0)
                let valueOffset = scratch.count
                scratch.append(contentsOf: header.value)
                headerOffsets.append((nameOffset, valueOffset, header.value.count))
            }
        }
        scratch.append(0)
        return scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            // Force-unwrap: `scratch` holds at least the spare byte, so it has storage.
            let scratchBase = UnsafeMutableRawPointer(scratchBuffer.baseAddress!)
            let spare = scratchBase + (scratchBuffer.count - 1)
            return topic.withCString { topicPointer in
                value.withUnsafeBytes { valueBytes in
                    withOptionalBytes(key) { keyBytes in
                        var fields = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 5 + headers.count)
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
                        return rd_kafka_produceva(handle.pointer, fields, count)
                    }
                }
            }
        }
    }

    // MARK: Connection checks

    func checkConnection(timeout: Duration) async -> KafkaConnectionState {
        let hasLease = lifecycle.withLock { state in
            guard case .running = state.phase else { return false }
            state.leases += 1
            return true
        }
        guard hasLease else { return .disconnected(reason: "producer is shut down") }
        let state = await withCheckedContinuation { (continuation: CheckedContinuation<KafkaConnectionState, Never>) in
            // rd_kafka_metadata blocks for up to `timeout`: a thread of its own keeps it off the cooperative pool and
            // off the poll thread, whose delivery reports must keep flowing meanwhile.
            let thread = Thread { [self] in
                let state = requestMetadata(timeout: timeout)
                lifecycle.withLock { $0.leases -= 1 }
                continuation.resume(returning: state)
            }
            thread.name = "kafka-producer-metadata"
            thread.start()
        }
        context.setConnectionState(state)
        return state
    }

    private func requestMetadata(timeout: Duration) -> KafkaConnectionState {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let milliseconds = Int32(clamping: KafkaProducerConfiguration.milliseconds(timeout))
        // all_topics = 0 and no topic: the cheapest request that still returns the broker list.
        let error = rd_kafka_metadata(handle.pointer, 0, nil, &metadata, milliseconds)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            return .disconnected(reason: String(cString: rd_kafka_err2str(error)))
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        return .connected(brokerCount: Int(metadata.pointee.broker_cnt))
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
    // Balances the `passRetained` in `ProducerCore.enqueue`.
    let pending = Unmanaged<PendingDelivery>.fromOpaque(messageOpaque).takeRetainedValue()
    context.inFlight.subtract(1, ordering: .relaxed)
    let error = message.pointee.err
    if error == RD_KAFKA_RESP_ERR_NO_ERROR {
        context.produced.add(1, ordering: .relaxed)
        context.noteDelivery()
        let report = KafkaDeliveryReport(
            topic: pending.topic,
            partition: message.pointee.partition,
            offset: message.pointee.offset
        )
        pending.continuation.resume(returning: .delivered(report))
    } else {
        context.failed.add(1, ordering: .relaxed)
        pending.continuation.resume(throwing: KafkaProduceError(error))
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
