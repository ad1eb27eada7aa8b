import Core
import Crypto
import Foundation
import Hummingbird
import Logging

/// `/api/v1/auth`: register, log in, refresh (rotating, with reuse detection), log out, the caller's profile,
/// password change and invite codes.
struct AuthController: Sendable {
    static let mountPath = "/api/v1/auth"

    let store: any ChatStore
    let tokens: TokenService
    let hasher: PasswordHasher
    let authenticator: ChatAuthenticator
    let registration: AuthSettings.Registration
    let loginLimits: LoginLimits

    /// The tokens of a login, seed 003's shape plus the standard OAuth fields.
    struct TokenResponse: ResponseEncodable {
        var accessToken: String
        var refreshToken: String
        var tokenType = "Bearer"
        var expiresIn: Int
        var refreshExpiresIn: Int
        var user: ChatUser

        enum CodingKeys: String, CodingKey {
            case accessToken = "access_token"
            case refreshToken = "refresh_token"
            case tokenType = "token_type"
            case expiresIn = "expires_in"
            case refreshExpiresIn = "refresh_expires_in"
            case user
        }
    }

    struct InviteResponse: ResponseEncodable {
        var inviteCode: String
        enum CodingKeys: String, CodingKey { case inviteCode = "invite_code" }
    }

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.post("register") { request, context in try await register(request, context: context) }
        routes.post("login") { request, context in try await login(request, context: context) }
        routes.post("refresh") { request, _ in try await refresh(request) }
        routes.post("logout") { request, context in
            guard case .user(let userID, let family) = try await authenticator.principal(request, context: context) else {
                throw APIError(.forbidden, code: "forbidden", message: "log out with a user's access token")
            }
            try await store.revokeRefreshFamily(family, userID: userID)
            return Response(status: .noContent)
        }
        routes.get("profile") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            guard let user = try await store.user(id: userID) else { throw APIError(ChatError.userNotFound(userID)) }
            return user
        }
        routes.post("password") { request, context in
            guard case .user(let userID, let family) = try await authenticator.principal(request, context: context) else {
                throw APIError(.forbidden, code: "forbidden", message: "change a password with the user's access token")
            }
            let body = try await JSONBody.read(request, allowed: ["current_password", "new_password"])
            let current = try body.string("current_password", required: true)!
            let new = try ChatInput.password(try body.string("new_password", required: true)!, field: "new_password")
            guard let user = try await store.user(id: userID),
                  let (_, hash) = try await store.credentials(login: user.username), let hash,
                  try await hasher.verify(current, hash: hash)
            else {
                throw APIError(.forbidden, code: "wrong_password", message: "current_password is not the account's password")
            }
            // Every other session ends; this one keeps its refresh family.
            try await store.changePassword(userID: userID, passwordHash: try await hasher.hash(new), keepingFamily: family)
            return Response(status: .noContent)
        }
        routes.post("invites") { request, context in
            try await authenticator.keys.authenticate(request, context: context, allowed: [.admin])
            let code = Self.randomCode()
            try await store.createInvite(codeHash: Self.sha256(code))
            return EditedResponse(status: .created, response: InviteResponse(inviteCode: code))
        }
        return routes
    }

    private func register(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<TokenResponse> {
        let body = try await JSONBody.read(request, allowed: ["username", "email", "password", "display_name", "invite_code"])
        let username = try ChatInput.username(try body.string("username", required: true)!)
        let email = try ChatInput.email(try body.string("email", required: true)!)
        let password = try ChatInput.password(try body.string("password", required: true)!)
        let displayName = try ChatInput.displayName(try body.string("display_name"))
        // Checked in every mode, so a malformed field is a 400 whether or not this mode reads it.
        let inviteCode = try body.string("invite_code")
        var inviteHash: String?
        switch registration {
        case .open:
            break
        case .closed:
            try await authenticator.keys.authenticate(request, context: context, allowed: [.admin])
        case .invite:
            guard let code = inviteCode else {
                throw APIError(.forbidden, code: "invite_required", message: "registration needs an invite_code")
            }
            inviteHash = Self.sha256(code)
        }
        let hash = try await hasher.hash(password)
        let user = try await chatCall {
            try await store.createUser(.init(username: username, email: email, passwordHash: hash, displayName: displayName, inviteCodeHash: inviteHash))
        }
        context.logger.info("chat account created", metadata: ["user_id": "\(user.id)"])
        return EditedResponse(status: .created, response: try await session(for: user))
    }

    private func login(_ request: Request, context: AppRequestContext) async throws -> TokenResponse {
        let body = try await JSONBody.read(request, allowed: ["username", "email", "password"])
        let username = try body.string("username")
        let email = try body.string("email")
        guard let login = username ?? email else { throw JSONBody.missing("username") }
        let password = try body.string("password", required: true)!
        try loginLimits.check(request, context: context, account: login.lowercased())
        let account = try await store.credentials(login: login)
        let isValid = try await hasher.verify(password, hash: account?.passwordHash)
        guard let account, account.passwordHash != nil, isValid else {
            context.logger.notice("chat login refused")
            throw APIError(.unauthorized, code: "invalid_credentials", message: "the username or password is wrong")
        }
        return try await session(for: account.user)
    }

    private func refresh(_ request: Request) async throws -> TokenResponse {
        let body = try await JSONBody.read(request, allowed: ["refresh_token"])
        let presented = try body.string("refresh_token", required: true)!
        let claims: ChatTokenClaims
        let userID: Int64
        do {
            (userID, claims) = try await tokens.verify(presented, as: .refresh)
        } catch {
            throw APIKeyAuthenticator.unauthorized(error.reason)
        }
        let next = try await tokens.issue(.refresh, userID: userID, family: claims.fam)
        let rotation = try await store.rotateRefreshToken(
            id: claims.jti.value, next: .init(id: next.id, family: claims.fam, userID: userID, expiresAt: next.expiresAt)
        )
        switch rotation {
        case .rotated:
            guard let user = try await store.user(id: userID) else { throw APIError(ChatError.userNotFound(userID)) }
            let access = try await tokens.issue(.access, userID: userID, family: claims.fam)
            return response(user: user, access: access.token, refresh: next.token)
        case .reuseDetected:
            throw APIKeyAuthenticator.unauthorized("this refresh token was used before; the session is revoked, log in again")
        case .rejected:
            throw APIKeyAuthenticator.unauthorized("the refresh token is unknown, revoked or expired")
        }
    }

    /// A new login session (refresh family) for `user`.
    private func session(for user: ChatUser) async throws -> TokenResponse {
        let family = UUID().uuidString.lowercased()
        let refresh = try await tokens.issue(.refresh, userID: user.id, family: family)
        try await store.storeRefreshToken(.init(id: refresh.id, family: family, userID: user.id, expiresAt: refresh.expiresAt))
        let access = try await tokens.issue(.access, userID: user.id, family: family)
        return response(user: user, access: access.token, refresh: refresh.token)
    }

    private func response(user: ChatUser, access: String, refresh: String) -> TokenResponse {
        TokenResponse(
            accessToken: access, refreshToken: refresh, expiresIn: Int(tokens.accessLifetime.components.seconds),
            refreshExpiresIn: Int(tokens.refreshLifetime.components.seconds), user: user
        )
    }

    static func sha256(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func randomCode() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<18).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return "inv_" + Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }
}

