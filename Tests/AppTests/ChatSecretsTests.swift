import App
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Storage
import Testing

/// Secrets stay out of logs; signing keys rotate by `kid`.
@Suite("Chat secrets and key rotation")
struct ChatSecretsTests {
    @Test("no password, token or signing secret reaches a log line, at trace level, through register, login, refresh and failures")
    func nothingSecretIsLogged() async throws {
        let fixture = try ChatApp()
        let box = CapturingLogHandler.Box()
        var logger = Logger(label: "test") { _ in CapturingLogHandler(box: box) }
        logger.logLevel = .trace
        let app = try await buildApplication(configuration: fixture.configuration, logger: logger, store: fixture.store, clock: fixture.clock)
        let issued = try await app.test(.router) { client async throws in
            let ann = try await client.register("ann")
            let refreshed = try await client.call(.post, "/api/v1/auth/refresh", body: #"{"refresh_token":"\#(ann.refreshToken)"}"#)
            _ = try await client.call(.post, "/api/v1/auth/refresh", body: #"{"refresh_token":"\#(ann.refreshToken)"}"#)
            _ = try await client.call(.post, "/api/v1/auth/login", body: #"{"username":"ann","password":"wrong horse"}"#)
            _ = try await client.call(.get, "/api/v1/auth/profile", headers: [.authorization: "Bearer \(ann.accessToken)x"])
            _ = try await client.call(.post, "/api/v1/auth/password", headers: ann.bearer, body: #"{"current_password":"correct horse","new_password":"wrong horse"}"#)
            return [ann.accessToken, ann.refreshToken, refreshed.json["access_token"] as? String ?? "", refreshed.json["refresh_token"] as? String ?? ""]
        }
        let secrets = [chatTestSecret, "correct horse", "wrong horse"] + issued
        let lines = box.records.withLock { $0 }.map { "\($0.message) \($0.metadata)" }
        #expect(!lines.isEmpty)
        for secret in secrets where !secret.isEmpty {
            #expect(!lines.contains { $0.contains(secret) }, "a log line holds a secret")
        }
    }

    @Test("tokens signed with a key kept in jwt_previous_keys stay valid after the signing key changes; others do not")
    func keyRotation() async throws {
        let old = try ChatApp()
        let token = try await old.build().test(.router) { client in try await client.register("ann").accessToken }
        // The same database, a new signing key (k2); the old one kept for verification only.
        let newSecret = "new-secret-0123456789abcdef0123456789"
        let rotatedYAML = try String(contentsOfFile: old.directory.configPath, encoding: .utf8)
            .replacingOccurrences(of: "  jwt_secret: \"\(chatTestSecret)\"\n", with: "  jwt_secret: \"\(newSecret)\"\n  jwt_key_id: k2\n  jwt_previous_keys: [{kid: k1, secret: \"\(chatTestSecret)\"}]\n")
        let rotated = try writeConfiguration(rotatedYAML, to: old.directory)
        #expect(rotated.auth.accessKey?.id == "k2")
        try await buildApplication(configuration: rotated, logger: quietLogger, store: old.store, clock: old.clock).test(.router) { client async throws in
            #expect(try await client.call(.get, "/api/v1/auth/profile", headers: [.authorization: "Bearer \(token)"]).status == .ok)
            let fresh = try await client.call(.post, "/api/v1/auth/login", body: #"{"username":"ann","password":"correct horse"}"#)
            let header = try #require((fresh.json["access_token"] as? String)?.split(separator: ".").first.map(String.init))
            let decoded = try #require(Data(base64URL: header).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] })
            #expect(decoded["kid"] as? String == "k2" && decoded["alg"] as? String == "HS256")
        }
        // Without the previous key, the old token is refused.
        let dropped = try writeConfiguration(rotatedYAML.replacingOccurrences(of: "  jwt_previous_keys: [{kid: k1, secret: \"\(chatTestSecret)\"}]\n", with: ""), to: old.directory)
        try await buildApplication(configuration: dropped, logger: quietLogger, store: old.store, clock: old.clock).test(.router) { client async throws in
            #expect(try await client.call(.get, "/api/v1/auth/profile", headers: [.authorization: "Bearer \(token)"]).status == .unauthorized)
        }
    }
}
