import Hummingbird

/// `405 method_not_allowed` with `Allow` for any method a path has no handler for (`TRACE`, `CONNECT`, `PROPFIND`,
/// ...), instead of the router's 404: the path exists, only the method is wrong.
///
/// The router finds no responder for such a method and falls through to its not-found responder; this middleware
/// turns that 404 into a 405 for the paths it knows. The path is canonical (``CanonicalPathMiddleware``).
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    /// The `Allow` value of each path, e.g. `"/webhook/payment": "POST"`.
    let allowedMethods: [String: String]

    func handle(
        _ request: Request,
        context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let path = request.uri.path
            guard let allow = allowedMethods[path] else { throw error }
            context.coreContext.endpointPath.value = path
            throw APIError(
                .methodNotAllowed, code: "method_not_allowed",
                message: "\(request.method) is not allowed on \(path); use \(allow)", headers: [.allow: allow]
            )
        }
    }
}
