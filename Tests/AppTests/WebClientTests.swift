import App
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Web client")
struct WebClientTests {
    @Test("GET / serves the page, /app/ its script and styles, under a same-origin-only CSP; the page loads only those")
    func servesTheClient() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.router) { client in
            let page = try await client.call(.get, "/")
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            let policy = try #require(page.headers[.contentSecurityPolicy])
            #expect(policy.contains("default-src 'self'") && policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"))
            #expect(page.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            let html = String(buffer: page.body)
            #expect(html.contains(#"src="/app/app.js""#) && html.contains(#"href="/app/app.css""#))
            // Nothing from another origin, and no inline script the CSP would refuse.
            #expect(!html.contains("http://") && !html.contains("https://"))
            #expect(html.components(separatedBy: "<script").count == 2, "one script element, the external one")
            #expect(!html.contains(" onclick=") && !html.contains(" style="))
            for (path, type) in [("/app/app.js", "text/javascript; charset=utf-8"), ("/app/app.css", "text/css; charset=utf-8")] {
                let asset = try await client.call(.get, path)
                #expect(asset.status == .ok && asset.headers[.contentType] == type, "\(path)")
                #expect(asset.body.readableBytes > 1000, "\(path) is the client, not a stub")
            }
            #expect(try await client.call(.get, "/app/other.js").status == .notFound)
            #expect(try await client.call(.get, "/app/..%2Fopenapi.yaml").status == .notFound)
        }
    }
}
