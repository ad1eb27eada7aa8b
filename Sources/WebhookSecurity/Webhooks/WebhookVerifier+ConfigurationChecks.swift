import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// Start-up checks that several schemes share: header names, the options a scheme fixes, and secrets.

extension WebhookVerifier {
    /// Returns `name` if it is a valid HTTP field name, or throws.
    static func checkedHeaderName(_ name: String) throws(SecurityConfigurationError) -> String {
        // RFC 9110 `token`: anything else could never arrive as a header, so the verifier would reject everything.
        let isToken = !name.isEmpty && name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "A")...UInt8(ascii: "Z"):
                true
            default:
                "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }
        guard isToken else {
            throw SecurityConfigurationError(
                code: .invalidHeaderName, message: "header name '\(name)' is not a valid HTTP field name")
        }
        return name
    }

    /// Throws if the configuration sets an algorithm, encoding or prefix other than the one its scheme fixes.
    static func checkFixed(
        _ configuration: VerifierConfiguration,
        algorithm: VerifierConfiguration.Algorithm,
        encoding: VerifierConfiguration.Encoding,
        prefix: String?
    ) throws(SecurityConfigurationError) {
        let scheme = configuration.scheme.rawValue
        if let chosen = configuration.algorithm, chosen != algorithm {
            throw SecurityConfigurationError(
                code: .inapplicableOption,
                message: "the \(scheme) scheme always uses \(algorithm.rawValue); remove the algorithm setting")
        }
        if let chosen = configuration.encoding, chosen != encoding {
            throw SecurityConfigurationError(
                code: .inapplicableOption,
                message: "the \(scheme) scheme always uses \(encoding.rawValue); remove the encoding setting")
        }
        if let chosen = configuration.prefix, chosen != prefix {
            throw SecurityConfigurationError(
                code: .inapplicableOption, message: "the \(scheme) scheme fixes its prefix; remove the prefix setting")
        }
    }

    /// Throws if a shared-secret scheme is given a public key.
    static func checkNoPublicKey(_ configuration: VerifierConfiguration) throws(SecurityConfigurationError) {
        if configuration.publicKeyPEM != nil {
            throw SecurityConfigurationError(
                code: .inapplicableOption,
                message: "the \(configuration.scheme.rawValue) scheme uses shared secrets; remove the public key")
        }
    }

    /// Returns `secrets` if there is at least one and none is empty, or throws.
    static func checkedSecrets(
        _ secrets: [String],
        scheme: VerificationScheme
    ) throws(SecurityConfigurationError) -> [String] {
        guard !secrets.isEmpty else {
            throw SecurityConfigurationError(
                code: .missingSecret, message: "the \(scheme.rawValue) scheme needs at least one secret")
        }
        for (index, secret) in secrets.enumerated() where secret.allSatisfy({ $0.isWhitespace }) {
            throw SecurityConfigurationError(code: .invalidSecret, message: "secret #\(index + 1) is empty")
        }
        return secrets
    }

    /// The checked secrets as HMAC keys made of their UTF-8 bytes.
    static func utf8Keys(
        _ secrets: [String],
        scheme: VerificationScheme
    ) throws(SecurityConfigurationError) -> [SymmetricKey] {
        try Self.checkedSecrets(secrets, scheme: scheme).map { SymmetricKey(data: Array($0.utf8)) }
    }
}
