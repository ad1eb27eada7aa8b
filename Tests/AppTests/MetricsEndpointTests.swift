import App
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Storage
import Testing

@Suite("Metrics endpoint")
struct MetricsEndpointTests {
    @Test("/metrics after traffic: Prometheus text with bounded route labels, histograms, backlog and delivery counters")
    func scrapeAfterTraffic() async throws {
        // A route path unique to this test, so its label values are its own in the shared registry.
        let route = "/metrics-\(UUID().uuidString.prefix(8).lowercased())"
        let fixture = try KeyedApp(routes: [(route, "http://127.0.0.1:1/")])
        let app = try await fixture.build(metrics: TestMetrics.makeAppMetrics())
        let admin = try await fixture.keys.create(name: "root", scope: .admin, expiresIn: nil)
        let probe = "/probe-\(UUID().uuidString)"
        let text = try await app.test(.live) { client in
            for _ in 0..<3 { #expect(try await client.postWebhook(route, body: "{}").status == .accepted) }
            #expect(try await client.execute(uri: probe, method: .get) { $0.status } == .notFound)
            #expect(try await client.execute(uri: route, method: .get) { $0.status } == .methodNotAllowed)
            #expect(try await client.get("/api/v1/admin/messages/\(UUID().uuidString)", key: admin.secret).status == .notFound)
            let scrape = try await client.execute(uri: "/metrics", method: .get) { $0 }
            #expect(scrape.status == .ok)
            #expect(scrape.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            return String(buffer: scrape.body)
        }
        let samples = try parsePrometheusText(text)
        func value(_ name: String, _ labels: [String: String]) -> Double? {
            samples.first { $0.name == name && $0.labels == labels }?.value
        }
        #expect(value("http_requests_total", ["method": "POST", "route": route, "status": "202"]) == 3)
        #expect(value("http_requests_total", ["method": "GET", "route": route, "status": "405"]) == 1)
        #expect(value("http_requests_total", ["method": "GET", "route": "/api/v1/admin/messages/{id}", "status": "404"]) ?? 0 >= 1)
        #expect((value("http_requests_total", ["method": "GET", "route": "unmatched", "status": "404"]) ?? 0) >= 1)
        // Raw paths never become label values.
        #expect(!text.contains(probe))
        #expect(!samples.contains { $0.name == "http_requests_total" && $0.labels["route"]?.hasPrefix("/") == false && $0.labels["route"] != "unmatched" })
        #expect(!samples.contains { $0.labels["route"]?.hasPrefix("/api/v1/admin/messages/") == true && $0.labels["route"] != "/api/v1/admin/messages/{id}" })
        // The duration histogram, in seconds, with cumulative buckets ending in +Inf and a count matching.
        let buckets = samples.filter { $0.name == "http_request_duration_seconds_bucket" && $0.labels["route"] == route && $0.labels["method"] == "POST" }
        #expect(buckets.count >= 10)
        #expect(buckets.last?.labels["le"] == "+Inf")
        #expect(buckets.last?.value == 3)
        #expect(zip(buckets, buckets.dropFirst()).allSatisfy { $0.value <= $1.value })
        #expect(value("http_request_duration_seconds_count", ["method": "POST", "route": route]) == 3)
        #expect(text.contains("# TYPE http_request_duration_seconds histogram"))
        #expect(text.contains("# TYPE http_requests_total counter"))
        // Backlog gauges per status and the WebSocket gauge are registered. Their values are process-wide in this
        // shared registry (another test's scrape may set them between this one's refresh and render), so the exact
        // counts are checked on a registry of its own in `backlogCountsThisStore`.
        for status in MessageStatus.allCases {
            #expect(value("messagebridge_backlog", ["status": status.rawValue]) != nil)
        }
        #expect(value("websocket_connections_active", [:]) != nil)
        #expect(value("messagebridge_oldest_pending_age_seconds", [:]) != nil)
        // Each destination's breaker gauge exists from start-up (0 closed, 1 open, 2 half-open).
        let breakerState = try #require(value("circuit_breaker_state", ["destination": "http://127.0.0.1:1"]))
        #expect([0, 1, 2].contains(breakerState))
        #expect(text.contains("# TYPE circuit_breaker_state gauge"))
        // What the ingest code records through swift-metrics reaches the same registry.
        #expect(value("messagebridge_messages_accepted_total", ["route": route]) == 3)
        // Every metric family has HELP text written for it (not the generic fallback of an unlisted label).
        let types = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        let helps = Dictionary(text.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }.map { line -> (Substring, Substring) in
            let parts = line.split(separator: " ", maxSplits: 3)
            return (parts[2], parts.count > 3 ? parts[3] : "")
        }, uniquingKeysWith: { first, _ in first })
        #expect(!types.isEmpty)
        for name in types {
            #expect(helps[name].map { !$0.isEmpty && !$0.hasPrefix("MessageBridge metric ") } == true, "\(name) has no HELP text of its own")
        }
        // Every sample name follows Prometheus naming.
        #expect(samples.allSatisfy { $0.name.allSatisfy { $0.isLetter && $0.isLowercase || $0.isNumber || $0 == "_" } })
    }

