import App
import Core
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Uploads: stored durably with a checksum before the 201, listed on their message, downloadable by members only.
@Suite("Chat attachments")
struct ChatAttachmentTests {
    @Test("a binary file round-trips byte for byte with its type, disposition and nosniff; only members download it")
    func roundTrip() async throws {
        let fixture = try ChatApp(extra: "\nchat:\n  max_attachment_bytes: 100000\n")
        try await fixture.build().test(.router) { client in
            let ann = try await client.register("ann")
            let bob = try await client.register("bob")
            let room = try await client.createRoom("den", as: ann)
            var generator = SystemRandomNumberGenerator()
            let bytes = (0..<50_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var headers = ann.bearer
            headers[.contentType] = "image/png"
            let name = "../../etc/passwd photo é.png".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let refusedName = try await client.execute(uri: "/api/v1/rooms/\(room)/attachments?filename=\(name)", method: .post, headers: headers, body: ByteBuffer(bytes: bytes)) { $0 }
            #expect(refusedName.status == .badRequest)
            let upload = try await client.execute(uri: "/api/v1/rooms/\(room)/attachments?filename=photo%20%C3%A9.png", method: .post, headers: headers, body: ByteBuffer(bytes: bytes)) { $0 }
            #expect(upload.status == .created)
            let id = try #require((upload.json["id"] as? NSNumber)?.int64Value)
            #expect(upload.json["sha256"] as? String == SHA256.hash(data: Data(bytes)).map { String(format: "%02x", $0) }.joined())
            #expect(upload.json["size"] as? Int == bytes.count)
            // The file is on disk under a name of the server's, not the client's.
            let stored = try FileManager.default.contentsOfDirectory(atPath: fixture.directory.path + "/attachments")
            #expect(stored.count == 1 && !stored[0].contains("photo"))
            // Sent with a message (content may be empty then), listed on it.
            let sent = try await client.call(.post, "/api/v1/rooms/\(room)/messages", headers: ann.bearer, body: #"{"content":"","attachment_ids":[\#(id)]}"#)
            #expect(sent.status == .created, "\(String(buffer: sent.body))")
            let listed = try #require((sent.json["attachments"] as? [[String: Any]])?.first)
            #expect(listed["filename"] as? String == "photo é.png" && listed["content_type"] as? String == "image/png")
            // Sending it again with another message is refused.
            #expect(try await client.call(.post, "/api/v1/rooms/\(room)/messages", headers: ann.bearer, body: #"{"content":"again","attachment_ids":[\#(id)]}"#).status == .badRequest)
            let download = try await client.call(.get, "/api/v1/attachments/\(id)", headers: ann.bearer)
            #expect(download.status == .ok)
            #expect(Array(download.body.readableBytesView) == bytes)
            #expect(download.headers[.contentType] == "image/png")
            #expect(download.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            #expect(download.headers[.contentDisposition]?.contains("filename*=UTF-8''photo%20%C3%A9%2Epng") == true)
            // Bob can read the public room but is not a member: the file does not exist for him. Joined, it does.
            #expect(try await client.call(.get, "/api/v1/attachments/\(id)", headers: bob.bearer).status == .notFound)
            #expect(try await client.execute(uri: "/api/v1/rooms/\(room)/attachments?filename=x.bin", method: .post, headers: bob.bearer, body: ByteBuffer(bytes: [1, 2, 3])) { $0 }.status == .forbidden)
            _ = try await client.call(.post, "/api/v1/rooms/\(room)/join", headers: bob.bearer)
            #expect(try await client.call(.get, "/api/v1/attachments/\(id)", headers: bob.bearer).status == .ok)
            // Over the limit: 413, nothing recorded.
            let big = try await client.execute(uri: "/api/v1/rooms/\(room)/attachments?filename=big.bin", method: .post, headers: headers, body: ByteBuffer(bytes: [UInt8](repeating: 7, count: 100_001))) { $0 }
            #expect(big.status == .contentTooLarge)
            // Deleted with its message: gone from view.
            let messageID = try #require((sent.json["id"] as? NSNumber)?.int64Value)
            _ = try await client.call(.delete, "/api/v1/messages/\(messageID)", headers: ann.bearer)
            #expect(try await client.call(.get, "/api/v1/attachments/\(id)", headers: ann.bearer).status == .notFound)
        }
    }
}
