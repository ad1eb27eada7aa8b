import Foundation
import Security

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
    public var trustedProxies: [IPAddressRange] = []
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

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `::1/128`); a bare address is a single host.
public struct IPAddressRange: Sendable, Equatable, CustomStringConvertible {
    /// The network address bytes (4 or 16).
    public let network: [UInt8]
    /// The prefix length in bits.
    public let prefixLength: Int

    /// Parses CIDR notation; `nil` when it is not one.
    public init?(_ text: String) {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, let address = IPAddressRange.parseAddress(String(parts[0])) else {
            return nil
        }
        let bits = address.count * 8
        let length: Int
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...bits).contains(value) else { return nil }
            length = value
        } else {
            length = bits
        }
        network = IPAddressRange.masked(address, length)
        prefixLength = length
    }

    /// Whether the textual address `address` lies in this network (IPv4-mapped IPv6 counts as IPv4).
    public func contains(_ address: String) -> Bool {
        guard let bytes = IPAddressRange.parseAddress(address) else { return false }
        return contains(bytes: bytes)
    }

    /// Whether the address bytes lie in this network.
    public func contains(bytes: [UInt8]) -> Bool {
        var bytes = bytes
        if bytes.count == 16, network.count == 4, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            bytes = Array(bytes[12...])
        }
        guard bytes.count == network.count else { return false }
        return IPAddressRange.masked(bytes, prefixLength) == network
    }

    /// `network/prefix`.
    public var description: String {
        let address: String
        if network.count == 4 {
            address = network.map(String.init).joined(separator: ".")
        } else {
            address = stride(from: 0, to: 16, by: 2)
                .map { String(UInt16(network[$0]) << 8 | UInt16(network[$0 + 1]), radix: 16) }
                .joined(separator: ":")
        }
        return "\(address)/\(prefixLength)"
    }

    /// The bytes of a textual IPv4 or IPv6 address (brackets and a zone suffix are ignored); `nil` when invalid.
    public static func parseAddress(_ text: String) -> [UInt8]? {
        var text = Substring(text.trimmingCharacters(in: .whitespaces))
        if text.hasPrefix("["), text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        if let percent = text.firstIndex(of: "%") { text = text[..<percent] }
        if !text.contains(":") { return parseIPv4(text) }
        return parseIPv6(text)
    }

    private static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy(\.isASCII), let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    private static func parseIPv6(_ text: Substring) -> [UInt8]? {
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt8]? {
            guard !part.isEmpty else { return [] }
            var bytes: [UInt8] = []
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, field) in fields.enumerated() {
                if index == fields.count - 1, field.contains(".") {
                    guard let v4 = parseIPv4(field) else { return nil }
                    bytes += v4
                } else {
                    guard (1...4).contains(field.count), let value = UInt16(field, radix: 16) else { return nil }
                    bytes += [UInt8(value >> 8), UInt8(value & 0xFF)]
                }
            }
            return bytes
        }
        guard let head = groups(halves[0]) else { return nil }
        if halves.count == 1 { return head.count == 16 ? head : nil }
        guard let tail = groups(halves[1]), head.count + tail.count <= 14 else { return nil }
        return head + Array(repeating: 0, count: 16 - head.count - tail.count) + tail
    }

    private static func masked(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bitsHere = max(0, min(8, length - index * 8))
            return bitsHere == 8 ? byte : byte & UInt8(truncatingIfNeeded: 0xFF << (8 - bitsHere))
        }
    }
}
