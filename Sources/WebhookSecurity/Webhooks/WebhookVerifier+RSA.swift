import Crypto
import _CryptoExtras

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The `rsa` scheme, as Postal signs: a base64 RSA-SHA256 PKCS#1 v1.5 signature of the body, checked with one or
// more configured public keys.

extension WebhookVerifier {
    /// Builds the `rsa` scheme: a public key instead of secrets, the signature in `X-Postal-Signature-256` unless
    /// renamed.
    static func makeRSAMethod(_ configuration: VerifierConfiguration) throws(SecurityConfigurationError) -> Method {
        try Self.checkFixed(configuration, algorithm: .sha256, encoding: .base64, prefix: nil)
        guard configuration.secrets.isEmpty else {
            throw SecurityConfigurationError(
                code: .inapplicableOption,
                message: "the rsa scheme verifies with a public key; remove the secrets setting")
        }
        guard let text = configuration.publicKeyPEM,
            !text.allSatisfy({ $0.isWhitespace })
        else {
            throw SecurityConfigurationError(code: .missingPublicKey, message: "the rsa scheme needs a public key")
        }
        return .rsa(
            header: try Self.checkedHeaderName(configuration.header ?? "X-Postal-Signature-256"),
            keys: try Self.rsaPublicKeys(text)
        )
    }

    /// Checks a request signed with the `rsa` scheme; returns the failure, or `nil` when it is authentic.
    static func checkRSA(
        header: String,
        keys: [_RSA.Signing.PublicKey],
        body: UnsafeRawBufferPointer,
        headers: (String) -> String?
    ) -> VerificationFailure? {
        guard let value = Self.value(of: header, in: headers) else {
            return .missing(header)
        }
        guard let signatureBytes = ByteEncoding.decodeBase64(value[...]) else {
            return .malformed(header)
        }
        let signature = _RSA.Signing.RSASignature(rawRepresentation: signatureBytes)
        let digest = SHA256.hash(data: body)
        let isValid = keys.contains { key in
            key.isValidSignature(signature, for: digest, padding: .insecurePKCS1v1_5)
        }
        return isValid ? nil : .noMatch
    }

    // MARK: - Public keys

    /// Parses every PEM block in `text`, or the whole text as base64 DER when it holds no PEM armour.
    private static func rsaPublicKeys(_ text: String) throws(SecurityConfigurationError) -> [_RSA.Signing.PublicKey] {
        let invalid = SecurityConfigurationError(
            code: .invalidPublicKey,
            message: "the public key is not a PEM or base64 DER RSA public key of at least 1024 bits")
        var keys: [_RSA.Signing.PublicKey] = []
        if text.contains("-----BEGIN") {
            for block in Self.pemBlocks(text) {
                do {
                    // `unsafe` only lowers the size floor to 1024 bits: Postal generates 1024-bit signing keys.
                    keys.append(try _RSA.Signing.PublicKey(unsafePEMRepresentation: block))
                } catch {
                    throw invalid
                }
            }
        } else {
            let compact = text.filter { !$0.isWhitespace }
            guard let der = ByteEncoding.decodeBase64(compact[...]) else {
                throw invalid
            }
            do {
                keys.append(try _RSA.Signing.PublicKey(unsafeDERRepresentation: der))
            } catch {
                throw invalid
            }
        }
        guard !keys.isEmpty else {
            throw invalid
        }
        return keys
    }

    /// Splits concatenated PEM documents so several keys can be configured for rotation.
    private static func pemBlocks(_ text: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingHTTPWhitespace()
            if trimmed.hasPrefix("-----BEGIN") {
                current = [trimmed]
            } else if trimmed.hasPrefix("-----END") {
                if !current.isEmpty {
                    current.append(trimmed)
                    blocks.append(current.joined(separator: "\n"))
                }
                current = []
            } else if !current.isEmpty {
                current.append(trimmed)
            }
        }
        // An unterminated block must fail rather than silently vanish and leave fewer keys than configured.
        if !current.isEmpty {
            blocks.append(current.joined(separator: "\n"))
        }
        return blocks
    }
}
