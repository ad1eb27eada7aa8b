import Foundation

/// JSON written straight to bytes, for the read paths that answer many messages at once (history pages).
///
/// `JSONEncoder` with sorted keys and a custom date strategy was ~30 % of a 50-message history page's CPU: the
/// `Codable` machinery's retains, dynamic casts and per-object key sorting. The writers below produce the same
/// document as ``ChatJSON/encoder()`` does for these types (keys sorted, every `ChatMessage` key present, `null`
/// included; an attachment's absent `message_id` omitted; slashes not escaped), which a test checks byte for byte.
public struct JSONBytes: Sendable {
    /// The document so far.
    public private(set) var bytes: [UInt8] = []

    /// An empty document with room for `capacity` bytes.
    public init(capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    /// Appends `text` as it is (punctuation, keys known to need no escaping).
    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends `"key":`.
    mutating func key(_ name: StaticString) {
        bytes.append(UInt8(ascii: "\""))
        raw(name)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    /// Appends `value` as a JSON string: quotes, backslashes and control characters escaped, everything else as its
    /// UTF-8 bytes.
    mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var start = 0
            for index in utf8.indices {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: utf8[start..<index])
                start = index + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                }
            }
            bytes.append(contentsOf: utf8[start...])
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends an integer, its digits written in place (no `String` made).
    mutating func integer(_ value: Int64) {
        if value < 0 {
            guard value != .min else { bytes.append(contentsOf: String(value).utf8); return }
            bytes.append(UInt8(ascii: "-"))
        }
        var magnitude = value.magnitude
        let start = bytes.count
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        bytes[start...].reverse()
    }

    /// Appends a time as RFC 3339 with milliseconds, as ``ChatJSON/encoder()`` writes it.
    mutating func date(_ value: Date) {
        string(Timestamp.rfc3339Milliseconds(value))
    }

    // Optionals and arrays are written by hand below rather than through generic helpers taking closures: those
    // cost a generic-metadata lookup per call, which profiled at ~6 % of a history page.

    mutating func string(_ value: String?) {
        if let value { string(value) } else { raw("null") }
    }

    mutating func integer(_ value: Int64?) {
        if let value { integer(value) } else { raw("null") }
    }

    mutating func date(_ value: Date?) {
        if let value { date(value) } else { raw("null") }
    }

    /// A comma before every element but the first.
    mutating func separator(_ index: Int) {
        if index > 0 { bytes.append(UInt8(ascii: ",")) }
    }
}

extension JSONBytes {
    /// Appends messages as a JSON array.
    public mutating func messages(_ messages: [ChatMessage]) {
        raw("[")
        for index in messages.indices {
            separator(index)
            message(messages[index])
        }
        raw("]")
    }

    /// Appends one message: every key, in sorted order.
    public mutating func message(_ message: ChatMessage) {
        raw("{")
        key("attachments"); raw("[")
        for index in message.attachments.indices {
            separator(index)
            attachment(message.attachments[index])
        }
        raw("]")
        raw(","); key("client_id"); string(message.clientID)
        raw(","); key("content"); string(message.content)
        raw(","); key("created_at"); date(message.createdAt)
        raw(","); key("deleted_at"); date(message.deletedAt)
        raw(","); key("edited_at"); date(message.editedAt)
        raw(","); key("id"); integer(message.id)
        raw(","); key("reactions"); raw("[")
        for index in message.reactions.indices {
            separator(index)
            reaction(message.reactions[index])
        }
        raw("]")
        raw(","); key("reply_to"); integer(message.replyTo)
        raw(","); key("room_id"); integer(message.roomID)
        raw(","); key("user_id"); integer(message.userID)
        raw(","); key("username"); string(message.username)
        raw("}")
    }

    mutating func reaction(_ reaction: ReactionCount) {
        raw("{")
        key("count"); integer(Int64(reaction.count))
        raw(","); key("emoji"); string(reaction.emoji)
        raw(","); key("user_ids"); raw("[")
        for index in reaction.userIDs.indices {
            separator(index)
            integer(reaction.userIDs[index])
        }
        raw("]")
        raw("}")
    }

    /// An attachment as its synthesized `Codable` writes it: `message_id` left out when there is none.
    mutating func attachment(_ attachment: ChatAttachment) {
        raw("{")
        key("content_type"); string(attachment.contentType)
        raw(","); key("created_at"); date(attachment.createdAt)
        raw(","); key("filename"); string(attachment.filename)
        raw(","); key("id"); integer(attachment.id)
        if let messageID = attachment.messageID { raw(","); key("message_id"); integer(messageID) }
        raw(","); key("room_id"); integer(attachment.roomID)
        raw(","); key("sha256"); string(attachment.sha256)
        raw(","); key("size"); integer(attachment.size)
        raw(","); key("user_id"); integer(attachment.userID)
        raw("}")
    }
}
