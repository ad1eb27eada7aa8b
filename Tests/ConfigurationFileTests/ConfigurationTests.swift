import ConfigurationFile
import Core
import Testing

@Suite("Configuration")
struct ConfigurationTests {
    /// The server's own paths, as the composition root hands them to the loader (`reservedServerPaths`).
    static let serverPaths = ["/health", "/status", "/metrics", "/stats", "/api/v1/admin", "/openapi.yaml"]
    let loader = ConfigurationLoader(environment: [:], reservedPaths: ConfigurationTests.serverPaths)

    @Test("the original MessageBridge full configuration loads with every value")
    func originalSchema() throws {
        let configuration = try loader.parse(yaml: """
            server:
              host: "0.0.0.0"
              port: 8080
            routes:
              - path: "/webhook/payment"
                queue: "payment-events"
              - path: "/webhook/user"
                queue: "user-events"
            kafka:
              brokers:
                - "kafka1:9092"
                - "kafka2:9092"
              security_protocol: "SASL_SSL"
              sasl_mechanism: "SCRAM-SHA-256"
              sasl_username: "your-username"
              sasl_password: "your-password"
              tls_enabled: true
              retry_max: 3
              retry_backoff: 2s
              batch_size: 100
              timeout: 30s
            sqlite:
              database_path: "/var/lib/sbphub/messages.db"
            worker:
              retry_interval: 5m
              batch_size: 50
              max_retries: 0
            """)
        #expect(configuration.server.port == 8080)
        #expect(configuration.routes.map(\.path) == ["/webhook/payment", "/webhook/user"])
        #expect(configuration.kafka?.brokers == ["kafka1:9092", "kafka2:9092"])
        #expect(configuration.kafka?.securityProtocol == "SASL_SSL")
        #expect(configuration.kafka?.saslMechanism == "SCRAM-SHA-256")
        #expect(configuration.kafka?.tlsEnabled == true)
        #expect(configuration.kafka?.retryBackoff == .seconds(2))
        #expect(configuration.kafka?.batchSize == 100)
        #expect(configuration.sqlite.databasePath == "/var/lib/sbphub/messages.db")
        #expect(configuration.sqlite.mmapSizeMiB == 1024)
        #expect(configuration.worker.retryInterval == .seconds(300))
        #expect(configuration.worker.maxRetries == 0)
        #expect(configuration.destination(for: configuration.routes[0]) == .kafka(topic: "payment-events"))
    }

    @Test("destination precedence: route destination, then remote_url, then the Kafka queue")
    func destinationPrecedence() throws {
        let configuration = try loader.parse(yaml: """
            routes:
              - path: "/a"
                queue: "topic-a"
                destination: "http://127.0.0.1:9000/a"
              - path: "/b"
                queue: "topic-b"
            remote_url:
              url: "https://api.example.com/webhooks"
              timeout: 10s
              retries: 2
            kafka:
              brokers: ["localhost:9092"]
            """)
        #expect(configuration.destination(for: configuration.routes[0]) == .http(url: "http://127.0.0.1:9000/a"))
        #expect(configuration.destination(for: configuration.routes[1]) == .http(url: "https://api.example.com/webhooks"))
        #expect(configuration.remoteURL?.timeout == .seconds(10))
        #expect(configuration.remoteURL?.retries == 2)
    }

