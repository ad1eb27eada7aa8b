import Foundation
import WebhookSecurity

/// `routes[].verify:`: how a route checks that a webhook was signed by its sender.
public struct RouteVerification: Sendable {
    /// The scheme, for logs and the `scheme` label of `messagebridge_signature_failures_total`.
    public var scheme: VerificationScheme
    /// The checked verifier, built while loading so a bad secret or key is a configuration error.
    public var verifier: WebhookVerifier

    /// Wraps a verifier.
    public init(verifier: WebhookVerifier) {
        self.scheme = verifier.scheme
        self.verifier = verifier
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
