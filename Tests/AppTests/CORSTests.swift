import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// CORS: preflights from allowed origins are answered, others refused; actual responses echo only allowed origins.
@Suite("CORS")
struct CORSTests {
    func makeApp(_ directory: TestDirectory) async throws -> some ApplicationProtocol {
        try await makeSecurityTestApp(directory: directory, routes: """
              - path: "/webhook/a"
                destination: "http://127.0.0.1:1/"
            """, extra: """
            cors:
              allowed_origins: ["https://app.example.com"]
              allowed_methods: [GET, POST]
              allowed_headers: [Content-Type, Authorization]
              max_age: 10m
            """).app
    }

    @Test("preflight from an allowed origin gets 204 with the allowed methods, headers and max age")
    func preflightAllowed() async throws {
        let directory = TestDirectory()
        try await makeApp(directory).test(.live) { client async throws in
            let response = try await client.execute(
                uri: "/webhook/a", method: .options,
                headers: .make([("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "POST")])
            ) { $0 }
            #expect(response.status == .noContent)
            #expect(response.headers[.accessControlAllowOrigin] == "https://app.example.com")
            #expect(response.headers[.accessControlAllowMethods] == "GET, POST")
            #expect(response.headers[.accessControlAllowHeaders] == "Content-Type, Authorization")
            #expect(response.headers[.accessControlMaxAge] == "600")
        }
    }

    @Test("preflight from another origin is refused with 403 and no CORS headers")
    func preflightDenied() async throws {
        let directory = TestDirectory()
        try await makeApp(directory).test(.router) { client async throws in
            let response = try await client.execute(
                uri: "/webhook/a", method: .options,
                headers: .make([("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST")])
            ) { $0 }
            #expect(response.status == .forbidden)
            #expect(response.errorCode == "cors_origin_denied")
            #expect(response.headers[.accessControlAllowOrigin] == nil)
        }
    }

    @Test("responses echo Access-Control-Allow-Origin only for allowed origins, errors included")
    func actualRequests() async throws {
        let directory = TestDirectory()
        try await makeApp(directory).test(.router) { client async throws in
            let allowed = try await client.postWebhook("/webhook/a", body: "{}", headers: .make([("Origin", "https://app.example.com")]))
            #expect(allowed.status == .accepted)
            #expect(allowed.headers[.accessControlAllowOrigin] == "https://app.example.com")
            #expect(allowed.headers[.vary] == "Origin")
            #expect(allowed.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            let other = try await client.postWebhook("/webhook/a", body: "{}", headers: .make([("Origin", "https://evil.example")]))
            #expect(other.status == .accepted)
            #expect(other.headers[.accessControlAllowOrigin] == nil)
            let missing = try await client.execute(uri: "/nope", method: .get, headers: .make([("Origin", "https://app.example.com")])) { $0 }
            #expect(missing.status == .notFound)
            #expect(missing.headers[.accessControlAllowOrigin] == "https://app.example.com")
        }
    }
}
