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

/// Delivery while every broker of the mock cluster is down. Run on its own (see ``KafkaProducerBrokerOutageTests``
/// in KafkaTests: librdkafka 2.0's mock broker aborts the process when another socket takes its port while it is
/// down).
@Suite("Kafka delivery when every broker goes down (run alone)", .serialized)
struct KafkaDeliveryBrokerOutageTests {
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
            // The destination's health counts the failed records (a batch's results recorded together).
            let destination = { (status: TestResponse) in (status.json["destinations"] as? [String: Any])?["kafka:\(topic)"] as? [String: Any] }
            let failing = try await destination(client.execute(uri: "/status", method: .get) { $0 })
            #expect(failing?["status"] as? String == "failing")
            #expect(failing?["consecutive_failures"] as? Int ?? 0 > 0)
            #expect((failing?["last_error"] as? String)?.contains("TIMED_OUT") == true)
            cluster.setAllBrokers(up: true)
            #expect(await eventually(timeout: .seconds(30)) { try await store.statusCounts()[.delivered] == 11 })
            let recovered = try await destination(client.execute(uri: "/status", method: .get) { $0 })
            #expect(recovered?["status"] as? String == "ok" && recovered?["consecutive_failures"] as? Int == 0)
            #expect(recovered?["last_success_at"] is String && recovered?["last_failure_at"] is String)
            let records = try await consumeRecords(bootstraps: cluster.bootstraps, topic: topic, expectedCount: 11)
            #expect(Set(records.compactMap(\.key)).count == 11)
        }
    }
}
