import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The `hmac` scheme (any header, algorithm, encoding and prefix) and `github`, which is `hmac` with GitHub's fixed
// choices: one MAC of the body, presented in one header.

extension WebhookVerifier {
    /// Builds the `hmac` scheme from its configuration, which must name the signature header.
    static func makeHMACMethod(_ configuration: VerifierConfiguration) throws(SecurityConfigurationError) -> Method {
        guard let header = configuration.header else {
            throw SecurityConfigurationError(
                code: .missingHeaderName, message: "the hmac scheme needs the name of its signature header")
        }
        try Self.checkNoPublicKey(configuration)
        return .hmac(
            header: try Self.checkedHeaderName(header),
            algorithm: configuration.algorithm ?? .sha256,
            encoding: configuration.encoding ?? .hex,
            prefix: configuration.prefix ?? "",
            keys: try Self.utf8Keys(configuration.secrets, scheme: configuration.scheme)
        )
    }

    /// Builds the `github` scheme: HMAC-SHA256 in hex after `sha256=`, in `X-Hub-Signature-256` unless renamed.
    static func makeGitHubMethod(_ configuration: VerifierConfiguration) throws(SecurityConfigurationError) -> Method {
        try Self.checkFixed(configuration, algorithm: .sha256, encoding: .hex, prefix: "sha256=")
        try Self.checkNoPublicKey(configuration)
        return .hmac(
            header: try Self.checkedHeaderName(configuration.header ?? "X-Hub-Signature-256"),
            algorithm: .sha256,
            encoding: .hex,
            prefix: "sha256=",
            keys: try Self.utf8Keys(configuration.secrets, scheme: configuration.scheme)
        )
    }

    /// Checks a request signed with the `hmac` or `github` scheme; returns the failure, or `nil` when it is authentic.
    static func checkHMAC(
        header: String,
        algorithm: VerifierConfiguration.Algorithm,
        encoding: VerifierConfiguration.Encoding,
        prefix: String,
        keys: [SymmetricKey],
        body: UnsafeRawBufferPointer,
        headers: (String) -> String?
    ) -> VerificationFailure? {
        guard let value = Self.value(of: header, in: headers) else {
            return .missing(header)
        }
        guard value.hasPrefix(prefix) else {
            return .malformed(header)
        }
        let encoded = value.dropFirst(prefix.count)
        let decoded = encoding == .hex ? ByteEncoding.decodeHex(encoded) : ByteEncoding.decodeBase64(encoded)
        guard let presented = decoded else {
            return .malformed(header)
        }
        return Self.anyMatches([presented], keys: keys, algorithm: algorithm, signedPrefix: [], body: body)
            ? nil : .noMatch
    }
}
