import Hummingbird
import NIOCore

/// `GET /openapi.yaml`: the OpenAPI 3.1 description of every endpoint (`OpenAPIDocument`).
struct OpenAPIController {
    /// The paths this controller serves.
    static let ownedPaths = ["/openapi.yaml"]

    /// `/openapi.yaml`, mounted at the root.
    var endpoints: RouteCollection<AppRequestContext> {
        let router = RouteCollection(context: AppRequestContext.self)
        // Read now, while the server is being built: a missing resource stops startup, not a request.
        let document = ByteBuffer(string: OpenAPIDocument.yaml)
        router.get("/openapi.yaml") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/yaml; charset=utf-8"],
                body: .init(byteBuffer: document)
            )
        }
        return router
    }
}
