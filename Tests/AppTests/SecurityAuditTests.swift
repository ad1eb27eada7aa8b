import App
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Storage
import Testing

/// The holes an outside audit found (issue 11), each checked the way the auditor attacked it.
@Suite("Security audit findings")
struct SecurityAuditTests {
    static let sink = "http://127.0.0.1:1/"
    /// Every way of writing `/webhook/internal` that the router dispatches to the same route.
    static let pathVariants = [
        "//webhook/internal", "/webhook//internal", "/webhook/internal//", "//webhook/internal?x=1",
        "/webhook/internal/", "///webhook///internal///",
    ]

    @Test("require_api_key holds for every spelling of the path the router accepts (empty segments, trailing slash)")
    func apiKeyPathVariants() async throws {
        let fixture = try KeyedApp(
            routes: [("/webhook/internal", Self.sink)],
            extra: ""
        )
        var yaml = try String(contentsOfFile: fixture.directory.configPath, encoding: .utf8)
        yaml = yaml.replacingOccurrences(
            of: "  - path: \"/webhook/internal\"\n", with: "  - path: \"/webhook/internal\"\n    require_api_key: true\n"
        )
        let configuration = try writeConfiguration(yaml, to: fixture.directory)
        let ingest = try await fixture.keys.create(name: "provider", scope: .ingest, expiresIn: nil)
        let app = try await buildApplication(configuration: configuration, logger: quietLogger, store: fixture.store)
        try await app.test(.router) { client async throws in
            for path in Self.pathVariants {
                let response = try await client.postWebhook(path, body: "{}")
                #expect(response.status == .unauthorized, "\(path)")
                #expect(response.errorCode == "unauthorized", "\(path)")
            }
            var headers: HTTPFields = [.contentType: "application/json"]
            headers[.authorization] = "Bearer \(ingest.secret)"
            #expect(try await client.postWebhook("//webhook/internal", body: "{}", headers: headers).status == .accepted)
        }
        // The same hole over a real socket: the bytes an attacker sends, not a test client's idea of a path.
        let liveApp = try await buildApplication(configuration: configuration, logger: quietLogger, store: fixture.store)
        try await liveApp.test(.live) { client async throws in
            let port = try #require(client.port)
            let raw = try await RawConnection.connect(port: port)
            try await raw.send("POST //webhook/internal HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
            #expect(await raw.waitForResponse { $0.contains("\r\n\r\n") })
            #expect(raw.received.hasPrefix("HTTP/1.1 401"), "\(raw.received)")
            await raw.close()
        }
        let stored = try await fixture.store.messages(matching: MessageQuery(limit: 100))
        #expect(stored.map(\.message.route) == ["/webhook/internal"])
    }

    @Test("a per-path rate limit counts //webhook/limited and /webhook//limited against /webhook/limited")
    func rateLimitPathVariants() async throws {
        let directory = TestDirectory()
        let (app, store) = try await makeSecurityTestApp(directory: directory, routes: """
              - path: "/webhook/limited"
                destination: "\(Self.sink)"
            """, extra: """
            rate_limits:
              per_ip: { limit: 1000, period: 1s }
              paths:
                - pattern: "/webhook/limited"
                  limit: 5
                  period: 60s
            """)
        try await app.test(.router) { client async throws in
            for _ in 0..<5 { #expect(try await client.postWebhook("/webhook/limited", body: "{}").status == .accepted) }
            for path in ["//webhook/limited", "/webhook//limited", "/webhook/limited/", "/webhook/limited"] {
                let response = try await client.postWebhook(path, body: "{}")
                #expect(response.status == .tooManyRequests, "\(path)")
                #expect(response.errorCode == "rate_limited", "\(path)")
            }
        }
        #expect(try await store.storedCount() == 5)
    }

    @Test("a route path written with empty segments in the config is the canonical route")
    func configuredPathIsCanonical() throws {
        let directory = TestDirectory()
        let configuration = try writeConfiguration(
            testConfigurationYAML(directory: directory, routes: [("/webhook//internal/", Self.sink)]), to: directory
        )
        #expect(configuration.routes.map(\.path) == ["/webhook/internal"])
    }

    @Test("a read key reading a message posted with an admin key sees no Authorization, Cookie or signature")
    func storedCredentialsAreNotReadable() async throws {
        let fixture = try KeyedApp(routes: [("/webhook/internal", Self.sink)])
        var yaml = try String(contentsOfFile: fixture.directory.configPath, encoding: .utf8)
        yaml = yaml.replacingOccurrences(
            of: "  - path: \"/webhook/internal\"\n", with: "  - path: \"/webhook/internal\"\n    require_api_key: true\n"
        )
        let configuration = try writeConfiguration(yaml, to: fixture.directory)
        let admin = try await fixture.keys.create(name: "backend", scope: .admin, expiresIn: nil)
        let read = try await fixture.keys.create(name: "dashboard", scope: .read, expiresIn: nil)
        let app = try await buildApplication(configuration: configuration, logger: quietLogger, store: fixture.store)
        try await app.test(.router) { client async throws in
            var headers: HTTPFields = [.contentType: "application/json", .cookie: "session=s3cr3t-cookie"]
            headers[.authorization] = "Bearer \(admin.secret)"
            headers.append(HTTPField(name: HTTPField.Name("Proxy-Authorization")!, value: "Basic cHJveHk6cGFzcw=="))
            headers.append(HTTPField(name: HTTPField.Name("X-Trace")!, value: "kept"))
            let accepted = try await client.postWebhook("/webhook/internal", body: #"{"n":1}"#, headers: headers)
            #expect(accepted.status == .accepted)
            let id = try #require(accepted.json["message_id"] as? String)
            let detail = try await client.execute(
                uri: "/api/v1/admin/messages/\(id)", method: .get, headers: .bearer(read.secret)
            ) { $0 }
            #expect(detail.status == .ok)
            let text = String(buffer: detail.body)
            #expect(!text.contains(admin.secret))
            #expect(!text.contains("s3cr3t-cookie"))
            #expect(!text.contains("cHJveHk6cGFzcw=="))
            let names = (detail.json["headers"] as? [[String: Any]] ?? []).compactMap { ($0["name"] as? String)?.lowercased() }
            #expect(names.contains("x-trace"))
            #expect(!names.contains("authorization") && !names.contains("cookie") && !names.contains("proxy-authorization"))
        }
        // Not on disk either.
        let stored = try #require(try await fixture.store.messages(matching: MessageQuery(limit: 10)).first)
        #expect(!stored.message.headers.contains { ["authorization", "cookie", "proxy-authorization"].contains($0.name.lowercased()) })
    }

    @Test("a signature header is dropped unless forward_credentials names it; then it reaches the HTTP destination and reads as [redacted]")
    func signatureForwardedOnlyWhenAsked() async throws {
        let destination = TestDestination()
        let port = try await destination.start()
        defer { Task { await destination.stop() } }
        let fixture = try KeyedApp(routes: [("/placeholder", Self.sink)])
        let admin = try await fixture.keys.create(name: "ops", scope: .admin, expiresIn: nil)
        let yaml = securityTestYAML(directory: fixture.directory, routes: """
              - path: "/webhook/github"
                destination: "http://127.0.0.1:\(port)/kept"
                verify: { scheme: github, secret: "gh-route-secret" }
                forward_credentials: ["X-Hub-Signature-256"]
              - path: "/webhook/plain"
                destination: "http://127.0.0.1:\(port)/dropped"
                verify: { scheme: github, secret: "gh-route-secret" }
            """).replacingOccurrences(of: "initial_backoff: 1h", with: "initial_backoff: 100ms")
        let configuration = try writeConfiguration(yaml, to: fixture.directory)
        let body = #"{"id":"evt_1","type":"payment.succeeded"}"#
        // HMAC-SHA256 of `body` with gh-route-secret (see VerificationTests.github).
        let signature = "sha256=aabae5f7b180f68b4cf40daf3ee856c2b3279dcd1834d5c4e458594d22556e87"
        let app = try await buildApplication(configuration: configuration, logger: quietLogger, store: fixture.store)
        try await app.test(.live) { client async throws in
            let headers = HTTPFields.make([("Content-Type", "application/json"), ("X-Hub-Signature-256", signature)])
            let kept = try await client.postWebhook("/webhook/github", body: body, headers: headers)
            #expect(kept.status == .accepted)
            #expect(try await client.postWebhook("/webhook/plain", body: body, headers: headers).status == .accepted)
            #expect(await eventually { destination.requests.count == 2 })
            let byPath = Dictionary(destination.requests.map { ($0.path, $0.headers) }, uniquingKeysWith: { first, _ in first })
            let signatureName = HTTPField.Name("X-Hub-Signature-256")!
            #expect(byPath["/kept"]?[signatureName] == signature)
            #expect(byPath["/dropped"] != nil && byPath["/dropped"]?[signatureName] == nil)

            let id = try #require(kept.json["message_id"] as? String)
            let detail = try await client.execute(uri: "/api/v1/admin/messages/\(id)", method: .get, headers: .bearer(admin.secret)) { $0 }
            let shown = (detail.json["headers"] as? [[String: Any]] ?? []).first { ($0["name"] as? String)?.lowercased() == "x-hub-signature-256" }
            #expect(shown?["value"] as? String == "[redacted]")
            #expect(!String(buffer: detail.body).contains(signature))
        }
    }

    @Test("forward_credentials naming a header that is not a credential is a configuration error on its key")
    func forwardCredentialsValidation() throws {
        let directory = TestDirectory()
        let yaml = securityTestYAML(directory: directory, routes: """
              - path: "/webhook/a"
                destination: "\(Self.sink)"
                forward_credentials: ["X-Request-ID"]
            """)
        #expect {
            try writeConfiguration(yaml, to: directory)
        } throws: { error in
            "\(error)".contains("routes[0].forward_credentials[0]") && "\(error)".contains("not a credential header")
        }
    }

    @Test("/status and /health show destination URLs without userinfo or query; status.require_api_key guards /status")
    func redactedDestinations() async throws {
        let secretURL = "http://user:hunter2@127.0.0.1:1/hook?token=tok-123&x=1"
        let fixture = try KeyedApp(routes: [("/webhook/a", secretURL)], extra: "\nstatus:\n  require_api_key: true\n")
        let read = try await fixture.keys.create(name: "dash", scope: .read, expiresIn: nil)
        let app = try await fixture.build()
        try await app.test(.router) { client async throws in
            // A failed delivery puts the destination into the health detail.
            #expect(try await client.postWebhook("/webhook/a", body: "{}").status == .accepted)
            #expect(try await client.get("/status", key: nil) == Answer(.unauthorized, "unauthorized"))
            let status = try await client.execute(uri: "/status", method: .get, headers: .bearer(read.secret)) { $0 }
            #expect(status.status == .ok)
            #expect(await eventually {
                let health = try await client.execute(uri: "/health", method: .get) { String(buffer: $0.body) }
                return health.contains("127.0.0.1:1/hook")
            })
            let health = try await client.execute(uri: "/health", method: .get) { String(buffer: $0.body) }
            let statusText = try await client.execute(uri: "/status", method: .get, headers: .bearer(read.secret)) { String(buffer: $0.body) }
            for text in [health, statusText] {
                #expect(!text.contains("hunter2") && !text.contains("user:") && !text.contains("tok-123"), "\(text)")
                #expect(text.contains("http://redacted@127.0.0.1:1/hook?redacted"), "\(text)")
            }
            let list = try await client.execute(uri: "/api/v1/admin/messages", method: .get, headers: .bearer(read.secret)) { String(buffer: $0.body) }
            #expect(!list.contains("hunter2") && !list.contains("tok-123"))
        }
    }

