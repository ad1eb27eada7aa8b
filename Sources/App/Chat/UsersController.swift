import Core
import Foundation
import Hummingbird

/// `/api/v1/users`: the directory (public fields only), the caller's own profile, and seed 004's
/// `POST /api/v1/users` for a trusted backend.
struct UsersController: Sendable {
    static let mountPath = "/api/v1/users"

    let store: any ChatStore
    let authenticator: ChatAuthenticator
    let hub: ChatHub

    /// Whether a user is online (has an open socket) and when this server last saw them.
    struct Presence: Encodable {
        var userID: Int64
        var status: String
        var lastSeenAt: Date?

        enum CodingKeys: String, CodingKey {
            case userID = "user_id"
            case status
            case lastSeenAt = "last_seen_at"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(userID, forKey: .userID)
            try container.encode(status, forKey: .status)
            try container.encode(lastSeenAt, forKey: .lastSeenAt)
        }
    }

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get { request, context in
            _ = try await authenticator.principal(request, context: context)
            let page = try Page(request, defaultLimit: 100)
            return try await store.users(limit: page.limit, offset: page.offset)
        }
        // Seed 004: a backend (API key of scope ingest or admin) makes an account without a password.
        routes.post { request, context in
            guard case .service = try await authenticator.principal(request, context: context) else {
                throw APIError(.forbidden, code: "forbidden", message: "accounts are made with POST /api/v1/auth/register; this endpoint is for a backend's API key")
            }
            let body = try await JSONBody.read(request, allowed: ["username", "email", "display_name"])
            let user = try await chatCall {
                try await store.createUser(.init(
                    username: try ChatInput.username(try body.string("username", required: true)!),
                    email: try ChatInput.email(try body.string("email", required: true)!),
                    passwordHash: nil,
                    displayName: try ChatInput.displayName(try body.string("display_name"))
                ))
            }
            return EditedResponse(status: .created, response: user)
        }
        routes.get("me") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            guard let user = try await store.user(id: userID) else { throw APIError(ChatError.userNotFound(userID)) }
            return user
        }
        routes.patch("me") { request, context in
            let userID = try await authenticator.userID(request, context: context)
            let body = try await JSONBody.read(request, allowed: ["display_name"])
            let name = try ChatInput.displayName(try body.string("display_name", nullable: true))
            return try await chatCall { try await store.updateDisplayName(userID: userID, displayName: name) }
        }
        // Presence of the users who share a room with the caller; others are left out.
        routes.get("presence") { request, context -> [Presence] in
            let userID = try await authenticator.userID(request, context: context)
            let text = request.uri.queryParameters["user_ids"].map(String.init) ?? ""
            let ids = try text.split(separator: ",").map { part -> Int64 in
                guard let id = Int64(part) else { throw APIError(.badRequest, code: "invalid_query", message: "user_ids must be user ids separated by commas") }
                return id
            }
            guard ids.count <= 200 else { throw APIError(.badRequest, code: "invalid_query", message: "at most 200 user_ids") }
            return hub.presence(of: ids, viewer: userID).map {
                Presence(userID: $0.userID, status: $0.isOnline ? "online" : "offline", lastSeenAt: $0.lastSeen)
            }
        }
        routes.get(":id") { request, context in
            _ = try await authenticator.principal(request, context: context)
            let id = try context.parameters.require("id", as: Int64.self)
            guard let user = try await store.user(id: id) else { throw APIError(ChatError.userNotFound(id)) }
            return user
        }
        return routes
    }
}

/// `limit` and `offset` query parameters, checked.
struct Page {
    var limit: Int
    var offset: Int

    init(_ request: Request, defaultLimit: Int, maxLimit: Int = 100) throws {
        let query = request.uri.queryParameters
        limit = try Self.integer(query["limit"].map(String.init), name: "limit", default: defaultLimit, range: 1...maxLimit)
        offset = try Self.integer(query["offset"].map(String.init), name: "offset", default: 0, range: 0...Int(Int32.max))
    }

    static func integer(_ text: String?, name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw APIError(.badRequest, code: "invalid_query", message: "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }
}
