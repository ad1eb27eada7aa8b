import CRdKafka
import Foundation
import Kafka
import Logging

/// librdkafka's in-process mock cluster: real Kafka protocol over loopback sockets, with hooks to take brokers down
/// and inject errors.
///
/// `@unchecked Sendable`: the two pointers are only used with librdkafka's mock API, which forwards every call to
/// the cluster's own thread and is safe from any thread; they are destroyed once, in `deinit`, when no other
/// reference can exist.
public final class MockCluster: @unchecked Sendable {
    private let client: OpaquePointer
    private let cluster: OpaquePointer
    public let brokerCount: Int32
    /// `host:port,...` to hand to a client as its bootstrap servers.
    public let bootstraps: String

    public init(brokers: Int32 = 3) throws {
        // Force-unwrap: rd_kafka_conf_new only fails when malloc does.
        let conf = rd_kafka_conf_new()!
        // The mock cluster must belong to some client handle; this one never produces.
        rd_kafka_conf_set(conf, "log_level", "3", nil, 0)
        var errstr = [CChar](repeating: 0, count: 512)
        guard let client = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw MockClusterError(message: "rd_kafka_new failed")
        }
        guard let cluster = rd_kafka_mock_cluster_new(client, brokers) else {
            rd_kafka_destroy(client)
            throw MockClusterError(message: "rd_kafka_mock_cluster_new failed")
        }
        self.client = client
        self.cluster = cluster
        self.brokerCount = brokers
        self.bootstraps = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(client)
    }

    public func createTopic(_ name: String, partitions: Int32 = 1) throws {
        let error = rd_kafka_mock_topic_create(cluster, name, partitions, min(brokerCount, 3))
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw MockClusterError(message: "topic create: \(String(cString: rd_kafka_err2str(error)))")
        }
    }

    public func setAllBrokers(up: Bool) {
        for id in 1...brokerCount {
            if up {
                rd_kafka_mock_broker_set_up(cluster, id)
            } else {
                rd_kafka_mock_broker_set_down(cluster, id)
            }
        }
    }

    /// Makes `broker` the leader of a partition; -1 leaves the partition without a leader, so records for it wait
    /// (and time out) while other partitions keep working.
    public func setPartitionLeader(topic: String, partition: Int32 = 0, broker: Int32) {
        rd_kafka_mock_partition_set_leader(cluster, topic, partition, broker)
    }

    /// The next requests of `apiKey` (0 = Produce), on any broker, fail with these errors in order.
    public func pushRequestErrors(apiKey: Int16, _ errors: [rd_kafka_resp_err_t]) {
        rd_kafka_mock_push_request_errors_array(cluster, apiKey, errors.count, errors)
    }
}

public struct MockClusterError: Error {
    public var message: String
}

/// A record as a separate librdkafka consumer read it back.
public struct ConsumedRecord: Sendable, Equatable {
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
}

/// Reads `topic` from the beginning with a librdkafka consumer until `expectedCount` records arrived (and then for
/// `settle` longer, to catch duplicates) or `timeout` passed. The consumer blocks in `rd_kafka_consumer_poll`, so it
/// runs on a thread of its own, never on the cooperative pool.
public func consumeRecords(
    bootstraps: String,
    topic: String,
    partitions: Int32 = 1,
    expectedCount: Int,
    settle: Duration = .zero,
    timeout: Duration = .seconds(20)
) async throws -> [ConsumedRecord] {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[ConsumedRecord], any Error>) in
        let thread = Thread {
            continuation.resume(
                with: Result {
                    try consumeBlocking(
                        bootstraps: bootstraps,
                        topic: topic,
                        partitions: partitions,
                        expectedCount: expectedCount,
                        settle: settle,
                        timeout: timeout
                    )
                }
            )
        }
        thread.name = "test-consumer"
        thread.start()
    }
}

private func consumeBlocking(
    bootstraps: String,
    topic: String,
    partitions: Int32,
    expectedCount: Int,
    settle: Duration,
    timeout: Duration
) throws -> [ConsumedRecord] {
    // Force-unwrap: rd_kafka_conf_new only fails when malloc does.
    let conf = rd_kafka_conf_new()!
    let properties = [
        ("bootstrap.servers", bootstraps),
        ("group.id", "kafka-tests-\(UInt64.random(in: 0...UInt64.max))"),
        ("enable.auto.commit", "false"),
        ("enable.partition.eof", "false"),
        ("log_level", "3"),
    ]
    var errstr = [CChar](repeating: 0, count: 512)
    for (key, value) in properties where rd_kafka_conf_set(conf, key, value, &errstr, errstr.count) != RD_KAFKA_CONF_OK {
        rd_kafka_conf_destroy(conf)
        throw MockClusterError(message: "consumer property \(key)")
    }
    guard let rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &errstr, errstr.count) else {
        rd_kafka_conf_destroy(conf)
        throw MockClusterError(message: "rd_kafka_new(consumer) failed")
    }
    defer {
        rd_kafka_consumer_close(rk)
        rd_kafka_destroy(rk)
    }
    rd_kafka_poll_set_consumer(rk)
    let assignment = rd_kafka_topic_partition_list_new(partitions)
    for partition in 0..<partitions {
        rd_kafka_topic_partition_list_add(assignment, topic, partition).pointee.offset = Int64(RD_KAFKA_OFFSET_BEGINNING)
    }
    let assignError = rd_kafka_assign(rk, assignment)
    rd_kafka_topic_partition_list_destroy(assignment)
    guard assignError == RD_KAFKA_RESP_ERR_NO_ERROR else {
        throw MockClusterError(message: "assign: \(String(cString: rd_kafka_err2str(assignError)))")
    }

    var records: [ConsumedRecord] = []
    let deadline = ContinuousClock.now.advanced(by: timeout)
    var settleDeadline: ContinuousClock.Instant?
    while ContinuousClock.now < (settleDeadline ?? deadline) {
        guard let message = rd_kafka_consumer_poll(rk, 100) else { continue }
        defer { rd_kafka_message_destroy(message) }
        guard message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
        records.append(decode(message))
        if records.count >= expectedCount, settleDeadline == nil {
            settleDeadline = ContinuousClock.now.advanced(by: settle)
        }
    }
    return records
}

private func decode(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> ConsumedRecord {
    func bytes(_ pointer: UnsafeMutableRawPointer?, _ count: Int) -> [UInt8]? {
        guard let pointer else { return nil }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }
    var headers: [KafkaHeader] = []
    var headerList: OpaquePointer?
    if rd_kafka_message_headers(message, &headerList) == RD_KAFKA_RESP_ERR_NO_ERROR, let headerList {
        var index = 0
        while true {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_all(headerList, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else {
                break
            }
            let valueBytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
            headers.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: valueBytes))
            index += 1
        }
    }
    return ConsumedRecord(
        partition: message.pointee.partition,
        offset: message.pointee.offset,
        key: bytes(message.pointee.key, message.pointee.key_len),
        value: bytes(message.pointee.payload, message.pointee.len),
        headers: headers
    )
}

/// A logger that keeps the test output readable: librdkafka complains loudly (and rightly) about brokers the tests
/// take down on purpose.
public func makeTestLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = ProcessInfo.processInfo.environment["KAFKA_TEST_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .error
    return logger
}

/// A topic name no other test uses.
public func uniqueTopicName(_ prefix: String) -> String {
    "\(prefix)-\(UInt32.random(in: 0...UInt32.max))"
}
