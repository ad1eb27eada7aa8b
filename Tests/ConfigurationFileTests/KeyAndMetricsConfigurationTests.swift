import ConfigurationFile
import Core
import Testing

@Suite("Configuration: API keys and metrics")
struct KeyAndMetricsConfigurationTests {
    let base = """
        routes:
          - path: /hook
            destination: http://127.0.0.1:9/x
        """

    func problems(_ yaml: String) -> [ConfigurationProblem] {
        do {
            _ = try ConfigurationLoader(environment: [:], reservedPaths: ConfigurationTests.serverPaths).parse(yaml: yaml)
            return []
        } catch {
            return error.problems
        }
    }

    @Test("defaults: metrics enabled, open, no key; routes need no key")
    func defaults() throws {
        let configuration = try ConfigurationLoader(environment: [:]).parse(yaml: base)
        #expect(configuration.metrics.isEnabled)
        #expect(configuration.metrics.allow.isEmpty)
        #expect(!configuration.metrics.requiresAPIKey)
        #expect(configuration.routes.map(\.requiresAPIKey) == [false])
    }

    @Test("require_api_key and the metrics section are read")
    func parsed() throws {
        let yaml = """
            routes:
              - path: /hook
                destination: http://127.0.0.1:9/x
                require_api_key: true
            metrics:
              enabled: false
              allow: ["127.0.0.1/32", "::1", "10.0.0.0/8"]
              require_api_key: true
            """
        let configuration = try ConfigurationLoader(environment: [:]).parse(yaml: yaml)
        #expect(configuration.routes.first?.requiresAPIKey == true)
        #expect(!configuration.metrics.isEnabled)
        #expect(configuration.metrics.requiresAPIKey)
        #expect(configuration.metrics.allow.count == 3)
        #expect(configuration.metrics.allow[0].contains("127.0.0.1"))
        #expect(!configuration.metrics.allow[0].contains("127.0.0.2"))
        #expect(configuration.metrics.allow[1].contains("::1"))
        #expect(configuration.metrics.allow[2].contains("10.200.3.4"))
        #expect(configuration.metrics.allow[2].contains("::ffff:10.1.1.1"))
        #expect(!configuration.metrics.allow[2].contains("11.0.0.1"))
    }

    @Test("bad values name their key and line; the admin API's prefix is reserved")
    func problemsNamed() {
        let found = problems("""
            routes:
              - path: /api/v1/admin/hook
                destination: http://127.0.0.1:9/x
                require_api_key: sometimes
            metrics:
              allow: ["300.1.1.1/8", "10.0.0.0/40"]
              enabeld: true
            """)
        let keys = Set(found.map(\.key))
        #expect(keys.contains("routes[0].require_api_key"))
        #expect(keys.contains("routes[0].path"))
        #expect(keys.contains("metrics.allow[0]"))
        #expect(keys.contains("metrics.allow[1]"))
        #expect(keys.contains("metrics.enabeld"))
        #expect(found.allSatisfy { $0.line != nil })
        #expect(found.first { $0.key == "metrics.enabeld" }?.message.contains("did you mean enabled?") == true)
    }
}

@Suite("auth and chat sections")
struct AuthAndChatConfigurationTests {
    @Test("seed 003's JWT_* variables are honoured; MESSAGEBRIDGE_AUTH_* win over them; short secrets are refused on their key")
    func jwtEnvironment() throws {
        let secret = String(repeating: "s", count: 40)
        let seed = try ConfigurationLoader(environment: [
            "JWT_SECRET": secret, "JWT_EXPIRATION": "24h", "JWT_REFRESH_SECRET": secret + "r", "JWT_REFRESH_EXPIRATION": "7d",
        ]).parse(yaml: "")
        #expect(seed.auth.accessKey?.secret == secret)
        #expect(seed.auth.refreshKey?.secret == secret + "r")
        #expect(seed.auth.accessTokenLifetime == .seconds(24 * 3600))
        #expect(seed.auth.refreshTokenLifetime == .seconds(7 * 24 * 3600))
        let ours = try ConfigurationLoader(environment: ["JWT_SECRET": secret, "MESSAGEBRIDGE_AUTH_JWT_SECRET": secret + "x"]).parse(yaml: "")
        #expect(ours.auth.accessKey?.secret == secret + "x")
        let defaults = try ConfigurationLoader(environment: [:]).parse(yaml: "")
        #expect(defaults.auth.accessKey == nil)
        #expect(defaults.auth.accessTokenLifetime == .seconds(900))
        #expect(defaults.auth.registration == .open)
        do {
            _ = try ConfigurationLoader(environment: [:]).parse(yaml: "auth:\n  jwt_secret: short\n  registration: maybe\n")
            Issue.record("a short secret and an unknown registration mode were accepted")
        } catch {
            #expect(error.problems.map(\.key) == ["auth.registration", "auth.jwt_secret"])
            #expect(error.problems.allSatisfy { $0.line != nil })
        }
    }

    @Test("chat limits are read and checked")
    func chatSection() throws {
        let configuration = try ConfigurationLoader(environment: [:]).parse(yaml: "chat:\n  max_message_bytes: 2048\n  send_buffer_events: 64\n  ping_interval: 5s\n")
        #expect(configuration.chat.maxMessageBytes == 2048 && configuration.chat.sendBufferEvents == 64)
        #expect(configuration.chat.pingInterval == .seconds(5))
        do {
            _ = try ConfigurationLoader(environment: [:]).parse(yaml: "chat:\n  max_message_bytes: 100000\n  send_bufer_events: 1\n")
            Issue.record("bad chat settings were accepted")
        } catch {
            #expect(Set(error.problems.map(\.key)) == ["chat.send_bufer_events", "chat.max_frame_bytes"])
        }
    }
}
