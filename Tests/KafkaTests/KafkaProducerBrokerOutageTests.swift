import CRdKafka
import Foundation
import Kafka
import KafkaTestSupport
import Testing

/// The producer while the mock cluster's brokers go down and come back.
///
/// Run on their own, one at a time (`scripts/test.sh`: `--filter BrokerOutage --no-parallel`): librdkafka 2.0's
/// mock broker closes its listening socket when set down and binds the same port again at once, and aborts the
/// process if that fails. Another test binding a port in that instant can take it, so these tests never share the
/// process with tests that open listeners.
@Suite("KafkaProducer when every broker goes down (run alone)", .serialized)
struct KafkaProducerBrokerOutageTests {
    @Test("with every broker down at start the producer is not reported connected, and shutdown does not wait on its start-up request")
    func startsWithBrokersDown() async throws {
        let cluster = try MockCluster()
        cluster.setAllBrokers(up: false)
        let producer = try makeProducer(cluster, statisticsInterval: nil)
        try await Task.sleep(for: .milliseconds(300))
        #expect(!producer.connectionState.isConnected)
        let started = ContinuousClock.now
        await producer.shutdown(timeout: .zero)
        // The start-up metadata request is bounded (3 × 500 ms at most), so shutdown never waits for long.
        #expect(ContinuousClock.now - started < .seconds(3))
        cluster.setAllBrokers(up: true)
    }

    @Test("with every broker down a send waits, and completes once the brokers return")
    func brokerDownThenUp() async throws {
        let cluster = try MockCluster()
        let topic = uniqueTopicName("down-up")
        try cluster.createTopic(topic)
        let producer = try makeProducer(cluster)
        try await warmUp(producer, topic: topic)
        let failedBefore = producer.failedCount

        cluster.setAllBrokers(up: false)
        let pending = Task { try await producer.send(topic: topic, key: nil, value: Array("while-down".utf8)) }
        try await Task.sleep(for: .seconds(1.5))
        #expect(producer.inFlightCount == 1)
        #expect(producer.producedCount == 1)
        let stateWhileDown = await producer.checkConnection(timeout: .milliseconds(500))
        #expect(!stateWhileDown.isConnected)
        #expect(await eventually { !producer.connectionState.isConnected })

        cluster.setAllBrokers(up: true)
        let report = try await pending.value
        #expect(report.offset == 1)
        #expect(producer.inFlightCount == 0)
        #expect(await eventually { producer.connectionState.isConnected })
        await producer.shutdown(timeout: .seconds(5))
    }

    @Test("a record that cannot be delivered in time fails with a retriable error; resending later succeeds")
    func brokerDownFailsRetriably() async throws {
        let cluster = try MockCluster()
        let topic = uniqueTopicName("down-timeout")
        try cluster.createTopic(topic)
        // Short reconnect backoff, so the brokers' return is noticed well within the 1 s record timeout.
        let producer = try makeProducer(
            cluster,
            timeout: .seconds(1),
            properties: ["reconnect.backoff.ms": "50", "reconnect.backoff.max.ms": "200"]
        )
        try await warmUp(producer, topic: topic)
        let failedBefore = producer.failedCount

        cluster.setAllBrokers(up: false)
        let error = await #expect(throws: KafkaProduceError.self) {
            try await producer.send(topic: topic, key: nil, value: Array("lost".utf8))
        }
        #expect(error?.code == "_MSG_TIMED_OUT")
        #expect(error?.isRetriable == true)
        #expect(producer.failedCount == failedBefore + 1)

        // What a caller does with a retriable failure: keep the record and send it again until it is confirmed.
        cluster.setAllBrokers(up: true)
        var report: KafkaDeliveryReport?
        for _ in 0..<10 where report == nil {
            report = try? await producer.send(topic: topic, key: nil, value: Array("lost".utf8))
        }
        #expect(report?.topic == topic)
        await producer.shutdown(timeout: .seconds(5))
    }

    @Test("shutdown fails records that cannot be confirmed in time, and later sends fail at once")
    func shutdownFailsUnconfirmedRecords() async throws {
        let cluster = try MockCluster()
        let topic = uniqueTopicName("shutdown")
        try cluster.createTopic(topic)
        let producer = try makeProducer(cluster)
        try await warmUp(producer, topic: topic)
        let failedBefore = producer.failedCount

        cluster.setAllBrokers(up: false)
        let pending = Task { try await producer.send(topic: topic, key: nil, value: Array("stuck".utf8)) }
        try await Task.sleep(for: .milliseconds(300))
        let started = ContinuousClock.now
        await producer.shutdown(timeout: .milliseconds(500))
        #expect(ContinuousClock.now - started < .seconds(5))

        let error = await #expect(throws: KafkaProduceError.self) { try await pending.value }
        #expect(error?.isRetriable == true)
        #expect(error.map { $0.code.hasPrefix("_PURGE") } == true)

        let late = await #expect(throws: KafkaProduceError.self) {
            try await producer.send(topic: topic, key: nil, value: Array("late".utf8))
        }
        #expect(late?.code == "_DESTROY")
        #expect(late?.isRetriable == true)
        // A second shutdown returns at once.
        await producer.shutdown(timeout: .seconds(5))
        cluster.setAllBrokers(up: true)
    }

    /// Sends until one record is confirmed (the producer has metadata and a connection), at most 10 tries: the 1 s
    /// record timeout is short for a loaded machine, so the first try may time out.
    private func warmUp(_ producer: KafkaProducer, topic: String) async throws {
        var warmedUp = false
        for _ in 0..<10 where !warmedUp {
            warmedUp = (try? await producer.send(topic: topic, key: nil, value: Array("warm-up".utf8))) != nil
        }
        try #require(warmedUp)
    }
}
