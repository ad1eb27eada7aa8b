import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The web chat client: `GET /` (the page) and `GET /app/{file}` (its script and style sheet), plain files from
/// `Resources/web` in the App bundle, read once while the router is built.
///
/// Served with a Content-Security-Policy that allows nothing but this origin (scripts, styles, the API and the
/// socket) and `no-cache`, so a new binary's client is picked up at once; ``ErrorMiddleware`` adds `nosniff`,
/// `X-Frame-Options: DENY` and `Referrer-Policy` to this response like to every other.
struct WebClientController {
    /// The paths this controller serves (`/` itself only as an exact path).
    static let ownedPaths = ["/app"]

    /// The files under `/app/`, by name, with their content types.
    static let assets: [String: String] = [
        "app.js": "text/javascript; charset=utf-8",
        "app.css": "text/css; charset=utf-8",
    ]

    static let contentSecurityPolicy = "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
        + "script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

    var endpoints: RouteCollection<AppRequestContext> {
        let router = RouteCollection(context: AppRequestContext.self)
        let page = Self.response(Self.file("index.html"), type: "text/html; charset=utf-8")
        router.get("/") { _, _ in page }
        for (name, type) in Self.assets {
            let asset = Self.response(Self.file(name), type: type)
            router.get("/app/\(name)") { _, _ in asset }
        }
        return router
    }

    private static func response(_ body: ByteBuffer, type: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: type,
                .contentSecurityPolicy: contentSecurityPolicy,
                .cacheControl: "no-cache",
            ],
            body: .init(byteBuffer: body)
        )
    }

    /// A file of `Resources/web`; a missing one stops startup, like the OpenAPI document.
    private static func file(_ name: String) -> ByteBuffer {
        guard let directory = Bundle.module.url(forResource: "web", withExtension: nil),
              let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path)
        else {
            fatalError("web/\(name) is missing from the App resource bundle at \(Bundle.module.bundlePath): install the bundle next to the binary")
        }
        return ByteBuffer(bytes: data)
    }
}
