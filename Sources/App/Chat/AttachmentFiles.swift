import Core
import Crypto
import HTTPTypes
import Foundation
import Hummingbird
import NIOCore
import NIOPosix
import Logging
import ServiceLifecycle

/// Uploaded files on disk: each under a name the server makes (never the client's), written to a temporary name,
/// fsync'd, renamed and the directory fsync'd, all before the database row that points at it commits. Blocking
/// file calls run on NIO's thread pool, off the cooperative pool.
struct AttachmentFiles: Sendable {
    let directory: String
    let maxBytes: Int

    struct Stored {
        var name: String
        var sha256: String
    }

    func write(_ bytes: ByteBuffer) async throws -> Stored {
        let directory = self.directory
        return try await NIOThreadPool.singleton.runIfActive {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let name = UUID().uuidString.lowercased()
            let temporary = "\(directory)/\(name).part"
            let data = Data(bytes.readableBytesView)
            guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
                throw APIError(.serviceUnavailable, code: "store_unavailable", message: "the file cannot be stored right now")
            }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            guard rename(temporary, "\(directory)/\(name)") == 0 else {
                throw APIError(.serviceUnavailable, code: "store_unavailable", message: "the file cannot be stored right now")
            }
            let descriptor = open(directory, O_RDONLY)
            if descriptor >= 0 {
                fsync(descriptor)
                close(descriptor)
            }
            let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
            return Stored(name: name, sha256: digest)
        }
    }

    func read(_ name: String) async throws -> ByteBuffer {
        let path = "\(directory)/\(name)"
        return try await NIOThreadPool.singleton.runIfActive {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw APIError(.notFound, code: "not_found", message: "the attachment's file is missing")
            }
            return ByteBuffer(bytes: data)
        }
    }
}

/// `GET /api/v1/attachments/{id}`: the file, to members of its room only.
struct AttachmentsController: Sendable {
    static let mountPath = "/api/v1/attachments"

    let store: any ChatStore
    let authenticator: ChatAuthenticator
    let files: AttachmentFiles

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get(":attachment") { request, context -> Response in
            let userID = try await authenticator.userID(request, context: context)
            guard let id = context.parameters.get("attachment", as: Int64.self) else {
                throw APIError(.badRequest, code: "invalid_path", message: "the attachment id must be an integer")
            }
            let (attachment, name) = try await chatCall { try await store.attachment(id: id, visibleTo: userID) }
            let body = try await files.read(name)
            var headers: HTTPFields = [
                .contentType: attachment.contentType,
                .contentLength: String(body.readableBytes),
                .contentDisposition: Self.disposition(attachment.filename),
            ]
            headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
        }
        return routes
    }

    /// `attachment` with an ASCII fallback name and the exact one in RFC 5987 form.
    static func disposition(_ filename: String) -> String {
        let fallback = String(filename.unicodeScalars.map { $0.isASCII && $0 != "\"" && $0 != "\\" ? Character($0) : "_" })
        let encoded = filename.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "file"
        return "attachment; filename=\"\(fallback)\"; filename*=UTF-8''\(encoded)"
    }
}

extension AttachmentFiles {
    /// Removes the files named (ignoring ones already gone).
    func remove(_ names: [String]) async throws {
        let directory = self.directory
        try await NIOThreadPool.singleton.runIfActive {
            for name in names { try? FileManager.default.removeItem(atPath: "\(directory)/\(name)") }
        }
    }
}

/// Every ten minutes: removes the files of messages deleted longer ago than `chat.attachment_retention` and of
/// uploads never sent in that time (the rows go first, in one transaction, then the files), and forgets refresh
/// tokens that have expired.
struct AttachmentPurgeService: Service {
    let store: any ChatStore
    let files: AttachmentFiles
    let retention: Duration
    let clock: any WallClock
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await purge()
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("attachment purge failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(600))
            }
        }
    }

    /// One pass; returns how many files went.
    @discardableResult
    func purge() async throws -> Int {
        let names = try await store.purgeAttachments(before: clock.now.addingTimeInterval(-retention.seconds))
        try await files.remove(names)
        if !names.isEmpty { logger.info("purged attachments", metadata: ["count": "\(names.count)"]) }
        let tokens = try await store.purgeRefreshTokens(expiredBefore: clock.now)
        if tokens > 0 { logger.info("purged expired refresh tokens", metadata: ["count": "\(tokens)"]) }
        return names.count
    }
}
