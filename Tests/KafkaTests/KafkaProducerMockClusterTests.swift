import CRdKafka
import Foundation
import Kafka
import KafkaTestSupport
import Testing

/// The producer against librdkafka's in-process mock cluster: real protocol, real sockets, no external broker.
@Suite("KafkaProducer against librdkafka's mock cluster")
struct KafkaProducerMockClusterTests {
    @Test("a sent record is confirmed with its topic, partition and offset")
    func producesAndConfirms() async throws {
        let cluster = try MockCluster()
        let topic = uniqueTopicName("confirm")
        try cluster.createTopic(topic)
        let producer = try makeProducer(cluster)

        let first = try await producer.send(topic: topic, key: Array("k".utf8), value: Array("one".utf8))
        let second = try await producer.send(topic: topic, key: nil, value: Array("two".utf8))

        #expect(first.topic == topic)
        #expect(first.partition == 0)
        #expect(first.offset == 0)
        #expect(second.offset == 1)
        #expect(producer.producedCount == 2)
        #expect(producer.failedCount == 0)
        #expect(producer.inFlightCount == 0)
        #expect(producer.connectionState.isConnected)
        #expect(await producer.checkConnection(timeout: .seconds(5)) == .connected(brokerCount: 3))
        await producer.shutdown(timeout: .seconds(5))
    }

    @Test("a new producer connects before its first record, without statistics, and then delivers")
    func connectsBeforeFirstRecord() async throws {
        let cluster = try MockCluster()
        let topic = uniqueTopicName("early")
        try cluster.createTopic(topic)
        // No statistics and no record: only the producer's own start-up metadata request can tell it is connected.
        let producer = try makeProducer(cluster, statisticsInterval: nil)
        #expect(await eventually(timeout: .seconds(5)) { producer.connectionState == .connected(brokerCount: 3) })
        let report = try await producer.send(topic: topic, key: nil, value: Array("first".utf8))
        #expect(report.offset == 0)
        await producer.shutdown(timeout: .seconds(5))
    }

