import Core
import HTTPTypes
import Hummingbird

/// Browser cross-origin access from `cors:`. A preflight (`OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`) from an allowed origin gets `204` with the allowed methods, headers and max
/// age; from any other origin `403 cors_origin_denied`. Other responses to an allowed origin carry
/// `Access-Control-Allow-Origin` with that origin echoed (never `*`, so credentials work) and `Vary: Origin`;
/// other origins get no CORS headers, so the browser withholds the response.
///
/// Sits outside the error middleware so error responses (401, 429, ...) carry the headers too and a browser
/// client can read them.
struct CORSMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let settings: CORSSettings

    func handle(
        _ request: Request,
        context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let origin = request.headers[.origin] else { return try await next(request, context) }
        let isAllowed = settings.allows(origin: origin)
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            guard isAllowed else {
                return try APIError(.forbidden, code: "cors_origin_denied", message: "origin \(origin) is not allowed")
                    .response(from: request, context: context)
            }
            var headers: HTTPFields = [
                .accessControlAllowOrigin: origin,
                .accessControlAllowMethods: settings.allowedMethods.joined(separator: ", "),
                .accessControlMaxAge: String(Int(settings.maxAge.seconds)),
                .vary: "Origin",
            ]
            if !settings.allowedHeaders.isEmpty {
                headers[.accessControlAllowHeaders] = settings.allowedHeaders.joined(separator: ", ")
            }
            return Response(status: .noContent, headers: headers)
        }
        var response = try await next(request, context)
        if isAllowed {
            response.headers[.accessControlAllowOrigin] = origin
            response.headers.append(HTTPField(name: .vary, value: "Origin"))
        }
        return response
    }
}
