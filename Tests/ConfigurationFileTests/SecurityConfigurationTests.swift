import ConfigurationFile
import Core
import Foundation
import Testing

/// The `verify`, `dedup`, `rate_limits` and `cors` sections: good values parse, bad ones are problems that name
/// the key and its line.
@Suite("Security configuration")
struct SecurityConfigurationTests {
    static func yaml(route: String = "", top: String = "") -> String {
        """
        routes:
          - path: "/webhook/a"
            destination: "http://127.0.0.1:9/"
        \(route)
        \(top)
        """
    }

    /// The problems of loading `yaml`; empty when it loads.
    static func problems(_ yaml: String, environment: [String: String] = [:]) -> [ConfigurationProblem] {
        do {
            _ = try ConfigurationLoader(environment: environment).parse(yaml: yaml)
            return []
        } catch {
            return error.problems
        }
    }

    @Test("a full security configuration parses")
    func parsesEverything() throws {
        let configuration = try ConfigurationLoader(environment: ["STRIPE_SECRET": "whsec_x"]).parse(yaml: Self.yaml(route: """
                verify:
                  scheme: stripe
                  secret: "${STRIPE_SECRET}"
                  tolerance: 5m
                dedup:
                  json_field: data.object.id
                  window: 2h
            """, top: """
            rate_limits:
              per_ip: { limit: 100, period: 60s, burst: 120 }
              per_route: { limit: 1000, period: 1s }
              per_key: { limit: 600, period: 60s }
              trusted_proxies: ["127.0.0.1/32", "10.0.0.0/8", "::1"]
              paths:
                - pattern: "/api/v1/auth/*"
                  limit: 10
                  period: 60s
            cors:
              allowed_origins: ["https://app.example.com"]
              max_age: 1h
            """))
        let route = try #require(configuration.routes.first)
        #expect(route.verification?.scheme == .stripe)
        #expect(route.dedup == DedupSettings(source: .jsonField(["data", "object", "id"]), window: .seconds(7200)))
        let limits = configuration.rateLimits
        #expect(limits.isEnabled)
        #expect(limits.perIP == RateLimitRule(limit: 100, period: .seconds(60), burst: 120))
        #expect(limits.perRoute == RateLimitRule(limit: 1000, period: .seconds(1)))
        #expect(limits.perKey?.limit == 600)
        #expect(limits.trustedProxies.map(\.description) == ["127.0.0.1/32", "10.0.0.0/8", "0:0:0:0:0:0:0:1/128"])
        #expect(limits.paths.first?.matches("/api/v1/auth/login") == true)
        #expect(limits.paths.first?.matches("/api/v1/rooms") == false)
        #expect(configuration.cors?.allows(origin: "https://app.example.com") == true)
        #expect(configuration.cors?.allows(origin: "https://other.example.com") == false)
        #expect(configuration.cors?.maxAge == .seconds(3600))
    }

    @Test("rate limiting is off without the section and on, with the documented per-IP default, with it")
    func rateLimitDefaults() throws {
        #expect(try ConfigurationLoader(environment: [:]).parse(yaml: Self.yaml()).rateLimits.isEnabled == false)
        let on = try ConfigurationLoader(environment: [:]).parse(yaml: Self.yaml(top: "rate_limits:\n  per_key: { limit: 5, period: 1s }"))
        #expect(on.rateLimits.isEnabled)
        #expect(on.rateLimits.perIP == RateLimitSettings.defaultPerIP)
        let off = try ConfigurationLoader(environment: [:]).parse(yaml: Self.yaml(top: "rate_limits:\n  enabled: false"))
        #expect(off.rateLimits.isEnabled == false)
    }

    @Test(
        "bad verify blocks name the key and line",
        arguments: [
            ("    verify:\n      scheme: hmca\n      secret: s", "routes[0].verify.scheme"),
            ("    verify:\n      scheme: stripe", "routes[0].verify.secret"),
            ("    verify:\n      scheme: hmac\n      secret: s", "routes[0].verify.header"),
            ("    verify:\n      scheme: hmac\n      secret: s\n      header: \"X Sig\"", "routes[0].verify.header"),
            ("    verify:\n      scheme: standard-webhooks\n      secret: \"whsec_!!!\"", "routes[0].verify.secret"),
            ("    verify:\n      scheme: github\n      secrets: [\"a\", \"  \"]", "routes[0].verify.secrets"),
            ("    verify:\n      scheme: stripe\n      secret: \"${NOT_SET}\"", "routes[0].verify.secret"),
            ("    verify:\n      scheme: stripe\n      secert: s", "routes[0].verify.secert"),
            ("    verify:\n      scheme: stripe\n      secret: s\n      tolerance: 5 minutes", "routes[0].verify.tolerance"),
            ("    verify:\n      scheme: github\n      secret: s\n      algorithm: sha512", "routes[0].verify.scheme"),
            ("    verify:\n      scheme: hmac\n      secret: s\n      header: X-Sig\n      encoding: base32", "routes[0].verify.encoding"),
            ("    verify:\n      scheme: rsa\n      public_key_file: /nonexistent/key.pem", "routes[0].verify.public_key_file"),
            ("    verify:\n      scheme: rsa", "routes[0].verify.public_key_file"),
        ]
    )
    func badVerify(block: String, key: String) {
        let problems = Self.problems(Self.yaml(route: block))
        #expect(problems.contains { $0.key == key && $0.line != nil }, "\(problems)")
    }

