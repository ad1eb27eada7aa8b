import Core
import Foundation
import Hummingbird

/// `/api/v1/messages`: one message by id (read, edit, delete), and seed 004's calls on the default room:
/// `GET /api/v1/messages?limit=&offset=` and `POST /api/v1/messages {user_id, username, content}`.
struct MessagesController: Sendable {
    static let mountPath = "/api/v1/messages"

    let store: any ChatStore
    let authenticator: ChatAuthenticator
    let input: ChatInput

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get { request, context in
            _ = try await authenticator.principal(request, context: context)
            let page = try Page(request, defaultLimit: 20)
            return try await store.defaultRoomMessages(limit: page.limit, offset: page.offset)
        }
        routes.post { request, context in
            let principal = try await authenticator.principal(request, context: context)
            let body = try await JSONBody.read(request, allowed: ["user_id", "username", "content", "client_id"], limit: input.messageBodyLimit)
            let content = try input.content(try body.string("content", required: true)!)
            let claimed = try body.integer("user_id")
            // Seed 004 sends the author's name too; it is checked for type and otherwise ignored (the id decides).
            _ = try body.string("username")
            let authorID: Int64
            switch principal {
            case .user(let id, _):
                // With a user's token the author is that user; naming someone else is refused, not ignored.
                if let claimed, claimed != id {
                    throw APIError(.forbidden, code: "forbidden", message: "user_id must be your own (\(id)) or left out")
                }
                authorID = id
            case .service:
                // A backend acts for a user; without one it may not post (403, as a user naming another is).
                guard let claimed else {
                    throw APIError(.forbidden, code: "forbidden", message: "an API key posts on behalf of a user: name the author with user_id")
                }
                authorID = claimed
            }
            let clientID = try ChatInput.clientID(try body.string("client_id"))
            let sent = try await chatCall {
                guard try await store.user(id: authorID) != nil else { throw ChatError(.notFound, field: "user_id", "no user \(authorID)") }
                let room = try await store.defaultRoomID()
                return try await store.sendMessage(roomID: room, authorID: authorID, content: content, clientID: clientID, replyTo: nil, attachmentIDs: [])
            }
            return EditedResponse(status: sent.isRepeat ? .ok : .created, response: sent.message)
        }
        routes.get(":message") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            return try await chatCall { try await store.message(id: try Self.messageID(context), visibleTo: userID) }
        }
        routes.patch(":message") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            let body = try await JSONBody.read(request, allowed: ["content"], limit: input.messageBodyLimit)
            let content = try input.content(try body.string("content", required: true)!)
            return try await chatCall { try await store.editMessage(id: try Self.messageID(context), actor: userID, content: content) }
        }
        routes.post(":message/reactions") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            let body = try await JSONBody.read(request, allowed: ["emoji"])
            let emoji = try ChatInput.emoji(try body.string("emoji", required: true)!)
            return try await chatCall { try await store.addReaction(messageID: try Self.messageID(context), userID: userID, emoji: emoji) }
        }
        routes.delete(":message/reactions") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            guard let text = request.uri.queryParameters["emoji"].map(String.init) else { throw JSONBody.missing("emoji") }
            let emoji = try ChatInput.emoji(text)
            return try await chatCall { try await store.removeReaction(messageID: try Self.messageID(context), userID: userID, emoji: emoji) }
        }
        routes.delete(":message") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            return try await chatCall { try await store.deleteMessage(id: try Self.messageID(context), actor: userID) }
        }
        return routes
    }

    static func messageID(_ context: AppRequestContext) throws -> Int64 {
        guard let id = context.parameters.get("message", as: Int64.self) else {
            throw APIError(.badRequest, code: "invalid_path", message: "the message id must be an integer")
        }
        return id
    }
}

/// Seed 004's `GET /stats`: users, rooms, messages and open sockets.
struct ChatStatsController: Sendable {
    static let ownedPaths = ["/stats"]

    let store: any ChatStore
    let hub: ChatHub
    /// `/stats` is read like `/status`: by whom the `status:` section allows.
    let statusGuard: EndpointGuard

    struct Stats: ResponseEncodable {
        var users: Int
        var rooms: Int
        var messages: Int
        var activeSockets: Int

        enum CodingKeys: String, CodingKey {
            case users, rooms, messages
            case activeSockets = "active_sockets"
        }
    }

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("/stats") { request, context in
            try await statusGuard.check(request, context: context)
            let counts = try await store.counts()
            return Stats(users: counts.users, rooms: counts.rooms, messages: counts.messages, activeSockets: hub.socketCount)
        }
        return routes
    }
}