/// Login attempts per client IP and per account name tried, so that neither one address nor a spread of
/// addresses can guess at a password quickly. The client IP is found as the rate limits find it: behind a proxy in
/// `rate_limits.trusted_proxies`, from `X-Forwarded-For` (``RateLimitMiddleware/clientIP(peer:forwardedFor:trustedProxies:)``).
struct LoginLimits: Sendable {
    let perIP: TokenBucketRateLimiter
    let perAccount: TokenBucketRateLimiter
    let trustedProxies: [CIDRBlock]
    let clock: any WallClock

    init(settings: AuthSettings, trustedProxies: [CIDRBlock], clock: any WallClock) throws {
        func limiter(_ rule: RateLimitRule) throws -> TokenBucketRateLimiter {
            try TokenBucketRateLimiter(configuration: .init(limit: rule.limit, period: rule.period, burst: rule.burst))
        }
        perIP = try limiter(settings.loginLimitPerIP)
        perAccount = try limiter(settings.loginLimitPerAccount)
        self.trustedProxies = trustedProxies
        self.clock = clock
    }

    /// Takes a token for the client of `request` and for `account`; throws 429 when either has none left.
    func check(_ request: Request, context: AppRequestContext, account: String) throws {
        let ip = RateLimitMiddleware.clientIP(
            peer: context.remoteAddress?.ipAddress, forwardedFor: request.headers[values: .xForwardedFor], trustedProxies: trustedProxies
        )
        try check(ip: ip, account: account)
    }

    func check(ip: String, account: String) throws {
        let now = clock.instant
        for decision in [perIP.acquire(key: ip, now: now), perAccount.acquire(key: account, now: now)] where !decision.isAllowed {
            throw APIError(
                .tooManyRequests, code: "too_many_login_attempts", message: "too many login attempts; retry later",
                headers: [.retryAfter: String(decision.retryAfterSeconds ?? 1)]
            )
        }
    }
}
