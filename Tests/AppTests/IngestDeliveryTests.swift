import App
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Storage
import Testing

@Suite("Ingest and HTTP delivery")
struct IngestDeliveryTests {
    @Test("an accepted webhook reaches the endpoint with its exact body, content type and identifying headers")
    func acceptAndDeliver() async throws {
        let directory = TestDirectory()
        let destination = TestDestination()
        let port = try await destination.start()
        defer { Task { await destination.stop() } }
        let (app, store) = try await makeTestApp(
            testConfigurationYAML(directory: directory, routes: [("/webhook/payment", "http://127.0.0.1:\(port)/in/payment")]),
            directory: directory
        )
        let body = #"{"order_id": "12345", "amount": 100.00, "currency": "USD", "note": "ünïcode"}"#
        try await app.test(.live) { client in
            let response = try await client.postWebhook(
                "/webhook/payment", body: body,
                headers: [.contentType: "application/json; charset=utf-8", HTTPField.Name("X-Request-ID")!: "req-42"]
            )
            #expect(response.status == .accepted)
            #expect(response.headers[HTTPField.Name("X-Request-ID")!] == "req-42")
            let json = response.json
            #expect(json["status"] as? String == "accepted")
            let messageID = try #require(json["message_id"] as? String)
            let timestamp = try #require(json["timestamp"] as? String)
            #expect((try? Date(timestamp, strategy: .iso8601)) != nil)

            #expect(await eventually { destination.requests.count == 1 })
            let received = try #require(destination.requests.first)
            #expect(received.path == "/in/payment")
            #expect(received.body == Array(body.utf8))
            #expect(received.headers[.contentType] == "application/json; charset=utf-8")
            #expect(received.webhookID == messageID)
            #expect(received.headers[HTTPField.Name("X-Webhook-Path")!] == "/webhook/payment")
            #expect(received.headers[HTTPField.Name("X-Webhook-Timestamp")!].flatMap(Int.init) != nil)

            #expect(await eventually { try await store.message(id: MessageID(rawValue: messageID))?.status == .delivered })
            let attempts = try await store.attempts(messageID: MessageID(rawValue: messageID))
            #expect(attempts.map(\.outcome.rawValue) == ["delivered"])
            #expect(attempts.first?.statusCode == 200)
        }
    }

    @Test("every request header is stored with all its values")
    func headersStored() async throws {
        let directory = TestDirectory()
        let port = try unusedPort()
        let (app, store) = try await makeTestApp(
            testConfigurationYAML(directory: directory, routes: [("/hook", "http://127.0.0.1:\(port)/")], initialBackoff: "1h", maxBackoff: "1h"),
            directory: directory
        )
        try await app.test(.live) { client in
            var headers: HTTPFields = [.contentType: "text/plain"]
            headers.append(HTTPField(name: HTTPField.Name("X-Multi")!, value: "one"))
            headers.append(HTTPField(name: HTTPField.Name("X-Multi")!, value: "two"))
            let response = try await client.postWebhook("/hook", body: "plain body", headers: headers)
            #expect(response.status == .accepted)
            let messageID = try #require(response.json["message_id"] as? String)
            let stored = try #require(try await store.message(id: MessageID(rawValue: messageID)))
            let multi = stored.message.headers.filter { $0.name.lowercased() == "x-multi" }.map(\.value)
            #expect(multi == ["one", "two"])
            #expect(stored.message.contentType == "text/plain")
            #expect(stored.message.body == Array("plain body".utf8))
        }
    }

