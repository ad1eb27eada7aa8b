import Core
import Foundation
import Testing

/// `JSONBytes` writes messages exactly as `ChatJSON.encoder()` (the `Codable` path) does, byte for byte.
@Suite("JSON written to bytes")
struct JSONBytesTests {
    static let texts = [
        "", "plain", "quote \" and backslash \\ and slash /", "tab\tnew\nline\r and \u{8}\u{C} and \u{1}\u{1F}\u{7F}",
        "Привет, мир", "我们明天在北京见面", "emoji 👍🏽 and family 👨‍👩‍👧", "<b>&amp;</b> 'single'", "\u{2028}\u{2029}\u{FEFF}",
    ]

    static func messages() -> [ChatMessage] {
        var messages: [ChatMessage] = []
        for (index, text) in texts.enumerated() {
            let at = Date(timeIntervalSince1970: 1_764_547_200 + Double(index) * 61.237)
            var message = ChatMessage(
                id: Int64(index + 1), userID: 7, username: index % 2 == 0 ? "ann" : "бoб \"x\"", content: text, createdAt: at,
                roomID: Int64(100 + index), clientID: index % 3 == 0 ? nil : "client-\(index)/\(text)", replyTo: index % 2 == 0 ? nil : Int64(index),
                editedAt: index % 4 == 1 ? at.addingTimeInterval(5.5) : nil, deletedAt: index == 5 ? at.addingTimeInterval(9) : nil
            )
            if index % 2 == 1 {
                message.reactions = [ReactionCount(emoji: "👍", count: 2, userIDs: [1, 2]), ReactionCount(emoji: text, count: 3, userIDs: [Int64.max, -42, Int64.min, 0])]
            }
            if index % 3 == 2 {
                message.attachments = [
                    ChatAttachment(id: 9, roomID: 3, userID: 4, messageID: Int64(index + 1), filename: "a \"b\"/c.png", contentType: "image/png", size: 1 << 40, sha256: "ab01", createdAt: at),
                    ChatAttachment(id: 10, roomID: 3, userID: 4, messageID: nil, filename: text, contentType: "text/plain", size: 0, sha256: "", createdAt: at),
                ]
            }
            messages.append(message)
        }
        return messages
    }

    @Test("a page of messages (nulls, reactions, attachments, escapes, every script) is the Codable encoder's document")
    func sameAsEncoder() throws {
        let messages = Self.messages()
        var json = JSONBytes()
        json.messages(messages)
        let expected = try ChatJSON.encoder().encode(messages)
        #expect(String(decoding: json.bytes, as: UTF8.self) == String(decoding: expected, as: UTF8.self))
        // And it reads back as the same messages.
        #expect(try ChatJSON.decoder().decode([ChatMessage].self, from: Data(json.bytes)) == messages)
        var empty = JSONBytes()
        empty.messages([])
        #expect(empty.bytes == Array("[]".utf8))
    }
}
