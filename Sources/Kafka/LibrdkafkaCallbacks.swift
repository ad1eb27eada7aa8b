import CRdKafka
import Foundation
import Logging
import Synchronization

// MARK: librdkafka callbacks
//
// Plain functions so that they convert to `@convention(c)` pointers: they capture nothing and find their state
// through the opaques. librdkafka invokes the delivery report, error and statistics callbacks from `rd_kafka_poll` /
// `rd_kafka_flush`, i.e. on the poll thread; the log callback may run on any librdkafka thread.

/// Registers the callbacks below on a configuration whose opaque is (or will be) the producer's `ProducerContext`;
/// the statistics callback only when statistics are enabled.
func setLibrdkafkaCallbacks(on confPointer: OpaquePointer, includingStatistics: Bool) {
    rd_kafka_conf_set_dr_msg_cb(confPointer, deliveryReportCallback)
    rd_kafka_conf_set_error_cb(confPointer, errorCallback)
    rd_kafka_conf_set_log_cb(confPointer, logCallback)
    if includingStatistics {
        rd_kafka_conf_set_stats_cb(confPointer, statisticsCallback)
    }
}

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
