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
import Synchronization
import Testing

@Suite("Kafka delivery through the dispatcher (librdkafka mock cluster)")
struct KafkaDeliveryTests {
    @Test("accepted webhooks become records with the message id as key and every header but credentials; delivered only on the report")
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
            // Credentials presented to MessageBridge itself never become record headers.
            headers[.authorization] = "Bearer mb_presented-credential"
            headers[.cookie] = "session=presented-cookie"
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
            #expect(!recordHeaders.contains { $0.0 == "authorization" || $0.0 == "cookie" })
            #expect(!records.contains { record in
                record.headers.contains { String(decoding: $0.value, as: UTF8.self).contains("presented-") }
            })

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

    @Test("a claimed backlog goes out in batches: records the broker cannot take retry on their own, the rest are delivered once")
    func batchWithFailingRecords() async throws {
        let cluster = try MockCluster()
        let healthy = uniqueTopicName("backlog-ok")
        let stuck = uniqueTopicName("backlog-stuck")
        try cluster.createTopic(healthy)
        try cluster.createTopic(stuck)
        cluster.setPartitionLeader(topic: stuck, broker: -1)
        let directory = TestDirectory()
        let yaml = """
            server:
              host: 127.0.0.1
              port: 0
            routes:
              - path: "/webhook/batch-ok"
                queue: "\(healthy)"
              - path: "/webhook/batch-stuck"
                queue: "\(stuck)"
            kafka:
              brokers: [\(cluster.bootstraps.split(separator: ",").map { "\"\($0)\"" }.joined(separator: ", "))]
              properties:
                message.timeout.ms: "1500"
            sqlite:
              database_path: "\(directory.databasePath)"
            worker:
              retry_interval: 200ms
              batch_size: 1000
              initial_backoff: 2s
              max_backoff: 2s
            circuit_breaker:
              enabled: false
            logging:
              level: error
            """
        // The backoff keeps the stuck records `retrying` for 2 s between attempts (each attempt takes 1.5 s to time
        // out), long enough to look at them before they are claimed again, also on a slow machine.
        let configuration = try writeConfiguration(yaml, to: directory)
        let store = try SQLiteMessageStore(path: directory.databasePath)
        // A backlog stored before the server starts, both routes interleaved, so claims and batches mix them.
        let now = Date()
        let messages = (0..<400).map { index in
            let isStuck = index % 4 == 0
            return NewMessage(
                id: MessageID.make(at: now.addingTimeInterval(Double(index) / 1_000_000)),
                route: isStuck ? "/webhook/batch-stuck" : "/webhook/batch-ok",
                destination: .kafka(topic: isStuck ? stuck : healthy),
                body: Array(#"{"n":\#(index)}"#.utf8),
                headers: [MessageHeader(name: "Content-Type", value: "application/json")],
                acceptedAt: now
            )
        }
        try await store.insert(messages.map { IngestRecord(message: $0, initialState: .pending) })
        let stuckIDs = Set(messages.filter { $0.route == "/webhook/batch-stuck" }.map(\.id))
        let app = try await buildApplication(
            configuration: configuration, logger: quietLogger, store: store, metrics: TestMetrics.makeAppMetrics()
        )
        try await app.test(.live) { client in
            #expect(await eventually { try await store.statusCounts()[.delivered] == 300 })
            let retryingIDs = Mutex<Set<MessageID>>([])
            #expect(await eventually {
                let retrying = try await store.messages(matching: MessageQuery(status: .retrying, limit: 1000))
                retryingIDs.withLock { $0 = Set(retrying.map(\.message.id)) }
                return retrying.count == 100
            })
            #expect(retryingIDs.withLock { $0 } == stuckIDs, "exactly the records the broker could not take retry")
            let attempts = try await store.attempts(messageID: try #require(stuckIDs.first))
            #expect(attempts.first?.outcome.rawValue == "retryable")
            #expect(attempts.first?.error?.contains("_MSG_TIMED_OUT") == true)
            let delivered = try #require(messages.first { $0.route == "/webhook/batch-ok" })
            #expect(try await store.attempts(messageID: delivered.id).map(\.outcome.rawValue) == ["delivered"])

            cluster.setPartitionLeader(topic: stuck, broker: 1)
            #expect(await eventually(timeout: .seconds(30)) { try await store.statusCounts()[.delivered] == 400 })
            let okRecords = try await consumeRecords(bootstraps: cluster.bootstraps, topic: healthy, expectedCount: 300, settle: .milliseconds(500))
            #expect(okRecords.count == 300, "no healthy record is written twice")
            #expect(Set(okRecords.compactMap { $0.key.map { String(decoding: $0, as: UTF8.self) } }).count == 300)
            let stuckRecords = try await consumeRecords(bootstraps: cluster.bootstraps, topic: stuck, expectedCount: 100, settle: .milliseconds(500))
            #expect(stuckRecords.count == 100)
            #expect(Set(stuckRecords.compactMap { $0.key.map { MessageID(rawValue: String(decoding: $0, as: UTF8.self)) } }) == stuckIDs)

            let metrics = try await client.execute(uri: "/metrics", method: .get) { $0 }
            let samples = try parsePrometheusText(String(buffer: metrics.body))
            func value(_ name: String, _ labels: [String: String]) -> Double? {
                samples.first { $0.name == name && $0.labels == labels }?.value
            }
            // Route labels are this test's own; the registry is shared with tests running alongside.
            #expect(value("messagebridge_messages_delivered_total", ["route": "/webhook/batch-ok", "sink": "kafka"]) == 300)
            #expect(value("messagebridge_messages_delivered_total", ["route": "/webhook/batch-stuck", "sink": "kafka"]) == 100)
            #expect(value("messagebridge_delivery_failures_total", ["route": "/webhook/batch-stuck", "reason": "kafka"]).map { $0 >= 100 } == true)
            #expect(value("messagebridge_delivery_failures_total", ["route": "/webhook/batch-ok", "reason": "kafka"]) == nil)
            #expect(value("messagebridge_kafka_produced_total", [:]).map { $0 >= 400 } == true)
            #expect(value("messagebridge_kafka_failed_total", ["code": "_MSG_TIMED_OUT"]).map { $0 >= 100 } == true)
        }
    }

    @Test("a small max_in_flight takes a large backlog a few records at a time; each message delivered once")
    func smallBatchesFromLargeQueue() async throws {
        let cluster = try MockCluster()
        let topic = uniqueTopicName("small-batches")
        try cluster.createTopic(topic, partitions: 3)
        let directory = TestDirectory()
        // max_in_flight 12: batches of at most 3, at most 12 records in flight, so the lane's queue holds most of
        // the claim and is taken from in small prefixes.
        let configuration = try writeConfiguration(
            kafkaYAML(directory: directory, bootstraps: cluster.bootstraps, topic: topic, extraKafka: "  max_in_flight: 12")
                .replacingOccurrences(of: "  retry_interval: 200ms", with: "  retry_interval: 200ms\n  batch_size: 1000"),
            to: directory
        )
        let store = try SQLiteMessageStore(path: directory.databasePath)
        let now = Date()
        let messages = (0..<600).map { index in
            NewMessage(
                id: MessageID.make(at: now.addingTimeInterval(Double(index) / 1_000_000)),
                route: "/webhook/stripe",
                destination: .kafka(topic: topic),
                body: Array(#"{"n":\#(index)}"#.utf8),
                headers: [],
                acceptedAt: now
            )
        }
        try await store.insert(messages.map { IngestRecord(message: $0, initialState: .pending) })
        let app = try await buildApplication(configuration: configuration, logger: quietLogger, store: store)
        try await app.test(.live) { _ in
            #expect(await eventually(timeout: .seconds(30)) { try await store.statusCounts()[.delivered] == 600 })
            let records = try await consumeRecords(bootstraps: cluster.bootstraps, topic: topic, partitions: 3, expectedCount: 600, settle: .milliseconds(500))
            #expect(records.count == 600)
            let keys = Set(records.compactMap { $0.key.map { MessageID(rawValue: String(decoding: $0, as: UTF8.self)) } })
            #expect(keys == Set(messages.map(\.id)))
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

/// A configuration with one route to `topic` on the mock cluster at `bootstraps`.
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
