import Foundation

/// A message's stable identity: a UUIDv7 string, so ids sort by acceptance time and inserts land at the end of
/// the store's index instead of dirtying a random page.
public struct MessageID: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The canonical lowercase UUID text, e.g. `0190b3c2-7c1e-7a3b-9f4e-2d1c0b9a8e7f`.
    public let rawValue: String

    /// Wraps an id read back from the store or the command line.
    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// Makes a new time-ordered id for a message accepted at `date`.
    public static func make(at date: Date = Date()) -> MessageID {
        var generator = SystemRandomNumberGenerator()
        return make(at: date, using: &generator)
    }

    /// Makes a new time-ordered id with the given source of randomness (tests pass a seeded one).
    public static func make(at date: Date, using generator: inout some RandomNumberGenerator) -> MessageID {
        let milliseconds = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 {
            bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - index)))
        }
        let random = generator.next() as UInt64
        let random2 = generator.next() as UInt64
        for index in 6..<16 {
            let source = index < 14 ? random : random2
            bytes[index] = UInt8(truncatingIfNeeded: source >> (8 * (index % 8)))
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x70  // version 7
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        // One buffer, one String: this runs for every accepted webhook.
        let digits = Array("0123456789abcdef".utf8)
        var characters = [UInt8]()
        characters.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { characters.append(UInt8(ascii: "-")) }
            characters.append(digits[Int(byte >> 4)])
            characters.append(digits[Int(byte & 0x0F)])
        }
        return MessageID(rawValue: String(decoding: characters, as: UTF8.self))
    }

    /// The id's text.
    public var description: String { rawValue }

    /// Hashes the text's last eight bytes, which for a generated id are random, instead of all 36: ids key the
    /// store's lease table, several lookups per delivery, where hashing the whole text showed in profiles. Equal ids
    /// still have equal hashes, and equality still compares the whole text; shorter or non-contiguous text is hashed
    /// whole.
    public func hash(into hasher: inout Hasher) {
        let tail: UInt64? = rawValue.utf8.withContiguousStorageIfAvailable { bytes in
            guard bytes.count >= 8 else { return nil }
            return UnsafeRawBufferPointer(bytes).loadUnaligned(fromByteOffset: bytes.count - 8, as: UInt64.self)
        } ?? nil
        if let tail {
            hasher.combine(tail)
        } else {
            hasher.combine(rawValue)
        }
    }

    public static func == (lhs: MessageID, rhs: MessageID) -> Bool { lhs.rawValue == rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
