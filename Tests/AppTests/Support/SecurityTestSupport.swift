import App
import ConfigurationFile
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Storage

/// A configuration whose routes are given as YAML (so they can carry `verify:` and `dedup:` blocks), delivering
/// to an unreachable destination with an hour's backoff so stored messages stay put while a test looks at them.
func securityTestYAML(directory: TestDirectory, routes: String, extra: String = "") -> String {
    """
    server:
      host: 127.0.0.1
      port: 0
    routes:
    \(routes)
    sqlite:
      database_path: "\(directory.databasePath)"
    worker:
      retry_interval: 1h
      initial_backoff: 1h
      max_backoff: 1h
      http_timeout: 1s
    logging:
      level: error
    \(extra)
    """
}

/// Builds the application from YAML over a store the test can read.
func makeSecurityTestApp(
    directory: TestDirectory, routes: String, extra: String = "", environment: [String: String] = [:]
) async throws -> (app: some ApplicationProtocol, store: SQLiteMessageStore) {
    let store = try SQLiteMessageStore(path: directory.databasePath)
    try securityTestYAML(directory: directory, routes: routes, extra: extra)
        .write(toFile: directory.configPath, atomically: true, encoding: .utf8)
    let configuration = try ConfigurationLoader(environment: environment).load(path: directory.configPath)
    return (try await buildApplication(configuration: configuration, logger: quietLogger, store: store), store)
}

extension SQLiteMessageStore {
    /// How many messages are stored, whatever their status.
    func storedCount() async throws -> Int {
        try await statusCounts().values.reduce(0, +)
    }
}

extension TestResponse {
    /// `error.code` of a JSON error body.
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    /// `error.message` of a JSON error body.
    var errorMessage: String? { (json["error"] as? [String: Any])?["message"] as? String }
}

extension HTTPFields {
    /// Fields from name/value pairs, for headers HTTPTypes has no static name for.
    static func make(_ pairs: [(String, String)]) -> HTTPFields {
        var fields: HTTPFields = [.contentType: "application/json"]
        for (name, value) in pairs { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        return fields
    }
}
