import Core
import HTTPTypes
import Hummingbird
import Logging

/// Checks `Authorization: Bearer <key>` against the API key store: 401 `unauthorized` for a missing, unknown,
/// expired or revoked key, 403 `forbidden` for a key whose scope is not allowed here.
struct APIKeyAuthenticator: Sendable {
    let manager: APIKeyManager

    /// The key the request presents, if it is active and its scope is in `allowed`; throws the 401 or 403.
    @discardableResult
    func authenticate(_ request: Request, context: AppRequestContext, allowed: Set<APIKeyScope>) async throws -> APIKeyRecord {
        guard let presented = Self.bearerToken(request.headers[.authorization]) else {
            throw Self.unauthorized("an API key is required: send Authorization: Bearer <key>")
        }
        let key: APIKeyRecord?
        do {
            key = try await manager.authenticate(presented, logger: context.logger)
        } catch {
            context.logger.error("cannot check API key", metadata: ["error": "\(error)"])
            throw APIError(.serviceUnavailable, code: "store_unavailable", message: "API keys cannot be checked right now; retry later")
        }
        guard let key else {
            context.logger.notice("rejected API key", metadata: ["key_prefix": "\(Self.safePrefix(presented))"])
            throw Self.unauthorized("the API key is unknown, expired or revoked")
        }
        guard allowed.contains(key.scope) else {
            throw APIError(
                .forbidden, code: "forbidden",
                message: "a key of scope \(key.scope.rawValue) may not do this; it needs one of: \(allowed.map(\.rawValue).sorted().joined(separator: ", "))"
            )
        }
        return key
    }

    /// The token of a `Bearer` authorization header (scheme case-insensitive).
    static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }

    static func unauthorized(_ message: String) -> APIError {
        APIError(.unauthorized, code: "unauthorized", message: message, headers: [.wwwAuthenticate: "Bearer"])
    }

    /// The first characters of a presented key, enough to recognise it in a log and useless to an attacker.
    static func safePrefix(_ presented: String) -> String {
        String(presented.prefix(11).filter { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" })
    }
}

/// Requires an admin key for the admin API, or a read key for its GET endpoints.
struct AdminAuthMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let authenticator: APIKeyAuthenticator

    func handle(
        _ request: Request,
        context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        let allowed: Set<APIKeyScope> = request.method == .get || request.method == .head ? [.admin, .read] : [.admin]
        let key = try await authenticator.authenticate(request, context: context, allowed: allowed)
        var context = context
        context.logger[metadataKey: "key_id"] = .string(key.id)
        return try await next(request, context)
    }
}

/// Requires an ingest (or admin) key for POSTs to the routes configured with `require_api_key: true`.
///
/// A router-wide middleware that matches the configured paths, so the ingest controller itself stays unaware of
/// keys; other methods on those paths pass through to their 405. The request path it compares is canonical
/// (``CanonicalPathMiddleware`` runs first), so `//webhook/internal` is checked as `/webhook/internal`.
struct IngestAuthMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let authenticator: APIKeyAuthenticator
    let protectedPaths: Set<String>

    init(authenticator: APIKeyAuthenticator, protectedPaths: some Sequence<String>) {
        self.authenticator = authenticator
        self.protectedPaths = Set(protectedPaths.map { RequestPath.canonical($0) })
    }

    func handle(
        _ request: Request,
        context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        let path = request.uri.path
        if request.method == .post, protectedPaths.contains(path) {
            // Rejected before routing: name the route, so metrics label it like its accepted requests.
            context.coreContext.endpointPath.value = path
            try await authenticator.authenticate(request, context: context, allowed: [.ingest, .admin])
        }
        return try await next(request, context)
    }
}
