import Crypto
import _CryptoExtras

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Checks that an inbound webhook request was signed by its sender, over the exact bytes received.
///
/// Build one per source at start-up with ``init(configuration:)`` (which rejects unusable settings) and share it:
/// it is immutable and `Sendable`. Verify before parsing the body, on the raw bytes, because re-serialising JSON
/// changes the bytes and breaks every signature.
public struct WebhookVerifier: Sendable {
    /// The scheme this verifier checks.
    public let scheme: VerificationScheme

    private let method: Method
    private let toleranceSeconds: Double

    /// The checked, decoded form of a configuration, so no parsing or key decoding happens per request.
    private enum Method: Sendable {
        case hmac(header: String, algorithm: VerifierConfiguration.Algorithm, encoding: VerifierConfiguration.Encoding,
                  prefix: String, keys: [SymmetricKey])
        case stripe(header: String, keys: [SymmetricKey])
        case standardWebhooks(keys: [SymmetricKey])
        case rsa(header: String, keys: [_RSA.Signing.PublicKey])
    }

    /// The headers that carry this scheme's signature: credentials presented to MessageBridge, which it does not
    /// store or forward unless the route asks for them (`forward_credentials`).
    public var signatureHeaderNames: [String] {
        switch method {
        case .hmac(let header, _, _, _, _), .stripe(let header, _), .rsa(let header, _): [header]
        case .standardWebhooks: ["webhook-signature"]
        }
    }

    /// Checks a configuration and builds a verifier from it.
    ///
    /// - Throws: ``SecurityConfigurationError`` naming the first problem: no secret or an empty one, a `whsec_`
    ///   secret that is not base64, a missing or invalid header name, an `rsa` scheme without a usable public key,
    ///   an option the scheme fixes set to another value, or a non-positive tolerance.
    public init(configuration: VerifierConfiguration) throws(SecurityConfigurationError) {
        self.scheme = configuration.scheme
        guard configuration.tolerance > .zero else {
            throw SecurityConfigurationError(code: .invalidValue, message: "tolerance must be greater than zero")
        }
        self.toleranceSeconds = configuration.tolerance.seconds
        let scheme = configuration.scheme

        switch scheme {
        case .hmac:
            guard let header = configuration.header else {
                throw SecurityConfigurationError(
                    code: .missingHeaderName, message: "the hmac scheme needs the name of its signature header")
            }
            try Self.checkNoPublicKey(configuration)
            self.method = .hmac(
                header: try Self.checkedHeaderName(header),
                algorithm: configuration.algorithm ?? .sha256,
                encoding: configuration.encoding ?? .hex,
                prefix: configuration.prefix ?? "",
                keys: try Self.utf8Keys(configuration.secrets, scheme: scheme)
            )
        case .github:
            try Self.checkFixed(configuration, algorithm: .sha256, encoding: .hex, prefix: "sha256=")
            try Self.checkNoPublicKey(configuration)
            self.method = .hmac(
                header: try Self.checkedHeaderName(configuration.header ?? "X-Hub-Signature-256"),
                algorithm: .sha256,
                encoding: .hex,
                prefix: "sha256=",
                keys: try Self.utf8Keys(configuration.secrets, scheme: scheme)
            )
        case .stripe:
            try Self.checkFixed(configuration, algorithm: .sha256, encoding: .hex, prefix: nil)
            try Self.checkNoPublicKey(configuration)
            self.method = .stripe(
                header: try Self.checkedHeaderName(configuration.header ?? "Stripe-Signature"),
                keys: try Self.utf8Keys(configuration.secrets, scheme: scheme)
            )
        case .standardWebhooks:
            try Self.checkFixed(configuration, algorithm: .sha256, encoding: .base64, prefix: nil)
            try Self.checkNoPublicKey(configuration)
            if configuration.header != nil {
                throw SecurityConfigurationError(
                    code: .inapplicableOption,
                    message: "the standard-webhooks scheme uses fixed header names; remove the header setting")
            }
            self.method = .standardWebhooks(keys: try Self.standardWebhooksKeys(configuration.secrets))
        case .rsa:
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
            self.method = .rsa(
                header: try Self.checkedHeaderName(configuration.header ?? "X-Postal-Signature-256"),
                keys: try Self.rsaPublicKeys(text)
            )
        }
    }

    /// Verifies a request whose headers are reached through a lookup function.
    ///
    /// - Parameters:
    ///   - body: The request body exactly as received, before any decoding.
    ///   - headers: Returns the value of the named header, or `nil`. It must match names case-insensitively, as
    ///     Hummingbird's `HTTPFields` does; when a header is repeated, return the first value.
    ///   - now: The receiver's wall clock, compared with signed Unix timestamps.
    /// - Throws: ``VerificationFailure`` saying which check failed.
    public func verify(
        body: some Collection<UInt8>,
        headers: (String) -> String?,
        now: Date = Date()
    ) throws(VerificationFailure) {
        let failure: VerificationFailure?
        if let contiguousOutcome = body.withContiguousStorageIfAvailable({ buffer in
            self.check(body: UnsafeRawBufferPointer(buffer), headers: headers, now: now)
        }) {
            failure = contiguousOutcome
        } else {
            failure = Array(body).withUnsafeBytes { self.check(body: $0, headers: headers, now: now) }
        }
        if let failure {
            throw failure
        }
    }

