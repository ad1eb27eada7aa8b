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
