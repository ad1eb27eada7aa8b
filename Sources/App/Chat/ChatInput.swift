import Core
import Foundation

/// The rules every chat field is held to, shared by REST and the socket.
struct ChatInput: Sendable {
    let maxMessageBytes: Int

    /// The largest request body that can carry a message of the largest size (JSON escapes may double it).
    var messageBodyLimit: Int { maxMessageBytes * 2 + 4096 }

    static func username(_ value: String) throws -> String {
        let allowed = value.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "_.-".unicodeScalars.contains($0) }
        guard (3...32).contains(value.unicodeScalars.count), allowed, value.unicodeScalars.allSatisfy(\.isASCII) else {
            throw JSONBody.invalid("username", "must be 3 to 32 characters of letters, digits, _ . or -")
        }
        return value
    }

    static func email(_ value: String) throws -> String {
        let parts = value.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), value.count <= 254,
              !value.contains(where: { $0.isWhitespace })
        else { throw JSONBody.invalid("email", "must be an address such as ann@example.com") }
        return value
    }

    /// Lengths count Unicode scalars, as JSON Schema's `minLength` does.
    static func password(_ value: String, field: String = "password") throws -> String {
        guard (8...1024).contains(value.unicodeScalars.count) else {
            throw JSONBody.invalid(field, "must be 8 to 1024 characters")
        }
        return value
    }

    static func displayName(_ value: String?) throws -> String? {
        guard let value else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.unicodeScalars.count <= 64 else { throw JSONBody.invalid("display_name", "must be at most 64 characters") }
        return trimmed.isEmpty ? nil : trimmed
    }

    static func roomName(_ value: String) throws -> String {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...100).contains(trimmed.unicodeScalars.count) else { throw JSONBody.invalid("name", "must be 1 to 100 characters") }
        return trimmed
    }

    static func topic(_ value: String?) throws -> String? {
        guard let value else { return nil }
        guard value.unicodeScalars.count <= 500 else { throw JSONBody.invalid("topic", "must be at most 500 characters") }
        return value
    }

    static func clientID(_ value: String?) throws -> String? {
        guard let value else { return nil }
        guard (1...64).contains(value.unicodeScalars.count), value.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7f })
        else { throw JSONBody.invalid("client_id", "must be 1 to 64 visible ASCII characters") }
        return value
    }

    /// Message text: not blank (unless files go with it), at most `maxMessageBytes` of UTF-8 (more is 413).
    func content(_ value: String, hasAttachments: Bool = false) throws -> String {
        guard value.utf8.count <= maxMessageBytes else {
            throw APIError(.contentTooLarge, code: "message_too_large", message: "content is larger than \(maxMessageBytes) bytes")
        }
        guard hasAttachments || !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw JSONBody.invalid("content", "must not be empty")
        }
        return value
    }

    /// One emoji: a single grapheme that is drawn as an emoji (an emoji-presentation scalar, a text symbol with
    /// U+FE0F, a keycap, a flag or a ZWJ sequence of them). `1` or `A` is not.
    static func emoji(_ value: String) throws -> String {
        guard value.count == 1, value.utf8.count <= 64, let character = value.first else {
            throw JSONBody.invalid("emoji", "must be a single emoji")
        }
        let scalars = character.unicodeScalars
        let isEmoji = scalars.contains { $0.properties.isEmojiPresentation }
            || (scalars.contains { $0.properties.isEmoji } && scalars.contains { $0.value == 0xFE0F || $0.value == 0x20E3 })
        guard isEmoji else { throw JSONBody.invalid("emoji", "must be a single emoji") }
        return value
    }

    /// An upload's file name: shown and offered back on download, never used as a path. Required, 1 to 255
    /// characters, no control characters, no path separators.
    static func filename(_ value: String?) throws -> String {
        guard let value else { throw APIError(.badRequest, code: "missing_field", message: "filename is required (a query parameter)") }
        guard (1...255).contains(value.unicodeScalars.count),
              !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f || $0 == "/" || $0 == "\\" })
        else { throw JSONBody.invalid("filename", "must be 1 to 255 characters without control characters or slashes") }
        return value
    }

    static func role(_ value: String?) throws -> MemberRole? {
        guard let value else { return nil }
        guard let role = MemberRole(rawValue: value) else { throw JSONBody.invalid("role", "must be owner, admin or member") }
        return role
    }

    static func visibility(_ value: String?) throws -> RoomVisibility {
        guard let value else { return .public }
        guard let visibility = RoomVisibility(rawValue: value) else { throw JSONBody.invalid("visibility", "must be public or private") }
        return visibility
    }
}
