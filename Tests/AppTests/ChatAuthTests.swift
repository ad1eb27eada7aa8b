import App
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import NIOCore
import Testing

/// Accounts and tokens: register, login, refresh rotation with reuse detection, logout, password change, and every
/// kind of bad token on every protected endpoint.
@Suite("Chat accounts and tokens")
struct ChatAuthTests {
    @Test("register, log in by username or email, read the profile; a wrong password and an unknown user look the same")
    func registerAndLogin() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.router) { client in
            let ann = try await client.register("ann")
            let profile = try await client.call(.get, "/api/v1/auth/profile", headers: ann.bearer)
            #expect(profile.status == .ok)
            #expect(profile.json["username"] as? String == "ann")
            #expect(profile.json["password_hash"] == nil && profile.json["password"] == nil)
            for login in [#"{"username":"ann","password":"correct horse"}"#, #"{"email":"ANN@example.com","password":"correct horse"}"#] {
                let response = try await client.call(.post, "/api/v1/auth/login", body: login)
                #expect(response.status == .ok, "\(login)")
                #expect(response.json["access_token"] is String && response.json["refresh_token"] is String)
                #expect(response.json["token_type"] as? String == "Bearer")
                #expect(response.json["expires_in"] as? Int == 900)
            }
            let wrong = try await client.call(.post, "/api/v1/auth/login", body: #"{"username":"ann","password":"wrong horse"}"#)
            let unknown = try await client.call(.post, "/api/v1/auth/login", body: #"{"username":"nobody","password":"wrong horse"}"#)
            #expect(wrong.status == .unauthorized && unknown.status == .unauthorized)
            #expect(wrong.errorCode == "invalid_credentials" && unknown.errorCode == "invalid_credentials")
            let taken = try await client.call(.post, "/api/v1/auth/register", body: #"{"username":"ANN","email":"other@example.com","password":"12345678"}"#)
            #expect(taken.status == .conflict)
        }
    }

    @Test("bad registration bodies are 400s that name the field, and create nothing")
    func badRegistrations() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.router) { client in
            let cases: [(String, String, String)] = [
                (#"{"email":"a@example.com","password":"12345678"}"#, "missing_field", "username"),
                (#"{"username":"ann","email":"a@example.com","password":"12345678","admin":true}"#, "unknown_field", "admin"),
                (#"{"username":42,"email":"a@example.com","password":"12345678"}"#, "invalid_field", "username"),
                (#"{"username":"a b","email":"a@example.com","password":"12345678"}"#, "invalid_field", "username"),
                (#"{"username":"ann","email":"not-an-address","password":"12345678"}"#, "invalid_field", "email"),
                (#"{"username":"ann","email":"a@example.com","password":"short"}"#, "invalid_field", "password"),
                (#"["ann"]"#, "invalid_json", "object"),
                (#"{"username":"#, "invalid_json", "JSON"),
            ]
            for (body, code, named) in cases {
                let response = try await client.call(.post, "/api/v1/auth/register", body: body)
                #expect(response.status == .badRequest, "\(body)")
                #expect(response.errorCode == code, "\(body)")
                #expect(response.errorMessage?.contains(named) == true, "\(body): \(response.errorMessage ?? "")")
            }
            let users = try await client.call(.get, "/api/v1/users", headers: try await client.register("bob").bearer)
            #expect(users.jsonArray.map { $0["username"] as? String } == ["bob"])
        }
    }

    @Test("refresh rotates; presenting a used refresh token revokes the whole family; logout revokes it too")
    func refreshRotationAndReuse() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.router) { client in
            let ann = try await client.register("ann")
            func refresh(_ token: String) async throws -> TestResponse {
                try await client.call(.post, "/api/v1/auth/refresh", body: #"{"refresh_token":"\#(token)"}"#)
            }
            let first = try await refresh(ann.refreshToken)
            #expect(first.status == .ok)
            let second = try #require(first.json["refresh_token"] as? String)
            #expect(second != ann.refreshToken)
            // The first token again: a copy is in play, so its family ends, and the rotated token with it.
            let reuse = try await refresh(ann.refreshToken)
            #expect(reuse.status == .unauthorized)
            #expect(reuse.errorMessage?.contains("used before") == true)
            #expect(try await refresh(second).status == .unauthorized)
            // A new login is a new family; logging out ends it.
            let login = try await client.call(.post, "/api/v1/auth/login", body: #"{"username":"ann","password":"correct horse"}"#)
            let access = try #require(login.json["access_token"] as? String)
            let refreshToken = try #require(login.json["refresh_token"] as? String)
            let logout = try await client.call(.post, "/api/v1/auth/logout", headers: [.authorization: "Bearer \(access)"])
            #expect(logout.status == .noContent)
            #expect(try await refresh(refreshToken).status == .unauthorized)
        }
    }

    @Test("a password change needs the current password and ends the other sessions")
    func passwordChange() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.router) { client in
            let here = try await client.register("ann")
            let elsewhere = try await client.call(.post, "/api/v1/auth/login", body: #"{"username":"ann","password":"correct horse"}"#)
            let elsewhereRefresh = try #require(elsewhere.json["refresh_token"] as? String)
            let wrong = try await client.call(.post, "/api/v1/auth/password", headers: here.bearer, body: #"{"current_password":"nope nope","new_password":"battery staple"}"#)
            #expect(wrong.status == .forbidden)
            let changed = try await client.call(.post, "/api/v1/auth/password", headers: here.bearer, body: #"{"current_password":"correct horse","new_password":"battery staple"}"#)
            #expect(changed.status == .noContent)
            #expect(try await client.call(.post, "/api/v1/auth/refresh", body: #"{"refresh_token":"\#(elsewhereRefresh)"}"#).status == .unauthorized)
            #expect(try await client.call(.post, "/api/v1/auth/refresh", body: #"{"refresh_token":"\#(here.refreshToken)"}"#).status == .ok)
            #expect(try await client.call(.post, "/api/v1/auth/login", body: #"{"username":"ann","password":"battery staple"}"#).status == .ok)
        }
    }

    @Test("login attempts are limited per account")
    func loginRateLimit() async throws {
        let fixture = try ChatApp(auth: "  login_rate_limit:\n    per_account: {limit: 3, period: 1h}\n")
        try await fixture.build().test(.router) { client in
            _ = try await client.register("ann")
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<4 {
                statuses.append(try await client.call(.post, "/api/v1/auth/login", body: #"{"username":"ann","password":"wrong horse"}"#).status)
            }
            #expect(statuses == [.unauthorized, .unauthorized, .unauthorized, .tooManyRequests])
            // The limit is the account's: another account is not held up.
            _ = try await client.register("bob")
            #expect(try await client.call(.post, "/api/v1/auth/login", body: #"{"username":"bob","password":"correct horse"}"#).status == .ok)
        }
    }

    @Test("behind a trusted proxy, login attempts are limited per client from X-Forwarded-For, not per proxy")
    func loginRateLimitBehindProxy() async throws {
        // The test client connects from 127.0.0.1, the trusted proxy; two logins per client IP an hour.
        let fixture = try ChatApp(
            extra: "\nrate_limits:\n  trusted_proxies: [\"127.0.0.1/32\"]\n  per_ip: {limit: 1000, period: 1s}\n",
            auth: "  login_rate_limit:\n    per_ip: {limit: 2, period: 1h}\n"
        )
        try await fixture.build().test(.live) { client in
            for name in ["ann", "bob", "cat"] { _ = try await client.register(name) }
            @Sendable func login(_ name: String, from forwardedFor: String) async throws -> HTTPResponse.Status {
                try await client.call(
                    .post, "/api/v1/auth/login", headers: [.contentType: "application/json", HTTPField.Name("X-Forwarded-For")!: forwardedFor],
                    body: #"{"username":"\#(name)","password":"correct horse"}"#
                ).status
            }
            #expect(try await login("ann", from: "203.0.113.7") == .ok)
            #expect(try await login("bob", from: "203.0.113.7") == .ok)
            #expect(try await login("cat", from: "203.0.113.7") == .tooManyRequests)
            // Another client behind the same proxy has its own budget.
            #expect(try await login("cat", from: "198.51.100.9") == .ok)
            // An address the client puts in front of its own does not reset its budget.
            #expect(try await login("cat", from: "192.0.2.1, 203.0.113.7") == .tooManyRequests)
        }
    }

    @Test("registration: closed needs an admin key; invite needs an unused invite code")
    func registrationModes() async throws {
        let closed = try ChatApp(auth: "  registration: closed\n")
        let adminKey = try await closed.keys.create(name: "admin", scope: .admin, expiresIn: nil).secret
        try await closed.build().test(.router) { client in
            let body = #"{"username":"ann","email":"ann@example.com","password":"correct horse"}"#
            #expect(try await client.call(.post, "/api/v1/auth/register", body: body).status == .unauthorized)
            let admitted = try await client.call(.post, "/api/v1/auth/register", headers: [.authorization: "Bearer \(adminKey)"], body: body)
            #expect(admitted.status == .created)
        }
        let invite = try ChatApp(auth: "  registration: invite\n")
        let inviteAdmin = try await invite.keys.create(name: "admin", scope: .admin, expiresIn: nil).secret
        try await invite.build().test(.router) { client in
            let made = try await client.call(.post, "/api/v1/auth/invites", headers: [.authorization: "Bearer \(inviteAdmin)"])
            #expect(made.status == .created)
            let code = try #require(made.json["invite_code"] as? String)
            let without = try await client.call(.post, "/api/v1/auth/register", body: #"{"username":"ann","email":"ann@example.com","password":"correct horse"}"#)
            #expect(without.status == .forbidden)
            let with = #"{"username":"ann","email":"ann@example.com","password":"correct horse","invite_code":"\#(code)"}"#
            #expect(try await client.call(.post, "/api/v1/auth/register", body: with).status == .created)
            let again = #"{"username":"bob","email":"bob@example.com","password":"correct horse","invite_code":"\#(code)"}"#
            let reused = try await client.call(.post, "/api/v1/auth/register", body: again)
            #expect(reused.status == .badRequest)
            #expect(reused.errorMessage?.contains("invite") == true)
        }
    }

    /// Tokens that must all be refused: none, expired, tampered, `alg: none`, a refresh token, an unknown `kid`,
    /// one signed with another secret.
    static func badTokens(for session: ChatUserSession, fixture: ChatApp) async throws -> [(String, String?)] {
        let parts = session.accessToken.split(separator: ".").map(String.init)
        let payload = Data(base64URL: parts[1])!
        var claims = try JSONSerialization.jsonObject(with: payload) as! [String: Any]
        claims["sub"] = "999"
        let forgedPayload = try JSONSerialization.data(withJSONObject: claims).base64URLEncoded
        let noneHeader = Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64URLEncoded
        let otherKeys = JWTKeyCollection()
        await otherKeys.add(hmac: HMACKey(from: "another-secret-0123456789abcdef0123456789"), digestAlgorithm: .sha256, kid: "k1")
        let foreign = try await otherKeys.sign(Claims(sub: .init(value: "\(session.id)"), exp: .init(value: Date().addingTimeInterval(600)), typ: "access", fam: "x"), kid: "k1")
        let unknownKid = try await otherKeys.sign(Claims(sub: .init(value: "\(session.id)"), exp: .init(value: Date().addingTimeInterval(600)), typ: "access", fam: "x"), kid: "k9")
        return [
            ("no token", nil),
            ("tampered payload", "\(parts[0]).\(forgedPayload).\(parts[2])"),
            ("alg none", "\(noneHeader).\(parts[1])."),
            ("refresh token as access", session.refreshToken),
            ("signed with another secret", foreign),
            ("unknown kid", unknownKid),
            ("garbage", "not.a.token"),
        ]
    }

    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim
        var typ: String
        var fam: String
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    @Test("every protected endpoint refuses a missing, expired, tampered, alg-none, refresh, foreign or unknown-kid token with 401")
    func authMatrix() async throws {
        let fixture = try ChatApp()
        try await fixture.build().test(.router) { client in
            let ann = try await client.register("ann")
            let room = try await client.createRoom("den", as: ann)
            let message = try await client.send("hello", to: room, as: ann)
            let messageID = try #require((message["id"] as? NSNumber)?.int64Value)
            let endpoints: [(HTTPRequest.Method, String, String?)] = [
                (.get, "/api/v1/auth/profile", nil), (.post, "/api/v1/auth/logout", nil),
                (.post, "/api/v1/auth/password", #"{"current_password":"correct horse","new_password":"12345678"}"#),
                (.get, "/api/v1/users", nil), (.get, "/api/v1/users/\(ann.id)", nil), (.get, "/api/v1/users/me", nil),
                (.patch, "/api/v1/users/me", #"{"display_name":"x"}"#),
                (.get, "/api/v1/rooms", nil), (.post, "/api/v1/rooms", #"{"name":"x"}"#), (.get, "/api/v1/rooms/public", nil),
                (.get, "/api/v1/rooms/\(room)", nil), (.patch, "/api/v1/rooms/\(room)", #"{"topic":"x"}"#),
                (.post, "/api/v1/rooms/\(room)/join", nil), (.post, "/api/v1/rooms/\(room)/leave", nil),
                (.get, "/api/v1/rooms/\(room)/members", nil), (.post, "/api/v1/rooms/\(room)/members", #"{"user_id":1}"#),
                (.get, "/api/v1/rooms/\(room)/messages", nil), (.post, "/api/v1/rooms/\(room)/messages", #"{"content":"x"}"#),
                (.post, "/api/v1/rooms/direct", #"{"user_id":1}"#),
                (.get, "/api/v1/messages", nil), (.post, "/api/v1/messages", #"{"content":"x"}"#),
                (.get, "/api/v1/messages/\(messageID)", nil), (.patch, "/api/v1/messages/\(messageID)", #"{"content":"x"}"#),
                (.delete, "/api/v1/messages/\(messageID)", nil),
            ]
            var tokens = try await Self.badTokens(for: ann, fixture: fixture)
            // Expired: a real token of ann's, presented after its 15 minutes.
            let login = try await client.call(.post, "/api/v1/auth/login", body: #"{"username":"ann","password":"correct horse"}"#)
            let soonExpired = try #require(login.json["access_token"] as? String)
            fixture.clock.advance(by: .seconds(16 * 60))
            tokens.append(("expired", soonExpired))
            for (label, token) in tokens {
                for (method, path, body) in endpoints {
                    var headers: HTTPFields = [.contentType: "application/json"]
                    if let token { headers[.authorization] = "Bearer \(token)" }
                    let response = try await client.call(method, path, headers: headers, body: body)
                    #expect(response.status == .unauthorized, "\(label): \(method) \(path) → \(response.status)")
                }
            }
            // Nothing changed: the message is still there, unedited.
            let fresh = try await client.call(.post, "/api/v1/auth/login", body: #"{"username":"ann","password":"correct horse"}"#)
            let token = try #require(fresh.json["access_token"] as? String)
            let stored = try await client.call(.get, "/api/v1/messages/\(messageID)", headers: [.authorization: "Bearer \(token)"])
            #expect(stored.json["content"] as? String == "hello")
        }
    }
}

extension Data {
    init?(base64URL text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        self.init(base64Encoded: base64)
    }

    var base64URLEncoded: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
