import Foundation
import Kafka
import KafkaTestSupport
import Testing

/// Settings for the real-broker suite, all from the environment (scripts/kafka/run-real-broker-tests.sh sets them).
enum RealBroker {
    static let environment = ProcessInfo.processInfo.environment
    /// `host:port` of a running Kafka-compatible broker, e.g. the Tansu from scripts/kafka/start-tansu.sh.
    static let address = environment["MESSAGEBRIDGE_TEST_KAFKA_BROKERS"]
    static let skipReason: Comment =
        "MESSAGEBRIDGE_TEST_KAFKA_BROKERS is not set, so no real broker to test against; run scripts/kafka/run-real-broker-tests.sh (see scripts/kafka/README.md)"
    static let recordCount = environment["MESSAGEBRIDGE_TEST_KAFKA_RECORDS"].flatMap { Int($0) } ?? 2_000
    static let python = environment["PYTHON"] ?? "python3"
    /// The independent (kafka-python) client used to create the topic and read it back.
    static let tool = environment["MESSAGEBRIDGE_TEST_KAFKA_TOOL"]
        ?? URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../scripts/kafka/kafka_tool.py")
        .standardized.path
}

@Suite(
    "KafkaProducer against a real broker",
    .enabled(if: RealBroker.address != nil, RealBroker.skipReason),
    .serialized
)
struct KafkaProducerRealBrokerTests {
    private struct ConsumeOutput: Decodable {
        struct Record: Decodable {
            var partition: Int32
            var offset: Int64
            var key_hex: String?
            var value_hex: String?
        }

        var count: Int
        var records: [Record]
    }

    @Test("every produced record is read back, with its key, by an independent consumer")
    func producedRecordsAreReadBack() async throws {
        let brokers = try #require(RealBroker.address)
        let version = KafkaProducer.librdkafkaVersion
        print("real broker \(brokers), librdkafka \(version) loaded")
        if let expected = RealBroker.environment["MESSAGEBRIDGE_TEST_EXPECT_LIBRDKAFKA_VERSION"] {
            // Guards against silently testing the Debian 2.0.2 library, which cannot talk to Tansu.
            #expect(version == expected)
        }
        let topic = uniqueTopicName("messagebridge-real")
        _ = try await runTool(["create-topic", "--brokers", brokers, "--topic", topic, "--partitions", "3"])

        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(brokers: [brokers], timeout: .seconds(30)),
            logger: makeTestLogger("kafka-real-broker-test")
        )
        let count = RealBroker.recordCount
        let started = ContinuousClock.now
        let reports = try await withThrowingTaskGroup(of: (Int, KafkaDeliveryReport).self) { group in
            for index in 0..<count {
                group.addTask {
                    let report = try await producer.send(
                        topic: topic,
                        key: Array("key-\(index)".utf8),
                        value: Array("value-\(index)".utf8),
                        headers: [KafkaHeader(name: "index", value: Array("\(index)".utf8))]
                    )
                    return (index, report)
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        let elapsed = ContinuousClock.now - started
        print("real broker: \(count) sends confirmed in \(elapsed)")
        #expect(reports.count == count)
        #expect(producer.producedCount == count)
        #expect(await producer.checkConnection(timeout: .seconds(5)).isConnected)
        await producer.shutdown(timeout: .seconds(10))

        let output = try await runTool(["consume", "--brokers", brokers, "--topic", topic, "--count", "\(count)", "--timeout", "60"])
        let consumed = try JSONDecoder().decode(ConsumeOutput.self, from: output)
        #expect(consumed.count == count)
        var valueByKey: [String: String] = [:]
        for record in consumed.records {
            guard let key = record.key_hex.flatMap(decodeHex) else { continue }
            valueByKey[key] = record.value_hex.flatMap(decodeHex)
        }
        let missing = (0..<count).filter { valueByKey["key-\($0)"] != "value-\($0)" }
        #expect(missing.isEmpty, "records missing or altered: \(missing.prefix(20))")
        // Each record must sit where its delivery report said.
        let positions = Set(consumed.records.map { "\($0.partition)/\($0.offset)" })
        #expect(reports.values.allSatisfy { positions.contains("\($0.partition)/\($0.offset)") })
    }

    @Test(
        "throughput of 100 000 sends (set KAFKA_BENCHMARK=1)",
        .enabled(if: RealBroker.environment["KAFKA_BENCHMARK"] != nil, "set KAFKA_BENCHMARK=1 to measure")
    )
    func throughput() async throws {
        let brokers = try #require(RealBroker.address)
        let topic = uniqueTopicName("messagebridge-throughput")
        _ = try await runTool(["create-topic", "--brokers", brokers, "--topic", topic, "--partitions", "3"])
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(brokers: [brokers]),
            logger: makeTestLogger("kafka-real-broker-test")
        )
        let rate = try await measureSendRate(producer: producer, topic: topic, count: 100_000, concurrency: 2_000)
        print("real broker: 100000 sends, \(Int(rate)) records/s, librdkafka \(KafkaProducer.librdkafkaVersion)")
        await producer.shutdown(timeout: .seconds(10))
    }

    /// Runs kafka_tool.py and returns its standard output. Blocking pipe reads happen on a thread of their own.
    private func runTool(_ arguments: [String]) async throws -> Data {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Data, any Error>) in
            let thread = Thread {
                let process = Process()
                process.executableURL = URL(filePath: "/usr/bin/env")
                process.arguments = [RealBroker.python, RealBroker.tool] + arguments
                let output = Pipe()
                process.standardOutput = output
                do {
                    try process.run()
                } catch {
                    continuation.resume(throwing: error)
                    return
                }
                let data = output.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                if process.terminationStatus == 0 {
                    continuation.resume(returning: data)
                } else {
                    continuation.resume(throwing: ToolError(arguments: arguments, status: process.terminationStatus))
                }
            }
            thread.start()
        }
    }

    private struct ToolError: Error {
        var arguments: [String]
        var status: Int32
    }
}

private func decodeHex(_ hex: String) -> String? {
    var bytes: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
        bytes.append(byte)
        index = next
    }
    return String(decoding: bytes, as: UTF8.self)
}
