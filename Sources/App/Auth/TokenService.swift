import Core
import Crypto
import Foundation
import JWTKit

/// The claims of MessageBridge's tokens. Access and refresh tokens share the shape and differ in `typ` and key.
struct ChatTokenClaims: JWTPayload, Equatable {
    /// The user id, as a string (RFC 7519 `sub`).
    var sub: SubjectClaim
    /// Expiry.
    var exp: ExpirationClaim
    /// Issue time.
    var iat: IssuedAtClaim
    /// The token's own id; for refresh tokens, the store's record of it.
    var jti: IDClaim
    /// `access` or `refresh`.
    var typ: String
    /// The login session (refresh family) the token belongs to.
    var fam: String

    /// Expiry is checked by ``TokenService`` against its clock, not here against the system's.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Why a presented token was refused; each is a 401 naming the reason.
struct TokenRejection: Error, Equatable {
    var reason: String
}

/// Issues and checks chat tokens: HS256 with a `kid`, access and refresh tokens under different keys, expiry
/// against the injected clock.
struct TokenService: Sendable {
    enum Kind: String {
        case access
        case refresh
    }

    private let accessKeys: JWTKeyCollection
    private let refreshKeys: JWTKeyCollection
    private let accessKeyID: String
    private let refreshKeyID: String
    let accessLifetime: Duration
    let refreshLifetime: Duration
    private let clock: any WallClock

    /// Keys from `settings`; `generatedSecret` stands in for an access key the config does not name.
    init(settings: AuthSettings, generatedSecret: String, clock: any WallClock) async {
        let access = settings.accessKey ?? .init(id: "generated", secret: generatedSecret)
        // Derived, so a refresh token can never verify as an access token even when only one secret is configured.
        let refresh = settings.refreshKey ?? .init(
            id: "\(access.id)-refresh",
            secret: Data(HMAC<SHA256>.authenticationCode(for: Data("refresh".utf8), using: SymmetricKey(data: Data(access.secret.utf8)))).base64EncodedString()
        )
        accessKeys = JWTKeyCollection()
        refreshKeys = JWTKeyCollection()
        accessKeyID = access.id
        refreshKeyID = refresh.id
        await accessKeys.add(hmac: HMACKey(from: access.secret), digestAlgorithm: .sha256, kid: JWKIdentifier(string: access.id))
        for key in settings.verificationKeys {
            await accessKeys.add(hmac: HMACKey(from: key.secret), digestAlgorithm: .sha256, kid: JWKIdentifier(string: key.id))
        }
        await refreshKeys.add(hmac: HMACKey(from: refresh.secret), digestAlgorithm: .sha256, kid: JWKIdentifier(string: refresh.id))
        accessLifetime = settings.accessTokenLifetime
        refreshLifetime = settings.refreshTokenLifetime
        self.clock = clock
    }

    /// A signed token for `userID` in session `family`, with its id and expiry.
    func issue(_ kind: Kind, userID: Int64, family: String) async throws -> (token: String, id: String, expiresAt: Date) {
        let now = clock.now
        let lifetime = kind == .access ? accessLifetime : refreshLifetime
        let expiresAt = now.addingTimeInterval(Double(lifetime.components.seconds))
        let id = UUID().uuidString.lowercased()
        let claims = ChatTokenClaims(
            sub: .init(value: String(userID)), exp: .init(value: expiresAt), iat: .init(value: now), jti: .init(value: id),
            typ: kind.rawValue, fam: family
        )
        let token = kind == .access
            ? try await accessKeys.sign(claims, kid: JWKIdentifier(string: accessKeyID))
            : try await refreshKeys.sign(claims, kid: JWKIdentifier(string: refreshKeyID))
        return (token, id, expiresAt)
    }

    /// The claims of a valid token of `kind`, or a rejection saying why (bad signature, unknown `kid`, `alg: none`,
    /// expired, the wrong kind).
    func verify(_ token: String, as kind: Kind) async throws(TokenRejection) -> (userID: Int64, claims: ChatTokenClaims) {
        let claims: ChatTokenClaims
        do {
            claims = try await (kind == .access ? accessKeys : refreshKeys).verify(token, as: ChatTokenClaims.self)
        } catch {
            throw TokenRejection(reason: "the token is malformed, or not signed by this server")
        }
        guard claims.typ == kind.rawValue else { throw TokenRejection(reason: "this is not an \(kind.rawValue) token") }
        guard clock.now < claims.exp.value else { throw TokenRejection(reason: "the token has expired") }
        guard let userID = Int64(claims.sub.value) else { throw TokenRejection(reason: "the token names no user") }
        return (userID, claims)
    }
}
