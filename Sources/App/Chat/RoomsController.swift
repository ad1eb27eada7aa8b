import Core
import Foundation
import Hummingbird

/// `/api/v1/rooms`: rooms, members and their roles, direct rooms, and each room's messages.
struct RoomsController: Sendable {
    static let mountPath = "/api/v1/rooms"

    let store: any ChatStore
    let authenticator: ChatAuthenticator
    let input: ChatInput
    let files: AttachmentFiles

    /// A room with the caller's role in it.
    struct RoomDetail: ResponseEncodable {
        var room: ChatRoom
        var role: MemberRole?
    }

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.post { request, context in
            let userID = try await authenticator.userID(request, context: context)
            let body = try await JSONBody.read(request, allowed: ["name", "topic", "visibility"])
            let name = try ChatInput.roomName(try body.string("name", required: true)!)
            let topic = try ChatInput.topic(try body.string("topic"))
            let visibility = try ChatInput.visibility(try body.string("visibility"))
            let room = try await chatCall { try await store.createRoom(name: name, topic: topic, visibility: visibility, creator: userID) }
            return EditedResponse(status: .created, response: room)
        }
        routes.get { request, context in
            let userID = try await authenticator.userID(request, context: context)
            return try await store.rooms(of: userID)
        }
        routes.get("public") { request, context in
            _ = try await authenticator.userID(request, context: context)
            return try await store.publicRooms(limit: try Page(request, defaultLimit: 100).limit)
        }
        routes.post("direct") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            let body = try await JSONBody.read(request, allowed: ["user_id"])
            let other = try body.integer("user_id", required: true)!
            return try await chatCall { try await store.directRoom(between: userID, and: other) }
        }
        routes.get(":room") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            let (room, role) = try await chatCall { try await store.room(id: try Self.roomID(context), visibleTo: userID) }
            return RoomDetail(room: room, role: role)
        }
        routes.patch(":room") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            let body = try await JSONBody.read(request, allowed: ["name", "topic"])
            let name = try body.string("name").map(ChatInput.roomName)
            let topic: String?? = body.has("topic") ? .some(try ChatInput.topic(try body.string("topic", nullable: true))) : .none
            return try await chatCall { try await store.updateRoom(id: try Self.roomID(context), actor: userID, name: name, topic: topic) }
        }
        routes.post(":room/join") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            return try await chatCall { try await store.join(roomID: try Self.roomID(context), userID: userID) }
        }
        routes.post(":room/leave") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            try await chatCall { try await store.removeMember(roomID: try Self.roomID(context), actor: userID, userID: userID) }
            return Response(status: .noContent)
        }
        routes.get(":room/members") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            return try await chatCall { try await store.members(roomID: try Self.roomID(context), visibleTo: userID) }
        }
        routes.post(":room/members") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            let body = try await JSONBody.read(request, allowed: ["user_id", "role"])
            let member = try body.integer("user_id", required: true)!
            let role = try ChatInput.role(try body.string("role")) ?? .member
            let added = try await chatCall {
                try await store.addMember(roomID: try Self.roomID(context), actor: userID, userID: member, role: role)
            }
            return EditedResponse(status: .created, response: added)
        }
        routes.patch(":room/members/:user") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            let body = try await JSONBody.read(request, allowed: ["role"])
            guard let role = try ChatInput.role(try body.string("role", required: true)) else { throw JSONBody.missing("role") }
            let member = try context.parameters.require("user", as: Int64.self)
            return try await chatCall { try await store.setRole(roomID: try Self.roomID(context), actor: userID, userID: member, role: role) }
        }
        routes.delete(":room/members/:user") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            let member = try context.parameters.require("user", as: Int64.self)
            try await chatCall { try await store.removeMember(roomID: try Self.roomID(context), actor: userID, userID: member) }
            return Response(status: .noContent)
        }
        routes.post(":room/attachments") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            let roomID = try Self.roomID(context)
            let filename = try ChatInput.filename(request.uri.queryParameters["filename"].map(String.init))
            let contentType = request.headers[.contentType] ?? "application/octet-stream"
            // Membership first: an outsider's upload is refused before a byte is written.
            guard try await chatCall({ try await store.room(id: roomID, visibleTo: userID) }).role != nil else {
                throw APIError(ChatError(.forbidden, "join room \(roomID) first"))
            }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: files.maxBytes)
            } catch {
                throw APIError(.contentTooLarge, code: "attachment_too_large", message: "files are at most \(files.maxBytes) bytes")
            }
            let stored = try await files.write(body)
            let attachment = try await chatCall {
                try await store.createAttachment(
                    roomID: roomID, userID: userID, filename: filename, contentType: contentType, size: Int64(body.readableBytes),
                    sha256: stored.sha256, storageName: stored.name
                )
            }
            return EditedResponse(status: .created, response: attachment)
        }
        routes.post(":room/read") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            let body = try await JSONBody.read(request, allowed: ["message_id"])
            let messageID = try body.integer("message_id", required: true)!
            return try await chatCall { try await store.markRead(roomID: try Self.roomID(context), userID: userID, messageID: messageID) }
        }
        routes.get(":room/receipts") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            return try await chatCall { try await store.receipts(roomID: try Self.roomID(context), visibleTo: userID) }
        }
        routes.get(":room/messages") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            let (cursor, limit) = try Self.historyQuery(request)
            return MessagesJSON(messages: try await chatCall {
                try await store.history(roomID: try Self.roomID(context), visibleTo: userID, cursor: cursor, limit: limit)
            })
        }
        routes.post(":room/messages") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            let body = try await JSONBody.read(request, allowed: ["content", "client_id", "reply_to", "attachment_ids"], limit: input.messageBodyLimit)
            let attachmentIDs = try body.integers("attachment_ids")
            guard attachmentIDs.count <= 20 else { throw JSONBody.invalid("attachment_ids", "holds at most 20 ids") }
            let content = try input.content(try body.string("content", required: true)!, hasAttachments: !attachmentIDs.isEmpty)
            let clientID = try ChatInput.clientID(try body.string("client_id"))
            let sent = try await chatCall {
                try await store.sendMessage(
                    roomID: try Self.roomID(context), authorID: userID, content: content, clientID: clientID,
                    replyTo: try body.integer("reply_to"), attachmentIDs: attachmentIDs
                )
            }
            // A repeated send answers like the first did, but 200: nothing new was made.
            return EditedResponse(status: sent.isRepeat ? .ok : .created, response: sent.message)
        }
        return routes
    }

    static func roomID(_ context: AppRequestContext) throws -> Int64 {
        guard let id = context.parameters.get("room", as: Int64.self) else {
            throw APIError(.badRequest, code: "invalid_path", message: "the room id must be an integer")
        }
        return id
    }

    /// `before`, `after` or `around` (at most one) and `limit` (1...100, default 50).
    static func historyQuery(_ request: Request) throws -> (HistoryCursor, Int) {
        let query = request.uri.queryParameters
        let limit = try Page.integer(query["limit"].map(String.init), name: "limit", default: 50, range: 1...100)
        var cursors: [HistoryCursor] = []
        for (name, make) in [("before", HistoryCursor.before), ("after", HistoryCursor.after), ("around", HistoryCursor.around)] {
            guard let text = query[name[...]].map(String.init) else { continue }
            guard let id = Int64(text), id >= 0 else {
                throw APIError(.badRequest, code: "invalid_query", message: "\(name) must be a message id")
            }
            cursors.append(make(id))
        }
        guard cursors.count <= 1 else {
            throw APIError(.badRequest, code: "invalid_query", message: "give at most one of before, after and around")
        }
        return (cursors.first ?? .latest, limit)
    }
}

/// A JSON array of messages written by ``JSONBytes`` rather than `JSONEncoder`: the same document, at a fraction of
/// the CPU (a history page is the chat's most frequent read).
struct MessagesJSON: ResponseGenerator {
    var messages: [ChatMessage]

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var json = JSONBytes(capacity: 300 * messages.count + 2)
        json.messages(messages)
        return Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: json.bytes))
        )
    }
}

extension ChatRoom: ResponseEncodable {}
extension ChatUser: ResponseEncodable {}
extension RoomMember: ResponseEncodable {}
extension ChatMessage: ResponseEncodable {}
extension RoomSummary: ResponseEncodable {}
extension ReadReceipt: ResponseEncodable {}
extension ChatAttachment: ResponseEncodable {}
