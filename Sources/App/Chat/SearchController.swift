import Core
import Foundation
import Hummingbird

/// `GET /api/v1/search?q=&room=&limit=&cursor=`: messages in the caller's rooms, best match first.
struct SearchController: Sendable {
    static let mountPath = "/api/v1/search"

    let store: any ChatStore
    let authenticator: ChatAuthenticator

    struct Hit: Encodable {
        var message: ChatMessage
        /// The text around the match, HTML-escaped, the matches in `<mark>`.
        var snippet: String
    }

    struct Results: ResponseEncodable {
        var results: [Hit]
        /// Pass as `cursor` for the next page; null on the last.
        var nextCursor: String?

        enum CodingKeys: String, CodingKey {
            case results
            case nextCursor = "next_cursor"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(results, forKey: .results)
            try container.encode(nextCursor, forKey: .nextCursor)
        }
    }

    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get { request, context in
            let userID = try await authenticator.userID(request, context: context)
            let query = request.uri.queryParameters
            guard let text = query["q"].map(String.init)?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else {
                throw APIError(.badRequest, code: "invalid_query", message: "q is required: the text to search for")
            }
            guard text.unicodeScalars.count <= 200 else {
                throw APIError(.badRequest, code: "invalid_query", message: "q must be at most 200 characters")
            }
            let limit = try Page.integer(query["limit"].map(String.init), name: "limit", default: 20, range: 1...100)
            let offset = try Page.integer(query["cursor"].map(String.init), name: "cursor", default: 0, range: 0...10_000)
            var roomID: Int64?
            if let room = query["room"].map(String.init) {
                guard let id = Int64(room) else { throw APIError(.badRequest, code: "invalid_query", message: "room must be a room id") }
                roomID = id
            }
            let hits = try await chatCall {
                try await store.search(text, visibleTo: userID, roomID: roomID, limit: limit, offset: offset)
            }
            return Results(
                results: hits.map { Hit(message: $0.message, snippet: Self.marked($0.snippet)) },
                nextCursor: hits.count == limit ? String(offset + limit) : nil
            )
        }
        return routes
    }

    /// HTML-escapes the snippet, then turns the store's match markers (U+0001, U+0002) into `<mark>` tags.
    static func marked(_ snippet: String) -> String {
        var result = ""
        for character in snippet {
            switch character {
            case "\u{1}": result += "<mark>"
            case "\u{2}": result += "</mark>"
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }
}
