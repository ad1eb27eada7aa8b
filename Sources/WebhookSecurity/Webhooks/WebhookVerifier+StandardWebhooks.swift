import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The `standard-webhooks` scheme, also sent by Svix under `svix-` names: a message id, a signed timestamp and
// space-separated versioned signatures in three fixed headers; secrets may be `whsec_`-prefixed base64.

extension WebhookVerifier {
    /// Builds the `standard-webhooks` scheme: HMAC-SHA256 in base64 under fixed header names.
    static func makeStandardWebhooksMethod(
        _ configuration: VerifierConfiguration
    ) throws(SecurityConfigurationError) -> Method {
        try Self.checkFixed(configuration, algorithm: .sha256, encoding: .base64, prefix: nil)
        try Self.checkNoPublicKey(configuration)
        if configuration.header != nil {
            throw SecurityConfigurationError(
                code: .inapplicableOption,
                message: "the standard-webhooks scheme uses fixed header names; remove the header setting")
        }
        return .standardWebhooks(keys: try Self.standardWebhooksKeys(configuration.secrets))
    }

    private static func standardWebhooksKeys(_ secrets: [String]) throws(SecurityConfigurationError) -> [SymmetricKey] {
        var keys: [SymmetricKey] = []
        for (index, secret) in try Self.checkedSecrets(secrets, scheme: .standardWebhooks).enumerated() {
            guard secret.hasPrefix("whsec_") else {
                keys.append(SymmetricKey(data: Array(secret.utf8)))
                continue
            }
            guard let bytes = ByteEncoding.decodeBase64(secret.dropFirst("whsec_".count)), !bytes.isEmpty else {
                throw SecurityConfigurationError(
                    code: .invalidSecret, message: "secret #\(index + 1) starts with whsec_ but is not valid base64")
            }
            keys.append(SymmetricKey(data: bytes))
        }
        return keys
    }

    /// Checks a request signed with the `standard-webhooks` scheme; returns the failure, or `nil` when it is
    /// authentic.
    func checkStandardWebhooks(
        keys: [SymmetricKey],
        body: UnsafeRawBufferPointer,
        headers: (String) -> String?,
        now: Date
    ) -> VerificationFailure? {
        // Svix sends the same scheme under `svix-` names; accept them when the standard ones are absent.
        let family = Self.value(of: "webhook-id", in: headers) == nil
            && Self.value(of: "svix-id", in: headers) != nil ? "svix" : "webhook"
        let idHeader = "\(family)-id"
        let timestampHeader = "\(family)-timestamp"
        let signatureHeader = "\(family)-signature"
        guard let id = Self.value(of: idHeader, in: headers) else {
            return .missing(idHeader)
        }
        guard let timestamp = Self.value(of: timestampHeader, in: headers) else {
            return .missing(timestampHeader)
        }
        guard let signatures = Self.value(of: signatureHeader, in: headers) else {
            return .missing(signatureHeader)
        }
        guard let seconds = Self.unixSeconds(timestamp[...]) else {
            return .malformed(timestampHeader)
        }
        var presented: [[UInt8]] = []
        for entry in signatures.split(separator: " ") {
            guard let comma = entry.firstIndex(of: ",") else {
                return .malformed(signatureHeader)
            }
            // Only v1 (HMAC-SHA256) is symmetric; v1a (Ed25519) and unknown versions cannot match a secret.
            guard entry[..<comma] == "v1" else {
                continue
            }
            if let bytes = ByteEncoding.decodeBase64(entry[entry.index(after: comma)...]) {
                presented.append(bytes)
            }
        }
        let signedPrefix = Array("\(id).\(timestamp).".utf8)
        guard Self.anyMatches(presented, keys: keys, algorithm: .sha256, signedPrefix: signedPrefix, body: body)
        else {
            return .noMatch
        }
        return self.checkTimestamp(seconds, now: now)
    }
}