    @Test("status.allow limits /status to some networks")
    func statusAllow() async throws {
        let fixture = try KeyedApp(extra: "\nstatus:\n  allow: [\"10.0.0.0/8\"]\n")
        let app = try await fixture.build()
        try await app.test(.live) { client async throws in
            #expect(try await client.get("/status", key: nil) == Answer(.forbidden, "forbidden"))
            #expect(try await client.get("/health/live", key: nil).status == .ok)
        }
    }

    @Test("dedup keeps {\"id\": 12345} and {\"id\": \"12345\"} apart")
    func dedupTypes() async throws {
        let directory = TestDirectory()
        let (app, store) = try await makeSecurityTestApp(directory: directory, routes: """
              - path: "/webhook/a"
                destination: "\(Self.sink)"
                dedup: { json_field: "id" }
            """)
        try await app.test(.router) { client async throws in
            #expect(try await client.postWebhook("/webhook/a", body: #"{"id": 12345}"#).status == .accepted)
            #expect(try await client.postWebhook("/webhook/a", body: #"{"id": "12345"}"#).status == .accepted)
            let again = try await client.postWebhook("/webhook/a", body: #"{"id": 12345}"#)
            #expect(again.status == .ok)
            #expect(again.json["status"] as? String == "duplicate")
        }
        #expect(try await store.storedCount() == 2)
    }

    @Test("TRACE and other unknown methods answer 405 with the path's Allow, on routes and the server's own endpoints")
    func unknownMethods() async throws {
        let directory = TestDirectory()
        let (app, _) = try await makeSecurityTestApp(directory: directory, routes: """
              - path: "/webhook/a"
                destination: "\(Self.sink)"
            """)
        try await app.test(.router) { client async throws in
            for name in ["TRACE", "PROPFIND", "CONNECT"] {
                let method = try #require(HTTPRequest.Method(name))
                let response = try await client.execute(uri: "/webhook/a", method: method) { $0 }
                #expect(response.status == .methodNotAllowed, "\(name)")
                #expect(response.headers[.allow] == "POST", "\(name)")
                #expect(response.errorCode == "method_not_allowed", "\(name)")
            }
            #expect(try await client.execute(uri: "/nowhere", method: HTTPRequest.Method("TRACE")!) { $0.status } == .notFound)
            // The server's own endpoints too, with their real methods in Allow.
            let trace = try #require(HTTPRequest.Method("TRACE"))
            let health = try await client.execute(uri: "/health", method: trace) { $0 }
            #expect(health.status == .methodNotAllowed)
            #expect(health.headers[.allow] == "GET")
            let message = try await client.execute(uri: "/api/v1/admin/messages/abc", method: .put) { $0 }
            #expect(message.status == .methodNotAllowed)
            #expect(message.headers[.allow] == "GET")
            // A literal segment wins over a capture, as in the router: this is retry-failed (POST), not {id} (GET).
            let retryAll = try await client.execute(uri: "/api/v1/admin/messages/retry-failed", method: .options) { $0 }
            #expect(retryAll.headers[.allow] == "POST")
            let keys = try await client.execute(uri: "/api/v1/admin/keys", method: .delete) { $0 }
            #expect(keys.headers[.allow] == "GET, POST")
        }
    }
}

@Suite("Connection limits")
struct ConnectionLimitTests {
    static func app(_ server: String) async throws -> (some ApplicationProtocol, TestDirectory) {
        let directory = TestDirectory()
        var yaml = testConfigurationYAML(directory: directory, routes: [("/webhook/a", "http://127.0.0.1:1/")])
        yaml = yaml.replacingOccurrences(of: "  shutdown_timeout: 10s\n", with: "  shutdown_timeout: 10s\n\(server)")
        let configuration = try writeConfiguration(yaml, to: directory)
        return (try await buildApplication(configuration: configuration, logger: quietLogger), directory)
    }

