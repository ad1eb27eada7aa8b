import App
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Storage
import Synchronization
import Testing

@Suite("Circuit breakers")
struct CircuitBreakerTests {
    @Test("a flaky endpoint opens its breaker, deliveries are deferred without using retries, then it half-opens and closes; a healthy endpoint is unaffected")
    func breakerLifecycle() async throws {
        let directory = TestDirectory()
        let clock = TestWallClock()
        let flaky = TestDestination { _ in (.internalServerError, [:], .zero) }
        let healthy = TestDestination()
        let flakyPort = try await flaky.start()
        let healthyPort = try await healthy.start()
        defer { Task { await flaky.stop(); await healthy.stop() } }
        let (app, store) = try await makeTestApp(
            testConfigurationYAML(
                directory: directory,
                routes: [("/flaky", "http://127.0.0.1:\(flakyPort)/"), ("/healthy", "http://127.0.0.1:\(healthyPort)/")],
                initialBackoff: "50ms", maxBackoff: "100ms",
                extra: "circuit_breaker:\n  failure_threshold: 3\n  open_timeout: 1h\n  success_threshold: 2\n"
            ),
            directory: directory,
            clock: clock
        )
        let breakerKey = "http://127.0.0.1:\(flakyPort)"
        try await app.test(.live) { client in
            @Sendable func breakerState() async throws -> String? {
                let status = try await client.execute(uri: "/status", method: .get) { $0 }
                return (status.json["circuit_breakers"] as? [String: Any])?[breakerKey] as? String
            }
            let response = try await client.postWebhook("/flaky", body: #"{"n":1}"#)
            let id = MessageID(rawValue: try #require(response.json["message_id"] as? String))

            // Three failures open the breaker; after that the endpoint sees nothing while it stays open.
            #expect(await eventually { flaky.requests.count >= 3 })
            #expect(flaky.requests.count == 3)
            #expect(await eventually { try await breakerState() == "open" })
            let healthyResponse = try await client.postWebhook("/healthy", body: #"{"n":2}"#)
            let healthyID = MessageID(rawValue: try #require(healthyResponse.json["message_id"] as? String))
            #expect(await eventually { try await store.message(id: healthyID)?.status == .delivered })
            try await Task.sleep(for: .milliseconds(800))
            #expect(flaky.requests.count == 3, "no attempt while the breaker is open")
            #expect(try await store.message(id: id)?.attemptCount == 3, "deferrals do not use up attempts")
            #expect(try await store.message(id: id)?.status == .retrying)

            // Once open_timeout (1 h, on the test's clock) has passed, a trial goes through; the endpoint has
            // recovered, so it is delivered.
            flaky.setBehaviour { _ in (.ok, [:], .zero) }
            #expect(flaky.requests.count == 3, "no trial before open_timeout")
            clock.advance(by: .seconds(3_601))
            #expect(await eventually { try await store.message(id: id)?.status == .delivered })
            #expect(try await breakerState() == "half_open")
            // A second success closes it.
            _ = try await client.postWebhook("/flaky", body: #"{"n":3}"#)
            #expect(await eventually { try await breakerState() == "closed" })
            #expect(try await store.attempts(messageID: id).map(\.outcome.rawValue) == ["retryable", "retryable", "retryable", "delivered"])
        }
    }
}
