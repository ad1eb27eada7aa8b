import Core
import Hummingbird

/// Who is calling a chat endpoint.
enum ChatPrincipal: Sendable, Equatable {
    /// A user, by access token; `family` is the login session.
    case user(id: Int64, family: String)
    /// A trusted backend, by an API key of scope `ingest` or `admin`: it may act for any user where an endpoint
    /// takes a `user_id` (seed 004's calls).
    case service(scope: APIKeyScope)
}

/// Turns a request's credentials into a ``ChatPrincipal``: a JWT access token (three dot-separated parts) or an
/// API key, both as `Authorization: Bearer`.
struct ChatAuthenticator: Sendable {
    let tokens: TokenService
    let keys: APIKeyAuthenticator

    /// The caller, or 401.
    func principal(_ request: Request, context: AppRequestContext) async throws -> ChatPrincipal {
        guard let presented = APIKeyAuthenticator.bearerToken(request.headers[.authorization]) else {
            throw APIKeyAuthenticator.unauthorized("sign in: send Authorization: Bearer <access token>")
        }
        if presented.contains(".") {
            return try await user(token: presented)
        }
        let key = try await keys.authenticate(request, context: context, allowed: [.ingest, .admin])
        return .service(scope: key.scope)
    }

    /// The user of an access token, or 401 naming why it was refused.
    func user(token: String) async throws -> ChatPrincipal {
        do {
            let (userID, claims) = try await tokens.verify(token, as: .access)
            return .user(id: userID, family: claims.fam)
        } catch {
            throw APIKeyAuthenticator.unauthorized(error.reason)
        }
    }

    /// The calling user; a backend's API key is 403 here (the endpoint acts as a user).
    func userID(_ request: Request, context: AppRequestContext) async throws -> Int64 {
        switch try await principal(request, context: context) {
        case .user(let id, _): return id
        case .service:
            throw APIError(.forbidden, code: "forbidden", message: "this endpoint acts as a user: send a user's access token")
        }
    }
}

extension APIError {
    /// A chat refusal as an HTTP answer.
    init(_ error: ChatError) {
        switch error.code {
        case .notFound: self.init(.notFound, code: "not_found", message: error.message)
        case .forbidden: self.init(.forbidden, code: "forbidden", message: error.message)
        case .conflict: self.init(.conflict, code: "conflict", message: error.message)
        case .invalid: self.init(.badRequest, code: "invalid_field", message: error.message)
        }
    }
}

/// Runs a chat store call, turning its refusals into 4xx answers; anything else (the store failing) propagates
/// and becomes a 5xx.
func chatCall<Value>(_ operation: () async throws -> Value) async throws -> Value {
    do {
        return try await operation()
    } catch let error as ChatError {
        throw APIError(error)
    }
}
