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
    /// How far a signed timestamp may be from the receiver's clock, either way; read by `checkTimestamp`.
    let toleranceSeconds: Double

    /// The checked, decoded form of a configuration, so no parsing or key decoding happens per request.
    ///
    /// Each case is built and checked in the file named for its scheme (`WebhookVerifier+HMAC.swift` for `hmac`
    /// and `github`, `+Stripe`, `+StandardWebhooks`, `+RSA`); `+ConfigurationChecks` holds the start-up checks the
    /// schemes share, `+SharedChecks` the per-request ones.
    enum Method: Sendable {
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

        switch configuration.scheme {
        case .hmac: self.method = try Self.makeHMACMethod(configuration)
        case .github: self.method = try Self.makeGitHubMethod(configuration)
        case .stripe: self.method = try Self.makeStripeMethod(configuration)
        case .standardWebhooks: self.method = try Self.makeStandardWebhooksMethod(configuration)
        case .rsa: self.method = try Self.makeRSAMethod(configuration)
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

    /// Returns the failure, or `nil` when the request is authentic; one place for all schemes so the body is made
    /// contiguous only once.
    private func check(body: UnsafeRawBufferPointer, headers: (String) -> String?, now: Date) -> VerificationFailure? {
        switch self.method {
        case .hmac(let header, let algorithm, let encoding, let prefix, let keys):
            Self.checkHMAC(
                header: header, algorithm: algorithm, encoding: encoding, prefix: prefix, keys: keys,
                body: body, headers: headers)
        case .stripe(let header, let keys):
            self.checkStripe(header: header, keys: keys, body: body, headers: headers, now: now)
        case .standardWebhooks(let keys):
            self.checkStandardWebhooks(keys: keys, body: body, headers: headers, now: now)
        case .rsa(let header, let keys):
            Self.checkRSA(header: header, keys: keys, body: body, headers: headers)
        }
    }
}
