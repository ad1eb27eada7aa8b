@testable import App
import Core
import Foundation
import HummingbirdTesting
import Storage
import Testing

/// Expired refresh tokens are forgotten by the chat's ten-minute housekeeping, so the table does not grow forever.
@Suite("Refresh token purge")
struct ChatRefreshPurgeTests {
    @Test("expired refresh tokens (used or not) are purged with their emptied family; live ones stay and still rotate")
    func purgeExpired() async throws {
        let fixture = try ChatApp()
        let store = SQLiteChatStore(database: fixture.store.database, bus: ChatHub(metrics: AppMetrics()), clock: fixture.clock)
        try await fixture.build().test(.router) { client in
            let ann = try await client.register("ann")
            let rotated = try await client.call(.post, "/api/v1/auth/refresh", body: #"{"refresh_token":"\#(ann.refreshToken)"}"#)
            #expect(rotated.status == .ok)
            let second = try #require(rotated.json["refresh_token"] as? String)
            // Both are still within their lifetime: nothing goes.
            #expect(try await store.purgeRefreshTokens(expiredBefore: fixture.clock.now) == 0)

            fixture.clock.advance(by: .seconds(7 * 24 * 3600 + 60))
            let login = try await client.call(.post, "/api/v1/auth/login", body: #"{"username":"ann","password":"correct horse"}"#)
            let fresh = try #require(login.json["refresh_token"] as? String)
            let service = AttachmentPurgeService(
                store: store, files: AttachmentFiles(directory: fixture.directory.path + "/attachments", maxBytes: 1 << 20),
                retention: .seconds(86_400), clock: fixture.clock, logger: quietLogger
            )
            _ = try await service.purge()
            // The housekeeping pass took the two expired ones: nothing of them is left to purge.
            #expect(try await store.purgeRefreshTokens(expiredBefore: fixture.clock.now) == 0)
            #expect(try await client.call(.post, "/api/v1/auth/refresh", body: #"{"refresh_token":"\#(second)"}"#).status == .unauthorized)
            // The live session is untouched and rotates as before.
            #expect(try await client.call(.post, "/api/v1/auth/refresh", body: #"{"refresh_token":"\#(fresh)"}"#).status == .ok)
            // Once it expires too, purging counts exactly its two tokens (the used one and its successor).
            fixture.clock.advance(by: .seconds(7 * 24 * 3600 + 60))
            #expect(try await store.purgeRefreshTokens(expiredBefore: fixture.clock.now) == 2)
        }
    }
}
