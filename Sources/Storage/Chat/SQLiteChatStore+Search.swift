import Core
import Foundation
import GRDB

extension SQLiteChatStore {
    public func search(_ query: String, visibleTo userID: Int64, roomID: Int64?, limit: Int, offset: Int) async throws -> [SearchHit] {
        try await writer.read { db in
            if let roomID { _ = try Self.requireMember(db, roomID: roomID, userID: userID) }
            let terms = query.split(whereSeparator: \.isWhitespace).map(String.init)
            guard !terms.isEmpty else { return [] }
            // Each term quoted (FTS5 syntax in the query is text, not operators); the last one also as a prefix.
            let quoted = terms.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
            let wordQuery = quoted.dropLast().joined(separator: " ") + " " + quoted.last! + "*"
            let scope = roomID == nil
                ? "x.room_id IN (SELECT room_id FROM chat_members WHERE user_id = :user AND left_position IS NULL)"
                : "x.room_id = :room"
            var arguments: [String: (any DatabaseValueConvertible)?] = ["user": userID, "room": roomID, "words": wordQuery]
            var sources = ["""
                SELECT x.id AS id, 0 AS tier, bm25(chat_search_words) AS score,
                    snippet(chat_search_words, 0, char(1), char(2), '…', 12) AS snippet
                FROM chat_search_words JOIN chat_messages x ON x.id = chat_search_words.rowid
                WHERE chat_search_words MATCH :words AND x.deleted_at IS NULL AND \(scope)
                """]
            // Trigrams find fragments and text without spaces (Chinese, Japanese); a phrase of three characters at
            // least. Shorter text is matched with LIKE, over the caller's rooms only.
            if query.count >= 3 {
                arguments["trigrams"] = "\"" + query.replacingOccurrences(of: "\"", with: "\"\"") + "\""
                sources.append("""
                    SELECT x.id, 1, bm25(chat_search_trigrams), snippet(chat_search_trigrams, 0, char(1), char(2), '…', 12)
                    FROM chat_search_trigrams JOIN chat_messages x ON x.id = chat_search_trigrams.rowid
                    WHERE chat_search_trigrams MATCH :trigrams AND x.deleted_at IS NULL AND \(scope)
                    """)
            } else {
                arguments["like"] = "%" + query.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                    .replacingOccurrences(of: "_", with: "\\_") + "%"
                sources.append("""
                    SELECT x.id, 2, 0, x.content FROM chat_messages x
                    WHERE x.content LIKE :like ESCAPE '\\' AND x.deleted_at IS NULL AND \(scope)
                    """)
            }
            arguments["limit"] = limit
            arguments["offset"] = offset
            // Best tier per message (a word match beats a fragment), then rank, then newest.
            let rows = try Row.fetchAll(db, sql: """
                SELECT id, MIN(tier) AS tier, MIN(score) AS score, snippet FROM (\(sources.joined(separator: " UNION ALL ")))
                GROUP BY id ORDER BY tier, score, id DESC LIMIT :limit OFFSET :offset
                """, arguments: StatementArguments(arguments))
            let ids = rows.map { $0["id"] as Int64 }
            let messages = try Self.withReactions(
                try ids.compactMap { try Row.fetchOne(db, sql: "\(Self.messageSelect) WHERE x.id = ?", arguments: [$0]).map(Self.message) },
                db: db
            )
            return zip(messages, rows).map { SearchHit(message: $0, snippet: $1["snippet"]) }
        }
    }
}