    @Test("500s, timeouts and refused connections are retried with growing delays until the endpoint recovers")
    func retriesUntilRecovery() async throws {
        let directory = TestDirectory()
        let destination = TestDestination { index in
            switch index {
            case 0, 1: (.internalServerError, [:], .zero)
            case 2: (.ok, [:], .seconds(10))  // slower than the 3 s timeout
            default: (.ok, [:], .zero)
            }
        }
        let port = try await destination.start()
        defer { Task { await destination.stop() } }
        let (app, store) = try await makeTestApp(
            testConfigurationYAML(
                directory: directory, routes: [("/hook", "http://127.0.0.1:\(port)/")],
                // 3 s, not less: a busy 2-core CI machine can take over half a second to answer a quick 500.
                initialBackoff: "200ms", maxBackoff: "5s", httpTimeout: "3s"
            ),
            directory: directory
        )
        try await app.test(.live) { client in
            let response = try await client.postWebhook("/hook", body: "{}")
            let messageID = MessageID(rawValue: try #require(response.json["message_id"] as? String))
            #expect(await eventually(timeout: .seconds(30)) { try await store.message(id: messageID)?.status == .delivered })
            let attempts = try await store.attempts(messageID: messageID)
            #expect(attempts.map(\.outcome.rawValue) == ["retryable", "retryable", "retryable", "delivered"])
            #expect(attempts.map(\.statusCode) == [500, 500, nil, 200])
            #expect(attempts[2].error?.contains("timed out") == true)
            let times = destination.requests.map(\.at)
            try #require(times.count == 4)
            let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
            // Backoff of 200 ms, 400 ms, then 800 ms (±20 % jitter), measured between arrivals at the endpoint.
            // Scheduling noise only lengthens gaps, so lower bounds are what can be asserted reliably. (The third
            // gap also holds most of the 3 s timeout, but that clock starts before the request arrives.)
            #expect(gaps[0] >= .milliseconds(160))
            #expect(gaps[1] >= .milliseconds(320))
            #expect(gaps[2] >= .milliseconds(640))
            #expect(gaps[2] > gaps[0])
        }
    }

    @Test("a refused connection is retried and delivered once the endpoint comes up")
    func endpointDownThenUp() async throws {
        let directory = TestDirectory()
        let port = try unusedPort()
        let (app, store) = try await makeTestApp(
            testConfigurationYAML(directory: directory, routes: [("/hook", "http://127.0.0.1:\(port)/")], initialBackoff: "100ms", maxBackoff: "300ms"),
            directory: directory
        )
        let destination = TestDestination()
        try await app.test(.live) { client in
            var ids: [MessageID] = []
            for index in 0..<20 {
                let response = try await client.postWebhook("/hook", body: #"{"n":\#(index)}"#)
                #expect(response.status == .accepted)
                ids.append(MessageID(rawValue: try #require(response.json["message_id"] as? String)))
            }
            // Some attempts fail (the circuit breaker may defer the rest, which is its job).
            #expect(await eventually { try await store.statusCounts()[.retrying] ?? 0 > 0 })
            _ = try await destination.start(port: port)
            #expect(await eventually { try await store.statusCounts()[.delivered] == 20 })
            #expect(destination.receivedIDs == Set(ids.map(\.rawValue)))
        }
        await destination.stop()
    }

    @Test("a 4xx other than 408/429 is a permanent failure recorded with status and body excerpt")
    func permanentFailure() async throws {
        let directory = TestDirectory()
        let destination = TestDestination { _ in (.unprocessableContent, [:], .zero) }
        let port = try await destination.start()
        defer { Task { await destination.stop() } }
        let (app, store) = try await makeTestApp(
            testConfigurationYAML(directory: directory, routes: [("/hook", "http://127.0.0.1:\(port)/")]),
            directory: directory
        )
        try await app.test(.live) { client in
            let response = try await client.postWebhook("/hook", body: "{}")
            let messageID = MessageID(rawValue: try #require(response.json["message_id"] as? String))
            #expect(await eventually { try await store.message(id: messageID)?.status == .failed })
            let stored = try #require(try await store.message(id: messageID))
            #expect(stored.lastStatusCode == 422)
            #expect(stored.lastError?.contains("answer 422") == true)
            #expect(destination.requests.count == 1)
        }
    }

    @Test("429 with Retry-After waits at least that long")
    func retryAfter() async throws {
        let directory = TestDirectory()
        let destination = TestDestination { index in
            index == 0 ? (.tooManyRequests, [HTTPField.Name("Retry-After")!: "1"], .zero) : (.ok, [:], .zero)
        }
        let port = try await destination.start()
        defer { Task { await destination.stop() } }
        let (app, store) = try await makeTestApp(
            testConfigurationYAML(directory: directory, routes: [("/hook", "http://127.0.0.1:\(port)/")], initialBackoff: "50ms"),
            directory: directory
        )
        try await app.test(.live) { client in
            _ = try await client.postWebhook("/hook", body: "{}")
            #expect(await eventually { destination.requests.count == 2 })
            let times = destination.requests.map(\.at)
            try #require(times.count == 2)
            #expect(times[1] - times[0] >= .milliseconds(950))
        }
    }

    @Test("max_retries: 3 fails the message after 3 attempts; messages retry then delivers it")
    func deadLetterAndReplay() async throws {
        let directory = TestDirectory()
        let destination = TestDestination { _ in (.serviceUnavailable, [:], .zero) }
        let port = try await destination.start()
        defer { Task { await destination.stop() } }
        let (app, store) = try await makeTestApp(
            testConfigurationYAML(directory: directory, routes: [("/hook", "http://127.0.0.1:\(port)/")], maxRetries: 3, initialBackoff: "50ms"),
            directory: directory
        )
        try await app.test(.live) { client in
            let response = try await client.postWebhook("/hook", body: #"{"dead":"letter"}"#)
            let id = try #require(response.json["message_id"] as? String)
            #expect(await eventually { try await store.message(id: MessageID(rawValue: id))?.status == .failed })
            try await Task.sleep(for: .milliseconds(400))
            #expect(destination.requests.count == 3, "no attempt after the message failed")
            #expect(try await store.attempts(messageID: MessageID(rawValue: id)).count == 3)

            let listed = try runCLI(["messages", "list", "--status", "failed", "--json", "--config", directory.configPath])
            #expect(listed.status == 0)
            #expect(listed.output.contains(id))
            let shown = try runCLI(["messages", "show", id, "--config", directory.configPath])
            #expect(shown.status == 0)
            #expect(shown.output.contains(#""outcome" : "failed""#) || shown.output.contains(#""outcome":"failed""#))
            #expect(shown.output.contains("dead"))

            destination.setBehaviour { _ in (.ok, [:], .zero) }
            let retried = try runCLI(["messages", "retry", id, "--config", directory.configPath])
            #expect(retried.status == 0)
            #expect(await eventually { try await store.message(id: MessageID(rawValue: id))?.status == .delivered })
            #expect(destination.requests.count == 4)

            let missing = try runCLI(["messages", "retry", "no-such-id", "--config", directory.configPath])
            #expect(missing.status == 1)
        }
    }
}
