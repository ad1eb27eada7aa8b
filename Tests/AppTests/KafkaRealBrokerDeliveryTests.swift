import AsyncHTTPClient
import Foundation
import Testing

/// The binary delivering to a real Kafka-compatible broker process (Tansu), read back by an independent consumer
/// (kafka-python). `scripts/kafka/run-real-broker-tests.sh` starts the broker and sets the environment.
@Suite(
    "Kafka delivery to a real broker process",
    .enabled(
        if: ProcessInfo.processInfo.environment["MESSAGEBRIDGE_TEST_KAFKA_BROKERS"] != nil,
        "MESSAGEBRIDGE_TEST_KAFKA_BROKERS is not set, so no real broker to test against; run scripts/kafka/run-real-broker-tests.sh"
    )
)
struct KafkaRealBrokerDeliveryTests {
    let environment = ProcessInfo.processInfo.environment

    @Test("every acknowledged message id arrives as a record key, read back by kafka-python")
    func acknowledgedMessagesArrive() async throws {
        let brokers = try #require(environment["MESSAGEBRIDGE_TEST_KAFKA_BROKERS"])
        let tool = try #require(environment["MESSAGEBRIDGE_TEST_KAFKA_TOOL"])
        let python = environment["PYTHON"] ?? "python3"
        let topic = "mb-e2e-\(UInt32.random(in: 0...UInt32.max))"
        _ = try runTool(python: python, tool: tool, ["create-topic", "--brokers", brokers, "--topic", topic, "--partitions", "3"])

        let directory = TestDirectory()
        let serverPort = try unusedPort()
        try """
            server:
              host: 127.0.0.1
              port: \(serverPort)
            routes:
              - path: "/webhook/payment"
                queue: "\(topic)"
            kafka:
              brokers: ["\(brokers)"]
              timeout: 30s
            sqlite:
              database_path: "\(directory.databasePath)"
            worker:
              initial_backoff: 200ms
              retry_interval: 500ms
            logging:
              level: warning
            """.write(toFile: directory.configPath, atomically: true, encoding: .utf8)

        let count = 500
        let acknowledged = try await withHTTPClient { client in
            let server = try ServerProcess(configPath: directory.configPath, port: serverPort, logPath: directory.path + "/server.log")
            try await server.waitUntilLive(client: client)
            let ids = await withTaskGroup(of: String?.self) { group in
                for index in 0..<count {
                    group.addTask { await postWebhook(client: client, port: serverPort, path: "/webhook/payment", body: #"{"n":\#(index)}"#) }
                }
                return await group.reduce(into: [String]()) { if let id = $1 { $0.append(id) } }
            }
            server.signal(SIGTERM)
            #expect(try await server.waitForExit() == 0, "log: \(server.log.suffix(2000))")
            return ids
        }
        #expect(acknowledged.count == count)

        let output = try runTool(python: python, tool: tool, ["consume", "--brokers", brokers, "--topic", topic, "--count", "\(count)", "--timeout", "60"])
        let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
        let records = try #require(json["records"] as? [[String: Any]])
        let keys = Set(records.compactMap { ($0["key_hex"] as? String).flatMap(decodeHex) })
        let missing = Set(acknowledged).subtracting(keys)
        #expect(missing.isEmpty, "\(missing.count) acknowledged messages missing from the topic")
    }

    private func runTool(python: String, tool: String, _ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, tool] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CLIError(message: "kafka_tool \(arguments.first ?? "") exited \(process.terminationStatus)") }
        return data
    }

    private func decodeHex(_ hex: String) -> String? {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) ?? hex.endIndex
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
