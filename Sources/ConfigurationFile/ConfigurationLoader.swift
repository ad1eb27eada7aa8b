import Core
import Foundation
import Yams

/// One thing wrong with a configuration file: which key, on which line, and why.
public struct ConfigurationProblem: Error, Sendable, CustomStringConvertible, Equatable {
    /// The dotted key path, e.g. `worker.retry_interval` or `routes[1].path`.
    public var key: String
    /// The 1-based line in the file, when known.
    public var line: Int?
    /// What is wrong.
    public var message: String

    /// Makes a problem.
    public init(key: String, line: Int?, message: String) {
        self.key = key
        self.line = line
        self.message = message
    }

    /// `key (line N): message`.
    public var description: String {
        if let line { return "\(key) (line \(line)): \(message)" }
        return "\(key): \(message)"
    }
}

/// Every problem found in a configuration file; thrown so callers can print them all at once.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// The problems, in file order.
    public var problems: [ConfigurationProblem]

    /// Makes an error of one or more problems.
    public init(problems: [ConfigurationProblem]) {
        self.problems = problems
    }

    /// One problem a line.
    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}

/// Reads YAML in the MessageBridge schema into a `MessageBridgeConfiguration`, collecting every problem.
///
/// Strings may reference the environment as `${NAME}`; `MESSAGEBRIDGE_<SECTION>_<KEY>` variables override the
/// secrets and the settings an operator most often changes per machine (see `environmentOverrides`).
public struct ConfigurationLoader: Sendable {
    /// The environment used for `${NAME}` and `MESSAGEBRIDGE_*` overrides.
    public var environment: [String: String]
    /// Paths the server serves itself (`/health`, `/api/v1/admin`, ...): a route on one of them, or under one, is an
    /// error. The server's controllers own the list; the composition root hands it over.
    public var reservedPaths: [String]

    /// Makes a loader reading the process environment unless told otherwise.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, reservedPaths: [String] = []) {
        self.environment = environment
        self.reservedPaths = reservedPaths
    }

    /// The keys an environment variable may override, and the variable's name; where a key has several, the first
    /// one set wins.
    public static let environmentOverrides: [(key: String, variable: String)] = [
        ("server.host", "MESSAGEBRIDGE_SERVER_HOST"),
        ("server.port", "MESSAGEBRIDGE_SERVER_PORT"),
        ("sqlite.database_path", "MESSAGEBRIDGE_SQLITE_DATABASE_PATH"),
        ("remote_url.url", "MESSAGEBRIDGE_REMOTE_URL"),
        ("kafka.sasl_username", "MESSAGEBRIDGE_KAFKA_SASL_USERNAME"),
        ("kafka.sasl_password", "MESSAGEBRIDGE_KAFKA_SASL_PASSWORD"),
        // Chat tokens: MessageBridge's names first, then seed 003's (its clients' deployments already set them).
        ("auth.jwt_secret", "MESSAGEBRIDGE_AUTH_JWT_SECRET"),
        ("auth.jwt_secret", "JWT_SECRET"),
        ("auth.jwt_expiration", "MESSAGEBRIDGE_AUTH_JWT_EXPIRATION"),
        ("auth.jwt_expiration", "JWT_EXPIRATION"),
        ("auth.jwt_refresh_secret", "MESSAGEBRIDGE_AUTH_JWT_REFRESH_SECRET"),
        ("auth.jwt_refresh_secret", "JWT_REFRESH_SECRET"),
        ("auth.jwt_refresh_expiration", "MESSAGEBRIDGE_AUTH_JWT_REFRESH_EXPIRATION"),
        ("auth.jwt_refresh_expiration", "JWT_REFRESH_EXPIRATION"),
        ("webhooks.allow_networks", "MESSAGEBRIDGE_WEBHOOKS_ALLOW_NETWORKS"),
    ]

    /// Reads and validates the file at `path`.
    public func load(path: String) throws(ConfigurationError) -> MessageBridgeConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(problems: [
                .init(key: "(file)", line: nil, message: "cannot read \(path): \(error.localizedDescription)")
            ])
        }
        return try parse(yaml: text)
    }

    /// Parses and validates YAML text.
    public func parse(yaml: String) throws(ConfigurationError) -> MessageBridgeConfiguration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigurationError(problems: [.init(key: "(yaml)", line: nil, message: "\(error)")])
        }
        var reader = NodeReader(environment: environment, reservedPaths: reservedPaths)
        let configuration = reader.readConfiguration(root)
        if !reader.problems.isEmpty {
            throw ConfigurationError(problems: reader.problems)
        }
        // librdkafka itself judges the Kafka properties, once the rest is known to be sound.
        let kafkaProblems = validateKafkaSettings(configuration)
        if !kafkaProblems.isEmpty {
            throw ConfigurationError(problems: kafkaProblems)
        }
        return configuration
    }
}
