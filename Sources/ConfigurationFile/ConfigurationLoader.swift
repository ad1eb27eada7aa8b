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

    /// The keys an environment variable may override, and the variable's name.
    public static let environmentOverrides: [(key: String, variable: String)] = [
        ("server.host", "MESSAGEBRIDGE_SERVER_HOST"),
        ("server.port", "MESSAGEBRIDGE_SERVER_PORT"),
        ("sqlite.database_path", "MESSAGEBRIDGE_SQLITE_DATABASE_PATH"),
        ("remote_url.url", "MESSAGEBRIDGE_REMOTE_URL"),
        ("kafka.sasl_username", "MESSAGEBRIDGE_KAFKA_SASL_USERNAME"),
        ("kafka.sasl_password", "MESSAGEBRIDGE_KAFKA_SASL_PASSWORD"),
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

/// Walks the YAML node tree, turning values into settings and mistakes into problems.
/// Internal rather than private so the readers of the security sections can live in their own file.
struct NodeReader {
    let environment: [String: String]
    let reservedPaths: [String]
    var problems: [ConfigurationProblem] = []

    init(environment: [String: String], reservedPaths: [String]) {
        self.environment = environment
        self.reservedPaths = reservedPaths
    }

    mutating func problem(_ key: String, _ node: Node?, _ message: String) {
        problems.append(.init(key: key.isEmpty ? "(top level)" : key, line: node?.mark.map { $0.line }, message: message))
    }

    /// The entries of a mapping, reporting keys that are not in `known`.
    mutating func mapping(_ node: Node?, key: String, known: Set<String>) -> [String: Node] {
        guard let node else { return [:] }
        if node.null != nil { return [:] }
        guard case .mapping(let mapping) = node else {
            problem(key, node, "expected a mapping of keys")
            return [:]
        }
        var entries: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard let name = keyNode.string else {
                problem(key, keyNode, "keys must be strings")
                continue
            }
            let path = key.isEmpty ? name : "\(key).\(name)"
            if !known.contains(name) {
                let suggestion = known.min { levenshtein($0, name) < levenshtein($1, name) }
                let hint = suggestion.map { levenshtein($0, name) <= 3 ? " (did you mean \($0)?)" : "" } ?? ""
                problem(path, keyNode, "unknown key\(hint)")
                continue
            }
            if entries[name] != nil {
                problem(path, keyNode, "duplicate key")
            }
            entries[name] = value
        }
        return entries
    }

    /// A scalar as text, with `${NAME}` references expanded and `override` applied.
    mutating func string(_ node: Node?, key: String) -> String? {
        if let variable = ConfigurationLoader.environmentOverrides.first(where: { $0.key == key })?.variable,
           let value = environment[variable], !value.isEmpty {
            return value
        }
        guard let node else { return nil }
        guard case .scalar(let scalar) = node else {
            problem(key, node, "expected a single value")
            return nil
        }
        if scalar.style == .plain && node.null != nil { return nil }
        return expand(scalar.string, key: key, node: node)
    }

    mutating func expand(_ text: String, key: String, node: Node) -> String? {
        guard text.contains("${") else { return text }
        var result = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${") {
            result += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                problem(key, node, "unterminated ${ in value")
                return nil
            }
            let name = String(rest[start.upperBound..<end])
            guard let value = environment[name] else {
                problem(key, node, "environment variable \(name) is not set")
                return nil
            }
            result += value
            rest = rest[rest.index(after: end)...]
        }
        return result + rest
    }

    mutating func required(_ node: Node?, key: String, parent: Node?) -> String? {
        guard let value = string(node, key: key) else {
            problem(key, node ?? parent, "is required")
            return nil
        }
        if value.trimmingCharacters(in: .whitespaces).isEmpty {
            problem(key, node ?? parent, "must not be empty")
            return nil
        }
        return value
    }

    mutating func int(_ node: Node?, key: String, range: ClosedRange<Int>) -> Int? {
        guard let text = string(node, key: key) else { return nil }
        guard let value = Int(text) else {
            problem(key, node, "expected a whole number, got \"\(text)\"")
            return nil
        }
        guard range.contains(value) else {
            problem(key, node, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
            return nil
        }
        return value
    }

    mutating func bool(_ node: Node?, key: String) -> Bool? {
        guard let text = string(node, key: key) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            problem(key, node, "expected true or false, got \"\(text)\"")
            return nil
        }
    }

    mutating func duration(_ node: Node?, key: String, minimum: Duration = .zero) -> Duration? {
        guard let text = string(node, key: key) else { return nil }
        guard let value = ConfigDuration.parse(text) else {
            problem(key, node, "expected a duration such as 500ms, 30s, 5m or 1h, got \"\(text)\"")
            return nil
        }
        guard value >= minimum else {
            problem(key, node, "must be at least \(minimum), got \"\(text)\"")
            return nil
        }
        return value
    }

    mutating func httpURL(_ node: Node?, key: String, parent: Node?) -> String? {
        guard let text = required(node, key: key, parent: parent) else { return nil }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty
        else {
            problem(key, node, "expected an http:// or https:// URL with a host, got \"\(text)\"")
            return nil
        }
        return text
    }

    mutating func stringList(_ node: Node?, key: String) -> [String]? {
        guard let node else { return nil }
        switch node {
        case .sequence(let sequence):
            var values: [String] = []
            for (index, item) in sequence.enumerated() {
                if let value = string(item, key: "\(key)[\(index)]") { values.append(value) }
            }
            return values
        case .scalar:
            // A single broker written as a plain string, or a comma-separated list.
            return string(node, key: key)?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        default:
            problem(key, node, "expected a list")
            return nil
        }
    }

    // MARK: Sections

    mutating func readConfiguration(_ root: Node?) -> MessageBridgeConfiguration {
        var configuration = MessageBridgeConfiguration()
        let top = mapping(
            root, key: "",
            known: ["server", "routes", "kafka", "sqlite", "remote_url", "worker", "logging", "circuit_breaker",
                    "rate_limits", "cors", "metrics", "status"]
        )
        configuration.server = readServer(top["server"])
        configuration.sqlite = readSQLite(top["sqlite"])
        configuration.kafka = readKafka(top["kafka"])
        configuration.remoteURL = readRemoteURL(top["remote_url"], present: top["remote_url"] != nil)
        configuration.worker = readWorker(top["worker"])
        configuration.logging = readLogging(top["logging"])
        configuration.circuitBreaker = readCircuitBreaker(top["circuit_breaker"])
        configuration.rateLimits = readRateLimits(top["rate_limits"])
        configuration.cors = readCORS(top["cors"])
        configuration.metrics = readMetrics(top["metrics"])
        configuration.status = readStatus(top["status"])
        configuration.routes = readRoutes(top["routes"], configuration: configuration)
        return configuration
    }

    mutating func readServer(_ node: Node?) -> ServerSettings {
        var server = ServerSettings()
        let entries = mapping(
            node, key: "server",
            known: ["host", "port", "max_body_bytes", "shutdown_timeout", "request_head_timeout", "idle_timeout", "max_connections"]
        )
        if let host = string(entries["host"], key: "server.host") { server.host = host }
        if let port = int(entries["port"], key: "server.port", range: 0...65535) { server.port = port }
        if let bytes = int(entries["max_body_bytes"], key: "server.max_body_bytes", range: 1...(1 << 30)) {
            server.maxBodyBytes = bytes
        }
        if let timeout = duration(entries["shutdown_timeout"], key: "server.shutdown_timeout") {
            server.shutdownTimeout = timeout
        }
        if let timeout = duration(entries["request_head_timeout"], key: "server.request_head_timeout") {
            if timeout > .zero { server.requestHeadTimeout = timeout } else {
                problem("server.request_head_timeout", entries["request_head_timeout"], "must be greater than zero")
            }
        }
        if let timeout = duration(entries["idle_timeout"], key: "server.idle_timeout") {
            if timeout > .zero { server.idleTimeout = timeout } else {
                problem("server.idle_timeout", entries["idle_timeout"], "must be greater than zero")
            }
        }
        if let count = int(entries["max_connections"], key: "server.max_connections", range: 1...1_000_000) {
            server.maxConnections = count
        }
        return server
    }

    mutating func readSQLite(_ node: Node?) -> SQLiteSettings {
        var sqlite = SQLiteSettings()
        let entries = mapping(node, key: "sqlite", known: ["database_path"])
        if let path = string(entries["database_path"], key: "sqlite.database_path") {
            if path.isEmpty {
                problem("sqlite.database_path", entries["database_path"], "must not be empty")
            } else {
                sqlite.databasePath = path
            }
        }
        return sqlite
    }

    mutating func readKafka(_ node: Node?) -> KafkaSettings? {
        guard let node else { return nil }
        var kafka = KafkaSettings()
        let entries = mapping(
            node, key: "kafka",
            known: [
                "brokers", "security_protocol", "sasl_mechanism", "sasl_username", "sasl_password", "tls_enabled",
                "ca_file", "cert_file", "key_file", "timeout", "batch_size", "retry_max", "retry_backoff", "properties",
                "max_in_flight",
            ]
        )
        kafka.brokers = stringList(entries["brokers"], key: "kafka.brokers") ?? []
        if kafka.brokers.isEmpty {
            problem("kafka.brokers", entries["brokers"] ?? node, "at least one broker (host:port) is required")
        }
        for (index, broker) in kafka.brokers.enumerated() where !isHostPort(broker) {
            problem("kafka.brokers[\(index)]", entries["brokers"], "expected host:port, got \"\(broker)\"")
        }
        if let value = string(entries["security_protocol"], key: "kafka.security_protocol") {
            let allowed = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
            if allowed.contains(value.uppercased()) {
                kafka.securityProtocol = value.uppercased()
            } else {
                problem("kafka.security_protocol", entries["security_protocol"], "must be one of \(allowed.joined(separator: ", ")), got \"\(value)\"")
            }
        }
        if let value = string(entries["sasl_mechanism"], key: "kafka.sasl_mechanism") {
            let allowed = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
            if allowed.contains(value.uppercased()) {
                kafka.saslMechanism = value.uppercased()
            } else {
                problem("kafka.sasl_mechanism", entries["sasl_mechanism"], "must be one of \(allowed.joined(separator: ", ")), got \"\(value)\"")
            }
        }
        kafka.saslUsername = string(entries["sasl_username"], key: "kafka.sasl_username")
        kafka.saslPassword = string(entries["sasl_password"], key: "kafka.sasl_password")
        if let tls = bool(entries["tls_enabled"], key: "kafka.tls_enabled") { kafka.tlsEnabled = tls }
        kafka.caFile = string(entries["ca_file"], key: "kafka.ca_file")
        kafka.certFile = string(entries["cert_file"], key: "kafka.cert_file")
        kafka.keyFile = string(entries["key_file"], key: "kafka.key_file")
        if let timeout = duration(entries["timeout"], key: "kafka.timeout", minimum: .milliseconds(1)) { kafka.timeout = timeout }
        kafka.batchSize = int(entries["batch_size"], key: "kafka.batch_size", range: 1...1_000_000)
        kafka.retryMax = int(entries["retry_max"], key: "kafka.retry_max", range: 0...1_000_000)
        kafka.retryBackoff = duration(entries["retry_backoff"], key: "kafka.retry_backoff")
        if let value = int(entries["max_in_flight"], key: "kafka.max_in_flight", range: 1...1_000_000) { kafka.maxInFlight = value }
        if let properties = entries["properties"] {
            if case .mapping(let mapping) = properties {
                for (keyNode, value) in mapping {
                    guard let name = keyNode.string else { continue }
                    if let text = string(value, key: "kafka.properties.\(name)") { kafka.properties[name] = text }
                }
            } else {
                problem("kafka.properties", properties, "expected a mapping of librdkafka property names to values")
            }
        }
        if let mechanism = kafka.saslMechanism, kafka.saslUsername == nil {
            problem("kafka.sasl_username", entries["sasl_mechanism"], "is required when sasl_mechanism is \(mechanism)")
        }
        return kafka
    }

    mutating func readRemoteURL(_ node: Node?, present: Bool) -> RemoteURLSettings? {
        guard present || environment["MESSAGEBRIDGE_REMOTE_URL"] != nil else { return nil }
        let entries = mapping(node, key: "remote_url", known: ["url", "timeout", "retries"])
        guard let url = httpURL(entries["url"], key: "remote_url.url", parent: node) else { return nil }
        var settings = RemoteURLSettings(url: url)
        if let timeout = duration(entries["timeout"], key: "remote_url.timeout", minimum: .milliseconds(1)) {
            settings.timeout = timeout
        }
        if let retries = int(entries["retries"], key: "remote_url.retries", range: 0...10) { settings.retries = retries }
        return settings
    }

    mutating func readWorker(_ node: Node?) -> WorkerSettings {
        var worker = WorkerSettings()
        let entries = mapping(
            node, key: "worker",
            known: [
                "retry_interval", "batch_size", "max_retries", "initial_backoff", "max_backoff", "concurrency",
                "lease_timeout", "delivered_retention", "http_timeout",
            ]
        )
        if let value = duration(entries["retry_interval"], key: "worker.retry_interval", minimum: .milliseconds(10)) {
            worker.retryInterval = value
        }
        if let value = int(entries["batch_size"], key: "worker.batch_size", range: 1...10_000) { worker.batchSize = value }
        if let value = int(entries["max_retries"], key: "worker.max_retries", range: 0...1_000_000) { worker.maxRetries = value }
        if let value = duration(entries["initial_backoff"], key: "worker.initial_backoff", minimum: .milliseconds(1)) {
            worker.initialBackoff = value
        }
        if let value = duration(entries["max_backoff"], key: "worker.max_backoff", minimum: .milliseconds(1)) {
            worker.maxBackoff = value
        }
        if let value = int(entries["concurrency"], key: "worker.concurrency", range: 1...100_000) { worker.concurrency = value }
        if let value = duration(entries["lease_timeout"], key: "worker.lease_timeout", minimum: .seconds(1)) {
            worker.leaseTimeout = value
        }
        if let value = duration(entries["delivered_retention"], key: "worker.delivered_retention") {
            worker.deliveredRetention = value
        }
        if let value = duration(entries["http_timeout"], key: "worker.http_timeout", minimum: .milliseconds(1)) {
            worker.httpTimeout = value
        }
        if worker.maxBackoff < worker.initialBackoff {
            problem("worker.max_backoff", entries["max_backoff"] ?? node, "must not be shorter than worker.initial_backoff")
        }
        return worker
    }

    mutating func readLogging(_ node: Node?) -> LoggingSettings {
        var logging = LoggingSettings()
        let entries = mapping(node, key: "logging", known: ["level", "format"])
        if let level = string(entries["level"], key: "logging.level") {
            let allowed = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            if allowed.contains(level.lowercased()) {
                logging.level = level.lowercased()
            } else {
                problem("logging.level", entries["level"], "must be one of \(allowed.joined(separator: ", ")), got \"\(level)\"")
            }
        }
        if let format = string(entries["format"], key: "logging.format") {
            if ["json", "text"].contains(format.lowercased()) {
                logging.format = format.lowercased()
            } else {
                problem("logging.format", entries["format"], "must be json or text, got \"\(format)\"")
            }
        }
        return logging
    }

    mutating func readRoutes(_ node: Node?, configuration: MessageBridgeConfiguration) -> [RouteSettings] {
        guard let node else {
            problem("routes", nil, "at least one route is required")
            return []
        }
        guard case .sequence(let sequence) = node else {
            problem("routes", node, "expected a list of routes")
            return []
        }
        if sequence.isEmpty { problem("routes", node, "at least one route is required") }
        var routes: [RouteSettings] = []
        var seenPaths: Set<String> = []
        for (index, item) in sequence.enumerated() {
            let key = "routes[\(index)]"
            let entries = mapping(item, key: key, known: ["path", "queue", "destination", "kafka_key", "verify", "dedup", "require_api_key", "forward_credentials"])
            guard let written = required(entries["path"], key: "\(key).path", parent: item) else { continue }
            if !written.hasPrefix("/") || written.contains(" ") || written.contains("?") || written.contains("#") {
                problem("\(key).path", entries["path"], "must start with / and hold no spaces, ? or #, got \"\(written)\"")
                continue
            }
            // The form requests are matched in: `/a//b/` is the route `/a/b`, as the router sees it.
            let path = RequestPath.canonical(written)
            if !seenPaths.insert(path).inserted {
                problem("\(key).path", entries["path"], "\(path) is already used by an earlier route")
            }
            if reservedPaths.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) {
                problem("\(key).path", entries["path"], "\(path) is reserved for the server's own endpoints")
            }
            var route = RouteSettings(path: path)
            route.queue = string(entries["queue"], key: "\(key).queue")
            route.kafkaKey = readKafkaKey(entries["kafka_key"], key: "\(key).kafka_key")
            route.verification = readVerify(entries["verify"], key: "\(key).verify")
            route.dedup = readDedup(entries["dedup"], key: "\(key).dedup")
            if let value = bool(entries["require_api_key"], key: "\(key).require_api_key") { route.requiresAPIKey = value }
            for (index, name) in (stringList(entries["forward_credentials"], key: "\(key).forward_credentials") ?? []).enumerated() {
                if !route.credentialHeaders.isCredential(name) {
                    problem(
                        "\(key).forward_credentials[\(index)]", entries["forward_credentials"],
                        "\(name) is not a credential header of this route (Authorization, Proxy-Authorization, Cookie or its verify header); other headers are always forwarded"
                    )
                } else {
                    route.forwardCredentials.append(name)
                }
            }
            if entries["destination"] != nil {
                route.destination = httpURL(entries["destination"], key: "\(key).destination", parent: item)
                if route.destination == nil { continue }
            }
            if configuration.destination(for: route) == nil {
                if route.queue != nil {
                    problem(
                        "\(key).queue", entries["queue"],
                        "route \(path) delivers to Kafka topic \(route.queue!) but kafka.brokers is not configured"
                    )
                } else {
                    problem(key, item, "route \(path) has no destination: set destination, remote_url or queue with kafka")
                }
            }
            routes.append(route)
        }
        return routes
    }

    mutating func readKafkaKey(_ node: Node?, key: String) -> RequestField? {
        guard let node else { return nil }
        let entries = mapping(node, key: key, known: ["header", "json_field"])
        return requestField(entries, node: node, key: key)
    }

    mutating func readCircuitBreaker(_ node: Node?) -> CircuitBreakerSettings {
        var settings = CircuitBreakerSettings()
        let entries = mapping(
            node, key: "circuit_breaker", known: ["enabled", "failure_threshold", "open_timeout", "success_threshold"]
        )
        if let value = bool(entries["enabled"], key: "circuit_breaker.enabled") { settings.isEnabled = value }
        if let value = int(entries["failure_threshold"], key: "circuit_breaker.failure_threshold", range: 1...10_000) {
            settings.failureThreshold = value
        }
        if let value = duration(entries["open_timeout"], key: "circuit_breaker.open_timeout", minimum: .milliseconds(1)) {
            settings.openTimeout = value
        }
        if let value = int(entries["success_threshold"], key: "circuit_breaker.success_threshold", range: 1...10_000) {
            settings.successThreshold = value
        }
        return settings
    }

    func isHostPort(_ text: String) -> Bool {
        guard let colon = text.lastIndex(of: ":"), colon != text.startIndex else { return false }
        guard let port = Int(text[text.index(after: colon)...]) else { return false }
        return (1...65535).contains(port)
    }
}

/// Edit distance, for "did you mean" hints on unknown keys.
private func levenshtein(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
