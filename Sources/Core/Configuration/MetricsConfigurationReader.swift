import Yams

extension NodeReader {
    /// `metrics: { enabled, allow: [CIDR...], require_api_key }`.
    mutating func readMetrics(_ node: Node?) -> MetricsSettings {
        var settings = MetricsSettings()
        let entries = mapping(node, key: "metrics", known: ["enabled", "allow", "require_api_key"])
        if let value = bool(entries["enabled"], key: "metrics.enabled") { settings.isEnabled = value }
        if let value = bool(entries["require_api_key"], key: "metrics.require_api_key") { settings.requiresAPIKey = value }
        for (index, text) in (stringList(entries["allow"], key: "metrics.allow") ?? []).enumerated() {
            if let block = CIDRBlock(text) {
                settings.allow.append(block)
            } else {
                problem("metrics.allow[\(index)]", entries["allow"], "expected an address or network such as 127.0.0.1/32 or ::1, got \"\(text)\"")
            }
        }
        return settings
    }
}