    /// Verifies a request whose headers are given as a list; names are matched case-insensitively and the first
    /// occurrence of a repeated header wins.
    ///
    /// - Throws: ``VerificationFailure`` saying which check failed.
    public func verify(
        body: some Collection<UInt8>,
        headers: [(name: String, value: String)],
        now: Date = Date()
    ) throws(VerificationFailure) {
        try self.verify(
            body: body,
            headers: { wanted in
                headers.first(where: { Self.fieldNamesMatch($0.name, wanted) })?.value
            },
            now: now
        )
    }

    // MARK: - Per-scheme checks

    /// Returns the failure, or `nil` when the request is authentic; one place for all schemes so the body is made
    /// contiguous only once.
    private func check(body: UnsafeRawBufferPointer, headers: (String) -> String?, now: Date) -> VerificationFailure? {
        switch self.method {
        case .hmac(let header, let algorithm, let encoding, let prefix, let keys):
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

        case .stripe(let header, let keys):
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

        case .standardWebhooks(let keys):
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

        case .rsa(let header, let keys):
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
    }

    /// Whether any presented MAC equals the MAC of `signedPrefix + body` under any key, compared in constant time.
    private static func anyMatches(
        _ presented: [[UInt8]],
        keys: [SymmetricKey],
        algorithm: VerifierConfiguration.Algorithm,
        signedPrefix: [UInt8],
        body: UnsafeRawBufferPointer
    ) -> Bool {
        guard !presented.isEmpty else {
            return false
        }
        for key in keys {
            let expected: [UInt8] =
                switch algorithm {
                case .sha256: Self.authenticationCode(SHA256.self, key: key, signedPrefix: signedPrefix, body: body)
                case .sha512: Self.authenticationCode(SHA512.self, key: key, signedPrefix: signedPrefix, body: body)
                }
            for candidate in presented where constantTimeEquals(candidate, expected) {
                return true
            }
        }
        return false
    }

    private static func authenticationCode<Hash: HashFunction>(
        _: Hash.Type,
        key: SymmetricKey,
        signedPrefix: [UInt8],
        body: UnsafeRawBufferPointer
    ) -> [UInt8] {
        var hmac = HMAC<Hash>(key: key)
        hmac.update(data: signedPrefix)
        hmac.update(data: body)
        return Array(hmac.finalize())
    }

    private func checkTimestamp(_ seconds: Int64, now: Date) -> VerificationFailure? {
        let age = now.timeIntervalSince1970 - Double(seconds)
        if age > self.toleranceSeconds {
            return VerificationFailure(code: .timestampTooOld)
        }
        if -age > self.toleranceSeconds {
            return VerificationFailure(code: .timestampInFuture)
        }
        return nil
    }

    // MARK: - Parsing helpers

    /// A header's trimmed value, treating an empty value as absent since it can carry no signature.
    private static func value(of name: String, in headers: (String) -> String?) -> String? {
        guard let raw = headers(name) else {
            return nil
        }
        let trimmed = raw[...].trimmingHTTPWhitespace()
        return trimmed.isEmpty ? nil : String(trimmed)
    }

    /// Unix seconds written as ASCII digits; bounded so a hostile value cannot overflow.
    private static func unixSeconds(_ text: Substring) -> Int64? {
        guard (1...12).contains(text.utf8.count), text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
            return nil
        }
        return Int64(text)
    }

    static func fieldNamesMatch(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.count == rhs.utf8.count && lhs.lowercased() == rhs.lowercased()
    }

    // MARK: - Configuration checks

    private static func checkedHeaderName(_ name: String) throws(SecurityConfigurationError) -> String {
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

    private static func checkFixed(
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

    private static func checkNoPublicKey(_ configuration: VerifierConfiguration) throws(SecurityConfigurationError) {
        if configuration.publicKeyPEM != nil {
            throw SecurityConfigurationError(
                code: .inapplicableOption,
                message: "the \(configuration.scheme.rawValue) scheme uses shared secrets; remove the public key")
        }
    }

    private static func checkedSecrets(
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

    private static func utf8Keys(
        _ secrets: [String],
        scheme: VerificationScheme
    ) throws(SecurityConfigurationError) -> [SymmetricKey] {
        try Self.checkedSecrets(secrets, scheme: scheme).map { SymmetricKey(data: Array($0.utf8)) }
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

extension Substring {
    /// Drops the spaces and tabs HTTP allows around field values and list items.
    func trimmingHTTPWhitespace() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" {
            result = result.dropFirst()
        }
        while let last = result.last, last == " " || last == "\t" {
            result = result.dropLast()
        }
        return result
    }
}

extension Duration {
    /// The duration in seconds as a floating-point number, for arithmetic with Unix timestamps and refill rates.
    var seconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
