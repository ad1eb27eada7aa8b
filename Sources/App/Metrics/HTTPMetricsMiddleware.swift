import Hummingbird

/// Records `http_requests_total{method,route,status}` and `http_request_duration_seconds{method,route}` for every
/// request. The route label is the matched route's template (`/api/v1/admin/messages/{id}`), or `unmatched`, so a
/// scanner probing random paths cannot grow the label set. Outermost, so it sees the final status of every answer.
struct HTTPMetricsMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let metrics: AppMetrics

    /// Methods kept as their own label value; anything else is `other`.
    static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    /// The matched route template; `unmatched` when no route matched (Hummingbird then leaves the path unset or
    /// sets a placeholder such as `NotFound`, which is not a template).
    static func routeLabel(_ context: AppRequestContext) -> String {
        guard let path = context.endpointPath, path.hasPrefix("/") else { return "unmatched" }
        return path
    }

    func handle(
        _ request: Request,
        context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let method = Self.knownMethods.contains(request.method.rawValue) ? request.method.rawValue : "other"
        do {
            let response = try await next(request, context)
            metrics.recordRequest(
                method: method, route: Self.routeLabel(context), status: response.status.code,
                duration: ContinuousClock.now - start
            )
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.recordRequest(
                method: method, route: Self.routeLabel(context), status: status,
                duration: ContinuousClock.now - start
            )
            throw error
        }
    }
}