    @Test("an rsa public_key_file that is not a key is a problem on that key")
    func badPEM() throws {
        let path = NSTemporaryDirectory() + "mb-bad-\(UUID().uuidString).pem"
        try "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let problems = Self.problems(Self.yaml(route: "    verify:\n      scheme: rsa\n      public_key_file: \"\(path)\""))
        let problem = try #require(problems.first)
        #expect(problem.key == "routes[0].verify.public_key_file")
        #expect(problem.line == 6)
        #expect(problem.message.contains("public key"))
    }

    @Test(
        "bad dedup, rate_limits and cors blocks name the key",
        arguments: [
            (Self.yaml(route: "    dedup:\n      header: webhook-id\n      json_field: id"), "routes[0].dedup"),
            (Self.yaml(route: "    dedup:\n      window: 1h"), "routes[0].dedup"),
            (Self.yaml(route: "    dedup:\n      header: webhook-id\n      window: soon"), "routes[0].dedup.window"),
            (Self.yaml(route: "    dedup:\n      json_field: \"data..id\""), "routes[0].dedup.json_field"),
            (Self.yaml(top: "rate_limits:\n  per_ip: { limit: 0, period: 1s }"), "rate_limits.per_ip.limit"),
            (Self.yaml(top: "rate_limits:\n  per_route: { limit: 5 }"), "rate_limits.per_route.period"),
            (Self.yaml(top: "rate_limits:\n  per_key: { limit: 5, period: 1s, bust: 3 }"), "rate_limits.per_key.bust"),
            (Self.yaml(top: "rate_limits:\n  trusted_proxies: [\"10.0.0.0/8\", \"10.0.0.0/33\"]"), "rate_limits.trusted_proxies[1]"),
            (Self.yaml(top: "rate_limits:\n  paths:\n    - pattern: \"/api/*\"\n      limit: 3"), "rate_limits.paths[0].period"),
            (Self.yaml(top: "rate_limits:\n  paths:\n    - pattern: \"api\"\n      limit: 3\n      period: 1s"), "rate_limits.paths[0].pattern"),
            (Self.yaml(top: "rate_limits:\n  enabled: maybe"), "rate_limits.enabled"),
            (Self.yaml(top: "cors:\n  allowed_origins: [\"https://app.example.com/path\"]"), "cors.allowed_origins[0]"),
            (Self.yaml(top: "cors:\n  max_age: 10m"), "cors.allowed_origins"),
        ]
    )
    func badSections(yaml: String, key: String) {
        let problems = Self.problems(yaml)
        #expect(problems.contains { $0.key == key && $0.line != nil }, "\(problems)")
    }

    @Test("IP ranges parse IPv4, IPv6 and mapped addresses and match by prefix")
    func ipRanges() throws {
        let v4 = try #require(CIDRBlock("10.0.0.0/8"))
        #expect(v4.contains("10.200.3.4"))
        #expect(!v4.contains("11.0.0.1"))
        #expect(v4.contains("::ffff:10.1.1.1"))
        let v6 = try #require(CIDRBlock("2001:db8::/32"))
        #expect(v6.contains("2001:db8:1::5"))
        #expect(!v6.contains("2001:db9::1"))
        #expect(CIDRBlock("300.1.1.1") == nil)
        #expect(CIDRBlock("1.2.3.4/40") == nil)
        #expect(CIDRBlock("1::2::3") == nil)
        // Spaces and tabs around the text are ignored; a text of nothing else is not an address.
        #expect(CIDRBlock(" \t10.0.0.0/8 ") == v4)
        #expect(v4.contains(" 10.0.0.1\t"))
        #expect(CIDRBlock("   ") == nil)
        #expect(CIDRBlock("") == nil)
        #expect(v4.contains(address: try #require(CIDRBlock.parseAddress("10.9.9.9"))))
    }
}
