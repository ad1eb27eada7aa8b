@testable import App
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Storage
import Testing

/// Files of deleted messages, and uploads never sent, are removed after `chat.attachment_retention`.
@Suite("Chat attachment retention")
struct ChatAttachmentPurgeTests {
    @Test("after the retention the files of a deleted message and of an unsent upload are removed; a live message's file stays")
    func purge() async throws {
        let fixture = try ChatApp(extra: "\nchat:\n  attachment_retention: 1d\n")
        let directory = fixture.directory.path + "/attachments"
        try await fixture.build().test(.router) { client in
            let ann = try await client.register("ann")
            let room = try await client.createRoom("den", as: ann)
            func upload(_ name: String) async throws -> Int64 {
                let response = try await client.execute(uri: "/api/v1/rooms/\(room)/attachments?filename=\(name)", method: .post, headers: ann.bearer, body: ByteBuffer(string: name)) { $0 }
                return try #require((response.json["id"] as? NSNumber)?.int64Value)
            }
            let kept = try await upload("kept.txt")
            let deleted = try await upload("deleted.txt")
            _ = try await upload("unsent.txt")
            _ = try await client.call(.post, "/api/v1/rooms/\(room)/messages", headers: ann.bearer, body: #"{"content":"keep","attachment_ids":[\#(kept)]}"#)
            let gone = try await client.call(.post, "/api/v1/rooms/\(room)/messages", headers: ann.bearer, body: #"{"content":"gone","attachment_ids":[\#(deleted)]}"#)
            let goneID = try #require((gone.json["id"] as? NSNumber)?.int64Value)
            _ = try await client.call(.delete, "/api/v1/messages/\(goneID)", headers: ann.bearer)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).count == 3)
            let service = AttachmentPurgeService(
                store: SQLiteChatStore(database: fixture.store.database, bus: ChatHub(metrics: AppMetrics()), clock: fixture.clock),
                files: AttachmentFiles(directory: directory, maxBytes: 1 << 20), retention: .seconds(86_400), clock: fixture.clock,
                logger: quietLogger
            )
            // Within the retention nothing goes.
            #expect(try await service.purge() == 0)
            fixture.clock.advance(by: .seconds(86_400 + 60))
            #expect(try await service.purge() == 2)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).count == 1)
            // A day later the old access token has expired: sign in again.
            let login = try await client.call(.post, "/api/v1/auth/login", body: #"{"username":"ann","password":"correct horse"}"#)
            let token = try #require(login.json["access_token"] as? String)
            let download = try await client.call(.get, "/api/v1/attachments/\(kept)", headers: [.authorization: "Bearer \(token)"])
            #expect(String(buffer: download.body) == "kept.txt")
        }
    }
}
