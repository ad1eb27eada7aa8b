import App
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

/// A log handler that keeps every record in a shared box; metadata is per logger, as swift-log expects.
struct CapturingLogHandler: LogHandler {
    struct Record: Sendable {
        var message: String
        var metadata: Logger.Metadata
    }

    final class Box: Sendable {
        let records = Mutex<[Record]>([])
    }

    let box: Box
    var logLevel: Logger.Level = .debug
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        box.records.withLock { $0.append(Record(message: event.message.description, metadata: merged)) }
    }
}

@Suite("Request ids in logs")
struct RequestIDLoggingTests {
    @Test("a request's log lines carry its X-Request-ID as request_id, and no second id")
    func oneRequestID() async throws {
        let directory = TestDirectory()
        let configuration = try writeConfiguration(
            testConfigurationYAML(directory: directory, routes: [("/webhook/a", "http://127.0.0.1:1/")]), to: directory
        )
        let box = CapturingLogHandler.Box()
        var logger = Logger(label: "test") { _ in CapturingLogHandler(box: box) }
        logger.logLevel = Logger.Level.debug
        let app = try await buildApplication(configuration: configuration, logger: logger)
        try await app.test(.router) { client async throws in
            var headers: HTTPFields = [.contentType: "application/json"]
            headers[HTTPField.Name("X-Request-ID")!] = "req-abc-123"
            let response = try await client.postWebhook("/webhook/a", body: "{}", headers: headers)
            #expect(response.status == .accepted)
            #expect(response.headers[HTTPField.Name("X-Request-ID")!] == "req-abc-123")
        }
        let accepted = try #require(box.records.withLock { $0 }.first { $0.message == "message accepted" })
        #expect(accepted.metadata["request_id"] == "req-abc-123")
        #expect(accepted.metadata["hb.request.id"] == nil)
    }
}
