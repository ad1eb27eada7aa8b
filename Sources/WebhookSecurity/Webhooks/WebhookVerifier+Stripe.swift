import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The `stripe` scheme: a signed timestamp and one or more HMAC-SHA256 signatures in `Stripe-Signature`.

extension WebhookVerifier {
    /// Builds the `stripe` scheme: HMAC-SHA256 in hex, in `Stripe-Signature` unless renamed.
    static func makeStripeMethod(_ configuration: VerifierConfiguration) throws(SecurityConfigurationError) -> Method {
        try Self.checkFixed(configuration, algorithm: .sha256, encoding: .hex, prefix: nil)
        try Self.checkNoPublicKey(configuration)
        return .stripe(
            header: try Self.checkedHeaderName(configuration.header ?? "Stripe-Signature"),
            keys: try Self.utf8Keys(configuration.secrets, scheme: configuration.scheme)
        )
    }

    /// Checks a request signed with the `stripe` scheme; returns the failure, or `nil` when it is authentic.
    func checkStripe(
        header: String,
        keys: [SymmetricKey],
        body: UnsafeRawBufferPointer,
        headers: (String) -> String?,
        now: Date
    ) -> VerificationFailure? {
        guard let value = Self.value(of: header, in: headers) else {
            return .missing(header)
        }
        var timestamp: Substring?
        var presented: [[UInt8]] = []
        for item in value.split(separator: ",") {
            guard let equals = item.firstIndex(of: "=") else {
                return .malformed(header)
            }
            let key = item[..<equals].trimmingHTTPWhitespace()
            let field = item[item.index(after: equals)...].trimmingHTTPWhitespace()
            switch key {
            case "t" where timestamp == nil:
                timestamp = field
            case "v1":
                // A v1 that is not hex cannot match; skipping it keeps Stripe's own behaviour of trying each.
                if let bytes = ByteEncoding.decodeHex(field) {
                    presented.append(bytes)
                }
            default:
                // Other schemes (v0 is a test-mode SHA-256 Stripe no longer documents) are never trusted.
                continue
            }
        }
        guard let timestamp, let seconds = Self.unixSeconds(timestamp) else {
            return .malformed(header)
        }
        guard !presented.isEmpty else {
            return value.contains("v1=") ? .noMatch : .malformed(header)
        }
        let signedPrefix = Array(timestamp.utf8) + [UInt8(ascii: ".")]
        guard Self.anyMatches(presented, keys: keys, algorithm: .sha256, signedPrefix: signedPrefix, body: body)
        else {
            return .noMatch
        }
        // The timestamp is checked only after the signature, so an unsigned request learns nothing about it.
        return self.checkTimestamp(seconds, now: now)
    }
}