    @Test("a client sending its request head a byte at a time is closed after request_head_timeout; others are served")
    func slowHeaders() async throws {
        let (app, directory) = try await Self.app("  request_head_timeout: 2s\n  idle_timeout: 30s\n")
        defer { withExtendedLifetime(directory) {} }
        do {
            try await app.test(.live) { client async throws in
                let port = try #require(client.port)
                // The test client's own connection opened before this test ran, and the head timeout counts for it
                // too: the others are served on connections that send their request as soon as they open.
                let slow = try await RawConnection.connect(port: port)
                let opened = ContinuousClock.now
                try await slow.send("POST /webhook/a HTTP/1.1\r\nHost: x\r\n")
                // Keep trickling header bytes: each one arrives well within any per-read timeout.
                let trickle = Task {
                    for _ in 0..<600 where !slow.isClosed {
                        try? await slow.send("X")
                        try? await Task.sleep(for: .milliseconds(100))
                    }
                }
                let other = try await RawConnection.connect(port: port)
                try await other.send("POST /webhook/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
                #expect(await other.waitForResponse { $0.hasPrefix("HTTP/1.1 202") })
                #expect(await slow.waitForClose(timeout: .seconds(30)))
                trickle.cancel()
                // Closed by the head timeout, long before the trickle (60 s) or the idle timeout (30 s) would end.
                #expect(ContinuousClock.now - opened < .seconds(25))
                #expect(!slow.received.contains("202"))
            }
        }
    }

    @Test("an idle keep-alive connection is closed after idle_timeout")
    func idleKeepAlive() async throws {
        let (app, directory) = try await Self.app("  request_head_timeout: 30s\n  idle_timeout: 1s\n")
        defer { withExtendedLifetime(directory) {} }
        do {
            try await app.test(.live) { client async throws in
                let raw = try await RawConnection.connect(port: try #require(client.port))
                try await raw.send("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(await raw.waitForResponse { $0.hasPrefix("HTTP/1.1 200") && $0.contains("alive") })
                #expect(await raw.waitForClose(timeout: .seconds(20)))
            }
        }
    }

    @Test("over max_connections a new connection gets 503 too_many_connections; capacity returns when others close")
    func connectionCap() async throws {
        let (app, directory) = try await Self.app("  max_connections: 3\n")
        defer { withExtendedLifetime(directory) {} }
        do {
            try await app.test(.live) { client async throws in
                let port = try #require(client.port)
                var held: [RawConnection] = []
                var refused: RawConnection?
                // The test client may hold a connection of its own, so count up until one is refused.
                for _ in 0..<5 where refused == nil {
                    let raw = try await RawConnection.connect(port: port)
                    try await raw.send("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
                    #expect(await raw.waitForResponse { $0.contains("\r\n\r\n") && ($0.contains("alive") || $0.contains("}}")) })
                    if raw.received.hasPrefix("HTTP/1.1 503") { refused = raw } else { held.append(raw) }
                }
                let refusal = try #require(refused)
                #expect(held.count <= 3 && !held.isEmpty)
                #expect(refusal.received.contains("too_many_connections"))
                #expect(await refusal.waitForClose())
                for raw in held { await raw.close() }
                #expect(await eventually {
                    let raw = try await RawConnection.connect(port: port)
                    try await raw.send("GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    _ = await raw.waitForResponse { $0.contains("\r\n\r\n") }
                    await raw.close()
                    return raw.received.hasPrefix("HTTP/1.1 200")
                })
            }
        }
    }

    @Test("too many or too large header fields answer 431, not 400")
    func oversizedHeads() async throws {
        let (app, directory) = try await Self.app("")
        defer { withExtendedLifetime(directory) {} }
        do {
            try await app.test(.live) { client async throws in
                let port = try #require(client.port)
                let large = try await RawConnection.connect(port: port)
                // The server may answer and close while the rest of the head is still being written: not an error.
                try? await large.send("POST /webhook/a HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 100_000))\r\n\r\n")
                #expect(await large.waitForResponse { $0.contains("\r\n\r\n") })
                #expect(large.received.hasPrefix("HTTP/1.1 431"), "\(large.received.prefix(80))")
                #expect(large.received.contains("headers_too_large"))
                let many = try await RawConnection.connect(port: port)
                let fields = (0..<1_100).map { "X-F\($0): v\r\n" }.joined()
                try? await many.send("POST /webhook/a HTTP/1.1\r\nHost: x\r\n\(fields)\r\n")
                #expect(await many.waitForResponse { $0.contains("\r\n\r\n") })
                #expect(many.received.hasPrefix("HTTP/1.1 431"), "\(many.received.prefix(80))")
            }
        }
    }
}

@Suite("Reserved paths")
struct ReservedPathTests {
    @Test("every path the server serves itself is reserved, and buildApplication refuses a route on one")
    func reservedPathsCoverTheServer() async throws {
        for path in ["/health", "/health/ready", "/status", "/metrics", "/openapi.yaml", "/api/v1/admin/x"] {
            #expect(reservedServerPaths.contains { path == $0 || path.hasPrefix($0 + "/") }, "\(path)")
        }
        let directory = TestDirectory()
        // Loaded without the server's list, as a library user might: the composition root still refuses it.
        let configuration = try writeConfiguration(
            testConfigurationYAML(directory: directory, routes: [("/metrics", "http://127.0.0.1:1/")]), to: directory
        )
        await #expect {
            _ = try await buildApplication(configuration: configuration, logger: quietLogger)
        } throws: { error in
            "\(error)".contains("routes[0].path") && "\(error)".contains("reserved")
        }
    }
}
