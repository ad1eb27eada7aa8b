import Core
import Foundation
import Yams

/// `rate_limits:`.
extension NodeReader {
    /// `rate_limits:`; present means enabled unless `enabled: false`.
    mutating func readRateLimits(_ node: Node?) -> RateLimitSettings {
        var settings = RateLimitSettings()
        guard let node, node.null == nil else { return settings }
        let key = "rate_limits"
        let entries = mapping(
            node, key: key, known: ["enabled", "per_ip", "per_route", "per_key", "trusted_proxies", "paths"]
        )
        settings.isEnabled = bool(entries["enabled"], key: "\(key).enabled") ?? true
        settings.perIP = readRateLimitRule(entries["per_ip"], key: "\(key).per_ip") ?? RateLimitSettings.defaultPerIP
        settings.perRoute = readRateLimitRule(entries["per_route"], key: "\(key).per_route")
        settings.perKey = readRateLimitRule(entries["per_key"], key: "\(key).per_key")
        for (index, text) in (stringList(entries["trusted_proxies"], key: "\(key).trusted_proxies") ?? []).enumerated() {
            if let range = CIDRBlock(text) {
                settings.trustedProxies.append(range)
            } else {
                problem("\(key).trusted_proxies[\(index)]", entries["trusted_proxies"], "expected an IP address or CIDR range such as 10.0.0.0/8, got \"\(text)\"")
            }
        }
        if let paths = entries["paths"] {
            guard case .sequence(let sequence) = paths else {
                problem("\(key).paths", paths, "expected a list of {pattern, limit, period}")
                return settings
            }
            for (index, item) in sequence.enumerated() {
                let itemKey = "\(key).paths[\(index)]"
                let fields = mapping(item, key: itemKey, known: ["pattern", "limit", "period", "burst"])
                guard let pattern = required(fields["pattern"], key: "\(itemKey).pattern", parent: item) else { continue }
                guard pattern.hasPrefix("/") else {
                    problem("\(itemKey).pattern", fields["pattern"], "must start with /, got \"\(pattern)\"")
                    continue
                }
                if let rule = readRuleFields(fields, node: item, key: itemKey) {
                    settings.paths.append(PathRateLimit(pattern: pattern, rule: rule))
                }
            }
        }
        return settings
    }

    private mutating func readRateLimitRule(_ node: Node?, key: String) -> RateLimitRule? {
        guard let node, node.null == nil else { return nil }
        let fields = mapping(node, key: key, known: ["limit", "period", "burst"])
        return readRuleFields(fields, node: node, key: key)
    }

    private mutating func readRuleFields(_ fields: [String: Node], node: Node, key: String) -> RateLimitRule? {
        let limit = int(fields["limit"], key: "\(key).limit", range: 1...1_000_000_000)
        if fields["limit"] == nil { problem("\(key).limit", node, "is required") }
        let period = duration(fields["period"], key: "\(key).period", minimum: .milliseconds(1))
        if fields["period"] == nil { problem("\(key).period", node, "is required") }
        let burst = int(fields["burst"], key: "\(key).burst", range: 1...1_000_000_000)
        guard let limit, let period else { return nil }
        if fields["burst"] != nil && burst == nil { return nil }
        return RateLimitRule(limit: limit, period: period, burst: burst)
    }
}