    @Test("key, headers and value arrive byte for byte, as a separate consumer reads them")
    func roundTripsKeyHeadersAndValue() async throws {
        let cluster = try MockCluster()
        let topic = uniqueTopicName("roundtrip")
        try cluster.createTopic(topic)
        let producer = try makeProducer(cluster)
        let binary: [UInt8] = [0, 1, 2, 0xFF, 0xFE, 0, 0x80]
        let sent: [(key: [UInt8]?, value: [UInt8], headers: [KafkaHeader])] = [
            (
                Array("order-42".utf8), Array(#"{"amount":12.5}"#.utf8),
                [
                    KafkaHeader(name: "content-type", value: Array("application/json".utf8)),
                    KafkaHeader(name: "x-binary", value: binary),
                    KafkaHeader(name: "x-empty", value: []),
                    KafkaHeader(name: "x-repeated", value: [1]),
                    KafkaHeader(name: "x-repeated", value: [2]),
                ]
            ),
            (nil, binary, []),
            ([], [], [KafkaHeader(name: "ünïcode-名前", value: Array("värde".utf8))]),
            // Values given as text go out as their UTF-8 bytes, empty text as an empty value.
            ([1], [2], [KafkaHeader(name: "x-text", text: "välue ✓"), KafkaHeader(name: "x-empty-text", text: "")]),
        ]
        #expect(KafkaHeader(name: "x-text", text: "välue ✓") == KafkaHeader(name: "x-text", value: Array("välue ✓".utf8)))
        #expect(KafkaHeader(name: "x", text: "a").hashValue == KafkaHeader(name: "x", value: [0x61]).hashValue)
        #expect(KafkaHeader(name: "x", text: "a") != KafkaHeader(name: "x", value: [0x62]))

        for record in sent {
            _ = try await producer.send(topic: topic, key: record.key, value: record.value, headers: record.headers)
        }
        await producer.shutdown(timeout: .seconds(5))

        let consumed = try await consumeRecords(
            bootstraps: cluster.bootstraps,
            topic: topic,
            expectedCount: sent.count,
            settle: .milliseconds(300)
        )
        try #require(consumed.count == sent.count)
        for (record, read) in zip(sent, consumed) {
            #expect(read.key == record.key)
            #expect(read.value == record.value)
            #expect(read.headers == record.headers)
        }
    }

    @Test("produce errors injected by the broker are retried inside librdkafka and the record arrives once")
    func injectedProduceErrorsAreRetried() async throws {
        let cluster = try MockCluster()
        let topic = uniqueTopicName("injected")
        try cluster.createTopic(topic)
        let producer = try makeProducer(cluster)
        _ = try await producer.send(topic: topic, key: nil, value: Array("warm-up".utf8))

        cluster.pushRequestErrors(
            apiKey: 0,  // Produce
            [
                RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            ]
        )
        let report = try await producer.send(topic: topic, key: Array("k".utf8), value: Array("survivor".utf8))
        #expect(report.offset == 1)
        #expect(producer.failedCount == 0)
        await producer.shutdown(timeout: .seconds(5))

        let consumed = try await consumeRecords(
            bootstraps: cluster.bootstraps,
            topic: topic,
            expectedCount: 2,
            settle: .milliseconds(500)
        )
        #expect(consumed.map(\.value) == [Array("warm-up".utf8), Array("survivor".utf8)])
    }

    @Test("10 000 concurrent sends are all confirmed, each at its own offset")
    func manyConcurrentSends() async throws {
        let cluster = try MockCluster()
        let topic = uniqueTopicName("many")
        try cluster.createTopic(topic, partitions: 3)
        let producer = try makeProducer(cluster)
        let count = 10_000

        let reports = try await withThrowingTaskGroup(of: KafkaDeliveryReport.self) { group in
            for index in 0..<count {
                group.addTask {
                    try await producer.send(topic: topic, key: Array("key-\(index)".utf8), value: Array("value-\(index)".utf8))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }

        #expect(reports.count == count)
        let positions = Set(reports.map { "\($0.partition)/\($0.offset)" })
        #expect(positions.count == count)
        #expect(producer.producedCount == count)
        #expect(producer.inFlightCount == 0)
        await producer.shutdown(timeout: .seconds(5))
    }

    @Test("a batch send reports each record on its own: records for a leaderless partition fail retriably, the rest arrive once")
    func batchWithFailingRecords() async throws {
        let cluster = try MockCluster()
        let healthy = uniqueTopicName("batch-ok")
        let stuck = uniqueTopicName("batch-stuck")
        try cluster.createTopic(healthy)
        try cluster.createTopic(stuck)
        let producer = try makeProducer(cluster, timeout: .seconds(1))
        // Warm both topics' metadata (the 1 s record timeout is short for a loaded machine: a warm-up may need more
        // than one try), then take the leader of `stuck` away.
        for topic in [healthy, stuck] {
            var warmedUp = false
            for _ in 0..<10 where !warmedUp {
                warmedUp = (try? await producer.send(topic: topic, key: nil, value: Array("warm-up".utf8))) != nil
            }
            try #require(warmedUp)
        }
        let failedBefore = producer.failedCount
        cluster.setPartitionLeader(topic: stuck, broker: -1)

        let records = (0..<300).map { index in
            KafkaRecord(
                topic: index % 3 == 0 ? stuck : healthy,
                key: Array("key-\(index)".utf8),
                value: Array("value-\(index)".utf8),
                headers: [KafkaHeader(name: "x-index", value: Array("\(index)".utf8))]
            )
        }
        let results = await producer.send(records)

        #expect(results.count == records.count)
        for (record, result) in zip(records, results) {
            switch result {
            case .success(let report):
                #expect(record.topic == healthy)
                #expect(report.topic == healthy)
            case .failure(let error):
                #expect(record.topic == stuck)
                #expect(error.code == "_MSG_TIMED_OUT")
                #expect(error.isRetriable)
            }
        }
        let offsets = results.compactMap { try? $0.get().offset }
        #expect(offsets.count == 200)
        #expect(Set(offsets) == Set(1...200), "each delivered record has its own offset, after the warm-up's")
        #expect(producer.inFlightCount == 0)
        #expect(producer.failedCount == failedBefore + 100)

        // The failed ones, sent again once the partition has a leader, arrive too.
        cluster.setPartitionLeader(topic: stuck, broker: 1)
        var retried = records.enumerated().filter { results[$0.offset].isFailure }.map(\.element)
        for _ in 0..<10 where !retried.isEmpty {
            let again = await producer.send(retried)
            retried = zip(retried, again).filter { $0.1.isFailure }.map(\.0)
        }
        #expect(retried.isEmpty)
        await producer.shutdown(timeout: .seconds(5))
        let consumed = try await consumeRecords(bootstraps: cluster.bootstraps, topic: healthy, expectedCount: 201, settle: .milliseconds(300))
        #expect(consumed.count == 201, "no record of the healthy topic is written twice")
        let stuckConsumed = try await consumeRecords(bootstraps: cluster.bootstraps, topic: stuck, expectedCount: 101, settle: .milliseconds(300))
        #expect(stuckConsumed.count == 101)
        #expect(Set(stuckConsumed.compactMap(\.key)).count == 100, "each retried record once, besides the unkeyed warm-up")
    }

    @Test("a batch larger than librdkafka's queue waits for space and delivers every record")
    func batchLargerThanQueue() async throws {
        let cluster = try MockCluster()
        let topic = uniqueTopicName("batch-queue")
        try cluster.createTopic(topic, partitions: 3)
        let producer = try makeProducer(cluster, properties: ["queue.buffering.max.messages": "50"])
        let records = (0..<2_000).map { KafkaRecord(topic: topic, key: Array("k\($0)".utf8), value: Array("v\($0)".utf8)) }
        let results = await producer.send(records)
        let reports = results.compactMap { try? $0.get() }
        #expect(reports.count == records.count)
        #expect(Set(reports.map { "\($0.partition)/\($0.offset)" }).count == records.count)
        #expect(producer.producedCount == records.count)
        await producer.shutdown(timeout: .seconds(5))
    }

    @Test("a full local queue makes send wait for space instead of failing")
    func queueFullWaits() async throws {
        let cluster = try MockCluster()
        let topic = uniqueTopicName("queue-full")
        try cluster.createTopic(topic)
        // Room for only 10 records in librdkafka's queue, against 500 concurrent senders.
        let producer = try makeProducer(cluster, properties: ["queue.buffering.max.messages": "10"])
        let count = 500

        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                group.addTask { _ = try await producer.send(topic: topic, key: nil, value: Array("\(index)".utf8)) }
            }
            try await group.waitForAll()
        }
        #expect(producer.producedCount == count)
        await producer.shutdown(timeout: .seconds(5))
    }

    @Test("a producer dropped without shutdown stops its poll thread and destroys its handle")
    func dropWithoutShutdown() async throws {
        let cluster = try MockCluster()
        let topic = uniqueTopicName("drop")
        try cluster.createTopic(topic)
        weak var weakProducer: KafkaProducer?
        do {
            let producer = try makeProducer(cluster)
            weakProducer = producer
            _ = try await producer.send(topic: topic, key: nil, value: Array("x".utf8))
        }
        #expect(weakProducer == nil)
        // The next producer on the same cluster works: nothing was left holding the cluster's connections hostage.
        let next = try makeProducer(cluster)
        _ = try await next.send(topic: topic, key: nil, value: Array("y".utf8))
        await next.shutdown(timeout: .seconds(5))
    }

    @Test(
        "throughput of 100 000 sends (set KAFKA_BENCHMARK=1)",
        .enabled(if: ProcessInfo.processInfo.environment["KAFKA_BENCHMARK"] != nil, "set KAFKA_BENCHMARK=1 to measure")
    )
    func throughput() async throws {
        let cluster = try MockCluster()
        let topic = uniqueTopicName("throughput")
        try cluster.createTopic(topic, partitions: 3)
        let producer = try makeProducer(cluster)
        let rate = try await measureSendRate(producer: producer, topic: topic, count: 100_000, concurrency: 2_000)
        print("mock cluster: 100000 sends, \(Int(rate)) records/s, librdkafka \(KafkaProducer.librdkafkaVersion)")
        await producer.shutdown(timeout: .seconds(10))
    }
}

/// Sends `count` 100-byte records, keeping `concurrency` in flight, and returns records per second.
func measureSendRate(producer: KafkaProducer, topic: String, count: Int, concurrency: Int) async throws -> Double {
    let value = [UInt8](repeating: 0x61, count: 100)
    let started = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for index in 0..<count {
            if index >= concurrency { try await group.next() }
            group.addTask { _ = try await producer.send(topic: topic, key: Array("key-\(index)".utf8), value: value) }
        }
        try await group.waitForAll()
    }
    let elapsed = ContinuousClock.now - started
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Double(count) / seconds
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return condition()
}

extension Result {
    fileprivate var isFailure: Bool {
        if case .failure = self { return true }
        return false
    }
}

/// A producer for `cluster` with short back-offs, as the mock-cluster suites use it.
func makeProducer(
    _ cluster: MockCluster,
    timeout: Duration = .seconds(30),
    statisticsInterval: Duration? = .milliseconds(200),
    properties: [String: String] = [:]
) throws -> KafkaProducer {
    let configuration = KafkaProducerConfiguration(
        brokers: [cluster.bootstraps],
        timeout: timeout,
        retryBackoff: .milliseconds(50),
        statisticsInterval: statisticsInterval,
        // librdkafka backs off up to 10 s between reconnects; the tests bring brokers back and should not wait.
        properties: ["reconnect.backoff.max.ms": "500"].merging(properties) { _, given in given }
    )
    return try KafkaProducer(configuration: configuration, logger: makeTestLogger("kafka-test"))
}
