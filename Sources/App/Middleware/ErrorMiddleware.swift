import HTTPTypes
import Hummingbird
import Logging

/// Turns every error into the JSON error shape: Hummingbird's own `HTTPError`s (404, 413, ...) get a code,
/// anything unexpected becomes a 500 whose detail goes to the log, never to the client. Also adds the security
/// headers every response carries.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(
        _ request: Request,
        context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = try error.response(from: request, context: context)
        } catch let error as HTTPError {
            let apiError: APIError
            switch error.status {
            case .notFound: apiError = .notFound(request.uri.path)
            case .contentTooLarge:
                apiError = APIError(.contentTooLarge, code: "payload_too_large", message: "request body is larger than the limit")
            default:
                apiError = APIError(error.status, code: Self.code(for: error.status), message: error.body ?? error.status.reasonPhrase)
            }
            response = try apiError.response(from: request, context: context)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            response = try APIError(.internalServerError, code: "internal_error", message: "internal error")
                .response(from: request, context: context)
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.xFrameOptions] = "DENY"
        response.headers[.referrerPolicy] = "no-referrer"
        response.headers[.cacheControl] = response.headers[.cacheControl] ?? "no-store"
        return response
    }

    static func code(for status: HTTPResponse.Status) -> String {
        status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_")
            .filter { $0.isLetter || $0 == "_" }
    }
}

extension HTTPField.Name {
    static let xContentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}
