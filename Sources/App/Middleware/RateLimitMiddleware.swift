import Core
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import WebhookSecurity

/// Token-bucket limits per path pattern (per client IP), per client IP, per presented API key and per webhook
/// route, from `rate_limits:`. Over a limit: `429 rate_limited` with `Retry-After` in whole seconds, counted in
/// `messagebridge_rate_limited_total{scope}`. The ops endpoints (`/health*`, `/metrics`) are never limited, so
/// probes and scrapes keep working while a client is throttled.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    /// One rule's limiter and what it is keyed on.
    struct PathLimiter: Sendable {
        var rule: PathRateLimit
        var limiter: TokenBucketRateLimiter
    }

    let perIP: TokenBucketRateLimiter?
    let perRoute: TokenBucketRateLimiter?
    let perKey: TokenBucketRateLimiter?
    let paths: [PathLimiter]
    let trustedProxies: [CIDRBlock]
    let routePaths: Set<String>
    /// Token buckets refill on its monotonic time.
    let clock: any WallClock

    /// Builds the limiters; nil when rate limiting is off.
    init?(settings: RateLimitSettings, routePaths: [String], clock: any WallClock = SystemWallClock()) throws {
        guard settings.isEnabled else { return nil }
        perIP = try settings.perIP.map { try TokenBucketRateLimiter(configuration: $0.limiterConfiguration) }
        perRoute = try settings.perRoute.map { try TokenBucketRateLimiter(configuration: $0.limiterConfiguration) }
        perKey = try settings.perKey.map { try TokenBucketRateLimiter(configuration: $0.limiterConfiguration) }
        paths = try settings.paths.map {
            PathLimiter(rule: $0, limiter: try TokenBucketRateLimiter(configuration: $0.rule.limiterConfiguration))
        }
        trustedProxies = settings.trustedProxies
        self.routePaths = Set(routePaths)
        self.clock = clock
    }

    func handle(
        _ request: Request,
        context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        // Canonical: CanonicalPathMiddleware ran first, so `//webhook/limited` counts against `/webhook/limited`.
        let path = request.uri.path
        if Self.isOpsEndpoint(path) { return try await next(request, context) }
        let clientIP = Self.clientIP(
            peer: context.remoteAddress?.ipAddress,
            forwardedFor: request.headers[values: .xForwardedFor],
            trustedProxies: trustedProxies
        )
        let now = clock.instant
        if let pathLimiter = paths.first(where: { $0.rule.matches(path) }) {
            try check(pathLimiter.limiter.acquire(key: clientIP, now: now), scope: "path", context: context)
        }
        if let perIP {
            try check(perIP.acquire(key: clientIP, now: now), scope: "ip", context: context)
        }
        if let perKey, let token = APIKeyAuthenticator.bearerToken(request.headers[.authorization]) {
            // Keyed on the hash, so the limiter's memory never holds a usable credential.
            try check(perKey.acquire(key: APIKey.hash(token), now: now), scope: "key", context: context)
        }
        if let perRoute, routePaths.contains(path) {
            try check(perRoute.acquire(key: path, now: now), scope: "route", context: context)
        }
        return try await next(request, context)
    }

    private func check(_ decision: TokenBucketRateLimiter.Decision, scope: String, context: AppRequestContext) throws {
        guard let seconds = decision.retryAfterSeconds else { return }
        Counter(label: "messagebridge_rate_limited_total", dimensions: [("scope", scope)]).increment()
        context.logger.debug("rate limited", metadata: ["scope": "\(scope)", "retry_after": "\(seconds)"])
        throw APIError(
            .tooManyRequests, code: "rate_limited",
            message: "too many requests (\(scope) limit); retry after \(seconds) s",
            headers: [.retryAfter: String(seconds)]
        )
    }

    /// `/health`, `/health/...` and `/metrics`.
    static func isOpsEndpoint(_ path: String) -> Bool {
        path == "/health" || path.hasPrefix("/health/") || path == "/metrics"
    }

    /// The client's address: the socket peer, unless the peer is a trusted proxy; then the right-most
    /// `X-Forwarded-For` entry that is not itself a trusted proxy (entries left of it are client-supplied and
    /// could be forged). All trusted: the left-most entry.
    static func clientIP(peer: String?, forwardedFor: [String], trustedProxies: [CIDRBlock]) -> String {
        let peer = peer ?? "unknown"
        guard !trustedProxies.isEmpty, !forwardedFor.isEmpty, isTrusted(peer, trustedProxies) else { return peer }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        for hop in hops.reversed() where !isTrusted(hop, trustedProxies) {
            // A hop that is not an address (garbage or "unknown") cannot be attributed further: key on it as is.
            return hop
        }
        return hops.first ?? peer
    }

    private static func isTrusted(_ address: String, _ ranges: [CIDRBlock]) -> Bool {
        ranges.contains { $0.contains(address) }
    }
}

extension HTTPField.Name {
    /// `X-Forwarded-For`.
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}
