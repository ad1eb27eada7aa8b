import Crypto
import Foundation

/// Outbound Standard Webhooks signatures: `v1,` (HMAC-SHA256 with a `whsec_` secret) and `v1a,` (Ed25519 with a
/// `whsk_` private key, checked by the receiver with its `whpk_` public key), each over `id.timestamp.body`.
///
/// A signer holds one or more secrets (during a rotation, the new one and the old one) and produces one
/// space-separated signature per secret: the `webhook-signature` header.
public struct StandardWebhookSigner: Sendable {
    /// The smallest and largest secret the spec allows, in bytes.
    public static let secretByteRange = 24...64

    private enum Key: Sendable {
        /// Keyed once: each signature starts from a copy, without the key's set-up (two hash blocks and copies).
        case hmac(HMAC<SHA256>)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    private let keys: [Key]

    /// A signer for `secrets` (`whsec_…` or `whsk_…`, each checked by ``parseSecret(_:)``).
    public init(secrets: [String]) throws(SigningSecretError) {
        var keys: [Key] = []
        for secret in secrets {
            switch try Self.parseSecret(secret) {
            case .hmac(let bytes): keys.append(.hmac(HMAC<SHA256>(key: SymmetricKey(data: bytes))))
            case .ed25519(let bytes):
                do {
                    keys.append(.ed25519(try Curve25519.Signing.PrivateKey(rawRepresentation: bytes)))
                } catch {
                    throw SigningSecretError(message: "the whsk_ key is not an Ed25519 private key")
                }
            }
        }
        self.keys = keys
    }

    /// The `webhook-signature` value for one request.
    public func signature(id: String, timestamp: Int64, body: some DataProtocol) -> String {
        // The signed content is made whole once, for every key. Feeding HMAC its parts instead (five `update`s, each
        // a generic call into swift-crypto that is not specialised here) cost more than this ~400-byte copy: 1.8 %
        // of an events drain's samples, of which hashing was 0.2 % (benchmarks/README.md, egress).
        let stamp = String(timestamp)
        var content: [UInt8] = []
        content.reserveCapacity(id.utf8.count + stamp.utf8.count + 2 + body.count)
        content.append(contentsOf: id.utf8)
        content.append(UInt8(ascii: "."))
        content.append(contentsOf: stamp.utf8)
        content.append(UInt8(ascii: "."))
        content.append(contentsOf: body)
        return keys.map { key -> String in
            switch key {
            case .hmac(let keyed):
                var mac = keyed
                content.withUnsafeBytes { mac.update(data: $0) }
                return "v1," + Data(mac.finalize()).base64EncodedString()
            case .ed25519(let key):
                // Signing only fails for a key that is not one, which the initialiser already refused.
                let signature = (try? key.signature(for: content)) ?? Data()
                return "v1a," + signature.base64EncodedString()
            }
        }.joined(separator: " ")
    }

    /// What a secret is, once its prefix and base64 are checked.
    public enum ParsedSecret: Sendable, Equatable {
        case hmac([UInt8])
        case ed25519([UInt8])
    }

    /// Checks a secret: `whsec_` + base64 of 24–64 bytes, or `whsk_` + base64 of a 32-byte Ed25519 private key.
    /// Standard base64 with its padding, as the spec writes secrets (and as they are generated here): one spelling
    /// per secret, so what the OpenAPI document's pattern allows is exactly what is accepted.
    public static func parseSecret(_ secret: String) throws(SigningSecretError) -> ParsedSecret {
        if secret.hasPrefix("whsec_") {
            guard let bytes = Data(base64Encoded: String(secret.dropFirst("whsec_".count))).map(Array.init) else {
                throw SigningSecretError(message: "the part after whsec_ is not standard base64 with its padding")
            }
            guard secretByteRange.contains(bytes.count) else {
                throw SigningSecretError(message: "must be base64 of \(secretByteRange.lowerBound) to \(secretByteRange.upperBound) bytes after whsec_, got \(bytes.count)")
            }
            return .hmac(bytes)
        }
        if secret.hasPrefix("whsk_") {
            guard let bytes = Data(base64Encoded: String(secret.dropFirst("whsk_".count))).map(Array.init), bytes.count == 32 else {
                throw SigningSecretError(message: "the part after whsk_ must be base64 of a 32-byte Ed25519 private key")
            }
            return .ed25519(bytes)
        }
        throw SigningSecretError(message: "must start with whsec_ (HMAC) or whsk_ (Ed25519)")
    }

    /// A new HMAC secret: `whsec_` + base64 of 32 random bytes.
    public static func generateHMACSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        return "whsec_" + ByteEncoding.base64String((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// A new Ed25519 private key as `whsk_` + base64.
    public static func generateEd25519Secret() -> String {
        "whsk_" + Curve25519.Signing.PrivateKey().rawRepresentation.base64EncodedString()
    }

    /// The `whpk_` public key a receiver verifies `v1a,` signatures of `secret` with; nil for an HMAC secret.
    public static func publicKey(for secret: String) -> String? {
        guard case .ed25519(let bytes)? = try? parseSecret(secret),
              let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: bytes)
        else { return nil }
        return "whpk_" + key.publicKey.rawRepresentation.base64EncodedString()
    }
}

/// A signing secret that is not one, and why.
public struct SigningSecretError: Error, Sendable, Equatable {
    public let message: String

    public init(message: String) {
        self.message = message
    }
}