    @Test("every problem is reported with its key and line")
    func problemsNameKeyAndLine() throws {
        let error = #expect(throws: ConfigurationError.self) {
            try loader.parse(yaml: """
                server:
                  port: 99999
                  hots: "x"
                routes:
                  - path: "/a"
                  - path: "no-slash"
                    destination: "ftp://x"
                worker:
                  retry_interval: 5 minutes
                  max_retries: -1
                sqlite:
                  mmap_size_mb: -1
                """)
        }
        let problems = try #require(error).problems
        let byKey = Dictionary(problems.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byKey["server.port"]?.line == 2)
        #expect(byKey["server.hots"]?.message.contains("unknown key") == true)
        #expect(byKey["server.hots"]?.message.contains("did you mean host?") == true)
        #expect(byKey["server.hots"]?.line == 3)
        #expect(byKey["routes[0]"]?.message.contains("no destination") == true)
        #expect(byKey["routes[1].path"]?.line == 6)
        #expect(byKey["worker.retry_interval"]?.message.contains("duration") == true)
        #expect(byKey["worker.retry_interval"]?.line == 9)
        #expect(byKey["worker.max_retries"] != nil)
        #expect(byKey["sqlite.mmap_size_mb"]?.message.contains("between 0 and 65536") == true)
        #expect(byKey["sqlite.mmap_size_mb"]?.line == 12)
    }

    @Test("a queue route without kafka names the queue key")
    func queueWithoutKafka() throws {
        let error = #expect(throws: ConfigurationError.self) {
            try loader.parse(yaml: "routes:\n  - path: /a\n    queue: events\n")
        }
        #expect(error?.problems.map(\.key) == ["routes[0].queue"])
        #expect(error?.problems.first?.message.contains("kafka.brokers") == true)
    }

    @Test("malformed YAML and wrong types are errors; no routes is a chat-only server")
    func structuralErrors() throws {
        #expect(try loader.parse(yaml: "server:\n  port: 8080\n").routes.isEmpty)
        #expect(try loader.parse(yaml: "routes: []\n").routes.isEmpty)
        #expect(throws: ConfigurationError.self) { try loader.parse(yaml: "routes: [\n") }
        #expect(throws: ConfigurationError.self) { try loader.parse(yaml: "routes: \"/a\"\n") }
        #expect(throws: ConfigurationError.self) { try loader.parse(yaml: "- just\n- a list\n") }
        #expect(throws: ConfigurationError.self) {
            try loader.parse(yaml: "routes:\n  - path: /a\n    destination: http://x/\n  - path: /a\n    destination: http://x/\n")
        }
        #expect(throws: ConfigurationError.self) {
            try loader.parse(yaml: "routes:\n  - path: /health\n    destination: http://x/\n")
        }
    }

    @Test("secrets come from the environment, by ${NAME} and by MESSAGEBRIDGE_* overrides")
    func environment() throws {
        let loader = ConfigurationLoader(environment: [
            "SASL_SECRET": "s3cret",
            "MESSAGEBRIDGE_REMOTE_URL": "http://override.example/hooks",
            "MESSAGEBRIDGE_SERVER_PORT": "9091",
        ])
        let configuration = try loader.parse(yaml: """
            server:
              port: 8080
            routes:
              - path: /a
            remote_url:
              url: http://original.example/
            kafka:
              brokers: ["k:9092"]
              sasl_mechanism: PLAIN
              sasl_username: user
              sasl_password: "${SASL_SECRET}"
            """)
        #expect(configuration.kafka?.saslPassword == "s3cret")
        #expect(configuration.remoteURL?.url == "http://override.example/hooks")
        #expect(configuration.server.port == 9091)
        let missing = #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader(environment: [:]).parse(yaml: "routes:\n  - path: /a\n    destination: \"${NOPE}\"\n")
        }
        #expect(missing?.problems.first?.message.contains("NOPE") == true)
    }

    @Test("the starter configuration is valid")
    func starterConfiguration() throws {
        let configuration = try loader.parse(yaml: StarterConfiguration.text)
        #expect(configuration.routes.count == 1)
    }

    @Test("durations", arguments: [
        ("500ms", Duration.milliseconds(500)), ("30s", .seconds(30)), ("5m", .seconds(300)),
        ("1h30m", .seconds(5400)), ("7d", .seconds(604_800)), ("1.5s", .milliseconds(1500)),
    ])
    func durations(text: String, expected: Duration) {
        #expect(ConfigDuration.parse(text) == expected)
    }

    @Test("bad durations", arguments: ["", "5", "5 minutes", "m", "-1s", "1x", "s5"])
    func badDurations(text: String) {
        #expect(ConfigDuration.parse(text) == nil)
    }
}

@Suite("Configuration robustness")
struct ConfigurationRobustnessTests {
    /// A deterministic generator, so a failure reproduces.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("mangled configurations are accepted or rejected with problems, never a crash")
    func mangledConfigurations() {
        var generator = SplitMix64(state: 42)
        let alphabet = Array(":-[]{}#&*!|>'\"%@`,?\n\t 0123456789abcxyz\\${}")
        let original = Array(StarterConfiguration.text)
        var rejected = 0
        for _ in 0..<400 {
            var text = original
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                let index = Int.random(in: 0..<text.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: text.remove(at: index)
                case 1: text.insert(alphabet.randomElement(using: &generator)!, at: index)
                default: text[index] = alphabet.randomElement(using: &generator)!
                }
            }
            do {
                _ = try ConfigurationLoader(environment: [:]).parse(yaml: String(text))
            } catch {
                rejected += 1
                #expect(!error.problems.isEmpty)
                #expect(error.problems.allSatisfy { !$0.key.isEmpty && !$0.message.isEmpty })
            }
        }
        #expect(rejected > 0, "the mutations must exercise the error paths")
    }
}
