#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Hex and base64 codecs for signatures and keys, kept internal so callers see only bytes and strings.
enum ByteEncoding {
    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Lower-case hex, the form Stripe, GitHub and most HMAC senders use.
    static func hexString(_ bytes: some Sequence<UInt8>) -> String {
        var characters: [UInt8] = []
        characters.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            characters.append(Self.hexDigits[Int(byte >> 4)])
            characters.append(Self.hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// Decodes hex in either case; `nil` for odd lengths or non-hex characters.
    static func decodeHex(_ text: Substring) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count.isMultiple(of: 2) else {
            return nil
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(characters.count / 2)
        var index = 0
        while index < characters.count {
            guard let high = Self.nibble(characters[index]), let low = Self.nibble(characters[index + 1]) else {
                return nil
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Decodes standard or URL-safe base64, with or without padding; `nil` when it is not base64.
    ///
    /// Senders disagree on padding and alphabet, and accepting both costs nothing: the decoded bytes are compared
    /// against a MAC either way.
    static func decodeBase64(_ text: Substring) -> [UInt8]? {
        guard !text.isEmpty else {
            return nil
        }
        var normalised = String(text)
        if normalised.contains(where: { $0 == "-" || $0 == "_" }) {
            normalised = String(normalised.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        }
        let remainder = normalised.utf8.count % 4
        if remainder == 1 {
            return nil
        }
        if remainder != 0 {
            normalised += String(repeating: "=", count: 4 - remainder)
        }
        guard let data = Data(base64Encoded: normalised) else {
            return nil
        }
        return Array(data)
    }

    /// Standard base64 with padding, the form Standard Webhooks and Postal use.
    static func base64String(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString()
    }

    /// URL-safe base64 without padding (RFC 4648 section 5), so a key survives URLs, headers and shells unquoted.
    static func base64URLString(_ bytes: some Sequence<UInt8>) -> String {
        var text = Data(bytes).base64EncodedString()
        text = String(text.compactMap { character -> Character? in
            switch character {
            case "+": "-"
            case "/": "_"
            case "=": nil
            default: character
            }
        })
        return text
    }
}
