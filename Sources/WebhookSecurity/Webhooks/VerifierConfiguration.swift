/// How an inbound webhook sender signs its requests.
public enum VerificationScheme: String, Hashable, Sendable, CaseIterable {
    /// A generic HMAC of the raw body in one header, with a configurable digest, encoding and prefix.
    case hmac
    /// Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>]`, HMAC-SHA256 over `"<t>.<body>"`.
    case stripe
    /// GitHub: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 over the body.
    case github
    /// Standard Webhooks (and Svix): `webhook-id`, `webhook-timestamp` and `webhook-signature` headers,
    /// HMAC-SHA256 base64 over `"<id>.<timestamp>.<body>"`.
    case standardWebhooks = "standard-webhooks"
    /// RSA-SHA256 PKCS#1 v1.5 over the body with a public key, as Postal signs its webhooks.
    case rsa
}

/// The settings from which a ``WebhookVerifier`` is built; checked by ``WebhookVerifier/init(configuration:)``.
///
/// Options a scheme fixes (for example the digest of `stripe`) are optional: leave them `nil` to take the scheme's
/// value. Setting one to a different value is rejected, because it almost always means the wrong scheme was chosen.
public struct VerifierConfiguration: Hashable, Sendable {
    /// The digest of an HMAC scheme.
    public enum Algorithm: String, Hashable, Sendable, CaseIterable {
        /// HMAC-SHA256.
        case sha256
        /// HMAC-SHA512.
        case sha512
    }

    /// How a MAC is written in its header.
    public enum Encoding: String, Hashable, Sendable, CaseIterable {
        /// Hexadecimal, either case.
        case hex
        /// Base64, standard or URL-safe, padding optional.
        case base64
    }

    /// The default ``tolerance``: how far a signed timestamp may be from the receiver's clock.
    public static let defaultTolerance: Duration = .seconds(300)

    /// How the sender signs its requests.
    public var scheme: VerificationScheme
    /// Shared secrets; a request signed with any one of them passes, so a secret can be rotated without downtime.
    ///
    /// For `standard-webhooks` a secret of the form `whsec_<base64>` is base64-decoded after the prefix; any other
    /// secret is used as its UTF-8 bytes, as it is for every other HMAC scheme (Stripe's `whsec_` secrets included,
    /// because Stripe signs with the whole string). Must be empty for `rsa`.
    public var secrets: [String]
    /// The header carrying the signature. Required for `hmac`; defaults to `Stripe-Signature`,
    /// `X-Hub-Signature-256` and `X-Postal-Signature-256` for `stripe`, `github` and `rsa`; not settable for
    /// `standard-webhooks`, whose header names are fixed.
    public var header: String?
    /// The HMAC digest; `hmac` only (defaults to SHA-256).
    public var algorithm: Algorithm?
    /// How the MAC is encoded; `hmac` only (defaults to hex).
    public var encoding: Encoding?
    /// A literal the header value starts with, such as `sha256=`; `hmac` only (defaults to none).
    public var prefix: String?
    /// How old or how far in the future a signed timestamp may be; used by `stripe` and `standard-webhooks`.
    public var tolerance: Duration
    /// One or more RSA public keys for `rsa`, as PEM blocks (`PUBLIC KEY` or `RSA PUBLIC KEY`) one after another,
    /// or a single bare base64 DER key as Postal displays it. Keys of 1024 bits are accepted because Postal
    /// generates its signing key at that size.
    public var publicKeyPEM: String?

    /// Creates a configuration; ``WebhookVerifier/init(configuration:)`` checks it.
    public init(
        scheme: VerificationScheme,
        secrets: [String] = [],
        header: String? = nil,
        algorithm: Algorithm? = nil,
        encoding: Encoding? = nil,
        prefix: String? = nil,
        tolerance: Duration = VerifierConfiguration.defaultTolerance,
        publicKeyPEM: String? = nil
    ) {
        self.scheme = scheme
        self.secrets = secrets
        self.header = header
        self.algorithm = algorithm
        self.encoding = encoding
        self.prefix = prefix
        self.tolerance = tolerance
        self.publicKeyPEM = publicKeyPEM
    }
}
