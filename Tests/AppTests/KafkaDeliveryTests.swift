import App
import CRdKafka
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Kafka
import KafkaTestSupport
import NIOCore
import Storage
import Testing

@Suite("Kafka delivery through the dispatcher (librdkafka mock cluster)")
struct KafkaDeliveryTests {
    func kafkaYAML(directory: TestDirectory, bootstraps: String, topic: String, kafkaKey: String = "", extraKafka: String = "") -> String {
        """
        server:
          host: 127.0.0.1
          port: 0
        routes:
          - path: "/webhook/stripe"
            queue: "\(topic)"
        \(kafkaKey)
        kafka:
          brokers: [\(bootstraps.split(separator: ",").map { "\"\($0)\"" }.joined(separator: ", "))]
          timeout: 30s
        \(extraKafka)
        sqlite:
          database_path: "\(directory.databasePath)"
        worker:
          retry_interval: 200ms
          initial_backoff: 100ms
          max_backoff: 500ms
        circuit_breaker:
          enabled: false
        logging:
          level: warning
        """
    }

    @Test("accepted webhooks become records with the message id as key and every header; delivered only on the report")
    func producesRecords() async throws {
        let cluster = try MockCluster()
        let topic = uniqueTopicName("payments")
        try cluster.createTopic(topic)
        let directory = TestDirectory()
        let (app, store) = try await makeTestApp(kafkaYAML(directory: directory, bootstraps: cluster.bootstraps, topic: topic), directory: directory)
        try await app.test(.live) { client in
            var ids: [String] = []
            var headers: HTTPFields = [.contentType: "application/json"]
            headers.append(HTTPField(name: HTTPField.Name("Stripe-Signature")!, value: "t=1,v1=a"))
            headers.append(HTTPField(name: HTTPField.Name("X-Multi")!, value: "one"))
            headers.append(HTTPField(name: HTTPField.Name("X-Multi")!, value: "two"))
            for index in 0..<50 {
                let response = try await client.postWebhook("/webhook/stripe", body: #"{"id":"evt_\#(index)"}"#, headers: headers)
                #expect(response.status == .accepted)
                ids.append(try #require(response.json["message_id"] as? String))
            }
            #expect(await eventually { try await store.statusCounts()[.delivered] == 50 })
            let records = try await consumeRecords(bootstraps: cluster.bootstraps, topic: topic, expectedCount: 50)
            #expect(records.count == 50)
            let byKey = Dictionary(records.map { (String(decoding: $0.key ?? [], as: UTF8.self), $0) }, uniquingKeysWith: { first, _ in first })
            #expect(Set(byKey.keys) == Set(ids))
            let first = try #require(byKey[ids[0]])
            #expect(first.value == Array(#"{"id":"evt_0"}"#.utf8))
            let recordHeaders = first.headers.map { ($0.name.lowercased(), String(decoding: $0.value, as: UTF8.self)) }
            #expect(recordHeaders.contains { $0 == ("x-webhook-id", ids[0]) })
            #expect(recordHeaders.contains { $0 == ("x-webhook-path", "/webhook/stripe") })
            #expect(recordHeaders.contains { $0 == ("stripe-signature", "t=1,v1=a") })
            #expect(recordHeaders.filter { $0.0 == "x-multi" }.map(\.1) == ["one", "two"])
            #expect(recordHeaders.contains { $0 == ("content-type", "application/json") })

            let status = try await client.execute(uri: "/status", method: .get) { $0 }
            #expect((status.json["kafka"] as? [String: Any])?["produced"] as? Int == 50)
            let health = try await client.execute(uri: "/health", method: .get) { $0 }
            #expect(((health.json["components"] as? [String: Any])?["kafka"] as? [String: Any])?["status"] as? String == "up")
        }
    }

    @Test("a route's kafka_key takes the record key from a JSON field, falling back to the message id")
    func keyFromJSONField() async throws {
        let cluster = try MockCluster()
        let topic = uniqueTopicName("keyed")
        try cluster.createTopic(topic, partitions: 3)
        let directory = TestDirectory()
        let configuration = try writeConfiguration(
            kafkaYAML(directory: directory, bootstraps: cluster.bootstraps, topic: topic, kafkaKey: "    kafka_key:\n      json_field: \"data.id\""),
            to: directory
        )
        #expect(configuration.routes.first?.kafkaKey == .jsonField(["data", "id"]))
        let store = try SQLiteMessageStore(path: directory.databasePath)
        let app = try await buildApplication(configuration: configuration, logger: quietLogger, store: store)
        try await app.test(.live) { client in
            _ = try await client.postWebhook("/webhook/stripe", body: #"{"data":{"id":"cus_42"}}"#)
            let unkeyed = try await client.postWebhook("/webhook/stripe", body: #"{"other":1}"#)
            let unkeyedID = try #require(unkeyed.json["message_id"] as? String)
            #expect(await eventually { try await store.statusCounts()[.delivered] == 2 })
            let records = try await consumeRecords(bootstraps: cluster.bootstraps, topic: topic, partitions: 3, expectedCount: 2)
            let keys = Set(records.compactMap { $0.key.map { String(decoding: $0, as: UTF8.self) } })
            #expect(keys == ["cus_42", unkeyedID])
        }
    }

    @Test("brokers down: messages stay retrying; brokers up: all delivered")
    func brokerOutage() async throws {
        let cluster = try MockCluster()
        let topic = uniqueTopicName("outage")
        try cluster.createTopic(topic)
        let directory = TestDirectory()
        let (app, store) = try await makeTestApp(
            kafkaYAML(directory: directory, bootstraps: cluster.bootstraps, topic: topic, extraKafka: "  properties:\n    message.timeout.ms: \"1000\""),
            directory: directory
        )
        try await app.test(.live) { client in
            // Warm the producer's metadata, then take every broker down.
            _ = try await client.postWebhook("/webhook/stripe", body: "{}")
            #expect(await eventually { try await store.statusCounts()[.delivered] == 1 })
            cluster.setAllBrokers(up: false)
            for index in 0..<10 {
                let response = try await client.postWebhook("/webhook/stripe", body: #"{"n":\#(index)}"#)
                #expect(response.status == .accepted, "ingest does not depend on the broker")
            }
            #expect(await eventually { try await store.statusCounts()[.retrying] ?? 0 > 0 })
            #expect(try await store.statusCounts()[.delivered] == 1)
            let attempts = try await store.messages(matching: MessageQuery(status: .retrying, limit: 1))
            if let message = attempts.first {
                let recorded = try await store.attempts(messageID: message.message.id)
                #expect(recorded.first?.error?.contains("TIMED_OUT") == true)
            }
            cluster.setAllBrokers(up: true)
            #expect(await eventually(timeout: .seconds(30)) { try await store.statusCounts()[.delivered] == 11 })
            let records = try await consumeRecords(bootstraps: cluster.bootstraps, topic: topic, expectedCount: 11)
            #expect(Set(records.compactMap(\.key)).count == 11)
        }
    }

    @Test("a bad librdkafka property fails check-config with librdkafka's words and the key")
    func badProperty() throws {
        let directory = TestDirectory()
        try kafkaYAML(directory: directory, bootstraps: "127.0.0.1:9092", topic: "t", extraKafka: "  properties:\n    compression.type: \"zip\"")
            .write(toFile: directory.configPath, atomically: true, encoding: .utf8)
        let checked = try runCLI(["check-config", directory.configPath])
        #expect(checked.status == 1)
        #expect(checked.output.contains("kafka.properties.compression.type"), "output: \(checked.output)")
        try kafkaYAML(directory: directory, bootstraps: "127.0.0.1:9092", topic: "t", extraKafka: "  properties:\n    no.such.thing: \"1\"")
            .write(toFile: directory.configPath, atomically: true, encoding: .utf8)
        let unknown = try runCLI(["check-config", directory.configPath])
        #expect(unknown.status == 1)
        #expect(unknown.output.contains("no.such.thing"))
    }
}
