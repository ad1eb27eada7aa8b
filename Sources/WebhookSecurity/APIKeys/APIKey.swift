import Crypto

/// A newly generated API key: the secret to show its owner once, and the values to store instead of it.
///
/// Only ``hash`` and ``displayPrefix`` are stored. Because the key is 256 random bits, a plain SHA-256 is enough to
/// make a stolen database useless (there is nothing to brute-force) and, unlike bcrypt, it is cheap enough to look
/// a key up by its hash on every request.
public struct APIKey: Sendable, CustomStringConvertible {
    /// The default prefix, which lets secret scanners and people recognise a MessageBridge key.
    public static let defaultPrefix = "mb_"
    /// How many characters after the prefix ``displayPrefix`` keeps: enough to tell keys apart in a list, far too
    /// few to help guess one.
    public static let displayCharacterCount = 8

    /// The full key, `<prefix><base64url of the random bytes>`. Show it once; never store or log it.
    public let secret: String
    /// Lower-case hex SHA-256 of ``secret``'s UTF-8 bytes; what the store keeps.
    public let hash: String
    /// The prefix and the first ``displayCharacterCount`` characters after it, e.g. `mb_Xq3v9TzA`, for listings.
    public let displayPrefix: String

    /// Generates a key from `byteCount` bytes of the system's cryptographically secure generator.
    ///
    /// - Parameters:
    ///   - prefix: Text put before the random part.
    ///   - byteCount: Random bytes in the key; values below 32 are raised to 32 so a key is never guessable.
    public static func generate(prefix: String = APIKey.defaultPrefix, byteCount: Int = 32) -> APIKey {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<max(32, byteCount)).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let secret = prefix + ByteEncoding.base64URLString(bytes)
        return APIKey(secret: secret, hash: Self.hash(secret), displayPrefix: Self.displayPrefix(of: secret, prefix: prefix))
    }

    /// The stored form of a presented key: lower-case hex SHA-256 of its UTF-8 bytes.
    public static func hash(_ presented: String) -> String {
        ByteEncoding.hexString(SHA256.hash(data: Array(presented.utf8)))
    }

    /// Whether a presented key matches a stored hash, compared in constant time.
    ///
    /// - Parameters:
    ///   - presented: The key as the client sent it.
    ///   - storedHash: A value of ``hash`` kept earlier; compared case-insensitively as hex.
    public static func matches(_ presented: String, storedHash: String) -> Bool {
        constantTimeEquals(Self.hash(presented).utf8, storedHash.lowercased().utf8)
    }

    /// The display prefix of a presented key, for logging which key was used without logging the key.
    ///
    /// - Parameter prefix: The prefix the key was generated with; when the key does not start with it, the first
    ///   ``displayCharacterCount`` characters are kept.
    public static func displayPrefix(of presented: String, prefix: String = APIKey.defaultPrefix) -> String {
        let body = presented.hasPrefix(prefix) ? presented.dropFirst(prefix.count) : presented[...]
        let kept = body.prefix(Self.displayCharacterCount)
        return presented.hasPrefix(prefix) ? prefix + kept : String(kept)
    }

    /// Keeps the secret out of string interpolation, so logging the value by mistake leaks only the display prefix.
    public var description: String {
        "APIKey(\(self.displayPrefix)…)"
    }
}
