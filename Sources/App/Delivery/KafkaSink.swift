import Core
import Foundation
import Kafka
import Logging
import Metrics

/// Delivers messages as Kafka records with librdkafka (acks=all, idempotent producer).
///
/// The record key is the message id, or a route's `kafka_key` (a header or a JSON field, so one source's events keep
/// their order in one partition). Every request header (each value) becomes a record header, plus `X-Webhook-ID`
/// and `X-Webhook-Path`; credentials the route does not forward are left out, also for messages stored before
/// ingest dropped them. A message is delivered only when librdkafka's delivery report says so.
struct KafkaSink: DeliverySink {
    let producer: KafkaProducer
    /// Key sources by route path.
    let keySources: [String: RequestField]
    /// Credential policies by route path; ``CredentialHeaders/standard`` for a route no longer configured.
    let credentials: [String: CredentialHeaders]
    private let produced = Counter(label: "messagebridge_kafka_produced_total")
    private let inFlight = Gauge(label: "messagebridge_kafka_in_flight")
    private let failures = MetricCache { Counter(label: "messagebridge_kafka_failed_total", dimensions: $0) }

    init(producer: KafkaProducer, keySources: [String: RequestField], credentials: [String: CredentialHeaders] = [:]) {
        self.producer = producer
        self.keySources = keySources
        self.credentials = credentials
    }

    func deliver(_ message: NewMessage, attempt: Int, logger: Logger) async -> DeliveryResult {
        await deliver(batch: [DeliveryRequest(message: message, attempt: attempt)], logger: logger)[0]
    }

    /// Produces the whole batch from this task and waits for every delivery report; each record's own report
    /// decides its result, so one failed record fails only its own message.
    func deliver(batch: [DeliveryRequest], logger: Logger) async -> [DeliveryResult] {
        var records: [KafkaRecord] = []
        records.reserveCapacity(batch.count)
        var positions: [Int] = []  // index in `batch` of each record
        positions.reserveCapacity(batch.count)
        var results = [DeliveryResult?](repeating: nil, count: batch.count)
        for (index, request) in batch.enumerated() {
            if let record = record(for: request.message) {
                records.append(record)
                positions.append(index)
            } else {
                results[index] = Self.wrongDestination(request.message)
            }
        }
        let reports = await producer.send(records)
        inFlight.record(producer.inFlightCount)
        var deliveredCount = 0
        for (position, report) in zip(positions, reports) {
            switch report {
            case .success:
                deliveredCount += 1
                results[position] = .delivered(statusCode: nil)
            case .failure(let error):
                results[position] = result(for: error)
            }
        }
        produced.increment(by: Int64(deliveredCount))
        // Force-unwrap: every index got a result above, either unsendable or from its record's report.
        return results.map { $0! }
    }

    private func record(for message: NewMessage) -> KafkaRecord? {
        guard case .kafka(let topic) = message.destination else { return nil }
        var headers: [KafkaHeader] = []
        headers.reserveCapacity(message.headers.count + 2)
        let policy = credentials[message.route] ?? .standard
        for header in message.headers where policy.isKept(header.name) {
            headers.append(KafkaHeader(name: header.name, text: header.value))
        }
        headers.append(KafkaHeader(name: "X-Webhook-ID", text: message.id.rawValue))
        headers.append(KafkaHeader(name: "X-Webhook-Path", text: message.route))
        let key = Self.key(for: message, source: keySources[message.route])
        return KafkaRecord(topic: topic, key: Array(key.utf8), value: message.body, headers: headers)
    }

    private func result(for error: KafkaProduceError) -> DeliveryResult {
        failures([("code", error.code)]).increment()
        let failure = DeliveryError(reason: .kafka, message: "\(error.code): \(error.message)")
        return error.isRetriable || error.code == "_FATAL" ? .retryable(failure) : .rejected(failure)
    }

    private static func wrongDestination(_ message: NewMessage) -> DeliveryResult {
        .rejected(DeliveryError(reason: .internal, message: "Kafka sink got \(message.destination)"))
    }

    /// The record key: from the route's key source when it yields a value, else the message id.
    static func key(for message: NewMessage, source: RequestField?) -> String {
        let value = source?.value(body: message.body) { name in
            let lowered = name.lowercased()
            return message.headers.first { $0.name.lowercased() == lowered }?.value
        }
        return value ?? message.id.rawValue
    }
}