    @Test("messagebridge_backlog counts this store's messages per status; the oldest pending one's age is known")
    func backlogCountsThisStore() async throws {
        let route = "/backlog-\(UUID().uuidString.prefix(8).lowercased())"
        let fixture = try KeyedApp(routes: [(route, "http://127.0.0.1:1/")])
        // A registry of its own: no other application running in this process sets these gauges.
        let app = try await fixture.build(metrics: AppMetrics())
        let text = try await app.test(.live) { client in
            for _ in 0..<3 { #expect(try await client.postWebhook(route, body: "{}").status == .accepted) }
            let scrape = try await client.execute(uri: "/metrics", method: .get) { $0 }
            #expect(scrape.status == .ok)
            return String(buffer: scrape.body)
        }
        let samples = try parsePrometheusText(text)
        let backlog = samples.filter { $0.name == "messagebridge_backlog" }
        #expect(Set(backlog.compactMap { $0.labels["status"] }) == Set(MessageStatus.allCases.map(\.rawValue)))
        #expect(backlog.map(\.value).reduce(0, +) == 3)
        #expect(samples.first { $0.name == "websocket_connections_active" }?.value == 0)
        // Three messages wait for an unreachable destination: the oldest one's age is known.
        #expect((samples.first { $0.name == "messagebridge_oldest_pending_age_seconds" }?.value ?? -1) >= 0)
    }

    /// Where `promtool` is installed (Debian's `prometheus` package, which scripts/setup.sh installs), if it is.
    static let promtoolPath = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first(where: FileManager.default.isExecutableFile(atPath:))

    @Test(
        "/metrics after traffic passes `promtool check metrics`",
        .enabled(if: MetricsEndpointTests.promtoolPath != nil, "promtool is not installed (apt-get install prometheus provides it)")
    )
    func promtoolAcceptsExposition() async throws {
        let promtool = try #require(Self.promtoolPath)
        let route = "/promtool-\(UUID().uuidString.prefix(8).lowercased())"
        let fixture = try KeyedApp(routes: [(route, "http://127.0.0.1:1/")])
        let app = try await fixture.build(metrics: TestMetrics.makeAppMetrics())
        let text = try await app.test(.live) { client in
            for _ in 0..<3 { #expect(try await client.postWebhook(route, body: "{}").status == .accepted) }
            #expect(try await client.execute(uri: "/probe-\(UUID().uuidString)", method: .get) { $0.status } == .notFound)
            #expect(try await client.execute(uri: route, method: .get) { $0.status } == .methodNotAllowed)
            let scrape = try await client.execute(uri: "/metrics", method: .get) { $0 }
            #expect(scrape.status == .ok)
            return String(buffer: scrape.body)
        }
        try runPromtool(promtool, on: text)
    }

    @Test("metrics.enabled false serves no /metrics; allow limits networks; require_api_key needs an admin or read key")
    func restrictions() async throws {
        let disabled = try KeyedApp(extra: "metrics:\n  enabled: false\n")
        let disabledApp = try await disabled.build()
        try await disabledApp.test(.router) { client in
            let status = try await client.execute(uri: "/metrics", method: .get) { $0.status }
            #expect(status == .notFound)
        }

        let elsewhere = try KeyedApp(extra: "metrics:\n  allow: [\"10.0.0.0/8\", \"fd00::/8\"]\n")
        #expect(elsewhere.configuration.metrics.allow.map(\.description) == ["10.0.0.0/8", "fd00:0:0:0:0:0:0:0/8"])
        let elsewhereApp = try await elsewhere.build()
        try await elsewhereApp.test(.live) { client in
            let refused = try await client.execute(uri: "/metrics", method: .get) { $0 }
            #expect(refused.status == .forbidden)
            #expect((refused.json["error"] as? [String: Any])?["code"] as? String == "forbidden")
        }

        let loopback = try KeyedApp(extra: "metrics:\n  allow: [\"127.0.0.1/32\", \"::1\"]\n  require_api_key: true\n")
        let read = try await loopback.keys.create(name: "prometheus", scope: .read, expiresIn: nil)
        let ingest = try await loopback.keys.create(name: "provider", scope: .ingest, expiresIn: nil)
        let loopbackApp = try await loopback.build()
        try await loopbackApp.test(.live) { client async throws in
            #expect(try await client.get("/metrics", key: nil) == Answer(.unauthorized, "unauthorized"))
            #expect(try await client.get("/metrics", key: ingest.secret) == Answer(.forbidden, "forbidden"))
            #expect(try await client.get("/metrics", key: read.secret).status == .ok)
        }
    }

    @Test("a bad metrics.allow entry is a configuration error naming the key")
    func badAllow() throws {
        let directory = TestDirectory()
        let yaml = testConfigurationYAML(directory: directory, routes: [("/hook", "http://127.0.0.1:1/")])
            + "metrics:\n  allow: [\"127.0.0.1/33\"]\n  require_api_key: maybe\n"
        #expect {
            try writeConfiguration(yaml, to: directory)
        } throws: { error in
            let text = "\(error)"
            return text.contains("metrics.allow[0]") && text.contains("127.0.0.1/33") && text.contains("metrics.require_api_key")
        }
    }

    /// Runs `promtool check metrics` on the exposition.
    func runPromtool(_ promtool: String, on text: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: promtool)
        process.arguments = ["check", "metrics"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let report = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // Nothing at all: every metric has HELP text (DescribedMetricsFactory), names and types are sound.
        #expect(process.terminationStatus == 0 && report.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool check metrics: \(report)")
    }
}
