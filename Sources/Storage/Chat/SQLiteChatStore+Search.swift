import Core
import Foundation
import GRDB

extension SQLiteChatStore {
    /// How many of the newest matches of each source a search ranks: `max(searchWindow, offset + limit)`.
    ///
    /// Ranking every match is what made a frequent word slow at a million messages (every match scored, joined to its
    /// message and snippeted, in all rooms: hundreds of milliseconds). Newest first, FTS5 stops after the window's
    /// worth of matches in the caller's rooms, so the cost follows the window, not the number of matches. Snippets
    /// are made in the same pass: FTS5 has the match's positions at hand there (~16 µs a row), while a separate
    /// lookup per hit of the page re-reads the term's whole doclist (~1 ms a hit for a frequent word).
    static let searchWindow = 200

    /// How many of the newest messages in the caller's rooms a one- or two-character search reads by default.
    ///
    /// Such a fragment has no index (trigrams need three characters), so it is matched with `LIKE` row by row; a
    /// rare one would otherwise read every message of every room the caller is in (0.43 s for a room of a million,
    /// `benchmarks/README.md`). Bounded, it costs ~20 ms at most and finds what is recent, which is what such a
    /// search is for.
    public static let defaultShortQueryScanLimit = 10_000

    public func search(_ query: String, visibleTo userID: Int64, roomID: Int64?, limit: Int, offset: Int) async throws -> [SearchHit] {
        let scanLimit = shortQueryScanLimit
        return try await writer.read { db in
            if let roomID { _ = try Self.requireMember(db, roomID: roomID, userID: userID) }
            let terms = query.split(whereSeparator: \.isWhitespace).map(String.init)
            guard !terms.isEmpty else { return [] }
            let wanted = offset + limit
            let window = max(Self.searchWindow, wanted)
            let scope = roomID == nil
                ? "x.room_id IN (SELECT room_id FROM chat_members WHERE user_id = :user AND left_position IS NULL)"
                : "x.room_id = :room"
            var arguments: [String: (any DatabaseValueConvertible)?] = ["user": userID, "room": roomID, "window": window]

            // Words: each term quoted (FTS5 syntax in the query is text, not operators); the last one also as a prefix.
            let quoted = terms.map(Self.ftsPhrase)
            let words = quoted.dropLast().joined(separator: " ") + " " + quoted.last! + "*"
            arguments["words"] = words
            var hits = try Self.candidates(db, tier: .words, sql: """
                SELECT x.id, bm25(chat_search_words), snippet(chat_search_words, 0, char(1), char(2), '…', 12)
                FROM chat_search_words CROSS JOIN chat_messages x ON x.id = chat_search_words.rowid
                WHERE chat_search_words MATCH :words AND x.deleted_at IS NULL AND \(scope)
                ORDER BY chat_search_words.rowid DESC LIMIT :window
                """, arguments: arguments)

            // Fragments and text without spaces (Chinese, Japanese): trigrams for three characters or more, LIKE
            // (over the newest `shortQueryScanLimit` messages of the caller's rooms) for less. Ranked after every
            // word match, so they are looked for only when the word matches do not fill the page.
            if hits.count < wanted {
                let fragments: [Candidate]
                if query.count >= 3 {
                    arguments["trigrams"] = Self.ftsPhrase(query)
                    fragments = try Self.candidates(db, tier: .trigrams, sql: """
                        SELECT x.id, bm25(chat_search_trigrams), snippet(chat_search_trigrams, 0, char(1), char(2), '…', 12)
                        FROM chat_search_trigrams CROSS JOIN chat_messages x ON x.id = chat_search_trigrams.rowid
                        WHERE chat_search_trigrams MATCH :trigrams AND x.deleted_at IS NULL AND \(scope)
                        ORDER BY chat_search_trigrams.rowid DESC LIMIT :window
                        """, arguments: arguments)
                } else {
                    arguments["like"] = "%" + query.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                        .replacingOccurrences(of: "_", with: "\\_") + "%"
                    // Every LIKE match scores the same, so the newest `wanted` are the page's.
                    arguments["wanted"] = wanted
                    // Only the newest `shortQueryScanLimit` messages of the scope are read (see its doc).
                    arguments["scan"] = scanLimit
                    fragments = try Self.candidates(db, tier: .like, sql: """
                        SELECT x.id, 0, x.content FROM (
                            SELECT x.id, x.content FROM chat_messages x
                            WHERE x.deleted_at IS NULL AND \(scope) ORDER BY x.id DESC LIMIT :scan
                        ) x
                        WHERE x.content LIKE :like ESCAPE '\\'
                        ORDER BY x.id DESC LIMIT :wanted
                        """, arguments: arguments)
                }
                let found = Set(hits.map(\.id))
                hits += fragments.filter { !found.contains($0.id) }
            }

            // Best tier first (a word match beats a fragment), then rank, then newest.
            hits.sort { ($0.tier.rawValue, $0.score, -$0.id) < ($1.tier.rawValue, $1.score, -$1.id) }
            let page = hits.dropFirst(offset).prefix(limit)
            var results: [SearchHit] = []
            for hit in page {
                guard let message = try Row.fetchOne(db.cachedStatement(sql: "\(Self.messageSelect) WHERE x.id = ?"), arguments: [hit.id]).map(Self.message) else {
                    continue
                }
                results.append(SearchHit(message: message, snippet: hit.snippet))
            }
            let messages = try Self.withReactions(results.map(\.message), db: db)
            for index in results.indices { results[index].message = messages[index] }
            return results
        }
    }

    /// Where a hit was found.
    enum SearchTier: Int {
        case words, trigrams, like
    }

    /// A message that matched, before it is ranked.
    struct Candidate {
        var id: Int64
        var tier: SearchTier
        /// bm25: lower is better.
        var score: Double
        /// The text around the match, the matches between U+0001 and U+0002 (a LIKE match: the whole message).
        var snippet: String
    }

    /// The rows `(id, score, snippet)` of `sql` as candidates of `tier`.
    static func candidates(_ db: Database, tier: SearchTier, sql: String, arguments: [String: (any DatabaseValueConvertible)?]) throws -> [Candidate] {
        try Row.fetchAll(db.cachedStatement(sql: sql), arguments: StatementArguments(arguments)).map {
            Candidate(id: $0[0], tier: tier, score: $0[1], snippet: $0[2])
        }
    }

    /// `text` as one FTS5 string: quoted, inner quotes doubled, so nothing in it is an operator.
    static func ftsPhrase(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
