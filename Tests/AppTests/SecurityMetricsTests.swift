import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Prometheus
import Testing

/// The counters the hardening features record through swift-metrics, read from the tests' shared registry.
@Suite("Security metrics")
struct SecurityMetricsTests {
    static func samples() throws -> [PrometheusSample] {
        var bytes: [UInt8] = []
        TestMetrics.registry.emit(into: &bytes)
        return try parsePrometheusText(String(decoding: bytes, as: UTF8.self))
    }

    static func value(_ name: String, _ labels: [String: String]) throws -> Double {
        try samples().first { $0.name == name && $0.labels == labels }?.value ?? 0
    }

    @Test("signature failures count per route and scheme; 429s count per scope")
    func counters() async throws {
        _ = TestMetrics.registry
        // A route path unique to this test, so its label values are its own in the shared registry.
        let route = "/webhook/metrics-\(UUID().uuidString.prefix(8).lowercased())"
        let directory = TestDirectory()
        let (app, _) = try await makeSecurityTestApp(directory: directory, routes: """
              - path: "\(route)"
                destination: "http://127.0.0.1:1/"
                verify: { scheme: github, secret: s }
            """, extra: """
            rate_limits:
              paths:
                - pattern: "\(route)"
                  limit: 2
                  period: 60s
            """)
        let limitedBefore = try Self.value("messagebridge_rate_limited_total", ["scope": "path"])
        try await app.test(.router) { client async throws in
            for _ in 0..<2 { #expect(try await client.postWebhook(route, body: "{}").status == .unauthorized) }
            #expect(try await client.postWebhook(route, body: "{}").status == .tooManyRequests)
        }
        #expect(try Self.value("messagebridge_signature_failures_total", ["route": route, "scheme": "github"]) == 2)
        #expect(try Self.value("messagebridge_rate_limited_total", ["scope": "path"]) >= limitedBefore + 1)
    }
}
