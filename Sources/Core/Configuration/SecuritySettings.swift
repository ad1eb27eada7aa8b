import Foundation

/// `routes[].verify:`: how a route checks that a webhook was signed by its sender, as plain settings.
///
/// The configuration loader checks them by building the verifier once (so a bad secret or key is a configuration
/// error on its key); the composition root builds the verifier the server uses.
public struct VerificationSettings: Sendable, Equatable {
    /// How the sender signs.
    public enum Scheme: String, Sendable, CaseIterable {
        /// A generic HMAC of the raw body in one header.
        case hmac
        /// Stripe's `Stripe-Signature`.
        case stripe
        /// GitHub's `X-Hub-Signature-256`.
        case github
        /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
        case standardWebhooks = "standard-webhooks"
        /// RSA-SHA256, as Postal signs (`X-Postal-Signature-256`).
        case rsa

        /// The header that carries the signature when `header` is not set.
        public var defaultSignatureHeader: String? {
            switch self {
            case .hmac: nil
            case .stripe: "Stripe-Signature"
            case .github: "X-Hub-Signature-256"
            case .standardWebhooks: "webhook-signature"
            case .rsa: "X-Postal-Signature-256"
            }
        }
    }

    /// An HMAC digest.
    public enum Algorithm: String, Sendable, CaseIterable {
        /// HMAC-SHA256.
        case sha256
        /// HMAC-SHA512.
        case sha512
    }

    /// How a MAC is written.
    public enum Encoding: String, Sendable, CaseIterable {
        /// Hexadecimal.
        case hex
        /// Base64.
        case base64
    }

    /// The scheme.
    public var scheme: Scheme
    /// Shared secrets; any one of them passes (rotation).
    public var secrets: [String] = []
    /// The signature header, when not the scheme's own.
    public var header: String?
    /// The HMAC digest (`hmac` only).
    public var algorithm: Algorithm?
    /// The MAC's encoding (`hmac` only).
    public var encoding: Encoding?
    /// A literal before the MAC (`hmac` only).
    public var prefix: String?
    /// How far a signed timestamp may be from the clock.
    public var tolerance: Duration = .seconds(300)
    /// RSA public keys as PEM (`rsa`), read from `public_key_file` while loading.
    public var publicKeyPEM: String?

    /// Makes settings for `scheme`.
    public init(scheme: Scheme) {
        self.scheme = scheme
    }

    /// The headers that carry the signature: credentials presented to MessageBridge (see ``CredentialHeaders``).
    public var signatureHeaders: [String] {
        (header ?? scheme.defaultSignatureHeader).map { [$0] } ?? []
    }
}

/// `routes[].dedup:`: which part of a request identifies a delivery, so a resent webhook is stored only once.
public struct DedupSettings: Sendable, Equatable {
    /// Where the key comes from.
    public var source: RequestField
    /// How long a key stays taken after its message was accepted.
    public var window: Duration

    /// The default window: providers resend for hours, and a day covers every retry schedule we know of short of
    /// Stripe's three days.
    public static let defaultWindow: Duration = .seconds(86_400)

    /// Makes the settings.
    public init(source: RequestField, window: Duration = DedupSettings.defaultWindow) {
        self.source = source
        self.window = window
    }
}

/// One token-bucket rule: `limit` requests per `period`, up to `burst` at once.
public struct RateLimitRule: Sendable, Equatable {
    /// Requests allowed per period.
    public var limit: Int
    /// The period.
    public var period: Duration
    /// How many may arrive at once after a quiet spell; defaults to `limit`.
    public var burst: Int

    /// Makes a rule.
    public init(limit: Int, period: Duration, burst: Int? = nil) {
        self.limit = limit
        self.period = period
        self.burst = burst ?? limit
    }

    /// The limiter configuration for this rule.
    public var limiterConfiguration: TokenBucketRateLimiter.Configuration {
        .init(limit: limit, period: period, burst: burst)
    }
}

/// A stricter rule for request paths matching `pattern` (a prefix, or a glob with `*`), counted per client IP.
public struct PathRateLimit: Sendable, Equatable {
    /// The pattern as written.
    public var pattern: String
    /// The rule.
    public var rule: RateLimitRule

    /// Makes a path rule.
    public init(pattern: String, rule: RateLimitRule) {
        self.pattern = pattern
        self.rule = rule
    }

    /// Whether `path` matches: a pattern without `*` is a prefix; `*` matches any run of characters.
    public func matches(_ path: String) -> Bool {
        guard pattern.contains("*") else { return path.hasPrefix(pattern) }
        return Self.glob(Array(pattern.utf8)[...], Array(path.utf8)[...])
    }

    private static func glob(_ pattern: ArraySlice<UInt8>, _ text: ArraySlice<UInt8>) -> Bool {
        // Iterative wildcard matching with one backtrack point: linear in practice, no recursion blow-up.
        var p = pattern.startIndex, t = text.startIndex
        var star: Int?, mark = text.startIndex
        while t < text.endIndex {
            if p < pattern.endIndex, pattern[p] == UInt8(ascii: "*") {
                star = p
                mark = t
                p += 1
            } else if p < pattern.endIndex, pattern[p] == text[t] {
                p += 1
                t += 1
            } else if let starIndex = star {
                p = starIndex + 1
                mark += 1
                t = mark
            } else {
                return false
            }
        }
        while p < pattern.endIndex, pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.endIndex
    }
}

/// `rate_limits:`. Absent means off (see README: a webhook gateway must not throttle its senders by default).
public struct RateLimitSettings: Sendable, Equatable {
    /// Whether any limit applies.
    public var isEnabled: Bool = false
    /// Per client IP, across all paths.
    public var perIP: RateLimitRule?
    /// Per webhook route, across all clients.
    public var perRoute: RateLimitRule?
    /// Per presented API key (`Authorization: Bearer`).
    public var perKey: RateLimitRule?
    /// Peers whose `X-Forwarded-For` is believed.
    public var trustedProxies: [CIDRBlock] = []
    /// Stricter per-IP rules for path patterns; the first match applies.
    public var paths: [PathRateLimit] = []

    /// The rule `per_ip` gets when `rate_limits` is present but `per_ip` is not: 100 requests per second per
    /// client IP with bursts of 1000, high enough for a payment provider's burst from a handful of addresses,
    /// low enough to blunt a single-host flood.
    public static let defaultPerIP = RateLimitRule(limit: 100, period: .seconds(1), burst: 1000)

    /// Off.
    public init() {}
}

/// `cors:`.
public struct CORSSettings: Sendable, Equatable {
    /// Origins allowed to call from a browser, exactly as browsers send them (`https://app.example.com`), or `*`.
    public var allowedOrigins: [String]
    /// Methods a preflight may ask for.
    public var allowedMethods: [String] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    /// Headers a preflight may ask for.
    public var allowedHeaders: [String] = ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"]
    /// How long a browser may cache a preflight answer.
    public var maxAge: Duration = .seconds(600)

    /// Makes the settings.
    public init(allowedOrigins: [String]) {
        self.allowedOrigins = allowedOrigins
    }

    /// Whether `origin` may call: listed exactly (ASCII case-insensitive) or `*` is listed.
    public func allows(origin: String) -> Bool {
        allowedOrigins.contains { $0 == "*" || $0.caseInsensitiveCompare(origin) == .orderedSame }
    }
}
