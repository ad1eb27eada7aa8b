import App
import ConfigurationFile
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Storage

/// A temporary directory holding a test's database and config file, removed afterwards.
final class TestDirectory: Sendable {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "mb-app-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    var databasePath: String { path + "/messages.db" }
    var configPath: String { path + "/config.yaml" }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A YAML configuration for tests: fast backoff, one route per destination given.
func testConfigurationYAML(
    directory: TestDirectory,
    routes: [(path: String, destination: String)],
    port: Int = 0,
    maxRetries: Int = 0,
    initialBackoff: String = "100ms",
    maxBackoff: String = "1s",
    retryInterval: String = "200ms",
    httpTimeout: String = "2s",
    maxBodyBytes: Int? = nil,
    extra: String = ""
) -> String {
    var yaml = """
        server:
          host: 127.0.0.1
          port: \(port)
          shutdown_timeout: 10s

        """
    if let maxBodyBytes { yaml += "  max_body_bytes: \(maxBodyBytes)\n" }
    yaml += "routes:\n"
    for route in routes {
        yaml += "  - path: \"\(route.path)\"\n    destination: \"\(route.destination)\"\n"
    }
    yaml += """
        sqlite:
          database_path: "\(directory.databasePath)"
        worker:
          retry_interval: \(retryInterval)
          batch_size: 50
          max_retries: \(maxRetries)
          initial_backoff: \(initialBackoff)
          max_backoff: \(maxBackoff)
          http_timeout: \(httpTimeout)
          lease_timeout: 5s
        logging:
          level: warning
        \(extra)
        """
    if !extra.contains("circuit_breaker:") {
        // Short enough that a breaker opened by a test's outage never outlasts the test's wait for recovery.
        yaml += "\ncircuit_breaker:\n  open_timeout: 300ms\n"
    }
    return yaml
}

/// Writes the YAML to the directory's config file and loads it.
func writeConfiguration(_ yaml: String, to directory: TestDirectory) throws -> MessageBridgeConfiguration {
    try yaml.write(toFile: directory.configPath, atomically: true, encoding: .utf8)
    return try ConfigurationLoader(environment: [:]).load(path: directory.configPath)
}

/// Errors only; `MESSAGEBRIDGE_TEST_LOG_LEVEL=debug` (or any level) shows more when chasing a failure.
var quietLogger: Logger {
    var logger = Logger(label: "messagebridge-test")
    logger.logLevel = ProcessInfo.processInfo.environment["MESSAGEBRIDGE_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .error
    return logger
}

extension TestResponse {
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
    }
}

extension TestClientProtocol {
    /// POSTs a webhook and returns the response.
    func postWebhook(_ path: String, body: String, headers: HTTPFields = [.contentType: "application/json"]) async throws -> TestResponse {
        try await execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body)) { $0 }
    }
}

/// Writes `yaml` as the directory's config file, opens a store on its database, and builds the server on both: the
/// store is returned so a test can look at what the server wrote.
func makeTestApp(
    _ yaml: String, directory: TestDirectory, clock: any WallClock = SystemWallClock()
) async throws -> (app: some ApplicationProtocol, store: SQLiteMessageStore) {
    let configuration = try writeConfiguration(yaml, to: directory)
    let store = try SQLiteMessageStore(path: directory.databasePath, clock: clock)
    let app = try await buildApplication(configuration: configuration, logger: quietLogger, store: store, clock: clock)
    return (app, store)
}
