import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Storage
import Testing

/// Token-bucket rate limits through the HTTP stack: 429 with Retry-After past the limit, recovery after the
/// period, stricter path rules, per-key and per-route scopes, ops endpoints exempt, and X-Forwarded-For believed
/// only from trusted proxies.
@Suite("Rate limits")
struct RateLimitTests {
    static let sink = "http://127.0.0.1:1/"
    static let routes = """
          - path: "/webhook/a"
            destination: "\(sink)"
          - path: "/webhook/b"
            destination: "\(sink)"
        """

    func expectLimited(_ response: TestResponse, retryAfter: ClosedRange<Int>) {
        #expect(response.status == .tooManyRequests)
        #expect(response.errorCode == "rate_limited")
        let seconds = response.headers[.retryAfter].flatMap(Int.init)
        #expect(seconds.map(retryAfter.contains) == true, "Retry-After: \(String(describing: response.headers[.retryAfter]))")
    }

    @Test("per_ip: 429 with Retry-After after the limit, recovery after the period; /health and /metrics exempt")
    func perIPAndRecovery() async throws {
        let directory = TestDirectory()
        let clock = TestWallClock()
        let (app, store) = try await makeSecurityTestApp(directory: directory, routes: Self.routes, extra: """
            rate_limits:
              per_ip: { limit: 1, period: 1s, burst: 3 }
            """, clock: clock)
        try await app.test(.live) { client async throws in
            // A burst of 3, refilled one a second: quick requests run out after about 3. Counted rather than
            // assumed, so a stalled test machine (which refills the bucket meanwhile) cannot make this flaky.
            var accepted = 0
            var limited: TestResponse?
            while limited == nil, accepted < 50 {
                let response = try await client.postWebhook(accepted % 2 == 0 ? "/webhook/a" : "/webhook/b", body: "{}")
                if response.status == .accepted { accepted += 1 } else { limited = response }
            }
            #expect(accepted >= 3)
            let refused = try #require(limited)
            expectLimited(refused, retryAfter: 1...1)
            for _ in 0..<10 {
                #expect(try await client.execute(uri: "/health/live", method: .get) { $0.status } == .ok)
                #expect(try await client.execute(uri: "/metrics", method: .get) { $0.status } != .tooManyRequests)
            }
            // After Retry-After the client is served again.
            clock.advance(by: .milliseconds(1100))
            #expect(try await client.postWebhook("/webhook/a", body: "{}").status == .accepted)
            #expect(try await store.storedCount() == accepted + 1)
        }
    }

    @Test("a path pattern gets its stricter limit; other paths keep the general one")
    func pathRule() async throws {
        let directory = TestDirectory()
        let (app, _) = try await makeSecurityTestApp(directory: directory, routes: Self.routes, extra: """
            rate_limits:
              per_ip: { limit: 100, period: 1s }
              paths:
                - pattern: "/webhook/a*"
                  limit: 2
                  period: 60s
            """)
        try await app.test(.live) { client async throws in
            #expect(try await client.postWebhook("/webhook/a", body: "{}").status == .accepted)
            #expect(try await client.postWebhook("/webhook/a", body: "{}").status == .accepted)
            // 2 per 60 s: the next token is 30 s away.
            expectLimited(try await client.postWebhook("/webhook/a", body: "{}"), retryAfter: 20...30)
            for _ in 0..<5 { #expect(try await client.postWebhook("/webhook/b", body: "{}").status == .accepted) }
        }
    }

    @Test("X-Forwarded-For names the client only when the peer is a trusted proxy, right-most untrusted entry")
    func forwardedFor() async throws {
        let directory = TestDirectory()
        let (app, _) = try await makeSecurityTestApp(directory: directory, routes: Self.routes, extra: """
            rate_limits:
              per_ip: { limit: 1, period: 60s }
              trusted_proxies: ["127.0.0.1/32", "10.0.0.0/8"]
            """)
        @Sendable func post(_ client: some TestClientProtocol, _ forwarded: String) async throws -> TestResponse {
            try await client.postWebhook("/webhook/a", body: "{}", headers: .make([("X-Forwarded-For", forwarded)]))
        }
        try await app.test(.live) { client async throws in
            do { let response = try await post(client, "203.0.113.5"); #expect(response.status == .accepted) }
            do { let response = try await post(client, "203.0.113.5"); #expect(response.status == .tooManyRequests) }
            do { let response = try await post(client, "203.0.113.6"); #expect(response.status == .accepted) }
            // The right-most untrusted hop counts; a client-supplied entry left of it cannot dodge the limit.
            do { let response = try await post(client, "198.51.100.1, 203.0.113.7, 10.1.2.3"); #expect(response.status == .accepted) }
            do { let response = try await post(client, "9.9.9.9, 203.0.113.7"); #expect(response.status == .tooManyRequests) }
        }

        let untrustedDirectory = TestDirectory()
        let (untrusted, _) = try await makeSecurityTestApp(directory: untrustedDirectory, routes: Self.routes, extra: """
            rate_limits:
              per_ip: { limit: 1, period: 60s }
              trusted_proxies: ["10.0.0.0/8"]
            """)
        try await untrusted.test(.live) { client async throws in
            // The peer (127.0.0.1) is not a trusted proxy, so its X-Forwarded-For is ignored: both count as 127.0.0.1.
            do { let response = try await post(client, "203.0.113.5"); #expect(response.status == .accepted) }
            do { let response = try await post(client, "203.0.113.6"); #expect(response.status == .tooManyRequests) }
        }
    }

    @Test("per_key limits each bearer token separately; per_route limits a route across clients")
    func perKeyAndPerRoute() async throws {
        let directory = TestDirectory()
        let (app, _) = try await makeSecurityTestApp(directory: directory, routes: Self.routes, extra: """
            rate_limits:
              per_key: { limit: 1, period: 60s }
              per_route: { limit: 3, period: 60s }
            """)
        try await app.test(.live) { client async throws in
            let keyA = HTTPFields.make([("Authorization", "Bearer mb_key_a")])
            let keyB = HTTPFields.make([("Authorization", "Bearer mb_key_b")])
            #expect(try await client.postWebhook("/webhook/a", body: "{}", headers: keyA).status == .accepted)
            expectLimited(try await client.postWebhook("/webhook/a", body: "{}", headers: keyA), retryAfter: 50...60)
            #expect(try await client.postWebhook("/webhook/a", body: "{}", headers: keyB).status == .accepted)
            // Route /webhook/a has taken 2 of its 3 (the key-limited request was stopped before the route bucket).
            #expect(try await client.postWebhook("/webhook/a", body: "{}").status == .accepted)
            expectLimited(try await client.postWebhook("/webhook/a", body: "{}"), retryAfter: 10...20)
            #expect(try await client.postWebhook("/webhook/b", body: "{}").status == .accepted)
        }
    }

    @Test("without rate_limits nothing is limited")
    func offByDefault() async throws {
        let directory = TestDirectory()
        let (app, _) = try await makeSecurityTestApp(directory: directory, routes: Self.routes)
        try await app.test(.router) { client async throws in
            for _ in 0..<200 { #expect(try await client.postWebhook("/webhook/a", body: "{}").status == .accepted) }
        }
    }
}
